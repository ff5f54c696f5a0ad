"""FISTA's safeguards on a trained multi-layer decoder, and training with them (issue 36).

    python -m benchmarks.bench_safeguard --device cpu \
        --artifact book/results/mnist/mnist-vdl-nl/lam0.01_seed0 \
        --artifact book/results/variants/mnist-vdl-nl-backtrack

Inference: the kept MNIST VDL-NL model (``sl.load_pretrained("mnist-vdl-nl")``, epoch 44) codes
the first ``--n`` test digits in batches of 250 from its encoder's predictions, at the preset's
settings, with each ``safeguard``: seconds per batch (the fastest of three timings), FISTA steps
per sample, the share of samples at the 200-step cap, and the energy's gap to a long run
(backtracking, 2,000 steps at tolerance 1e-7). Training: one row per artifact folder (a finished
run exported by ``reproduce`` or ``export_variant``): its wall time, steps per sample at epochs 1,
41 and the last, best epoch, test PSNR and zeros, denoising at sigma 1 and 1-label accuracy.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import sparselab as sl
from benchmarks.bench_train import write_rows
from sparselab.util.device import resolve_device

BATCH = 250


def inference_rows(device, n: int) -> list[dict]:
    decoder, encoder, config = sl.load_pretrained("mnist-vdl-nl")
    decoder, encoder = decoder.to(device), encoder.to(device)
    y = sl.load_mnist("test", n=n).x.to(device)
    kw = dict(lam=config.lam, beta=config.beta, T=config.T, gamma=config.gamma)
    batches = []
    for start in range(0, n, BATCH):
        y_b = y[start : start + BATCH]
        with torch.no_grad():
            e = encoder(y_b)
        best = sl.fista(decoder, y_b, z_target=e, step=config.eta, max_iter=2000, tol=1e-7,
                        safeguard="backtrack", **kw).energy  # fmt: skip
        batches.append((y_b, e, float(best)))
    rows = []
    for safeguard in (None, "backtrack", "restart"):
        seconds, steps, capped, gaps = [], [], [], []
        for y_b, e, best in batches:
            times = []
            for _ in range(3):
                start = time.perf_counter()
                res = sl.fista(decoder, y_b, z_target=e, step=config.eta, max_iter=config.max_iter,
                               tol=config.tol, safeguard=safeguard, **kw)  # fmt: skip
                times.append(time.perf_counter() - start)
            seconds.append(min(times))
            steps.append(res.n_iter.double().mean().item())
            capped.append((res.n_iter == config.max_iter).double().mean().item())
            gaps.append((float(res.energy) - best) / best)
        k = len(batches)
        rows.append({
            "safeguard": str(safeguard), "device": device.type, "samples": n,
            "seconds_per_batch": sum(seconds) / k, "steps_per_sample": sum(steps) / k,
            "at_cap": sum(capped) / k, "energy_gap": sum(gaps) / k,
        })  # fmt: skip
    return rows


def training_row(artifact: Path) -> dict:
    """What a finished run's artifact folder records, for the training table."""
    metrics = json.loads((artifact / "metrics.json").read_text())
    history = json.loads((artifact / "history.json").read_text())
    denoise = json.loads((artifact / "denoise.json").read_text())
    classify = artifact / "classify.json"
    one_label = None
    if classify.is_file():
        one_label = json.loads(classify.read_text())["codes"]["linear"]["1"]["mean"]
    # variants/manifest.json, or a grid's book/results/<data>/manifest.json
    root = artifact.parent if (artifact.parent / "manifest.json").is_file() else artifact.parents[1]
    manifest = json.loads((root / "manifest.json").read_text())
    entry = next(m for m in manifest if root / m["dir"] == artifact)
    steps = {row["epoch"]: row["fista_iter_sample"] for row in history}
    return {
        "artifact": artifact.as_posix(),
        "safeguard": entry["overrides"].get("fista_safeguard", "None"),
        "overrides": entry["overrides"],
        "device": metrics["device"],
        "epochs": metrics["epochs"],
        "hours": metrics["seconds"] / 3600,
        "steps_epoch_1": steps[1],
        "steps_epoch_41": steps.get(41),
        "steps_last": steps[max(steps)],
        "best_epoch": metrics["best_epoch"],
        "test_psnr": metrics["test_psnr"],
        "test_zero_fraction": metrics["test_zero_fraction"],
        "denoise_sigma1": denoise["1.0"]["psnr"],
        "one_label": one_label,
        "run_machine": entry.get("machine", ""),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=1000, help="test digits coded (default 1000)")
    parser.add_argument("--artifact", type=Path, action="append", default=[],
                        help="a finished run's artifact folder (repeatable)")  # fmt: skip
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    device = resolve_device(args.device)
    rows = [dict(r, table="inference") for r in inference_rows(device, args.n)]
    rows += [dict(training_row(a), table="training") for a in args.artifact]
    write_rows(rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
