# %% [markdown]
# # Lesson 9: denoising and few labels
#
# Chapter 9 puts learned codes to work on two tasks: reconstructing a digit from a noisy copy, and
# classifying digits when only a few labelled examples of each class are given. Each rests on a
# small piece that is easy to get subtly wrong:
#
# - the **PSNR** that scores a reconstruction, measured in pixel space (peak 1) for each image:
#   $\mathrm{PSNR} = 10 \log_{10}(1 / \mathrm{mse})$, with the mse taken over the pixels of one image
#   after mapping the network's inputs back to pixels, $\text{pixels} = x \cdot
#   \text{pixel\_scale} + \text{pixel\_offset}$ (MNIST: pixel_scale = 0.3081, the std of its
#   normalisation);
# - the **labelled set**: $n$ training images of each class, drawn at random, and the same ones
#   again for the same seed, so that results can be repeated and averaged over seeds.

# %%
import matplotlib.pyplot as plt
import torch

import sparselab as sl
from sparselab.checks.downstream import check_few_per_class, check_psnr
from sparselab.evaluate import train_classifier
from sparselab.metrics import psnr as sparselab_psnr
from sparselab.runs.results import load_results
from sparselab.runs import PRESETS

# %% [markdown]
# ## Exercise 1: PSNR in pixel space
#
# `x_hat, x: (N, P)` are in the network's input space; `pixel_scale` is a number or an `(N, P)`
# tensor (LCN patches have one per pixel). The offset cancels in the difference.


# %%
def psnr(x_hat, x, pixel_scale):
    """-> (N,): the PSNR in dB of each image, in pixel space, peak 1."""
    ### BEGIN SOLUTION
    mse = ((x_hat - x) * pixel_scale).pow(2).mean(dim=1)
    return 10 * torch.log10(1 / mse)
    ### END SOLUTION


psnr_result = check_psnr(psnr)
print(psnr_result)

# %% [markdown]
# ## Denoising with a learned dictionary
#
# SDL's dictionary at the paper's $\lambda$, from the runs chapter 10 reports (`book/results`):
# noisy test digits are coded by FISTA and rebuilt from their codes. The dictionary can only draw
# digit-like strokes, so most of the noise has nowhere to go. (Chapter 9 codes with the trained
# encoder instead; its weights are not in the artifacts.)

# %%
score = psnr if psnr_result.passed else sparselab_psnr  # sparselab's until yours passes
lam = PRESETS["mnist-sdl"].lam
entry = next(
    e
    for e in load_results("mnist", "../book/results")
    if e["preset"] == "mnist-sdl" and e["lam"] == lam and e["seed"] == 0
)
D = sl.LinearDictionary(128, 784)
with torch.no_grad():
    D.weight.copy_(entry["atoms"].T)  # atoms: (L, P), one per row
x = sl.load_mnist("test", n=250).x
g = torch.Generator().manual_seed(0)
fig, axes = plt.subplots(2, 6, figsize=(8, 2.9))  # two digits per sigma: noisy, reconstructed
for k, sigma in enumerate((0.5, 1.0, 1.5)):
    noisy = x + sigma * torch.randn(x.shape, generator=g)
    with torch.no_grad():
        x_hat = D(sl.fista(D, noisy, lam=lam, step="auto").z)
    before = score(noisy, x, sl.data.MNIST_STD).mean()
    after = score(x_hat, x, sl.data.MNIST_STD).mean()
    print(f"sigma {sigma}: noisy {before:5.2f} dB -> reconstructed {after:5.2f} dB")
    for col in range(2):  # two digits: noisy on top, reconstructed below
        for row, images in enumerate((noisy, x_hat)):
            axes[row, 2 * k + col].imshow(
                sl.mnist_denormalize(images[col]).reshape(28, 28), cmap="gray"
            )
    axes[0, 2 * k].set_title(f"sigma = {sigma}", fontsize=8)
for ax in axes.flat:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Exercise 2: a few labelled examples of each class
#
# `labels: (N,)` holds the classes 0 to 9. Return the positions (in `labels`) of `n` samples of
# each class, drawn at random with `generator`: for each class, shuffle its positions with
# `torch.randperm(k, generator=generator)` and keep the first `n`. Return one `(10 n,)` tensor.


# %%
def few_per_class(labels, n, generator):
    """-> (10 n,) int64 positions in labels: n random samples of each class."""
    ### BEGIN SOLUTION
    picks = []
    for c in range(10):
        where = (labels == c).nonzero()[:, 0]
        picks.append(where[torch.randperm(len(where), generator=generator)[:n]])
    return torch.cat(picks)
    ### END SOLUTION


few_result = check_few_per_class(few_per_class)
print(few_result)

# %% [markdown]
# ## How many labels does a classifier need?
#
# A linear classifier on raw pixels, trained on your labelled sets (three seeds each) and tested
# on 1,000 test digits. Chapter 9 draws the same curve for the codes of trained encoders, which
# need far fewer labels.

# %%
train, test = sl.load_mnist("train", n=10_000), sl.load_mnist("test", n=1000)
if few_result.passed:
    for n in (1, 10, 100):
        accuracies = []
        for seed in range(3):
            idx = few_per_class(train.labels, n, torch.Generator().manual_seed(seed))
            model = train_classifier(train.x[idx], train.labels[idx], seed=seed)
            with torch.no_grad():
                hits = model(test.x).argmax(dim=1) == test.labels
            accuracies.append(hits.float().mean().item())
        per = "label per class" if n == 1 else "labels per class"
        print(f"{n:>3} {per}: test accuracy {100 * sum(accuracies) / 3:.1f} %")
else:
    print("Finish exercise 2 to train on your labelled sets.")

# %% [markdown]
# ## Codes as features, the scikit-learn way
#
# `sl.SparseCoding` wraps the whole model (decoder, LISTA encoder, the training loop of chapter
# 10) as a scikit-learn transformer: `fit` on unlabelled digits, `transform` gives FISTA codes
# from the encoder's warm start, and a classifier takes it from there. Two epochs on 3,000
# digits are a sketch of the paper's 200 on 55,000: compare the accuracies with the pixels', and
# with chapter 9's curves for fully trained encoders.

# %%
from sklearn.linear_model import LogisticRegression

coder = sl.SparseCoding(n_components=128, epochs=2, device="cpu", random_state=0)
coder.fit(train.x[:3000].numpy())  # the paper's VDL hyper-parameters; no labels used
codes_test = coder.transform(test.x.numpy())
print(f"{100 * (codes_test == 0).mean():.1f} % of the test codes are zeros")
if few_result.passed:
    for n in (1, 10, 100):
        idx = few_per_class(train.labels, n, torch.Generator().manual_seed(0)).numpy()
        labels = train.labels[idx].numpy()
        for name, fit_on, test_on in (
            ("codes", coder.transform(train.x[idx].numpy()), codes_test),
            ("pixels", train.x[idx].numpy(), test.x.numpy()),
        ):
            clf = LogisticRegression(max_iter=1000).fit(fit_on, labels)
            accuracy = clf.score(test_on, test.labels.numpy())
            print(f"{n:>3} per class, {name:6s}: test accuracy {100 * accuracy:.1f} %")
else:
    print("Finish exercise 2 to train on your labelled sets.")

# %% [markdown]
# ## Question
#
# Why average the accuracy over several draws of the labelled set, and why must a draw depend
# only on its seed?

# %% [markdown] tags=["solution"]
# **Answer.** With one labelled example per class, the accuracy depends heavily on which ten
# images were drawn: a badly written 4 as the only 4 costs many test digits. One draw says little
# about the features; the mean over several draws, with its spread, says how well they serve a
# typical labelled set. Tying each draw to its seed makes the experiment repeatable, and lets
# two feature sets (codes and pixels) be compared on exactly the same labelled images.
