r"""Sparse inference: ISTA and FISTA on the energy of Method §2.

.. math::

    \min_{Z \ge 0}\; \underbrace{\sum_i \tfrac{1}{P}\|y_i - D(z_i)\|^2
        + \tfrac{\gamma}{L}\|z_i - e_i\|^2 + \beta \sum_j \mathrm{relu}(T - s_j(Z))^2}_{f(Z)\ \text{smooth}}
        + \lambda \sum_i \|z_i\|_1

ISTA: ``z <- prox(z - eta grad f(z))`` with ``prox(u) = relu(u - eta lam)``.
FISTA (Beck & Teboulle 2009): ``x_k = prox(v_k - eta grad f(v_k))``,
``t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2``, ``v_{k+1} = x_k + ((t_k - 1) / t_{k+1}) (x_k - x_{k-1})``.

A :class:`~sparselab.models.LinearDictionary` takes the fast path: ``grad`` of the reconstruction is
``(2/P)(z W^T W - y W)`` with ``W^T W`` and ``y W`` computed once per batch. Any other module mapping
(B, L) -> (B, P) gets its gradient from autograd, with respect to the codes only. With a
tolerance, a sample that has converged keeps its code; an :class:`~sparselab.models.MLPDecoder`
then computes its steps for the rows still iterating only, which is most of the saving when a
batch's slowest sample runs ten times as long as its typical one.

K independent problems solve in one call with a stacked decoder (:mod:`sparselab.stacked`):
y: (K, B, P), codes (K, B, L), ``lam`` a float or a (K, 1, 1) tensor, a float ``step``; the hinge
takes each model's std over its own batch, and ``energy`` is then (K,), one per model.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .energy import code_std, energy
from .gradients import gradient_step as _gradient_step
from .gradients import put_rows as _put
from .models import LinearDictionary, MLPDecoder
from .stacked import StackedMLPDecoder

__all__ = ["InferenceResult", "fista", "ista", "soft_threshold", "lipschitz_constant"]

# A sample counts as converged when the norm of its change is below tol times the norm of its
# previous code, or when it did not change at all (0/0 included: an all-zero code that stays zero).
_CHECK_EVERY = 8  # how often the loop asks a GPU whether every sample has converged
# A multi-layer decoder costs real arithmetic per sample and step, while most samples converge long
# before the slowest of their batch: once fewer than this fraction are still iterating, the step is
# computed for those rows only (the others keep their codes either way). A CPU's products cost in
# proportion to their rows and gathering rows is cheap, so it drops every converged row; a GPU's
# small products cost much the same for fewer rows (BENCHMARKS.md, "row compaction").
_COMPACT_BELOW = {"cpu": 1.0, "cuda": 0.5}


@dataclass
class InferenceResult:
    """What :func:`fista` and :func:`ista` return.

    z: (B, L) codes; n_iter: (B,) steps each sample ran before it converged (or max_iter);
    energy: scalar tensor, F(Z) at the returned codes; converged: (B,) bool;
    history: (n_steps,) energy after each step when ``track_energy=True``, else None.
    """

    z: Tensor
    n_iter: Tensor
    energy: Tensor
    converged: Tensor
    step: float
    history: Tensor | None = None


def soft_threshold(u: Tensor, threshold: float, positive: bool = True) -> Tensor:
    """Proximal map of ``threshold * ||.||_1`` (restricted to u >= 0 when ``positive``)."""
    if positive:
        return torch.relu(u - threshold)
    return torch.sign(u) * torch.relu(u.abs() - threshold)


def _largest_sv2(W: Tensor) -> Tensor:
    """Largest singular value of W: (m, n), squared: the top eigenvalue of the smaller Gram matrix
    (exact, and cheaper than power iteration for the sizes here: at most 2048 x 2048 once)."""
    G = W.T @ W if W.shape[0] >= W.shape[1] else W @ W.T
    return torch.linalg.eigvalsh(G)[-1]


@torch.no_grad()
def lipschitz_constant(decoder: nn.Module, *, gamma: float = 0.0) -> float:
    """Lipschitz constant of the gradient of the per-sample smooth energy (without the hinge).

    Linear: ``(2/P) ||W||_2^2 + 2 gamma / L``. MLPDecoder: the bound ``(2/P) ||W2||^2 ||W1||^2``
    (ReLU is 1-Lipschitz). Other modules: pass a float ``step`` instead.
    """
    if isinstance(decoder, LinearDictionary):
        rec = 2.0 / decoder.input_dim * _largest_sv2(decoder.weight)
    elif isinstance(decoder, MLPDecoder):
        rec = (
            2.0
            / decoder.input_dim
            * _largest_sv2(decoder.fc1.weight)
            * _largest_sv2(decoder.fc2.weight)
        )
    else:
        raise ValueError(
            f"step='auto' needs a LinearDictionary or an MLPDecoder; got {type(decoder).__name__}: "
            "pass a float step"
        )
    return float(rec) + 2.0 * gamma / decoder.code_dim


def _converged(x: Tensor, x_prev: Tensor, tol: float) -> Tensor:
    diff, prev = (x - x_prev).norm(dim=-1), x_prev.norm(dim=-1)
    return (diff < tol * prev) | (diff == 0)


def _solve(
    decoder,
    y,
    *,
    lam,
    beta,
    T,
    gamma,
    z_target,
    z0,
    step,
    max_iter,
    tol,
    positive,
    momentum: bool,
    track_energy: bool,
) -> InferenceResult:
    _validate(
        decoder,
        y,
        lam=lam,
        beta=beta,
        T=T,
        gamma=gamma,
        z_target=z_target,
        z0=z0,
        step=step,
        max_iter=max_iter,
        tol=tol,
    )
    batch, L = y.shape[:-1], decoder.code_dim  # (B,), or (K, B) for K stacked models
    if z_target is None:
        z_target = torch.zeros(*batch, L, dtype=y.dtype, device=y.device)
    if step == "auto":
        step = 1.0 / lipschitz_constant(decoder, gamma=gamma)
    eta = float(step)
    gradient_step = _gradient_step(
        decoder, y, eta, beta=beta, T=T, gamma=gamma, z_target=z_target.detach()
    )
    history = [] if track_energy else None
    # per-row steps pay off for costly decoders; on a CPU asking which rows are left is free
    compact = tol > 0 and isinstance(decoder, (MLPDecoder, StackedMLPDecoder))
    check_every = 1 if compact and y.device.type == "cpu" else _CHECK_EVERY
    compact_below = _COMPACT_BELOW.get(y.device.type, 0.5)
    x = (z_target if z0 is None else z0).detach().clone()
    with torch.no_grad():
        x_prev, v, t = x, x, 1.0
        active = torch.ones(*batch, 1, dtype=torch.bool, device=y.device)
        n_iter = torch.zeros(batch, dtype=torch.long, device=y.device)
        rows = ()  # () all rows, else (indices,) of the rows still iterating at the last check
        for k in range(1, max_iter + 1):
            x = soft_threshold(gradient_step(v, *rows), eta * lam, positive)  # prox(v - eta grad)
            if rows:
                x = _put(x_prev, rows[0], x)
            if tol > 0:
                x = torch.where(active, x, x_prev)  # a converged sample keeps its code
                n_iter += active[..., 0]
                active = active & ~_converged(x, x_prev, tol)[..., None]
            if momentum:
                t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
                v = torch.lerp(
                    x_prev, x, 1 + (t - 1) / t_next
                )  # x_k + (t_k-1)/t_{k+1} (x_k-x_{k-1})
                v = torch.where(active, v, x) if tol > 0 else v
                t = t_next
            else:
                v = x
            x_prev = x
            if track_energy:
                history.append(_energy(decoder, y, x, lam, beta, T, gamma, z_target))
            if tol > 0 and k % check_every == 0:
                still = active[..., 0]  # (B,), or (K, B)
                n_active = int(still.sum(-1).max())  # the most rows left in one model
                if n_active == 0:
                    break
                if compact and n_active < compact_below * still.shape[-1]:
                    # the rows still iterating first (in order), then converged ones to give every
                    # model n_active rows; what those compute is dropped (a converged code stays)
                    order = torch.argsort((~still).to(torch.uint8), dim=-1, stable=True)
                    rows = (order[..., :n_active],)
                elif compact:
                    rows = ()
        if tol == 0:
            n_iter.fill_(max_iter)
        F = _energy(decoder, y, x, lam, beta, T, gamma, z_target)
    return InferenceResult(
        z=x,
        n_iter=n_iter,
        energy=F,
        converged=~active[..., 0],
        step=eta,
        history=torch.stack(history) if track_energy else None,
    )


def _energy(decoder, y, z, lam, beta, T, gamma, z_target) -> Tensor:
    if y.ndim == 3:  # K stacked models: one energy each, (K,)
        F = (y - decoder(z)).pow(2).sum((1, 2)) / y.shape[-1] + (lam * z.abs()).sum((1, 2))
        if beta > 0:
            F = F + beta * torch.relu(T - code_std(z)).pow(2).sum(-1)
        if gamma > 0:
            F = F + gamma * (z - z_target).pow(2).sum((1, 2)) / z.shape[-1]
        return F
    return energy(y, z, decoder, lam=lam, beta=beta, T=T, gamma=gamma, z_target=z_target)


def fista(
    decoder: nn.Module,
    y: Tensor,
    *,
    lam: float,
    beta: float = 0.0,
    T: float = 0.5,
    gamma: float = 0.0,
    z_target: Tensor | None = None,
    z0: Tensor | None = None,
    step: float | str = "auto",
    max_iter: int = 200,
    tol: float = 1e-3,
    positive: bool = True,
    track_energy: bool = False,
) -> InferenceResult:
    """Minimise the energy of Method §2 over the codes with FISTA; the decoder is left untouched.

    decoder: module (B, L) -> (B, P) with a ``code_dim`` attribute; y: (B, P);
    z_target: (B, L) encoder prediction e (also the start when ``z0`` is None; zeros if both are None);
    step: a float eta or ``"auto"`` (1 / Lipschitz constant); ``tol=0`` runs exactly ``max_iter``
    steps, ``tol>0`` freezes each sample once ``||z_k - z_{k-1}|| < tol ||z_{k-1}||``.
    """
    return _solve(**locals(), momentum=True)


def ista(decoder: nn.Module, y: Tensor, **options) -> InferenceResult:
    """ISTA (proximal gradient without momentum); same arguments and result as :func:`fista`."""
    args = _SIGNATURE.bind(decoder, y, **options)
    args.apply_defaults()
    return _solve(**args.arguments, momentum=False)


_SIGNATURE = ista.__signature__ = inspect.signature(fista)


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


def _validate(decoder, y, *, lam, beta, T, gamma, z_target, z0, step, max_iter, tol) -> None:
    if not isinstance(decoder, nn.Module):
        raise ValueError(f"decoder must be a torch.nn.Module; got {type(decoder).__name__}")
    L = getattr(decoder, "code_dim", None)
    if not isinstance(L, int):
        raise ValueError("decoder must have an integer `code_dim` attribute (the code size L)")
    if not isinstance(y, Tensor):
        raise ValueError(f"y must be a torch.Tensor; got {type(y).__name__}")
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
    if K is not None and isinstance(lam, Tensor):  # one lam per stacked model
        _check_tensor("lam", lam, (K, 1, 1), y)
        if bool((lam < 0).any()):
            raise ValueError("lam must be >= 0 for every model")
        lam = 0.0
    if K is not None and step == "auto":
        raise ValueError("step='auto' is not available for a stacked decoder: pass a float step")
    for name, value in (("lam", lam), ("beta", beta), ("T", T), ("gamma", gamma), ("tol", tol)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    if step != "auto" and (
        not isinstance(step, (int, float)) or not math.isfinite(step) or step <= 0
    ):
        raise ValueError(f"step must be a float > 0 or 'auto'; got {step!r}")
    if not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1; got {max_iter!r}")
    B = y.shape[-2]
    if beta > 0 and B < 2:
        raise ValueError(f"beta > 0 needs a batch of at least 2 samples (a std over y); got B={B}")
    for name, t in (("z0", z0), ("z_target", z_target)):
        if t is not None:
            _check_tensor(name, t, (*y.shape[:-1], L), y)
    if not isinstance(P, int):  # a module we know nothing about: check its output shape once
        with torch.no_grad():
            out = decoder(torch.zeros(B, L, dtype=y.dtype, device=y.device))
        if tuple(out.shape) != tuple(y.shape):
            raise ValueError(
                f"decoder maps (B, L) = {(B, L)} to {tuple(out.shape)}, but y is {tuple(y.shape)}"
            )
