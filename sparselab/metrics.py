"""Reconstruction quality and sparsity (Method §7).

Every dataset maps its network inputs back to image pixels by ``pixels = x * pixel_scale +
pixel_offset`` (MNIST: scalars 0.3081 and 0.1307; LCN patches: per-entry tensors that undo the local
contrast normalisation and then the global normalisation). PSNR is computed in pixel space with peak 1.
"""

from __future__ import annotations

import statistics

import torch
from torch import Tensor

__all__ = ["psnr", "zero_fraction", "dead_components", "mean_std"]


def psnr(x_hat: Tensor, x: Tensor, pixel_scale: float | Tensor = 1.0) -> Tensor:
    """PSNR in dB of each image, peak 1: ``10 log10(1 / mse)``. x_hat, x: (N, P) in input space;
    pixel_scale: scalar or (N, P), the factor from input space to pixels. Returns (N,)."""
    if x_hat.ndim != 2 or x_hat.shape != x.shape:
        raise ValueError(
            f"x_hat and x must both be (N, P); got {tuple(x_hat.shape)} and {tuple(x.shape)}"
        )
    mse = ((x_hat - x) * pixel_scale).pow(2).mean(dim=1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-20))


def zero_fraction(z: Tensor) -> float:
    """Fraction of code entries that are exactly 0 (the paper's "% zeros" is 100 times this)."""
    if z.numel() == 0:
        raise ValueError(f"z has no entries; got shape {tuple(z.shape)}")
    return (z == 0).float().mean().item()


def dead_components(z: Tensor) -> int:
    """Number of code components never active (never > 0) over the samples z: (N, L)."""
    return int((z.abs().amax(dim=0) == 0).sum())


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1) of a list of numbers; std 0 for one value."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_std needs at least one value")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)
