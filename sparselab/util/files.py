"""Atomic file writes: every file is written to a temporary name in its own folder, then renamed,
so a reader (or a run killed mid-write) never sees half a file."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

__all__ = ["TMP_SUFFIX", "atomic_write", "write_text", "write_json", "save_torch", "remove_tmp"]

TMP_SUFFIX = ".tmp"  # what a write interrupted by a kill leaves behind (see remove_tmp)


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """``write(tmp)`` to ``<path>.<pid>.tmp`` beside ``path``, then rename it to ``path``; the
    temporary file is removed if ``write`` fails. The pid keeps two processes apart."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}{TMP_SUFFIX}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(text: str, path: str | Path) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json(obj, path: str | Path, *, indent: int = 2) -> Path:
    return write_text(json.dumps(obj, indent=indent) + "\n", path)


def save_torch(obj, path: str | Path) -> Path:
    """``torch.save`` atomically (read back with ``torch.load(..., weights_only=True)``)."""
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def remove_tmp(folder: str | Path) -> list[Path]:
    """Delete the temporary files that killed writes left in ``folder``; returns them."""
    folder = Path(folder)
    stale = sorted(folder.glob(f"*{TMP_SUFFIX}")) if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
