import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from sparselab.book import plots  # noqa: E402
from sparselab.energy import code_std, variance_hinge  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_plot_variance_hinge_matches_the_energy_term():
    fig = plots.plot_variance_hinge((0.5, 1.0), beta=2.0)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2
    s, h = (np.asarray(a) for a in lines[1].get_data())
    # oracle: the package's hinge of a two-sample batch (-a, a) has unbiased std s = a * sqrt(2)
    for k in (0, 100, 250):
        a = s[k] / np.sqrt(2.0)
        z = torch.tensor([[-a], [a]], dtype=torch.float64)
        assert h[k] == pytest.approx(float(variance_hinge(z, 2.0, 1.0)), abs=1e-12)
    with pytest.raises(ValueError, match="beta"):
        plots.plot_variance_hinge(beta=0.0)


def test_plot_code_std_histograms_every_component():
    z = torch.randn(50, 16, generator=torch.Generator().manual_seed(0)).abs()
    fig = plots.plot_code_std({"VDL": z, "SDL": 0.1 * z}, T=0.5)
    ax = fig.axes[0]
    heights = [sum(p.get_height() for p in c) for c in ax.containers]
    assert heights == [16, 16]
    assert ax.get_lines()[0].get_xdata()[0] == 0.5
    # the largest std (from code_std, the package's estimator) lies inside the histogram range
    assert ax.containers[0][-1].get_x() + ax.containers[0][-1].get_width() >= float(
        code_std(z).max()
    )
    with pytest.raises(ValueError, match="codes"):
        plots.plot_code_std({"x": z[:1]})
