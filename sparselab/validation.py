"""Argument checks of :func:`~sparselab.solvers.fista` and :func:`~sparselab.solvers.ista`, done
once at the public boundary, each error one line naming the argument."""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor, nn

from .models import LinearDictionary, MLPDecoder
from .stacked import StackedLinearDictionary, StackedMLPDecoder

__all__ = ["validate_inference", "SAFEGUARDS"]

SAFEGUARDS = (None, "backtrack", "restart")


def _check_tensor(name: str, t: Tensor, shape: tuple[int, ...], ref: Tensor) -> None:
    if not isinstance(t, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor; got {type(t).__name__}")
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must be {shape}; got {tuple(t.shape)}")
    if t.dtype != ref.dtype or t.device != ref.device:
        raise ValueError(
            f"{name} is {t.dtype} on {t.device} but y is {ref.dtype} on {ref.device}; "
            f"convert with {name}.to(y)"
        )
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf")


def validate_inference(
    decoder, y, *, lam, beta, T, gamma, z_target, z0, step, max_iter, tol, safeguard, momentum
) -> tuple[int, float | Tensor]:
    """Checks every argument once; returns the code size L and lam (a float, or (K, 1, 1))."""
    if not isinstance(decoder, nn.Module):
        raise ValueError(f"decoder must be a torch.nn.Module; got {type(decoder).__name__}")
    if not isinstance(y, Tensor):
        raise ValueError(f"y must be a torch.Tensor; got {type(y).__name__}")
    L, source = _code_size(decoder, z0)
    K = getattr(decoder, "n_models", None)  # a stacked decoder: y is (K, B, P)
    if K is None and y.ndim != 2:
        raise ValueError(f"y must be (B, P); got {tuple(y.shape)}")
    if K is not None and (y.ndim != 3 or y.shape[0] != K):
        raise ValueError(
            f"y must be (K, B, P) = ({K}, B, P) for this stacked decoder; got {tuple(y.shape)}"
        )
    if not y.is_floating_point():
        raise ValueError(f"y must be floating point; got {y.dtype}")
    if not torch.isfinite(y).all():
        raise ValueError("y contains NaN or inf")
    P = getattr(decoder, "input_dim", None)
    if isinstance(P, int) and y.shape[-1] != P:
        shape = f"(B, {P})" if K is None else f"(K, B, {P})"
        raise ValueError(f"y must be {shape} for this decoder; got {tuple(y.shape)}")
    p = next(decoder.parameters(), None)
    if p is not None and (p.dtype != y.dtype or p.device != y.device):
        raise ValueError(
            f"decoder parameters are {p.dtype} on {p.device} but y is {y.dtype} on {y.device}; "
            "move one with .to()"
        )
    if isinstance(lam, Tensor) and lam.ndim == 0:
        lam = lam.item()
    elif isinstance(lam, Tensor) and K is None:
        raise ValueError(
            f"lam must be a number or a 0-d tensor for a single decoder; got a tensor of shape "
            f"{tuple(lam.shape)}"
        )
    lam_checked = lam
    if K is not None and isinstance(lam, Tensor):  # one lam per stacked model
        _check_tensor("lam", lam, (K, 1, 1), y)
        if bool((lam < 0).any()):
            raise ValueError("lam must be >= 0 for every model")
        lam_checked = 0.0
    if K is not None and step == "auto":
        raise ValueError("step='auto' is not available for a stacked decoder: pass a float step")
    for name, value in (
        ("lam", lam_checked), ("beta", beta), ("T", T), ("gamma", gamma), ("tol", tol)
    ):  # fmt: skip
        if not _is_real(value) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    if step != "auto" and (not _is_real(step) or not math.isfinite(step) or step <= 0):
        raise ValueError(f"step must be a float > 0 or 'auto'; got {step!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1; got {max_iter!r}")
    if safeguard not in SAFEGUARDS or (safeguard == "restart" and not momentum):
        allowed = "None, 'backtrack' or 'restart'" if momentum else "None or 'backtrack' for ista"
        raise ValueError(f"safeguard must be {allowed}; got {safeguard!r}")
    B = y.shape[-2]
    if beta > 0 and B < 2:
        raise ValueError(f"beta > 0 needs a batch of at least 2 samples (a std over y); got B={B}")
    for name, t in (("z0", z0), ("z_target", z_target)):
        if t is not None:
            _check_tensor(name, t, (*y.shape[:-1], L), y)
    if not isinstance(decoder, _KNOWN):  # a module we know nothing about: try it once
        try:
            with torch.no_grad():
                out = decoder(torch.zeros(B, L, dtype=y.dtype, device=y.device))
        except (RuntimeError, ValueError, TypeError, IndexError) as err:
            why = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(
                f"{source} = {L} does not fit the decoder: it fails on (B, L) = {(B, L)} codes "
                f"({why})"
            ) from None
        if tuple(out.shape) != tuple(y.shape):
            raise ValueError(
                f"decoder maps (B, L) = {(B, L)} to {tuple(out.shape)}, but y is {tuple(y.shape)}"
            )
    return L, lam


_KNOWN = (LinearDictionary, MLPDecoder, StackedLinearDictionary, StackedMLPDecoder)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _code_size(decoder: nn.Module, z0) -> tuple[int, str]:
    """The code size L and where it comes from: ``code_dim``, else z0, else the first nn.Linear."""
    L = getattr(decoder, "code_dim", None)
    if L is not None:
        if isinstance(L, bool) or not isinstance(L, numbers.Integral) or L < 1:
            raise ValueError(f"code_dim must be a positive integer; got {L!r}")
        weights = {
            LinearDictionary: "weight", StackedLinearDictionary: "weight",
            MLPDecoder: "fc1.weight", StackedMLPDecoder: "W1",
        }.get(type(decoder))  # fmt: skip
        n = decoder.get_parameter(weights).shape[-1] if weights else L
        if n != L:
            raise ValueError(f"code_dim = {L} does not match the decoder's weights: they take {n}")
        return int(L), "code_dim"
    if isinstance(z0, Tensor) and z0.ndim >= 1:
        return z0.shape[-1], "z0's size L"
    first = next((m for m in decoder.modules() if isinstance(m, nn.Linear)), None)
    if first is None:
        raise ValueError(
            f"the code size of this {type(decoder).__name__} is unknown: pass z0 or set "
            "decoder.code_dim"
        )
    return first.in_features, "the first nn.Linear's in_features"
