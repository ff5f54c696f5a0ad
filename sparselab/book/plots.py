"""The book's figures, one colour per model in every chapter, axes labelled with their units.

Every function returns a ``matplotlib.figure.Figure`` and never calls ``plt.show()``: a notebook
displays the returned figure, a script saves it (and closes it with ``plt.close(fig)``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..data import MNIST_MEAN, MNIST_STD
from ..util.validate import check_int

__all__ = [
    "MODEL_COLORS",
    "model_color",
    "show_images",
    "show_atoms",
    "plot_soft_threshold",
    "plot_convergence",
    "plot_history",
    "plot_variance_hinge",
    "plot_code_std",
]

#: One colour per model, the same in every chapter (the paper's four models, then the solvers).
MODEL_COLORS: dict[str, str] = {
    "SDL": "#1f77b4",  # blue
    "SDL-NL": "#17becf",  # cyan: the multi-layer variant of the same family
    "VDL": "#d62728",  # red
    "VDL-NL": "#ff7f0e",  # orange
    "ISTA": "#7f7f7f",
    "FISTA": "#2ca02c",
}
_FALLBACK = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def model_color(name: str, index: int = 0) -> str:
    """Colour of ``name`` from :data:`MODEL_COLORS`, else the ``index``-th colour of the cycle."""
    return MODEL_COLORS.get(name, _FALLBACK[index % len(_FALLBACK)])


def _to_numpy(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    x = np.asarray(x, dtype=float)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")
    return x


def _grid(n: int, n_rows: int | None, n_cols: int | None) -> tuple[int, int]:
    n_rows = None if n_rows is None else check_int("n_rows", n_rows, low=1)
    n_cols = None if n_cols is None else check_int("n_cols", n_cols, low=1)
    if n_rows is None and n_cols is None:
        n_cols = min(n, 10)
    if n_cols is None:
        n_cols = math.ceil(n / n_rows)
    if n_rows is None:
        n_rows = math.ceil(n / n_cols)
    return n_rows, n_cols


def _image_grid(
    images: np.ndarray,
    n_rows: int | None,
    n_cols: int | None,
    *,
    cmap: str,
    vmin,
    vmax,
    titles: Sequence[str] | None,
    title: str | None,
    scale: float,
):
    """One axes per image (hidden frame), images: (N, 28, 28) already scaled for display."""
    rows, cols = _grid(len(images), n_rows, n_cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(scale * cols, scale * rows + (0.3 if title else 0)), squeeze=False
    )
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k < len(images):
            v = (vmin[k], vmax[k]) if isinstance(vmin, np.ndarray) else (vmin, vmax)
            ax.imshow(images[k], cmap=cmap, vmin=v[0], vmax=v[1], interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[k], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout(pad=0.3)
    return fig


def show_images(
    x,
    n_rows: int | None = None,
    n_cols: int | None = None,
    *,
    normalized: bool = True,
    titles: Sequence[str] | None = None,
    title: str | None = None,
    scale: float = 1.0,
):
    """A grid of 28x28 grey images. x: (N, 784) or (N, 28, 28), MNIST-normalised inputs when
    ``normalized`` (mapped back to pixels in [0, 1]) or raw pixels in [0, 1] otherwise.

    n_rows / n_cols: grid shape (one may be omitted; by default up to 10 columns);
    titles: one short title per image.
    """
    x = _to_numpy(x, "x")
    if x.ndim == 2 and x.shape[1] == 784:
        x = x.reshape(-1, 28, 28)
    if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) == 0:
        raise ValueError(f"x must be (N, 784) or (N, 28, 28) with N >= 1; got {x.shape}")
    if titles is not None and len(titles) != len(x):
        raise ValueError(f"titles must have one entry per image ({len(x)}); got {len(titles)}")
    pixels = x * MNIST_STD + MNIST_MEAN if normalized else x
    return _image_grid(
        np.clip(pixels, 0.0, 1.0),
        n_rows,
        n_cols,
        cmap="gray",
        vmin=0.0,
        vmax=1.0,
        titles=titles,
        title=title,
        scale=scale,
    )


def show_atoms(
    weight,
    n_rows: int | None = None,
    n_cols: int | None = None,
    *,
    max_atoms: int | None = None,
    title: str | None = None,
    scale: float = 0.8,
):
    """Dictionary atoms (the columns of weight: (784, L)) as 28x28 images, each with its own
    symmetric colour range ``[-max|w|, max|w|]`` on a diverging map (0 is white).

    max_atoms: show only the first ``max_atoms`` columns.
    """
    w = _to_numpy(weight, "weight")
    if w.ndim != 2 or w.shape[0] != 784:
        raise ValueError(f"weight must be (784, L); got {w.shape}")
    if max_atoms is not None:
        w = w[:, : check_int("max_atoms", max_atoms, low=1)]
    atoms = w.T.reshape(-1, 28, 28)
    bound = np.abs(atoms).reshape(len(atoms), -1).max(axis=1)
    bound = np.where(bound > 0, bound, 1.0)  # an all-zero atom: any symmetric range shows white
    return _image_grid(
        atoms,
        n_rows,
        n_cols,
        cmap="RdBu_r",
        vmin=-bound,
        vmax=bound,
        titles=None,
        title=title,
        scale=scale,
    )


def plot_soft_threshold(thresholds: Sequence[float] = (0.5, 1.0), *, limit: float = 3.0):
    """The soft threshold (signed, and non-negative as used for codes) next to the identity.

    Draws :func:`sparselab.solvers.soft_threshold` itself, one curve per threshold on each panel.
    """
    from ..solvers import soft_threshold

    if len(thresholds) == 0 or any(t < 0 for t in thresholds):
        raise ValueError(f"thresholds must be a non-empty list of numbers >= 0; got {thresholds!r}")
    u = torch.linspace(-limit, limit, 601, dtype=torch.float64)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, positive in zip(axes, (False, True), strict=True):
        ax.plot(u, u, color="0.7", lw=1, ls="--", label="identity")
        for k, t in enumerate(thresholds):
            ax.plot(
                u,
                soft_threshold(u, t, positive=positive),
                lw=2,
                color=_FALLBACK[k + 2],
                label=rf"$\eta\lambda = {t:g}$",
            )
        ax.axhline(0, color="0.3", lw=0.5)
        ax.axvline(0, color="0.3", lw=0.5)
        ax.set_xlabel("input $u$")
        ax.set_title(
            "non-negative: relu$(u - \\eta\\lambda)$"
            if positive
            else "signed: sign$(u)\\,$relu$(|u| - \\eta\\lambda)$"
        )
        ax.legend(loc="upper left", fontsize=8)
    axes[0].set_ylabel(r"prox$_{\eta\lambda}(u)$")
    fig.tight_layout()
    return fig


def plot_convergence(
    histories: Mapping[str, object],
    *,
    optimum: float | None = None,
    reference_slopes: Sequence[int] = (),
    title: str | None = None,
):
    """Energy against iteration on log-log axes, one line per solver.

    histories: name -> energies F(z_k), k = 1, 2, ... (a 1-D tensor or sequence);
    optimum: F*; when given, the y axis is the gap F(z_k) - F* (non-positive gaps are dropped);
    reference_slopes: e.g. (1, 2) adds dotted lines C / k and C / k^2 anchored at the first point
    of the first history, to compare rates.
    """
    if not histories:
        raise ValueError("histories must name at least one energy history")
    fig, ax = plt.subplots(figsize=(6, 4))
    first = None
    for k, (name, h) in enumerate(histories.items()):
        h = _to_numpy(h, f"histories[{name!r}]").ravel()
        if h.size == 0:
            raise ValueError(f"histories[{name!r}] is empty")
        it = np.arange(1, len(h) + 1)
        y = h - optimum if optimum is not None else h
        keep = y > 0
        ax.plot(it[keep], y[keep], lw=2, color=model_color(name, k), label=name)
        if first is None and keep.any():
            first = (it[keep][0], y[keep][0], len(h))
    if first is not None:
        k0, y0, n = first
        ks = np.arange(k0, n + 1)
        for p in reference_slopes:
            ax.plot(
                ks,
                y0 * (k0 / ks) ** p,
                ls=":",
                color="0.4",
                lw=1.2,
                label=f"$\\propto 1/k^{p}$" if p != 1 else "$\\propto 1/k$",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("iteration $k$")
    ax.set_ylabel("$F(z_k) - F^*$ (energy)" if optimum is not None else "$F(z_k)$ (energy)")
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    return fig


_UNITS = {"psnr": "dB", "seconds": "s", "time": "s", "zeros": "%", "sparsity": "%", "lr": ""}


def _label(key: str) -> str:
    unit = next((u for part, u in _UNITS.items() if part in key.lower()), "")
    return f"{key} ({unit})" if unit else key


def plot_history(
    history: Sequence[Mapping[str, float]],
    keys: Sequence[str],
    *,
    x: str = "epoch",
    label: str | None = None,
    color: str | None = None,
    fig=None,
    logy: bool = False,
):
    """Training curves: one panel per key, ``row[key]`` against ``row[x]`` over the history rows.

    history: list of dicts (e.g. ``{"epoch": 3, "loss": 0.21, "val_psnr": 17.5}``); rows missing a
    key are skipped for that key. Pass the returned ``fig`` back with another ``label`` to overlay
    a second run on the same panels; a run recorded before a column existed (no row has the key)
    draws nothing in that panel, but the first call needs every key.
    """
    if len(history) == 0:
        raise ValueError("history must hold at least one row")
    if isinstance(keys, str) or len(keys) == 0:
        raise ValueError(f"keys must be a non-empty list of column names; got {keys!r}")
    missing = [k for k in (*keys, x) if not any(k in row for row in history)]
    if missing and (fig is None or x in missing or len(missing) == len(keys)):
        raise ValueError(f"history rows have no {missing}; available: {sorted(history[0])}")
    if fig is None:
        fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.2), squeeze=False)
        axes = list(axes.flat)
    else:
        axes = fig.axes
        if len(axes) != len(keys):
            raise ValueError(f"fig has {len(axes)} axes but {len(keys)} keys were given")
    for ax, key in zip(axes, keys, strict=True):
        rows = [r for r in history if key in r and x in r]
        index = len(ax.get_lines())  # an unnamed model takes the next colour of the cycle
        if rows:
            ax.plot(
                [r[x] for r in rows],
                [r[key] for r in rows],
                marker="o",
                ms=3,
                label=label,
                color=color or model_color(label or "", index),
            )
        ax.set_xlabel(_label(x))
        ax.set_ylabel(_label(key))
        if logy:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        if label:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_variance_hinge(
    thresholds: Sequence[float] = (0.5, 1.0), *, beta: float = 1.0, limit: float = 1.5
):
    """The variance hinge of one component, ``beta * relu(T - s)^2``, against its std s in
    ``[0, limit]``, one curve per threshold T (chapter 5)."""
    if beta <= 0 or limit <= 0 or len(thresholds) == 0:
        raise ValueError(
            f"beta and limit must be > 0 and thresholds non-empty; got {beta}, {limit}, "
            f"{thresholds!r}"
        )
    s = np.linspace(0.0, limit, 301)
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for k, T in enumerate(thresholds):
        ax.plot(s, beta * np.maximum(T - s, 0.0) ** 2, color=model_color("", k), label=f"T = {T}")
    ax.set_xlabel("$s_j$ (std of component j over the batch)")
    ax.set_ylabel(r"$\beta\,\mathrm{relu}(T - s_j)^2$ (energy)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_code_std(codes: Mapping[str, object], *, T: float | None = None, bins: int = 30):
    """Histograms of the per-component standard deviations (over the samples) of each model's
    codes, ``codes: {name: (N, L)}``, with the hinge threshold T as a vertical line (chapter 5)."""
    if not codes:
        raise ValueError("codes must hold at least one (N, L) array")
    stds = {}
    for name, z in codes.items():
        z = _to_numpy(z, f"codes[{name!r}]")
        if z.ndim != 2 or z.shape[0] < 2:
            raise ValueError(f"codes[{name!r}] must be (N, L) with N >= 2; got {z.shape}")
        stds[name] = z.std(axis=0, ddof=1)
    edges = np.linspace(0.0, max(float(s.max()) for s in stds.values()) * 1.05 + 1e-12, bins + 1)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for k, (name, s) in enumerate(stds.items()):
        ax.hist(s, bins=edges, alpha=0.6, color=model_color(name, k), label=name)
    if T is not None:
        ax.axvline(T, color="k", ls="--", lw=1, label=f"T = {T}")
    ax.set_xlabel("std of a code component over the samples")
    ax.set_ylabel("count (components)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
