import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from sparselab import LinearDictionary, fista, load_mnist, mnist_denormalize  # noqa: E402
from sparselab.book import paper_plots, plots, widgets  # noqa: E402
from sparselab.metrics import psnr, zero_fraction  # noqa: E402


@pytest.fixture(autouse=True)
def _no_warnings_and_close():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
    plt.close("all")


def _images(fig):
    return [im for ax in fig.axes for im in ax.get_images()]


def test_model_colors_are_distinct():
    names = ("SDL", "SDL-NL", "VDL", "VDL-NL")
    assert set(names) <= set(plots.MODEL_COLORS)
    assert len({plots.MODEL_COLORS[n] for n in names}) == 4
    assert plots.model_color("SDL") == plots.MODEL_COLORS["SDL"]


def test_show_images_normalized_maps_back_to_pixels():
    x = load_mnist("train", n=6).x
    fig = plots.show_images(x, n_rows=2)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6 and len(_images(fig)) == 6
    shown = _images(fig)[0].get_array()
    expected = mnist_denormalize(x[0]).clamp(0, 1).reshape(28, 28).numpy()
    np.testing.assert_allclose(shown, expected, atol=1e-6)
    raw = plots.show_images(
        load_mnist("train", n=3, normalize=False).x, normalized=False, titles=["a", "b", "c"]
    )
    np.testing.assert_allclose(_images(raw)[0].get_array(), expected, atol=1e-6)
    assert [ax.get_title() for ax in raw.axes] == ["a", "b", "c"]


def test_show_images_grid_shapes_and_errors():
    x = torch.zeros(7, 28, 28)
    fig = plots.show_images(x, n_cols=3)
    assert len(fig.axes) == 9 and len(_images(fig)) == 7  # 3x3 grid, 2 empty cells
    with pytest.raises(ValueError, match="x must"):
        plots.show_images(torch.zeros(3, 100))
    with pytest.raises(ValueError, match="n_cols"):
        plots.show_images(x, n_cols=0)
    with pytest.raises(ValueError, match="titles"):
        plots.show_images(x, titles=["a"])


def test_show_atoms_symmetric_scaling():
    w = torch.randn(784, 12, generator=torch.Generator().manual_seed(0))
    fig = plots.show_atoms(w, n_rows=3)
    images = _images(fig)
    assert len(images) == 12
    for k, im in enumerate(images):
        vmin, vmax = im.get_clim()
        assert vmin == pytest.approx(-vmax)
        assert vmax == pytest.approx(float(w[:, k].abs().max()))
    assert len(_images(plots.show_atoms(w, max_atoms=5))) == 5
    with pytest.raises(ValueError, match="weight"):
        plots.show_atoms(torch.zeros(10, 3))


def test_plot_soft_threshold_lines():
    fig = plots.plot_soft_threshold((0.5, 1.0))
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert len(ax.get_lines()) == 1 + 2 + 2  # identity, two thresholds, two axis lines
        assert ax.get_xlabel()
    # the non-negative panel draws relu(u - t): check one curve against the formula
    u, v = fig.axes[1].get_lines()[1].get_data()
    np.testing.assert_allclose(v, np.maximum(u - 0.5, 0.0), atol=1e-12)
    with pytest.raises(ValueError, match="thresholds"):
        plots.plot_soft_threshold((-1.0,))


def test_plot_convergence_gap_and_reference_slopes():
    k = np.arange(1, 51)
    fig = plots.plot_convergence(
        {"ISTA": 2 + 1 / k, "FISTA": 2 + 1 / k**2}, optimum=2.0, reference_slopes=(1, 2)
    )
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    lines = ax.get_lines()
    assert len(lines) == 4
    np.testing.assert_allclose(lines[0].get_ydata(), 1 / k, rtol=1e-9)
    assert lines[0].get_color() == plots.MODEL_COLORS["ISTA"]
    with pytest.raises(ValueError, match="histories"):
        plots.plot_convergence({})


def test_plot_history_panels_and_overlay():
    rows = [{"epoch": e, "loss": 1 / e, "val_psnr": 10 + e} for e in range(1, 6)]
    fig = plots.plot_history(rows, ["loss", "val_psnr"], label="SDL")
    assert len(fig.axes) == 2
    assert fig.axes[1].get_ylabel() == "val_psnr (dB)"
    fig = plots.plot_history(rows[:3], ["loss", "val_psnr"], label="VDL", fig=fig)
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2]
    assert fig.axes[0].get_lines()[1].get_color() == plots.MODEL_COLORS["VDL"]
    with pytest.raises(ValueError, match="no"):
        plots.plot_history(rows, ["missing"])
    # An overlaid run recorded before a column existed draws nothing in its panel; on its own, or
    # with none of the panels' columns, it is an error
    old = [{"epoch": e, "loss": 2 / e} for e in range(1, 4)]
    fig = plots.plot_history(old, ["loss", "val_psnr"], label="SDL-NL", fig=fig)
    assert [len(ax.get_lines()) for ax in fig.axes] == [3, 2]
    with pytest.raises(ValueError, match="val_psnr"):
        plots.plot_history(old, ["loss", "val_psnr"])
    with pytest.raises(ValueError, match="no"):
        plots.plot_history([{"epoch": 1, "mse": 0.1}], ["loss", "val_psnr"], fig=fig)


def test_plot_sparsity_psnr():
    pts = {"SDL": [(90.0, 18.0), (80.0, 20.0)], "VDL-NL": [(92.0, 21.0)]}
    fig = paper_plots.plot_sparsity_psnr(pts, annotations={"SDL": ["a", "b"]})
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert len(lines) == 2
    np.testing.assert_allclose(lines[0].get_xdata(), [80.0, 90.0])  # sorted by sparsity
    assert "%" in ax.get_xlabel() and "dB" in ax.get_ylabel()
    with pytest.raises(ValueError, match="pairs"):
        paper_plots.plot_sparsity_psnr({"SDL": [1.0, 2.0]})


def test_plot_sparsity_psnr_error_bars_span_the_seed_spread():
    pts = {"VDL": [(90.0, 18.0), (80.0, 20.0)]}
    fig = paper_plots.plot_sparsity_psnr(pts, errors={"VDL": [(1.0, 0.5), (2.0, 0.25)]})
    (ax,) = fig.axes
    xbars, ybars = ax.collections  # one LineCollection per direction
    ((x0, y0), (x1, y1)) = ybars.get_segments()[0]
    assert (x0, x1) == (90.0, 90.0) and sorted([y0, y1]) == [17.5, 18.5]
    ((x0, y0), (x1, y1)) = xbars.get_segments()[1]
    assert sorted([x0, x1]) == [78.0, 82.0] and y0 == y1 == 20.0
    with pytest.raises(ValueError, match=r"errors\['VDL'\] must hold one"):
        paper_plots.plot_sparsity_psnr(pts, errors={"VDL": [(1.0, 0.5)]})


@pytest.fixture
def dictionary_and_batch():
    y = load_mnist("train", n=32).x.double()
    dec = LinearDictionary(64, 784).double()
    with torch.no_grad():  # atoms: normalised validation digits, so that codes are not all zero
        dec.weight.copy_(load_mnist("val", n=64).x.double().T)
        dec.normalize_columns_()
    return dec, y


def test_solve_for_explorer_matches_fista_and_metrics(dictionary_and_batch):
    dec, y = dictionary_and_batch
    state = widgets.solve_for_explorer(dec, y, lam=0.01, step_scale=0.5, max_iter=50)
    res = fista(dec, y, lam=0.01, step=state.step, max_iter=50)
    torch.testing.assert_close(state.z, res.z)
    assert state.zeros_percent == pytest.approx(100 * zero_fraction(res.z))
    assert state.psnr_db == pytest.approx(float(psnr(dec(res.z).detach(), y, 0.3081).mean()))
    assert int(res.n_iter.max()) > 1
    assert len(state.history) >= int(res.n_iter.max())  # the batch stops at a multiple of 8
    assert state.energy == pytest.approx(float(state.history[-1]))
    assert state.converged_percent == pytest.approx(100 * float(res.converged.double().mean()))
    assert widgets.solve_for_explorer(dec, y, lam=0.01, max_iter=2).converged_percent < 100
    with pytest.raises(ValueError, match="step_scale"):
        widgets.solve_for_explorer(dec, y, lam=0.01, step_scale=0)
    with pytest.raises(ValueError, match="lam"):
        widgets.solve_for_explorer(dec, y, lam=-1.0)


def test_explorer_start_matters_only_with_the_hinge(dictionary_and_batch):
    """beta = 0: a convex problem, the same components survive from any start; beta > 0: from
    z = 0 the hinge has no gradient on a component lam switched off, from an active start it has."""
    dec, y = dictionary_and_batch
    z0 = torch.rand(y.shape[0], 64, generator=torch.Generator().manual_seed(0), dtype=y.dtype)

    def dead(beta, start):
        state = widgets.solve_for_explorer(
            dec, y, lam=0.05, beta=beta, T=0.5, z0=start, step_scale=0.5, max_iter=1000
        )
        assert state.converged_percent == 100  # the counts are not a snapshot of oscillation
        return int((state.z.abs().sum(0) == 0).sum())

    # beta = 1 and half the 1/Lip step: at beta = 10 on 32 samples the hinge's curvature outruns
    # the step, FISTA oscillates and the counts vary from 10 to 37 with a 1 % change of step
    assert dead(0.0, None) == dead(0.0, z0) > 0
    assert dead(1.0, z0) < dead(1.0, None)
    state = widgets.solve_for_explorer(dec, y, lam=0.05, beta=10.0, z0=z0, max_iter=30)
    res = fista(dec, y, lam=0.05, beta=10.0, z0=z0, step=state.step, max_iter=30)
    torch.testing.assert_close(state.z, res.z)


def test_the_hinge_needs_a_smaller_step_than_1_over_lip(dictionary_and_batch):
    """1/Lip bounds the reconstruction's curvature only; the hinge's grows like 1/s_j, so at
    beta = 10 FISTA oscillates at 1/Lip and converges at a tenth of it, to a far lower energy."""
    dec, y = dictionary_and_batch
    z0 = torch.rand(y.shape[0], 64, generator=torch.Generator().manual_seed(0), dtype=y.dtype)
    full, tenth = (
        widgets.solve_for_explorer(
            dec, y, lam=0.05, beta=10.0, T=0.5, z0=z0, step_scale=s, max_iter=1000
        )
        for s in (1.0, 0.1)
    )
    assert full.converged_percent < 90 and tenth.converged_percent == 100
    assert tenth.energy < 0.5 * full.energy
    assert float(full.history[-100:].std()) > 100 * float(tenth.history[-100:].std())


def test_larger_lambda_gives_sparser_codes(dictionary_and_batch):
    dec, y = dictionary_and_batch
    zeros = [widgets.solve_for_explorer(dec, y, lam=lam).zeros_percent for lam in (1e-3, 1e-1)]
    assert zeros[0] < zeros[1]


def test_plot_lambda_state(dictionary_and_batch):
    dec, y = dictionary_and_batch
    state = widgets.solve_for_explorer(dec, y, lam=0.01, max_iter=20)
    fig = widgets.plot_lambda_state(state, y, n_show=4)
    assert len(_images(fig)) == 8 and len(fig.axes) == 10
    assert f"{state.converged_percent:.0f}% converged" in fig.axes[-1].get_title()
    with pytest.raises(ValueError, match="n_show"):
        widgets.plot_lambda_state(state, y, n_show=100)


def test_step_size_histories_diverge_beyond_two_over_lip(dictionary_and_batch):
    """ISTA decreases F monotonically for eta <= 1/Lip; with signed codes it blows up for
    eta > 2/Lip (along the top eigenvector of W^T W the error is multiplied by 1 - eta Lip)."""
    dec, y = dictionary_and_batch
    h = widgets.step_size_histories(
        dec, y, lam=0.01, step_scales=(1.0, 3.0), max_iter=60, positive=False
    )
    safe, unsafe = h["eta = 1/Lip"], h["eta = 3/Lip"]
    assert safe.shape == (60,)
    assert bool((safe[1:] <= safe[:-1] + 1e-9).all())
    assert float(unsafe[-1]) > 1e3 * float(unsafe[0])
    assert len(widgets.plot_step_sizes(h).axes[0].get_lines()) == 2


def test_step_explorer_figure_draws_ista_and_fista(dictionary_and_batch):
    dec, y = dictionary_and_batch
    fig = widgets.step_explorer_figure(dec, y, lam=0.01, max_iter=30)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["ISTA", "FISTA"]
    expected = widgets.step_size_histories(dec, y, lam=0.01, step_scales=(1.0,), max_iter=30)
    np.testing.assert_allclose(lines[0].get_ydata(), next(iter(expected.values())).numpy())


def test_explorers_build_widgets(dictionary_and_batch):
    pytest.importorskip("ipywidgets")
    dec, y = dictionary_and_batch
    w = widgets.lambda_explorer(dec, y, max_iter=5, n_show=2)
    assert {c.description for c in w.children[:-1]} >= {"lam", "beta", "T"}
    s = widgets.step_explorer(dec, y, max_iter=10)
    assert len(s.children) == 3  # two sliders and the output


def test_step_size_histories_validates(dictionary_and_batch):
    dec, y = dictionary_and_batch
    with pytest.raises(ValueError, match="step_scales"):
        widgets.step_size_histories(dec, y, lam=0.01, step_scales=())
    with pytest.raises(ValueError, match="step_scale"):
        widgets.step_size_histories(dec, y, lam=0.01, step_scales=(1.0, -2.0))
