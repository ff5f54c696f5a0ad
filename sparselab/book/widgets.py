"""Interactive explorers for the chapters (ipywidgets, imported lazily).

Each explorer is a thin layer over two plain functions: one computes what is drawn (tested like any
other function), one draws it. ``static_*_explorer`` precomputes the drawing on a grid of slider
values (:mod:`sparselab.book.static_explorer`), so that the HTML book, which never runs Python,
has working sliders; a live Jupyter frontend shows the ipywidgets explorer instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

from ..data import MNIST_MEAN, MNIST_STD
from ..metrics import psnr, zero_fraction
from ..solvers import fista, ista, lipschitz_constant
from ..util.validate import check_int
from .plots import model_color, plot_convergence
from .static_explorer import Slider, precompute

__all__ = [
    "LambdaState",
    "solve_for_explorer",
    "plot_lambda_state",
    "lambda_explorer",
    "step_size_histories",
    "plot_step_sizes",
    "step_explorer_figure",
    "step_explorer",
]

# How the sliders of the static explorers name the keywords of solve_for_explorer
LABELS = {"lam": "λ", "beta": "β", "T": "T", "step_scale": "η × Lip"}


def _require_ipywidgets():
    try:
        import ipywidgets
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the explorers need ipywidgets: pip install 'sparselab[widgets]' (or ipywidgets>=8)"
        ) from None
    return ipywidgets


_STYLE = {"description_width": "initial"}


def _step_sliders(widgets, step_scale, scales, max_iter, steps) -> dict:
    """Sliders for the step (a multiple of 1/Lip) and the number of steps; scales, steps: the
    (min, max, step) of each."""
    return {
        "step_scale": widgets.FloatSlider(
            value=step_scale, **dict(zip(("min", "max", "step"), scales, strict=True)),
            description="eta x Lip", style=_STYLE,
        ),
        "max_iter": widgets.IntSlider(
            value=max_iter, **dict(zip(("min", "max", "step"), steps, strict=True)),
            description="max steps", style=_STYLE,
        ),
    }  # fmt: skip


def _show(fig) -> None:
    """Display a figure inside a widget's output area, then free it."""
    from IPython.display import display

    display(fig)
    plt.close(fig)


@dataclass
class LambdaState:
    """What :func:`lambda_explorer` draws for one setting of the sliders.

    z: (B, L) codes; y_hat: (B, P) reconstructions D(z); zeros_percent: % of code entries equal to 0;
    psnr_db: mean PSNR of the reconstructions (MNIST pixels, peak 1); energy: final F(Z);
    n_iter_mean: mean FISTA steps per sample; converged_percent: % of samples that met the tolerance
    within max_iter; history: (n_steps,) F after each step; step: eta used.
    """

    z: Tensor
    y_hat: Tensor
    zeros_percent: float
    psnr_db: float
    energy: float
    n_iter_mean: float
    converged_percent: float
    history: Tensor
    step: float


def _check_scale(step_scale: float) -> None:
    if not isinstance(step_scale, (int, float)) or not math.isfinite(step_scale) or step_scale <= 0:
        raise ValueError(f"step_scale must be a number > 0; got {step_scale!r}")


@torch.no_grad()
def solve_for_explorer(
    decoder: nn.Module, y: Tensor, *, lam: float, step_scale: float = 1.0, **options
) -> LambdaState:
    """Solve the batch y: (B, P) with :func:`~sparselab.solvers.fista` at step
    ``eta = step_scale / Lip`` (Lip: :func:`~sparselab.solvers.lipschitz_constant` of the decoder)
    and measure what the explorer shows. options: fista's other keywords (beta, T, max_iter, tol,
    z0: (B, L) the start, None: zeros), which also validates them. The hinge's gradient is zero
    for a component that is zero on the whole batch, so from z = 0 it cannot revive one that lam
    switched off; start from an encoder's prediction (``z0=encoder(y)``) to see it push back. 1/Lip ignores the hinge, whose
    curvature grows like 1/s_j as a component's spread s_j shrinks: with beta > 0 a smaller
    ``step_scale`` may be needed to converge (see ``converged_percent``)."""
    _check_scale(step_scale)
    eta = step_scale / lipschitz_constant(decoder)
    res = fista(decoder, y, lam=lam, step=eta, track_energy=True, **options)
    y_hat = decoder(res.z).detach()
    return LambdaState(
        z=res.z,
        y_hat=y_hat,
        zeros_percent=100.0 * zero_fraction(res.z),
        psnr_db=float(psnr(y_hat, y, MNIST_STD).mean()),
        energy=float(res.energy),
        n_iter_mean=float(res.n_iter.float().mean()),
        converged_percent=100.0 * float(res.converged.float().mean()),
        history=res.history,
        step=eta,
    )


def plot_lambda_state(state: LambdaState, y: Tensor, *, n_show: int = 8):
    """Inputs and reconstructions (first ``n_show`` of the batch, MNIST-normalised y: (B, 784)),
    the histogram of the non-zero code values, and the energy along the FISTA steps."""
    n_show = check_int("n_show", n_show, low=1, high=y.shape[0])
    width = 9.0
    fig = plt.figure(figsize=(width, 2 * width / n_show + 3.2), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=(2 * width / n_show, 3.2))
    pixels = [
        (t.detach().cpu().double() * MNIST_STD + MNIST_MEAN).clamp(0, 1).numpy()
        for t in (y, state.y_hat)
    ]
    image_axes = top.subplots(
        2, n_show, squeeze=False, gridspec_kw={"wspace": 0.05, "hspace": 0.05}
    )
    for row, (images, name) in enumerate(zip(pixels, ("input", "D(z)"), strict=True)):
        for k, ax in enumerate(image_axes[row]):
            ax.imshow(images[k].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
            ax.set_axis_off()
            if k == 0:
                ax.set_title(name, fontsize=8, loc="left")
    ax_hist, ax_energy = bottom.subplots(1, 2)
    nonzero = state.z[state.z != 0].detach().cpu().double()
    ax_hist.hist(nonzero.numpy(), bins=40, color=model_color("FISTA"))
    ax_hist.set_xlabel("non-zero code value $z_{ij}$")
    ax_hist.set_ylabel("count (entries)")
    ax_hist.set_title(f"{state.zeros_percent:.1f}% zeros, PSNR {state.psnr_db:.1f} dB", fontsize=9)
    ax_energy.plot(
        range(1, len(state.history) + 1),
        state.history.cpu().double().numpy(),
        color=model_color("FISTA"),
    )
    ax_energy.set_xlabel("FISTA step $k$")
    ax_energy.set_ylabel("$F(Z_k)$ (energy)")
    ax_energy.set_title(
        f"{state.n_iter_mean:.0f} steps per sample on average, "
        f"{state.converged_percent:.0f}% converged",
        fontsize=9,
    )
    return fig


def lambda_explorer(
    decoder: nn.Module,
    y: Tensor,
    grid: dict[str, Sequence[float]] | None = None,
    *,
    lam: float = 0.005,
    beta: float = 0.0,
    T: float = 0.5,
    step_scale: float = 1.0,
    max_iter: int = 200,
    n_show: int = 8,
    z0: Tensor | None = None,
    colors: int = 32,
):
    """Sliders for lam, beta, T and the step (a multiple of 1/Lip); every setting solves the batch
    y: (B, P) with FISTA from ``z0`` (None: zeros; :func:`solve_for_explorer`) and draws
    :func:`plot_lambda_state`. grid None: an ``ipywidgets.interactive`` (a kernel redraws; lam on a
    log scale, and the number of steps too). Else a
    :class:`~sparselab.book.static_explorer.StaticExplorer` that works without a kernel, in the
    HTML book: the figure precomputed for every combination of ``grid`` (keys among
    lam, beta, T, step_scale; each grid holds that keyword's value), the other keywords fixed, each
    view a PNG of ``colors`` colours; a live Jupyter frontend shows the ipywidgets one instead."""
    settings = {"lam": lam, "beta": beta, "T": T, "step_scale": step_scale}

    def figure(**values):
        state = solve_for_explorer(decoder, y, **{**settings, **values}, z0=z0)
        return plot_lambda_state(state, y, n_show=n_show)

    if grid is not None:
        unknown = set(grid) - set(settings)
        if unknown:
            raise ValueError(f"grid keys must be among {sorted(settings)}; got {sorted(unknown)}")
        fixed = ", ".join(f"{LABELS[k]} = {v:g}" for k, v in settings.items() if k not in grid)
        return precompute(
            lambda **values: figure(**values, max_iter=max_iter),
            [Slider(k, LABELS[k], tuple(v), settings[k]) for k, v in grid.items()],
            alt=f"{n_show} digits and their reconstructions by FISTA, the histogram of the "
            f"non-zero code values and the energy along the steps, at {fixed}",
            live=lambda: lambda_explorer(
                decoder, y, **settings, max_iter=max_iter, n_show=n_show, z0=z0
            ),
            colors=colors,
        )
    widgets = _require_ipywidgets()
    figure(max_iter=1)  # bad input fails here, not inside the widget

    return widgets.interactive(
        lambda **values: _show(figure(**values)),
        lam=widgets.FloatLogSlider(
            value=lam, base=10, min=-4, max=0, step=0.1, description="lam", style=_STYLE
        ),
        beta=widgets.FloatSlider(value=beta, min=0.0, max=20.0, step=0.5, description="beta"),
        T=widgets.FloatSlider(value=T, min=0.0, max=2.0, step=0.05, description="T"),
        **_step_sliders(widgets, step_scale, (0.05, 1.9, 0.05), max_iter, (1, 500, 1)),
    )


@torch.no_grad()
def step_size_histories(
    decoder: nn.Module,
    y: Tensor,
    *,
    lam: float,
    step_scales: Sequence[float] = (0.5, 1.0, 1.9),
    max_iter: int = 100,
    momentum: bool = False,
    positive: bool = True,
) -> dict[str, Tensor]:
    """Energy F(z_k) after each of ``max_iter`` steps of ISTA (or FISTA with ``momentum``) from
    z = 0, for each step ``eta = scale / Lip``; ``positive=False`` lets codes be signed.
    Returns ``{"eta = 0.5/Lip": (max_iter,), ...}``."""
    if len(step_scales) == 0:
        raise ValueError("step_scales must hold at least one scale")
    for s in step_scales:
        _check_scale(s)
    lip = lipschitz_constant(decoder)
    solve = fista if momentum else ista
    return {
        f"eta = {s:g}/Lip": solve(
            decoder,
            y,
            lam=lam,
            step=s / lip,
            max_iter=max_iter,
            tol=0.0,
            positive=positive,
            track_energy=True,
        ).history
        for s in step_scales
    }


def plot_step_sizes(histories: dict[str, Tensor], *, optimum: float | None = None):
    """The histories of :func:`step_size_histories` on log-log axes (a gap to ``optimum`` if given;
    a diverging run shows as a line that climbs)."""
    return plot_convergence(histories, optimum=optimum, title="ISTA at different step sizes")


def step_explorer_figure(
    decoder: nn.Module, y: Tensor, *, lam: float, step_scale=1.0, max_iter=100, positive=True
):
    """What :func:`step_explorer` draws: the energies of ISTA and FISTA from z = 0 at the step
    ``eta = step_scale / Lip`` (:func:`step_size_histories`), on log-log axes."""
    curves = {}
    for name, momentum in (("ISTA", False), ("FISTA", True)):
        h = step_size_histories(
            decoder,
            y,
            lam=lam,
            step_scales=(step_scale,),
            max_iter=max_iter,
            momentum=momentum,
            positive=positive,
        )
        curves[name] = next(iter(h.values()))
    return plot_convergence(curves, title=f"step eta = {step_scale:g} / Lip, lam = {lam:g}")


def step_explorer(
    decoder: nn.Module,
    y: Tensor,
    step_scales: Sequence[float] | None = None,
    *,
    lam: float = 0.005,
    step_scale: float = 1.0,
    max_iter: int = 100,
    positive: bool = True,
):
    """A slider for the step (a multiple of 1/Lip) redrawing :func:`step_explorer_figure`.
    step_scales None: an ``ipywidgets.interactive`` (a kernel redraws; the step up to 2.5, and the
    number of steps too). Else a :class:`~sparselab.book.static_explorer.StaticExplorer`, the
    figure precomputed for each of ``step_scales`` (which holds ``step_scale``) at ``max_iter``
    steps, for the HTML book; a live Jupyter frontend shows the ipywidgets one instead."""
    _check_scale(step_scale)

    def figure(step_scale, max_iter=max_iter):
        return step_explorer_figure(
            decoder, y, lam=lam, step_scale=step_scale, max_iter=max_iter, positive=positive
        )

    if step_scales is not None:
        return precompute(
            figure,
            [Slider("step_scale", LABELS["step_scale"], tuple(step_scales), step_scale)],
            alt=f"energy of ISTA and FISTA along {max_iter} steps on log-log axes, at lam = {lam:g}",
            live=lambda: step_explorer(
                decoder, y, lam=lam, step_scale=step_scale, max_iter=max_iter, positive=positive
            ),
            dpi=90,
        )
    widgets = _require_ipywidgets()
    return widgets.interactive(
        lambda step_scale, max_iter: _show(figure(step_scale, max_iter)),
        **_step_sliders(widgets, step_scale, (0.1, 2.5, 0.1), max_iter, (10, 500, 10)),
    )
