"""FISTA's opt-in safeguards (chapter 7, "When FISTA stalls"): :class:`SafeguardedStep`, the
step that the solvers' loop (``solvers._iterate``) runs instead of the paper's fixed one.

``backtrack``: Beck & Teboulle's (2009) backtracking, one step per sample. Its test and the
restart (O'Donoghue & Candès 2015) compare each sample's smooth energy, the hinge left out
(:func:`~sparselab.gradients.sample_smooth`); on a CPU it and its gradient are computed for the
rows still iterating only. Backtracking takes f at the extrapolated point from the gradient's
forward pass, so a step that needs no halving costs one forward pass more than the fixed step
(f at the candidate), not two.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .energy import variance_hinge, variance_hinge_grad
from .gradients import put_rows, sample_smooth, smooth_gradient, take_rows

__all__ = ["SafeguardedStep", "backtrack", "SHRINK", "MAX_SHRINKS"]

SHRINK, MAX_SHRINKS = 0.5, 50  # backtracking halves a sample's step, at most this many times


def backtrack(f, prox, v, f_v, g, g_hinge, x, eta, hinge, active):
    """Halve each active sample's step until the quadratic upper bound holds at that sample,
    ``f_i(x_i) <= f_i(v_i) + <grad f_i, x_i - v_i> + ||x_i - v_i||^2 / (2 eta_i)``, and, the hinge
    coupling the batch, until the hinge's excess over its linear model fits in the room the samples
    leave (else every active sample's step halves): the bound then holds for the whole smooth part.
    ``prox(u, eta)``: the proximal map at steps eta; f_v: (..., B) f at v. Returns the accepted x
    and the steps."""
    slack = 64 * torch.finfo(v.dtype).eps * f_v.abs()  # round-off when x is close to v
    for _ in range(MAX_SHRINKS):
        d = torch.where(active, x - v, 0.0)  # a converged sample keeps its code: it does not move
        room = f_v + (g * d).sum(-1) + (0.5 / eta[..., 0]) * (d * d).sum(-1) - f(x) + slack
        fails = (room < 0) & active[..., 0]
        if hinge is not None and not bool(fails.any()):
            excess = hinge(v + d) - hinge(v) - (g_hinge * d).sum((-2, -1))  # (...,) per batch
            room_left = torch.where(active[..., 0], room, 0.0).clamp_min(0).sum(-1)  # (...,)
            fails = active[..., 0] & (excess > room_left)[..., None]
        if not bool(fails.any()):
            break
        eta = torch.where(fails[..., None], eta * SHRINK, eta)
        x = torch.where(fails[..., None], prox(v - eta * (g + g_hinge), eta), x)
    return x, eta


class SafeguardedStep:
    """The proximal gradient step of the solvers' loop with a step ``eta_i`` and a momentum ``t_i``
    per sample, (..., B, 1): ``kind`` "backtrack" (eta_i from :func:`backtrack`, never above eta) or
    "restart" (t_i back to 1 where a sample's energy rose). x: the start codes; ``prox(u, eta)``
    the proximal map of ``lam ||.||_1`` at steps eta."""

    def __init__(self, kind, decoder, y, eta, x, prox, *, lam, beta, T, gamma, z_target):
        self.kind, self.lam, self.prox = kind, lam, prox
        # f per sample, (..., B), the hinge left out; backtracking takes f at v with its gradient
        self.smooth = lambda rows: _smooth_at(
            decoder, y, gamma, z_target.detach(), rows, with_energy=kind == "backtrack"
        )
        self.f, self.grad_f = self.smooth(None)
        self.rows = None  # the rows f and grad_f are computed at (None: every row)
        self.beta, self.T = beta, T
        self.hinge = (lambda z: variance_hinge(z, beta, T)) if beta else None
        self.eta = torch.full((*y.shape[:-1], 1), eta, dtype=y.dtype, device=y.device)
        self.t = torch.ones_like(self.eta)
        self.F_prev = self.f(x) + (lam * x.abs()).sum(-1) if kind == "restart" else None

    def __call__(self, v: Tensor, x_prev: Tensor, active: Tensor) -> Tensor:
        f_v, g = self.grad_f(v) if self.kind == "backtrack" else (None, self.grad_f(v))
        # the hinge's gradient joins the step, its value stays out of the test
        g_hinge = variance_hinge_grad(v, self.beta, self.T) if self.beta > 0 else 0.0
        x = self.prox(v - self.eta * (g + g_hinge), self.eta)
        if self.kind == "backtrack":
            x, self.eta = backtrack(
                self.f, self.prox, v, f_v, g, g_hinge, x, self.eta, self.hinge, active
            )
        return x

    def extrapolate(self, x: Tensor, x_prev: Tensor) -> Tensor:
        t_next = (1 + torch.sqrt(1 + 4 * self.t * self.t)) / 2
        v = x + ((self.t - 1) / t_next) * (x - x_prev)
        if self.kind == "restart":  # a sample whose energy rose drops its momentum
            F_x = self.f(x) + (self.lam * x.abs()).sum(-1)
            rose = (F_x > self.F_prev)[..., None]
            v, t_next, self.F_prev = torch.where(rose, x, v), t_next.masked_fill(rose, 1.0), F_x
        self.t = t_next
        return v

    def restrict(self, rows: Tensor | None) -> None:
        """f and its gradient at ``rows`` only (None: every row): the others have converged."""
        if rows is None and self.rows is None:
            return  # still every row: nothing to rebuild
        self.rows = rows
        self.f, self.grad_f = self.smooth(rows)


def _smooth_at(decoder, y, gamma, z_target, rows, with_energy):
    """Each sample's smooth energy f_i (the hinge left out), (..., B), and grad f, (..., B, L)
    (``with_energy``: ``(f_i, grad f)``), computed at ``rows`` only (zero at the others, which have
    converged); rows None: every row."""
    options = dict(gamma=gamma, with_energy=with_energy)
    if rows is None:
        f = sample_smooth(decoder, y, gamma, z_target)
        return f, smooth_gradient(decoder, y, z_target=z_target, **options)
    y_r, e_r = take_rows(y, rows), take_rows(z_target, rows)
    f_r = sample_smooth(decoder, y_r, gamma, e_r)
    grad_r = smooth_gradient(decoder, y_r, z_target=e_r, **options)
    zero = y.new_zeros(*y.shape[:-1], 1)

    def f(z: Tensor) -> Tensor:
        return _put_energy(zero, rows, f_r(take_rows(z, rows)))

    def grad_f(z: Tensor):
        out = grad_r(take_rows(z, rows))
        g = put_rows(torch.zeros_like(z), rows, out[1] if with_energy else out)
        return (_put_energy(zero, rows, out[0]), g) if with_energy else g

    return f, grad_f


def _put_energy(zero: Tensor, rows: Tensor, f_rows: Tensor) -> Tensor:
    return put_rows(zero, rows, f_rows[..., None])[..., 0]
