import pytest
import torch

from sparselab import Autoencoder, load_mnist
from sparselab.autoencoder import fit_autoencoder


def _model(code_dim, seed=0, input_dim=784):
    return Autoencoder(input_dim, code_dim, generator=torch.Generator().manual_seed(seed))


def test_loss_decreases_on_mnist():
    x = load_mnist("train", n=512).x
    history = fit_autoencoder(
        _model(32), x, epochs=4, batch_size=64, lr=1e-3, seed=0, progress=False
    )
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    losses = [row["loss"] for row in history]
    assert losses[-1] < 0.7 * losses[0]


def test_history_matches_a_direct_evaluation():
    """With lr tiny the model barely moves: the reported mse equals the mse of the initial model
    computed directly (an independent formula for the epoch mean)."""
    x = load_mnist("train", n=200).x.double()
    model = _model(16).double()
    with torch.no_grad():
        expected = (model(x) - x).pow(2).mean().item()
        codes = model.encoder(x).abs().sum(dim=1).mean().item()
    row = fit_autoencoder(
        model, x, epochs=1, batch_size=50, lr=1e-12, seed=3, l1=0.1, progress=False
    )[0]
    assert row["mse"] == pytest.approx(expected, rel=1e-6)
    assert row["code_l1"] == pytest.approx(codes, rel=1e-6)
    assert row["loss"] == pytest.approx(expected + 0.1 * codes, rel=1e-6)


def test_seeded_runs_are_identical():
    x = load_mnist("train", n=256).x
    runs = []
    for _ in range(2):
        model = _model(24, seed=5)
        h = fit_autoencoder(model, x, epochs=2, batch_size=32, lr=1e-3, seed=7, progress=False)
        runs.append((h, model.decoder.weight.detach().clone()))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])
    other = _model(24, seed=5)
    h = fit_autoencoder(other, x, epochs=2, batch_size=32, lr=1e-3, seed=8, progress=False)
    assert h != runs[0][0]  # the seed drives the batch order


def test_overcomplete_autoencoder_learns_near_identity():
    """L > P with no constraint: the autoencoder learns to copy inputs it has never seen."""
    gen = torch.Generator().manual_seed(0)
    P = 16
    x = torch.randn(2000, P, generator=gen)
    model = _model(64, input_dim=P)
    fit_autoencoder(model, x, epochs=40, batch_size=100, lr=3e-3, seed=0, progress=False)
    x_new = torch.randn(500, P, generator=gen)
    with torch.no_grad():
        rel = (model(x_new) - x_new).pow(2).sum() / x_new.pow(2).sum()
    assert rel < 0.02


def test_l1_penalty_shrinks_codes():
    x = load_mnist("train", n=256).x
    rows = [
        fit_autoencoder(
            _model(32), x, epochs=2, batch_size=64, lr=1e-3, seed=0, l1=l1, progress=False
        )[-1]
        for l1 in (0.0, 0.05)
    ]
    assert rows[1]["code_l1"] < 0.5 * rows[0]["code_l1"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": -1.0}, "lr"),
        ({"lr": 0.0}, "lr"),
        ({"l1": float("nan")}, "l1"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_invalid_arguments(kwargs, match):
    args = {"epochs": 1, "batch_size": 8, "lr": 1e-3, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=match):
        fit_autoencoder(_model(4, input_dim=8), torch.zeros(16, 8), **args)


def test_invalid_inputs():
    model = _model(4, input_dim=8)
    args = {"epochs": 1, "batch_size": 8, "lr": 1e-3, "seed": 0}
    with pytest.raises(ValueError, match="x must"):
        fit_autoencoder(model, torch.zeros(16, 8, 1), **args)
    with pytest.raises(ValueError, match="x must"):
        fit_autoencoder(model, torch.full((4, 8), float("nan")), **args)
    with pytest.raises(ValueError, match="model parameters"):
        fit_autoencoder(model, torch.zeros(16, 8, dtype=torch.float64), **args)
    with pytest.raises(ValueError, match="encoder"):
        fit_autoencoder(torch.nn.Linear(8, 8), torch.zeros(16, 8), l1=0.1, **args)
