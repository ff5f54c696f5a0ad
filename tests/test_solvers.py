import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso
from torch import nn

from benchmarks.naive import naive_energy, naive_fista
from sparselab import (
    LinearDictionary,
    LISTAEncoder,
    MLPDecoder,
    fista,
    ista,
    lipschitz_constant,
    soft_threshold,
    solvers,
)


class GenericLinear(nn.Module):
    """A linear decoder the solvers do not recognise: forces the autograd path."""

    def __init__(self, weight):
        super().__init__()
        self.weight = nn.Parameter(weight.clone())
        self.code_dim = weight.shape[1]

    def forward(self, z):
        return z @ self.weight.T


def _dictionary(P=64, L=32, seed=0, dtype=torch.float64, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return LinearDictionary(L, P, generator=g).to(dtype=dtype, device=device)


def _atoms(L=128, seed=0):
    """A dictionary of L normalised MNIST validation images: realistic, non-trivial codes."""
    from sparselab import load_mnist

    x = load_mnist("val").x.double()
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:L]
    D = LinearDictionary(L, 784).double()
    with torch.no_grad():
        D.weight.copy_(x[idx].T)
    D.normalize_columns_()
    return D


def _signals(D, B=8, seed=1, noise=0.05, signed=False):
    g = torch.Generator().manual_seed(seed)
    W = D.weight.detach().cpu()
    u = torch.randn(B, W.shape[1], generator=g, dtype=W.dtype) * 2
    z = soft_threshold(u, 1.0, positive=not signed)
    y = z @ W.T + noise * torch.randn(B, W.shape[0], generator=g, dtype=W.dtype)
    return y.to(D.weight.device)


@pytest.mark.parametrize("solver,n", [(fista, 3000), (ista, 20000)])
@pytest.mark.parametrize("positive", [True, False])
def test_solvers_match_sklearn_lasso(solver, n, positive):
    D = _dictionary()
    y = _signals(D, signed=not positive)
    lam = 0.02
    res = solver(D, y, lam=lam, step="auto", max_iter=n, tol=0, positive=positive)
    lasso = Lasso(
        alpha=lam / 2, positive=positive, fit_intercept=False, tol=1e-14, max_iter=200_000
    )
    W = D.weight.detach().numpy()
    z_ref = np.stack([lasso.fit(W, yi).coef_.copy() for yi in y.numpy()])
    assert np.abs(z_ref).sum() > 0.5  # a non-trivial solution
    np.testing.assert_allclose(res.z.numpy(), z_ref, atol=1e-6)
    if positive:
        assert (res.z >= 0).all()
    else:
        assert (res.z < 0).any()


def test_linear_fast_path_equals_autograd_path_step_for_step(mnist_batch):
    g = torch.Generator().manual_seed(3)
    D = LinearDictionary(128, 784, generator=g).double()
    generic = GenericLinear(D.weight.detach())
    y = mnist_batch[:50]
    e = torch.relu(torch.randn(50, 128, generator=g, dtype=torch.float64)) * 0.1
    kw = dict(lam=0.01, beta=10.0, T=0.5, gamma=5.0, z_target=e, step=0.5, tol=0, track_energy=True)
    for k in (1, 2, 7, 40):
        fast, slow = fista(D, y, max_iter=k, **kw), fista(generic, y, max_iter=k, **kw)
        torch.testing.assert_close(fast.z, slow.z, rtol=0, atol=1e-12)
        torch.testing.assert_close(fast.history, slow.history, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_fista_matches_independent_naive_fista(kind, mnist_batch):
    g = torch.Generator().manual_seed(4)
    if kind == "linear":
        D = LinearDictionary(128, 784, generator=g).double()
    else:
        D = MLPDecoder(128, 256, 784, generator=g).double()
    y = mnist_batch[:100]
    e = torch.relu(torch.randn(100, 128, generator=g, dtype=torch.float64)) * 0.2
    kw = dict(lam=0.01, beta=10.0, T=0.5, gamma=5.0, z_target=e)
    step = 0.5 / lipschitz_constant(D, gamma=5.0) if kind == "mlp" else 0.5
    ours = fista(D, y, step=step, max_iter=60, tol=0, **kw).z
    ref = naive_fista(D, y, step=step, n_steps=60, **kw)
    assert (ours > 0).any() and (ours == 0).any()
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)
    assert all(p.grad is None for p in D.parameters())


@pytest.mark.parametrize("compact_below", [1.0, 0.5])  # the CPU's and the GPU's thresholds
def test_mlp_fista_with_early_stopping_matches_naive_fista(compact_below, mnist_batch, monkeypatch):
    """With tol > 0 the MLP decoder's steps shrink to the rows still iterating (the hinge still
    sees every code): the codes must be those of a plain full-batch loop."""
    monkeypatch.setattr(solvers, "_COMPACT_BELOW", {"cpu": compact_below})
    g = torch.Generator().manual_seed(12)
    D = MLPDecoder(128, 256, 784, generator=g).double()
    y = mnist_batch[:100]
    e = torch.relu(torch.randn(100, 128, generator=g, dtype=torch.float64)) * 0.2
    e = e * torch.linspace(0, 3, 100, dtype=torch.float64)[:, None]  # starts far and near
    kw = dict(lam=0.01, beta=10.0, T=0.5, gamma=50.0, z_target=e)
    step = 1.0 / lipschitz_constant(D, gamma=50.0)
    res = fista(D, y, step=step, max_iter=60, tol=1e-3, **kw)
    ref = naive_fista(D, y, step=step, n_steps=60, tol=1e-3, **kw)
    n = res.n_iter.float()
    assert n.median() < 0.5 * n.max()  # most rows stopped while some went on
    torch.testing.assert_close(res.z, ref, rtol=0, atol=1e-9)


def test_fista_leaves_decoder_untouched():
    g = torch.Generator().manual_seed(5)
    D = MLPDecoder(16, 32, 20, generator=g)
    before = [p.detach().clone() for p in D.parameters()]
    y = torch.randn(10, 20, generator=g)
    fista(D, y, lam=0.1, beta=1.0, step=0.1, max_iter=20)
    for p, b in zip(D.parameters(), before, strict=True):
        assert torch.equal(p, b) and p.grad is None and p.requires_grad


def test_ista_energy_decreases_monotonically(mnist_batch):
    D = _atoms(seed=6)
    y = mnist_batch[:64]
    e = torch.rand(64, 128, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    res = ista(D, y, lam=0.002, gamma=1.0, z_target=e, z0=torch.zeros_like(e), step="auto",
               max_iter=100, tol=0, track_energy=True)  # fmt: skip
    start = (y**2).sum() / 784 + 1.0 * (e**2).sum() / 128  # F at z = 0
    energies = torch.cat([start[None], res.history])
    assert (energies.diff() <= 1e-12 * energies[:-1]).all()
    assert energies[-1] < 0.6 * energies[0] and (energies.diff() < 0).sum() > 50


def test_fista_beats_ista_on_the_same_budget(mnist_batch):
    D = _atoms(seed=7)  # correlated atoms: an ill-conditioned problem where momentum pays
    y = mnist_batch[:64]
    kw = dict(lam=0.005, step="auto", max_iter=50, tol=0)
    assert fista(D, y, **kw).energy < 0.98 * ista(D, y, **kw).energy


def test_tol_zero_runs_exactly_max_iter(mnist_batch):
    D = _dictionary(784, 128, seed=8)
    res = fista(D, mnist_batch[:20], lam=0.01, step=1.0, max_iter=17, tol=0, track_energy=True)
    assert res.n_iter.tolist() == [17] * 20 and res.history.shape == (17,)


def test_tolerance_freezes_each_sample_independently(mnist_batch):
    """Without the hinge the samples do not interact: per-sample early stopping in a batch must give
    each sample exactly what solving it alone gives."""
    D = _atoms(seed=9)
    y = mnist_batch[:12].clone()
    y[3] = 0.0  # a zero input with a zero start: its code never changes, converged at step 1
    res = fista(D, y, lam=0.01, step="auto", max_iter=1000, tol=1e-3)
    assert res.n_iter[3] == 1 and torch.all(res.z[3] == 0)
    assert res.converged.all() and len(set(res.n_iter.tolist())) > 2
    for i in range(12):
        alone = fista(D, y[i : i + 1], lam=0.01, step="auto", max_iter=1000, tol=1e-3)
        assert alone.n_iter.item() == res.n_iter[i].item()
        torch.testing.assert_close(alone.z[0], res.z[i], rtol=0, atol=1e-10)


def test_stopping_rule_uses_relative_change(mnist_batch):
    D = _atoms(seed=10)
    y = mnist_batch[:30]
    res = fista(D, y, lam=0.01, step=1.0, max_iter=500, tol=1e-3)
    i = int(res.n_iter.argmax())
    k = int(res.n_iter[i])
    assert k > 5
    run = lambda n: fista(D, y[i : i + 1], lam=0.01, step=1.0, max_iter=n, tol=0).z  # noqa: E731
    before, after, prev = run(k - 1), run(k), run(k - 2)
    assert (after - before).norm() < 1e-3 * before.norm()
    assert (before - prev).norm() >= 1e-3 * prev.norm()


def test_lipschitz_constant_matches_svd():
    D = _dictionary(100, 40, seed=11)
    exact = 2 / 100 * torch.linalg.matrix_norm(D.weight.detach(), ord=2) ** 2 + 2 * 3.0 / 40
    assert lipschitz_constant(D, gamma=3.0) == pytest.approx(exact.item(), rel=1e-6)
    M = MLPDecoder(20, 50, 30)
    bound = torch.linalg.matrix_norm(M.fc1.weight.detach(), ord=2) * torch.linalg.matrix_norm(
        M.fc2.weight.detach(), ord=2
    )
    assert lipschitz_constant(M) == pytest.approx(2 / 30 * bound.item() ** 2, rel=1e-5)


def test_soft_threshold():
    u = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0])
    assert soft_threshold(u, 1.0).tolist() == [0, 0, 0, 0, 1.0]
    assert soft_threshold(u, 1.0, positive=False).tolist() == [-1.0, 0, 0, 0, 1.0]


def test_lista_initialised_from_dictionary_reproduces_ista(mnist_batch):
    D = _dictionary(784, 128, seed=12)
    y = mnist_batch[:16]
    for n_iter in (0, 1, 3):
        enc = LISTAEncoder.from_dictionary(D.weight.detach(), lam=0.01, step=1.0, n_iter=n_iter)
        ref = ista(D, y, lam=0.01, step=1.0, max_iter=n_iter + 1, tol=0).z
        torch.testing.assert_close(enc(y), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_runs_on_each_device_and_dtype(device, dtype, mnist_batch):
    g = torch.Generator().manual_seed(13)
    for D in (LinearDictionary(128, 784, generator=g), MLPDecoder(128, 256, 784, generator=g)):
        D = D.to(device=device, dtype=dtype)
        y = mnist_batch[:250].to(device=device, dtype=dtype)
        res = fista(D, y, lam=0.01, beta=10.0, T=0.5, step=0.2, max_iter=30)
        assert res.z.dtype == dtype and res.z.device.type == device.type
        assert res.z.shape == (250, 128) and res.n_iter.shape == (250,)
        assert torch.isfinite(res.energy) and (res.z >= 0).all()


def test_energy_reported_is_the_energy_of_the_codes(mnist_batch):
    D = _dictionary(784, 128, seed=14)
    y = mnist_batch[:40]
    e = torch.rand(40, 128, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    kw = dict(lam=0.01, beta=10.0, T=0.5, gamma=5.0, z_target=e)
    res = fista(D, y, step=0.5, max_iter=10, **kw)
    smooth, l1 = naive_energy(D, y, res.z, **kw)
    assert res.energy.item() == pytest.approx((smooth + l1).item(), rel=1e-12)


# --- input validation: each error names the argument ------------------------------------------


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(lam=-1.0), "lam"),
        (dict(lam=0.1, beta=-1.0), "beta"),
        (dict(lam=0.1, T=-0.5), "T"),
        (dict(lam=0.1, gamma=-1.0), "gamma"),
        (dict(lam=0.1, step=-0.1), "step"),
        (dict(lam=0.1, step=0.0), "step"),
        (dict(lam=0.1, step="fast"), "step"),
        (dict(lam=float("nan")), "lam"),
        (dict(lam=0.1, max_iter=0), "max_iter"),
        (dict(lam=0.1, tol=-1e-3), "tol"),
        (dict(lam=0.1, z0=torch.zeros(5, 7)), "z0"),
        (dict(lam=0.1, z_target=torch.zeros(4, 7)), "z_target"),
        (dict(lam=0.1, z0=torch.zeros(4, 8, dtype=torch.float64)), "z0"),
        (dict(lam=0.1, z_target=torch.full((4, 8), float("inf"))), "z_target"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, name):
    D = LinearDictionary(8, 6)
    y = torch.randn(4, 6)
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        fista(D, y, **kwargs)


@pytest.mark.parametrize(
    "y,match",
    [
        (torch.randn(4, 2, 3), r"y must be \(B, P\)"),
        (torch.randn(4, 5), r"y must be \(B, 6\)"),
        (torch.randint(0, 3, (4, 6)), "y must be floating"),
        (torch.tensor([[float("nan")] * 6] * 4), "y contains NaN"),
        (torch.randn(4, 6, dtype=torch.float64), "decoder parameters"),
        (np.zeros((4, 6)), "y must be a torch.Tensor"),
    ],
)
def test_bad_inputs_raise_value_error(y, match):
    with pytest.raises(ValueError, match=match):
        fista(LinearDictionary(8, 6), y, lam=0.1)


def test_hinge_needs_two_samples_and_generic_decoder_output_is_checked():
    with pytest.raises(ValueError, match="beta > 0 needs a batch"):
        fista(LinearDictionary(8, 6), torch.randn(1, 6), lam=0.1, beta=1.0)
    with pytest.raises(ValueError, match="decoder maps"):
        fista(GenericLinear(torch.randn(5, 8)), torch.randn(3, 6), lam=0.1, step=0.1)
