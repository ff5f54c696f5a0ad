"""Lesson 9 (denoising and few labels): PSNR and a few labelled samples per class."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ._core import FAIL, NOT_DONE, PASS, CheckResult, _describe, _gen, _randn, _report, _run

__all__ = ["check_psnr", "check_few_per_class"]


def check_psnr(student_fn: Callable) -> CheckResult:
    """``student_fn(x_hat, x, pixel_scale)``: x_hat, x: (N, P) in input space, pixel_scale a
    number or (N, P) -> (N,) PSNR in dB of each image in pixel space, peak 1
    (:func:`sparselab.metrics.psnr`)."""
    from ..metrics import psnr

    def images(N, P, seed, dtype=torch.float32):
        x = _randn(N, P, seed=seed, dtype=dtype)
        return x + 0.3 * _randn(N, P, seed=seed + 1, dtype=dtype), x

    cases = [
        ("N=4, P=10, pixel_scale 0.3081 (MNIST)", (*images(4, 10, 210), 0.3081)),
        ("pixel_scale 1", (*images(3, 8, 212), 1.0)),
        ("a (N, P) pixel_scale (LCN patches)", (*images(3, 6, 214), 0.1 + _randn(3, 6, seed=216).abs())),
        ("float64", (*images(2, 5, 218, torch.float64), 0.5)),
    ]  # fmt: skip

    def mse(x_hat, x, scale):
        return ((x_hat - x) * scale).pow(2).mean(dim=1)

    wrongs = [
        ("forgot pixel_scale: PSNR is measured on pixels, (x_hat - x) * pixel_scale",
         lambda xh, x, sc: 10 * torch.log10(1 / (xh - x).pow(2).mean(dim=1))),
        ("scaled the squared error by pixel_scale: scale the difference, then square it",
         lambda xh, x, sc: 10 * torch.log10(1 / ((xh - x).pow(2) * sc).mean(dim=1))),
        ("used 20 log10 with the mean squared error: it is 10 log10(1 / mse)",
         lambda xh, x, sc: 20 * torch.log10(1 / mse(xh, x, sc))),
        ("used the natural log: PSNR is 10 log10(1 / mse)",
         lambda xh, x, sc: 10 * torch.log(1 / mse(xh, x, sc))),
        ("used a peak of 255: the pixels are in [0, 1], so the peak is 1",
         lambda xh, x, sc: 10 * torch.log10(255**2 / mse(xh, x, sc))),
        ("summed the squared errors over pixels: take their mean",
         lambda xh, x, sc: 10 * torch.log10(1 / ((xh - x) * sc).pow(2).sum(dim=1))),
        ("returned one PSNR for the whole batch: the answer is one per image, (N,)",
         lambda xh, x, sc: 10 * torch.log10(1 / mse(xh, x, sc).mean())),
    ]  # fmt: skip
    hint = "x_hat, x: (N, P); the mean squared error of each image is over dim=1"
    return _run("psnr", student_fn, cases, psnr, wrongs, hint=hint)


def check_few_per_class(student_fn: Callable) -> CheckResult:
    """``student_fn(labels, n, generator)``: the indices of n samples of each class drawn at random
    with ``generator`` (each class's samples shuffled by ``torch.randperm``): (10 n,) int64, no
    index twice, the same draw for the same seed."""
    name = "few_per_class"
    if not callable(student_fn):
        return _report(CheckResult(name, FAIL, f"expected a function; got {_describe(student_fn)}"))
    labels = torch.randint(0, 10, (500,), generator=_gen(220))
    labels[:10] = torch.arange(10)  # every class present

    def draw(n, seed):
        return student_fn(labels.clone(), n, _gen(seed))

    def fail(message, case="n = 3, seed 0"):
        return _report(CheckResult(name, FAIL, f"{message} (case: {case})"))

    try:
        first, again, other = draw(3, 0), draw(3, 0), draw(3, 1)
        one = draw(1, 2)
        k = int(torch.bincount(labels, minlength=10).min())
        every = draw(k, 3)  # all of the smallest class: a draw with replacement repeats here
    except NotImplementedError:
        return _report(CheckResult(name, NOT_DONE, "not done yet (NotImplementedError)"))
    except Exception as exc:
        return _report(CheckResult(name, FAIL, f"raised {type(exc).__name__}: {exc}. Hint: "
                                   "(labels == c).nonzero()[:, 0] holds the indices of class c"))  # fmt: skip
    if first is None:
        return _report(CheckResult(name, NOT_DONE, "not done yet (the function returned None)"))
    for idx in (first, one):
        if not isinstance(idx, Tensor) or idx.ndim != 1 or idx.is_floating_point():
            return fail(f"expected a 1-D integer tensor of indices; got {_describe(idx)}"
                        + (f" of {idx.dtype}" if isinstance(idx, Tensor) else ""))  # fmt: skip
    if len(first) != 30 or len(one) != 10:
        return fail(f"expected n indices per class, 10 n in all; got {len(first)} for n = 3 and "
                    f"{len(one)} for n = 1", "n = 3 and n = 1")  # fmt: skip
    if sorted(first.tolist()) == [c for c in range(10) for _ in range(3)]:
        return fail("returned the labels of the drawn samples: return their positions in labels")
    if bool(((first < 0) | (first >= len(labels))).any()):
        return fail("returned indices outside the labels: return positions in labels")
    for idx, case in ((first, "n = 3, seed 0"), (every, f"n = {k}, all of the smallest class")):
        if len(set(idx.tolist())) != len(idx):
            return fail(
                "drew the same sample twice: draw without replacement (torch.randperm)", case
            )
    counts = torch.bincount(labels[first], minlength=10).tolist()
    if counts != [3] * 10:
        return fail(f"expected 3 samples of each class; got {counts} per class (labels[idx])")
    firsts = torch.cat([(labels == c).nonzero()[:3, 0] for c in range(10)])
    if set(first.tolist()) == set(firsts.tolist()):
        return fail("took the first n samples of each class: draw them at random with the "
                    "generator, or every seed gives the same labelled set")  # fmt: skip
    if not torch.equal(torch.as_tensor(first), torch.as_tensor(again)):
        return fail("two draws with the same seed differ: draw with the generator passed in "
                    "(torch.randperm(k, generator=generator)), not torch's global one",
                    "seed 0 twice")  # fmt: skip
    if set(first.tolist()) == set(other.tolist()):
        return fail(
            "seeds 0 and 1 drew the same samples: use the generator passed in", "seeds 0 and 1"
        )
    return _report(CheckResult(name, PASS, "all 6 cases pass (size, range, no repeats, n per "
                               "class, random, seeded)"))  # fmt: skip
