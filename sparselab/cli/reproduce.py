"""``python -m sparselab reproduce mnist|patches``: the paper's grids
(:func:`sparselab.runs.reproduce.reproduce`), resumable, writing the book's artifacts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..runs import make_config
from ..runs.config import check_data
from ..runs.reproduce import MODELS, plan, reproduce
from ..util.device import resolve_device
from . import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m sparselab reproduce``."""
    parser.add_argument("data", choices=["mnist", "patches"], help="which of the paper's grids")
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="sdl sdl-nl vdl vdl-nl")
    parser.add_argument("--lams", type=float, nargs="+", help="lam values (default: LAM_GRIDS)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per point (paper: 5)")
    parser.add_argument("--epochs", type=int, help="default: the preset's (200 MNIST, 100 patches)")
    parser.add_argument("--n-train", type=int, help="first n training samples (default all)")
    parser.add_argument("--patches-file", help="patch set from `python -m sparselab patches`")
    parser.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="auto: CUDA where there is one",
    )
    parser.add_argument(
        "--runs",
        type=Path,
        default=Path("runs/reproduce"),
        help="run folders with checkpoints, to resume or extend (default: %(default)s)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("book/results"),
        help="where the artifacts and manifest.json go (default: %(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--stacked",
        action="store_true",
        help="train each model's unfinished runs (all lam and seeds) in one batched pass (GPU)",
    )
    parser.add_argument("--allow-tf32", action="store_true", help="TF32 matmuls on CUDA")
    parser.add_argument(
        "--retrain",
        action="store_true",
        help="train again the runs the manifest records that have no run folder here (made on "
        "another machine) and replace their entries; by default they are skipped",
    )


def run(args: argparse.Namespace) -> int:
    overrides = {"device": args.device}
    for name in ("epochs", "n_train", "patches_file"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    try:
        points = plan(args.data, models=args.models, lams=args.lams, seeds=args.seeds)
        for preset, lam, seed in points:  # every config is checked before anything runs
            make_config(preset, lam=lam, seed=31 + seed, **overrides)
        check_data(make_config(points[0][0], **overrides))
        resolve_device(args.device)
    except (ValueError, OSError, RuntimeError) as err:
        raise UsageError(str(err)) from None
    command = "python -m sparselab " + " ".join(sys.argv[1:])
    manifest = reproduce(
        args.data,
        models=args.models,
        lams=args.lams,
        seeds=args.seeds,
        overrides=overrides,
        runs_dir=args.runs,
        results_dir=args.results,
        progress=not args.no_progress,
        stacked=args.stacked,
        allow_tf32=args.allow_tf32,
        retrain=args.retrain,
        command=command,
    )
    print(f"{len(manifest)} runs in {args.results / args.data / 'manifest.json'}")
    return 0
