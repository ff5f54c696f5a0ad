"""FISTA from zero against FISTA from the encoder's prediction (Method §4), and an explorer of the
encoder term's weight gamma (chapter 6)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor, nn

from ..runs.loop import infer
from .plots import model_color
from .static_explorer import Slider, StaticExplorer, precompute

__all__ = [
    "warm_start_steps",
    "plot_warm_start",
    "warm_start_explorer",
    "static_warm_start_explorer",
]


@torch.no_grad()
def warm_start_steps(
    decoder: nn.Module, encoder: nn.Module, y: Tensor, config, *, gamma: float | None = None
) -> dict[str, Tensor]:
    """FISTA steps per sample, (B,) each, on y: (B, P) with the energy and step of ``config`` (a
    :class:`~sparselab.runs.config.TrainConfig`), the encoder term's target ``E(y)`` and weight ``gamma``
    (None: ``config.gamma``), started from zero ("cold") and from ``E(y)`` ("warm")."""
    if y.ndim != 2:
        raise ValueError(f"y must be (B, P); got {tuple(y.shape)}")
    gamma = config.gamma if gamma is None else float(gamma)
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0; got {gamma}")
    zero = torch.zeros(len(y), decoder.code_dim, dtype=y.dtype, device=y.device)
    return {
        "cold": infer(config, decoder, encoder, y, gamma=gamma, z0=zero).n_iter,
        "warm": infer(config, decoder, encoder, y, gamma=gamma).n_iter,
    }


def plot_warm_start(steps: dict[str, Tensor], *, max_iter: int = 200, title: str | None = None):
    """Histograms of FISTA steps per sample, one per start (the output of warm_start_steps)."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    bins = np.linspace(0, max_iter, 41)
    for i, (name, n) in enumerate(steps.items()):
        n = n.cpu().numpy()
        ax.hist(
            n,
            bins=bins,
            alpha=0.6,
            color=model_color(name, i),
            label=f"{name}: mean {n.mean():.0f}",
        )
    ax.set_xlabel("FISTA steps until the code stops moving (per sample)")
    ax.set_ylabel("samples (count)")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def warm_start_explorer(decoder: nn.Module, encoder: nn.Module, y: Tensor, config):
    """A slider for gamma (log scale) redrawing :func:`plot_warm_start` (needs ipywidgets)."""
    from .widgets import _require_ipywidgets, _show

    widgets = _require_ipywidgets()

    def draw(log10_gamma: float) -> None:
        gamma = 10.0**log10_gamma
        steps = warm_start_steps(decoder, encoder, y, config, gamma=gamma)
        _show(plot_warm_start(steps, max_iter=config.max_iter, title=f"gamma = {gamma:.3g}"))

    start = float(np.log10(max(config.gamma, 1e-3)))
    # up to gamma = 10**1.5: past about 60 SDL's fixed step 1 outruns the curvature 2 gamma / L
    slider = widgets.FloatSlider(value=start, min=-2.0, max=1.5, step=0.25, description="log10 γ")
    return widgets.interactive(draw, log10_gamma=slider)


def static_warm_start_explorer(
    decoder: nn.Module,
    encoder: nn.Module,
    y: Tensor,
    config,
    gammas: Sequence[float] = (0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30),
) -> StaticExplorer:
    """:func:`warm_start_explorer` without a kernel: :func:`plot_warm_start` precomputed for each
    of ``gammas`` and ``config.gamma`` (where the slider starts). The encoder term's curvature
    grows with gamma (by 2 gamma / L): past about 60 SDL's fixed step 1 is longer than 1 / the
    curvature, and by 300 FISTA diverges (and raises). In a live Jupyter frontend it shows :func:`warm_start_explorer`."""
    if any(g < 0 for g in gammas):
        raise ValueError(f"gammas must be >= 0; got {tuple(gammas)}")

    def draw(gamma: float):
        steps = warm_start_steps(decoder, encoder, y, config, gamma=gamma)
        return plot_warm_start(steps, max_iter=config.max_iter, title=f"gamma = {gamma:.3g}")

    values = tuple(sorted({float(g) for g in gammas} | {float(config.gamma)}))
    return precompute(
        draw,
        [Slider("gamma", "γ", values, float(config.gamma))],
        alt=f"histograms of FISTA steps per digit from zero and from the encoder's prediction, "
        f"on {len(y)} digits",
        live=lambda: warm_start_explorer(decoder, encoder, y, config),
        dpi=90,
    )
