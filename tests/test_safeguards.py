"""FISTA's safeguards (issue 36) and any nn.Module decoder (issue 38), against oracles: long
small-step runs of the plain solver, autograd Jacobians."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from sparselab import (
    LinearDictionary,
    MLPDecoder,
    curvature,
    fista,
    ista,
    lipschitz_constant,
    solvers,
)
from sparselab.stacked import stack_models

F64 = torch.float64


def _sample_energy(D, y, z, lam):
    """Each sample's reconstruction + L1 (the hinge is one term for the whole batch)."""
    return (y - D(z)).pow(2).sum(-1) / y.shape[-1] + lam * z.abs().sum(-1)


def _digits(L=128, seed=0):
    """A coherent dictionary: L unit-norm MNIST validation digits (stiff: atoms alike)."""
    from sparselab import load_mnist

    x = load_mnist("val").x.double()
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:L]
    D = LinearDictionary(L, 784).double()
    with torch.no_grad():
        D.weight.copy_(x[idx].T)
    D.normalize_columns_()
    return D


def _stiff_mlp(L=32, H=256, P=196, B=200):
    """An MLP decoder and inputs it explains, its curvature within a factor 1.5 over the batch."""
    g = torch.Generator().manual_seed(0)
    D = MLPDecoder(L, H, P, generator=g).double()
    with torch.no_grad():
        D.fc1.weight.copy_(torch.linalg.qr(torch.randn(H, L, generator=g, dtype=F64))[0] * 4)
        D.fc1.bias.fill_(0.5)
        D.fc2.weight.copy_(torch.randn(P, H, generator=g, dtype=F64) * 3 / H**0.5)
    z_true = torch.relu(torch.randn(B, L, generator=g, dtype=F64) - 0.5)
    with torch.no_grad():
        y = D(z_true) + 0.1 * torch.randn(B, P, generator=g, dtype=F64)
    return D, y, z_true


def test_stiff_coherent_dictionary_backtracking_stops_where_a_long_small_step_run_does(mnist_batch):
    D, y = _digits(), mnist_batch
    kw = dict(lam=0.005, beta=10.0, T=0.5)
    step = 1.9 / lipschitz_constant(D)
    ref = fista(D, y, step=0.95 / lipschitz_constant(D), max_iter=5000, tol=0, **kw)
    plain = fista(D, y, step=step, max_iter=200, **kw)
    assert plain.energy.item() > ref.energy.item() * 1.05  # the paper's fixed step stalls here
    res = fista(D, y, step=step, max_iter=200, safeguard="backtrack", **kw)
    assert res.converged.double().mean() >= 0.99
    assert bool((res.sample_step <= step).all())
    assert res.energy.item() == pytest.approx(ref.energy.item(), rel=2e-4)
    gap = _sample_energy(D, y, res.z, 0.005) - _sample_energy(D, y, ref.z, 0.005)
    assert (gap.abs() < 2e-3 * _sample_energy(D, y, ref.z, 0.005)).double().mean() >= 0.99


def test_stiff_mlp_decoder_backtracking_stops_where_a_long_small_step_run_does():
    D, y, z_true = _stiff_mlp()
    kw = dict(lam=0.05, beta=1.0, T=0.5)
    c = curvature(D, z_true)
    step = 1.9 / float(c.max())
    assert (step * c > 4 / 3).double().mean() > 0.9  # past FISTA's edge for almost every sample
    ref = fista(D, y, step=0.5 / float(c.max()), max_iter=5000, tol=0, **kw)
    plain = fista(D, y, step=step, max_iter=200, **kw)
    assert plain.converged.double().mean() < 0.9  # the fixed step caps many samples
    res = fista(D, y, step=step, max_iter=200, safeguard="backtrack", **kw)
    assert res.converged.double().mean() >= 0.99
    assert res.energy.item() == pytest.approx(ref.energy.item(), rel=3e-4)
    gap = _sample_energy(D, y, res.z, 0.05) - _sample_energy(D, y, ref.z, 0.05)
    assert (gap.abs() < 2e-3 * _sample_energy(D, y, ref.z, 0.05)).double().mean() >= 0.99


@pytest.mark.parametrize("safeguard", ["backtrack", "restart"])
def test_well_conditioned_problem_gives_plain_fista_codes(safeguard, mnist_batch):
    D = LinearDictionary(128, 784, generator=torch.Generator().manual_seed(3)).double()
    y, e = (
        mnist_batch[:60],
        torch.rand(60, 128, dtype=F64, generator=torch.Generator().manual_seed(4)),
    )
    kw = dict(lam=0.01, beta=1.0, T=0.5, gamma=5.0, z_target=e, max_iter=3000, tol=1e-8)
    step = 0.5 / lipschitz_constant(D, gamma=5.0)
    plain = fista(D, y, step=step, **kw)
    res = fista(D, y, step=step, safeguard=safeguard, **kw)
    torch.testing.assert_close(res.z, plain.z, atol=1e-5, rtol=0)
    assert res.energy.item() == pytest.approx(plain.energy.item(), rel=1e-8)


def test_restart_unsticks_the_stiff_mlp():
    D, y, z_true = _stiff_mlp()
    step = 1.9 / float(curvature(D, z_true).max())
    plain = fista(D, y, step=step, max_iter=200, lam=0.05, beta=1.0, T=0.5)
    res = fista(D, y, step=step, max_iter=200, lam=0.05, beta=1.0, T=0.5, safeguard="restart")
    assert res.converged.double().mean() > plain.converged.double().mean() + 0.1
    assert res.energy < plain.energy


def test_ista_backtracking_decreases_the_energy_at_every_step(mnist_batch):
    D, y = _digits(64), mnist_batch[:50]
    kw = dict(lam=0.005, beta=10.0, T=0.5, step=5.0 / lipschitz_constant(D), tol=0, max_iter=40)
    res = ista(D, y, safeguard="backtrack", track_energy=True, **kw)
    assert bool((res.history.diff() <= 1e-12 * res.history[:-1]).all())
    assert not bool((ista(D, y, track_energy=True, **kw).history.diff() <= 0).all())


def test_stacked_backtracking_solves_each_model_as_alone(mnist_batch):
    g = torch.Generator().manual_seed(5)
    models = [MLPDecoder(16, 64, 784, generator=g).double() for _ in range(2)]
    y = torch.stack([mnist_batch[:30], mnist_batch[30:60]])
    kw = dict(lam=0.01, beta=10.0, T=0.5, step=20.0, max_iter=30, safeguard="backtrack")
    both = fista(stack_models(models), y, **kw)
    for k, model in enumerate(models):
        alone = fista(model, y[k], **kw)
        torch.testing.assert_close(both.z[k], alone.z, atol=1e-10, rtol=0)
        torch.testing.assert_close(both.sample_step[k], alone.sample_step)


def test_safeguard_none_is_the_default_and_bad_names_are_refused(mnist_batch):
    D, y = _digits(32), mnist_batch[:20]
    kw = dict(lam=0.01, beta=10.0, T=0.5, step=0.5)
    assert torch.equal(fista(D, y, **kw).z, fista(D, y, safeguard=None, **kw).z)
    with pytest.raises(ValueError, match=r"^safeguard must be None or 'backtrack' for ista"):
        ista(D, y, safeguard="restart", **kw)
    with pytest.raises(ValueError, match=r"^safeguard must be None, 'backtrack' or 'restart'"):
        fista(D, y, safeguard="armijo", **kw)


# --- divergence is never silent -----------------------------------------------------------------


@pytest.mark.parametrize("solver", [fista, ista])
def test_divergence_raises_naming_step_and_a_stable_step(solver):
    D = LinearDictionary(16, 30, generator=torch.Generator().manual_seed(0)).double()
    y = torch.randn(10, 30, dtype=F64, generator=torch.Generator().manual_seed(1))
    stable = 1 / lipschitz_constant(D)
    with pytest.raises(ValueError, match=r"^step=.* diverge.*largest stable step is about") as err:
        solver(D, y, lam=0.0, step=50 * stable, positive=False, tol=0, max_iter=500)
    estimate = float(str(err.value).split("about ")[1].split(" ")[0])
    assert estimate == pytest.approx(stable, rel=1e-3)


# --- any nn.Module decoder ----------------------------------------------------------------------


def _sequential(mlp: MLPDecoder) -> nn.Sequential:
    seq = nn.Sequential(nn.Linear(mlp.code_dim, mlp.hidden_dim), nn.ReLU())
    seq.append(nn.Linear(mlp.hidden_dim, mlp.input_dim, bias=False))
    seq.load_state_dict(
        {"0.weight": mlp.fc1.weight, "0.bias": mlp.fc1.bias, "2.weight": mlp.fc2.weight}
    )
    return seq.double()


def test_plain_sequential_decoder_solves_like_the_mlp_decoder(mnist_batch):
    mlp = MLPDecoder(16, 32, 784, generator=torch.Generator().manual_seed(2)).double()
    y, kw = mnist_batch[:20], dict(lam=0.01, beta=10.0, T=0.5, step=0.3, max_iter=50)
    a, b = fista(mlp, y, **kw), fista(_sequential(mlp), y, **kw)  # L from the first nn.Linear
    torch.testing.assert_close(b.z, a.z, atol=1e-10, rtol=0)
    auto = fista(_sequential(mlp), y, lam=0.01, max_iter=20)  # step="auto": local curvature
    assert auto.step == pytest.approx(
        1 / float(curvature(mlp, torch.zeros(20, 16, dtype=F64)).max())
    )


def test_code_size_from_z0_and_clear_errors_without_it():
    class Scale(nn.Module):  # no nn.Linear, no code_dim: the code size is unknown
        def forward(self, z):
            return 2 * z

    y = torch.randn(4, 6)
    res = fista(Scale(), y, lam=0.1, step=0.1, z0=torch.zeros(4, 6))
    assert res.z.shape == (4, 6)
    with pytest.raises(
        ValueError, match=r"^the code size of this Scale is unknown: pass z0 or set"
    ):
        fista(Scale(), y, lam=0.1, step=0.1)


def test_code_dim_mismatch_names_code_dim():
    seq = nn.Sequential(nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 6))
    seq.code_dim = 7
    with pytest.raises(ValueError, match=r"^code_dim = 7 does not fit the decoder: .*\(3, 7\)"):
        fista(seq, torch.randn(3, 6), lam=0.1, step=0.1)
    D = LinearDictionary(8, 6)
    D.code_dim = 7
    with pytest.raises(ValueError, match=r"^code_dim = 7 does not match the decoder's weights"):
        fista(D, torch.randn(3, 6), lam=0.1)


def test_lam_as_a_0d_tensor_and_counts_as_numpy_integers():
    D, y = LinearDictionary(8, 6), torch.randn(4, 6)
    a = fista(D, y, lam=0.1, step=0.1, max_iter=np.int64(20))
    b = fista(D, y, lam=torch.tensor(0.1), step=0.1, max_iter=20)
    assert torch.equal(a.z, b.z)
    with pytest.raises(ValueError, match=r"^lam must be a number or a 0-d tensor .* shape \(3,\)"):
        fista(D, y, lam=torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="^max_iter must be an integer"):
        fista(D, y, lam=0.1, max_iter=True)


# --- curvature: power iteration against an autograd Jacobian --------------------------------------


@pytest.mark.parametrize("gamma", [0.0, 5.0])
def test_curvature_is_the_top_squared_singular_value_of_the_jacobian(gamma):
    g = torch.Generator().manual_seed(0)
    D = MLPDecoder(10, 40, 30, generator=g).double()
    z = torch.rand(6, 10, dtype=F64, generator=g)
    J = torch.stack([torch.autograd.functional.jacobian(lambda u: D(u[None])[0], zi) for zi in z])
    expected = 2 / 30 * torch.linalg.matrix_norm(J, ord=2) ** 2 + 2 * gamma / 10
    torch.testing.assert_close(curvature(D, z, gamma=gamma, iters=300), expected, rtol=1e-6, atol=0)
    stacked = stack_models([D, D])
    torch.testing.assert_close(curvature(stacked, torch.stack([z, z]), gamma=gamma, iters=300)[1],
                               expected, rtol=1e-6, atol=0)  # fmt: skip
    with pytest.raises(ValueError, match="^iters must be"):
        curvature(D, z, iters=0)


# --- the paper's zero hidden bias --------------------------------------------------------------


def test_zero_hidden_bias_changes_b1_only():
    a = MLPDecoder(8, 16, 12, generator=torch.Generator().manual_seed(0))
    b = MLPDecoder(8, 16, 12, zero_hidden_bias=True, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.fc1.weight, b.fc1.weight) and torch.equal(a.fc2.weight, b.fc2.weight)
    assert bool((b.fc1.bias == 0).all()) and bool((a.fc1.bias != 0).all())
    assert math.isclose(float(a.fc1.bias.abs().max()), 1 / math.sqrt(8), rel_tol=0.5)
    with pytest.raises(ValueError, match="^zero_hidden_bias must be"):
        MLPDecoder(8, 16, 12, zero_hidden_bias=1)


@pytest.mark.parametrize("safeguard", ["backtrack", "restart"])
def test_safeguarded_steps_on_the_rows_left_give_the_full_batch_codes(safeguard, monkeypatch):
    """On a CPU the safeguarded loop computes f and its gradient at the rows still iterating only
    (the hinge still over every code): codes, steps and counts are those of the full-batch loop."""
    g = torch.Generator().manual_seed(8)
    D = MLPDecoder(32, 128, 784, generator=g).double()
    y = torch.rand(80, 784, generator=g, dtype=torch.float64)
    e = torch.relu(torch.randn(80, 32, generator=g, dtype=torch.float64))
    e = e * torch.linspace(0, 3, 80, dtype=torch.float64)[:, None]  # starts far and near
    kw = dict(lam=0.01, beta=10.0, T=0.5, gamma=5.0, z_target=e, step=2.0, safeguard=safeguard)
    runs = {}
    for compact_below in (1.0, 0.0):  # every converged row dropped; never
        monkeypatch.setattr(solvers, "_COMPACT_BELOW", {"cpu": compact_below})
        runs[compact_below] = fista(D, y, max_iter=80, tol=1e-4, **kw)
    compact, full = runs[1.0], runs[0.0]
    n = full.n_iter
    assert (n < n.max()).float().mean() > 0.9  # most rows stopped while some went on
    torch.testing.assert_close(compact.z, full.z, rtol=0, atol=1e-10)
    assert torch.equal(compact.n_iter, full.n_iter)
    if safeguard == "backtrack":
        torch.testing.assert_close(compact.sample_step, full.sample_step, rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["linear", "mlp", "stacked mlp", "stacked linear", "sequential"])
def test_energy_with_the_gradient_is_each_samples_smooth_energy_and_its_autograd_gradient(kind):
    """Backtracking takes f at v from the gradient's forward pass: it must be, bit for bit, the
    f that it tests candidates with (sample_smooth), and the gradient autograd's."""
    from sparselab.gradients import sample_smooth, smooth_gradient

    g = torch.Generator().manual_seed(3)
    make = {
        "linear": lambda: LinearDictionary(16, 40, generator=g),
        "mlp": lambda: MLPDecoder(16, 32, 40, generator=g),
        "stacked mlp": lambda: stack_models([MLPDecoder(16, 32, 40, generator=g) for _ in "ab"]),
        "stacked linear": lambda: stack_models(
            [LinearDictionary(16, 40, generator=g) for _ in "ab"]
        ),
        "sequential": lambda: nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 40)),
    }
    D = make[kind]().double()
    batch = (2, 30) if kind.startswith("stacked") else (30,)
    y = torch.rand(*batch, 40, generator=g, dtype=F64)
    z = torch.relu(torch.randn(*batch, 16, generator=g, dtype=F64))
    e = torch.relu(torch.randn(*batch, 16, generator=g, dtype=F64))
    f, grad = smooth_gradient(D, y, gamma=5.0, z_target=e, with_energy=True)(z)
    assert torch.equal(f, sample_smooth(D, y, 5.0, e)(z))
    assert torch.equal(grad, smooth_gradient(D, y, gamma=5.0, z_target=e)(z))
    z_ = z.clone().requires_grad_(True)
    (oracle,) = torch.autograd.grad(sample_smooth(D, y, 5.0, e)(z_).sum(), z_)
    torch.testing.assert_close(grad, oracle, rtol=1e-12, atol=1e-12)
