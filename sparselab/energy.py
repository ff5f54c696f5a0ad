r"""The energy that sparse inference minimises (Method §2).

For a batch ``Y = (y_1 .. y_B)`` with codes ``Z = (z_1 .. z_B)`` and encoder predictions ``e_i``:

.. math::

    F(Z) = \sum_i \Big[\tfrac{1}{P}\|y_i - D(z_i)\|^2 + \tfrac{\gamma}{L}\|z_i - e_i\|^2\Big]
         + \beta \sum_j \mathrm{relu}(T - s_j(Z))^2 + \lambda \sum_i \|z_i\|_1

with ``s_j`` the unbiased standard deviation of component ``j`` over the batch. The reconstruction is
a mean over pixels and a sum over the batch; the encoder term a mean over components, summed over the
batch: the paper's hyper-parameters assume exactly this normalisation.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "reconstruction",
    "l1",
    "code_std",
    "variance_hinge",
    "variance_hinge_grad",
    "encoder_term",
    "energy",
]


def reconstruction(y: Tensor, y_hat: Tensor) -> Tensor:
    """``sum_i (1/P) ||y_i - y_hat_i||^2``. y, y_hat: (B, P). Returns a scalar."""
    if y.shape != y_hat.shape:
        raise ValueError(
            f"y must be {tuple(y_hat.shape)}, the decoder's output; got {tuple(y.shape)}"
        )
    return (y - y_hat).pow(2).sum() / y.shape[-1]


def l1(z: Tensor, lam: float) -> Tensor:
    """``lam * sum_i ||z_i||_1``. z: (B, L). Returns a scalar."""
    return lam * z.abs().sum()


def _check_batch(z: Tensor) -> None:
    if z.ndim < 2 or z.shape[-2] < 2:
        raise ValueError(
            f"z must be (B, L) with B >= 2 (a std over the batch); got {tuple(z.shape)}"
        )


def code_std(z: Tensor) -> Tensor:
    """Unbiased std of each code component over the batch. z: (..., B, L) -> (..., L)."""
    _check_batch(z)
    centred = z - z.mean(dim=-2, keepdim=True)
    return (centred * centred).sum(dim=-2).div(z.shape[-2] - 1).sqrt()  # torch.std is slower here


def variance_hinge(z: Tensor, beta: float, T: float) -> Tensor:
    """``beta * sum_j relu(T - s_j)^2``. z: (B, L) with B >= 2 -> a scalar (or (K, B, L) -> (K,),
    each model's over its own batch)."""
    return beta * torch.relu(T - code_std(z)).pow(2).sum(-1)


def variance_hinge_grad(z: Tensor, beta: float, T: float) -> Tensor:
    """Closed-form gradient of :func:`variance_hinge` with respect to z: (..., B, L) -> (..., B, L)
    (leading dimensions: independent models, each with its own batch statistics).

    ``dF/dz_ij = -2 beta relu(T - s_j) (z_ij - mean_j) / ((B - 1) s_j)``, zero where ``s_j = 0``
    (autograd would give NaN there: the std is not differentiable at 0).
    """
    _check_batch(z)
    B = z.shape[-2]
    centred = z - z.mean(dim=-2, keepdim=True)
    s = (
        (centred * centred).sum(dim=-2, keepdim=True).div_(B - 1).sqrt_()
    )  # (faster than vector_norm)
    # where s = 0 the centred values are 0 too: a finite coefficient gives the zero subgradient
    coef = torch.relu(T - s).div_(s.clamp_min(1e-30)).mul_(-2 * beta / (B - 1))
    return centred * coef


def encoder_term(z: Tensor, e: Tensor, gamma: float) -> Tensor:
    """``(gamma/L) sum_i ||z_i - e_i||^2``. z, e: (B, L). Returns a scalar."""
    return gamma * (z - e).pow(2).sum() / z.shape[-1]


def energy(
    y: Tensor,
    z: Tensor,
    decoder: torch.nn.Module,
    *,
    lam: float,
    beta: float = 0.0,
    T: float = 0.5,
    gamma: float = 0.0,
    z_target: Tensor | None = None,
) -> Tensor:
    """The total energy ``F(Z)`` of Method §2 for a batch. y: (B, P), z: (B, L). Returns a scalar."""
    F = reconstruction(y, decoder(z)) + l1(z, lam)
    if beta > 0:
        F = F + variance_hinge(z, beta, T)
    if gamma > 0 and z_target is not None:
        F = F + encoder_term(z, z_target, gamma)
    return F
