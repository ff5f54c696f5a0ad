"""The machinery shared by the lesson checks: run cases, compare, recognise known wrong answers.

Each check calls the student's function on random and edge-case inputs, compares the answer with
sparselab's own implementation and returns a :class:`CheckResult` that says precisely what is
wrong: "not done yet" when the function raises ``NotImplementedError`` or returns ``None``, a wrong
shape or dtype, or a known mistake recognised by computing the classic wrong formulas (threshold
``lam`` instead of ``eta * lam``, biased std, a forgotten relu, ...) and matching them against the
answer. A check never raises on a wrong answer (exercise notebooks must run to the end) unless
:func:`set_strict` is on, as in the generated solution notebooks.

    >>> from sparselab.checks.ista import check_soft_threshold
    >>> check_soft_threshold(lambda u, threshold: torch.relu(u - threshold))
    ✔ soft_threshold: all 6 cases pass
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import Tensor

from ..models import LinearDictionary

PASS, FAIL, NOT_DONE = "pass", "fail", "not done"
M = TypeVar("M", bound=torch.nn.Module)


@dataclass
class CheckResult:
    """Outcome of one check: ``status`` is "pass", "fail" or "not done"; ``message`` says why.

    ``value`` holds what the check computed from the student's code when that is useful later
    (the training history of :func:`~sparselab.checks.l1_collapse.check_collapse`). Truthy only when the check passed.
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


def _loaded(module: M, weights: dict[str, Tensor]) -> M:
    """``module`` in the dtype of the weights, holding them (``{"fc1.weight": W1, ...}``, by
    parameter name) instead of the ones its constructor drew."""
    module = module.to(next(iter(weights.values())).dtype)
    with torch.no_grad():
        for name, value in weights.items():
            module.get_parameter(name).copy_(value)
    return module


def _dictionary(W: Tensor) -> LinearDictionary:
    """A LinearDictionary holding the (P, L) matrix W (its constructor would normalise columns)."""
    return _loaded(LinearDictionary(W.shape[1], W.shape[0]), {"weight": W})


def _check_relu_layer(
    name: str,
    student_fn: Callable,
    cases: Sequence[Case],
    model: Callable[[Tensor, Tensor, Tensor], torch.nn.Module],
    diagnostics: dict[str, str],
    *,
    hint: str,
) -> CheckResult:
    """Check ``student_fn(x, A, b, C)``, x (B, n) -> ``C relu(A x + b)`` per sample, against
    ``model(A, b, C)(x)``: the sparselab module holding those weights (the autoencoder, the MLP
    decoder). ``diagnostics`` says in the lesson's words each classic mistake, in the order they are
    tried: "no relu", "no bias", "relu on output", "bias after relu", "hidden" (relu(A x + b))."""
    formulas = {
        "no relu": lambda x, A, b, C: (x @ A.T + b) @ C.T,
        "no bias": lambda x, A, b, C: torch.relu(x @ A.T) @ C.T,
        "relu on output": lambda x, A, b, C: torch.relu((x @ A.T + b) @ C.T),
        "bias after relu": lambda x, A, b, C: (torch.relu(x @ A.T) + b) @ C.T,
        "hidden": lambda x, A, b, C: torch.relu(x @ A.T + b),
    }

    def reference(x, A, b, C):
        with torch.no_grad():
            return model(A, b, C)(x)

    wrongs = [(message, formulas[mistake]) for mistake, message in diagnostics.items()]
    return _run(name, student_fn, cases, reference, wrongs, hint=hint)


def _ista_grad(z, y, W):
    return 2.0 / y.shape[1] * (z @ W.T - y) @ W


def _as_number(student_fn: Callable) -> Callable:
    """The student's function with a bool answer as 0.0 / 1.0 (the comparisons take numbers)."""

    def call(*args):
        out = student_fn(*args)
        return float(out) if isinstance(out, bool) else out

    return call
