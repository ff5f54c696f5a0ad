import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from sparselab.runs import PRESETS, build_models, make_config, train
from sparselab.runs.reproduce import LAM_GRIDS, export_variant, plan, record, reproduce, step_check
from sparselab.runs.results import (
    compute,
    curve_at,
    load_results,
    pool_classify,
    psnr_at_sparsity,
    sparsity_curve,
    summarize,
)
from sparselab.runs.store import update_manifest as _update_manifest
from sparselab.solvers import lipschitz_constant


def test_plan_covers_every_model_and_seed_zero_first():
    points = plan("mnist", seeds=2)
    assert len(points) == 2 * sum(
        len(LAM_GRIDS[f"mnist-{m}"]) for m in ("sdl", "sdl-nl", "vdl", "vdl-nl")
    )
    assert all(seed == 0 for _, _, seed in points[: len(points) // 2])
    assert {p for p, _, _ in points} == {k for k in PRESETS if k.startswith("mnist")}
    for preset in PRESETS:  # the preset's own lam is a point of its sweep
        assert PRESETS[preset].lam in LAM_GRIDS[preset]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(data="cifar"), "data must be"),
        (dict(data="mnist", models=("vdl", "lasso")), "models must be"),
        (dict(data="mnist", seeds=0), "seeds must be"),
        (dict(data="mnist", lams=[-0.1]), "lams must be"),
    ],
)
def test_plan_rejects_bad_arguments(kwargs, match):
    data = kwargs.pop("data")
    with pytest.raises(ValueError, match=match):
        plan(data, **kwargs)


def test_reproduce_writes_artifacts_and_skips_finished_runs(tmp_path):
    kw = dict(models=("vdl",), lams=[0.01], overrides=dict(epochs=1, n_train=500, n_val=250,
              n_test=250, device="cpu"), runs_dir=tmp_path / "runs", results_dir=tmp_path / "res",
              progress=False, command="test")  # fmt: skip
    manifest = reproduce("mnist", **kw)
    assert len(manifest) == 1 and manifest[0]["preset"] == "mnist-vdl"
    assert manifest[0]["overrides"]["n_train"] == 500
    ckpt = tmp_path / "runs" / "mnist" / "mnist-vdl" / "lam0.01" / "seed0" / "checkpoint.pt"
    stamp = ckpt.stat().st_mtime_ns
    assert len(reproduce("mnist", **kw)) == 1  # nothing new, nothing retrained
    assert ckpt.stat().st_mtime_ns == stamp
    kw["overrides"]["epochs"] = 2  # extending the run resumes it and replaces its entry
    (entry,) = reproduce("mnist", **kw)
    assert entry["overrides"]["epochs"] == 2 and ckpt.stat().st_mtime_ns != stamp
    kw["overrides"]["epochs"] = 1  # asking for fewer epochs keeps the longer run
    (entry,) = reproduce("mnist", **kw)
    assert entry["overrides"]["epochs"] == 2
    # a run exported before an evaluation existed gets it, and its entry lists it
    (ckpt.parent / "steps.json").unlink()
    manifest_path = tmp_path / "res" / "mnist" / "manifest.json"
    manifest_path.write_text(json.dumps([entry | {"files": ["metrics.json"]}]))
    (entry,) = reproduce("mnist", **kw)
    assert "steps.json" in entry["files"] and entry["overrides"]["epochs"] == 2
    # elsewhere (no run folder), a run the manifest records is skipped: only new points train
    kw["runs_dir"], kw["command"] = tmp_path / "elsewhere", "again"
    kw["overrides"]["epochs"] = 2
    assert reproduce("mnist", **kw) == [entry]
    kw["overrides"]["epochs"] = 1  # fewer epochs than recorded: the longer run stays
    assert reproduce("mnist", **kw) == [entry]
    assert not (tmp_path / "elsewhere").exists()
    kw["overrides"]["epochs"] = 2
    two = reproduce("mnist", **kw, seeds=2)  # adding a seed trains that seed only
    assert [(e["seed"], e["command"]) for e in two] == [(0, entry["command"]), (1, "again")]
    assert [p.name for p in (tmp_path / "elsewhere").glob("mnist/*/*/*")] == ["seed1"]
    # unless asked: trained again (say on a GPU), it replaces the entry, provenance included
    again = reproduce("mnist", **kw, retrain=True)[0]
    assert again["command"] == "again" and again["seconds"] != entry["seconds"]
    entry, _ = load_results("mnist", tmp_path / "res")
    assert len(entry["history"]) == 2
    assert entry["atoms"].shape == (128, 784)
    assert set(entry["denoise"]) == {"0.5", "1.0", "1.5"}
    assert set(entry["steps"]) == {"0.5", "0.25"} and len(entry["steps"]["0.5"]["steps"]) == 250
    (row,) = summarize([entry])
    assert row["test_psnr"] == pytest.approx(entry["metrics"]["test_psnr"])


def test_stacked_grid_matches_the_one_run_at_a_time_grid(tmp_path):
    """--stacked trains a model's runs in one sweep; each run gets the numbers it gets alone, and
    a stacked grid extended to more epochs resumes its sweep."""
    kw = dict(models=("vdl",), lams=[0.005, 0.01], overrides=dict(epochs=1, n_train=500,
              n_val=250, n_test=250, device="cpu"), progress=False, command="test")  # fmt: skip
    one = reproduce("mnist", runs_dir=tmp_path / "r1", results_dir=tmp_path / "a1", **kw)
    kw["overrides"]["epochs"] = 2
    one = reproduce("mnist", runs_dir=tmp_path / "r1", results_dir=tmp_path / "a1", **kw)
    kw["overrides"]["epochs"] = 1
    reproduce("mnist", runs_dir=tmp_path / "rs", results_dir=tmp_path / "as", stacked=True, **kw)
    kw["overrides"]["epochs"] = 2  # extends the sweep from its checkpoint
    stacked = reproduce(
        "mnist", runs_dir=tmp_path / "rs", results_dir=tmp_path / "as", stacked=True, **kw
    )
    (sweep_dir,) = (tmp_path / "rs" / "mnist" / "mnist-vdl").glob("sweep-*")
    assert (sweep_dir / "checkpoint.pt").is_file()
    a = {(e["lam"], e["seed"]): e for e in load_results("mnist", tmp_path / "a1")}
    b = {(e["lam"], e["seed"]): e for e in load_results("mnist", tmp_path / "as")}
    assert sorted(a) == sorted(b) == [(0.005, 0), (0.01, 0)] and len(one) == len(stacked) == 2
    for key in a:
        assert len(b[key]["history"]) == 2 and b[key]["metrics"]["sweep_models"] == 2
        for name in ("test_psnr", "test_zero_fraction"):
            assert b[key]["metrics"][name] == pytest.approx(a[key]["metrics"][name], rel=1e-3)
        assert b[key]["overrides"] == a[key]["overrides"]


def test_export_variant_records_the_train_command_that_reproduces_it(tmp_path):
    config = make_config("mnist-vdl", eta=0.25, epochs=1, n_train=500, n_val=250, n_test=250)
    train(config, tmp_path / "vdl-eta0.25", progress=False)
    entry = export_variant(tmp_path / "vdl-eta0.25", "mnist-vdl", tmp_path / "res")
    assert entry["overrides"] == {"eta": 0.25, "epochs": 1, "n_train": 500, "n_val": 250,
                                  "n_test": 250}  # fmt: skip
    flags = "--eta 0.25 --epochs 1 --n-train 500 --n-val 250 --n-test 250"
    assert entry["command"] == f"python -m sparselab train --preset mnist-vdl {flags} --out " + str(
        tmp_path / "vdl-eta0.25"
    )
    export_variant(tmp_path / "vdl-eta0.25", "mnist-vdl", tmp_path / "res")  # replaces, no copy
    (loaded,) = load_results("variants", tmp_path / "res")
    assert len(loaded["history"]) == 1 and set(loaded["steps"]) == {"0.25", "0.125"}
    metrics = json.loads((tmp_path / "vdl-eta0.25" / "metrics.json").read_text())
    assert loaded["metrics"]["test_psnr"] == pytest.approx(metrics["test_psnr"])
    with pytest.raises(ValueError, match="preset must be one of"):
        export_variant(tmp_path / "vdl-eta0.25", "vdl", tmp_path / "res")


RESULTS = Path(__file__).resolve().parents[1] / "book" / "results"


@pytest.mark.parametrize("data", ["mnist", "patches", "variants"])
def test_committed_artifacts_exist_parse_and_come_from_presets(data):
    """Every artifact the book loads is listed in a manifest, exists, parses, and was produced by a
    preset that exists with overrides that are real config fields."""
    manifest = RESULTS / data / "manifest.json"
    entries = json.loads(manifest.read_text())
    assert entries, "an empty manifest"
    for e in entries:
        assert e["preset"] in PRESETS
        assert set(e["overrides"]) <= set(PRESETS[e["preset"]].__dataclass_fields__)
        if data == "variants":  # one train run each, departing from its preset
            assert e["overrides"] and e["command"].startswith("python -m sparselab train --preset")
        else:
            assert e["preset"].startswith(data)
            assert e["command"].startswith("python -m sparselab reproduce")
        if data == "patches":  # the file the run names, and how to rebuild it
            assert e["patch_set"].startswith(
                f"python -m sparselab patches --out {e['overrides']['patches_file']} "
            )
        for name in e["files"]:
            path = RESULTS / data / e["dir"] / name
            assert path.is_file(), path
            if name.endswith(".pt"):
                assert torch.load(path, weights_only=True).ndim == 2
            else:
                json.loads(path.read_text())
    loaded = load_results(data, RESULTS)
    assert all(0 < e["metrics"]["test_psnr"] < 60 for e in loaded)


def _entry(preset, lam, seed, psnr, zeros, epochs=200, denoised=None):
    e = {"preset": preset, "lam": lam, "seed": seed,
         "metrics": {"test_psnr": psnr, "test_zero_fraction": zeros, "epochs": epochs}}  # fmt: skip
    if denoised is not None:
        e["denoise"] = {"1.0": {"noisy_psnr": 10.2, "psnr": denoised}}
    return e


def test_summarize_averages_seeds_and_keeps_run_lengths_apart():
    entries = [
        _entry("mnist-vdl", 0.02, 0, 17.0, 0.90, denoised=15.0),
        _entry("mnist-vdl", 0.02, 1, 18.0, 0.94, denoised=16.0),
        _entry("mnist-vdl", 0.02, 2, 19.0, 0.92, denoised=17.0),
        _entry("mnist-vdl", 0.02, 3, 12.0, 0.50, epochs=30),
    ]
    long, short = sorted(summarize(entries), key=lambda r: -r["epochs"])
    assert (long["seeds"], short["seeds"], short["test_psnr"]) == (3, 1, 12.0)
    assert long["test_psnr"] == pytest.approx(18.0)
    assert long["test_psnr_std"] == pytest.approx(np.std([17, 18, 19], ddof=1))
    assert long["zeros_percent"] == pytest.approx(92.0)
    assert long["zeros_percent_std"] == pytest.approx(np.std([90, 94, 92], ddof=1))
    assert long["denoise"]["1.0"]["psnr"] == pytest.approx(16.0)
    assert long["denoise"]["1.0"]["psnr_std"] == pytest.approx(1.0)
    assert "denoise" not in short and short["test_psnr_std"] == 0.0


def test_compute_sums_each_presets_training_time_and_names_its_longest_run():
    def timed(preset, lam, seed, seconds, steps=None):  # one history row per epoch
        steps = steps or [10.0] * len(seconds)  # FISTA steps per batch
        rows = [{"seconds": s, "fista_iter": k} for s, k in zip(seconds, steps, strict=True)]
        return {"preset": preset, "lam": lam, "seed": seed, "history": rows}

    entries = [
        timed("mnist-vdl", 0.02, 0, [1.0, 2.0, 3.0]),
        timed("mnist-vdl", 0.02, 1, [4.0, 5.0, 6.0]),
        timed("mnist-vdl-nl", 0.01, 0, [10.0, 50.0, 3600.0 * 2], [3.0, 150.0, 200.0]),
        timed("mnist-vdl-nl", 0.005, 0, [20.0], [99.0]),
    ]
    nl, vdl = sorted(compute(entries), key=lambda r: r["preset"], reverse=True)
    assert (vdl["preset"], vdl["runs"], vdl["epochs"]) == ("mnist-vdl", 2, 6)
    assert vdl["hours"] == pytest.approx(21.0 / 3600)
    assert vdl["epoch_seconds"] == pytest.approx(3.5)  # the median of 1..6
    assert vdl["longest_run"]["seed"] == 1
    assert (vdl["stalled_epochs"], vdl["stalled_epoch_seconds"]) == (0, None)
    assert (nl["runs"], nl["epochs"], nl["epoch_seconds"]) == (2, 4, 35.0)
    # the two epochs at 100 steps a batch or more: the median of 50 s and 2 h
    assert (nl["stalled_epochs"], nl["stalled_epoch_seconds"]) == (2, 25.0 + 3600.0)
    assert nl["longest_run"] == {"lam": 0.01, "seed": 0, "epochs": 3,
                                 "hours": pytest.approx(2 + 60 / 3600)}  # fmt: skip


def test_reproduce_keeps_entries_another_grid_wrote_meanwhile(tmp_path, monkeypatch):
    """Two grids (say NL models on one core, linear ones on the other) share one results folder:
    an entry the other process wrote while this one trained must survive this one's write."""
    import sparselab.runs.reproduce as rep

    other = _entry("mnist-sdl", 0.005, 0, 17.0, 0.9) | {"overrides": {}, "files": []}
    run_one = rep._run_one

    def run_one_while_another_grid_writes(config, run_dir, *args):
        run_one(config, run_dir, *args)
        manifest = tmp_path / "res" / "mnist" / "manifest.json"
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps([other]))

    monkeypatch.setattr(rep, "_run_one", run_one_while_another_grid_writes)
    manifest = reproduce("mnist", models=("vdl",), lams=[0.01], runs_dir=tmp_path / "runs",
                         results_dir=tmp_path / "res", progress=False,
                         overrides=dict(epochs=1, n_train=500, n_val=250, n_test=250))  # fmt: skip
    assert [(m["preset"], m["lam"]) for m in manifest] == [
        ("mnist-sdl", 0.005),
        ("mnist-vdl", 0.01),
    ]


def test_pool_classify_takes_every_accuracy_of_every_seed():
    def output(accs):
        return {"codes": {"linear": {"1": {"accuracies": accs}}}}

    pooled = pool_classify([output([0.4, 0.5]), output([0.3, 0.6, 0.7])])
    cell = pooled["codes"]["linear"]["1"]
    assert cell["mean"] == pytest.approx(0.5)
    assert cell["std"] == pytest.approx(np.std([0.4, 0.5, 0.3, 0.6, 0.7], ddof=1))
    with pytest.raises(ValueError, match="outputs must hold"):
        pool_classify([])


def test_pool_classify_counts_the_pixel_baseline_once():
    def output(codes):  # the pixel accuracies are the same for every encoder seed
        return {
            f: {"linear": {"1": {"accuracies": a}}}
            for f, a in (("codes", codes), ("pixels", [0.3, 0.4]))
        }

    pooled = pool_classify([output([0.5, 0.6]), output([0.7, 0.8])])
    assert pooled["pixels"]["linear"]["1"]["accuracies"] == [0.3, 0.4]
    assert pooled["pixels"]["linear"]["1"]["std"] == pytest.approx(np.std([0.3, 0.4], ddof=1))
    assert pooled["codes"]["linear"]["1"]["accuracies"] == [0.5, 0.6, 0.7, 0.8]


def test_psnr_at_sparsity_reads_the_curve_between_its_points():
    rows = [
        {
            "preset": "mnist-sdl",
            "lam": 0.001,
            "epochs": 200,
            "zeros_percent": 60.0,
            "test_psnr": 21.0,
        },
        {
            "preset": "mnist-sdl",
            "lam": 0.002,
            "epochs": 200,
            "zeros_percent": 80.0,
            "test_psnr": 19.0,
        },
        {
            "preset": "mnist-sdl",
            "lam": 0.002,
            "epochs": 30,
            "zeros_percent": 70.0,
            "test_psnr": 9.0,
        },
        {
            "preset": "mnist-vdl",
            "lam": 0.02,
            "epochs": 200,
            "zeros_percent": 70.0,
            "test_psnr": 30.0,
        },
    ]
    assert sparsity_curve(rows, "mnist-sdl") == [(60.0, 21.0), (80.0, 19.0)]  # longest runs only
    assert psnr_at_sparsity(rows, "mnist-sdl", 70.0) == pytest.approx(20.0)
    assert psnr_at_sparsity(rows, "mnist-sdl", 60.0) == 21.0
    assert np.isnan(psnr_at_sparsity(rows, "mnist-sdl", 90.0))
    with pytest.raises(ValueError, match="no rows"):
        psnr_at_sparsity(rows, "mnist-sdl-nl", 70.0)
    # the curve alone: numpy's interpolation inside, NaN (not numpy's held end values) outside
    curve = [(40.0, 24.0), (60.0, 21.0), (80.0, 19.0)]
    for z in (40.0, 47.5, 60.0, 73.0, 80.0):
        assert curve_at(curve, z) == pytest.approx(np.interp(z, *zip(*curve, strict=True)))
    assert np.isnan(curve_at(curve, 39.9)) and np.isnan(curve_at(curve, 80.1))
    assert curve_at([(50.0, 20.0)], 50.0) == 20.0 and np.isnan(curve_at([], 50.0))


def _scale_decoder(decoder, config, eta_times_lipschitz):
    """Scale a linear decoder's weight so that the fixed step times FISTA's Lipschitz constant is
    ``eta_times_lipschitz``."""
    reg = 2 * config.gamma / config.code_dim  # the encoder term's share of the constant
    with torch.no_grad():
        rec = lipschitz_constant(decoder, gamma=config.gamma) - reg
        decoder.weight.mul_(math.sqrt((eta_times_lipschitz / config.eta - reg) / rec))


@pytest.mark.parametrize("eta_times_lipschitz", [0.9, 1.5])
def test_step_check_flags_a_step_too_long_for_the_dictionary(eta_times_lipschitz):
    """The Lipschitz constant (checked against an SVD in test_solvers) sets the longest step that
    converges: at eta * Lip = 0.9 every sample converges at eta and eta / 2; at 1.5 codes oscillate
    to the cap at eta, while eta / 2 (0.75 / Lip) converges to a lower energy."""
    config = make_config("mnist-vdl", beta=0.0, code_dim=32, seed=1)
    decoder, encoder = build_models(config)
    _scale_decoder(decoder, config, eta_times_lipschitz)
    assert lipschitz_constant(decoder, gamma=config.gamma) * config.eta == pytest.approx(
        eta_times_lipschitz, rel=1e-4
    )
    y = torch.randn(250, 784, generator=torch.Generator().manual_seed(0))
    check = step_check(config, decoder, encoder, y)
    fixed, half = check["0.5"], check["0.25"]
    assert len(fixed["steps"]) == len(half["steps"]) == 250
    assert half["at_cap"] == 0 and max(half["steps"]) < config.max_iter
    if eta_times_lipschitz < 1:
        assert fixed["at_cap"] == 0
    else:
        assert fixed["at_cap"] > 0.5 and max(fixed["steps"]) == config.max_iter
        assert half["energy"] < fixed["energy"]


def test_export_checks_the_step_of_the_last_epoch_where_an_earlier_model_was_kept(tmp_path):
    """steps.json checks the kept (best) model; where training went on past it, steps_last.json
    checks the last epoch's models from the checkpoint, where a grown decoder shows up. The last
    decoder is scaled to eta * Lip = 1.9 (past 1 / Lip: FISTA oscillates), the kept one is not."""
    config = make_config("mnist-vdl", beta=0.0, epochs=2, n_train=500, n_val=250, n_test=250)
    run = tmp_path / "vdl-beta0"
    train(config, run, progress=False)
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    decoder, _ = build_models(config)
    decoder.load_state_dict(ckpt["decoder"])
    _scale_decoder(decoder, config, 1.9)
    torch.save(dict(ckpt, decoder=decoder.state_dict()), run / "checkpoint.pt")
    export_variant(run, "mnist-vdl", tmp_path / "res")
    assert not (run / "steps_last.json").exists()  # the kept model is the last epoch's
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps(dict(metrics, best_epoch=1)))
    entry = export_variant(run, "mnist-vdl", tmp_path / "res")
    assert "steps_last.json" in entry["files"]
    (loaded,) = load_results("variants", tmp_path / "res")
    assert loaded["steps"]["0.5"]["at_cap"] == 0
    assert (
        loaded["steps_last"]["0.5"]["at_cap"] > 0.5 and loaded["steps_last"]["0.25"]["at_cap"] == 0
    )


def test_grids_sharing_a_results_folder_keep_each_others_manifest_entries(tmp_path):
    path = tmp_path / "manifest.json"

    def grid(preset):  # one grid's exports, racing the other's read-modify-write
        for lam in range(150):
            entry = {"preset": preset, "lam": lam, "seed": 0, "overrides": {}, "seconds": 1.0}
            record(dict(entry, files=["metrics.json"]), path)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(grid, ["a", "b"]))
    keys = {(m["preset"], m["lam"]) for m in json.loads(path.read_text())}
    assert keys == {(p, lam) for p in "ab" for lam in range(150)}
    assert not (tmp_path / "manifest.json.lock.owner").exists()


def test_a_lock_file_left_by_a_crashed_grid_blocks_nobody(tmp_path):
    # the OS frees a dead process's lock: the file it leaves is no longer a lock
    (tmp_path / "manifest.json.lock").write_text("")
    _update_manifest(tmp_path / "manifest.json", lambda ms: ms + [{"a": 1}], timeout=0.1)
    assert json.loads((tmp_path / "manifest.json").read_text()) == [{"a": 1}]


def test_a_lock_held_by_a_live_grid_names_its_holder(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "manifest.json"
    holder = (  # another process holds the lock, as a grid writing the manifest would
        "import sys, time; from pathlib import Path; from sparselab.runs import store;"
        "store.update_manifest(Path(sys.argv[1]), lambda ms: (print('held', flush=True),"
        " time.sleep(30), ms)[2])"
    )
    proc = subprocess.Popen([sys.executable, "-c", holder, str(path)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"held"
        with pytest.raises(TimeoutError, match=rf"manifest\.json\.lock .* by pid {proc.pid} on"):
            _update_manifest(path, lambda ms: ms, timeout=0.2)
    finally:
        proc.kill()
        proc.wait()
    _update_manifest(path, lambda ms: ms + [1], timeout=5)  # killed: the lock is free again
    assert json.loads(path.read_text()) == [1]


def test_load_results_from_a_folder_without_a_manifest_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m sparselab reproduce patches"):
        load_results("patches", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no manifest.json\)$"):  # no command makes these
        load_results("variants", tmp_path)


def test_a_run_that_diverges_does_not_stop_the_grid(tmp_path):
    # eta 5 is ten times VDL-NL's step (its codes blow up on batch 1), and still short for VDL's
    # linear dictionary: VDL-NL diverges, VDL trains and is recorded, then the error names VDL-NL
    kw = dict(models=("vdl-nl", "vdl"), lams=[0.01], overrides=dict(eta=5.0, hidden_dim=64,
              epochs=1, n_train=500, n_val=250, n_test=250, device="cpu"),
              runs_dir=tmp_path / "runs", results_dir=tmp_path / "res", progress=False)  # fmt: skip
    with pytest.raises(FloatingPointError, match=r"1 of 2 runs diverged .*mnist-vdl-nl lam=0.01"):
        reproduce("mnist", **kw)
    (entry,) = json.loads((tmp_path / "res" / "mnist" / "manifest.json").read_text())
    assert entry["preset"] == "mnist-vdl" and entry["overrides"]["eta"] == 5.0


def test_a_sweep_that_diverges_does_not_stop_the_stacked_grid(tmp_path):
    kw = dict(models=("vdl-nl", "vdl"), lams=[0.01], seeds=2, stacked=True,
              overrides=dict(eta=5.0, hidden_dim=64, epochs=1, n_train=500, n_val=250,
                             n_test=250, device="cpu"),
              runs_dir=tmp_path / "runs", results_dir=tmp_path / "res", progress=False)  # fmt: skip
    with pytest.raises(FloatingPointError, match=r"2 of 4 runs diverged .*mnist-vdl-nl \(sweep\)"):
        reproduce("mnist", **kw)
    manifest = json.loads((tmp_path / "res" / "mnist" / "manifest.json").read_text())
    assert [(e["preset"], e["seed"]) for e in manifest] == [("mnist-vdl", 0), ("mnist-vdl", 1)]


@pytest.mark.parametrize(
    ("preset", "lam", "seed", "epochs"), [("mnist-sdl", 0.002, 1, 2), ("mnist-vdl-nl", 0.005, 1, 1)]
)
def test_stored_artifacts_are_retraced_by_todays_loop(preset, lam, seed, epochs):
    # the first epochs of two committed runs, trained again on all 55,000 images: on the machine
    # and thread count the manifest records, the same numbers to the last bit
    from sparselab.util.device import machine

    root = Path(__file__).resolve().parents[1] / "book" / "results" / "mnist"
    (entry,) = [
        e
        for e in json.loads((root / "manifest.json").read_text())
        if (e["preset"], e["lam"], e["seed"]) == (preset, lam, seed)
    ]
    stored = json.loads((root / entry["dir"] / "history.json").read_text())[:epochs]
    threads = torch.get_num_threads()
    torch.set_num_threads(int(entry["machine"].rsplit(", ", 1)[1].split()[0]))
    try:
        config = make_config(preset, lam=lam, seed=31 + seed, epochs=epochs, device="cpu")
        history = train(config, progress=False).history
    finally:
        torch.set_num_threads(threads)
    same_machine = entry["machine"].startswith(machine())
    for row, ref in zip(history, stored, strict=True):
        for key, value in ref.items():
            if key != "seconds":
                # another CPU sums in another order: then close, not equal
                expected = value if same_machine else pytest.approx(value, rel=1e-4, abs=1e-6)
                assert row[key] == expected, (key, row["epoch"])
