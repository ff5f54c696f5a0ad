"""``python -m sparselab patches --out FILE.npz``: build an LCN patch set
(:func:`sparselab.data.patches.build_patches`) from a folder of images (default: BSDS500)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..data import DataError
from ..data.bsds500 import bsds500_images_dir
from ..data.patches import SPLITS, build_patches, save_patches
from ..util.device import resolve_device
from . import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``python -m sparselab patches``."""
    parser.add_argument(
        "--images",
        type=Path,
        default=None,
        help="folder of JPEG/PNG images, searched recursively (default: "
        "$SPARSELAB_DATA/bsds500/images, downloaded from the official BSDS500 archive if absent)",
    )
    parser.add_argument("--out", type=Path, required=True, help="output file (.npz, new)")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument("--n-train", type=int, default=200_000, help="default: 200000 (paper)")
    parser.add_argument("--n-val", type=int, default=20_000, help="default: 20000 (paper)")
    parser.add_argument("--n-test", type=int, default=20_000, help="default: 20000 (paper)")
    parser.add_argument("--seed", type=int, default=0, help="default: 0")
    parser.add_argument(
        "--device", default=None, help="where LCN runs: cpu, cuda (default: cuda when available)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Build the patches and write ``args.out``; bad input raises ``UsageError`` (nothing
    written)."""
    if args.out.suffix != ".npz":
        raise UsageError(f"--out must end with .npz; got {str(args.out)!r}")
    if args.out.is_dir():
        raise UsageError(f"--out {args.out} is a folder; name a .npz file")
    if args.out.exists() and not args.force:
        raise UsageError(
            f"--out {args.out} exists: choose another --out, or pass --force to replace it"
        )
    for name in ("n_train", "n_val", "n_test", "seed"):
        if getattr(args, name) < 0:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 0; got {getattr(args, name)}")
    if args.device is not None:
        try:
            resolve_device(args.device)
        except ValueError as err:
            raise UsageError(str(err)) from None
    start = time.perf_counter()
    try:
        images = args.images if args.images is not None else bsds500_images_dir()
        arrays = build_patches(
            images,
            n_train=args.n_train,
            n_val=args.n_val,
            n_test=args.n_test,
            seed=args.seed,
            device=args.device,
            progress=not args.no_progress,
        )
    except (DataError, ValueError) as err:
        raise UsageError(str(err)) from None
    try:
        path = save_patches(arrays, args.out)
    except OSError as err:
        raise UsageError(f"cannot write {args.out}: {err}") from None
    sizes = ", ".join(
        f"{s} {len(arrays[f'{s}_x'])} from {len(arrays[f'{s}_files'])} images" for s in SPLITS
    )
    print(f"wrote {path} ({sizes}) in {time.perf_counter() - start:.1f} s")
    return 0
