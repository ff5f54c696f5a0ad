"""Explorers that work without a kernel: a figure precomputed on a grid of slider values.

When a chapter is executed, :func:`precompute` draws the figure once for every combination of the
sliders' values (with the package's own code) and keeps each as a small palette PNG. The HTML
book shows them with ``<input type="range">`` sliders, one a parameter, driven by the vendored
``book/_static/sl-explorer.js`` (no CDN). In a live Jupyter frontend the same output shows the
ipywidgets explorer instead, which re-solves for any value.

Executed headless (``SPARSELAB_HEADLESS=1``: ``tools/execute_notebooks.py``, the tests), the live
widget is never built, so no widget comm can leave kernel and client waiting on each other
(jupyter/nbclient#312).
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
from PIL import Image

__all__ = ["Slider", "StaticExplorer", "precompute", "frame_index", "live_frontend"]

HEADLESS_ENV = "SPARSELAB_HEADLESS"


@dataclass(frozen=True)
class Slider:
    """One slider: the keyword ``name`` of the drawing function, the ``label`` a reader sees, the
    grid of ``values`` it steps through and the ``value`` it starts at (one of them)."""

    name: str
    label: str
    values: tuple[float, ...]
    value: float
    fmt: str = "{:g}"

    def __post_init__(self):
        object.__setattr__(self, "values", tuple(self.values))
        if not self.name.isidentifier():
            raise ValueError(f"name must be a Python identifier; got {self.name!r}")
        if len(self.values) < 2:
            raise ValueError(f"values of slider {self.name!r} must hold at least 2 values")
        if self.value not in self.values:
            raise ValueError(f"value of slider {self.name!r} must be one of its values")

    @property
    def start(self) -> int:
        return self.values.index(self.value)

    def text(self, i: int) -> str:
        return self.fmt.format(self.values[i])


def frame_index(sliders: Sequence[Slider], positions: Sequence[int]) -> int:
    """Row-major index of the frame for the slider positions (the last slider varies fastest),
    as ``sl-explorer.js`` computes it."""
    index = 0
    for s, i in zip(sliders, positions, strict=True):
        if not 0 <= i < len(s.values):
            raise ValueError(f"position of slider {s.name!r} must be in [0, {len(s.values) - 1}]")
        index = index * len(s.values) + i
    return index


def live_frontend() -> bool:
    """False when executed headless (``SPARSELAB_HEADLESS`` set and not "0"): no live widget."""
    return os.environ.get(HEADLESS_ENV, "0") in ("", "0")


def _png(fig, dpi: int, colors: int) -> bytes:
    """The figure as a palette PNG of ``colors`` colours (plots need few), then closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    image = Image.open(buffer).convert("RGB").quantize(colors=colors, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="png", optimize=True)
    return out.getvalue()


@dataclass
class StaticExplorer:
    """Frames (PNG bytes, row-major over ``sliders``) with the HTML that shows them; ``live``
    builds the ipywidgets explorer shown instead in a live Jupyter frontend. ``alt`` describes
    the figure for a screen reader (the sliders' values are appended)."""

    frames: list[bytes]
    sliders: tuple[Slider, ...]
    alt: str
    live: Callable[[], object] | None = None

    @property
    def nbytes(self) -> int:
        """Bytes the frames add to the page (base64, as stored)."""
        return sum(4 * math.ceil(len(f) / 3) for f in self.frames)

    def _alt(self, positions: Sequence[int]) -> str:
        values = ", ".join(
            f"{s.label} = {s.text(i)}" for s, i in zip(self.sliders, positions, strict=True)
        )
        return f"{self.alt} ({values})"

    def to_html(self) -> str:
        starts = [s.start for s in self.sliders]
        frames = [base64.b64encode(f).decode("ascii") for f in self.frames]
        width, height = Image.open(io.BytesIO(self.frames[0])).size
        controls = []
        for s in self.sliders:
            labels = json.dumps([s.text(i) for i in range(len(s.values))])
            controls.append(
                f'<label class="sl-explorer-slider">{html.escape(s.label)} '
                f'<input type="range" min="0" max="{len(s.values) - 1}" step="1" '
                f'value="{s.start}" data-label="{html.escape(s.label)}" '
                f'data-values="{html.escape(labels)}" '
                f'aria-valuetext="{html.escape(s.label)} = {html.escape(s.text(s.start))}">'
                f"<output>{html.escape(s.text(s.start))}</output></label>"
            )
        start = frames[frame_index(self.sliders, starts)]
        return (
            f'<div class="sl-explorer" role="group" aria-label="{html.escape(self.alt)}">'
            f'<div class="sl-explorer-sliders">{"".join(controls)}</div>'
            f'<img class="sl-explorer-view" src="data:image/png;base64,{start}" '
            f'width="{width}" height="{height}" data-alt="{html.escape(self.alt)}" '
            f'alt="{html.escape(self._alt(starts))}">'
            f'<script type="application/json" class="sl-explorer-frames">{json.dumps(frames)}'
            "</script></div>"
        )

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        names = ", ".join(f"{s.label} ({len(s.values)} values)" for s in self.sliders)
        bundle = {
            "text/plain": f"StaticExplorer: {len(self.frames)} views over {names}",
            "text/html": self.to_html(),
        }
        if self.live is not None and live_frontend():
            bundle.update(self.live()._repr_mimebundle_())
        return bundle


def precompute(
    draw: Callable[..., object],
    sliders: Sequence[Slider],
    *,
    alt: str,
    live: Callable[[], object] | None = None,
    dpi: int = 72,
    colors: int = 32,
) -> StaticExplorer:
    """Draw ``draw(**values)`` (a matplotlib figure) for every combination of the sliders' values,
    row-major (the last slider varies fastest). Returns the :class:`StaticExplorer` to display."""
    sliders = tuple(sliders)
    if not sliders:
        raise ValueError("sliders must hold at least one Slider")
    if len({s.name for s in sliders}) != len(sliders):
        raise ValueError("sliders must have distinct names")
    if not alt.strip():
        raise ValueError("alt must describe the figure")
    frames = []
    for values in itertools.product(*(s.values for s in sliders)):
        fig = draw(**{s.name: v for s, v in zip(sliders, values, strict=True)})
        frames.append(_png(fig, dpi, colors))
    sizes = {Image.open(io.BytesIO(f)).size for f in frames}
    if len(sizes) != 1:
        raise ValueError(f"draw must make figures of one size; got {sorted(sizes)}")
    return StaticExplorer(frames, sliders, alt, live)
