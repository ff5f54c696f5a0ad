"""Lesson 10 (reproducing the paper): reading a PSNR curve and comparing points with it."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

from ._core import CheckResult, _as_number, _run

__all__ = ["check_psnr_at", "check_above_curve"]


_CURVE = [(40.0, 24.0), (60.0, 21.0), (80.0, 19.0), (90.0, 16.0)]  # (% zeros, PSNR), sorted


def check_psnr_at(student_fn: Callable) -> CheckResult:
    """``student_fn(curve, zeros_percent)``: the PSNR of a curve of (zeros_percent, psnr) points
    sorted by sparsity, linear between its two nearest points, NaN outside its range
    (:func:`sparselab.runs.results.curve_at`)."""
    from ..runs.results import curve_at

    cases = [
        ("between two points", (_CURVE, 75.0)),
        ("a quarter of the way from a point", (_CURVE, 45.0)),
        ("on a point", (_CURVE, 60.0)),
        ("the first point", (_CURVE, 40.0)),
        ("the last point", (_CURVE, 90.0)),
        ("sparser than every point", (_CURVE, 95.0)),
        ("less sparse than every point", (_CURVE, 30.0)),
    ]

    def segment(curve, z):  # the two points around z, or the end segment nearest to it
        pairs = list(itertools.pairwise(curve))
        return next(
            (pair for pair in pairs if pair[0][0] <= z <= pair[1][0]),
            pairs[-1 if z > curve[-1][0] else 0],
        )

    def line(curve, z, swap=False):
        (z0, p0), (z1, p1) = segment(curve, z)
        w = (z - z0) / (z1 - z0)
        return p0 + (p1 - p0) * ((1 - w) if swap else w)

    wrongs = [
        ("extrapolated beyond the curve: outside its range there is no point to compare with, "
         "return math.nan", line),
        ("held the curve's end value beyond its range (as np.interp does): outside the range "
         "there is no point to compare with, return math.nan",
         lambda c, z: c[0][1] if z < c[0][0] else c[-1][1] if z > c[-1][0] else line(c, z)),
        ("took the nearest point instead of the line between the two points around it",
         lambda c, z: min(c, key=lambda point: abs(point[0] - z))[1]),
        ("took the less sparse of the two points around it instead of the line between them",
         lambda c, z: segment(c, z)[0][1]),
        ("weighted the wrong end: at z0 the answer is p0 and at z1 it is p1",
         lambda c, z: line(c, z, swap=True)),
        ("returned the sparsity, not the PSNR", lambda c, z: z),
    ]  # fmt: skip
    hint = "curve is a list of (zeros_percent, psnr) tuples, sorted by zeros_percent"
    if not callable(student_fn):
        return _run("psnr_at", student_fn, cases, curve_at)

    def call(curve, z):  # None inside the range: not done yet; outside it: a wrong answer
        out = student_fn(curve, z)
        if out is None and not curve[0][0] <= z <= curve[-1][0]:
            raise ValueError("returned None outside the curve's range: return math.nan")
        return out

    return _run("psnr_at", call, cases, curve_at, wrongs, hint=hint)


def check_above_curve(student_fn: Callable) -> CheckResult:
    """``student_fn(points, curve)``: True when every (zeros_percent, psnr) point inside the
    curve's range of sparsity lies above the curve, and at least one does."""
    from ..runs.results import curve_at

    def gaps(points, curve):
        return [p - curve_at(curve, z) for z, p in points]

    def inside(points, curve):  # the gaps of the points within the curve's range
        return [g for g in gaps(points, curve) if not math.isnan(g)]

    def reference(points, curve):
        return float(bool(inside(points, curve)) and min(inside(points, curve)) > 0)

    cases = [
        ("every point above", ([(50.0, 23.0), (85.0, 18.0)], _CURVE)),
        ("one point below", ([(50.0, 23.0), (85.0, 17.0)], _CURVE)),
        ("a point outside the range (its gap is NaN), the others above",
         ([(50.0, 23.0), (95.0, 15.0)], _CURVE)),
        ("a point outside the range first", ([(95.0, 15.0), (50.0, 23.0)], _CURVE)),
        ("a point on the curve: not above", ([(50.0, 23.0), (70.0, 20.0)], _CURVE)),
        ("every point outside the range", ([(95.0, 30.0), (30.0, 30.0)], _CURVE)),
    ]  # fmt: skip
    wrongs = [
        ("counted a point outside the curve's range as not above: its gap is NaN, skip it",
         lambda pts, c: float(all(g > 0 for g in gaps(pts, c)))),
        ("took min() over gaps with a NaN in them: min's answer then depends on the order; drop "
         "the NaN gaps first", lambda pts, c: float(min(gaps(pts, c)) > 0)),
        ("said yes with no point inside the curve's range: then nothing was compared",
         lambda pts, c: float(all(g > 0 for g in inside(pts, c)))),
        ("counted a point on the curve as above: its gap is 0",
         lambda pts, c: float(bool(inside(pts, c)) and min(inside(pts, c)) >= 0)),
    ]  # fmt: skip
    if not callable(student_fn):
        return _run("above_curve", student_fn, cases, reference)
    hint = "points and curve are lists of (zeros_percent, psnr) tuples; use your psnr_at"
    return _run("above_curve", _as_number(student_fn), cases, reference, wrongs, hint=hint)
