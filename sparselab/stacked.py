"""K independent models with a leading model dimension, for training several models in one pass.

Each stacked module holds the parameters of K single models (:mod:`sparselab.models`) stacked on a
first axis and maps (K, B, in) -> (K, B, out) with batched matrix products. :func:`stack_models`
builds one from K single models (so each model is initialised exactly as alone) and each class's
``unstack(k)`` returns model k as a single module again.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .models import LinearDictionary, LISTAEncoder, MLPDecoder

__all__ = ["StackedLinearDictionary", "StackedMLPDecoder", "StackedLISTA", "stack_models"]


def _stacked(tensors) -> nn.Parameter:
    return nn.Parameter(torch.stack([t.detach() for t in tensors]).clone())


def _normalize_columns_(weight: Tensor, eps: float = 1e-12) -> None:
    """Unit L2 norm for every column of every model's matrix. weight: (K, rows, cols)."""
    with torch.no_grad():
        weight.div_(weight.norm(dim=-2, keepdim=True).clamp_min(eps))


class StackedLinearDictionary(nn.Module):
    """K linear decoders ``D_k(z) = W_k z``: z: (K, B, L) -> (K, B, P); ``weight``: (K, P, L)."""

    def __init__(self, models: list[LinearDictionary]):
        super().__init__()
        self.n_models, self.code_dim, self.input_dim = len(models), *_dims(models)
        self.weight = _stacked(m.weight for m in models)

    def forward(self, z: Tensor) -> Tensor:
        return torch.bmm(z, self.weight.transpose(1, 2))

    def normalize_columns_(self) -> None:
        _normalize_columns_(self.weight)

    def column_norms(self) -> Tensor:
        """(K, L) column norms of each W_k."""
        return self.weight.detach().norm(dim=-2)

    def unstack(self, k: int) -> LinearDictionary:
        model = LinearDictionary(self.code_dim, self.input_dim).to(self.weight)
        model.load_state_dict({"weight": self.weight[k].detach().clone()})
        return model


class StackedMLPDecoder(nn.Module):
    """K decoders ``W2_k relu(W1_k z + b1_k)``: z: (K, B, L) -> (K, B, P).

    ``W1``: (K, H, L), ``b1``: (K, 1, H), ``W2``: (K, P, H)."""

    def __init__(self, models: list[MLPDecoder]):
        super().__init__()
        self.n_models, self.code_dim, self.input_dim = len(models), *_dims(models)
        self.hidden_dim = models[0].hidden_dim
        self.W1 = _stacked(m.fc1.weight for m in models)
        self.b1 = _stacked(m.fc1.bias[None] for m in models)
        self.W2 = _stacked(m.fc2.weight for m in models)

    def forward(self, z: Tensor) -> Tensor:
        h = torch.relu(torch.baddbmm(self.b1, z, self.W1.transpose(1, 2)))
        return torch.bmm(h, self.W2.transpose(1, 2))

    def normalize_columns_(self) -> None:
        _normalize_columns_(self.W1)
        _normalize_columns_(self.W2)

    def column_norms(self) -> Tensor:
        """(K, L) column norms of each W1_k."""
        return self.W1.detach().norm(dim=-2)

    def unstack(self, k: int) -> MLPDecoder:
        model = MLPDecoder(self.code_dim, self.hidden_dim, self.input_dim).to(self.W1)
        state = {"fc1.weight": self.W1[k], "fc1.bias": self.b1[k, 0], "fc2.weight": self.W2[k]}
        model.load_state_dict({n: t.detach().clone() for n, t in state.items()})
        return model


class StackedLISTA(nn.Module):
    """K LISTA encoders: y: (K, B, P) -> (K, B, L). ``W``: (K, L, P), ``bias``: (K, 1, L),
    ``S``: (K, L, L); the same recursion as :class:`~sparselab.models.LISTAEncoder`."""

    def __init__(self, models: list[LISTAEncoder]):
        super().__init__()
        self.n_models, self.input_dim = len(models), models[0].input_dim
        self.code_dim, self.n_iter = models[0].code_dim, models[0].n_iter
        self.W = _stacked(m.W.weight for m in models)
        self.bias = _stacked(m.W.bias[None] for m in models)
        self.S = _stacked(m.S.weight for m in models)

    def forward(self, y: Tensor) -> Tensor:
        b = torch.baddbmm(self.bias, y, self.W.transpose(1, 2))
        z = torch.relu(b)
        S_t = self.S.transpose(1, 2)
        for _ in range(self.n_iter):
            z = torch.relu(torch.baddbmm(b, z, S_t))
        return z

    def unstack(self, k: int) -> LISTAEncoder:
        model = LISTAEncoder(self.input_dim, self.code_dim, self.n_iter).to(self.W)
        state = {"W.weight": self.W[k], "W.bias": self.bias[k, 0], "S.weight": self.S[k]}
        model.load_state_dict({n: t.detach().clone() for n, t in state.items()})
        return model


def _dims(models) -> tuple[int, int]:
    dims = {(m.code_dim, m.input_dim, getattr(m, "hidden_dim", None)) for m in models}
    if len(dims) != 1:
        raise ValueError(f"models must all have the same sizes; got {sorted(dims, key=str)}")
    return models[0].code_dim, models[0].input_dim


def stack_models(models: list[nn.Module]) -> nn.Module:
    """The stacked module of K >= 1 single models of one type (linear, MLP or LISTA)."""
    if not models:
        raise ValueError("models must hold at least one model")
    for cls, stacked in (
        (LinearDictionary, StackedLinearDictionary),
        (MLPDecoder, StackedMLPDecoder),
        (LISTAEncoder, StackedLISTA),
    ):
        if all(type(m) is cls for m in models):
            return stacked(models)
    raise ValueError(
        "models must all be LinearDictionary, MLPDecoder or LISTAEncoder; got "
        f"{sorted({type(m).__name__ for m in models})}"
    )
