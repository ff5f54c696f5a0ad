"""Training epoch on full MNIST (55,000 images, tol 1e-3) and the sweep's throughput.

    python -m benchmarks.bench_train [--device cpu|cuda] [--batches N] [--json out.json]

Times :func:`sparselab.train` 's own epoch (FISTA, both Adam steps, column rescaling) on the first
``batches`` batches of the training set and extrapolates to the 220 batches of an epoch (the row
says how many were measured; ``--batches 0``: the whole epoch). Peak memory: CUDA
``max_memory_allocated``; CPU: the process's peak resident set (``getrusage``, data included).
The sweep rows: models x epochs per second for K = 1 and K = 5 models of mnist-vdl in one pass.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time

import torch

from sparselab.runs import config as cfg
from sparselab.runs import loop
from sparselab.util.device import resolve_device

PRESETS = ("mnist-vdl", "mnist-sdl", "mnist-vdl-nl", "mnist-sdl-nl")
N_TRAIN = 55_000


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def write_rows(rows: list[dict], path: str | None) -> None:
    """The rows as JSON for benchmarks.report (nothing without a path)."""
    if path:
        with open(path, "w") as f:
            json.dump(rows, f, indent=1)


def _peak_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _timed(fn, device):
    fn(warmup=True)  # one untimed batch: first-call costs (allocations, kernels) are not an epoch's
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    _sync(device)
    start = time.perf_counter()
    out = fn(warmup=False)
    _sync(device)
    return time.perf_counter() - start, out


def bench_epoch(preset, device, x, batches):
    config = cfg.make_config(preset, device=device.type)
    decoder, encoder = (m.to(device) for m in cfg.build_models(config))
    opt_d, opt_e = loop.optimizers(config, decoder, encoder)
    per_epoch = math.ceil((N_TRAIN - 1) / config.batch_size)
    n = per_epoch if batches == 0 else min(batches, per_epoch)
    xs = x[: n * config.batch_size]
    seconds, stats = _timed(
        lambda warmup: loop.train_epoch(
            [config],
            decoder,
            encoder,
            opt_d,
            opt_e,
            xs[: config.batch_size] if warmup else xs,
            0,
            False,
        )[0],
        device,
    )
    return {
        "preset": preset,
        "device": device.type,
        "batches_measured": n,
        "seconds_per_epoch": seconds * per_epoch / n,
        "mean_fista_steps": stats["fista_iter_sample"],
        "fista_steps_per_batch": stats["fista_iter"],
        "peak_mb": _peak_mb(device),
    }


def bench_sweep(K, device, x, batches):
    configs = cfg.make_config("mnist-vdl", device=device.type)
    configs = cfg.sweep_configs(configs, [configs.lam], range(K))
    decoder, encoder = (m.to(device) for m in cfg.models_of(configs))
    opt_d, opt_e = loop.optimizers(configs[0], decoder, encoder)
    per_epoch = math.ceil((N_TRAIN - 1) / configs[0].batch_size)
    xs = x[: batches * configs[0].batch_size]
    seconds, stats = _timed(
        lambda warmup: loop.train_epoch(
            configs,
            decoder,
            encoder,
            opt_d,
            opt_e,
            xs[:250] if warmup else xs,
            0,
            False,
        ),
        device,
    )
    epoch = seconds * per_epoch / batches
    return {
        "preset": f"sweep mnist-vdl K={K}",
        "device": device.type,
        "batches_measured": batches,
        "seconds_per_epoch": epoch,
        "models_epochs_per_s": K / epoch,
        "mean_fista_steps": sum(r["fista_iter_sample"] for r in stats) / K,
        "peak_mb": _peak_mb(device),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--batches", type=int, default=None,
                        help="batches measured per preset (0: all; default: all for the linear "
                        "presets on any device and on CUDA, 10 for the MLP presets on the CPU)")  # fmt: skip
    parser.add_argument("--sweep-batches", type=int, default=20)
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    try:
        device = resolve_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    x = cfg.load_split(cfg.make_config("mnist-vdl"), "train")[0].to(device)
    rows = []
    for preset in PRESETS:
        batches = args.batches
        if batches is None:
            batches = 10 if device.type == "cpu" and preset.endswith("-nl") else 0
        rows.append(bench_epoch(preset, device, x, batches))
        print(rows[-1], flush=True)
    # the single-model epoch on the sweep's batches: what K = 1 in one pass should cost
    ref = bench_epoch("mnist-vdl", device, x, args.sweep_batches)
    ref["models_epochs_per_s"] = 1 / ref["seconds_per_epoch"]
    rows.append(dict(ref, preset="train mnist-vdl (one model, same batches)"))
    for K in (1, 5):
        rows.append(bench_sweep(K, device, x, args.sweep_batches))
        print(rows[-1], flush=True)
    write_rows(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
