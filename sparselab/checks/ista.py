"""Lesson 3 (ISTA): the soft threshold, the Lipschitz constant and one ISTA step."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..models import LinearDictionary
from ..solvers import ista, lipschitz_constant, soft_threshold
from ._core import CheckResult, _dictionary, _gen, _ista_grad, _randn, _run

__all__ = ["check_soft_threshold", "check_lipschitz", "check_ista_step"]


def check_soft_threshold(student_fn: Callable) -> CheckResult:
    """``student_fn(u, threshold)``: the proximal map of ``threshold * ||z||_1`` restricted to
    non-negative codes, ``relu(u - threshold)``, elementwise; u: any shape."""
    u = torch.tensor([[-2.0, -0.5, 0.0, 0.3, 0.5, 0.7, 3.0]])
    cases = [
        ("mixed signs, threshold 0.5", (u, 0.5)),
        ("u exactly at the threshold gives 0", (torch.full((2, 3), 0.25), 0.25)),
        ("threshold 0 (the projection onto z >= 0)", (_randn(3, 4, seed=50), 0.0)),
        ("all zeros", (torch.zeros(4, 2), 0.1)),
        ("all negative", (-_randn(3, 5, seed=51).abs() - 0.01, 0.2)),
        ("float64 batch (B=6, L=5)", (_randn(6, 5, seed=52, dtype=torch.float64), 0.3)),
    ]
    wrongs = [
        ("returns negative values: that is the two-sided soft threshold sign(u) relu(|u| - t); "
         "the codes are non-negative, so use relu(u - threshold)",
         lambda u, t: soft_threshold(u, t, positive=False)),
        ("returns negative values: forgot the relu (positivity), u - threshold is not a prox",
         lambda u, t: u - t),
        ("shifted in the wrong direction: relu(u + threshold) instead of relu(u - threshold)",
         lambda u, t: torch.relu(u + t)),
        ("that is the hard threshold u * (u > threshold): shrink the kept values by the threshold",
         lambda u, t: u * (u > t)),
        ("relu(u) - threshold goes negative below the threshold: take relu(u - threshold)",
         lambda u, t: torch.relu(u) - t),
        ("ignored the threshold: relu(u) is the projection only", lambda u, t: torch.relu(u)),
    ]  # fmt: skip
    return _run("soft_threshold", student_fn, cases, lambda u, t: soft_threshold(u, t), wrongs)


def check_lipschitz(student_fn: Callable) -> CheckResult:
    """``student_fn(W)``: W (P, L) -> the Lipschitz constant ``(2/P) ||W||_2^2`` of the gradient
    of ``(1/P) ||y - W z||^2`` (``||W||_2`` the largest singular value)."""

    def fro(W):
        return 2.0 / W.shape[0] * W.pow(2).sum()

    def sigma(W):
        return torch.linalg.matrix_norm(W.double(), ord=2).to(W.dtype)

    cases = [
        ("random P=20, L=8", (_randn(20, 8, seed=60),)),
        ("overcomplete P=6, L=15", (_randn(6, 15, seed=61),)),
        ("unit-norm columns, P=30, L=10", (LinearDictionary(10, 30, generator=_gen(62)).weight.detach(),)),
        ("rank one", (torch.outer(_randn(12, seed=63), _randn(4, seed=64)),)),
        ("float64", (_randn(9, 9, seed=65, dtype=torch.float64),)),
    ]  # fmt: skip

    def reference(W):
        return lipschitz_constant(_dictionary(W))

    wrongs = [
        ("used the Frobenius norm: it only bounds the largest singular value; use "
         "torch.linalg.matrix_norm(W, ord=2)", fro),
        ("forgot the factor 2 (the derivative of the square)",
         lambda W: sigma(W) ** 2 / W.shape[0]),
        ("forgot the factor 1/P (the reconstruction is a mean over pixels)",
         lambda W: 2.0 * sigma(W) ** 2),
        ("forgot the factor 2/P", lambda W: sigma(W) ** 2),
        ("forgot to square the spectral norm", lambda W: 2.0 / W.shape[0] * sigma(W)),
        ("divided by L (the code size) instead of P (the number of pixels)",
         lambda W: 2.0 / W.shape[1] * sigma(W) ** 2),
    ]  # fmt: skip
    return _run("lipschitz", student_fn, cases, reference, wrongs, check_dtype=False)


def check_ista_step(student_fn: Callable) -> CheckResult:
    """``student_fn(z, y, W, lam, eta)``: one ISTA step on ``sum_i (1/P)||y_i - W z_i||^2 + lam
    ||z_i||_1`` with non-negative codes, ``relu(z - eta grad - eta lam)``; z (B, L), y (B, P),
    W (P, L) -> (B, L)."""

    def args(B, P, L, seed, lam, eta, dtype=torch.float32, zero=False):
        z = _randn(B, L, seed=seed, dtype=dtype).abs()
        return (
            torch.zeros_like(z) if zero else z,
            _randn(B, P, seed=seed + 1, dtype=dtype),
            _randn(P, L, seed=seed + 2, dtype=dtype),
            lam,
            eta,
        )

    cases = [
        ("random B=4, P=12, L=6", args(4, 12, 6, 70, 0.1, 0.5)),
        ("from z = 0", args(3, 10, 5, 73, 0.2, 0.8, zero=True)),
        ("lam = 0 (projected gradient step)", args(2, 8, 4, 76, 0.0, 0.3)),
        ("large lam (every code thresholded to 0)", args(3, 8, 4, 79, 1e3, 0.5)),
        ("float64 B=1", args(1, 9, 7, 82, 0.05, 1.0, torch.float64)),
    ]

    def reference(z, y, W, lam, eta):
        # sparselab.ista's first step from z0 = z with a fixed step size and no stopping test
        return ista(_dictionary(W), y, lam=lam, z0=z, step=eta, max_iter=1, tol=0).z

    def step(z, y, W, lam, eta, *, threshold=None, grad_scale=1.0, sign=1.0, positive=True):
        u = z - sign * eta * grad_scale * _ista_grad(z, y, W)
        return soft_threshold(u, eta * lam if threshold is None else threshold, positive)

    def P(y):
        return y.shape[1]

    wrongs = [
        ("wrong threshold: used lam instead of eta * lam (the prox of eta * lam ||.||_1)",
         lambda z, y, W, lam, eta: step(z, y, W, lam, eta, threshold=lam)),
        ("wrong threshold: used lam / eta instead of eta * lam",
         lambda z, y, W, lam, eta: step(z, y, W, lam, eta, threshold=lam / eta)),
        ("sign error: stepped up the gradient (z + eta grad) instead of down",
         lambda z, y, W, lam, eta: step(z, y, W, lam, eta, sign=-1.0)),
        ("forgot the factor 2/P in the gradient: grad = (2/P) (z W^T - y) W",
         lambda z, y, W, lam, eta: step(z, y, W, lam, eta, grad_scale=P(y) / 2)),
        ("forgot the factor 1/P in the gradient (the reconstruction is a mean over pixels)",
         lambda z, y, W, lam, eta: step(z, y, W, lam, eta, grad_scale=P(y))),
        ("forgot the factor 2 in the gradient (the derivative of the square)",
         lambda z, y, W, lam, eta: step(z, y, W, lam, eta, grad_scale=0.5)),
        ("returns negative values: used the two-sided soft threshold; codes are non-negative",
         lambda z, y, W, lam, eta: step(z, y, W, lam, eta, positive=False)),
        ("forgot the proximal step (no threshold, no positivity): z - eta grad",
         lambda z, y, W, lam, eta: z - eta * _ista_grad(z, y, W)),
        ("forgot to multiply the gradient by the step size eta",
         lambda z, y, W, lam, eta: soft_threshold(z - _ista_grad(z, y, W), eta * lam)),
    ]  # fmt: skip
    hint = "with z: (B, L), y: (B, P), W: (P, L): grad = (2/P) (z @ W.T - y) @ W"
    return _run("ista_step", student_fn, cases, reference, wrongs, hint=hint)
