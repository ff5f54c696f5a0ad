# %% [markdown]
# # Lesson 3: ISTA
#
# Inference minimises `F(z) = f(z) + lam ||z||_1` over non-negative codes, with the smooth part
# `f(z) = sum_i (1/P) ||y_i - W z_i||^2`. ISTA alternates a gradient step on `f` and the proximal
# map of the L1 term (Method §3):
#
# $$z \leftarrow \mathrm{prox}_{\eta\lambda}\big(z - \eta \nabla f(z)\big), \qquad
#   \mathrm{prox}_{\eta\lambda}(u) = \mathrm{relu}(u - \eta\lambda),$$
#
# with a step size `eta = 1 / Lip` where `Lip` is the Lipschitz constant of `grad f`. You write the
# three pieces: the soft threshold, the Lipschitz constant and one ISTA step.

# %%
import matplotlib.pyplot as plt
import torch

import sparselab
from sparselab.checks.ista import check_ista_step, check_lipschitz, check_soft_threshold

x = sparselab.load_mnist("train", n=250).x  # (250, 784)

# %% [markdown]
# ## Exercise 1: the soft threshold for non-negative codes
#
# The proximal map of `threshold * ||z||_1` restricted to `z >= 0`: every entry is shifted down by
# the threshold and clipped at 0. It must work on a tensor of any shape, keep its dtype, and leave
# its input unchanged.


# %%
def soft_threshold(u, threshold):
    """u: any shape, threshold: float >= 0 -> same shape as u, >= 0."""
    ### BEGIN SOLUTION
    return torch.relu(u - threshold)
    ### END SOLUTION


check_soft_threshold(soft_threshold)

# %% [markdown]
# ## Exercise 2: the Lipschitz constant
#
# The gradient of `(1/P) ||y - W z||^2` in `z` is `(2/P) W^T (W z - y)`; it is Lipschitz with
# constant `(2/P) ||W||_2^2`, where `||W||_2` is the largest singular value of `W`
# (`torch.linalg.matrix_norm(W, ord=2)`). Return a float.


# %%
def lipschitz(W):
    """W: (P, L) -> float."""
    ### BEGIN SOLUTION
    return 2.0 / W.shape[0] * float(torch.linalg.matrix_norm(W, ord=2)) ** 2
    ### END SOLUTION


check_lipschitz(lipschitz)

# %% [markdown]
# ## Exercise 3: one ISTA step
#
# With codes in the rows of `z: (B, L)`, the gradient of `f` is `(2/P) (z W^T - y) W` (a `(B, L)`
# tensor). Take the gradient step, then the soft threshold **with threshold `eta * lam`** (you may
# call your `soft_threshold`).


# %%
def ista_step(z, y, W, lam, eta):
    """z: (B, L), y: (B, P), W: (P, L) -> next z: (B, L), >= 0."""
    ### BEGIN SOLUTION
    grad = 2.0 / y.shape[1] * (z @ W.T - y) @ W
    return soft_threshold(z - eta * grad, eta * lam)
    ### END SOLUTION


check_ista_step(ista_step)

# %% [markdown]
# ## Why `eta = 1 / Lip`
#
# `sparselab.ista` runs your step in a loop. With `eta = 1 / Lip` the energy decreases at every
# step; with a step twice too large (`eta = 2.2 / Lip`) it blows up.

# %%
decoder = sparselab.LinearDictionary(128, 784, generator=torch.Generator().manual_seed(0))
Lip = sparselab.lipschitz_constant(decoder)
fig, ax = plt.subplots(figsize=(5, 3))
for factor in (1.0, 1.9, 2.2):
    run = sparselab.ista(decoder, x, lam=0.005, step=factor / Lip, max_iter=60, tol=0,
                         track_energy=True)  # fmt: skip
    ax.semilogy(run.history, label=f"eta = {factor} / Lip")
ax.set(xlabel="ISTA step", ylabel="energy F(Z)")
ax.legend()
plt.show()
print(f"Lip = {Lip:.4g}, so eta = {1 / Lip:.4g}")
