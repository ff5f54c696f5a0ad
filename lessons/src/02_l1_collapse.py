# %% [markdown]
# # Lesson 2: the sparse coding energy and the L1 collapse
#
# Chapter 2 replaces the encoder by *inference*: for each image `y` we look for a sparse,
# non-negative code `z` that minimises the energy
#
# $$F(Z) = \sum_i \tfrac{1}{P}\|y_i - W z_i\|^2 + \lambda \sum_i \|z_i\|_1 .$$
#
# You write the energy, then run the experiment that shows why learning the dictionary `W` with
# this energy alone fails: the **L1 collapse**.

# %%
import matplotlib.pyplot as plt
import torch

import sparselab
from sparselab.checks.l1_collapse import check_collapse, check_energy

x = sparselab.load_mnist("train", n=2000).x  # (2000, 784)

# %% [markdown]
# ## Exercise 1: the energy
#
# `y: (B, P)`, codes `z: (B, L)`, dictionary `W: (P, L)` (one atom per column). The reconstruction
# of the batch is `z @ W.T`; the first term is a mean over pixels, summed over the batch; the L1
# term is summed over everything.


# %%
def sparse_coding_energy(y, z, W, lam):
    """y: (B, P), z: (B, L), W: (P, L), lam: float -> scalar tensor."""
    ### BEGIN SOLUTION
    return (y - z @ W.T).pow(2).mean(dim=1).sum() + lam * z.abs().sum()
    ### END SOLUTION


check_energy(sparse_coding_energy)

# %% [markdown]
# ## The scaling symmetry
#
# Replace `W` by `c W` and `z` by `z / c`: the reconstruction `W z` does not change, but the L1 term
# is divided by `c`. So the energy can always be lowered by growing the dictionary and shrinking the
# codes. Here with sparselab's energy:

# %%
g = torch.Generator().manual_seed(0)
decoder = sparselab.LinearDictionary(128, 784, generator=g)
y = x[:250]
z = sparselab.fista(decoder, y, lam=0.005).z
for c in (1.0, 2.0, 10.0):
    scaled = sparselab.LinearDictionary(128, 784)
    with torch.no_grad():
        scaled.weight.copy_(c * decoder.weight)
        rec = float(sparselab.energy(y, z / c, scaled, lam=0.0))
    l1 = float((z / c).abs().sum())
    print(f"c = {c:5.1f}: reconstruction {rec:8.2f}, L1 of the codes {l1:9.1f}")

# %% [markdown]
# ## Exercise 2: the collapse experiment
#
# Write the learning loop of Method §4 with an **unconstrained** linear dictionary (no column
# normalisation, no variance term):
#
# for each epoch, for each batch of 250 images (in a random order drawn from `g`):
# 1. infer the codes with `sparselab.fista(decoder, y, lam=lam, step=eta, max_iter=50).z` (the
#    decoder fixed), with the step size `eta = 1 / Lip` of lesson 3 for the current dictionary:
#    `Lip = (2/P) ||W||_2^2`, `||W||_2 = torch.linalg.matrix_norm(W, ord=2)` for
#    `W = decoder.weight.detach()` (the dictionary grows, so recompute it at every batch);
# 2. one Adam step (learning rate `lr`) on the decoder, for the loss
#    `mean_i (1/P) ||y_i - W z_i||^2` with the codes held fixed.
#
# Record per epoch the mean over the epoch's batches of the code L1 norm per sample
# (`z.abs().sum(dim=1).mean()`) and, at the end of the epoch, the mean column norm of `W`
# (`decoder.column_norms().mean()`). Return `{"code_l1": [...], "column_norm": [...]}` (floats).
# 20 epochs of 8 batches take a few seconds.


# %%
def train_unconstrained(x, lam=0.005, n_epochs=20, batch=250, lr=1e-2, seed=0):
    """x: (N, P) images -> {"code_l1": [n_epochs floats], "column_norm": [n_epochs floats]}."""
    ### BEGIN SOLUTION
    g = torch.Generator().manual_seed(seed)
    decoder = sparselab.LinearDictionary(128, x.shape[1], generator=g)
    opt = torch.optim.Adam(decoder.parameters(), lr=lr)
    history = {"code_l1": [], "column_norm": []}
    for _ in range(n_epochs):
        order = torch.randperm(len(x), generator=g)
        l1 = []
        for start in range(0, len(x), batch):
            y = x[order[start : start + batch]]
            W = decoder.weight.detach()
            eta = 1.0 / (2.0 / W.shape[0] * float(torch.linalg.matrix_norm(W, ord=2)) ** 2)
            z = sparselab.fista(decoder, y, lam=lam, step=eta, max_iter=50).z
            loss = (y - decoder(z)).pow(2).mean(dim=1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            l1.append(float(z.abs().sum(dim=1).mean()))
        history["code_l1"].append(sum(l1) / len(l1))
        history["column_norm"].append(float(decoder.column_norms().mean()))
    return history
    ### END SOLUTION


result = check_collapse(train_unconstrained, x)
print(result)

# %%
if result.value is not None:  # your history, once train_unconstrained returns one
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3))
    ax1.plot(result.value["code_l1"])
    ax1.set(xlabel="epoch", ylabel="mean code L1 norm")
    ax2.plot(result.value["column_norm"], color="C1")
    ax2.set(xlabel="epoch", ylabel="mean column norm of W")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## Question
#
# Chapter 2 names two fixes. Which one does SDL use, which one VDL, and what does each constrain?

# %% [markdown] tags=["solution"]
# **Answer.** SDL rescales every column of `W` to unit norm after each decoder step, so `W -> c W`
# is no longer available. VDL leaves the decoder free and adds the variance hinge
# `beta * sum_j relu(T - s_j)^2`, which keeps the spread of each code component over the batch
# above `T`, so the codes cannot shrink to 0 (lesson 5).
