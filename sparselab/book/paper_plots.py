"""Figures of the paper's results (chapters 9 and 10): PSNR against sparsity, low-data
classification, FISTA's steps per sample; in the colours of :mod:`sparselab.book.plots`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .plots import _to_numpy, model_color

__all__ = ["plot_sparsity_psnr", "plot_classification", "plot_steps"]


def plot_sparsity_psnr(
    points_by_model: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str | None = None,
    annotations: Mapping[str, Sequence[str]] | None = None,
    errors: Mapping[str, Sequence[tuple[float, float]]] | None = None,
):
    """PSNR against sparsity, the paper's main figure: one line per model, one point per lam.

    points_by_model: name -> [(zeros_percent, psnr_db), ...] (sorted by sparsity for drawing);
    annotations: name -> one label per point (e.g. the lam values);
    errors: name -> one (zeros_percent_std, psnr_db_std) per point, drawn as error bars (the spread
    over seeds).
    """
    if not points_by_model:
        raise ValueError("points_by_model must name at least one model")
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, (name, points) in enumerate(points_by_model.items()):
        pts = _to_numpy(points, f"points_by_model[{name!r}]")
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
            raise ValueError(
                f"points_by_model[{name!r}] must be (zeros_percent, psnr_db) pairs; got {pts.shape}"
            )
        order = np.argsort(pts[:, 0], kind="stable")
        color = model_color(name, k)
        ax.plot(pts[order, 0], pts[order, 1], marker="o", lw=1.5, color=color, label=name)
        if errors and name in errors:
            err = _to_numpy(errors[name], f"errors[{name!r}]")
            if err.shape != pts.shape:
                raise ValueError(
                    f"errors[{name!r}] must hold one (zeros_std, psnr_std) per point, shape "
                    f"{pts.shape}; got {err.shape}"
                )
            ax.errorbar(pts[:, 0], pts[:, 1], xerr=err[:, 0], yerr=err[:, 1], fmt="none",
                        ecolor=color, capsize=3, lw=1)  # fmt: skip
        if annotations and name in annotations:
            for (zx, py), text in zip(pts, annotations[name], strict=True):
                ax.annotate(text, (zx, py), textcoords="offset points", xytext=(4, 4), fontsize=7,
                            color=color)  # fmt: skip
    ax.set_xlabel("code entries equal to zero (%)")
    ax.set_ylabel("PSNR (dB)")
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def plot_classification(results: Mapping[str, Mapping], *, title: str | None = None):
    """Test accuracy against labelled samples per class, with the spread over seeds as error bars.

    results: ``{name: classify_output}`` where ``classify_output`` is what
    :func:`sparselab.evaluate.classify` returns (``{"codes"|"pixels": {classifier: {N: {"mean",
    "std"}}}}``); one panel per classifier, one line per (name, features).
    """
    if not results:
        raise ValueError("results must hold at least one classify() output")
    for name, r in results.items():
        if not isinstance(r, Mapping) or not r or not set(r) <= {"codes", "pixels"}:
            got = sorted(r) if isinstance(r, Mapping) else type(r).__name__
            raise ValueError(
                f"results[{name!r}] must be a classify() output, keyed 'codes' and 'pixels'; "
                f"got {got}"
            )
    classifiers = sorted({c for r in results.values() for feats in r.values() for c in feats})
    fig, axes = plt.subplots(
        1, len(classifiers), figsize=(5 * len(classifiers), 3.6), squeeze=False
    )
    for ax, clf in zip(axes.flat, classifiers, strict=True):
        for k, (name, r) in enumerate(results.items()):
            for features, style in (("codes", "-"), ("pixels", ":")):
                cell = r.get(features, {}).get(clf)
                if not cell or (features == "pixels" and k > 0):  # one pixel baseline is enough
                    continue
                ns = sorted(cell, key=int)
                ax.errorbar([int(n) for n in ns], [100 * cell[n]["mean"] for n in ns],
                            yerr=[100 * cell[n]["std"] for n in ns], ls=style, marker="o", ms=3,
                            capsize=2, color="0.4" if features == "pixels" else model_color(name, k),
                            label="raw pixels" if features == "pixels" else name)  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("labelled samples per class")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{clf} classifier")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_steps(checks: Mapping[str, Mapping[str, Mapping]], *, max_iter: int = 200):
    """Share of a batch's samples still iterating after k FISTA steps, one panel per run and one
    line per step size: ``checks: {run name: {eta: {"steps": [steps of each sample], ...}}}``, as
    written by :func:`sparselab.runs.reproduce.step_check`. A line that stays above 0 at ``max_iter``
    is the share of codes that never converged."""
    if not checks or not all(checks.values()):
        raise ValueError("checks must map each run name to a non-empty {eta: {'steps': [...]}}")
    fig, axes = plt.subplots(
        1, len(checks), figsize=(4 * len(checks), 3.2), squeeze=False, sharey=True
    )
    k = np.arange(max_iter)  # after k < max_iter steps; a sample at the cap stays to the end
    for ax, (name, by_eta) in zip(axes.flat, checks.items(), strict=True):
        for i, (eta, check) in enumerate(by_eta.items()):
            steps = np.asarray(check["steps"])
            still = (steps[None, :] > k[:, None]).mean(axis=1)
            ax.step(k, 100 * still, where="post", color=model_color("", i), label=f"η = {eta}")
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlim(0, max_iter)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("FISTA steps k")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    axes.flat[0].set_ylabel("samples still iterating (%)")
    fig.tight_layout()
    return fig
