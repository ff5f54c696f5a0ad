"""Decoders, the LISTA encoder and a plain autoencoder (Method §1 and §4).

Every module takes an optional ``generator`` so that initialisation is seeded without touching
torch's global random state.
"""

from __future__ import annotations

import math
import operator

import torch
from torch import Tensor, nn

__all__ = ["LinearDictionary", "MLPDecoder", "LISTAEncoder", "Autoencoder", "normalize_columns_"]


def _uniform_(param: Tensor, fan_in: int, generator: torch.Generator | None) -> None:
    """nn.Linear's default range U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from ``generator``."""
    bound = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        param.copy_(torch.rand(param.shape, generator=generator) * 2 * bound - bound)


def _check_sizes(**sizes) -> None:
    """Constructor sizes: positive integers, named in the error."""
    for name, size in sizes.items():
        try:
            ok = operator.index(size) > 0
        except TypeError:
            ok = False
        if not ok:
            raise ValueError(f"{name} must be a positive integer; got {size!r}")


def _check_input(name: str, x: Tensor, size: int, weight: Tensor) -> None:
    """A module's input: (..., size), with the dtype and device of the module's weights."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if x.ndim == 0 or x.shape[-1] != size:
        hint = f": flatten it first, {name}.flatten(1)" if math.prod(x.shape[1:]) == size else ""
        raise ValueError(f"{name} must be (B, {size}); got {tuple(x.shape)}{hint}")
    if x.dtype != weight.dtype or x.device != weight.device:
        raise ValueError(
            f"{name} is {x.dtype} on {x.device} but the module's weights are {weight.dtype} on "
            f"{weight.device}: convert one, e.g. {name}.to(weight) or module.to({name})"
        )


@torch.no_grad()
def normalize_columns_(weight: Tensor, eps: float = 1e-12) -> Tensor:
    """Rescale each column of a (rows, cols) matrix to unit L2 norm, in place."""
    weight.div_(weight.norm(dim=0, keepdim=True).clamp_min(eps))
    return weight


class LinearDictionary(nn.Module):
    """Linear decoder ``D(z) = W z``: z: (B, L) -> (B, P); ``weight`` W: (P, L), no bias.

    Initialised with unit-norm columns (atoms).
    """

    def __init__(self, code_dim: int, input_dim: int, *, generator: torch.Generator | None = None):
        super().__init__()
        _check_sizes(code_dim=code_dim, input_dim=input_dim)
        self.code_dim, self.input_dim = int(code_dim), int(input_dim)
        self.weight = nn.Parameter(torch.randn(input_dim, code_dim, generator=generator))
        normalize_columns_(self.weight)

    def forward(self, z: Tensor) -> Tensor:
        _check_input("z", z, self.code_dim, self.weight)
        return z @ self.weight.T

    def normalize_columns_(self) -> None:
        """Rescale every atom (column of W) to unit L2 norm (SDL)."""
        normalize_columns_(self.weight)

    def column_norms(self) -> Tensor:
        """(L,) L2 norm of each atom."""
        return self.weight.detach().norm(dim=0)


class MLPDecoder(nn.Module):
    """One-hidden-layer decoder ``D(z) = W2 relu(W1 z + b1)``: z: (B, L) -> (B, P).

    ``fc1``: W1 (H, L) with bias b1; ``fc2``: W2 (P, H) without bias. Every weight and b1 start from
    nn.Linear's default range; ``zero_hidden_bias=True`` then sets b1 to 0, as the paper's public code
    does (``models/one_hidden_decoder.py`` there), leaving W1 and W2 as they were drawn.
    """

    def __init__(
        self,
        code_dim: int,
        hidden_dim: int,
        input_dim: int,
        *,
        zero_hidden_bias: bool = False,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        _check_sizes(code_dim=code_dim, hidden_dim=hidden_dim, input_dim=input_dim)
        if not isinstance(zero_hidden_bias, bool):
            raise ValueError(f"zero_hidden_bias must be True or False; got {zero_hidden_bias!r}")
        self.code_dim, self.hidden_dim, self.input_dim = (
            int(code_dim),
            int(hidden_dim),
            int(input_dim),
        )
        self.fc1 = nn.Linear(code_dim, hidden_dim, bias=True)
        self.fc2 = nn.Linear(hidden_dim, input_dim, bias=False)
        _uniform_(self.fc1.weight, code_dim, generator)
        _uniform_(self.fc1.bias, code_dim, generator)
        _uniform_(self.fc2.weight, hidden_dim, generator)
        if zero_hidden_bias:
            nn.init.zeros_(self.fc1.bias)

    def forward(self, z: Tensor) -> Tensor:
        _check_input("z", z, self.code_dim, self.fc1.weight)
        return self.fc2(torch.relu(self.fc1(z)))

    def normalize_columns_(self) -> None:
        """Rescale the columns of W1 and W2 to unit L2 norm (SDL-NL)."""
        normalize_columns_(self.fc1.weight)
        normalize_columns_(self.fc2.weight)

    def column_norms(self) -> Tensor:
        """(L,) L2 norm of the columns of W1 (how strongly each code component drives the decoder)."""
        return self.fc1.weight.detach().norm(dim=0)


class LISTAEncoder(nn.Module):
    """LISTA encoder with ``n_iter`` unrolled iterations (Method §4): y: (B, P) -> e: (B, L) >= 0.

    ``b = W_e y + b_e;  z_0 = relu(b);  z_{t+1} = relu(b + S z_t)``, W_e: (L, P) with bias b_e
    (initialised to 0), S: (L, L) without bias.
    """

    def __init__(
        self,
        input_dim: int,
        code_dim: int,
        n_iter: int = 3,
        *,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        _check_sizes(input_dim=input_dim, code_dim=code_dim)
        if n_iter < 0:
            raise ValueError(f"n_iter must be >= 0; got {n_iter}")
        self.input_dim, self.code_dim, self.n_iter = int(input_dim), int(code_dim), int(n_iter)
        self.W = nn.Linear(input_dim, code_dim, bias=True)
        self.S = nn.Linear(code_dim, code_dim, bias=False)
        _uniform_(self.W.weight, input_dim, generator)
        nn.init.zeros_(self.W.bias)
        _uniform_(self.S.weight, code_dim, generator)

    def forward(self, y: Tensor) -> Tensor:
        _check_input("y", y, self.input_dim, self.W.weight)
        b = self.W(y)
        z = torch.relu(b)
        for _ in range(self.n_iter):
            z = torch.relu(b + self.S(z))
        return z

    @classmethod
    def from_dictionary(cls, weight: Tensor, *, lam: float, step: float, n_iter: int = 3):
        """LISTA initialised to run ``n_iter + 1`` ISTA steps from z = 0 on the energy
        ``(1/P)||y - W z||^2 + lam ||z||_1`` (Gregor & LeCun 2010): W_e = (2 step / P) W^T,
        b_e = -step lam, S = I - (2 step / P) W^T W. weight: (P, L)."""
        P, L = weight.shape
        enc = cls(P, L, n_iter).to(dtype=weight.dtype, device=weight.device)
        with torch.no_grad():
            enc.W.weight.copy_(2 * step / P * weight.T)
            enc.W.bias.fill_(-step * lam)
            eye = torch.eye(L, dtype=weight.dtype, device=weight.device)
            enc.S.weight.copy_(eye - 2 * step / P * weight.T @ weight)
        return enc


class Autoencoder(nn.Module):
    """Plain autoencoder: ``encoder`` y: (B, P) -> relu(W_e y + b_e): (B, L); ``decoder`` a
    :class:`LinearDictionary`. Used by the first chapter: with L >= P and no constraint it can learn
    to copy its input."""

    def __init__(self, input_dim: int, code_dim: int, *, generator: torch.Generator | None = None):
        super().__init__()
        _check_sizes(input_dim=input_dim, code_dim=code_dim)
        self.encoder = nn.Sequential(nn.Linear(input_dim, code_dim), nn.ReLU())
        _uniform_(self.encoder[0].weight, input_dim, generator)
        _uniform_(self.encoder[0].bias, input_dim, generator)
        self.decoder = LinearDictionary(code_dim, input_dim, generator=generator)

    def forward(self, y: Tensor) -> Tensor:
        _check_input("y", y, self.decoder.input_dim, self.decoder.weight)
        return self.decoder(self.encoder(y))
