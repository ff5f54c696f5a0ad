r"""The smooth part of the energy of Method §2, as the gradient step of proximal gradient methods.

.. math::

    f(Z) = \sum_i \tfrac{1}{P}\|y_i - D(z_i)\|^2 + \tfrac{\gamma}{L}\|z_i - e_i\|^2
         + \beta \sum_j \mathrm{relu}(T - s_j(Z))^2, \qquad v \mapsto v - \eta \nabla f(v)

:func:`gradient_step` builds that map once per batch, in the cheapest form each decoder allows: an
affine map ``v S + c`` for a :class:`~sparselab.models.LinearDictionary` (``S`` and ``c`` computed
once), the MLP's gradient written out, batched products for K stacked models, and autograd for any
other module. The hinge's closed-form gradient (:func:`~sparselab.energy.variance_hinge_grad`)
couples the samples of a batch. :func:`smooth_gradient` is the gradient itself (the hinge left out),
for the safeguarded solvers; :func:`curvature` each sample's curvature of f, by power iteration on
the decoder's Jacobian.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .energy import variance_hinge_grad
from .models import LinearDictionary, MLPDecoder
from .stacked import StackedLinearDictionary, StackedMLPDecoder

__all__ = [
    "gradient_step",
    "smooth_gradient",
    "sample_smooth",
    "curvature",
    "put_rows",
    "take_rows",
]


def gradient_step(decoder: nn.Module, y: Tensor, eta: float, *, beta, T, gamma, z_target):
    """Returns the map ``v -> v - eta grad f(v)`` for the smooth part f of the energy; v: (B, L)
    (or (K, B, L) with a stacked decoder). For a decoder that is not linear it also takes
    ``(v, rows)``: only those rows (n,) of the result (rows (K, n): n rows of each model), the
    hinge's statistics still over all of v."""
    P, L = y.shape[-1], z_target.shape[-1]
    if isinstance(decoder, StackedLinearDictionary):  # the affine step of each model, batched
        W = decoder.weight.detach()
        eye = torch.eye(L, dtype=W.dtype, device=W.device)
        S = torch.baddbmm(
            eye - (2.0 * eta * gamma / L) * eye, W.transpose(1, 2), W, alpha=-2.0 * eta / P
        )
        c = eta * ((2.0 / P) * torch.bmm(y, W) + (2.0 * gamma / L) * z_target)

        def smooth_step(v: Tensor) -> Tensor:
            return torch.baddbmm(c, v, S)
    elif isinstance(decoder, LinearDictionary):
        # f is quadratic (but for the hinge): the step is affine, v S + c, with S and c computed
        # once per batch, so a step costs one (B, L) x (L, L) product (LISTA's form, chapter 6).
        W = decoder.weight.detach()
        A = (2.0 / P) * (W.T @ W) + (2.0 * gamma / L) * torch.eye(L, dtype=W.dtype, device=W.device)
        S = torch.eye(L, dtype=W.dtype, device=W.device) - eta * A
        c = eta * ((2.0 / P) * (y @ W) + (2.0 * gamma / L) * z_target)

        def smooth_step(v: Tensor) -> Tensor:
            return torch.addmm(c, v, S)
    else:
        grad_rec = _reconstruction_grad(decoder)

        def smooth_step(v: Tensor, rows: Tensor | None = None) -> Tensor:
            if rows is None:
                v_rows, y_rows, e_rows = v, y, z_target
            else:
                v_rows, y_rows, e_rows = (take_rows(t, rows) for t in (v, y, z_target))
            g = grad_rec(v_rows, y_rows)[1]
            if gamma > 0:
                g = g + (2.0 * gamma / L) * (v_rows - e_rows)
            return v_rows - eta * g

    if beta == 0:
        return smooth_step

    def step(v: Tensor, *rows: Tensor) -> Tensor:
        hinge = variance_hinge_grad(v, beta, T)  # couples the batch: from every sample's code
        return smooth_step(v, *rows).add_(take_rows(hinge, rows[0]) if rows else hinge, alpha=-eta)

    return step


def sample_smooth(decoder: nn.Module, y: Tensor, gamma: float, z_target: Tensor):
    """``z -> (..., B)``: each sample's ``(1/P)||y_i - D(z_i)||^2 + (gamma/L)||z_i - e_i||^2``."""
    energy = _sample_energy(y, gamma, z_target)
    return lambda z: energy(decoder(z) - y, z)


def _sample_energy(y: Tensor, gamma: float, z_target: Tensor):
    """``(residual, z) -> (..., B)``: :func:`sample_smooth` from the residual D(z) - y."""
    P, L = y.shape[-1], z_target.shape[-1]

    def energy(residual: Tensor, z: Tensor) -> Tensor:
        F = residual.pow(2).sum(-1) / P
        return F + gamma * (z - z_target).pow(2).sum(-1) / L if gamma > 0 else F

    return energy


def smooth_gradient(decoder: nn.Module, y: Tensor, *, gamma, z_target, with_energy=False):
    """Returns the map ``z -> grad f(z)`` for f without the hinge:
    ``sum_i (1/P)||y_i - D(z_i)||^2 + (gamma/L)||z_i - e_i||^2``; z, z_target: (B, L) (or (K, B, L)).
    ``with_energy``: ``z -> (f_i, grad f)``, each sample's f_i (:func:`sample_smooth`) too, from the
    same forward pass where the gradient makes one (a linear decoder's gradient needs none: it adds
    one)."""
    P, L = y.shape[-1], z_target.shape[-1]
    if isinstance(decoder, (LinearDictionary, StackedLinearDictionary)):
        W = decoder.weight.detach()  # (P, L) or (K, P, L)
        eye = torch.eye(L, dtype=W.dtype, device=W.device)
        A = (2.0 / P) * (W.transpose(-1, -2) @ W) + (2.0 * gamma / L) * eye
        b = (2.0 / P) * (y @ W) + (2.0 * gamma / L) * z_target
        if not with_energy:
            return lambda z: z @ A - b
        f = sample_smooth(decoder, y, gamma, z_target)
        return lambda z: (f(z), z @ A - b)
    grad_rec, energy = _reconstruction_grad(decoder), _sample_energy(y, gamma, z_target)

    def grad(z: Tensor):
        residual, g = grad_rec(z, y)  # D(z) - y, (..., B, P)
        if gamma > 0:
            g = g + (2.0 * gamma / L) * (z - z_target)
        return (energy(residual, z), g) if with_energy else g

    return grad


@torch.no_grad()
def curvature(
    decoder: nn.Module,
    z: Tensor,
    *,
    gamma: float = 0.0,
    iters: int = 20,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Each sample's largest curvature of f (the hinge left out) at its code, by power iteration:
    the top eigenvalue of ``(2/P) J_i^T J_i + (2 gamma / L) I``, J_i: (P, L) the decoder's Jacobian
    at z_i (for a ReLU decoder, piecewise linear, the reconstruction's Hessian itself).
    z: (B, L) -> (B,) (or (K, B, L) -> (K, B) for K stacked models). ``eta * curvature`` above 4/3
    is where FISTA's fixed step starts to oscillate (chapter 7), above 2 where ISTA's does."""
    if not isinstance(iters, int) or isinstance(iters, bool) or iters < 1:
        raise ValueError(f"iters must be an integer >= 1; got {iters!r}")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    z = z.detach()
    # one start per sample, the same for each of K stacked models: they estimate as they would alone
    u = torch.randn(z.shape[-2:], generator=gen, dtype=z.dtype).to(z.device).expand_as(z)
    with torch.enable_grad():
        out, vjp = torch.func.vjp(decoder, z)
    for _ in range(iters):
        u = u / u.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(u.dtype).tiny)
        Ju = torch.func.jvp(decoder, (z,), (u,))[1]
        (JtJu,) = vjp(Ju)
        u = JtJu
    sigma2 = (Ju * Ju).sum(-1)  # u^T J^T J u at the last unit vector u: the Rayleigh quotient
    return (2.0 / out.shape[-1]) * sigma2 + 2.0 * gamma / z.shape[-1]


def _reconstruction_grad(decoder: nn.Module):
    """``(z, y) -> (D(z) - y, grad of sum_i (1/P)||y_i - D(z_i)||^2)`` for a decoder that is not
    linear."""
    if isinstance(decoder, StackedMLPDecoder):
        return _stacked_mlp_grad(decoder)
    if isinstance(decoder, MLPDecoder):
        return _mlp_grad(decoder)
    return _autograd(decoder)


def take_rows(t: Tensor, rows: Tensor) -> Tensor:
    """The rows of t: (B, .) at rows: (n,), or of each model of t: (K, B, .) at rows: (K, n)."""
    if rows.ndim == 1:
        return t[rows]
    return t.gather(1, rows[..., None].expand(-1, -1, t.shape[-1]))


def put_rows(t: Tensor, rows: Tensor, values: Tensor) -> Tensor:
    """A copy of t with ``take_rows(t, rows)`` replaced by values."""
    if rows.ndim == 1:
        return t.index_copy(0, rows, values)
    return t.scatter(1, rows[..., None].expand(-1, -1, t.shape[-1]), values)


def _mlp_grad(decoder: MLPDecoder):
    """Gradient of sum_i (1/P) ||y_i - W2 relu(W1 z_i + b1)||^2 in z, written out (no autograd)."""
    W1, b1, W2 = (p.detach() for p in (decoder.fc1.weight, decoder.fc1.bias, decoder.fc2.weight))

    def grad(z: Tensor, y: Tensor) -> Tensor:
        P = y.shape[-1]
        a = torch.addmm(b1, z, W1.T)
        r = torch.relu(a) @ W2.T - y
        return r, ((2.0 / P) * (r @ W2) * (a > 0)) @ W1

    return grad


def _stacked_mlp_grad(decoder: StackedMLPDecoder):
    """:func:`_mlp_grad` for K models at once: z, y: (K, B, .) with batched products."""
    W1, b1, W2 = (p.detach() for p in (decoder.W1, decoder.b1, decoder.W2))
    W1_t, W2_t = W1.transpose(1, 2), W2.transpose(1, 2)

    def grad(z: Tensor, y: Tensor) -> Tensor:
        P = y.shape[-1]
        a = torch.baddbmm(b1, z, W1_t)
        r = torch.bmm(torch.relu(a), W2_t) - y
        return r, torch.bmm((2.0 / P) * torch.bmm(r, W2) * (a > 0), W1)

    return grad


def _autograd(decoder: nn.Module):
    """Gradient of the reconstruction term in z by autograd, for any decoder module."""

    def grad(z: Tensor, y: Tensor) -> Tensor:
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            r = decoder(z) - y
            loss = r.pow(2).sum() / y.shape[-1]
            return r.detach(), torch.autograd.grad(loss, z)[0]

    return grad
