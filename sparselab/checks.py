"""Automatic checks for the lessons in ``lessons/``: one function per exercise.

Each check calls the student's function on random and edge-case inputs, compares the answer with
sparselab's own implementation and returns a :class:`CheckResult` that says precisely what is
wrong: "not done yet" when the function raises ``NotImplementedError`` or returns ``None``, a wrong
shape or dtype, or a known mistake recognised by computing the classic wrong formulas (threshold
``lam`` instead of ``eta * lam``, biased std, a forgotten relu, ...) and matching them against the
answer. A check never raises on a wrong answer (exercise notebooks must run to the end) unless
:func:`set_strict` is on, as in the generated solution notebooks.

    >>> check_soft_threshold(lambda u, threshold: torch.relu(u - threshold))
    ✔ soft_threshold: all 6 cases pass
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .energy import energy as _energy_fn
from .energy import reconstruction, variance_hinge, variance_hinge_grad
from .models import Autoencoder, LinearDictionary, LISTAEncoder, MLPDecoder
from .solvers import fista, ista, lipschitz_constant, soft_threshold

__all__ = [
    "CheckResult",
    "CheckFailed",
    "set_strict",
    "check_reconstruction",
    "check_autoencoder_forward",
    "check_energy",
    "check_collapse",
    "check_soft_threshold",
    "check_lipschitz",
    "check_ista_step",
    "check_fista_momentum",
    "check_fista",
    "check_variance_hinge",
    "check_hinge_grad",
    "check_lista_forward",
    "check_lista_from_dictionary",
    "check_mlp_decoder",
    "check_component_image",
    "check_lcn",
    "check_psnr",
    "check_few_per_class",
    "check_psnr_at",
    "check_above_curve",
]

PASS, FAIL, NOT_DONE = "pass", "fail", "not done"


@dataclass
class CheckResult:
    """Outcome of one check: ``status`` is "pass", "fail" or "not done"; ``message`` says why.

    ``value`` holds what the check computed from the student's code when that is useful later
    (the training history of :func:`check_collapse`). Truthy only when the check passed.
    """

    name: str
    status: str
    message: str
    value: Any = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        symbol = {PASS: "✔", FAIL: "✘", NOT_DONE: "…"}[self.status]
        return f"{symbol} {self.name}: {self.message}"


class CheckFailed(AssertionError):
    """Raised by a check that did not pass while strict mode is on (solution notebooks)."""


_strict = False


def set_strict(strict: bool = True) -> None:
    """Make every check raise :class:`CheckFailed` unless it passes (used by solution notebooks)."""
    global _strict
    _strict = bool(strict)


def _report(result: CheckResult) -> CheckResult:
    if _strict and not result.passed:
        raise CheckFailed(repr(result))
    return result


# --------------------------------------------------------------------------------------------
# The machinery: run cases, compare, recognise known wrong answers
# --------------------------------------------------------------------------------------------

Case = tuple[str, tuple]  # (label, positional arguments)
Wrong = tuple[str, Callable[..., Any]]  # (diagnostic, wrong formula taking the same arguments)


def _clone(x: Any) -> Any:
    if isinstance(x, Tensor):
        return x.detach().clone()
    if isinstance(x, torch.nn.Module):
        import copy

        return copy.deepcopy(x)
    return x


def _as_tensor(x: Any) -> Tensor | None:
    if isinstance(x, Tensor):
        return x.detach()
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return torch.tensor(float(x), dtype=torch.float64)
    return None


def _describe(x: Any) -> str:
    if isinstance(x, Tensor):
        return f"a tensor of shape {tuple(x.shape)}"
    return f"a {type(x).__name__}"


def _mismatch(out: Any, expected: Any, *, check_dtype: bool = True) -> str | None:
    """None when ``out`` equals ``expected`` (tensors or numbers, or tuples of them); else why not."""
    if isinstance(expected, tuple):
        if not isinstance(out, (tuple, list)) or len(out) != len(expected):
            return f"expected a tuple of {len(expected)} values; got {_describe(out)}"
        for k, (o, e) in enumerate(zip(out, expected, strict=True)):
            problem = _mismatch(o, e, check_dtype=check_dtype)
            if problem:
                return f"value {k} of the tuple: {problem}"
        return None
    scalar = not isinstance(expected, Tensor) or expected.ndim == 0
    got = _as_tensor(out)
    if got is None:
        return f"expected {'a number' if scalar else 'a tensor'}; got {_describe(out)}"
    exp = _as_tensor(expected)
    if scalar:
        if got.numel() != 1:
            return f"expected a scalar; got shape {tuple(got.shape)}"
        got = got.reshape(())
    elif tuple(got.shape) != tuple(exp.shape):
        hint = " (transposed?)" if tuple(got.shape) == tuple(exp.shape)[::-1] else ""
        return f"expected shape {tuple(exp.shape)}; got {tuple(got.shape)}{hint}"
    elif check_dtype and got.dtype != exp.dtype:
        return (
            f"expected dtype {exp.dtype} (the dtype of the inputs); got {got.dtype}: create new "
            "tensors with dtype=/like the inputs (torch.zeros_like, x.new_tensor)"
        )
    if not torch.isfinite(got).all() and torch.isfinite(exp).all():
        return "the answer contains NaN or inf where the expected values are finite"
    got, exp = got.to(torch.float64), exp.to(torch.float64)
    tol = 1e-4  # loose enough for float32 round-off, tight enough to separate the wrong formulas
    atol = tol * (1.0 + float(exp.nan_to_num(nan=0.0, posinf=0.0, neginf=0.0).abs().max()))
    if torch.allclose(got, exp, rtol=tol, atol=atol, equal_nan=True):
        return None
    err = (got - exp).abs()
    if exp.ndim == 0:
        return f"expected {float(exp):.6g}; got {float(got):.6g}"
    idx = tuple(int(i) for i in torch.unravel_index(err.argmax(), err.shape))
    return (
        f"wrong values: largest error {float(err.max()):.3g} at index {idx} "
        f"(expected {float(exp[idx]):.6g}, got {float(got[idx]):.6g})"
    )


def _matches(out: Any, wrong: Callable, args: tuple) -> bool:
    """Whether ``out`` equals the known wrong formula ``wrong(*args)``."""
    try:
        return _mismatch(out, wrong(*args), check_dtype=False) is None
    except Exception:  # a wrong formula undefined on this case (e.g. n_iter - 1 < 0)
        return False


def _run(
    name: str,
    student_fn: Callable,
    cases: Sequence[Case],
    reference: Callable,
    wrongs: Sequence[Wrong] = (),
    *,
    hint: str = "",
    check_dtype: bool = True,
) -> CheckResult:
    """Call ``student_fn(*args)`` for every case and compare with ``reference(*args)``."""
    if not callable(student_fn):
        return _report(CheckResult(name, FAIL, f"expected a function; got {_describe(student_fn)}"))
    for label, args in cases:
        given = tuple(_clone(a) for a in args)
        try:
            out = student_fn(*given)
        except NotImplementedError:
            return _report(CheckResult(name, NOT_DONE, "not done yet (NotImplementedError)"))
        except Exception as exc:  # the student's bug: report it, never crash the notebook
            msg = f"raised {type(exc).__name__}: {exc} (case: {label})"
            return _report(CheckResult(name, FAIL, msg + (f". Hint: {hint}" if hint else "")))
        if out is None:
            return _report(CheckResult(name, NOT_DONE, "not done yet (the function returned None)"))
        expected = reference(*args)
        problem = _mismatch(out, expected, check_dtype=check_dtype)
        if problem:
            for diagnostic, wrong in wrongs:
                if _matches(out, wrong, args):
                    return _report(CheckResult(name, FAIL, f"{diagnostic} (case: {label})"))
            return _report(CheckResult(name, FAIL, f"{problem} (case: {label})"))
        for a, g in zip(args, given, strict=True):
            if isinstance(a, Tensor) and not torch.equal(a, g):
                return _report(
                    CheckResult(
                        name, FAIL, f"modified its input in place (case: {label}): work on a copy"
                    )
                )
    return _report(CheckResult(name, PASS, f"all {len(cases)} cases pass"))


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int, dtype=torch.float32) -> Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=dtype)


# --------------------------------------------------------------------------------------------
# Lesson 1: autoencoders
# --------------------------------------------------------------------------------------------


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
    model = Autoencoder(W_e.shape[1], W_e.shape[0]).to(W_e.dtype)
    with torch.no_grad():
        model.encoder[0].weight.copy_(W_e)
        model.encoder[0].bias.copy_(b_e)
        model.decoder.weight.copy_(W_d)
    return model


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

    def reference(y, W_e, b_e, W_d):
        with torch.no_grad():
            return _autoencoder(W_e, b_e, W_d)(y)

    wrongs = [
        ("forgot the relu on the code", lambda y, We, be, Wd: (y @ We.T + be) @ Wd.T),
        ("forgot the bias b_e", lambda y, We, be, Wd: torch.relu(y @ We.T) @ Wd.T),
        ("put the relu on the reconstruction instead of on the code",
         lambda y, We, be, Wd: torch.relu((y @ We.T + be) @ Wd.T)),
        ("added the bias after the relu: the code is relu(W_e y + b_e)",
         lambda y, We, be, Wd: (torch.relu(y @ We.T) + be) @ Wd.T),
        ("returned the code z, not the reconstruction W_d z",
         lambda y, We, be, Wd: torch.relu(y @ We.T + be)),
    ]  # fmt: skip
    hint = "with y: (B, P), the code is relu(y @ W_e.T + b_e): (B, L) and y_hat = z @ W_d.T"
    return _run("autoencoder_forward", student_fn, cases, reference, wrongs, hint=hint)


# --------------------------------------------------------------------------------------------
# Lesson 2: the sparse coding energy and the L1 collapse
# --------------------------------------------------------------------------------------------


def _dictionary(W: Tensor) -> LinearDictionary:
    """A LinearDictionary holding the (P, L) matrix W (its constructor would normalise columns)."""
    decoder = LinearDictionary(W.shape[1], W.shape[0]).to(W.dtype)
    with torch.no_grad():
        decoder.weight.copy_(W)
    return decoder


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


# --------------------------------------------------------------------------------------------
# Lesson 3: ISTA
# --------------------------------------------------------------------------------------------


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


def _ista_grad(z, y, W):
    return 2.0 / y.shape[1] * (z @ W.T - y) @ W


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


# --------------------------------------------------------------------------------------------
# Lesson 4: FISTA
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Lesson 5: the variance hinge
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Lesson 6: LISTA
# --------------------------------------------------------------------------------------------


def _lista_args(B, P, L, seed, n_iter, dtype=torch.float32):
    return (
        _randn(B, P, seed=seed, dtype=dtype),
        _randn(L, P, seed=seed + 1, dtype=dtype) * 0.3,
        _randn(L, seed=seed + 2, dtype=dtype) * 0.3,
        _randn(L, L, seed=seed + 3, dtype=dtype) * 0.3,
        n_iter,
    )


def _lista(y, W_e, b_e, S, n_iter) -> LISTAEncoder:
    enc = LISTAEncoder(W_e.shape[1], W_e.shape[0], n_iter).to(W_e.dtype)
    with torch.no_grad():
        enc.W.weight.copy_(W_e)
        enc.W.bias.copy_(b_e)
        enc.S.weight.copy_(S)
    return enc


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


# --------------------------------------------------------------------------------------------
# Lesson 7: multi-layer decoders
# --------------------------------------------------------------------------------------------


def _mlp(W1: Tensor, b1: Tensor, W2: Tensor) -> MLPDecoder:
    decoder = MLPDecoder(W1.shape[1], W1.shape[0], W2.shape[0]).to(W1.dtype)
    with torch.no_grad():
        decoder.fc1.weight.copy_(W1)
        decoder.fc1.bias.copy_(b1)
        decoder.fc2.weight.copy_(W2)
    return decoder


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

    def reference(z, W1, b1, W2):
        with torch.no_grad():
            return _mlp(W1, b1, W2)(z)

    wrongs = [
        ("forgot the relu", lambda z, W1, b1, W2: (z @ W1.T + b1) @ W2.T),
        ("forgot the bias b1", lambda z, W1, b1, W2: torch.relu(z @ W1.T) @ W2.T),
        ("added the bias after the relu: it is relu(W1 z + b1)",
         lambda z, W1, b1, W2: (torch.relu(z @ W1.T) + b1) @ W2.T),
        ("put the relu on the output: D(z) = W2 relu(W1 z + b1), no relu after W2",
         lambda z, W1, b1, W2: torch.relu((z @ W1.T + b1) @ W2.T)),
        ("returned the hidden layer relu(W1 z + b1), not D(z)",
         lambda z, W1, b1, W2: torch.relu(z @ W1.T + b1)),
    ]  # fmt: skip
    hint = "with z: (B, L): h = relu(z @ W1.T + b1) is (B, H), D(z) = h @ W2.T"
    return _run("mlp_decoder", student_fn, cases, reference, wrongs, hint=hint)


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


# --------------------------------------------------------------------------------------------
# Lesson 8: natural image patches
# --------------------------------------------------------------------------------------------


def _lcn_parts(v: Tensor, window: int, sigma: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The pieces of LCN on their (H - 2r, W - 2r) centre, r = window - 1: the crop v, the local
    mean m, the centred c = v - m and the local std s (:func:`sparselab.patches.lcn`)."""
    from .patches import _blur, gaussian_window

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
    (H - 2r, W - 2r) centre, r = window - 1 (:func:`sparselab.patches.lcn` with ``group=B``)."""
    from .patches import _blur, gaussian_window, lcn

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


# --------------------------------------------------------------------------------------------
# Lesson 9: denoising and few labels
# --------------------------------------------------------------------------------------------


def check_psnr(student_fn: Callable) -> CheckResult:
    """``student_fn(x_hat, x, pixel_scale)``: x_hat, x: (N, P) in input space, pixel_scale a
    number or (N, P) -> (N,) PSNR in dB of each image in pixel space, peak 1
    (:func:`sparselab.metrics.psnr`)."""
    from .metrics import psnr

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


# --------------------------------------------------------------------------------------------
# Lesson 10: reproducing the paper
# --------------------------------------------------------------------------------------------

_CURVE = [(40.0, 24.0), (60.0, 21.0), (80.0, 19.0), (90.0, 16.0)]  # (% zeros, PSNR), sorted


def _as_number(student_fn: Callable) -> Callable:
    """The student's function with a bool answer as 0.0 / 1.0 (the comparisons take numbers)."""

    def call(*args):
        out = student_fn(*args)
        return float(out) if isinstance(out, bool) else out

    return call


def check_psnr_at(student_fn: Callable) -> CheckResult:
    """``student_fn(curve, zeros_percent)``: the PSNR of a curve of (zeros_percent, psnr) points
    sorted by sparsity, linear between its two nearest points, NaN outside its range
    (:func:`sparselab.reproduce.curve_at`)."""
    from .reproduce import curve_at

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
    from .reproduce import curve_at

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
