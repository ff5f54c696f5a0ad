"""The baseline: FISTA that calls autograd on the full energy at every step, as the paper's public
code does. Used by the benchmarks (for speed ratios) and by the tests (as an independent oracle)."""

from __future__ import annotations

import math

import torch


def naive_energy(decoder, y, z, *, lam, beta, T, gamma, z_target):
    """The Method §2 energy written out directly (std via var + tiny eps so autograd is finite at 0)."""
    P, L, B = y.shape[1], z.shape[1], z.shape[0]
    rec = ((y - decoder(z)) ** 2).sum() / P
    enc = gamma * ((z - z_target) ** 2).sum() / L
    var = ((z - z.mean(0)) ** 2).sum(0) / (B - 1)
    hinge = beta * torch.relu(T - torch.sqrt(var + 1e-30)).pow(2).sum()
    return rec + enc + hinge, lam * z.abs().sum()


def naive_fista(decoder, y, *, lam, beta=0.0, T=0.5, gamma=0.0, z_target, step, n_steps, tol=0.0):
    """``n_steps`` FISTA steps from ``z_target``; every gradient by ``loss.backward()`` on the full
    smooth energy (decoder parameters included, as a training script would leave them). ``tol > 0``:
    a sample whose code changed by less than ``tol`` times its norm (or not at all) keeps it, and
    the loop ends when every sample has."""
    x_prev = z_target.detach().clone()
    v, t = x_prev.clone(), 1.0
    done = torch.zeros(len(y), 1, dtype=torch.bool)
    for _ in range(n_steps):
        v = v.detach().requires_grad_(True)
        smooth, _ = naive_energy(
            decoder, y, v, lam=lam, beta=beta, T=T, gamma=gamma, z_target=z_target
        )
        smooth.backward()
        with torch.no_grad():
            x = torch.relu(v - step * v.grad - step * lam)
            t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
            v = x + ((t - 1) / t_next) * (x - x_prev)
            if tol > 0:
                x = torch.where(done, x_prev, x)
                change = (x - x_prev).norm(dim=1, keepdim=True)
                done |= (change < tol * x_prev.norm(dim=1, keepdim=True)) | (change == 0)
                v = torch.where(done, x, v)
            x_prev, t = x, t_next
        if tol > 0 and done.all():
            break
    decoder.zero_grad(set_to_none=True)
    return x_prev
