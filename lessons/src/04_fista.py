# %% [markdown]
# # Lesson 4: FISTA
#
# FISTA (Beck & Teboulle 2009) adds momentum to ISTA. With `t_1 = 1` and `v_1 = x_0` (Method §3):
#
# $$x_k = \mathrm{prox}_{\eta\lambda}\big(v_k - \eta \nabla f(v_k)\big), \quad
#   t_{k+1} = \frac{1 + \sqrt{1 + 4 t_k^2}}{2}, \quad
#   v_{k+1} = x_k + \frac{t_k - 1}{t_{k+1}}\,(x_k - x_{k-1}).$$
#
# You write the momentum update, then the whole loop.

# %%
import math

import matplotlib.pyplot as plt
import torch

import sparselab
from sparselab.checks.fista import check_fista, check_fista_momentum

x = sparselab.load_mnist("train", n=250).x  # (250, 784)

# %% [markdown]
# ## Exercise 1: the momentum update
#
# Given the new iterate `x = x_k`, the previous one `x_prev = x_{k-1}` and `t = t_k` (a float),
# return `(v, t_next)`: the next momentum point `v_{k+1}` and `t_{k+1}`. Mind the indices: the
# coefficient is `(t_k - 1) / t_{k+1}`.


# %%
def fista_momentum(x, x_prev, t):
    """x, x_prev: (B, L), t: float -> (v: (B, L), t_next: float)."""
    ### BEGIN SOLUTION
    t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
    return x + ((t - 1) / t_next) * (x - x_prev), t_next
    ### END SOLUTION


check_fista_momentum(fista_momentum)

# %% [markdown]
# ## Exercise 2: the FISTA loop
#
# Run exactly `n_iter` steps from `z = 0` (a `(B, L)` tensor of the dtype of `y`) with the fixed
# step `eta`, for the energy `sum_i (1/P) ||y_i - W z_i||^2 + lam ||z_i||_1` and non-negative codes.
# The gradient step and the threshold are lesson 3's; the check compares with `sparselab.fista`.


# %%
def my_fista(y, W, lam, eta, n_iter):
    """y: (B, P), W: (P, L) -> z: (B, L) after n_iter FISTA steps from 0."""
    ### BEGIN SOLUTION
    x = torch.zeros(y.shape[0], W.shape[1], dtype=y.dtype)
    x_prev, v, t = x, x, 1.0
    for _ in range(n_iter):
        grad = 2.0 / y.shape[1] * (v @ W.T - y) @ W
        x = torch.relu(v - eta * grad - eta * lam)
        v, t = fista_momentum(x, x_prev, t)
        x_prev = x
    return x
    ### END SOLUTION


check_fista(my_fista)

# %% [markdown]
# ## ISTA against FISTA
#
# The same decoder, batch and step size; the energy gap to the best value found, per step.
# FISTA's gap falls like `1/k^2` against ISTA's `1/k`.

# %%
decoder = sparselab.LinearDictionary(128, 784, generator=torch.Generator().manual_seed(0))
runs = {
    name: solver(decoder, x, lam=0.005, max_iter=200, tol=0, track_energy=True).history
    for name, solver in (("ISTA", sparselab.ista), ("FISTA", sparselab.fista))
}
best = min(float(h.min()) for h in runs.values())
fig, ax = plt.subplots(figsize=(5, 3))
for name, history in runs.items():
    ax.loglog(history - best + 1e-6, label=name)
ax.set(xlabel="step k", ylabel="F(Z_k) - best")
ax.legend()
plt.show()
