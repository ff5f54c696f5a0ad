"""Evaluation of a trained model (Method §7): test PSNR and sparsity with the encoder's codes,
denoising, and low-data classification on MNIST.

``python -m sparselab evaluate denoise|classify --run runs/x`` runs them on a trained run
(``python -m sparselab evaluate``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .metrics import dead_components, mean_std, psnr
from .models import LISTAEncoder

__all__ = ["encode_decode", "test_metrics", "denoise", "classify", "train_classifier"]


def _check_x(x: Tensor, name: str = "x") -> None:
    if not isinstance(x, Tensor) or x.ndim != 2 or not x.is_floating_point():
        raise ValueError(f"{name} must be a floating (N, P) tensor; got {getattr(x, 'shape', x)}")


def _check_labels(name: str, labels: Tensor, n: int, n_classes: int = 10) -> None:
    """labels: (n,) integers in [0, n_classes), one per input row."""
    if not isinstance(labels, Tensor) or labels.ndim != 1 or labels.is_floating_point():
        raise ValueError(
            f"{name} must be an integer (N,) tensor; got {getattr(labels, 'shape', labels)}"
        )
    if len(labels) != n:
        raise ValueError(f"{name} holds {len(labels)} labels for {n} inputs")
    if n and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"{name} must lie in [0, {n_classes}); got {labels.min()} to {labels.max()}"
        )


@torch.no_grad()
def encode_decode(
    decoder: nn.Module, encoder: nn.Module, x: Tensor, batch_size: int = 1000
) -> tuple[Tensor, Tensor]:
    """Encoder codes ``z = E(x): (N, L)`` and reconstructions ``D(z): (N, P)`` of x: (N, P),
    computed in chunks of ``batch_size`` (amortised inference: no FISTA at test time)."""
    _check_x(x)
    zs, xs = [], []
    for start in range(0, len(x), batch_size):
        z = encoder(x[start : start + batch_size])
        zs.append(z)
        xs.append(decoder(z))
    return torch.cat(zs), torch.cat(xs)


def test_metrics(
    decoder: nn.Module, encoder: nn.Module, x: Tensor, pixel_scale: float | Tensor
) -> dict[str, float]:
    """PSNR (dB, pixel space, mean over images) and sparsity of the encoder codes of x: (N, P).

    pixel_scale: scalar or (N, P), the factor from inputs to pixels. Returns ``psnr``,
    ``zero_fraction`` (fraction of code entries exactly 0), ``dead_components`` (never active).
    """
    z, x_hat = encode_decode(decoder, encoder, x)
    return {
        "psnr": psnr(x_hat, x, pixel_scale).mean().item(),
        "zero_fraction": (z == 0).float().mean().item(),
        "dead_components": dead_components(z),
    }


@torch.no_grad()
def denoise(
    decoder: nn.Module,
    encoder: nn.Module,
    x: Tensor,
    pixel_scale: float | Tensor,
    noise_levels: list[float],
    seed: int = 0,
) -> dict[float, dict[str, float]]:
    """Denoising: add Gaussian noise of std ``sigma`` (in input space) to x: (N, P), encode, decode.
    The same standard normal draw (from ``seed``) is scaled by each sigma.

    Returns, for each sigma, ``noisy_psnr`` (the noisy input against the clean image) and ``psnr``
    (the reconstruction of the noisy input against the clean image), mean over images in dB.
    """
    _check_x(x)
    if not noise_levels or any(not s >= 0 for s in noise_levels):
        raise ValueError(f"noise_levels must be non-empty and >= 0; got {noise_levels!r}")
    # one noise pattern, scaled for each level: a level's result does not depend on the others
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)).to(x)
    results = {}
    for sigma in noise_levels:
        noisy = x + sigma * noise
        _, x_hat = encode_decode(decoder, encoder, noisy)
        results[float(sigma)] = {
            "noisy_psnr": psnr(noisy, x, pixel_scale).mean().item(),
            "psnr": psnr(x_hat, x, pixel_scale).mean().item(),
        }
    return results


def train_classifier(
    features: Tensor,
    labels: Tensor,
    *,
    classifier: str = "linear",
    hidden_dim: int = 128,
    n_classes: int = 10,
    epochs: int = 300,
    lr: float = 1e-2,
    seed: int = 0,
) -> nn.Module:
    """A classifier fitted by full-batch Adam (``epochs`` steps) on features: (N, d), labels: (N,).

    classifier: ``"linear"`` (one linear layer) or ``"lista"`` (a randomly initialised LISTA module
    d -> ``hidden_dim``, 3 iterations, then a linear layer, trained end to end).
    """
    if classifier not in ("linear", "lista"):
        raise ValueError(f"classifier must be 'linear' or 'lista'; got {classifier!r}")
    _check_x(features, "features")
    _check_labels("labels", labels, len(features), n_classes)
    generator = torch.Generator().manual_seed(seed)
    d = features.shape[1]
    head = nn.Linear(hidden_dim if classifier == "lista" else d, n_classes)
    with torch.no_grad():  # seeded instead of nn.Linear's global-state init
        bound = head.in_features**-0.5
        head.weight.copy_(torch.rand(head.weight.shape, generator=generator) * 2 * bound - bound)
        head.bias.zero_()
    model = head
    if classifier == "lista":
        model = nn.Sequential(LISTAEncoder(d, hidden_dim, generator=generator), head)
    model = model.to(features)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        loss = nn.functional.cross_entropy(model(features), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()


def _few_per_class(labels: Tensor, per_class: int, generator: torch.Generator) -> Tensor:
    """Indices of ``per_class`` random samples of each class."""
    idx = [
        (labels == c).nonzero()[:, 0][torch.randperm(int((labels == c).sum()), generator=generator)]
        for c in labels.unique()
    ]
    if min(len(i) for i in idx) < per_class:
        raise ValueError(f"per_class={per_class} is more than the smallest class holds")
    return torch.cat([i[:per_class] for i in idx])


@torch.no_grad()
def _accuracy(model: nn.Module, features: Tensor, labels: Tensor) -> float:
    return (model(features).argmax(dim=1) == labels).float().mean().item()


def classify(
    encoder: nn.Module,
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    *,
    per_class: list[int],
    seeds: list[int] = (0, 1, 2),
    classifiers: list[str] = ("linear", "lista"),
    epochs: int = 300,
    lr: float = 1e-2,
) -> dict:
    """Low-data classification: for each N in ``per_class`` and each seed, draw N labelled training
    samples per class, fit each classifier on the frozen encoder's codes and on raw pixels (the
    baseline), and measure test accuracy.

    x_train, x_test: (N, P) inputs; y_train, y_test: (N,) int labels. Returns
    ``{"codes"|"pixels": {classifier: {N: {"mean", "std", "accuracies"}}}}``.
    """
    for name, t, labels in (("x_train", x_train, y_train), ("x_test", x_test, y_test)):
        _check_x(t, name)
        _check_labels(f"y{name[1:]}", labels, len(t))
    if not per_class or any(not isinstance(n, int) or n < 1 for n in per_class):
        raise ValueError(f"per_class must be a non-empty list of integers >= 1; got {per_class!r}")
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    with torch.no_grad():
        inputs = {
            "codes": (encoder(x_train), encoder(x_test)),
            "pixels": (x_train, x_test),
        }
    results: dict = {}
    for kind, (f_train, f_test) in inputs.items():
        for classifier in classifiers:
            for n in per_class:
                accs = []
                for seed in seeds:
                    idx = _few_per_class(y_train, n, torch.Generator().manual_seed(seed))
                    model = train_classifier(
                        f_train[idx],
                        y_train[idx],
                        classifier=classifier,
                        hidden_dim=getattr(encoder, "code_dim", 128),
                        epochs=epochs,
                        lr=lr,
                        seed=seed,
                    )
                    accs.append(_accuracy(model, f_test, y_test))
                mean, std = mean_std(accs)
                results.setdefault(kind, {}).setdefault(classifier, {})[n] = {
                    "mean": mean,
                    "std": std,
                    "accuracies": accs,
                }
    return results
