"""Runs: what a run is (:mod:`~sparselab.runs.config`), the one epoch loop
(:mod:`~sparselab.runs.loop`), training one or K models (:mod:`~sparselab.runs.trainer`), run
folders on disk (:mod:`~sparselab.runs.store`), the paper's grids
(:mod:`~sparselab.runs.reproduce`) and their results read back (:mod:`~sparselab.runs.results`).
"""

from .config import PRESETS, TrainConfig, build_models, load_split, make_config
from .loop import infer
from .store import Run, load_run
from .trainer import TrainResult, sweep, train

__all__ = [
    "PRESETS",
    "TrainConfig",
    "TrainResult",
    "Run",
    "build_models",
    "infer",
    "load_run",
    "load_split",
    "make_config",
    "sweep",
    "train",
]
