"""Lesson 1 (autoencoders): the reconstruction term and the autoencoder's forward pass."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..energy import reconstruction
from ..models import Autoencoder
from ._core import CheckResult, _check_relu_layer, _loaded, _randn, _run

__all__ = ["check_reconstruction", "check_autoencoder_forward"]


def check_reconstruction(student_fn: Callable) -> CheckResult:
    """``student_fn(y, y_hat)``: y, y_hat (B, P) -> scalar ``sum_i (1/P) ||y_i - y_hat_i||^2``."""
    cases = [
        ("random B=5, P=7", (_randn(5, 7, seed=1), _randn(5, 7, seed=2))),
        ("B=1", (_randn(1, 10, seed=3), _randn(1, 10, seed=4))),
        ("y_hat = y (error 0)", (_randn(4, 6, seed=5), _randn(4, 6, seed=5))),
        (
            "float64 B=3, P=4",
            (_randn(3, 4, seed=6, dtype=torch.float64), torch.zeros(3, 4).double()),
        ),
    ]
    wrongs = [
        ("averaged over the batch too: the term is the mean over pixels, SUMMED over the batch "
         "(Method §2)", lambda y, yh: (y - yh).pow(2).mean()),
        ("summed over the pixels: divide by P (a mean over pixels per sample)",
         lambda y, yh: (y - yh).pow(2).sum()),
        ("used the absolute error |y - y_hat|: square it",
         lambda y, yh: (y - yh).abs().sum() / y.shape[1]),
        ("used the norm ||y - y_hat||, not its square",
         lambda y, yh: (y - yh).norm(dim=1).sum() / y.shape[1]),
        ("returned one value per sample (shape (B,)): sum over the batch",
         lambda y, yh: (y - yh).pow(2).mean(dim=1)),
    ]  # fmt: skip
    return _run("reconstruction", student_fn, cases, reconstruction, wrongs)


def _autoencoder(W_e: Tensor, b_e: Tensor, W_d: Tensor) -> Autoencoder:
    model = Autoencoder(W_e.shape[1], W_e.shape[0])
    return _loaded(model, {"encoder.0.weight": W_e, "encoder.0.bias": b_e, "decoder.weight": W_d})


def check_autoencoder_forward(student_fn: Callable) -> CheckResult:
    """``student_fn(y, W_e, b_e, W_d)``: y (B, P), W_e (L, P), b_e (L,), W_d (P, L) -> y_hat (B, P)
    with ``y_hat = W_d relu(W_e y + b_e)`` per sample (sparselab's :class:`~sparselab.models.Autoencoder`)."""

    def args(B, P, L, seed, dtype=torch.float32):
        return (
            _randn(B, P, seed=seed, dtype=dtype),
            _randn(L, P, seed=seed + 1, dtype=dtype),
            _randn(L, seed=seed + 2, dtype=dtype),
            _randn(P, L, seed=seed + 3, dtype=dtype),
        )

    zero_bias = args(4, 6, 5, 20)
    cases = [
        ("random undercomplete B=4, P=9, L=3", args(4, 9, 3, 10)),
        ("overcomplete B=3, P=4, L=8", args(3, 4, 8, 14)),
        ("B=1", args(1, 5, 2, 18)),
        ("zero input (the output is W_d relu(b_e))", (torch.zeros(2, 6), *zero_bias[1:])),
        ("float64", args(3, 5, 4, 22, torch.float64)),
    ]

    diagnostics = {
        "no relu": "forgot the relu on the code",
        "no bias": "forgot the bias b_e",
        "relu on output": "put the relu on the reconstruction instead of on the code",
        "bias after relu": "added the bias after the relu: the code is relu(W_e y + b_e)",
        "hidden": "returned the code z, not the reconstruction W_d z",
    }
    hint = "with y: (B, P), the code is relu(y @ W_e.T + b_e): (B, L) and y_hat = z @ W_d.T"
    return _check_relu_layer(
        "autoencoder_forward", student_fn, cases, _autoencoder, diagnostics, hint=hint
    )
