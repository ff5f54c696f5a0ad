"""Training a plain autoencoder (chapter 1): mean squared error, optionally an L1 penalty on codes.

    loss = mean_i (1/P) ||y_i - D(E(y_i))||^2  +  l1 * mean_i ||E(y_i)||_1

No sparse inference here: the code is whatever the encoder outputs. The chapter uses it to show that
an overcomplete code (L > P) learns to copy its input unless something constrains the code.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .util.progress import progress as _progress
from .util.validate import check_int

__all__ = ["fit_autoencoder"]


def _validate(model, x, *, epochs, batch_size, lr, seed, l1) -> None:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if l1 > 0 and not isinstance(getattr(model, "encoder", None), nn.Module):
        raise ValueError("l1 > 0 needs a model with an `encoder` module (the codes to penalise)")
    if not isinstance(x, Tensor) or x.ndim != 2 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a floating-point tensor (N, P); got {shape}")
    if x.shape[0] == 0 or not torch.isfinite(x).all():
        raise ValueError("x must hold at least one sample and no NaN or inf")
    p = next(model.parameters(), None)
    if p is not None and (p.dtype != x.dtype or p.device != x.device):
        raise ValueError(
            f"model parameters are {p.dtype} on {p.device} but x is {x.dtype} on {x.device}; "
            "move one with .to()"
        )
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("seed", seed)):
        check_int(name, value, low=int(name != "seed"))
    for name, value, low in (("lr", lr, 0.0), ("l1", l1, 0.0)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < low:
            raise ValueError(f"{name} must be a finite number >= {low:g}; got {value!r}")
    if lr == 0:
        raise ValueError("lr must be > 0; got 0")


def fit_autoencoder(
    model: nn.Module,
    x: Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    l1: float = 0.0,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train ``model`` (y: (B, P) -> reconstruction (B, P)) on x: (N, P) with Adam, in place.

    A model with ``encoder`` and ``decoder`` modules (:class:`~sparselab.models.Autoencoder`) runs as
    ``decoder(encoder(y))`` so that its codes are seen; any other module as ``model(y)``.

    Mini-batches are drawn by a ``torch.Generator`` seeded with ``seed`` (a fresh permutation each
    epoch); ``l1 > 0`` adds ``l1 * mean_i ||model.encoder(y_i)||_1``. Returns one row per epoch:
    ``{"epoch", "loss", "mse", "code_l1"}``, each the mean over the epoch's samples
    (``mse``: per pixel; ``code_l1``: mean L1 norm of a code, 0 when the model has no encoder).
    """
    _validate(model, x, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, l1=l1)
    encoder = getattr(model, "encoder", None)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n, history = x.shape[0], []
    model.train()
    for epoch in _progress(range(1, epochs + 1), enabled=progress, desc="epochs"):
        totals = {"loss": 0.0, "mse": 0.0, "code_l1": 0.0}
        for idx in torch.randperm(n, generator=generator).split(batch_size):
            y = x[idx.to(x.device)]
            z = encoder(y) if isinstance(encoder, nn.Module) else None
            y_hat = model.decoder(z) if z is not None and hasattr(model, "decoder") else model(y)
            mse = (y_hat - y).pow(2).mean()
            code_l1 = z.abs().sum(dim=1).mean() if z is not None else torch.zeros(())
            loss = mse + l1 * code_l1 if l1 > 0 else mse
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for key, value in (("loss", loss), ("mse", mse), ("code_l1", code_l1)):
                totals[key] += float(value.detach()) * len(idx)
        history.append({"epoch": epoch, **{k: v / n for k, v in totals.items()}})
    model.eval()
    return history
