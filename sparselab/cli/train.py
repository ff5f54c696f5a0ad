"""``python -m sparselab train --preset NAME --out DIR``: :func:`~sparselab.runs.trainer.train` from a
shell; every field of :class:`~sparselab.runs.config.TrainConfig` is also an option
(``--lam 0.01``, ``--n-train 2000``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..runs import PRESETS, TrainConfig, make_config, train
from ..runs.config import check_data, field_types
from ..runs.store import CHECKPOINT, CONFIG
from ..util.device import resolve_device
from . import UsageError, add_training_flags


def _parse_value(kind: str):
    """argparse ``type`` for a field annotated ``kind``."""
    base, optional = kind.split(" |")[0], "None" in kind

    def parse(text: str):
        if optional and text.lower() == "none":
            return None
        if base == "bool":
            if text.lower() in ("1", "true", "yes"):
                return True
            if text.lower() in ("0", "false", "no"):
                return False
            raise argparse.ArgumentTypeError(f"expected true or false; got {text!r}")
        return {"int": int, "float": float, "str": str}[base](text)

    parse.__name__ = base  # argparse names the type in its error messages
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m sparselab train``: a preset, a folder, and every config field."""
    parser.add_argument("--preset", help=f"one of {', '.join(PRESETS)} (default mnist-vdl)")
    parser.add_argument("--out", type=Path, required=True, help="run folder (created)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue out/checkpoint.pt (a run killed before its first checkpoint starts again)",
    )
    add_training_flags(parser)
    fields = parser.add_argument_group("config fields (override the preset)")
    for name, kind in field_types().items():
        fields.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=_parse_value(kind),
            default=None,
            metavar=kind.split(" |")[0].upper(),
            help=f"default from the preset ({kind})",
        )


def _overrides(args: argparse.Namespace) -> dict:
    return {n: getattr(args, n) for n in field_types() if getattr(args, n) is not None}


def run(args: argparse.Namespace) -> int:
    """``python -m sparselab train``: validate everything, then train and print the metrics."""
    out: Path = args.out
    overrides = _overrides(args)
    resume = args.resume and (out / CHECKPOINT).is_file()
    try:
        if args.resume:
            if not (out / CONFIG).is_file():
                raise UsageError(
                    f"--resume: {out} holds no run to continue (no {CONFIG}, no {CHECKPOINT})"
                )
            if args.preset is not None:
                raise UsageError("--resume takes the config of the run; do not give --preset")
            saved = json.loads((out / CONFIG).read_text())
            changed = sorted(k for k in overrides if k not in ("epochs", "device"))
            if changed:
                raise UsageError(f"--resume can only change --epochs and --device; got {changed}")
            config = make_config(TrainConfig(), **(saved | overrides))
        else:
            if out.exists() and any(out.iterdir()):
                raise UsageError(f"{out} is not empty: choose another --out, or pass --resume")
            config = make_config(args.preset or "mnist-vdl", **overrides)
        check_data(config)  # a missing or damaged data file is a usage error too
        resolve_device(config.device)
    except ValueError as err:
        raise UsageError(str(err)) from None
    except (OSError, RuntimeError) as err:  # DataError is a RuntimeError
        raise UsageError(str(err)) from None
    if args.resume and not resume:
        print(f"{out} holds no {CHECKPOINT} (killed before its first epoch ended): starting again")
    result = train(
        config, out, progress=not args.no_progress, resume=resume, allow_tf32=args.allow_tf32
    )
    m = result.metrics
    print(
        f"{out}: best epoch {m['best_epoch']}/{m['epochs']}, val PSNR {m['val_psnr']:.2f} dB, "
        f"test PSNR {m['test_psnr']:.2f} dB, {100 * m['test_zero_fraction']:.1f}% zeros, "
        f"{m['seconds']:.1f} s"
    )
    return 0
