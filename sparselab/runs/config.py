"""What a run is: :class:`TrainConfig` (Method §6's hyper-parameters), the paper's eight presets,
their validation, the models a config builds and the data splits it trains on."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..data import MNIST_STD, load_mnist, load_patches
from ..models import LinearDictionary, LISTAEncoder, MLPDecoder
from ..stacked import stack_models

__all__ = [
    "TrainConfig",
    "PRESETS",
    "INPUT_DIM",
    "field_types",
    "validate",
    "make_config",
    "changed_fields",
    "preset_overrides",
    "build_models",
    "build_stacked",
    "models_of",
    "sweep_configs",
    "check_sweep",
    "run_name",
    "load_split",
    "load_splits",
]

INPUT_DIM = 784  # 28 x 28 images and patches


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one run, named as in Method §6. The defaults are the MNIST VDL run.

    ``eta`` is the fixed FISTA step (the paper's ``lrt_Z``); ``anneal_every`` > 0 multiplies the
    decoder's learning rate by ``anneal_factor`` every that many epochs (0: never);
    ``wd_bias_decoder`` / ``wd_bias_encoder`` are Adam weight decays applied to the MLP decoder's
    ``fc1`` bias and to the LISTA encoder's ``W`` bias only; ``n_train`` / ``n_val`` / ``n_test``:
    keep the first n samples of a split (None: all); ``device``: ``"auto"`` (CUDA when available),
    ``"cpu"`` or ``"cuda"``; ``fista_safeguard``: None (the paper's fixed step), ``"backtrack"``
    or ``"restart"`` (:func:`~sparselab.solvers.fista`); ``zero_hidden_bias``: the MLP decoder's
    b1 starts at 0, as in the paper's public code (here: PyTorch's default, uniform in ±1/√L).
    """

    # what is trained on, and the models
    data: str = "mnist"
    decoder: str = "linear"
    code_dim: int = 128
    hidden_dim: int = 1024
    # the energy (Method §2)
    lam: float = 0.02
    beta: float = 10.0
    T: float = 0.5
    gamma: float = 5.0
    # FISTA's step, the optimisers and the schedule
    eta: float = 0.5
    lr_decoder: float = 3e-4
    lr_encoder: float = 1e-4
    normalize_columns: bool = False
    wd_bias_decoder: float = 0.0
    wd_bias_encoder: float = 0.0
    anneal_every: int = 0
    anneal_factor: float = 0.5
    # epochs, batches, FISTA's stopping rule, the encoder's depth, the seed
    epochs: int = 200
    batch_size: int = 250
    max_iter: int = 200
    tol: float = 1e-3
    n_iter_lista: int = 3
    seed: int = 31
    # subsets of the splits, the patch file, where to run
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    patches_file: str | None = None
    device: str = "auto"
    # departures from the paper, off in every preset (chapter 7, "When FISTA stalls")
    fista_safeguard: str | None = None
    zero_hidden_bias: bool = False


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

_CHOICES = {
    "data": ("mnist", "patches"),
    "decoder": ("linear", "mlp"),
    "fista_safeguard": (None, "backtrack", "restart"),
}
_NON_NEGATIVE = ("lam", "beta", "T", "gamma", "wd_bias_decoder", "wd_bias_encoder", "tol")
_POSITIVE = ("eta", "lr_decoder", "lr_encoder")
_PER_MODEL = ("lam", "seed")  # the fields that may differ between the models of a sweep
_MAY_CHANGE = ("epochs", "device")  # the fields a resumed run may change


def field_types() -> dict[str, str]:
    """Field name -> its annotation as a string ('float', 'int | None', ...)."""
    return {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}


def validate(config: TrainConfig) -> None:
    """Raise ValueError naming the first field with a bad value."""
    for name, kind in field_types().items():
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
    elif isinstance(preset, str) and preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    types = field_types()
    unknown = sorted(set(overrides) - set(types))
    if unknown:
        raise ValueError(f"unknown config field(s) {unknown}; fields: {sorted(types)}")
    # ints are fine where floats are expected (lam=0 ...); store them as floats
    for name, value in overrides.items():
        if types[name] == "float" and type(value) is int:
            overrides[name] = float(value)
    config = dataclasses.replace(base, **overrides)
    validate(config)
    return config


def changed_fields(config: TrainConfig, saved: dict) -> list[str]:
    """Fields in which ``config`` differs from a saved run's config (epochs and device may)."""
    default = dataclasses.asdict(TrainConfig())  # a field newer than the saved run: its default
    return sorted(
        k
        for k, v in dataclasses.asdict(config).items()
        if k not in _MAY_CHANGE and saved.get(k, default[k]) != v
    )


def preset_overrides(config: TrainConfig, preset: str) -> dict:
    """The fields in which ``config`` departs from ``PRESETS[preset]``."""
    base = PRESETS[preset]
    return {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if getattr(config, f.name) != getattr(base, f.name)
    }


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
        decoder = MLPDecoder(
            L,
            config.hidden_dim,
            INPUT_DIM,
            generator=generator,
            zero_hidden_bias=config.zero_hidden_bias,
        )
    encoder = LISTAEncoder(INPUT_DIM, L, config.n_iter_lista, generator=generator)
    return decoder, encoder


def build_stacked(configs: list[TrainConfig]) -> tuple[nn.Module, nn.Module]:
    """Stacked decoder and encoder of K configs, each model initialised as ``build_models``."""
    singles = [build_models(c) for c in configs]
    return stack_models([d for d, _ in singles]), stack_models([e for _, e in singles])


def models_of(configs: list[TrainConfig]) -> tuple[nn.Module, nn.Module]:
    """The models the loop trains for ``configs``: single ones for one config, stacked for K."""
    return build_models(configs[0]) if len(configs) == 1 else build_stacked(configs)


def run_name(config: TrainConfig) -> str:
    """Folder name of a model of a sweep: ``lam0.01_seed3``."""
    return f"lam{config.lam:g}_seed{config.seed}"


def check_sweep(configs: list[TrainConfig]) -> None:
    """Raise ValueError unless ``configs`` are K configs equal but for lam and seed."""
    if not configs or not all(isinstance(c, TrainConfig) for c in configs):
        raise ValueError("configs must be a non-empty list of TrainConfig")
    shared = [
        {k: v for k, v in dataclasses.asdict(c).items() if k not in _PER_MODEL} for c in configs
    ]
    if any(s != shared[0] for s in shared):
        raise ValueError(f"configs may differ only in {_PER_MODEL}")
    names = [run_name(c) for c in configs]
    if len(set(names)) != len(names):
        raise ValueError("configs repeat a (lam, seed) pair")


def sweep_configs(preset: str | TrainConfig, lams, seeds, **overrides) -> list[TrainConfig]:
    """One validated config per (lam, seed), lam-major: ``[(lam0, seed0), (lam0, seed1), ...]``."""
    lams, seeds = list(lams), list(seeds)
    if not lams or not seeds:
        raise ValueError("lams and seeds must each hold at least one value")
    if len(set(lams)) != len(lams) or len(set(seeds)) != len(seeds):
        raise ValueError(f"lams and seeds must not repeat; got lams={lams}, seeds={seeds}")
    return [make_config(preset, **overrides, lam=lam, seed=s) for lam in lams for s in seeds]


def load_split(config: TrainConfig, split: str) -> tuple[Tensor, float | Tensor]:
    """Inputs ``x: (N, 784)`` of a split (``train``/``val``/``test``) and the factor from inputs to
    pixels (MNIST: 0.3081; patches: (N, 784)), with ``n_train``/``n_val``/``n_test`` applied."""
    n = {"train": config.n_train, "val": config.n_val, "test": config.n_test}[split]
    if config.data == "mnist":
        return load_mnist(split, n=n).x, MNIST_STD
    patches = load_patches(split, path=config.patches_file, n=n)
    return patches.x, patches.pixel_scale


def load_splits(config: TrainConfig, device: torch.device):
    """Train inputs, validation and test inputs with their pixel scales, on ``device``."""
    x_train, _ = load_split(config, "train")
    x_val, scale_val = load_split(config, "val")
    x_test, scale_test = load_split(config, "test")
    x_train, x_val, x_test = (t.to(device) for t in (x_train, x_val, x_test))
    scale_val, scale_test = (
        s.to(device) if isinstance(s, Tensor) else s for s in (scale_val, scale_test)
    )
    return x_train, x_val, scale_val, x_test, scale_test
