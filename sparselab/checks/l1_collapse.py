"""Lesson 2 (the sparse coding energy and the L1 collapse): the energy and the collapse experiment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..energy import energy as _energy_fn
from ._core import FAIL, NOT_DONE, PASS, CheckResult, _describe, _dictionary, _randn, _report, _run

__all__ = ["check_energy", "check_collapse"]


def check_energy(student_fn: Callable) -> CheckResult:
    """``student_fn(y, z, W, lam)``: y (B, P), z (B, L), W (P, L) -> scalar
    ``sum_i (1/P) ||y_i - W z_i||^2 + lam ||z_i||_1`` (:func:`sparselab.energy.energy`)."""

    def args(B, P, L, seed, lam, dtype=torch.float32, signed=False):
        z = _randn(B, L, seed=seed + 1, dtype=dtype)
        return (
            _randn(B, P, seed=seed, dtype=dtype),
            z if signed else z.abs(),
            _randn(P, L, seed=seed + 2, dtype=dtype),
            lam,
        )

    cases = [
        ("random B=4, P=9, L=5, lam=0.3", args(4, 9, 5, 30, 0.3)),
        ("lam=0 (reconstruction only)", args(3, 6, 4, 33, 0.0)),
        ("signed codes (|z| in the L1 term)", args(5, 7, 3, 36, 0.5, signed=True)),
        ("z = 0 (energy = sum_i ||y_i||^2 / P)", (*args(2, 6, 4, 39, 1.0)[:1], torch.zeros(2, 4),
                                                  args(2, 6, 4, 39, 1.0)[2], 1.0)),
        ("float64 B=1", args(1, 8, 6, 42, 0.2, torch.float64)),
    ]  # fmt: skip

    def reference(y, z, W, lam):
        with torch.no_grad():
            return _energy_fn(y, z, _dictionary(W), lam=lam)

    def rec(y, z, W):
        return (y - z @ W.T).pow(2)

    wrongs = [
        ("averaged the reconstruction over the batch: it is summed over the batch and averaged "
         "over pixels (Method §2)", lambda y, z, W, lam: rec(y, z, W).mean() + lam * z.abs().sum()),
        ("averaged both terms over the batch: the energy is a SUM over the batch",
         lambda y, z, W, lam: (rec(y, z, W).sum() / y.shape[1] + lam * z.abs().sum()) / y.shape[0]),
        ("summed the reconstruction over pixels: divide by P",
         lambda y, z, W, lam: rec(y, z, W).sum() + lam * z.abs().sum()),
        ("forgot lam in front of the L1 term",
         lambda y, z, W, lam: rec(y, z, W).sum() / y.shape[1] + z.abs().sum()),
        ("forgot the L1 term lam * sum |z|", lambda y, z, W, lam: rec(y, z, W).sum() / y.shape[1]),
        ("forgot the absolute value in the L1 norm (codes can be negative here)",
         lambda y, z, W, lam: rec(y, z, W).sum() / y.shape[1] + lam * z.sum()),
        ("used the squared L2 norm of z instead of its L1 norm",
         lambda y, z, W, lam: rec(y, z, W).sum() / y.shape[1] + lam * z.pow(2).sum()),
    ]  # fmt: skip
    hint = "with z: (B, L) and W: (P, L), the reconstruction of the batch is z @ W.T: (B, P)"
    return _run("energy", student_fn, cases, reference, wrongs, hint=hint)


def check_collapse(history_or_fn: Any, *args: Any, **kwargs: Any) -> CheckResult:
    """Check the L1 collapse experiment (Method §4): with lam > 0 and an unconstrained decoder the
    codes shrink while the dictionary grows.

    ``history_or_fn``: a dict with lists ``"code_l1"`` (mean L1 norm of the codes, one value per
    epoch) and ``"column_norm"`` (mean L2 norm of the decoder's columns per epoch), or a function
    returning one, called here with ``*args, **kwargs``. The history is in ``result.value``.
    """
    name = "collapse"
    history = history_or_fn
    if callable(history_or_fn):
        try:
            history = history_or_fn(*args, **kwargs)
        except NotImplementedError:
            return _report(CheckResult(name, NOT_DONE, "not done yet (NotImplementedError)"))
        except Exception as exc:
            return _report(CheckResult(name, FAIL, f"raised {type(exc).__name__}: {exc}"))
    if history is None:
        return _report(CheckResult(name, NOT_DONE, "not done yet (no history)"))

    def fail(message: str) -> CheckResult:
        return _report(CheckResult(name, FAIL, message, value=history))

    if not isinstance(history, dict):
        return fail(
            f"expected a dict with keys 'code_l1' and 'column_norm'; got {_describe(history)}"
        )
    missing = [k for k in ("code_l1", "column_norm") if k not in history]
    if missing:
        return fail(f"the history lacks {missing}; it has {sorted(history)}")
    try:
        l1 = torch.as_tensor([float(v) for v in history["code_l1"]], dtype=torch.float64)
        norms = torch.as_tensor([float(v) for v in history["column_norm"]], dtype=torch.float64)
    except (TypeError, ValueError) as exc:
        return fail(f"the history must hold one number per epoch ({exc}); use float(tensor)")
    if len(l1) != len(norms):
        return fail(f"'code_l1' has {len(l1)} values but 'column_norm' has {len(norms)}")
    if len(l1) < 3:
        return fail(f"record at least 3 epochs to see a trend; got {len(l1)}")
    if not (torch.isfinite(l1).all() and torch.isfinite(norms).all()):
        return fail("the history contains NaN or inf: training diverged (lower the learning rate)")
    if (l1 < 0).any() or (norms < 0).any():
        return fail("norms cannot be negative: record z.abs().sum(dim=1).mean() and W.norm(dim=0)")
    if torch.allclose(norms, torch.ones_like(norms), atol=1e-3):
        return fail(
            "the column norms stay at 1: you normalised the columns (that is SDL, which prevents "
            "the collapse); leave the decoder unconstrained"
        )
    if float(l1[-1]) == 0.0 and float(l1[0]) == 0.0:
        return fail(
            "the codes are all zero from the start: lam is too large or inference never ran"
        )
    if not float(norms[-1]) > 1.2 * float(norms[0]):
        return fail(
            f"the column norms did not grow ({float(norms[0]):.3g} -> {float(norms[-1]):.3g}): is "
            "lam > 0 in inference, and does the decoder step minimise the reconstruction loss with "
            "the codes held fixed?"
        )
    # the codes first grow while the dictionary learns the digits, then shrink: compare with the peak
    peak = float(l1.max())
    if not float(l1[-1]) < 0.8 * peak:
        return fail(
            f"the code L1 norms did not shrink (peak {peak:.3g}, last {float(l1[-1]):.3g}): infer "
            "fresh codes with the current decoder at every batch, and train for more epochs"
        )
    ratio = float(l1[-1]) / peak
    return _report(
        CheckResult(
            name,
            PASS,
            f"code L1 x{ratio:.2f} from its peak and column norms x{float(norms[-1] / norms[0]):.2f} over "
            f"{len(l1)} epochs: the collapse",
            value=history,
        )
    )
