"""Rebuild the paper's experiments (chapter 10): the lam sweeps of SDL, SDL-NL, VDL and VDL-NL on
MNIST and on patches, with denoising and (MNIST) low-data classification, as compact artifacts.
``python -m sparselab reproduce mnist|patches`` (``--help``; ``--executor`` for a cluster).

Each (preset, lam, seed) trains into ``runs/reproduce/<data>/<preset>/lam<lam>/seed<seed>`` with
:func:`~sparselab.runs.trainer.train`; a finished run is skipped and an interrupted one resumed. A
run the manifest already records, trained as asked, is skipped too when its run folder is not here
(another machine made it). Artifacts go to ``book/results/<data>/``: per run the metrics, the
history, denoising, FISTA's steps at the fixed step and at half of it (:func:`step_check`: the kept
model's, and the last epoch's where training went on past it), classification (lam of the preset
only) and the atoms (seed 0 only, float16), plus ``manifest.json`` (command, machine, date, time).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import inspect
import json
import shutil
import time
from pathlib import Path

import torch

from ..atoms import component_images
from ..data import load_mnist
from ..data.patches import rebuild_command
from ..evaluate import classify, denoise
from ..solvers import DivergenceError
from ..util.device import machine
from ..util.files import write_json
from .config import (
    PRESETS,
    TrainConfig,
    build_models,
    load_split,
    make_config,
    preset_overrides,
    run_name,
)
from .loop import infer
from .store import CHECKPOINT, CONFIG, DECODER, ENCODER, HISTORY, METRICS, load_run, update_manifest
from .trainer import sweep, train

__all__ = [
    "LAM_GRIDS",
    "MODELS",
    "Group",
    "plan",
    "grid",
    "finished",
    "run_group",
    "record",
    "reproduce",
    "step_check",
    "export_variant",
]

# lam values of each sweep (sparsity against PSNR); the preset's own value is always included
LAM_GRIDS = {
    "mnist-sdl": [0.001, 0.002, 0.005, 0.01],
    "mnist-sdl-nl": [0.002, 0.005, 0.01, 0.02],
    "mnist-vdl": [0.005, 0.01, 0.02, 0.04],
    "mnist-vdl-nl": [0.002, 0.005, 0.01, 0.02],
    "patches-sdl": [0.002, 0.005, 0.01],
    "patches-sdl-nl": [0.005, 0.01, 0.02],
    "patches-vdl": [0.005, 0.01, 0.02],
    "patches-vdl-nl": [0.005, 0.01, 0.02],
}
MODELS = ("sdl", "sdl-nl", "vdl", "vdl-nl")
NOISE_LEVELS = [0.5, 1.0, 1.5]
PER_CLASS = [1, 5, 10, 50, 100]


def plan(data: str, *, models=MODELS, lams: list[float] | None = None, seeds: int = 1):
    """The grid as a list of (preset, lam, seed), in the order it runs (seed 0 of every point
    first, so a stopped grid has the whole curve at one seed before any second seed)."""
    if data not in ("mnist", "patches"):
        raise ValueError(f"data must be 'mnist' or 'patches'; got {data!r}")
    bad = sorted(set(models) - set(MODELS))
    if bad:
        raise ValueError(f"models must be among {MODELS}; got {bad}")
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1; got {seeds}")
    if lams is not None and any(lam < 0 for lam in lams):
        raise ValueError(f"lams must be >= 0; got {lams}")
    points = []
    for seed in range(seeds):
        for model in models:
            preset = f"{data}-{model}"
            for lam in lams or LAM_GRIDS[preset]:
                points.append((preset, float(lam), seed))
    return points


def _write(obj, path: Path) -> None:
    write_json(obj, path, indent=1)


_EVALUATIONS = ("denoise.json", "classify.json", "steps.json", "steps_last.json")  # by _export


def _done(config, run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a finished run of at least ``config.epochs`` epochs."""
    if not (run_dir / METRICS).is_file():
        return False
    return json.loads((run_dir / CONFIG).read_text())["epochs"] >= config.epochs


def _run_one(config, run_dir: Path, progress: bool, allow_tf32: bool) -> None:
    """Train, resume an interrupted run, or extend a finished one to ``config.epochs``."""
    if _done(config, run_dir):
        return
    for stale in (METRICS, *_EVALUATIONS):
        (run_dir / stale).unlink(missing_ok=True)
    resume = (run_dir / CHECKPOINT).is_file()
    train(config, run_dir, progress=progress, resume=resume, allow_tf32=allow_tf32)


def _run_stacked(configs, run_dirs: list[Path], progress: bool, allow_tf32: bool) -> None:
    """Train the unfinished runs of one preset in one batched pass (:func:`~sparselab.runs.trainer.sweep`)
    and file each model in its run folder as :func:`train` would. The sweep lives beside the run
    folders, named by what it trains, so an interrupted one resumes and a finished one extends."""
    todo = [(c, d) for c, d in zip(configs, run_dirs, strict=True) if not _done(c, d)]
    if len(todo) < 2:  # nothing to batch
        for config, run_dir in todo:
            _run_one(config, run_dir, progress, allow_tf32)
        return
    fixed = [
        {k: v for k, v in dataclasses.asdict(c).items() if k not in ("epochs", "device")}
        for c, _ in todo
    ]
    key = hashlib.sha1(json.dumps(fixed, sort_keys=True).encode()).hexdigest()[:12]
    sweep_dir = run_dirs[0].parent.parent / f"sweep-{key}"
    resume = (sweep_dir / CHECKPOINT).is_file()
    sweep([c for c, _ in todo], sweep_dir, progress=progress, resume=resume, allow_tf32=allow_tf32)
    for config, run_dir in todo:
        run_dir.mkdir(parents=True, exist_ok=True)
        # a shorter single run's checkpoint and evaluations are superseded
        for stale in (CHECKPOINT, METRICS, *_EVALUATIONS):
            (run_dir / stale).unlink(missing_ok=True)
        for name in (CONFIG, HISTORY, DECODER, ENCODER, METRICS):  # metrics last: marks it done
            shutil.copyfile(sweep_dir / run_name(config) / name, run_dir / name)


@torch.no_grad()
def step_check(config, decoder, encoder, y: torch.Tensor) -> dict:
    """FISTA on one batch ``y: (B, P)`` from the encoder's codes (as in training), at the run's fixed
    step eta and at eta / 2. Per eta: each sample's steps, the share of samples that reached
    ``max_iter`` without converging, and the energy per sample at the codes returned. A decoder that
    has outgrown the fixed step shows up as samples at the cap (chapter 10); one whose codes diverge
    as all of them, with ``"diverged": true`` and no energy."""
    out = {}
    for eta in (config.eta, config.eta / 2):
        try:
            res = infer(make_config(config, eta=eta), decoder, encoder, y)
        except DivergenceError:
            steps = [config.max_iter] * len(y)
            out[f"{eta:g}"] = {"steps": steps, "at_cap": 1.0, "energy": None, "diverged": True}
            continue
        out[f"{eta:g}"] = {
            "steps": res.n_iter.tolist(),
            "at_cap": float((~res.converged).float().mean()),
            "energy": float(res.energy) / len(y),
        }
    return out


def _export(run_dir: Path, art_dir: Path, *, with_atoms: bool, with_classify: bool):
    """Evaluate a finished run (skipping what exists) and copy its compact results; returns the
    files written and the run (:func:`sparselab.runs.load_run`)."""
    run = load_run(run_dir)
    x_test, scale = load_split(run.config, "test")
    if not (run_dir / "denoise.json").is_file():
        res = denoise(run.decoder, run.encoder, x_test, scale, NOISE_LEVELS, seed=0)
        _write({str(k): v for k, v in res.items()}, run_dir / "denoise.json")
    y = x_test[: run.config.batch_size]
    if not (run_dir / "steps.json").is_file():
        _write(step_check(run.config, run.decoder, run.encoder, y), run_dir / "steps.json")
    # the kept model is the best epoch's; a decoder outgrows the fixed step later, so where
    # training went on past it, check the last epoch's models too (from the checkpoint)
    later = run.metrics["best_epoch"] < run.metrics["epochs"]
    if later and (run_dir / CHECKPOINT).is_file() and not (run_dir / "steps_last.json").is_file():
        last = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=True)
        decoder, encoder = build_models(run.config)
        decoder.load_state_dict(last["decoder"])
        encoder.load_state_dict(last["encoder"])
        _write(step_check(run.config, decoder, encoder, y), run_dir / "steps_last.json")
    if with_classify and not (run_dir / "classify.json").is_file():
        tr, te = load_mnist("train"), load_mnist("test")
        res = classify(run.encoder, tr.x, tr.labels, te.x, te.labels, per_class=PER_CLASS)
        _write(res, run_dir / "classify.json")
    files = {"metrics.json": run.metrics, "history.json": run.history}
    for name in _EVALUATIONS:
        if (run_dir / name).is_file():
            files[name] = json.loads((run_dir / name).read_text())
    for name, obj in files.items():
        _write(obj, art_dir / name)
    if with_atoms:
        atoms = component_images(run.decoder)[0]  # (L, P): D(e_j) - D(0)
        torch.save(atoms.half().clone(), art_dir / "atoms.pt")
    return sorted(files) + (["atoms.pt"] if with_atoms else []), run


@dataclasses.dataclass(frozen=True)
class Group:
    """Runs trained together: one run, or (stacked) the unfinished runs of one preset in one
    batched pass. ``points``: (preset, lam, seed) each, with its config and run folder."""

    points: tuple[tuple[str, float, int], ...]
    configs: tuple[TrainConfig, ...]
    run_dirs: tuple[Path, ...]

    def __str__(self) -> str:
        (preset, lam, seed), n = self.points[0], len(self.points)
        return f"{preset} lam={lam:g} seed {seed}" if n == 1 else f"{preset} (sweep of {n} runs)"


def grid(data: str, **options) -> tuple[list[Group], Path]:
    """What ``reproduce(data, **options)`` has to do: the groups of runs to train, resume or export
    (see its docstring for which), in the order of :func:`plan`, and the path of ``manifest.json``.
    options: :func:`reproduce`'s keywords (progress, allow_tf32 and command change nothing here)."""
    args = _REPRODUCE.bind(data, **options)
    args.apply_defaults()
    a = args.arguments
    points = plan(data, models=a["models"], lams=a["lams"], seeds=a["seeds"])
    overrides, runs_dir = a["overrides"] or {}, Path(a["runs_dir"])
    configs = [make_config(p, lam=lam, seed=31 + s, **overrides) for p, lam, s in points]
    run_dirs = [runs_dir / data / p / f"lam{lam:g}" / f"seed{s}" for p, lam, s in points]
    manifest_path = Path(a["results_dir"]) / data / "manifest.json"
    entries = json.loads(manifest_path.read_text()) if manifest_path.is_file() else []
    todo = [
        i
        for i, (point, config) in enumerate(zip(points, configs, strict=True))
        if a["retrain"]
        or (run_dirs[i] / CONFIG).is_file()
        or not _recorded(point, config, entries, manifest_path.parent)
    ]
    if a["stacked"]:  # one group per model, in the order of the grid
        presets = list(dict.fromkeys(points[i][0] for i in todo))
        members = [[i for i in todo if points[i][0] == p] for p in presets]
    else:
        members = [[i] for i in todo]
    groups = [
        Group(
            tuple(points[i] for i in m), tuple(configs[i] for i in m), tuple(run_dirs[i] for i in m)
        )
        for m in members
    ]
    return groups, manifest_path


def finished(group: Group, manifest_path: Path) -> bool:
    """Whether every run of ``group`` is trained in its run folder and recorded in the manifest
    with all its files: nothing left to do."""
    entries = json.loads(manifest_path.read_text()) if manifest_path.is_file() else []
    return all(
        _done(config, run_dir) and _recorded(point, config, entries, manifest_path.parent)
        for point, config, run_dir in zip(group.points, group.configs, group.run_dirs, strict=True)
    )


def run_group(
    group: Group,
    results_dir: Path,
    *,
    progress: bool = False,
    allow_tf32: bool = False,
    command: str = "",
) -> tuple[list[dict], list[tuple[int, str]]]:
    """Train (or resume) the runs of ``group`` and export their artifacts to ``results_dir``
    (``book/results/<data>``). Writes only the run folders and the artifact files, never the
    manifest; returns the manifest entries of the runs that finished and, for those that diverged,
    (number of runs, one-line message)."""
    start = time.perf_counter()
    data = group.points[0][0].split("-", 1)[0]
    if len(group.points) > 1:
        try:
            _run_stacked(list(group.configs), list(group.run_dirs), progress, allow_tf32)
        except FloatingPointError as err:
            return [], [(len(group.points), f"{group.points[0][0]} (sweep): {err}")]
    entries, diverged = [], []
    for (preset, lam, seed), config, run_dir in zip(
        group.points, group.configs, group.run_dirs, strict=True
    ):
        try:
            _run_one(config, run_dir, progress, allow_tf32)  # stacked: done already
        except FloatingPointError as err:
            diverged.append((1, f"{preset} lam={lam:g} seed {seed}: {err}"))
            continue
        art_dir = results_dir / preset / f"lam{lam:g}_seed{seed}"
        files, run = _export(
            run_dir,
            art_dir,
            with_atoms=seed == 0,
            with_classify=data == "mnist" and lam == PRESETS[preset].lam,
        )
        entry = {
            "preset": preset,
            "lam": lam,
            "seed": seed,
            "overrides": preset_overrides(run.config, preset),
            "dir": str(art_dir.relative_to(results_dir)),
            "files": files,
            "seconds": run.metrics["seconds"],
            "wall_seconds_this_call": time.perf_counter() - start,  # a stacked group's all
            "machine": f"{machine()}, {torch.get_num_threads()} threads",
            "date": datetime.date.today().isoformat(),
            "command": command,
        }
        if data == "patches":  # how to rebuild the patch file the command names
            entry["patch_set"] = rebuild_command(run.config.patches_file)
        entries.append(entry)
    return entries, diverged


def diverged_error(diverged: list[tuple[int, str]], n_runs: int, manifest_path: Path):
    """The ``FloatingPointError`` that names every run of a grid that diverged."""
    return FloatingPointError(
        f"{sum(n for n, _ in diverged)} of {n_runs} runs diverged (the others are in "
        f"{manifest_path}): " + " | ".join(message for _, message in diverged)
    )


def reproduce(
    data: str,
    *,
    models=MODELS,
    lams: list[float] | None = None,
    seeds: int = 1,
    overrides: dict | None = None,
    runs_dir: str | Path = "runs/reproduce",
    results_dir: str | Path = "book/results",
    progress: bool = True,
    stacked: bool = False,
    allow_tf32: bool = False,
    retrain: bool = False,
    command: str = "",
) -> list[dict]:
    """Run the grid of :func:`plan` (skipping finished runs and, where no run folder is here, runs
    the manifest records with their files; resuming interrupted ones) and write the artifacts and
    ``manifest.json``; returns the manifest's entries. This process does it all, one group after
    another; :func:`sparselab.runs.cluster.reproduce_jobs` does the same through submitit jobs.

    stacked: train the unfinished runs of each model (all its lam and seeds) in one batched pass
    (:func:`~sparselab.runs.trainer.sweep`; the same numbers, several models per step: what fills a GPU);
    otherwise one run after another, seed 0 of the whole grid first. retrain: train again (and
    replace) the runs the manifest records without a run folder here. A run that diverges
    (:func:`~sparselab.runs.trainer.train`'s ``FloatingPointError``) does not stop the grid: the others
    run and are recorded, then a ``FloatingPointError`` names every run that diverged."""
    groups, manifest_path = grid(**locals())
    diverged = []  # (runs, message): a run that diverges stops, the rest of the grid goes on
    for group in groups:
        entries, failed = run_group(
            group, manifest_path.parent, progress=progress, allow_tf32=allow_tf32, command=command
        )
        for entry in entries:
            record(entry, manifest_path)
        diverged += failed
    if diverged:
        raise diverged_error(diverged, sum(len(g.points) for g in groups), manifest_path)
    return json.loads(manifest_path.read_text()) if manifest_path.is_file() else []


_REPRODUCE = inspect.signature(reproduce)


def _recorded(point: tuple, config, entries: list[dict], results_dir: Path) -> bool:
    """Whether the manifest ``entries`` (of ``results_dir``) record ``point`` (preset, lam, seed)
    trained as ``config`` says for at least ``config.epochs`` epochs, with all its files: a run
    from another machine, whose run folder is not here."""
    preset, lam, seed = point
    asked = preset_overrides(config, preset)
    asked.pop("epochs", None)
    for e in entries:
        if (e["preset"], e["lam"], e["seed"]) == (preset, lam, seed):
            done = dict(e["overrides"])
            epochs = done.pop("epochs", PRESETS[preset].epochs)
            return (
                done == asked
                and epochs >= config.epochs
                and all((results_dir / e["dir"] / n).is_file() for n in e["files"])
            )
    return False


def record(entry: dict, manifest_path: Path) -> None:
    """Add or update a run's entry in ``manifest.json``."""

    def change(manifest: list[dict]) -> list[dict]:
        index = {(m["preset"], m["lam"], m["seed"]): i for i, m in enumerate(manifest)}
        key = (entry["preset"], entry["lam"], entry["seed"])
        if key not in index:
            manifest.append(entry)
        elif any(manifest[index[key]][k] != entry[k] for k in ("overrides", "seconds")):
            manifest[index[key]] = entry  # a run extended, or trained again (another runs folder)
        else:  # the same run; an evaluation may have been added since
            manifest[index[key]]["files"] = entry["files"]
        return manifest

    update_manifest(manifest_path, change)


def export_variant(
    run_dir: str | Path,
    preset: str,
    results_dir: str | Path = "book/results",
    *,
    with_classify: bool = False,
) -> dict:
    """Export a finished ``python -m sparselab train`` run that departs from a preset (an
    ablation, say a smaller FISTA step) to ``results_dir/variants/<run folder name>/``: metrics,
    history, denoising, the FISTA step check and (``with_classify``, MNIST) the low-data
    classification, with an entry in ``variants/manifest.json`` holding the ``train`` command that
    reproduces it. Returns the entry; load them all with ``load_results("variants")``."""
    run_dir = Path(run_dir)
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}; got {preset!r}")
    root = Path(results_dir) / "variants"
    files, run = _export(
        run_dir, root / run_dir.name, with_atoms=False, with_classify=with_classify
    )
    changed = preset_overrides(run.config, preset)
    flags = "".join(f" --{k.replace('_', '-')} {v}" for k, v in changed.items())
    entry = {
        "name": run_dir.name,
        "preset": preset,
        "lam": run.config.lam,
        "seed": run.config.seed,
        "overrides": changed,
        "dir": run_dir.name,
        "files": files,
        "seconds": run.metrics["seconds"],
        "machine": f"{machine()}, {torch.get_num_threads()} threads",
        "date": datetime.date.today().isoformat(),
        "command": f"python -m sparselab train --preset {preset}{flags} --out {run_dir}",
    }
    update_manifest(
        root / "manifest.json", lambda ms: [m for m in ms if m["name"] != entry["name"]] + [entry]
    )
    return entry
