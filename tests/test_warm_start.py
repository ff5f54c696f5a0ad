import pytest
import torch

from sparselab.book.warm_start import warm_start_steps
from sparselab.models import LinearDictionary, LISTAEncoder
from sparselab.runs import make_config
from sparselab.solvers import fista


def _setup():
    g = torch.Generator().manual_seed(0)
    dictionary = LinearDictionary(16, 30, generator=g).double()
    y = torch.randn(20, 30, generator=g, dtype=torch.float64)
    config = make_config("mnist-sdl", lam=0.01, gamma=0.0, tol=1e-4, max_iter=500)
    return dictionary, y, config


def test_warm_start_from_the_solution_stops_at_once():
    dictionary, y, config = _setup()
    z_star = fista(dictionary, y, lam=config.lam, step=config.eta, max_iter=5000, tol=0.0).z

    class Oracle(torch.nn.Module):  # an encoder that predicts the optimum
        def forward(self, x):
            return z_star

    steps = warm_start_steps(dictionary, Oracle(), y, config)
    assert steps["warm"].max() <= 2
    assert steps["cold"].float().mean() > 10 * steps["warm"].float().mean()


def test_bad_gamma():
    dictionary, y, config = _setup()
    encoder = LISTAEncoder(30, 16).double()
    with pytest.raises(ValueError, match="gamma"):
        warm_start_steps(dictionary, encoder, y, config, gamma=-1.0)


def test_static_warm_start_explorer_views_are_the_histograms_at_each_gamma():
    import io

    import numpy as np
    from PIL import Image

    from sparselab.book import static_explorer as se
    from sparselab.book.warm_start import plot_warm_start, static_warm_start_explorer

    dictionary, y, config = _setup()
    config = make_config("mnist-sdl", lam=0.01, gamma=5.0, tol=1e-4, max_iter=100)
    encoder = LISTAEncoder(30, 16, generator=torch.Generator().manual_seed(1)).double()
    ex = static_warm_start_explorer(dictionary, encoder, y, config, gammas=(0.1, 10.0))
    (slider,) = ex.sliders
    assert slider.values == (0.1, 5.0, 10.0) and slider.value == 5.0  # config.gamma joins
    steps = warm_start_steps(dictionary, encoder, y, config, gamma=10.0)
    direct = se._png(plot_warm_start(steps, max_iter=100, title="gamma = 10"), 90, 32)
    pixels = [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in (ex.frames[2], direct)]
    np.testing.assert_array_equal(*pixels)
    with pytest.raises(ValueError, match="gammas"):
        static_warm_start_explorer(dictionary, encoder, y, config, gammas=(-1.0, 1.0))
