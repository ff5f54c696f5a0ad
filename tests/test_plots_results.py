import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from sparselab.book.paper_plots import plot_classification, plot_steps  # noqa: E402


def _cell(acc):
    return {n: {"mean": acc + 0.01 * int(n), "std": 0.01} for n in ("1", "10", "100")}


def test_plot_classification_draws_one_panel_per_classifier_and_one_pixel_baseline():
    res = {"codes": {"linear": _cell(0.5), "lista": _cell(0.4)},
           "pixels": {"linear": _cell(0.3), "lista": _cell(0.2)}}  # fmt: skip
    fig = plot_classification({"VDL": res, "SDL": res})
    assert len(fig.axes) == 2
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["VDL", "raw pixels", "SDL"]
    x, y = fig.axes[0].lines[0].get_data()
    assert list(x) == [1, 10, 100] and y[0] == pytest.approx(51)


def test_plot_classification_rejects_empty_input():
    with pytest.raises(ValueError, match="results"):
        plot_classification({})
    # the inner dict of one classify() output instead of the output: was a TypeError in the loop
    with pytest.raises(
        ValueError, match=r"^results\['VDL'\] must be a classify\(\) output.*got \['x'\]"
    ):
        plot_classification({"VDL": {"x": 1}})
    with pytest.raises(ValueError, match=r"^results\['SDL'\] .*got list"):
        plot_classification({"SDL": [0.9]})


def test_plot_steps_draws_the_share_of_samples_still_iterating():
    checks = {"VDL-NL": {"0.5": {"steps": [1, 3, 200, 200]}, "0.25": {"steps": [2, 2, 5, 6]}}}
    fig = plot_steps(checks, max_iter=200)
    fast, slow = fig.axes[0].lines[0].get_ydata(), fig.axes[0].lines[1].get_ydata()
    assert list(fast[:4]) == [100, 75, 75, 50]  # after k = 0, 1, 2, 3 steps
    assert len(fast) == 200 and fast[-1] == 50  # two samples ran to the cap
    assert slow[6] == 0 and slow[5] == 25


def test_plot_steps_rejects_empty_input():
    with pytest.raises(ValueError, match="checks"):
        plot_steps({"VDL-NL": {}})
