"""Lesson 7 (multi-layer decoders): the MLP decoder and the image of one code component."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..models import LinearDictionary, MLPDecoder
from ._core import CheckResult, _check_relu_layer, _gen, _loaded, _randn, _run

__all__ = ["check_mlp_decoder", "check_component_image"]


def _mlp(W1: Tensor, b1: Tensor, W2: Tensor) -> MLPDecoder:
    decoder = MLPDecoder(W1.shape[1], W1.shape[0], W2.shape[0])
    return _loaded(decoder, {"fc1.weight": W1, "fc1.bias": b1, "fc2.weight": W2})


def check_mlp_decoder(student_fn: Callable) -> CheckResult:
    """``student_fn(z, W1, b1, W2)``: z (B, L), W1 (H, L), b1 (H,), W2 (P, H) -> (B, P),
    ``D(z) = W2 relu(W1 z + b1)`` per sample (:class:`sparselab.models.MLPDecoder`)."""

    def args(B, L, H, P, seed, dtype=torch.float32):
        return (
            _randn(B, L, seed=seed, dtype=dtype).abs(),
            _randn(H, L, seed=seed + 1, dtype=dtype),
            _randn(H, seed=seed + 2, dtype=dtype),
            _randn(P, H, seed=seed + 3, dtype=dtype),
        )

    zero = args(3, 4, 6, 5, 170)
    cases = [
        ("B=4, L=5, H=8, P=9", args(4, 5, 8, 9, 160)),
        ("z = 0 (D(0) = W2 relu(b1))", (torch.zeros(3, 4), *zero[1:])),
        ("B=1", args(1, 3, 7, 4, 165)),
        ("float64", args(3, 6, 5, 8, 175, torch.float64)),
    ]

    diagnostics = {
        "no relu": "forgot the relu",
        "no bias": "forgot the bias b1",
        "bias after relu": "added the bias after the relu: it is relu(W1 z + b1)",
        "relu on output": "put the relu on the output: D(z) = W2 relu(W1 z + b1), no relu after W2",
        "hidden": "returned the hidden layer relu(W1 z + b1), not D(z)",
    }
    hint = "with z: (B, L): h = relu(z @ W1.T + b1) is (B, H), D(z) = h @ W2.T"
    return _check_relu_layer("mlp_decoder", student_fn, cases, _mlp, diagnostics, hint=hint)


def check_component_image(student_fn: Callable) -> CheckResult:
    """``student_fn(decoder, j, amplitude)``: the image of code component j through a decoder
    (B, L) -> (B, P), minus the image of the zero code: ``D(a e_j) - D(0)``, shape (P,)."""

    def mlp(seed, L=6, H=10, P=12, dtype=torch.float32):
        return MLPDecoder(L, H, P, generator=_gen(seed)).to(dtype)

    cases = [
        ("MLP decoder, j=2, amplitude 1", (mlp(180), 2, 1.0)),
        ("MLP decoder, j=0, amplitude 3", (mlp(181), 0, 3.0)),
        ("last component, amplitude 0.5", (mlp(182), 5, 0.5)),
        ("linear decoder (the column a W[:, j])", (LinearDictionary(6, 12, generator=_gen(183)), 4, 2.0)),
        ("float64", (mlp(184, dtype=torch.float64), 1, 1.5)),
    ]  # fmt: skip

    def image(decoder, j, a, *, subtract=True, amplitude=True):
        L = decoder.code_dim
        p = next(decoder.parameters())
        z = torch.zeros(2, L, dtype=p.dtype)
        z[0, j] = a if amplitude else 1.0
        with torch.no_grad():
            out = decoder(z)
        return out[0] - out[1] if subtract else out[0]

    def column(decoder, j, a):
        W = decoder.weight if isinstance(decoder, LinearDictionary) else decoder.fc2.weight
        return a * W.detach()[:, j]

    wrongs = [
        ("forgot to subtract the image of the zero code D(0) (the bias b1 alone draws an image)",
         lambda d, j, a: image(d, j, a, subtract=False)),
        ("ignored the amplitude: the code is amplitude * e_j",
         lambda d, j, a: image(d, j, a, amplitude=False)),
        ("returned a column of the weight matrix: pass the code through the whole decoder", column),
        ("used component j + 1 (indices start at 0)",
         lambda d, j, a: image(d, (j + 1) % d.code_dim, a)),
        ("returned shape (1, P): return the image as a (P,) vector",
         lambda d, j, a: image(d, j, a)[None]),
    ]  # fmt: skip
    return _run(
        "component_image", student_fn, cases, image, wrongs, hint="decoder maps (B, L) -> (B, P)"
    )
