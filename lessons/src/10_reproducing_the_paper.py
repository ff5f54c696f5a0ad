# %% [markdown]
# # Lesson 10: reading a sparsity curve
#
# The paper's central claim is that the variance-regularised models reconstruct better than SDL
# *at the same sparsity*. Each trained model gives one point per $\lambda$: the percentage of
# code entries that are exactly zero, and the test PSNR. Two models never land on exactly the
# same sparsity, so chapter 10 reads SDL's curve at the other model's sparsity, on the straight
# line between SDL's two nearest points, and takes the difference. Outside SDL's range of
# sparsity there is no SDL point to compare with, and the difference is NaN.
#
# You will write that reading and the verdict, then run both on the results the book loads
# (`book/results`, written by `python -m sparselab reproduce mnist`).

# %%
import math
from pathlib import Path

import matplotlib.pyplot as plt

from sparselab.book import paper_plots
from sparselab.checks.reproducing_the_paper import check_above_curve, check_psnr_at
from sparselab.runs.results import curve_at, load_results, sparsity_curve, summarize

# %% [markdown]
# ## Exercise 1: a curve's PSNR at a given sparsity
#
# `curve` is a list of `(zeros_percent, psnr)` tuples sorted by `zeros_percent`. Between two
# neighbouring points `(z0, p0)` and `(z1, p1)` with `z0 <= z <= z1`, the curve is the line
# `p0 + (p1 - p0) (z - z0) / (z1 - z0)`; outside `[first z, last z]` return `math.nan`.


# %%
def psnr_at(curve, zeros_percent):
    """-> float: the curve's PSNR at zeros_percent, NaN outside its range."""
    ### BEGIN SOLUTION
    for (z0, p0), (z1, p1) in zip(curve, curve[1:], strict=False):
        if z0 <= zeros_percent <= z1:
            return p0 + (p1 - p0) * (zeros_percent - z0) / (z1 - z0)
    return math.nan
    ### END SOLUTION


check_psnr_at(psnr_at)

# %% [markdown]
# ## Exercise 2: the verdict
#
# `points` are one model's `(zeros_percent, psnr)` points. The claim "this model lies above the
# curve at equal sparsity" holds when every point inside the curve's range lies above it (a gap
# `psnr - psnr_at(curve, zeros_percent)` greater than 0), and at least one point is inside:
# a point outside has a NaN gap, and NaN is neither above nor below anything. Use your
# `psnr_at`.


# %%
def above_curve(points, curve):
    """-> bool: every point inside the curve's range lies above it, and at least one is inside."""
    ### BEGIN SOLUTION
    gaps = [psnr - psnr_at(curve, zeros) for zeros, psnr in points]
    inside = [gap for gap in gaps if not math.isnan(gap)]
    return len(inside) > 0 and min(inside) > 0
    ### END SOLUTION


check_above_curve(above_curve)

# %% [markdown]
# ## The claim, on our runs
#
# `load_results` reads the artifacts chapter 10 reads; `summarize` averages each point over its
# seeds and `sparsity_curve` keeps, for each $\lambda$, the longest run of a model (chapter 10
# lists each point's epochs and seeds). Until both checks pass, the cell reads the curve with
# sparselab's `curve_at` and leaves the verdict to you.

# %%
rows = summarize(load_results("mnist", Path("..") / "book" / "results"))
curves = {m.upper(): sparsity_curve(rows, f"mnist-{m}") for m in ("sdl", "vdl", "sdl-nl", "vdl-nl")}
done = check_psnr_at(psnr_at).passed and check_above_curve(above_curve).passed
read = psnr_at if done else curve_at
for model in ("VDL", "SDL-NL", "VDL-NL"):
    gaps = [psnr - read(curves["SDL"], zeros) for zeros, psnr in curves[model]]
    shown = ", ".join("outside" if math.isnan(g) else f"{g:+.2f}" for g in gaps)
    verdict = above_curve(curves[model], curves["SDL"]) if done else "(your above_curve)"
    print(f"{model:<7} gaps to SDL at equal sparsity (dB): {shown}; above SDL: {verdict}")
fig = paper_plots.plot_sparsity_psnr(curves, title="MNIST: test PSNR against sparsity")
plt.show()

# %% [markdown]
# ## Question
#
# Why compare the models at equal sparsity rather than at equal $\lambda$? (Think of what
# $\lambda$ weighs against in each energy, and of what VDL's unbounded atoms do to the size of its
# codes.)

# %% [markdown] tags=["solution"]
# **Answer.** $\lambda$ prices the L1 norm of the codes against a reconstruction error, and the
# same price buys different codes in different energies: VDL adds a variance hinge that pushes
# every component's spread up, and its atoms are not normalised, so its codes can be larger or
# smaller than SDL's for the same $\lambda$; a multi-layer decoder changes the scale again. Equal
# $\lambda$ therefore gives the models different sparsities, and a model could look better simply
# by using more non-zero entries. The fraction of zeros is what the paper cares about, and it
# means the same for every model, so the comparison is made there.
