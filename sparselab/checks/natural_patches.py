"""Lesson 8 (natural image patches): local contrast normalisation."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ._core import CheckResult, _randn, _run

__all__ = ["check_lcn"]


def _lcn_parts(v: Tensor, window: int, sigma: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The pieces of LCN on their (H - 2r, W - 2r) centre, r = window - 1: the crop v, the local
    mean m, the centred c = v - m and the local std s (:func:`sparselab.data.patches.lcn`)."""
    from ..data.patches import _blur, gaussian_window

    g = gaussian_window(window, sigma, dtype=v.dtype)
    h = (window - 1) // 2
    m = _blur(v, g)
    c = v[:, h:-h, h:-h] - m
    s = _blur(c * c, g).clamp_min(0).sqrt()
    inner = (slice(None), slice(h, -h), slice(h, -h))
    return v[:, 2 * h : -2 * h, 2 * h : -2 * h], m[inner], c[inner], s


def check_lcn(student_fn: Callable) -> CheckResult:
    """``student_fn(v, window, sigma)``: local contrast normalisation of crops v: (B, H, W), the
    divisor floored at the mean local std over the whole batch and at 1e-4, on the
    (H - 2r, W - 2r) centre, r = window - 1 (:func:`sparselab.data.patches.lcn` with ``group=B``)."""
    from ..data.patches import _blur, gaussian_window, lcn

    def crops(B, H, W, seed, dtype=torch.float32, flat=0):
        v = _randn(B, H, W, seed=seed, dtype=dtype).cumsum(dim=2) / 3  # smooth, like images
        v[:flat] = 0.3 + 0.01 * v[:flat]  # nearly flat crops: sky, a wall
        return v

    cases = [
        ("B=4, 14x14, window 5", (crops(4, 14, 14, 200), 5, 2.0)),
        ("a nearly flat crop among textured ones", (crops(3, 14, 14, 201, flat=1), 5, 2.0)),
        ("window 3, 11x13 crops", (crops(2, 11, 13, 202), 3, 1.0)),
        ("float64", (crops(3, 12, 12, 203, torch.float64), 5, 3.0)),
        ("every crop uniform, v = 0 (no contrast anywhere)", (torch.zeros(2, 10, 10), 3, 1.0)),
    ]

    def reference(v, window, sigma):
        return lcn(v, window=window, sigma=sigma, group=len(v)).x

    def divided(v, window, sigma, divisor):
        crop, m, c, s = _lcn_parts(v, window, sigma)
        return c / divisor(s).clamp_min(1e-4)

    def std_of_v(v, window, sigma):  # sqrt(w * v^2): the mean left in
        h = (window - 1) // 2
        g = gaussian_window(window, sigma, dtype=v.dtype)
        s = _blur(v[:, h:-h, h:-h] ** 2, g).sqrt()
        return _lcn_parts(v, window, sigma)[2] / torch.maximum(s, s.mean()).clamp_min(1e-4)

    wrongs = [
        ("floored each crop's contrast at its own mean: the floor is the mean local std over the "
         "whole batch, so that a flat crop stays flat instead of being lifted to unit contrast",
         lambda v, w, sg: lcn(v, window=w, sigma=sg, group=1).x),
        ("divided by the local std alone: floor it at its mean over the batch, max(s, s.mean())",
         lambda v, w, sg: divided(v, w, sg, lambda s: s)),
        ("took the smaller of s and the floor: the divisor is max(s, floor)",
         lambda v, w, sg: divided(v, w, sg, lambda s: torch.minimum(s, s.mean()))),
        ("divided by the local variance: s is the square root of w * c^2",
         lambda v, w, sg: divided(v, w, sg, lambda s: torch.maximum(s, s.mean()) ** 2)),
        ("took the local std of v instead of the centred c = v - m", std_of_v),
        ("forgot to subtract the local mean: x = (v - m) / d",
         lambda v, w, sg: (lambda crop, m, c, s: crop / torch.maximum(s, s.mean()).clamp_min(1e-4))(
             *_lcn_parts(v, w, sg))),
        ("divided 0 by 0 in a batch with no contrast at all: floor the divisor at 1e-4 too",
         lambda v, w, sg: (lambda crop, m, c, s: c / torch.maximum(s, s.mean()))(
             *_lcn_parts(v, w, sg))),
    ]  # fmt: skip
    hint = (
        "with r = window - 1 and h = r // 2: m = blur(v) is (B, H - r, W - r), so c = v[:, h:-h, "
        "h:-h] - m; s = sqrt(blur(c * c)) is (B, H - 2r, W - 2r), so divide c[:, h:-h, h:-h]"
    )
    return _run("lcn", student_fn, cases, reference, wrongs, hint=hint)
