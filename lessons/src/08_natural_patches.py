# %% [markdown]
# # Lesson 8: local contrast normalisation
#
# Before a dictionary is learned on natural image patches, each normalised crop $v$ loses its
# local brightness and has its local contrast equalised (Method §5, chapter 8). With a normalised
# Gaussian window $w$ and $\star$ a *valid* correlation:
#
# $$m = w \star v, \qquad c = v - m, \qquad s = \sqrt{w \star c^2}, \qquad
#   d = \max(s, \bar s, 10^{-4}), \qquad x = c / d,$$
#
# where $\bar s$ is the mean of $s$ over all positions of all the crops of the batch (the paper's
# loader batch). Each valid correlation shrinks a crop by $r$ = window $- 1$ pixels: $m$ and $c$
# live on the $(H - r, W - r)$ centre, $s$, $d$ and $x$ on the $(H - 2r, W - 2r)$ centre, so $c$
# must be cropped by $r / 2$ on each side before the division.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from sparselab.data import patches
from sparselab.data.bsds500 import bsds500_images_dir
from sparselab.checks.natural_patches import check_lcn

# %% [markdown]
# The window and the valid correlation are given (sparselab's `patches.lcn` does the same with two
# 1-D passes, which is faster):


# %%
def blur(v, window, sigma):
    """Valid correlation of v: (B, H, W) with the normalised window -> (B, H - r, W - r)."""
    g = patches.gaussian_window(window, sigma, dtype=v.dtype)  # (window,), sums to 1
    return F.conv2d(v[:, None], torch.outer(g, g)[None, None])[:, 0]


# %% [markdown]
# ## Exercise: LCN of a batch of crops
#
# `v: (B, H, W)`. Return $x$ on the `(H - 2r, W - 2r)` centre. With `h = r // 2`, `v[:, h:-h, h:-h]`
# is the `(H - r, W - r)` centre of `v`.


# %%
def lcn(v, window, sigma):
    """v: (B, H, W) -> x: (B, H - 2r, W - 2r), r = window - 1."""
    ### BEGIN SOLUTION
    h = (window - 1) // 2
    c = v[:, h:-h, h:-h] - blur(v, window, sigma)
    s = blur(c * c, window, sigma).clamp_min(0).sqrt()
    d = torch.maximum(s, s.mean()).clamp_min(1e-4)
    return c[:, h:-h, h:-h] / d
    ### END SOLUTION


result = check_lcn(lcn)
print(result)

# %% [markdown]
# ## Look at photographs
#
# Eight 52x52 crops of one BSDS500 photograph (grayscale, short side resized to 256, as in
# chapter 8), normalised with the paper's statistics, then normalised by your `lcn` with the
# paper's 13x13 window ($\sigma = 5$): 28x28 centres. Until your `lcn` passes, sparselab's is used.

# %%
image = patches.read_image(patches.find_images(bsds500_images_dir())[0]) / 255.0
rng = np.random.default_rng(0)
corners = rng.integers(0, [image.shape[0] - 52, image.shape[1] - 52], size=(8, 2))
crops = np.stack([image[i : i + 52, j : j + 52] for i, j in corners])
v = (torch.tensor(crops, dtype=torch.float32) - patches.PATCH_MEAN) / patches.PATCH_STD
if result.passed:
    x = lcn(v, 13, 5.0)
else:
    x = patches.lcn(v, group=len(v)).x
fig, axes = plt.subplots(2, 8, figsize=(9, 2.6))
for k in range(8):
    axes[0, k].imshow(crops[k, 12:-12, 12:-12], cmap="gray", vmin=0, vmax=1)
    axes[1, k].imshow(x[k], cmap="gray")
    axes[1, k].set_title(f"std {x[k].std():.2f}", fontsize=7)
for ax in axes.flat:
    ax.axis("off")
plt.show()

# %% [markdown]
# Top: the crops' 28x28 centres as pixels; bottom: after LCN, titled with their standard
# deviation (chapter 8 drops patches below 0.5).
#
# ## Question
#
# Replace the floor $\bar s$ (the batch's mean) by each crop's own mean local std. What happens
# to a nearly flat crop, a patch of sky with a little sensor noise, and why does that matter for
# the `std < 0.5` filter and for the dictionary learned from the patches?

# %% [markdown] tags=["solution"]
# **Answer.** With a per-crop floor, a flat crop is divided by its own tiny contrast, so its
# noise is blown up to unit contrast: after LCN it looks like a textured patch, its standard
# deviation is near 1 and the `std < 0.5` filter keeps it. The training set then fills with
# amplified noise, and the dictionary spends atoms on it. With the batch's mean as the floor, a
# flat crop is divided by the typical contrast of the batch instead: it stays flat, its std stays
# small, and the filter removes it. Only crops with real structure keep unit contrast.
