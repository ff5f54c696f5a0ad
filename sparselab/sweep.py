"""Train several independent models (seeds x lam) in one batched pass (Method §4, one preset).

The K models of a sweep share every hyper-parameter of the preset but ``lam`` and ``seed``. Their
parameters are stacked (:mod:`sparselab.stacked`): each batch is K batches ``y: (K, B, P)`` (model k
shuffled with its own seed, as :func:`sparselab.train.train` shuffles), FISTA solves the K problems
at once (per-model ``lam``, per-model hinge statistics), and one Adam step on the stacked parameters
is K independent Adam steps (Adam is elementwise and the loss is a sum of per-model losses). Each
model is initialised exactly as :func:`~sparselab.train.build_models` initialises it alone, and its
run folder holds the files of a ``train`` run (``config.json``, ``history.csv``, ``metrics.json``,
``decoder.pt``, ``encoder.pt``), readable by :func:`~sparselab.train.load_run`; ``checkpoint.pt``
beside them (every epoch, atomic) lets an interrupted sweep resume, or a finished one go on.

``python -m sparselab sweep --preset mnist-vdl --seeds 5 --lam 0.005 0.01 0.02 --out runs/sweep``
(add ``--resume`` to continue it after an interruption, with a larger ``--epochs`` to extend it)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
import warnings
from pathlib import Path

import torch

from .progress import progress as progress_bar
from .stacked import stack_models
from .train import (
    CHECKPOINT,
    CONFIG,
    DECODER,
    ENCODER,
    HISTORY,
    METRICS,
    PRESETS,
    TrainConfig,
    TrainResult,
    _atomic_save,
    _atomic_write_text,
    _changed,
    _checkpoint,
    _decoder_lr,
    _final_metrics,
    _frozen_message,
    _history_csv,
    _load_splits,
    _optimizers,
    _restore,
    _stall_message,
    _state,
    _tf32,
    _train_epoch,
    _validate_epoch,
    build_models,
    load_split,
    make_config,
    resolve_device,
)

__all__ = ["sweep", "sweep_configs", "build_stacked", "run_name"]

_PER_MODEL = ("lam", "seed")  # the fields that may differ between the models of a sweep


def sweep_configs(preset: str | TrainConfig, lams, seeds, **overrides) -> list[TrainConfig]:
    """One validated config per (lam, seed), lam-major: ``[(lam0, seed0), (lam0, seed1), ...]``."""
    lams, seeds = list(lams), list(seeds)
    if not lams or not seeds:
        raise ValueError("lams and seeds must each hold at least one value")
    if len(set(lams)) != len(lams) or len(set(seeds)) != len(seeds):
        raise ValueError(f"lams and seeds must not repeat; got lams={lams}, seeds={seeds}")
    return [make_config(preset, **overrides, lam=lam, seed=s) for lam in lams for s in seeds]


def run_name(config: TrainConfig) -> str:
    """Folder name of a model of a sweep: ``lam0.01_seed3``."""
    return f"lam{config.lam:g}_seed{config.seed}"


def build_stacked(configs: list[TrainConfig]):
    """Stacked decoder and encoder of K configs, each model initialised as ``build_models``."""
    singles = [build_models(c) for c in configs]
    return stack_models([d for d, _ in singles]), stack_models([e for _, e in singles])


def _check_resume(configs: list[TrainConfig], out: Path | None) -> None:
    """Raise ValueError unless ``out`` holds a sweep of these configs (epochs and device aside)."""
    if out is None or not (out / CHECKPOINT).is_file():
        raise ValueError(f"resume needs a sweep folder with {CHECKPOINT}; got out={out}")
    # mmap: only the configs are read, not the K models' weights and optimiser states
    saved = torch.load(out / CHECKPOINT, map_location="cpu", weights_only=True, mmap=True)
    saved = saved["configs"]
    if [(c.lam, c.seed) for c in configs] != [(c["lam"], c["seed"]) for c in saved]:
        lams_seeds = sorted({(c["lam"], c["seed"]) for c in saved})
        raise ValueError(f"resume: the sweep in {out} trains (lam, seed) = {lams_seeds}")
    changed = _changed(configs[0], saved[0])
    if changed:
        raise ValueError(f"resume: config differs from the sweep in {out} in {changed}")


def sweep(
    configs: list[TrainConfig],
    out: str | Path | None = None,
    *,
    progress: bool = True,
    resume: bool = False,
    allow_tf32: bool = False,
) -> list[TrainResult]:
    """Train the K models of ``configs`` (equal but for lam and seed) in one batched pass.

    out: a folder that receives one run folder per model (:func:`run_name`), with the files of a
    ``train`` run, and the sweep's ``checkpoint.pt`` (None: nothing written); resume: continue from
    ``out/checkpoint.pt`` (the same configs; ``epochs`` may grow; same numbers as an uninterrupted
    sweep); allow_tf32: TF32 matmuls on CUDA (off by default for fidelity; no effect on the CPU).
    Returns one :class:`~sparselab.train.TrainResult` per model.
    """
    if not configs or not all(isinstance(c, TrainConfig) for c in configs):
        raise ValueError("configs must be a non-empty list of TrainConfig")
    shared = [
        {k: v for k, v in dataclasses.asdict(c).items() if k not in _PER_MODEL} for c in configs
    ]
    if any(s != shared[0] for s in shared):
        raise ValueError(f"configs may differ only in {_PER_MODEL}")
    names = [run_name(c) for c in configs]
    if len(set(names)) != len(names):
        raise ValueError("configs repeat a (lam, seed) pair")
    c0, out = configs[0], Path(out) if out is not None else None
    if resume:
        _check_resume(configs, out)
    device = resolve_device(c0.device)
    x_train, x_val, scale_val, x_test, scale_test = _load_splits(c0, device)
    decoder, encoder = (m.to(device) for m in build_stacked(configs))
    opt_d, opt_e = _optimizers(c0, decoder, encoder)
    K = len(configs)
    histories: list[list[dict]] = [[] for _ in range(K)]
    best = [{"val_energy": math.inf, "epoch": 0} for _ in range(K)]
    if resume:
        histories, best = _restore(out / CHECKPOINT, device, decoder, encoder, opt_d, opt_e)
    as_dicts = [dataclasses.asdict(c) for c in configs]  # checked by a resume
    stalled: set[int] = set()
    frozen: set[int] = set()
    with _tf32(allow_tf32 and device.type == "cuda"):
        epochs = progress_bar(
            range(len(histories[0]), c0.epochs), enabled=progress, desc="sweep", unit="epoch"
        )
        for epoch in epochs:
            start = time.perf_counter()
            rows = _train_epoch(
                configs, decoder, encoder, opt_d, opt_e, x_train, epoch, progress, stacked=True
            )
            for k, (config, row) in enumerate(zip(configs, rows, strict=True)):
                dec_k, enc_k = decoder.unstack(k), encoder.unstack(k)
                row = {"epoch": epoch + 1, "lr_decoder": _decoder_lr(config, epoch)} | row
                row |= _validate_epoch(config, dec_k, enc_k, x_val, scale_val)
                histories[k].append(row)
                if row["val_energy"] < best[k]["val_energy"] or best[k]["epoch"] == 0:
                    best[k] = {
                        "val_energy": row["val_energy"],
                        "epoch": epoch + 1,
                        "decoder": _state(dec_k),
                        "encoder": _state(enc_k),
                    }
            seconds = time.perf_counter() - start  # the batched epoch, shared by the K models
            for k, history in enumerate(histories):
                history[-1]["seconds"] = seconds
                if k not in stalled and (message := _stall_message(history, configs[k])):
                    stalled.add(k)  # once a model, as train warns once a run
                    warnings.warn(f"{names[k]}: {message}", RuntimeWarning, stacklevel=2)
                if k not in frozen and (message := _frozen_message(history[-1], configs[k])):
                    frozen.add(k)
                    warnings.warn(f"{names[k]}: {message}", RuntimeWarning, stacklevel=2)
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                checkpoint = _checkpoint(
                    decoder, encoder, opt_d, opt_e, histories, best, configs=as_dicts
                )
                _atomic_save(checkpoint, out / CHECKPOINT)
    results = []
    for k, config in enumerate(configs):
        dec_k, enc_k = decoder.unstack(k), encoder.unstack(k)
        metrics = _final_metrics(
            dec_k, enc_k, best[k], histories[k], (x_val, scale_val), (x_test, scale_test), device
        ) | {"sweep_models": K}
        run_dir = out / names[k] if out is not None else None
        if run_dir is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
            _atomic_write_text(
                json.dumps(dataclasses.asdict(config), indent=2) + "\n", run_dir / CONFIG
            )
            _atomic_write_text(_history_csv(histories[k]), run_dir / HISTORY)
            _atomic_save(best[k]["decoder"], run_dir / DECODER)
            _atomic_save(best[k]["encoder"], run_dir / ENCODER)
            _atomic_write_text(json.dumps(metrics, indent=2) + "\n", run_dir / METRICS)
        results.append(TrainResult(config, dec_k, enc_k, histories[k], metrics, run_dir))
    return results


# ----------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m sparselab sweep``."""
    parser.add_argument("--preset", default="mnist-vdl", help=f"one of {', '.join(PRESETS)}")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0 .. N-1 (default 1)")
    parser.add_argument("--lam", type=float, nargs="+", help="lam values (default: the preset's)")
    parser.add_argument("--out", type=Path, required=True, help="folder of the run folders")
    parser.add_argument("--epochs", type=int, help="default: the preset's")
    for split in ("train", "val", "test"):
        parser.add_argument(f"--n-{split}", type=int, help=f"first n {split} samples (default all)")
    parser.add_argument("--device", help="auto, cpu or cuda (default: the preset's)")
    parser.add_argument(
        "--allow-tf32", action="store_true", help="TF32 matmuls on CUDA (off: full fp32)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the sweep in --out (same preset, lams and seeds; --epochs may grow)",
    )


def run(args: argparse.Namespace) -> int:
    """``python -m sparselab sweep``: validate everything, then train and print one line a model."""
    from .cli import UsageError

    if args.seeds < 1:
        raise UsageError(f"--seeds must be >= 1; got {args.seeds}")
    if not args.resume and args.out.exists() and any(args.out.iterdir()):
        raise UsageError(
            f"{args.out} is not empty: choose another --out, or --resume the sweep there"
        )
    overrides = {
        n: getattr(args, n)
        for n in ("epochs", "n_train", "n_val", "n_test", "device")
        if getattr(args, n) is not None
    }
    try:
        lams = args.lam or [make_config(args.preset).lam]
        configs = sweep_configs(args.preset, lams, range(args.seeds), **overrides)
        load_split(configs[0], "train")  # a missing data file is a usage error too
        resolve_device(configs[0].device)
        if args.resume:
            _check_resume(configs, args.out)
    except (ValueError, OSError, RuntimeError) as err:  # DataError is a RuntimeError
        raise UsageError(str(err)) from None
    results = sweep(
        configs,
        args.out,
        progress=not args.no_progress,
        resume=args.resume,
        allow_tf32=args.allow_tf32,
    )
    for r in results:
        m = r.metrics
        print(
            f"{r.out}: best epoch {m['best_epoch']}/{m['epochs']}, "
            f"test PSNR {m['test_psnr']:.2f} dB, {100 * m['test_zero_fraction']:.1f}% zeros"
        )
    print(f"{len(results)} models in {results[0].metrics['seconds']:.1f} s")
    return 0
