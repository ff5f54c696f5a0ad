"""One progress-bar helper for the whole package (tqdm.auto: a widget in notebooks, text in a
terminal). ``TQDM_DISABLE=1`` or ``progress=False`` silences it."""

from __future__ import annotations

from collections.abc import Iterable

from tqdm.auto import tqdm

__all__ = ["progress"]


def progress(iterable: Iterable | None = None, *, enabled: bool = True, **kwargs) -> tqdm:
    """``tqdm.auto.tqdm`` with ``disable`` driven by ``enabled`` (tqdm still honours TQDM_DISABLE)."""
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", False)
    if not enabled:  # otherwise leave `disable` unset so that TQDM_DISABLE still applies
        kwargs["disable"] = True
    return tqdm(iterable, **kwargs)
