"""Lesson 4 (FISTA): the momentum update and the whole FISTA loop."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..solvers import fista, ista, lipschitz_constant, soft_threshold
from ._core import CheckResult, _dictionary, _ista_grad, _randn, _run

__all__ = ["check_fista_momentum", "check_fista"]


def _t_next(t: float) -> float:
    return (1 + math.sqrt(1 + 4 * t * t)) / 2


def check_fista_momentum(student_fn: Callable) -> CheckResult:
    """``student_fn(x, x_prev, t)``: FISTA's momentum (Method §3) -> ``(v, t_next)`` with
    ``t_next = (1 + sqrt(1 + 4 t^2)) / 2`` and ``v = x + ((t - 1) / t_next) (x - x_prev)``."""

    def args(seed, t, dtype=torch.float32):
        return (
            _randn(3, 4, seed=seed, dtype=dtype).abs(),
            _randn(3, 4, seed=seed + 1, dtype=dtype).abs(),
            t,
        )

    x_same = _randn(2, 3, seed=94).abs()
    cases = [
        ("t = 2.5", args(90, 2.5)),
        ("t = 7.0 (late iterations)", args(92, 7.0)),
        ("t = 1 (first step: no momentum yet)", args(95, 1.0)),
        ("x = x_prev (v = x)", (x_same, x_same.clone(), 3.0)),
        ("float64, t = 4.0", args(97, 4.0, torch.float64)),
    ]  # fmt: skip

    def reference(x, x_prev, t):
        tn = _t_next(t)
        return (x + ((t - 1) / tn) * (x - x_prev), tn)

    def v(x, x_prev, coef):
        return x + coef * (x - x_prev)

    wrongs = [
        ("used t_k instead of t_{k+1} in the momentum coefficient: (t_k - 1) / t_{k+1}",
         lambda x, xp, t: (v(x, xp, (t - 1) / t), _t_next(t))),
        ("used (t_{k+1} - 1) / t_{k+1}: the coefficient is (t_k - 1) / t_{k+1}",
         lambda x, xp, t: (v(x, xp, (_t_next(t) - 1) / _t_next(t)), _t_next(t))),
        ("forgot the momentum: v = x is ISTA", lambda x, xp, t: (x, _t_next(t))),
        ("sign error in the momentum: extrapolate along x - x_prev, not x_prev - x",
         lambda x, xp, t: (v(x, xp, -(t - 1) / _t_next(t)), _t_next(t))),
        ("the extrapolation starts from x_prev: v = x + coef (x - x_prev), not x_prev + ...",
         lambda x, xp, t: (xp + ((t - 1) / _t_next(t)) * (x - xp), _t_next(t))),
        ("wrong t update: t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2 (did you forget the square?)",
         lambda x, xp, t: (v(x, xp, (t - 1) / ((1 + math.sqrt(1 + 4 * t)) / 2)),
                           (1 + math.sqrt(1 + 4 * t)) / 2)),
        ("wrong t update: forgot the division by 2 in t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2",
         lambda x, xp, t: (v(x, xp, (t - 1) / (1 + math.sqrt(1 + 4 * t * t))),
                           1 + math.sqrt(1 + 4 * t * t))),
        ("returned (t_next, v): return (v, t_next)", lambda x, xp, t: reference(x, xp, t)[::-1]),
    ]  # fmt: skip
    return _run("fista_momentum", student_fn, cases, reference, wrongs)


def _fista_variant(y, W, lam, eta, n_iter, *, coef):
    """A (possibly wrong) FISTA loop from z = 0; ``coef(t, t_next)`` is the momentum coefficient."""
    x = torch.zeros(y.shape[0], W.shape[1], dtype=y.dtype)
    x_prev, v, t = x, x, 1.0
    for _ in range(n_iter):
        x = soft_threshold(v - eta * _ista_grad(v, y, W), eta * lam)
        t_next = _t_next(t)
        v = x + coef(t, t_next) * (x - x_prev)
        x_prev, t = x, t_next
    return x


def check_fista(student_fn: Callable) -> CheckResult:
    """``student_fn(y, W, lam, eta, n_iter)``: ``n_iter`` FISTA steps from z = 0 with a fixed step
    size eta and non-negative codes; y (B, P), W (P, L) -> z (B, L). Compared with
    :func:`sparselab.solvers.fista` (``tol=0``)."""

    def args(B, P, L, seed, lam, n_iter, dtype=torch.float32):
        W = _randn(P, L, seed=seed + 1, dtype=dtype)
        W = W / W.norm(dim=0)
        eta = 1.0 / lipschitz_constant(_dictionary(W))
        return (_randn(B, P, seed=seed, dtype=dtype), W, lam, eta, n_iter)

    cases = [
        ("B=4, P=16, L=8, 10 steps", args(4, 16, 8, 100, 0.05, 10)),
        ("1 step (no momentum yet)", args(3, 12, 6, 103, 0.05, 1)),
        ("2 steps (the first momentum)", args(3, 12, 6, 106, 0.02, 2)),
        ("lam large: all codes 0", args(2, 10, 5, 109, 100.0, 5)),
        ("float64, 25 steps", args(5, 20, 10, 112, 0.01, 25, torch.float64)),
    ]

    def reference(y, W, lam, eta, n_iter):
        return fista(_dictionary(W), y, lam=lam, step=eta, max_iter=n_iter, tol=0).z

    def sl(y, W, lam, eta, n_iter, solver=fista):
        return solver(_dictionary(W), y, lam=lam, step=eta, max_iter=max(n_iter, 1), tol=0).z

    wrongs = [
        ("no momentum: this is ISTA (v_{k+1} = x_k + ((t_k - 1)/t_{k+1}) (x_k - x_{k-1}))",
         lambda y, W, lam, eta, n: sl(y, W, lam, eta, n, ista)),
        ("ran one step too many (n_iter + 1)", lambda y, W, lam, eta, n: sl(y, W, lam, eta, n + 1)),
        ("ran one step too few (n_iter - 1)", lambda y, W, lam, eta, n: sl(y, W, lam, eta, n - 1)
         if n > 1 else torch.zeros(y.shape[0], W.shape[1], dtype=y.dtype)),
        ("used t_k instead of t_{k+1} in the momentum coefficient",
         lambda y, W, lam, eta, n: _fista_variant(y, W, lam, eta, n, coef=lambda t, tn: (t - 1) / t)),
        ("used (t_{k+1} - 1)/t_{k+1}: the coefficient is (t_k - 1)/t_{k+1}",
         lambda y, W, lam, eta, n: _fista_variant(y, W, lam, eta, n,
                                                  coef=lambda t, tn: (tn - 1) / tn)),
        ("wrong threshold: used lam instead of eta * lam",
         lambda y, W, lam, eta, n: _fista_variant(y, W, lam * 1.0 / eta, eta, n,
                                                  coef=lambda t, tn: (t - 1) / tn)),
    ]  # fmt: skip
    hint = "start from z = torch.zeros(B, L, dtype=y.dtype); grad = (2/P) (z @ W.T - y) @ W"
    return _run("fista", student_fn, cases, reference, wrongs, hint=hint)
