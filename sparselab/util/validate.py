"""The one check of a count (``n``, ``epochs``, ``seed`` ...) at a public boundary: Python and
numpy integers are counts, bools are not (``True`` is not 1 sample), and a bad value gives one line
naming the argument."""

from __future__ import annotations

import numpy as np

__all__ = ["check_int", "is_int"]


def is_int(value) -> bool:
    """True for ``int`` and numpy integers (``np.int64(10)``); False for bools and all else."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_int(name: str, value, *, low: int | None = None, high: int | None = None, where=""):
    """``value`` as a Python int; ValueError ``"<name> must be an integer in [low, high]<where>;
    got <value>"`` unless it is an integer (not a bool) within the bounds (None: unbounded)."""
    if is_int(value) and (low is None or value >= low) and (high is None or value <= high):
        return int(value)
    if low is not None and high is not None:
        bounds = f" in [{low}, {high}]"
    else:
        bounds = f" >= {low}" if low is not None else f" <= {high}" if high is not None else ""
    raise ValueError(f"{name} must be an integer{bounds}{where}; got {value!r}")
