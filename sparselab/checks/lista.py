"""Lesson 6 (LISTA): the LISTA forward pass and its weights from a dictionary."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..models import LISTAEncoder
from ._core import CheckResult, _loaded, _randn, _run

__all__ = ["check_lista_forward", "check_lista_from_dictionary"]


def _lista_args(B, P, L, seed, n_iter, dtype=torch.float32):
    return (
        _randn(B, P, seed=seed, dtype=dtype),
        _randn(L, P, seed=seed + 1, dtype=dtype) * 0.3,
        _randn(L, seed=seed + 2, dtype=dtype) * 0.3,
        _randn(L, L, seed=seed + 3, dtype=dtype) * 0.3,
        n_iter,
    )


def _lista(y, W_e, b_e, S, n_iter) -> LISTAEncoder:
    enc = LISTAEncoder(W_e.shape[1], W_e.shape[0], n_iter)
    return _loaded(enc, {"W.weight": W_e, "W.bias": b_e, "S.weight": S})


def _lista_variant(y, W_e, b_e, S, n_iter, *, bias_in_loop=True, relu0=True, relu=True, ST=False):
    b = y @ W_e.T + b_e
    z = torch.relu(b) if relu0 else b
    Sm = S if ST else S.T
    for _ in range(n_iter):
        u = (b if bias_in_loop else y @ W_e.T) + z @ Sm
        z = torch.relu(u) if relu else u
    return z


def check_lista_forward(student_fn: Callable) -> CheckResult:
    """``student_fn(y, W_e, b_e, S, n_iter)``: the LISTA forward pass of Method §4, y (B, P),
    W_e (L, P), b_e (L,), S (L, L) -> z (B, L): ``b = W_e y + b_e; z_0 = relu(b);
    z_{t+1} = relu(b + S z_t)`` for t = 0 .. n_iter - 1 (:class:`sparselab.models.LISTAEncoder`)."""
    cases = [
        ("B=4, P=10, L=6, 3 iterations", _lista_args(4, 10, 6, 130, 3)),
        ("0 iterations (z = relu(W_e y + b_e))", _lista_args(3, 8, 5, 134, 0)),
        ("1 iteration", _lista_args(3, 8, 5, 138, 1)),
        ("B=1, 5 iterations", _lista_args(1, 7, 4, 142, 5)),
        ("float64, 3 iterations", _lista_args(5, 9, 7, 146, 3, torch.float64)),
    ]

    def reference(y, W_e, b_e, S, n_iter):
        with torch.no_grad():
            return _lista(y, W_e, b_e, S, n_iter)(y)

    def ref_n(n):
        return lambda y, We, be, S, k: reference(y, We, be, S, max(k + n, 0))

    wrongs = [
        ("one iteration too many: n_iter updates after z_0 = relu(b)", ref_n(1)),
        ("one iteration too few: n_iter updates after z_0 = relu(b)", ref_n(-1)),
        ("missing bias in the loop: z_{t+1} = relu(W_e y + b_e + S z_t) keeps b_e",
         lambda *a: _lista_variant(*a, bias_in_loop=False)),
        ("forgot the relu in the loop", lambda *a: _lista_variant(*a, relu=False)),
        ("forgot the relu on z_0 = relu(W_e y + b_e)", lambda *a: _lista_variant(*a, relu0=False)),
        ("multiplied by S^T: with z (B, L) rows, S z_t is z @ S.T",
         lambda *a: _lista_variant(*a, ST=True)),
    ]  # fmt: skip
    hint = "with y: (B, P): b = y @ W_e.T + b_e is (B, L) and S z_t is z @ S.T"
    return _run("lista_forward", student_fn, cases, reference, wrongs, hint=hint)


def check_lista_from_dictionary(student_fn: Callable) -> CheckResult:
    """``student_fn(W, lam, eta)``: LISTA weights that make its forward pass run ISTA from z = 0
    (Gregor & LeCun 2010), W (P, L) -> ``(W_e, b_e, S)`` = ``((2 eta / P) W^T, -eta lam 1_L,
    I - (2 eta / P) W^T W)`` (:meth:`sparselab.models.LISTAEncoder.from_dictionary`)."""
    cases = [
        ("P=12, L=5, lam=0.1, eta=0.5", (_randn(12, 5, seed=150), 0.1, 0.5)),
        ("lam=0", (_randn(8, 8, seed=151), 0.0, 1.0)),
        ("float64", (_randn(10, 6, seed=152, dtype=torch.float64), 0.05, 2.0)),
    ]

    def reference(W, lam, eta):
        enc = LISTAEncoder.from_dictionary(W, lam=lam, step=eta)
        return (enc.W.weight.detach(), enc.W.bias.detach(), enc.S.weight.detach())

    def variant(W, lam, eta, *, scale=2.0, bias_sign=-1.0, eye=True, bias=None):
        P, L = W.shape
        G = scale * eta / P * W.T @ W
        b = torch.full((L,), bias_sign * eta * lam if bias is None else bias, dtype=W.dtype)
        return (scale * eta / P * W.T, b, (torch.eye(L, dtype=W.dtype) - G) if eye else -G)

    wrongs = [
        ("forgot the factor 2 (the gradient of (1/P)||y - Wz||^2 is (2/P) W^T (Wz - y))",
         lambda W, lam, eta: variant(W, lam, eta, scale=1.0)),
        ("sign error in the bias: b_e = -eta lam (the threshold is subtracted)",
         lambda W, lam, eta: variant(W, lam, eta, bias_sign=1.0)),
        ("bias -lam: the threshold of one ISTA step is eta * lam",
         lambda W, lam, eta: variant(W, lam, eta, bias=-lam)),
        ("forgot the identity: S = I - (2 eta / P) W^T W",
         lambda W, lam, eta: variant(W, lam, eta, eye=False)),
        ("forgot the factor 1/P", lambda W, lam, eta: variant(W, lam, eta, scale=2.0 * W.shape[0])),
    ]  # fmt: skip
    return _run("lista_from_dictionary", student_fn, cases, reference, wrongs)
