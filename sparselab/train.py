"""Training of SDL, SDL-NL, VDL and VDL-NL (Method §4) with the paper's hyper-parameters (Method §6).

Per batch ``y: (B, P)``: the encoder predicts ``e = E(y)`` (a constant); FISTA minimises the energy of
Method §2 from ``z0 = e`` with target ``e`` and fixed step ``eta`` (the paper's ``lrt_Z``); then one
Adam step for the decoder on ``mean_i (1/P) ||y_i - D(z*_i)||^2`` (followed, for SDL/SDL-NL, by
rescaling the decoder's columns to unit norm) and one Adam step for the encoder on
``mean_i (1/L) ||E(y_i) - z*_i||^2``. After each epoch the validation energy is computed with the
encoder's codes, and the model with the lowest one is kept.

History rows (one per epoch) hold the training and validation energies, MSE, PSNR, sparsity, dead
components, mean column norm, mean code L1, ``fista_iter`` (FISTA steps per batch: until its last
sample converged) and ``fista_iter_sample`` (steps per sample, the count Method §8 quotes),
``train_code_max`` (the largest code entry FISTA returned: codes that diverged show here),
``frozen_weights`` (the share of weights whose Adam second moment overflowed: they no longer train)
and seconds. A loss that is not finite stops training with a FloatingPointError.

``python -m sparselab train --preset mnist-vdl --out runs/x`` runs :func:`train` from the command
line; every field of :class:`TrainConfig` is also an option (``--lam 0.01``, ``--n-train 2000``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import json
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .data import MNIST_STD, load_mnist
from .energy import l1, reconstruction, variance_hinge
from .evaluate import encode_decode, test_metrics
from .metrics import dead_components, psnr
from .models import LinearDictionary, LISTAEncoder, MLPDecoder
from .progress import progress as progress_bar
from .solvers import fista
from .stacked import StackedLISTA, StackedMLPDecoder

__all__ = [
    "TrainConfig",
    "PRESETS",
    "make_config",
    "build_models",
    "infer",
    "load_split",
    "train",
    "TrainResult",
    "load_run",
    "Run",
]

INPUT_DIM = 784  # 28 x 28 images and patches
CHECKPOINT, HISTORY, CONFIG, METRICS = "checkpoint.pt", "history.csv", "config.json", "metrics.json"
DECODER, ENCODER = "decoder.pt", "encoder.pt"


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one run, named as in Method §6. The defaults are the MNIST VDL run.

    ``eta`` is the fixed FISTA step (the paper's ``lrt_Z``); ``anneal_every`` > 0 multiplies the
    decoder's learning rate by ``anneal_factor`` every that many epochs (0: never);
    ``wd_bias_decoder`` / ``wd_bias_encoder`` are Adam weight decays applied to the MLP decoder's
    ``fc1`` bias and to the LISTA encoder's ``W`` bias only; ``n_train`` / ``n_val`` / ``n_test``:
    keep the first n samples of a split (None: all); ``device``: ``"auto"`` (CUDA when available),
    ``"cpu"`` or ``"cuda"``.
    """

    data: str = "mnist"
    decoder: str = "linear"
    code_dim: int = 128
    hidden_dim: int = 1024
    lam: float = 0.02
    beta: float = 10.0
    T: float = 0.5
    gamma: float = 5.0
    eta: float = 0.5
    lr_decoder: float = 3e-4
    lr_encoder: float = 1e-4
    normalize_columns: bool = False
    wd_bias_decoder: float = 0.0
    wd_bias_encoder: float = 0.0
    anneal_every: int = 0
    anneal_factor: float = 0.5
    epochs: int = 200
    batch_size: int = 250
    max_iter: int = 200
    tol: float = 1e-3
    n_iter_lista: int = 3
    seed: int = 31
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    patches_file: str | None = None
    device: str = "auto"


_MNIST = TrainConfig(epochs=200)
_PATCHES = TrainConfig(data="patches", code_dim=256, hidden_dim=2048, epochs=100)
_SDL = dict(beta=0.0, gamma=1.0, normalize_columns=True, lr_decoder=1e-3)
#: The paper's eight runs (Method §6, from its public scripts), by name.
PRESETS: dict[str, TrainConfig] = {
    "mnist-sdl": dataclasses.replace(_MNIST, **_SDL, lam=0.005, eta=1.0, lr_encoder=3e-4),
    "mnist-sdl-nl": dataclasses.replace(
        _MNIST, **_SDL, decoder="mlp", lam=0.01, eta=1.0, wd_bias_decoder=1e-3
    ),
    "mnist-vdl": dataclasses.replace(_MNIST, lam=0.02, beta=10.0, gamma=5.0),
    "mnist-vdl-nl": dataclasses.replace(
        _MNIST, decoder="mlp", lam=0.01, gamma=100.0, wd_bias_decoder=1e-3, anneal_every=30
    ),
    "patches-sdl": dataclasses.replace(_PATCHES, **_SDL, lam=0.005, wd_bias_encoder=0.01),
    "patches-sdl-nl": dataclasses.replace(
        _PATCHES, **_SDL, decoder="mlp", lam=0.01, wd_bias_decoder=0.01, wd_bias_encoder=0.01
    ),
    "patches-vdl": dataclasses.replace(_PATCHES, lam=0.01, gamma=5.0, wd_bias_encoder=0.01),
    "patches-vdl-nl": dataclasses.replace(
        _PATCHES,
        decoder="mlp",
        lam=0.01,
        gamma=40.0,
        lr_decoder=5e-5,
        wd_bias_decoder=0.1,
        wd_bias_encoder=0.01,
        anneal_every=30,
    ),
}

_CHOICES = {"data": ("mnist", "patches"), "decoder": ("linear", "mlp")}
_NON_NEGATIVE = ("lam", "beta", "T", "gamma", "wd_bias_decoder", "wd_bias_encoder", "tol")
_POSITIVE = ("eta", "lr_decoder", "lr_encoder")


def _field_types() -> dict[str, str]:
    """Field name -> its annotation as a string ('float', 'int | None', ...)."""
    return {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}


def _validate(config: TrainConfig) -> None:
    """Raise ValueError naming the first field with a bad value."""
    types = _field_types()
    for name, kind in types.items():
        value = getattr(config, name)
        if value is None and "None" in kind:
            continue
        base = kind.split(" |")[0]
        ok = {
            "bool": isinstance(value, bool),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, (int, float)) and not isinstance(value, bool),
            "str": isinstance(value, str),
        }[base]
        if not ok or (base == "float" and not math.isfinite(value)):
            raise ValueError(f"{name} must be a finite {base}; got {value!r}")
    for name, choices in _CHOICES.items():
        if getattr(config, name) not in choices:
            raise ValueError(f"{name} must be one of {choices}; got {getattr(config, name)!r}")
    for name in _NON_NEGATIVE:
        if getattr(config, name) < 0:
            raise ValueError(f"{name} must be >= 0; got {getattr(config, name)!r}")
    for name in _POSITIVE:
        if getattr(config, name) <= 0:
            raise ValueError(f"{name} must be > 0; got {getattr(config, name)!r}")
    for name in ("code_dim", "hidden_dim", "epochs", "max_iter"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be >= 1; got {getattr(config, name)!r}")
    for name in ("n_train", "n_val", "n_test"):
        value = getattr(config, name)
        if value is not None and value < 2:
            raise ValueError(f"{name} must be >= 2 or None (all); got {value!r}")
    if config.batch_size < 2:
        raise ValueError(
            f"batch_size must be >= 2 (the hinge needs a std); got {config.batch_size}"
        )
    if config.n_iter_lista < 0 or config.anneal_every < 0:
        name = "n_iter_lista" if config.n_iter_lista < 0 else "anneal_every"
        raise ValueError(f"{name} must be >= 0; got {getattr(config, name)!r}")
    if not 0 < config.anneal_factor <= 1:
        raise ValueError(f"anneal_factor must be in (0, 1]; got {config.anneal_factor!r}")
    if config.data == "patches" and not config.patches_file:
        raise ValueError(
            "patches_file must name a file written by `python -m sparselab patches` for data='patches'"
        )
    if config.device != "auto" and config.device.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {config.device!r}")


def make_config(preset: str | TrainConfig = "mnist-vdl", **overrides) -> TrainConfig:
    """A validated :class:`TrainConfig`: a preset name (see ``PRESETS``) or a config, with
    ``overrides`` (field=value). Bad names or values raise ValueError naming the field."""
    if isinstance(preset, TrainConfig):
        base = preset
    elif preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    unknown = sorted(set(overrides) - set(_field_types()))
    if unknown:
        raise ValueError(f"unknown config field(s) {unknown}; fields: {sorted(_field_types())}")
    # ints are fine where floats are expected (lam=0 ...); store them as floats
    for name, value in overrides.items():
        if _field_types()[name] == "float" and type(value) is int:
            overrides[name] = float(value)
    config = dataclasses.replace(base, **overrides)
    _validate(config)
    return config


def resolve_device(device: str) -> torch.device:
    """``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` as a torch.device;
    a ValueError naming ``device`` when it asks for a GPU this machine does not have."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}"
        ) from None
    n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if dev.type == "cuda" and n_gpus == 0:
        raise ValueError(
            f"device={device!r}, but torch {torch.__version__} sees no CUDA GPU here; "
            "use device='auto' or 'cpu'"
        )
    if dev.type == "cuda" and (dev.index or 0) >= n_gpus:
        raise ValueError(f"device={device!r}, but this machine has {n_gpus} CUDA GPU(s)")
    return dev


def load_split(config: TrainConfig, split: str) -> tuple[Tensor, float | Tensor]:
    """Inputs ``x: (N, 784)`` of a split (``train``/``val``/``test``) and the factor from inputs to
    pixels (MNIST: 0.3081; patches: (N, 784)), with ``n_train``/``n_val``/``n_test`` applied."""
    n = {"train": config.n_train, "val": config.n_val, "test": config.n_test}[split]
    if config.data == "mnist":
        return load_mnist(split, n=n).x, MNIST_STD
    from .patches import load_patches  # only runs on patches need that module

    patches = load_patches(split, path=config.patches_file, n=n)
    return patches.x, patches.pixel_scale


def _load_splits(config: TrainConfig, device: torch.device):
    """Train inputs, validation and test inputs with their pixel scales, on ``device``."""
    x_train, _ = load_split(config, "train")
    x_val, scale_val = load_split(config, "val")
    x_test, scale_test = load_split(config, "test")
    x_train, x_val, x_test = (t.to(device) for t in (x_train, x_val, x_test))
    scale_val, scale_test = (
        s.to(device) if isinstance(s, Tensor) else s for s in (scale_val, scale_test)
    )
    return x_train, x_val, scale_val, x_test, scale_test


def build_models(
    config: TrainConfig, generator: torch.Generator | None = None
) -> tuple[nn.Module, LISTAEncoder]:
    """Decoder (LinearDictionary or MLPDecoder) and LISTA encoder of ``config`` on the CPU, seeded
    by ``generator`` (default: one seeded with ``config.seed``)."""
    if generator is None:
        generator = torch.Generator().manual_seed(config.seed)
    L = config.code_dim
    if config.decoder == "linear":
        decoder = LinearDictionary(L, INPUT_DIM, generator=generator)
    else:
        decoder = MLPDecoder(L, config.hidden_dim, INPUT_DIM, generator=generator)
    encoder = LISTAEncoder(INPUT_DIM, L, config.n_iter_lista, generator=generator)
    return decoder, encoder


def _decayed_biases(decoder, encoder) -> tuple[Tensor | None, Tensor]:
    """The biases with their own weight decay: the MLP decoder's hidden bias (a linear dictionary
    has none) and the encoder's input bias, of one model or of the K stacked models of a sweep."""
    if isinstance(decoder, MLPDecoder):
        dec_bias = decoder.fc1.bias
    elif isinstance(decoder, StackedMLPDecoder):
        dec_bias = decoder.b1
    else:
        dec_bias = None
    return dec_bias, encoder.bias if isinstance(encoder, StackedLISTA) else encoder.W.bias


def _optimizers(config, decoder, encoder) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for the decoder and for the encoder (single or stacked); weight decay only on the
    biases of :func:`_decayed_biases` (own parameter groups)."""
    dec_bias, enc_bias = _decayed_biases(decoder, encoder)

    def groups(model: nn.Module, bias: Tensor | None, wd: float) -> list[dict]:
        rest = [p for p in model.parameters() if p is not bias]
        return [{"params": rest}] + (
            [{"params": [bias], "weight_decay": wd}] if bias is not None else []
        )

    opt_d = torch.optim.Adam(
        groups(decoder, dec_bias, config.wd_bias_decoder), lr=config.lr_decoder
    )
    opt_e = torch.optim.Adam(
        groups(encoder, enc_bias, config.wd_bias_encoder), lr=config.lr_encoder
    )
    return opt_d, opt_e


def _decoder_lr(config: TrainConfig, epoch: int) -> float:
    """Decoder learning rate during ``epoch`` (0-based): halved every ``anneal_every`` epochs."""
    if config.anneal_every == 0:
        return config.lr_decoder
    return config.lr_decoder * config.anneal_factor ** (epoch // config.anneal_every)


def infer(config, decoder, encoder, y: Tensor, lam=None, *, gamma=None, z0=None):
    """FISTA codes of y (Method §3) started from, and pulled towards, the encoder's prediction
    ``e = E(y)`` (a constant); ``lam`` overrides ``config.lam`` (a per-model tensor in a sweep),
    ``gamma`` the encoder term's weight, ``z0`` the start (None: ``e``)."""
    with torch.no_grad():
        e = encoder(y)
    return fista(
        decoder,
        y,
        lam=config.lam if lam is None else lam,
        beta=config.beta,
        T=config.T,
        gamma=config.gamma if gamma is None else gamma,
        z_target=e,
        z0=e if z0 is None else z0,
        step=config.eta,
        max_iter=config.max_iter,
        tol=config.tol,
    )


def _train_epoch(configs, decoder, encoder, opt_d, opt_e, x, epoch, bar, *, stacked=False):
    """One pass over ``x: (N, P)`` in shuffled batches; returns each model's training statistics.

    configs: one config, or with ``stacked`` the K configs of a sweep (:mod:`sparselab.stacked`,
    equal but for lam and seed): then each batch is ``y: (K, B, P)``, model k shuffled with its
    own seed as it would be alone, and FISTA takes a per-model lam.
    """
    c, L, P = configs[0], configs[0].code_dim, x.shape[1]
    orders = torch.stack(
        [
            torch.randperm(len(x), generator=torch.Generator().manual_seed(ck.seed * 1009 + epoch))
            for ck in configs
        ]
    ).to(x.device)
    if stacked:  # per-model lam, (K, 1, 1)
        lam = torch.tensor([ck.lam for ck in configs], dtype=x.dtype, device=x.device).view(
            -1, 1, 1
        )
    else:
        orders, lam = orders[0], None
    for group in opt_d.param_groups:
        group["lr"] = _decoder_lr(c, epoch)
    sums = torch.zeros(len(configs), 5, dtype=torch.float64, device=x.device)
    peak = torch.zeros(len(configs), dtype=x.dtype, device=x.device)  # largest code entry
    starts = range(0, len(x) - 1, c.batch_size)  # a last batch of one sample would have no std
    for start in progress_bar(starts, enabled=bar, desc=f"epoch {epoch + 1}", unit="batch"):
        y = x[orders[..., start : start + c.batch_size]]
        n = y.shape[-2]
        res = infer(c, decoder, encoder, y, lam=lam)
        z = res.z
        # per model: mean_i (1/P) ||y_i - D(z_i)||^2; a sum of them gives independent gradients
        loss_d = (y - decoder(z)).pow(2).sum((-2, -1)) / P / n
        _check_finite(loss_d, z, configs, epoch, start // c.batch_size)
        opt_d.zero_grad(set_to_none=True)
        loss_d.sum().backward()
        opt_d.step()
        if c.normalize_columns:
            decoder.normalize_columns_()
        loss_e = (encoder(y) - z).pow(2).sum() / (n * L)  # mean_i (1/L) ||E(y_i) - z_i||^2
        opt_e.zero_grad(set_to_none=True)
        loss_e.backward()
        opt_e.step()
        # summed on the device: one host sync per epoch, not per batch
        sums += torch.stack(
            [
                res.energy / n,
                loss_d.detach(),
                z.sum((-2, -1)) / n,
                res.n_iter.amax(-1).to(z),  # steps the batch ran (until its last sample converged)
                res.n_iter.float().mean(-1).to(z),  # steps per sample (what Method §8 quotes)
            ],
            dim=-1,
        ).double()
        peak = torch.maximum(peak, z.flatten(-2).amax(-1))
    keys = ("train_energy", "train_mse", "train_code_l1", "fista_iter", "fista_iter_sample")
    rows = [dict(zip(keys, row, strict=True)) for row in (sums / len(starts)).tolist()]
    frozen = _frozen(opt_d, opt_e, len(configs))
    return [
        row | {"train_code_max": m, "frozen_weights": f}
        for row, m, f in zip(rows, peak.tolist(), frozen, strict=True)
    ]


def _check_finite(loss_d: Tensor, z: Tensor, configs, epoch: int, batch: int) -> None:
    """Stop before an Adam step on a loss that is not finite (it would turn the weights into NaN).
    loss_d: scalar, or (K,) for a sweep."""
    bad = ~torch.isfinite(loss_d.reshape(-1))
    if not bool(bad.any()):
        return
    k = int(bad.nonzero()[0])
    c, z_k = configs[k], z.reshape(len(configs), -1)[k]
    codes = f"as large as {z_k.max().item():.3g}" if z_k.isfinite().all() else "not finite"
    again = f"resuming at epoch {epoch} would replay the same batches; " if epoch else ""
    raise FloatingPointError(
        f"epoch {epoch + 1}, batch {batch + 1} (lam={c.lam:g}, seed={c.seed}): the decoder's loss "
        f"is {loss_d.reshape(-1)[k].item()}: FISTA's codes diverged (they are {codes}), the fixed "
        f"step eta={c.eta:g} being too long for this decoder. Training stopped before an Adam step "
        f"on it; {again}train again with a smaller eta (e.g. "
        f"{c.eta / 2:g}; chapter 10, 'FISTA iterations')."
    )


def _frozen(opt_d, opt_e, n_models: int) -> list[float]:
    """Per model (the K of a sweep, or 1): the share of its weights whose Adam second-moment
    estimate has overflowed to inf. Adam's step for such a weight is 0 from then on."""
    frozen = torch.zeros(n_models, dtype=torch.float64)
    total = 0
    for opt in (opt_d, opt_e):
        for group in opt.param_groups:
            for p in group["params"]:
                total += p.numel() // n_models  # stacked parameters lead with K
                v = opt.state.get(p, {}).get("exp_avg_sq")
                if v is not None:
                    frozen += torch.isinf(v.reshape(n_models, -1)).sum(-1).cpu()
    return (frozen / total).tolist()


def _frozen_message(row: dict, config: TrainConfig) -> str | None:
    """A warning once a run's weights start to freeze (``frozen_weights`` > 0)."""
    if row["frozen_weights"] == 0:
        return None
    return (
        f"epoch {row['epoch']:.0f}: {100 * row['frozen_weights']:.2g} % of the weights no longer "
        "train: a gradient overflowed Adam's second-moment estimate (inf), which makes their "
        "step 0 for good. Such gradients come from codes that diverged (train_code_max: "
        f"{row['train_code_max']:.3g}), the fixed step eta={config.eta:g} being too long for the "
        f"decoder: a smaller eta (e.g. {config.eta / 2:g}) converges where it diverged, until the "
        "decoder outgrows it too (chapter 10, 'FISTA iterations')."
    )


@torch.no_grad()
def _validate_epoch(config, decoder, encoder, x, pixel_scale) -> dict[str, float]:
    """Validation statistics with the encoder's codes; the energy (Method §2, encoder term 0) is per
    sample, averaged over batches of ``batch_size``."""
    z, x_hat = encode_decode(decoder, encoder, x)
    B, energies = config.batch_size, []
    for start in range(0, len(x) - 1, B):
        zb = z[start : start + B]
        F = reconstruction(x[start : start + B], x_hat[start : start + B]) + l1(zb, config.lam)
        if config.beta > 0:
            F = F + variance_hinge(zb, config.beta, config.T)
        energies.append(F / len(zb))
    stats = torch.stack(
        [
            torch.stack(energies).mean(),
            (x_hat - x).pow(2).mean(),
            psnr(x_hat, x, pixel_scale).mean(),
            (z == 0).float().mean(),
            z.sum(dim=1).mean(),
            decoder.column_norms().mean(),
        ]
    ).tolist()
    keys = ("val_energy", "val_mse", "val_psnr", "val_zero_fraction", "val_code_l1", "column_norm")
    return dict(zip(keys, stats, strict=True)) | {"val_dead": dead_components(z)}


def _final_metrics(decoder, encoder, best, history, val_data, test_data, device) -> dict:
    """Load the best state dicts into the models, then the run's metrics (encoder codes, Method
    §7) on validation and test data, each given as (x, pixel_scale)."""
    decoder.load_state_dict(best["decoder"])
    encoder.load_state_dict(best["encoder"])
    val, test = (test_metrics(decoder, encoder, x, scale) for x, scale in (val_data, test_data))
    return {
        "val_psnr": val["psnr"],
        "val_zero_fraction": val["zero_fraction"],
        "test_psnr": test["psnr"],
        "test_zero_fraction": test["zero_fraction"],
        "test_dead": test["dead_components"],
        "best_epoch": best["epoch"],
        "best_val_energy": best["val_energy"],
        "epochs": len(history),
        "seconds": sum(row["seconds"] for row in history),
        "device": str(device),
    }


def _atomic_save(obj, path: Path) -> None:
    """torch.save to a temporary file in the same folder, then rename (no half-written files)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _atomic_write_text(text: str, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _history_csv(history: list[dict]) -> str:
    import io

    buf = io.StringIO()
    columns = list(
        dict.fromkeys(k for row in history for k in row)
    )  # rows of older runs may lack some
    writer = csv.DictWriter(buf, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(history)
    return buf.getvalue()


def _state(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


@dataclass
class TrainResult:
    """What :func:`train` returns: the config, the best decoder and encoder (lowest validation
    energy, on the training device), the history (one dict per epoch), the final metrics and the
    run folder (None when nothing was written)."""

    config: TrainConfig
    decoder: nn.Module
    encoder: LISTAEncoder
    history: list[dict]
    metrics: dict
    out: Path | None = None


def _changed(config: TrainConfig, saved: dict) -> list[str]:
    """Fields in which ``config`` differs from a saved run's config (epochs and device may)."""
    return sorted(
        k
        for k, v in dataclasses.asdict(config).items()
        if k not in ("epochs", "device") and saved.get(k) != v
    )


def _checkpoint(decoder, encoder, opt_d, opt_e, history, best, **extra) -> dict:
    """What ``checkpoint.pt`` holds: models, optimisers, history and best (what _restore reads)."""
    return {
        "decoder": _state(decoder),
        "encoder": _state(encoder),
        "opt_decoder": opt_d.state_dict(),
        "opt_encoder": opt_e.state_dict(),
        "history": history,
        "best": best,
    } | extra


def _restore(path: Path, device, decoder, encoder, opt_d, opt_e) -> tuple[list[dict], dict]:
    """Load a ``checkpoint.pt`` into the models and optimisers; returns its history and best."""
    ckpt = torch.load(path, map_location=device, weights_only=True)
    decoder.load_state_dict(ckpt["decoder"])
    encoder.load_state_dict(ckpt["encoder"])
    opt_d.load_state_dict(ckpt["opt_decoder"])
    opt_e.load_state_dict(ckpt["opt_encoder"])
    return ckpt["history"], ckpt["best"]


def _stall_message(history: list[dict], config: TrainConfig) -> str | None:
    """A warning when FISTA's steps per batch climbed from at most half the cap to 90% of it: the
    decoder has outgrown the fixed step and some codes oscillate (chapter 10). A run that is slow
    from its first epoch (an overcomplete dictionary, a small ``max_iter``) is not a stall."""
    steps = [row["fista_iter"] for row in history]
    low = min(range(len(steps)), key=steps.__getitem__)
    if steps[-1] < 0.9 * config.max_iter or steps[low] > config.max_iter / 2:
        return None
    return (
        f"epoch {len(steps)}: FISTA's batches averaged {steps[-1]:.0f} of "
        f"max_iter={config.max_iter} steps, up from {steps[low]:.0f} at epoch {low + 1}: some "
        f"codes no longer converge. The decoder has outgrown the fixed step eta={config.eta:g} "
        f"and they oscillate; training goes on, slower. A smaller eta (e.g. {config.eta / 2:g}) "
        "converges again, until the decoder outgrows it too (chapter 10, 'FISTA iterations')."
    )


@contextlib.contextmanager
def _tf32(enabled: bool):
    """TF32 matmuls on CUDA only while ``enabled`` (no effect on the CPU)."""
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = bool(enabled)
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old


def train(
    config: TrainConfig,
    out: str | Path | None = None,
    *,
    progress: bool = True,
    resume: bool = False,
    allow_tf32: bool = False,
) -> TrainResult:
    """Train the decoder and encoder of ``config`` (Method §4); returns a :class:`TrainResult`.

    out: a folder for ``config.json``, ``history.csv``, ``checkpoint.pt`` (each epoch, atomic),
    the best ``decoder.pt`` / ``encoder.pt`` and ``metrics.json`` (None: keep everything in memory);
    resume: continue from ``out/checkpoint.pt`` (same numbers as an uninterrupted run);
    progress: a tqdm bar over epochs and batches; allow_tf32: TF32 matmuls on CUDA (off by default
    for fidelity; no effect on the CPU).
    """
    _validate(config)
    out = Path(out) if out is not None else None
    if resume:
        if out is None or not (out / CHECKPOINT).is_file() or not (out / CONFIG).is_file():
            raise ValueError(f"resume needs a run folder with {CHECKPOINT}; got out={out}")
        changed = _changed(config, json.loads((out / CONFIG).read_text()))
        if changed:
            raise ValueError(f"resume: config differs from the run in {out} in {changed}")
    device = resolve_device(config.device)
    # data errors surface before anything is written
    x_train, x_val, scale_val, x_test, scale_test = _load_splits(config, device)

    decoder, encoder = (m.to(device) for m in build_models(config))
    opt_d, opt_e = _optimizers(config, decoder, encoder)
    history: list[dict] = []
    best = {
        "val_energy": math.inf,
        "epoch": 0,
        "decoder": _state(decoder),
        "encoder": _state(encoder),
    }
    if resume:
        history, best = _restore(out / CHECKPOINT, device, decoder, encoder, opt_d, opt_e)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n", out / CONFIG)

    epochs = progress_bar(
        range(len(history), config.epochs), enabled=progress, desc="training", unit="epoch"
    )
    stalled = frozen = None
    with _tf32(allow_tf32 and device.type == "cuda"):
        for epoch in epochs:
            start = time.perf_counter()
            row = {"epoch": epoch + 1, "lr_decoder": _decoder_lr(config, epoch)}
            (stats,) = _train_epoch(
                [config], decoder, encoder, opt_d, opt_e, x_train, epoch, progress
            )
            row |= stats
            row |= _validate_epoch(config, decoder, encoder, x_val, scale_val)
            row["seconds"] = time.perf_counter() - start
            history.append(row)
            if not stalled and (stalled := _stall_message(history, config)):
                warnings.warn(stalled, RuntimeWarning, stacklevel=2)  # once a run
            if not frozen and (frozen := _frozen_message(row, config)):
                warnings.warn(frozen, RuntimeWarning, stacklevel=2)
            epochs.set_postfix(
                val_psnr=f"{row['val_psnr']:.2f}", zeros=f"{row['val_zero_fraction']:.2f}"
            )
            if row["val_energy"] < best["val_energy"]:
                best = {
                    "val_energy": row["val_energy"],
                    "epoch": epoch + 1,
                    "decoder": _state(decoder),
                    "encoder": _state(encoder),
                }
                if out is not None:
                    _atomic_save(best["decoder"], out / DECODER)
                    _atomic_save(best["encoder"], out / ENCODER)
            if out is not None:
                checkpoint = _checkpoint(decoder, encoder, opt_d, opt_e, history, best)
                _atomic_save(checkpoint, out / CHECKPOINT)
                _atomic_write_text(_history_csv(history), out / HISTORY)

    metrics = _final_metrics(
        decoder, encoder, best, history, (x_val, scale_val), (x_test, scale_test), device
    )
    if out is not None:
        _atomic_write_text(json.dumps(metrics, indent=2) + "\n", out / METRICS)
    return TrainResult(config, decoder, encoder, history, metrics, out)


class Run(NamedTuple):
    """A trained run read back by :func:`load_run` (best decoder and encoder, on the CPU)."""

    config: TrainConfig
    decoder: nn.Module
    encoder: LISTAEncoder
    history: list[dict]
    metrics: dict


def load_run(path: str | Path) -> Run:
    """Read a run folder written by :func:`train`: config, best models, history and metrics
    (``metrics`` is empty for a run that has not finished)."""
    path = Path(path)
    missing = [name for name in (CONFIG, DECODER, ENCODER) if not (path / name).is_file()]
    if missing:
        raise ValueError(f"{path} is not a finished training run: missing {', '.join(missing)}")
    config = make_config(TrainConfig(), **json.loads((path / CONFIG).read_text()))
    decoder, encoder = build_models(config)
    decoder.load_state_dict(torch.load(path / DECODER, map_location="cpu", weights_only=True))
    encoder.load_state_dict(torch.load(path / ENCODER, map_location="cpu", weights_only=True))
    history = []
    if (path / HISTORY).is_file():
        with open(path / HISTORY, newline="") as f:
            history = [{k: float(v) for k, v in row.items() if v} for row in csv.DictReader(f)]
    metrics = json.loads((path / METRICS).read_text()) if (path / METRICS).is_file() else {}
    return Run(config, decoder, encoder, history, metrics)


# ----------------------------------------------------------------------------- command line


def _parse_value(kind: str):
    """argparse ``type`` for a field annotated ``kind``."""
    base, optional = kind.split(" |")[0], "None" in kind

    def parse(text: str):
        if optional and text.lower() == "none":
            return None
        if base == "bool":
            if text.lower() in ("1", "true", "yes"):
                return True
            if text.lower() in ("0", "false", "no"):
                return False
            raise argparse.ArgumentTypeError(f"expected true or false; got {text!r}")
        return {"int": int, "float": float, "str": str}[base](text)

    parse.__name__ = base  # argparse names the type in its error messages
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m sparselab train``: a preset, a folder, and every config field."""
    parser.add_argument("--preset", help=f"one of {', '.join(PRESETS)} (default mnist-vdl)")
    parser.add_argument("--out", type=Path, required=True, help="run folder (created)")
    parser.add_argument("--resume", action="store_true", help="continue out/checkpoint.pt")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--allow-tf32", action="store_true", help="TF32 matmuls on CUDA (off: full fp32)"
    )
    fields = parser.add_argument_group("config fields (override the preset)")
    for name, kind in _field_types().items():
        fields.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=_parse_value(kind),
            default=None,
            metavar=kind.split(" |")[0].upper(),
            help=f"default from the preset ({kind})",
        )


def _overrides(args: argparse.Namespace) -> dict:
    return {n: getattr(args, n) for n in _field_types() if getattr(args, n) is not None}


def run(args: argparse.Namespace) -> int:
    """``python -m sparselab train``: validate everything, then train and print the metrics."""
    from .cli import UsageError

    out: Path = args.out
    overrides = _overrides(args)
    try:
        if args.resume:
            if not (out / CHECKPOINT).is_file() or not (out / CONFIG).is_file():
                raise UsageError(f"--resume: {out} holds no {CHECKPOINT} to continue from")
            if args.preset is not None:
                raise UsageError("--resume takes the config of the run; do not give --preset")
            saved = json.loads((out / CONFIG).read_text())
            changed = sorted(k for k in overrides if k not in ("epochs", "device"))
            if changed:
                raise UsageError(f"--resume can only change --epochs and --device; got {changed}")
            config = make_config(TrainConfig(), **(saved | overrides))
        else:
            if out.exists() and any(out.iterdir()):
                raise UsageError(f"{out} is not empty: choose another --out, or pass --resume")
            config = make_config(args.preset or "mnist-vdl", **overrides)
            load_split(config, "train")  # a missing data file is a usage error too
        resolve_device(config.device)
    except ValueError as err:
        raise UsageError(str(err)) from None
    except (OSError, RuntimeError) as err:  # DataError is a RuntimeError
        raise UsageError(str(err)) from None
    result = train(
        config, out, progress=not args.no_progress, resume=args.resume, allow_tf32=args.allow_tf32
    )
    m = result.metrics
    print(
        f"{out}: best epoch {m['best_epoch']}/{m['epochs']}, val PSNR {m['val_psnr']:.2f} dB, "
        f"test PSNR {m['test_psnr']:.2f} dB, {100 * m['test_zero_fraction']:.1f}% zeros, "
        f"{m['seconds']:.1f} s"
    )
    return 0
