"""The kept models of the paper's eight runs, shipped with the package: for a preset at its own
lam and seed 0, the best-validation decoder and encoder in float16 (chapter 10's runs, retrained
with the same command), read offline with :func:`load_pretrained`; :func:`available_pretrained`
lists the presets this version carries."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from ..evaluate import test_metrics
from ..models import LISTAEncoder
from ..util.files import save_torch
from .config import PRESETS, TrainConfig, build_models, load_split, make_config
from .store import load_run

__all__ = ["PRETRAINED_DIR", "available_pretrained", "load_pretrained", "export_pretrained"]

PRETRAINED_DIR = Path(__file__).with_name("pretrained")


def available_pretrained() -> list[str]:
    """The presets whose kept models this installation carries."""
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.pt"))


def _half(module: nn.Module) -> dict:
    return {k: v.detach().cpu().half().clone() for k, v in module.state_dict().items()}


def _models(saved: dict) -> tuple[nn.Module, LISTAEncoder, TrainConfig]:
    config = make_config(TrainConfig(), **saved["config"])
    decoder, encoder = build_models(config)
    for module, key in ((decoder, "decoder"), (encoder, "encoder")):
        module.load_state_dict({k: v.float() for k, v in saved[key].items()})
    return decoder.eval(), encoder.eval(), config


def load_pretrained(preset: str) -> tuple[nn.Module, LISTAEncoder, TrainConfig]:
    """``(decoder, encoder, config)`` of ``preset``'s kept model, on the CPU, from the package's
    own files (no network). The config is the run's; ``config.patches_file`` names the patch set it
    trained on (rebuilt by ``python -m sparselab patches ... --seed 0``, see ``patch_set``)."""
    if not isinstance(preset, str) or preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    path = PRETRAINED_DIR / f"{preset}.pt"
    if not path.is_file():
        raise ValueError(
            f"this version of sparselab ships no kept model for {preset!r}; it has "
            f"{available_pretrained()} (train one: python -m sparselab train --preset {preset})"
        )
    return _models(torch.load(path, map_location="cpu", weights_only=True))


def export_pretrained(run_dir: str | Path, preset: str, dest: str | Path = PRETRAINED_DIR) -> dict:
    """Write a finished run's kept models as ``dest/<preset>.pt`` in float16, with the run's
    config, best epoch and test PSNR in float32 and after the float16 round trip; returns them."""
    run = load_run(run_dir)
    if preset not in PRESETS or PRESETS[preset].decoder != run.config.decoder:
        raise ValueError(f"{run_dir} is not a run of preset {preset!r}")
    saved = {
        "config": dataclasses.asdict(run.config),
        "decoder": _half(run.decoder),
        "encoder": _half(run.encoder),
    }
    x, scale = load_split(run.config, "test")
    decoder, encoder, _ = _models(saved)
    saved["record"] = {
        "best_epoch": run.metrics["best_epoch"],
        "test_psnr": run.metrics["test_psnr"],
        "test_psnr_float16": test_metrics(decoder, encoder, x, scale)["psnr"],
    }
    save_torch(saved, Path(dest) / f"{preset}.pt")
    return saved["record"]
