# %% [markdown]
# # Lesson 6: LISTA
#
# Running FISTA for every image is slow, and at test time we want codes without batch statistics.
# VDL trains an encoder to predict the codes: LISTA (Gregor & LeCun 2010), a few ISTA steps unrolled
# into a network with learned weights (Method §4):
#
# $$b = W_e y + b_e, \qquad z_0 = \mathrm{relu}(b), \qquad z_{t+1} = \mathrm{relu}(b + S z_t)
#   \quad (t = 0, \dots, n_{iter} - 1),$$
#
# with `W_e: (L, P)`, `b_e: (L,)` and `S: (L, L)`; sparselab uses `n_iter = 3`.

# %%
import torch

import sparselab
from sparselab.checks.lista import check_lista_forward, check_lista_from_dictionary

# %% [markdown]
# ## Exercise 1: the forward pass
#
# `y: (B, P)` holds the samples in its rows, so `W_e y` is `y @ W_e.T` and `S z_t` is `z @ S.T`.
# Note the bias: `b` (which includes `b_e`) enters every iteration.


# %%
def lista_forward(y, W_e, b_e, S, n_iter):
    """y: (B, P), W_e: (L, P), b_e: (L,), S: (L, L) -> z: (B, L), >= 0."""
    ### BEGIN SOLUTION
    b = y @ W_e.T + b_e
    z = torch.relu(b)
    for _ in range(n_iter):
        z = torch.relu(b + z @ S.T)
    return z
    ### END SOLUTION


check_lista_forward(lista_forward)

# %% [markdown]
# ## Exercise 2: LISTA that runs ISTA
#
# One ISTA step from lesson 3 on `sum_i (1/P)||y_i - W z_i||^2 + lam ||z_i||_1` is
# `relu(z - eta (2/P) W^T (W z - y) - eta lam)`. Rearranged, it is exactly a LISTA iteration:
# find `W_e`, `b_e` (a vector of `L` equal values) and `S` such that the forward pass with these
# weights equals `n_iter + 1` ISTA steps from `z = 0`.


# %%
def lista_from_dictionary(W, lam, eta):
    """W: (P, L) -> (W_e: (L, P), b_e: (L,), S: (L, L)), in the dtype of W."""
    ### BEGIN SOLUTION
    P, L = W.shape
    W_e = 2 * eta / P * W.T
    b_e = torch.full((L,), -eta * lam, dtype=W.dtype)
    S = torch.eye(L, dtype=W.dtype) - 2 * eta / P * W.T @ W
    return W_e, b_e, S
    ### END SOLUTION


check_lista_from_dictionary(lista_from_dictionary)

# %% [markdown]
# ## Check it on digits
#
# sparselab's `LISTAEncoder.from_dictionary` does the same; with `n_iter = 3` its output equals
# four ISTA steps of `sparselab.ista` from zero. Training then moves the weights away from this
# starting point so that three iterations do the work of many.

# %%
x = sparselab.load_mnist("train", n=250).x.double()
decoder = sparselab.LinearDictionary(128, 784, generator=torch.Generator().manual_seed(0)).double()
eta = 1.0 / sparselab.lipschitz_constant(decoder)
encoder = sparselab.LISTAEncoder.from_dictionary(decoder.weight.detach(), lam=0.005, step=eta)
with torch.no_grad():
    e = encoder(x)
z = sparselab.ista(decoder, x, lam=0.005, step=eta, max_iter=4, tol=0).z
print(f"largest difference between LISTA and 4 ISTA steps: {float((e - z).abs().max()):.2e}")
