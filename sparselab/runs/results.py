"""The paper's results read back: the manifests and artifacts that
:func:`~sparselab.runs.reproduce.reproduce` writes, averaged over seeds (:func:`summarize`), their
training time (:func:`compute`), sparsity-PSNR curves and pooled classification (chapter 10)."""

from __future__ import annotations

import itertools
import json
import math
import statistics
from pathlib import Path

import torch

from ..metrics import mean_std

__all__ = [
    "STALL_STEPS",
    "load_results",
    "summarize",
    "compute",
    "sparsity_curve",
    "curve_at",
    "psnr_at_sparsity",
    "pool_classify",
]

# an epoch whose batches averaged this many FISTA steps or more: some codes no longer converge
STALL_STEPS = 100


def load_results(data: str, results_dir: str | Path = "book/results") -> list[dict]:
    """The manifest's entries of ``results_dir/<data>``, each with its files loaded: ``metrics``,
    ``history``, ``denoise``, ``classify`` (dicts, where present) and ``atoms`` ((L, P) float32
    tensor, where present)."""
    root = Path(results_dir) / data
    if not (root / "manifest.json").is_file():
        hint = (
            f": run `python -m sparselab reproduce {data}`" if data in ("mnist", "patches") else ""
        )
        raise FileNotFoundError(f"no results in {root} (no manifest.json){hint}")
    entries = []
    for entry in json.loads((root / "manifest.json").read_text()):
        entry = dict(entry)
        for name in entry["files"]:
            path = root / entry["dir"] / name
            key = name.rsplit(".", 1)[0]
            if name.endswith(".pt"):
                entry[key] = torch.load(path, weights_only=True).float()
            else:
                entry[key] = json.loads(path.read_text())
        entries.append(entry)
    return entries


def summarize(entries: list[dict]) -> list[dict]:
    """One row per (preset, lam, epochs): test PSNR and % zeros as mean and std over seeds, and
    where every seed has it, ``denoise``: ``{sigma: {"noisy_psnr", "psnr", "psnr_std"}}``."""
    groups: dict[tuple, list[dict]] = {}
    for e in entries:  # runs of different lengths are different points, never averaged
        groups.setdefault((e["preset"], e["lam"], e["metrics"]["epochs"]), []).append(e)
    rows = []
    for (preset, lam, epochs), es in sorted(groups.items()):
        ms = [e["metrics"] for e in es]
        psnr, psnr_std = mean_std([m["test_psnr"] for m in ms])
        zeros, zeros_std = mean_std([100 * m["test_zero_fraction"] for m in ms])
        row = {"preset": preset, "lam": lam, "seeds": len(ms), "epochs": epochs,
               "test_psnr": psnr, "test_psnr_std": psnr_std,
               "zeros_percent": zeros, "zeros_percent_std": zeros_std}  # fmt: skip
        if all("denoise" in e for e in es):
            row["denoise"] = {}
            for sigma in es[0]["denoise"]:
                mean, std = mean_std([e["denoise"][sigma]["psnr"] for e in es])
                noisy = mean_std([e["denoise"][sigma]["noisy_psnr"] for e in es])[0]
                row["denoise"][sigma] = {"noisy_psnr": noisy, "psnr": mean, "psnr_std": std}
        rows.append(row)
    return rows


def compute(entries: list[dict]) -> list[dict]:
    """One row per preset: the training time its runs took, from their histories. ``runs``,
    ``epochs`` (all runs together), ``hours`` (their sum), ``epoch_seconds`` (the median epoch),
    ``stalled_epochs`` (those whose batches averaged ``STALL_STEPS`` FISTA steps or more) and their
    median ``stalled_epoch_seconds`` (None without any), and ``longest_run``: ``{"lam", "seed",
    "epochs", "hours"}``. Medians, not maxima: an epoch's wall time also holds whatever else its
    machine did meanwhile (a run paused for a benchmark, say)."""
    groups: dict[str, list[dict]] = {}
    for e in entries:
        groups.setdefault(e["preset"], []).append(e)
    rows = []
    for preset, es in sorted(groups.items()):
        epochs = [row["seconds"] for e in es for row in e["history"]]
        stalled = [row["seconds"] for e in es for row in e["history"]
                   if row["fista_iter"] >= STALL_STEPS]  # fmt: skip
        hours = [sum(row["seconds"] for row in e["history"]) / 3600 for e in es]
        longest, longest_hours = max(zip(es, hours, strict=True), key=lambda pair: pair[1])
        rows.append({
            "preset": preset, "runs": len(es), "epochs": len(epochs),
            "hours": sum(hours), "epoch_seconds": statistics.median(epochs),
            "stalled_epochs": len(stalled),
            "stalled_epoch_seconds": statistics.median(stalled) if stalled else None,
            "longest_run": {"lam": longest["lam"], "seed": longest["seed"],
                            "epochs": len(longest["history"]), "hours": longest_hours},
        })  # fmt: skip
    return rows


def sparsity_curve(rows: list[dict], preset: str) -> list[tuple[float, float]]:
    """``preset``'s points (zeros_percent, test_psnr) from rows of :func:`summarize`, the longest
    run of each lam, sorted by sparsity."""
    longest: dict[float, dict] = {}
    for r in rows:
        if r["preset"] == preset and r["epochs"] >= longest.get(r["lam"], {"epochs": -1})["epochs"]:
            longest[r["lam"]] = r
    if not longest:
        raise ValueError(f"no rows for preset {preset!r}")
    return sorted((r["zeros_percent"], r["test_psnr"]) for r in longest.values())


def curve_at(curve: list[tuple[float, float]], zeros_percent: float) -> float:
    """The PSNR of a curve of (zeros_percent, psnr) points, sorted by sparsity, at
    ``zeros_percent``: linear between its two nearest points, NaN outside its range."""
    for (z0, p0), (z1, p1) in itertools.pairwise(curve):
        if z0 <= zeros_percent <= z1:
            return p0 if z1 == z0 else p0 + (p1 - p0) * (zeros_percent - z0) / (z1 - z0)
    return curve[0][1] if curve and zeros_percent == curve[0][0] else math.nan


def psnr_at_sparsity(rows: list[dict], preset: str, zeros_percent: float) -> float:
    """The PSNR of :func:`sparsity_curve` at ``zeros_percent`` (:func:`curve_at`)."""
    return curve_at(sparsity_curve(rows, preset), zeros_percent)


def pool_classify(outputs: list[dict]) -> dict:
    """Several :func:`sparselab.evaluate.classify` outputs (one per encoder seed) as one, each cell's
    mean and std taken over every accuracy of every seed (encoder seeds and labelled draws).

    The ``"pixels"`` baseline does not depend on the encoder: every output holds the same
    accuracies, so it is taken once (from the first) rather than counted once per seed."""
    if not outputs:
        raise ValueError("outputs must hold at least one classify() result")
    pooled: dict = {}
    for features, by_classifier in outputs[0].items():
        sources = outputs[:1] if features == "pixels" else outputs
        for classifier, by_n in by_classifier.items():
            for n in by_n:
                accs = [a for o in sources for a in o[features][classifier][n]["accuracies"]]
                mean, std = mean_std(accs)
                cell = {"mean": mean, "std": std, "accuracies": accs}
                pooled.setdefault(features, {}).setdefault(classifier, {})[n] = cell
    return pooled
