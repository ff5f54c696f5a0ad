"""Training runs: :func:`train` (one model) and :func:`sweep` (K models, seeds x lam, in one
batched pass) are one outer loop, ``_fit``, around :func:`sparselab.runs.loop.train_epoch`.

After each epoch the validation energy is computed with the encoder's codes, and the model with
the lowest one is kept. History rows (one per epoch) hold the training and validation energies,
MSE, PSNR, sparsity, dead components, mean column norm, mean code L1, ``fista_iter`` (FISTA steps
per batch: until its last sample converged) and ``fista_iter_sample`` (steps per sample, the count
Method §8 quotes), ``train_code_max`` (the largest code entry FISTA returned: codes that diverged
show here), ``frozen_weights`` (the share of weights whose Adam second moment overflowed: they no
longer train) and seconds. A loss that is not finite stops training with a FloatingPointError.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..evaluate import test_metrics
from ..models import LISTAEncoder
from ..util.device import resolve_device, tf32
from ..util.progress import progress as progress_bar
from . import loop
from .config import (
    TrainConfig,
    changed_fields,
    check_sweep,
    load_splits,
    models_of,
    run_name,
    validate,
)
from .store import (
    CHECKPOINT,
    CONFIG,
    restore,
    save_checkpoint,
    saved_configs,
    state_dict,
    write_config,
    write_run,
)

__all__ = ["TrainResult", "train", "sweep", "check_resume", "stall_message", "frozen_message"]


@dataclass
class TrainResult:
    """What :func:`train` returns (and :func:`sweep`, one per model): the config, the best decoder
    and encoder (lowest validation energy, on the training device), the history (one dict per
    epoch), the final metrics and the run folder (None when nothing was written)."""

    config: TrainConfig
    decoder: nn.Module
    encoder: LISTAEncoder
    history: list[dict]
    metrics: dict
    out: Path | None = None


def stall_message(history: list[dict], config: TrainConfig) -> str | None:
    """A warning when FISTA's steps per batch climbed from at most half the cap to 90% of it: the
    decoder has outgrown the fixed step and some codes oscillate (chapter 10). A run that is slow
    from its first epoch (an overcomplete dictionary, a small ``max_iter``) is not a stall."""
    steps = [row["fista_iter"] for row in history]
    low = min(range(len(steps)), key=steps.__getitem__)
    if steps[-1] < 0.9 * config.max_iter or steps[low] > config.max_iter / 2:
        return None
    return (
        f"epoch {len(steps)}: FISTA's batches averaged {steps[-1]:.0f} of "
        f"max_iter={config.max_iter} steps, up from {steps[low]:.0f} at epoch {low + 1}: some "
        f"codes no longer converge. The decoder has outgrown the fixed step eta={config.eta:g} "
        f"and they oscillate; training goes on, slower. A smaller eta (e.g. {config.eta / 2:g}) "
        "converges again, until the decoder outgrows it too (chapter 10, 'FISTA iterations')."
    )


def frozen_message(row: dict, config: TrainConfig) -> str | None:
    """A warning once a run's weights start to freeze (``frozen_weights`` > 0)."""
    if row["frozen_weights"] == 0:
        return None
    return (
        f"epoch {row['epoch']:.0f}: {100 * row['frozen_weights']:.2g} % of the weights no longer "
        "train: a gradient overflowed Adam's second-moment estimate (inf), which makes their "
        "step 0 for good. Such gradients come from codes that diverged (train_code_max: "
        f"{row['train_code_max']:.3g}), the fixed step eta={config.eta:g} being too long for the "
        f"decoder: a smaller eta (e.g. {config.eta / 2:g}) converges where it diverged, until the "
        "decoder outgrows it too (chapter 10, 'FISTA iterations')."
    )


def final_metrics(decoder, encoder, best, history, val_data, test_data, device) -> dict:
    """Load the best state dicts into the models, then the run's metrics (encoder codes, Method
    §7) on validation and test data, each given as (x, pixel_scale)."""
    decoder.load_state_dict(best["decoder"])
    encoder.load_state_dict(best["encoder"])
    val, test = (test_metrics(decoder, encoder, x, scale) for x, scale in (val_data, test_data))
    return {
        "val_psnr": val["psnr"],
        "val_zero_fraction": val["zero_fraction"],
        "test_psnr": test["psnr"],
        "test_zero_fraction": test["zero_fraction"],
        "test_dead": test["dead_components"],
        "best_epoch": best["epoch"],
        "best_val_energy": best["val_energy"],
        "epochs": len(history),
        "seconds": sum(row["seconds"] for row in history),
        "device": str(device),
    }


def check_resume(configs: list[TrainConfig], out: Path | None, kind: str = "run") -> None:
    """Raise ValueError unless ``out`` holds a ``kind`` ("run" or "sweep") of these configs that
    can go on (epochs and device may change)."""
    out = Path(out) if out is not None else None
    run = kind == "run"
    if out is None or not (out / CHECKPOINT).is_file() or (run and not (out / CONFIG).is_file()):
        raise ValueError(f"resume needs a {kind} folder with {CHECKPOINT}; got out={out}")
    saved = [json.loads((out / CONFIG).read_text())] if run else saved_configs(out / CHECKPOINT)
    if [(c.lam, c.seed) for c in configs] != [(c["lam"], c["seed"]) for c in saved]:
        lams_seeds = sorted({(c["lam"], c["seed"]) for c in saved})
        raise ValueError(f"resume: the {kind} in {out} trains (lam, seed) = {lams_seeds}")
    changed = changed_fields(configs[0], saved[0])
    if changed:
        raise ValueError(f"resume: config differs from the {kind} in {out} in {changed}")


def _fit(configs, run_dirs, ckpt_dir, *, progress, resume, allow_tf32, sweeping) -> list:
    """Train ``configs`` (one model, or K stacked ones) for ``configs[0].epochs`` epochs, writing
    run ``k``'s files to ``run_dirs[k]`` and the checkpoint to ``ckpt_dir`` (None: nothing)."""
    c0, K = configs[0], len(configs)
    device = resolve_device(c0.device)
    # data errors surface before anything is written
    x_train, x_val, scale_val, x_test, scale_test = load_splits(c0, device)
    decoder, encoder = (m.to(device) for m in models_of(configs))
    opt_d, opt_e = loop.optimizers(c0, decoder, encoder)
    histories: list[list[dict]] = [[] for _ in configs]
    bests = [{"val_energy": math.inf, "epoch": 0} for _ in configs]
    if resume:
        histories, bests = restore(ckpt_dir / CHECKPOINT, device, decoder, encoder, opt_d, opt_e)
    for config, run_dir in zip(configs, run_dirs or [], strict=False):  # None: nothing written
        write_config(config, run_dir)

    def model(k: int):  # model k alone; the stacked parameters' copies for K > 1
        return (decoder, encoder) if K == 1 else (decoder.unstack(k), encoder.unstack(k))

    prefixes = [f"{run_name(c)}: " if sweeping else "" for c in configs]
    warned: set[tuple[str, int]] = set()  # each warning once a model
    epochs = progress_bar(
        range(len(histories[0]), c0.epochs),
        enabled=progress,
        desc="sweep" if sweeping else "training",
        unit="epoch",
    )
    with tf32(allow_tf32 and device.type == "cuda"):
        for epoch in epochs:
            start = time.perf_counter()
            rows = loop.train_epoch(
                configs, decoder, encoder, opt_d, opt_e, x_train, epoch, progress
            )
            improved = []
            for k, (config, row) in enumerate(zip(configs, rows, strict=True)):
                dec_k, enc_k = model(k)
                row = {"epoch": epoch + 1, "lr_decoder": loop.decoder_lr(config, epoch)} | row
                row |= loop.validate_epoch(config, dec_k, enc_k, x_val, scale_val)
                histories[k].append(row)
                if row["val_energy"] < bests[k]["val_energy"] or bests[k]["epoch"] == 0:
                    bests[k] = {
                        "val_energy": row["val_energy"],
                        "epoch": epoch + 1,
                        "decoder": state_dict(dec_k),
                        "encoder": state_dict(enc_k),
                    }
                    improved.append(k)
            seconds = time.perf_counter() - start  # a batched epoch's, shared by the K models
            for k, (config, history) in enumerate(zip(configs, histories, strict=True)):
                history[-1]["seconds"] = seconds
                for what, message in (
                    ("stall", stall_message(history, config)),
                    ("frozen", frozen_message(history[-1], config)),
                ):
                    if message and (what, k) not in warned:
                        warned.add((what, k))
                        warnings.warn(prefixes[k] + message, RuntimeWarning, stacklevel=3)
            if K == 1:
                row = histories[0][-1]
                epochs.set_postfix(
                    val_psnr=f"{row['val_psnr']:.2f}", zeros=f"{row['val_zero_fraction']:.2f}"
                )
            if ckpt_dir is not None:
                save_checkpoint(
                    ckpt_dir / CHECKPOINT, configs, decoder, encoder, opt_d, opt_e, histories, bests
                )
                for k, run_dir in enumerate(run_dirs):
                    write_run(run_dir, histories[k], bests[k] if k in improved else None, None)
    results = []
    for k, config in enumerate(configs):
        dec_k, enc_k = model(k)
        metrics = final_metrics(
            dec_k, enc_k, bests[k], histories[k], (x_val, scale_val), (x_test, scale_test), device
        ) | ({"sweep_models": K} if sweeping else {})
        run_dir = run_dirs[k] if run_dirs else None
        if run_dir is not None:
            write_run(run_dir, histories[k], None, metrics)
        results.append(TrainResult(config, dec_k, enc_k, histories[k], metrics, run_dir))
    return results


def train(
    config: TrainConfig,
    out: str | Path | None = None,
    *,
    progress: bool = True,
    resume: bool = False,
    allow_tf32: bool = False,
) -> TrainResult:
    """Train the decoder and encoder of ``config`` (Method §4); returns a :class:`TrainResult`.

    out: a folder for ``config.json``, ``history.csv``, ``checkpoint.pt`` (each epoch, atomic),
    the best ``decoder.pt`` / ``encoder.pt`` and ``metrics.json`` (None: keep everything in memory);
    resume: continue from ``out/checkpoint.pt`` (same numbers as an uninterrupted run);
    progress: a tqdm bar over epochs and batches; allow_tf32: TF32 matmuls on CUDA (off by default
    for fidelity; no effect on the CPU).
    """
    validate(config)
    out = Path(out) if out is not None else None
    if resume:
        check_resume([config], out, "run")
    (result,) = _fit(
        [config],
        [out] if out is not None else None,
        out,
        progress=progress,
        resume=resume,
        allow_tf32=allow_tf32,
        sweeping=False,
    )
    return result


def sweep(
    configs: list[TrainConfig],
    out: str | Path | None = None,
    *,
    progress: bool = True,
    resume: bool = False,
    allow_tf32: bool = False,
) -> list[TrainResult]:
    """Train the K models of ``configs`` (equal but for lam and seed) in one batched pass.

    Each model is initialised and shuffled exactly as :func:`train` would do it alone (K = 1 is a
    ``train`` run). out: a folder that receives one run folder per model
    (:func:`~sparselab.runs.config.run_name`), with the files of a ``train`` run, and the sweep's
    ``checkpoint.pt`` (None: nothing written); resume: continue from ``out/checkpoint.pt`` (the
    same configs; ``epochs`` may grow). Returns one :class:`TrainResult` per model.
    """
    check_sweep(configs)
    out = Path(out) if out is not None else None
    if resume:
        check_resume(configs, out, "sweep")
    return _fit(
        configs,
        [out / run_name(c) for c in configs] if out is not None else None,
        out,
        progress=progress,
        resume=resume,
        allow_tf32=allow_tf32,
        sweeping=True,
    )
