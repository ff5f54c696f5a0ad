"""Where computations run: a torch device from a config string, the TF32 switch, and a one-line
description of the machine for the records that results keep."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path

import torch

__all__ = ["resolve_device", "tf32", "machine"]


def resolve_device(device: str) -> torch.device:
    """``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` as a torch.device;
    a ValueError naming ``device`` when it asks for a GPU this machine does not have."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}"
        ) from None
    n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if dev.type == "cuda" and n_gpus == 0:
        raise ValueError(
            f"device={device!r}, but torch {torch.__version__} sees no CUDA GPU here; "
            "use device='auto' or 'cpu'"
        )
    if dev.type == "cuda" and (dev.index or 0) >= n_gpus:
        raise ValueError(f"device={device!r}, but this machine has {n_gpus} CUDA GPU(s)")
    return dev


@contextlib.contextmanager
def tf32(enabled: bool):
    """TF32 matmuls on CUDA only while ``enabled`` (no effect on the CPU)."""
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = bool(enabled)
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old


def machine() -> str:
    """Where a result was measured: CPU model, cores, the GPU (if any), torch version."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:  # not Linux
        pass
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu}, {os.cpu_count()} cores{gpu}, torch {torch.__version__}"
