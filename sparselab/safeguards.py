"""FISTA's opt-in safeguards (chapter 7, "When FISTA stalls"), the policies the solvers' loop calls.

``backtrack``: Beck & Teboulle's (2009) backtracking, one step per sample; ``sample_smooth``: each
sample's smooth energy, the hinge left out, which its test and the restart (O'Donoghue & Candès
2015) compare.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["backtrack", "sample_smooth", "SHRINK", "MAX_SHRINKS"]

SHRINK, MAX_SHRINKS = 0.5, 50  # backtracking halves a sample's step, at most this many times


def backtrack(f, prox, v, g, g_hinge, x, eta, hinge, active):
    """Halve each active sample's step until the quadratic upper bound holds at that sample,
    ``f_i(x_i) <= f_i(v_i) + <grad f_i, x_i - v_i> + ||x_i - v_i||^2 / (2 eta_i)``, and, the hinge
    coupling the batch, until the hinge's excess over its linear model fits in the room the samples
    leave (else every active sample's step halves): the bound then holds for the whole smooth part.
    ``prox(u, eta)``: the proximal map at steps eta. Returns the accepted x and the steps."""
    f_v = f(v)
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


def sample_smooth(decoder, y, gamma, z_target):
    """``z -> (..., B)``: each sample's ``(1/P)||y_i - D(z_i)||^2 + (gamma/L)||z_i - e_i||^2``."""

    def f(z: Tensor) -> Tensor:
        F = (y - decoder(z)).pow(2).sum(-1) / y.shape[-1]
        return F + gamma * (z - z_target).pow(2).sum(-1) / z.shape[-1] if gamma > 0 else F

    return f
