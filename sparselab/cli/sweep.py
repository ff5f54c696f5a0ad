"""``python -m sparselab sweep --preset NAME --lam ... --seeds N --out DIR``:
:func:`~sparselab.runs.trainer.sweep`, K models (seeds x lam) in one batched pass."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..runs import PRESETS, make_config, sweep
from ..runs.config import check_data, run_name, sweep_configs
from ..runs.store import CHECKPOINT, CONFIG
from ..runs.trainer import check_resume
from ..util.device import resolve_device
from . import UsageError, add_training_flags


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
    add_training_flags(parser)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the sweep in --out (same preset, lams and seeds; --epochs may grow)",
    )


def run(args: argparse.Namespace) -> int:
    """``python -m sparselab sweep``: validate everything, then train and print one line a model."""
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
        check_data(configs[0])  # a missing or damaged data file is a usage error too
        resolve_device(configs[0].device)
        resume = args.resume and (args.out / CHECKPOINT).is_file()
        if resume:
            check_resume(configs, args.out, "sweep")
        elif args.resume and not all((args.out / run_name(c) / CONFIG).is_file() for c in configs):
            # only a sweep of these configs killed before its first epoch starts again in place
            raise UsageError(f"resume needs a sweep folder with {CHECKPOINT}; got out={args.out}")
    except (ValueError, OSError, RuntimeError) as err:  # DataError is a RuntimeError
        raise UsageError(str(err)) from None
    results = sweep(
        configs,
        args.out,
        progress=not args.no_progress,
        resume=resume,
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
