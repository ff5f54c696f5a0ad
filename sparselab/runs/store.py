"""Run folders on disk: the config, the history, atomic checkpoints (one model or the K of a
sweep), the best models and the metrics; :func:`load_run` reads a finished run back, and
:func:`update_manifest` is how concurrent grids edit one results manifest."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import socket
import time
from pathlib import Path
from typing import NamedTuple

import torch
from filelock import FileLock, Timeout
from torch import Tensor, nn

from ..models import LISTAEncoder
from ..util.files import save_torch, write_json, write_text
from .config import TrainConfig, build_models, make_config

__all__ = [
    "CHECKPOINT",
    "HISTORY",
    "CONFIG",
    "METRICS",
    "DECODER",
    "ENCODER",
    "state_dict",
    "history_csv",
    "save_checkpoint",
    "saved_configs",
    "restore",
    "write_config",
    "write_run",
    "Run",
    "load_run",
    "update_manifest",
]

CHECKPOINT, HISTORY, CONFIG, METRICS = "checkpoint.pt", "history.csv", "config.json", "metrics.json"
DECODER, ENCODER = "decoder.pt", "encoder.pt"


def state_dict(module: nn.Module) -> dict[str, Tensor]:
    """A detached CPU copy of ``module``'s state dict."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def history_csv(history: list[dict]) -> str:
    """History rows as CSV; columns are the union of the rows' keys (older rows may lack some)."""
    buf = io.StringIO()
    columns = list(dict.fromkeys(k for row in history for k in row))
    writer = csv.DictWriter(buf, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(history)
    return buf.getvalue()


def save_checkpoint(path: Path, configs, decoder, encoder, opt_d, opt_e, histories, bests) -> None:
    """Write ``checkpoint.pt`` atomically: models, optimisers, and per model its config, history
    and best epoch (what :func:`restore` reads)."""
    save_torch(
        {
            "decoder": state_dict(decoder),
            "encoder": state_dict(encoder),
            "opt_decoder": opt_d.state_dict(),
            "opt_encoder": opt_e.state_dict(),
            "configs": [dataclasses.asdict(c) for c in configs],
            "histories": histories,
            "bests": bests,
        },
        path,
    )


def _load(path: Path, device="cpu", *, mmap: bool = False) -> dict:
    """A checkpoint with ``histories`` / ``bests`` lists, also from 0.1's layouts (a run's
    ``history`` / ``best``, a sweep's ``history`` / ``best`` lists)."""
    ckpt = torch.load(path, map_location=device, weights_only=True, mmap=mmap)
    if "histories" not in ckpt:
        single = not isinstance(ckpt["best"], list)
        ckpt["histories"] = [ckpt["history"]] if single else ckpt["history"]
        ckpt["bests"] = [ckpt["best"]] if single else ckpt["best"]
    return ckpt


def saved_configs(path: Path) -> list[dict] | None:
    """The configs a checkpoint trains (None for a 0.1 single-run checkpoint, which keeps its
    config in ``config.json`` only); mmap: the weights are not read."""
    return _load(path, mmap=True).get("configs")


def restore(path: Path, device, decoder, encoder, opt_d, opt_e) -> tuple[list, list]:
    """Load a ``checkpoint.pt`` into the models and optimisers; returns the histories and bests
    (one per model)."""
    ckpt = _load(path, device)
    decoder.load_state_dict(ckpt["decoder"])
    encoder.load_state_dict(ckpt["encoder"])
    opt_d.load_state_dict(ckpt["opt_decoder"])
    opt_e.load_state_dict(ckpt["opt_encoder"])
    return ckpt["histories"], ckpt["bests"]


def write_config(config: TrainConfig, run_dir: Path) -> None:
    write_json(dataclasses.asdict(config), run_dir / CONFIG)


def write_run(run_dir: Path, history: list[dict], best: dict | None, metrics: dict | None):
    """A run folder's files after an epoch: the history, the best models when ``best`` is new,
    the metrics when the run is finished (written last: they mark it done)."""
    write_text(history_csv(history), run_dir / HISTORY)
    if best is not None:
        save_torch(best["decoder"], run_dir / DECODER)
        save_torch(best["encoder"], run_dir / ENCODER)
    if metrics is not None:
        write_json(metrics, run_dir / METRICS)


class Run(NamedTuple):
    """A trained run read back by :func:`load_run` (best decoder and encoder, on the CPU)."""

    config: TrainConfig
    decoder: nn.Module
    encoder: LISTAEncoder
    history: list[dict]
    metrics: dict


def load_run(path: str | Path) -> Run:
    """Read a run folder written by :func:`~sparselab.runs.trainer.train` or ``sweep``: config, best
    models, history and metrics (``metrics`` is empty for a run that has not finished)."""
    path = Path(path)
    missing = [name for name in (CONFIG, DECODER, ENCODER) if not (path / name).is_file()]
    if missing:
        raise ValueError(f"{path} is not a finished training run: missing {', '.join(missing)}")
    config = make_config(TrainConfig(), **json.loads((path / CONFIG).read_text()))
    decoder, encoder = build_models(config)
    decoder.load_state_dict(torch.load(path / DECODER, map_location="cpu", weights_only=True))
    encoder.load_state_dict(torch.load(path / ENCODER, map_location="cpu", weights_only=True))
    history = []
    if (path / HISTORY).is_file():
        with open(path / HISTORY, newline="") as f:
            history = [{k: float(v) for k, v in row.items() if v} for row in csv.DictReader(f)]
    metrics = json.loads((path / METRICS).read_text()) if (path / METRICS).is_file() else {}
    return Run(config, decoder, encoder, history, metrics)


def update_manifest(path: Path, change, timeout: float = 60.0) -> None:
    """Rewrite the list in ``path`` as ``change(list)`` under an OS file lock (``path.lock``,
    ``filelock``) from the read to the write: grids sharing a results folder must not drop each
    other's entries. The OS frees the lock of a process that dies, so a crashed grid blocks
    nobody; ``path.lock.owner`` names the holder for the error a live one causes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(f"{path.name}.lock")
    owner = lock.with_name(f"{lock.name}.owner")
    try:
        with FileLock(lock, timeout=timeout):
            owner.write_text(f"pid {os.getpid()} on {socket.gethostname()} since {time.ctime()}")
            try:
                write_json(
                    change(json.loads(path.read_text()) if path.is_file() else []), path, indent=1
                )
            finally:
                owner.unlink(missing_ok=True)
    except Timeout:
        holder = owner.read_text() if owner.is_file() else "another process"
        raise TimeoutError(
            f"{lock} has been held for {timeout:.0f} s by {holder}: another grid is writing to "
            f"{path.parent}; wait for it to finish, or stop it"
        ) from None
