import pytest
import torch

from sparselab import Autoencoder, LinearDictionary, LISTAEncoder, MLPDecoder
from sparselab.energy import (
    code_std,
    encoder_term,
    energy,
    reconstruction,
    variance_hinge,
    variance_hinge_grad,
)


def _codes(B=20, L=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.relu(torch.randn(B, L, generator=g, dtype=torch.float64)) * 0.3
    z[:, 0] = 0.0  # a dead component: s_j = 0
    z[:, 1] = 2.0 * torch.randn(B, generator=g, dtype=torch.float64)  # s_j > T: hinge inactive
    return z


def test_hinge_gradient_matches_finite_differences():
    z, beta, T = _codes(), 10.0, 0.5
    grad = variance_hinge_grad(z, beta, T)
    eps = 1e-6
    fd = torch.zeros_like(z)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            zp, zm = z.clone(), z.clone()
            zp[i, j] += eps
            zm[i, j] -= eps
            fd[i, j] = (variance_hinge(zp, beta, T) - variance_hinge(zm, beta, T)) / (2 * eps)
    # column 0 (s = 0) is a kink: the closed form picks the zero subgradient; compare the rest
    torch.testing.assert_close(grad[:, 1:], fd[:, 1:], rtol=1e-6, atol=1e-8)
    assert torch.all(grad[:, 0] == 0) and torch.all(grad[:, 1] == 0)
    assert grad[:, 2:].abs().sum() > 0


def test_hinge_gradient_matches_autograd_where_std_is_positive():
    z = _codes()[:, 1:].requires_grad_(True)
    variance_hinge(z, 3.0, 0.7).backward()
    torch.testing.assert_close(variance_hinge_grad(z.detach(), 3.0, 0.7), z.grad)


def test_code_std_is_unbiased():
    z = _codes()
    assert torch.allclose(code_std(z) ** 2, ((z - z.mean(0)) ** 2).sum(0) / (z.shape[0] - 1))


def test_energy_normalisation():
    """Reconstruction: mean over pixels, sum over batch; encoder term: mean over components."""
    y, y_hat = torch.ones(3, 4), torch.zeros(3, 4)
    assert reconstruction(y, y_hat).item() == pytest.approx(3.0)
    assert encoder_term(torch.ones(3, 5), torch.zeros(3, 5), gamma=2.0).item() == pytest.approx(6.0)
    D = LinearDictionary(5, 4)
    z = torch.zeros(3, 5)
    F = energy(y, z, D, lam=0.1, beta=2.0, T=0.5, gamma=1.0, z_target=torch.ones(3, 5))
    # rec 3 + encoder 3 + hinge 2 * 5 * 0.25 = 2.5 + l1 0
    assert F.item() == pytest.approx(3.0 + 3.0 + 2.5)


def test_models_shapes_and_column_normalisation():
    g = torch.Generator().manual_seed(0)
    D = LinearDictionary(16, 30, generator=g)
    assert D.weight.shape == (30, 16) and D(torch.zeros(2, 16)).shape == (2, 30)
    torch.testing.assert_close(D.column_norms(), torch.ones(16))
    with torch.no_grad():
        D.weight.mul_(3.0)
    D.normalize_columns_()
    torch.testing.assert_close(D.column_norms(), torch.ones(16))
    M = MLPDecoder(16, 40, 30, generator=g)
    assert M.fc1.bias is not None and M.fc2.bias is None and M(torch.zeros(2, 16)).shape == (2, 30)
    M.normalize_columns_()
    torch.testing.assert_close(M.fc1.weight.norm(dim=0), torch.ones(16))
    torch.testing.assert_close(M.fc2.weight.norm(dim=0), torch.ones(40))
    E = LISTAEncoder(30, 16, generator=g)
    assert torch.all(E.W.bias == 0) and E.S.bias is None
    e = E(torch.randn(5, 30, generator=g))
    assert e.shape == (5, 16) and (e >= 0).all()
    A = Autoencoder(30, 50, generator=g)
    assert A(torch.randn(4, 30, generator=g)).shape == (4, 30)


def test_lista_forward_is_three_unrolled_iterations():
    g = torch.Generator().manual_seed(1)
    E = LISTAEncoder(10, 4, n_iter=3, generator=g)
    y = torch.randn(6, 10, generator=g)
    b = y @ E.W.weight.T + E.W.bias
    z = torch.relu(b)
    for _ in range(3):
        z = torch.relu(b + z @ E.S.weight.T)
    torch.testing.assert_close(E(y), z)


def test_seeded_initialisation_is_reproducible():
    a = MLPDecoder(8, 16, 12, generator=torch.Generator().manual_seed(7))
    b = MLPDecoder(8, 16, 12, generator=torch.Generator().manual_seed(7))
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: LinearDictionary(0, 30), "code_dim"),
        (lambda: LinearDictionary(16, -1), "input_dim"),
        (lambda: LinearDictionary(16.5, 30), "code_dim"),
        (lambda: MLPDecoder(16, 0, 30), "hidden_dim"),
        (lambda: LISTAEncoder(30, None), "code_dim"),
        (lambda: Autoencoder(0, 50), "input_dim"),
    ],
)
def test_constructors_name_a_size_that_is_not_a_positive_integer(make, name):
    with pytest.raises(ValueError, match=f"^{name} must be a positive integer"):
        make()


MODULES = {
    "linear": (lambda: LinearDictionary(16, 784), "z", 16),
    "mlp": (lambda: MLPDecoder(16, 40, 784), "z", 16),
    "lista": (lambda: LISTAEncoder(784, 16), "y", 784),
    "autoencoder": (lambda: Autoencoder(784, 50), "y", 784),
}


@pytest.mark.parametrize("kind", MODULES)
def test_forward_names_a_wrong_input_instead_of_failing_inside_torch(kind):
    make, name, size = MODULES[kind]
    module = make()
    with pytest.raises(ValueError, match=rf"^{name} must be \(B, {size}\); got \(2, 10\)$"):
        module(torch.zeros(2, 10))
    if size == 784:  # unflattened images: the message says how to fix them
        with pytest.raises(ValueError, match=rf"flatten it first, {name}.flatten\(1\)"):
            module(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match=rf"^{name} is torch.float64 on cpu but .* torch.float32"):
        module(torch.zeros(2, size, dtype=torch.float64))
    with pytest.raises(TypeError, match=f"^{name} must be a torch.Tensor; got ndarray"):
        module(torch.zeros(2, size).numpy())
    assert module(torch.zeros(3, size)).shape[0] == 3  # the right input still goes through


def test_energies_name_a_bad_input():
    D = LinearDictionary(5, 4)
    with pytest.raises(
        ValueError, match=r"^y must be \(3, 4\), the decoder's output; got \(3, 6\)"
    ):
        energy(torch.ones(3, 6), torch.zeros(3, 5), D, lam=0.1)  # would fail inside torch
    with pytest.raises(ValueError, match=r"^y must be \(3, 4\), .*; got \(1, 4\)"):
        reconstruction(torch.ones(1, 4), torch.zeros(3, 4))  # would broadcast silently
    # a std over a batch of one is 0/0: ZeroDivisionError or NaN without the check
    for f in (
        code_std,
        lambda z: variance_hinge(z, 1.0, 0.5),
        lambda z: variance_hinge_grad(z, 1.0, 0.5),
    ):
        with pytest.raises(ValueError, match=r"B >= 2 \(a std over the batch\); got \(1, 5\)"):
            f(torch.rand(1, 5))
