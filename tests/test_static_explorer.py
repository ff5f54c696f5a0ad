"""Kernel-free explorers: every frame is the figure the package draws at its sliders' values, in
the row-major order the HTML's script reads, and the live widget is built only where it can show."""

import base64
import io
import json
import re
from html.parser import HTMLParser

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from sparselab import LinearDictionary, load_mnist  # noqa: E402
from sparselab.book import static_explorer as se  # noqa: E402
from sparselab.book import widgets  # noqa: E402


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _line(a, b):
    """A figure of fixed size whose one line depends on both sliders."""
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [a, b])
    ax.set_ylim(-1, 4)
    return fig


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inputs, self.images, self.scripts, self._in_script = [], [], [], False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input":
            self.inputs.append(a)
        elif tag == "img":
            self.images.append(a)
        self._in_script = tag == "script"

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


SLIDERS = [se.Slider("a", "α", (0.0, 1.0, 2.0), 1.0), se.Slider("b", "b", (0.5, 3.0), 3.0)]


def test_frames_are_the_figures_row_major():
    ex = se.precompute(_line, SLIDERS, alt="a line")
    assert len(ex.frames) == 6
    for i, a in enumerate(SLIDERS[0].values):
        for j, b in enumerate(SLIDERS[1].values):
            k = se.frame_index(SLIDERS, (i, j))
            assert k == 2 * i + j
            direct = se._png(_line(a, b), 72, 32)
            np.testing.assert_array_equal(_pixels(ex.frames[k]), _pixels(direct))
    assert len({f for f in ex.frames}) == 6  # every view differs
    assert ex.nbytes == sum(len(base64.b64encode(f)) for f in ex.frames)


def test_html_has_accessible_range_sliders_and_the_start_frame():
    ex = se.precompute(_line, SLIDERS, alt="a line")
    page = _Page()
    page.feed(ex.to_html())
    assert [i["type"] for i in page.inputs] == ["range", "range"]
    assert [(i["min"], i["max"], i["value"]) for i in page.inputs] == [
        ("0", "2", "1"),
        ("0", "1", "1"),
    ]
    assert json.loads(page.inputs[0]["data-values"]) == ["0", "1", "2"]
    assert page.inputs[0]["aria-valuetext"] == "α = 1"
    (img,) = page.images
    assert img["alt"] == "a line (α = 1, b = 3)"
    frames = json.loads(page.scripts[0])
    assert [base64.b64decode(f) for f in frames] == ex.frames
    assert (
        base64.b64decode(img["src"].split(",", 1)[1]) == ex.frames[se.frame_index(SLIDERS, (1, 1))]
    )
    assert "<script>" not in ex.to_html()  # the behaviour lives in the vendored sl-explorer.js


def test_the_live_widget_only_where_a_frontend_shows_it(monkeypatch):
    built = []

    class Widget:
        def _repr_mimebundle_(self, **kwargs):
            return {"application/vnd.jupyter.widget-view+json": {"model_id": "m"}}

    ex = se.precompute(_line, SLIDERS, alt="a line", live=lambda: built.append(1) or Widget())
    monkeypatch.setenv(se.HEADLESS_ENV, "1")
    bundle = ex._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"} and not built
    monkeypatch.setenv(se.HEADLESS_ENV, "0")
    assert "application/vnd.jupyter.widget-view+json" in ex._repr_mimebundle_() and built


def test_validation():
    with pytest.raises(ValueError, match="value of slider 'a'"):
        se.Slider("a", "a", (1.0, 2.0), 3.0)
    with pytest.raises(ValueError, match="at least 2"):
        se.Slider("a", "a", (1.0,), 1.0)
    with pytest.raises(ValueError, match="distinct names"):
        se.precompute(_line, [SLIDERS[0], SLIDERS[0]], alt="x")
    with pytest.raises(ValueError, match="alt"):
        se.precompute(_line, SLIDERS, alt=" ")
    with pytest.raises(ValueError, match="position of slider 'b'"):
        se.frame_index(SLIDERS, (0, 2))

    def growing(a, b):
        return plt.figure(figsize=(1 + a, 1))

    with pytest.raises(ValueError, match="one size"):
        se.precompute(growing, SLIDERS, alt="x")


def test_lambda_explorer_frames_are_the_solver_views():
    torch.manual_seed(0)
    y = load_mnist("train", n=16).x.double()
    dec = LinearDictionary(32, 784).double()
    with torch.no_grad():
        dec.weight.copy_(load_mnist("val", n=32).x.double().T)
        dec.normalize_columns_()
    ex = widgets.lambda_explorer(
        dec, y, {"lam": (0.001, 0.05), "beta": (0.0, 5.0)}, lam=0.05, max_iter=20, n_show=2
    )
    assert [s.label for s in ex.sliders] == ["λ", "β"] and len(ex.frames) == 4
    state = widgets.solve_for_explorer(dec, y, lam=0.05, beta=5.0, max_iter=20)
    direct = se._png(widgets.plot_lambda_state(state, y, n_show=2), 72, 32)
    np.testing.assert_array_equal(_pixels(ex.frames[3]), _pixels(direct))
    assert re.search(r"T = 0\.5, η × Lip = 1", ex.alt)
    with pytest.raises(ValueError, match="grid keys"):
        widgets.lambda_explorer(dec, y, {"gamma": (1.0, 2.0)})
    with pytest.raises(ValueError, match="value of slider 'lam'"):
        widgets.lambda_explorer(dec, y, {"lam": (0.1, 0.2)}, lam=0.005)
    plt.close("all")


def test_step_explorer_frames_follow_the_step():
    y = load_mnist("train", n=8).x.double()
    dec = LinearDictionary(16, 784).double()
    with torch.no_grad():
        dec.weight.copy_(load_mnist("val", n=16).x.double().T)
        dec.normalize_columns_()
    ex = widgets.step_explorer(dec, y, (0.5, 1.0, 1.9), lam=0.01, max_iter=15)
    assert ex.sliders[0].start == 1 and len(set(ex.frames)) == 3
    fig = widgets.step_explorer_figure(dec, y, lam=0.01, step_scale=1.9, max_iter=15)
    np.testing.assert_array_equal(_pixels(ex.frames[2]), _pixels(se._png(fig, 90, 32)))
