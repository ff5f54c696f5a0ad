"""sparselab: sparse coding with multi-layer decoders and variance regularisation.

The package behind the sparselab book (Evtimova & LeCun, TMLR 2022). Its layers, each importing
only those below it: ``util`` (devices, atomic files, progress bars); the maths the chapters point
at, one concept a module (``energy``, ``models``, ``stacked``, ``gradients``, ``solvers``,
``atoms``, ``metrics``, ``evaluate``, ``autoencoder``); ``data`` (MNIST, natural patches); ``runs``
(configs, the training loop, run folders, the paper's grids); ``book`` (figures and explorers) and
``checks`` (the lessons' checks); ``cli`` (``python -m sparselab``).
"""

from .data import load_mnist, mnist_denormalize, mnist_normalize
from .energy import energy, variance_hinge, variance_hinge_grad
from .gradients import curvature
from .models import Autoencoder, LinearDictionary, LISTAEncoder, MLPDecoder
from .solvers import InferenceResult, fista, ista, lipschitz_constant, soft_threshold

__version__ = "0.2.0"


_LAZY = {  # bring in the runs layer, which ``import sparselab`` alone does not load
    "SparseCoding": "estimator",
    "load_pretrained": "pretrained",
    "available_pretrained": "pretrained",
}


def __getattr__(name: str):
    """``sparselab.SparseCoding``, ``load_pretrained`` and ``available_pretrained``, imported on
    first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".runs.{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'sparselab' has no attribute {name!r}")


__all__ = [
    "Autoencoder",
    "InferenceResult",
    "LISTAEncoder",
    "LinearDictionary",
    "MLPDecoder",
    "SparseCoding",
    "available_pretrained",
    "curvature",
    "energy",
    "fista",
    "ista",
    "lipschitz_constant",
    "load_mnist",
    "load_pretrained",
    "mnist_denormalize",
    "mnist_normalize",
    "soft_threshold",
    "variance_hinge",
    "variance_hinge_grad",
]
