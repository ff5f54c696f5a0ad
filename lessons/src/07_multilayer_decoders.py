# %% [markdown]
# # Lesson 7: multi-layer decoders
#
# VDL-NL replaces the linear dictionary by a decoder with one hidden layer (Method §1):
#
# $$D(z) = W_2\,\mathrm{relu}(W_1 z + b_1), \qquad W_1: (H, L),\ b_1: (H,),\ W_2: (P, H).$$
#
# A decoder like this has no columns to look at. To see what code component `j` stands for,
# chapter 7 draws the image of a single active component through the decoder, **minus the image of
# the zero code** (`D(0) = W_2 relu(b_1)` is not zero):
#
# $$a\,e_j \mapsto D(a\,e_j) - D(0).$$

# %%
import matplotlib.pyplot as plt
import torch

import sparselab
from sparselab.atoms import component_images
from sparselab.checks.multilayer_decoders import check_component_image, check_mlp_decoder

# %% [markdown]
# ## Exercise 1: the forward pass
#
# With codes in the rows of `z: (B, L)`, the hidden layer is `relu(z @ W1.T + b1)`: `(B, H)`.


# %%
def mlp_decoder(z, W1, b1, W2):
    """z: (B, L), W1: (H, L), b1: (H,), W2: (P, H) -> (B, P)."""
    ### BEGIN SOLUTION
    return torch.relu(z @ W1.T + b1) @ W2.T
    ### END SOLUTION


check_mlp_decoder(mlp_decoder)

# %% [markdown]
# ## Exercise 2: the image of one code component
#
# `decoder` is any module mapping `(B, L)` codes to `(B, P)` images, with a `code_dim` attribute
# (an `MLPDecoder` or a `LinearDictionary`). Build the code `amplitude * e_j` (in the dtype of the
# decoder's parameters), decode it and the zero code, and return the difference as a `(P,)` vector.
# No gradient is needed (`torch.no_grad()`).


# %%
def component_image(decoder, j, amplitude):
    """-> (P,) tensor: D(amplitude * e_j) - D(0)."""
    ### BEGIN SOLUTION
    dtype = next(decoder.parameters()).dtype
    z = torch.zeros(2, decoder.code_dim, dtype=dtype)
    z[0, j] = amplitude
    with torch.no_grad():
        out = decoder(z)
    return out[0] - out[1]
    ### END SOLUTION


result = check_component_image(component_image)
print(result)

# %% [markdown]
# ## Look at a decoder
#
# A briefly trained decoder is beyond a lesson's time budget; here are the component images of an
# untrained `MLPDecoder` with the paper's sizes (`L = 128`, `H = 1024`). Trained ones (chapter 7)
# show strokes and digit parts. Without the subtraction of `D(0)` every image would carry the
# same background. The cell uses your function once it passes the check, sparselab's otherwise.

# %%
decoder = sparselab.MLPDecoder(128, 1024, 784, generator=torch.Generator().manual_seed(0))


def reference_image(decoder, j, amplitude):  # sparselab's, (1, 1, P) -> (P,)
    with torch.no_grad():
        return component_images(decoder, [j], [amplitude])[0, 0]


draw = component_image if result.passed else reference_image
fig, axes = plt.subplots(2, 8, figsize=(8, 2.3))
for j, ax in enumerate(axes.flat):
    ax.imshow(draw(decoder, j, 3.0).reshape(28, 28), cmap="RdBu_r")
    ax.set_title(f"j = {j}", fontsize=7)
    ax.axis("off")
plt.show()
