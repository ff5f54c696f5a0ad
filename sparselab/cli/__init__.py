"""The command line: ``python -m sparselab <command> ...`` (or ``sparselab ...``), one module a
command, each turning options into a call of the library below it. Every command module exposes
``add_arguments(parser)`` and ``run(args) -> int``. Bad arguments give one clear line on stderr
and exit status 2, and touch nothing on disk; a training run that diverges (``FloatingPointError``)
gives one line and exit status 1, its run folder kept as it was.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__

# command -> (module, one-line help)
COMMANDS = {
    "train": ("sparselab.cli.train", "train one model from a preset"),
    "evaluate": ("sparselab.cli.evaluate", "evaluate a trained run (denoising, classification)"),
    "patches": ("sparselab.cli.patches", "build an LCN patch dataset from a folder of images"),
    "sweep": ("sparselab.cli.sweep", "train several models (seeds x lam) in one batched pass"),
    "reproduce": (
        "sparselab.cli.reproduce",
        "run the paper's grids and write the book's artifacts",
    ),
}


class UsageError(Exception):
    """Raised by a command for bad arguments: printed as one line, exit status 2."""


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    """``--no-progress`` and ``--allow-tf32``, which every command that trains takes."""
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--allow-tf32", action="store_true", help="TF32 matmuls on CUDA (off: full fp32)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sparselab",
        description="sparse coding with multi-layer decoders: train, evaluate, reproduce",
    )
    parser.add_argument("--version", action="version", version=f"sparselab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    available = {}
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
            continue  # a command whose module is not part of this version
        available[name] = module
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    try:
        return int(available[args.command].run(args) or 0)
    except UsageError as err:
        print(f"{parser.prog} {args.command}: error: {err}", file=sys.stderr)
        return 2
    except FloatingPointError as err:
        print(f"{parser.prog} {args.command}: training diverged: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
