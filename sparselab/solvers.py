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

One loop (``_iterate``: stopping, momentum, dropping converged rows) runs either step: the paper's
fixed one (``_FixedStep``) or :class:`~sparselab.safeguards.SafeguardedStep`.
``safeguard`` (off by default: the paper's fixed step) departs from the paper where a fixed step
stalls (chapter 7, "When FISTA stalls"): ``"backtrack"`` gives each sample its own step, halved
until f's quadratic upper bound holds at that sample (Beck & Teboulle 2009), never above ``step``;
``"restart"`` (FISTA only) resets a sample's momentum whenever its energy rises (O'Donoghue &
Candès 2015). A step that makes the codes non-finite raises a ValueError naming ``step`` and an
estimate of the largest stable one (1 / :func:`~sparselab.gradients.curvature` at the start codes).

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

from .energy import energy, variance_hinge
from .gradients import curvature
from .gradients import gradient_step as _gradient_step
from .gradients import put_rows as _put
from .models import LinearDictionary, MLPDecoder
from .safeguards import SafeguardedStep
from .stacked import StackedMLPDecoder
from .validation import validate_inference as _validate

__all__ = [
    "InferenceResult",
    "DivergenceError",
    "fista",
    "ista",
    "soft_threshold",
    "lipschitz_constant",
]

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
    energy: scalar tensor, F(Z) at the returned codes; converged: (B,) bool; step: the step asked for;
    history: (n_steps,) energy after each step when ``track_energy=True``, else None;
    sample_step: (B,) each sample's last step with ``safeguard="backtrack"``, else None.
    """

    z: Tensor
    n_iter: Tensor
    energy: Tensor
    converged: Tensor
    step: float
    history: Tensor | None = None
    sample_step: Tensor | None = None


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
    (ReLU is 1-Lipschitz). Other modules have no global bound here: :func:`fista` with
    ``step="auto"`` uses their :func:`~sparselab.gradients.curvature` at the start codes instead.
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
            f"lipschitz_constant needs a LinearDictionary or an MLPDecoder; got "
            f"{type(decoder).__name__}: use sparselab.curvature at the codes instead"
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
    safeguard,
) -> InferenceResult:
    L, lam = _validate(
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
        safeguard=safeguard,
        momentum=momentum,
    )
    batch = y.shape[:-1]  # (B,), or (K, B) for K stacked models
    if z_target is None:
        z_target = torch.zeros(*batch, L, dtype=y.dtype, device=y.device)
    x = (z_target if z0 is None else z0).detach().clone()
    if step == "auto":
        step = 1.0 / _lipschitz_at(decoder, x, gamma)
    eta = float(step)
    # per-row steps pay off for costly decoders; on a CPU asking which rows are left is free
    compact = tol > 0 and isinstance(decoder, (MLPDecoder, StackedMLPDecoder))
    with torch.no_grad():
        problem = dict(lam=lam, beta=beta, T=T, gamma=gamma, z_target=z_target)
        if safeguard is None:
            policy = _FixedStep(decoder, y, eta, positive=positive, **problem)
        else:
            prox = lambda u, eta: soft_threshold(u, eta * lam, positive)  # noqa: E731
            policy = SafeguardedStep(safeguard, decoder, y, eta, x, prox, **problem)
        x, n_iter, active, history = _iterate(
            policy,
            x,
            momentum=momentum,
            tol=tol,
            max_iter=max_iter,
            check_every=1 if compact and y.device.type == "cpu" else _CHECK_EVERY,
            compact_below=_COMPACT_BELOW.get(y.device.type, 0.5) if compact else None,
            track=(lambda z: _energy(decoder, y, z, lam, beta, T, gamma, z_target))
            if track_energy
            else None,
        )
        F = _energy(decoder, y, x, lam, beta, T, gamma, z_target)
    _check_finite(F, decoder, z0 if z0 is not None else z_target, eta, gamma, momentum)
    return InferenceResult(
        z=x,
        n_iter=n_iter,
        energy=F,
        converged=~active[..., 0],
        step=eta,
        history=history,
        sample_step=policy.eta[..., 0] if safeguard == "backtrack" else None,
    )


class _FixedStep:
    """The paper's step: ``x = prox(v - eta grad f(v))``, one eta and one momentum t for the batch
    (the smooth step of :func:`~sparselab.gradients.gradient_step`, for the rows left only)."""

    def __init__(self, decoder, y, eta, *, lam, positive, beta, T, gamma, z_target):
        self.step = _gradient_step(
            decoder, y, eta, beta=beta, T=T, gamma=gamma, z_target=z_target.detach()
        )
        self.threshold, self.positive, self.t, self.rows = eta * lam, positive, 1.0, ()

    def __call__(self, v: Tensor, x_prev: Tensor, active: Tensor) -> Tensor:
        x = soft_threshold(self.step(v, *self.rows), self.threshold, self.positive)
        return _put(x_prev, self.rows[0], x) if self.rows else x

    def extrapolate(self, x: Tensor, x_prev: Tensor) -> Tensor:
        t_next = (1 + math.sqrt(1 + 4 * self.t * self.t)) / 2
        v = torch.lerp(x_prev, x, 1 + (self.t - 1) / t_next)  # x_k + (t_k-1)/t_{k+1} (x_k-x_{k-1})
        self.t = t_next
        return v

    def restrict(self, rows: Tensor | None) -> None:
        self.rows = () if rows is None else (rows,)


def _iterate(policy, x, *, momentum, tol, max_iter, check_every, compact_below, track):
    """The loop of ISTA (FISTA with ``momentum``) around ``policy``'s proximal gradient step.
    With tol > 0 a converged sample keeps its code; with ``compact_below`` (None: never) the step
    runs on the rows still iterating once fewer than that fraction of a batch is left."""
    history = [] if track is not None else None
    x_prev = v = x
    active = torch.ones(*x.shape[:-1], 1, dtype=torch.bool, device=x.device)
    n_iter = torch.zeros(x.shape[:-1], dtype=torch.long, device=x.device)
    for k in range(1, max_iter + 1):
        x = policy(v, x_prev, active)
        if tol > 0:
            x = torch.where(active, x, x_prev)  # a converged sample keeps its code
            n_iter += active[..., 0]
            active = active & ~_converged(x, x_prev, tol)[..., None]
        v = policy.extrapolate(x, x_prev) if momentum else x
        if momentum and tol > 0:
            v = torch.where(active, v, x)  # a converged sample stays where it stopped
        x_prev = x
        if track is not None:
            history.append(track(x))
        if tol > 0 and k % check_every == 0:
            rows = _rows_left(active, compact_below or 0.0)
            if rows is not None and rows.shape[-1] == 0:
                break
            if compact_below is not None:
                policy.restrict(rows)
    if tol == 0:
        n_iter.fill_(max_iter)
    return x, n_iter, active, torch.stack(history) if track is not None else None


def _rows_left(active: Tensor, compact_below: float) -> Tensor | None:
    """The rows still iterating, (n,) (or (K, n): the n of the model with the most left, then
    converged ones to give each model n rows, whose results are dropped); None while more than
    ``compact_below`` of a batch is left (every row is computed)."""
    still = active[..., 0]  # (B,), or (K, B)
    n_active = int(still.sum(-1).max())
    if n_active and n_active >= compact_below * still.shape[-1]:
        return None
    order = torch.argsort((~still).to(torch.uint8), dim=-1, stable=True)
    return order[..., :n_active]


def _lipschitz_at(decoder, z, gamma) -> float:
    """lipschitz_constant for the decoders it knows; else the largest curvature at the codes z."""
    if isinstance(decoder, (LinearDictionary, MLPDecoder)):
        return lipschitz_constant(decoder, gamma=gamma)
    return float(curvature(decoder, z, gamma=gamma).max())


class DivergenceError(ValueError, FloatingPointError):
    """FISTA's (or ISTA's) codes turned non-finite: the step is too long for the decoder."""


def _check_finite(F, decoder, z_start, eta, gamma, momentum) -> None:
    """Divergence is never silent: non-finite codes (hence energy) raise, with a stable step."""
    if bool(torch.isfinite(F).all()):
        return
    stable = 1.0 / float(curvature(decoder, z_start, gamma=gamma).max())
    raise DivergenceError(
        f"step={eta:.4g} made {'fista' if momentum else 'ista'} diverge (the codes turned "
        f"non-finite); the largest stable step is about {stable:.4g} (1 / the energy's curvature "
        "at the start codes): pass a smaller step, step='auto' or safeguard='backtrack'"
    )


def _energy(decoder, y, z, lam, beta, T, gamma, z_target) -> Tensor:
    if y.ndim == 3:  # K stacked models: one energy each, (K,)
        F = (y - decoder(z)).pow(2).sum((1, 2)) / y.shape[-1] + (lam * z.abs()).sum((1, 2))
        if beta > 0:
            F = F + variance_hinge(z, beta, T)
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
    safeguard: str | None = None,
) -> InferenceResult:
    """Minimise the energy of Method §2 over the codes with FISTA; the decoder is left untouched.

    decoder: any module (B, L) -> (B, P), rows independent; the code size L is ``z0``'s, else its
    ``code_dim``, else its first nn.Linear's ``in_features``; y: (B, P);
    z_target: (B, L) encoder prediction e (also the start when ``z0`` is None; zeros if both are None);
    step: a float eta or ``"auto"`` (1 / Lipschitz constant; for a module other than the package's
    decoders, 1 / its largest curvature at the start codes); ``tol=0`` runs exactly ``max_iter``
    steps, ``tol>0`` freezes each sample once ``||z_k - z_{k-1}|| < tol ||z_{k-1}||``;
    safeguard: None (the paper's fixed step), ``"backtrack"`` or ``"restart"`` (module docstring).
    Raises ValueError when the codes turn non-finite (a step far too large).
    """
    return _solve(**locals(), momentum=True)


def ista(decoder: nn.Module, y: Tensor, **options) -> InferenceResult:
    """ISTA (proximal gradient without momentum); same arguments and result as :func:`fista`
    (``safeguard`` None or ``"backtrack"``: without momentum there is nothing to restart)."""
    args = _SIGNATURE.bind(decoder, y, **options)
    args.apply_defaults()
    return _solve(**args.arguments, momentum=False)


_SIGNATURE = ista.__signature__ = inspect.signature(fista)
