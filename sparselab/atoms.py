"""What a decoder does with one code component (Method §8, "Dictionaries").

For a linear dictionary the image of ``a e_j`` is ``a W[:, j]``: the same atom at every amplitude.
Through a multi-layer decoder the image of ``a e_j`` minus the image of the zero code can change
shape with ``a`` (the ReLU of the hidden layer switches units on and off), so it is drawn for
several amplitudes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["component_images"]


@torch.no_grad()
def component_images(
    decoder: nn.Module,
    components: Sequence[int] | None = None,
    amplitudes: Sequence[float] = (1.0,),
) -> Tensor:
    """Images ``D(a e_j) - D(0)`` of single active code components: (A, K, P).

    decoder: any module (B, L) -> (B, P) with a ``code_dim`` attribute; components: the K indices j
    (None: all L); amplitudes: the A values a.
    """
    L = int(decoder.code_dim)
    components = list(range(L)) if components is None else [int(j) for j in components]
    if len(components) == 0 or any(not 0 <= j < L for j in components):
        raise ValueError(f"components must be non-empty indices in [0, {L}); got {components}")
    amplitudes = [float(a) for a in amplitudes]
    if len(amplitudes) == 0:
        raise ValueError("amplitudes must hold at least one value")
    param = next(decoder.parameters())
    codes = torch.zeros(len(amplitudes), len(components), L, dtype=param.dtype, device=param.device)
    for k, j in enumerate(components):
        codes[:, k, j] = torch.tensor(amplitudes, dtype=param.dtype)
    zero = decoder(torch.zeros(1, L, dtype=param.dtype, device=param.device))
    return decoder(codes.reshape(-1, L)).sub(zero).reshape(len(amplitudes), len(components), -1)
