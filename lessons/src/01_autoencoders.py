# %% [markdown]
# # Lesson 1: autoencoders, undercomplete and overcomplete
#
# Chapter 1 of the book trains plain autoencoders on MNIST. In this lesson you write the two pieces
# everything else rests on: the **reconstruction error** with the book's normalisation (Method §2) and
# the **forward pass** of an autoencoder `y_hat = W_d relu(W_e y + b_e)`. Then you run the experiment
# of the chapter: a small code must summarise the digit, while a code larger than the image, with
# nothing to constrain it, reconstructs almost perfectly with a dense code.
#
# Each exercise ends with a check from `sparselab.checks`: it runs your function on random and edge
# cases, compares it with sparselab's implementation and tells you what is wrong. Until you have
# written the function, the check says "not done yet".

# %%
import matplotlib.pyplot as plt
import torch

import sparselab
from sparselab.checks.autoencoders import check_autoencoder_forward, check_reconstruction
from sparselab.energy import reconstruction

x = sparselab.load_mnist("train", n=2000).x  # (2000, 784), normalised pixels
print(x.shape)

# %% [markdown]
# ## Exercise 1: the reconstruction error
#
# For a batch `y` and its reconstruction `y_hat`, both `(B, P)`, the reconstruction term is the
# squared error **averaged over the P pixels** of each sample and **summed over the B samples**:
#
# $$\sum_i \tfrac{1}{P}\,\|y_i - \hat y_i\|^2 .$$
#
# The paper's hyper-parameters (the value of `lam`, the step size) assume exactly this scale.


# %%
def reconstruction_error(y, y_hat):
    """y, y_hat: (B, P) -> scalar tensor."""
    ### BEGIN SOLUTION
    return (y - y_hat).pow(2).mean(dim=1).sum()
    ### END SOLUTION


check_reconstruction(reconstruction_error)

# %% [markdown]
# ## Exercise 2: the forward pass
#
# The encoder maps `y: (B, P)` to a non-negative code `z = relu(W_e y + b_e)` of size `L`
# (`W_e: (L, P)`, `b_e: (L,)`); the linear decoder maps it back, `y_hat = W_d z` (`W_d: (P, L)`).
# With samples in the rows of `y`, "`W_e y`" is `y @ W_e.T`.


# %%
def autoencoder_forward(y, W_e, b_e, W_d):
    """y: (B, P), W_e: (L, P), b_e: (L,), W_d: (P, L) -> y_hat: (B, P)."""
    ### BEGIN SOLUTION
    z = torch.relu(y @ W_e.T + b_e)
    return z @ W_d.T
    ### END SOLUTION


check_autoencoder_forward(autoencoder_forward)

# %% [markdown]
# ## The experiment: undercomplete against overcomplete
#
# We train `sparselab.Autoencoder` (the same forward pass as yours) with a small code, `L = 32`,
# and a code larger than the image, `L = 1024 > P = 784`, for 200 Adam steps on 2,000 digits. The
# loss is sparselab's `reconstruction` (so this part runs before you finish the exercises), divided
# by the batch size. We then measure, on 200 test digits, the reconstruction error per image and the
# fraction of code entries that are active (non-zero).


# %%
def train_autoencoder(code_dim, steps=200, batch=100, seed=0):
    g = torch.Generator().manual_seed(seed)
    model = sparselab.Autoencoder(784, code_dim, generator=g)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(steps):
        y = x[torch.randint(len(x), (batch,), generator=g)]
        loss = reconstruction(y, model(y)) / batch
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


models = {L: train_autoencoder(L) for L in (32, 1024)}
x_test = sparselab.load_mnist("test", n=200).x
with torch.no_grad():
    for L, model in models.items():
        error = float(reconstruction(x_test, model(x_test))) / len(x_test)
        active = float((model.encoder(x_test) > 0).float().mean())
        print(f"L = {L:4d}: test error per image {error:.3f}, active code entries {active:.0%}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(6, 2.3))
with torch.no_grad():
    images = [("test digit", x_test[0])]
    images += [(f"L = {L}", model(x_test[:1])[0]) for L, model in models.items()]
for ax, (title, img) in zip(axes, images, strict=True):
    ax.imshow(img.reshape(28, 28), cmap="gray")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Question
#
# The overcomplete autoencoder wins on reconstruction. Why is that not enough to call its code a
# good representation of digits? What does chapter 2 add to the objective so that a large code
# cannot simply spread every image over all its components?

# %% [markdown] tags=["solution"]
# **Answer.** With more code components than pixels and no constraint, nothing forces the code to
# capture what digits share: a dense code can carry the pixels almost one for one (in the limit, the
# identity map reconstructs anything, noise included). Sparse coding keeps the large code but
# charges `lam * ||z||_1` for it, so only a few components may be active per image; they must be the
# building blocks that digits have in common.
