"""Lesson 5 (the variance hinge): the hinge and its closed-form gradient."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..energy import variance_hinge, variance_hinge_grad
from ._core import Case, CheckResult, _randn, _run

__all__ = ["check_variance_hinge", "check_hinge_grad"]


def _hinge_cases() -> list[Case]:
    z = _randn(6, 5, seed=120).abs() * 0.4
    dead = z.clone()
    dead[:, 2] = 0.7  # a dead component: constant over the batch, std 0
    wide = _randn(8, 4, seed=121) * 2.0  # every std above T: the hinge is inactive
    mixed = torch.cat([_randn(10, 3, seed=122) * 0.2, _randn(10, 3, seed=123) * 2.0], dim=1)
    return [
        ("random B=6, L=5, beta=10, T=0.5", (z, 10.0, 0.5)),
        ("B=2 (the smallest batch)", (_randn(2, 4, seed=124).abs(), 1.0, 1.0)),
        ("a dead component (std 0)", (dead, 10.0, 0.5)),
        ("stds on both sides of T", (mixed, 2.0, 1.0)),
        ("every std above T (hinge inactive)", (wide, 5.0, 0.5)),
        ("float64", (_randn(7, 6, seed=125, dtype=torch.float64).abs(), 3.0, 0.8)),
    ]


def _std(z: Tensor, ddof: int = 1) -> Tensor:
    return (z - z.mean(dim=0)).pow(2).sum(dim=0).div(z.shape[0] - ddof).sqrt()


def check_variance_hinge(student_fn: Callable) -> CheckResult:
    """``student_fn(z, beta, T)``: z (B, L) -> scalar ``beta * sum_j relu(T - s_j)^2`` with s_j the
    unbiased std of component j over the batch (:func:`sparselab.energy.variance_hinge`)."""
    wrongs = [
        ("used the biased std (divided by B instead of B - 1): use unbiased=True / correction=1",
         lambda z, b, T: b * torch.relu(T - _std(z, ddof=0)).pow(2).sum()),
        ("forgot the relu: components whose std is above T must contribute 0, not (T - s_j)^2",
         lambda z, b, T: b * (T - _std(z)).pow(2).sum()),
        ("forgot the square: beta * sum_j relu(T - s_j)^2",
         lambda z, b, T: b * torch.relu(T - _std(z)).sum()),
        ("used the variance instead of the standard deviation",
         lambda z, b, T: b * torch.relu(T - _std(z).pow(2)).pow(2).sum()),
        ("took the std over the components (dim=1) instead of over the batch (dim=0)",
         lambda z, b, T: b * torch.relu(T - _std(z.T)).pow(2).sum()),
        ("averaged over the components: the hinge is a SUM over j",
         lambda z, b, T: b * torch.relu(T - _std(z)).pow(2).mean()),
        ("forgot beta", lambda z, b, T: torch.relu(T - _std(z)).pow(2).sum()),
        ("returned one value per component (shape (L,)): sum over j",
         lambda z, b, T: b * torch.relu(T - _std(z)).pow(2)),
    ]  # fmt: skip
    return _run("variance_hinge", student_fn, _hinge_cases(), variance_hinge, wrongs)


def _hinge_grad_variant(z, beta, T, *, ddof=1, relu=True, sign=1.0, centred=True, two=2.0):
    B = z.shape[0]
    s = _std(z, ddof)
    gap = torch.relu(T - s) if relu else T - s
    c = z - z.mean(dim=0) if centred else z
    return sign * (-two * beta) * gap * c / ((B - ddof) * s.clamp_min(1e-30))


def check_hinge_grad(student_fn: Callable) -> CheckResult:
    """``student_fn(z, beta, T)``: the closed-form gradient of the variance hinge (Method §2), z
    (B, L) -> (B, L): ``-2 beta relu(T - s_j) (z_ij - mean_j) / ((B - 1) s_j)``, 0 where s_j = 0
    (:func:`sparselab.energy.variance_hinge_grad`)."""

    def nan_at_dead(z, beta, T):
        s = _std(z)
        return -2 * beta * torch.relu(T - s) * (z - z.mean(dim=0)) / ((z.shape[0] - 1) * s)

    wrongs = [
        ("sign error: the gradient is -2 beta relu(T - s_j) (z_ij - mean_j) / ((B - 1) s_j); with "
         "the opposite sign a descent step would shrink the spread instead of growing it",
         lambda z, b, T: _hinge_grad_variant(z, b, T, sign=-1.0)),
        ("used the biased std (B instead of B - 1), in s_j and in the denominator",
         lambda z, b, T: _hinge_grad_variant(z, b, T, ddof=0)),
        ("forgot the relu: components whose std is above T have zero gradient",
         lambda z, b, T: _hinge_grad_variant(z, b, T, relu=False)),
        ("forgot to centre: use z_ij - mean_j, not z_ij",
         lambda z, b, T: _hinge_grad_variant(z, b, T, centred=False)),
        ("forgot the factor 2 (the derivative of the square)",
         lambda z, b, T: _hinge_grad_variant(z, b, T, two=1.0)),
        ("NaN for a dead component (std 0): the gradient is 0 there (e.g. divide by "
         "s.clamp_min(1e-12) -- the centred values are 0 too)", nan_at_dead),
    ]  # fmt: skip
    return _run(
        "hinge_grad", student_fn, _hinge_cases(), variance_hinge_grad, wrongs,
        hint="z: (B, L); the std of each component is over the batch (dim=0)",
    )  # fmt: skip
