"""``python -m sparselab train`` and ``evaluate``: outputs, and clean errors on bad arguments."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sparselab.cli import main
from sparselab.runs import TrainConfig

SMALL = ["--n-train", "500", "--n-val", "250", "--n-test", "250", "--device", "cpu"]


def _snapshot(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "vdl"
    argv = ["train", "--preset", "mnist-vdl", "--out", str(out), "--epochs", "2", "--lam", "0.01"]
    assert main(argv + SMALL + ["--no-progress"]) == 0
    return out


def test_train_writes_the_run(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.json", "history.csv", "metrics.json", "checkpoint.pt"} <= names
    assert {"decoder.pt", "encoder.pt"} <= names
    config = json.loads((run_dir / "config.json").read_text())
    assert config["lam"] == 0.01 and config["epochs"] == 2 and config["n_train"] == 500
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("val_psnr", "val_zero_fraction", "test_psnr", "test_zero_fraction", "best_epoch"):
        assert key in metrics
    assert metrics["seconds"] > 0
    lines = (run_dir / "history.csv").read_text().splitlines()
    assert len(lines) == 3 and "val_psnr" in lines[0] and "fista_iter" in lines[0]


def test_evaluate_writes_json_next_to_the_run(run_dir):
    argv = ["evaluate", "denoise", "--run", str(run_dir), "--noise", "1.0", "--n-test", "200"]
    assert main(argv) == 0
    denoised = json.loads((run_dir / "denoise.json").read_text())
    assert set(denoised) == {"1.0"} and denoised["1.0"]["noisy_psnr"] == pytest.approx(
        10.2, abs=0.3
    )
    argv = ["evaluate", "classify", "--run", str(run_dir), "--per-class", "5", "--seeds", "0"]
    assert main(argv + ["--n-test", "200", "--epochs", "20", "--classifier", "linear"]) == 0
    classified = json.loads((run_dir / "classify.json").read_text())
    assert set(classified) == {"codes", "pixels"}
    assert 0 <= classified["pixels"]["linear"]["5"]["mean"] <= 1


def test_every_config_field_is_an_option(tmp_path):
    import argparse

    from sparselab.cli.train import _overrides, add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = ["--out", str(tmp_path), "--normalize-columns", "true", "--n-val", "none"]
    argv += ["--T", "0.25", "--code-dim", "64", "--patches-file", "p.npz"]
    overrides = _overrides(parser.parse_args(argv))
    assert overrides == {
        "normalize_columns": True,
        "T": 0.25,
        "code_dim": 64,
        "patches_file": "p.npz",
    }
    for field in TrainConfig.__dataclass_fields__:
        assert f"--{field.replace('_', '-')}" in parser.format_help()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--preset", "mnist-foo", "--out", "{tmp}/run"], "preset"),
        (["train", "--preset", "mnist-vdl", "--lam", "-0.1", "--out", "{tmp}/run"], "lam"),
        (["train", "--preset", "patches-vdl", "--out", "{tmp}/run"], "patches_file"),
        (["train", "--resume", "--out", "{tmp}/run"], "checkpoint"),
        (["evaluate", "denoise", "--run", "{tmp}/run"], "missing"),
        (["evaluate", "classify", "--run", "{tmp}", "--per-class", "0"], "per-class"),
        (["train", "--device", "cuda:64", "--out", "{tmp}/run"], "cuda:64"),
        (["sweep", "--preset", "mnist-sdl", "--device", "cuda:64", "--out", "{tmp}/s"], "cuda:64"),
        (["patches", "--device", "cuda:64", "--out", "{tmp}/p.npz"], "cuda:64"),
    ],
)
def test_bad_arguments_give_one_line_exit_2_and_write_nothing(tmp_path, capsys, argv, message):
    before = _snapshot(tmp_path)
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0] and message in err[0]
    assert _snapshot(tmp_path) == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="asks for CUDA where there is none")
def test_reproduce_asking_for_a_missing_gpu_is_one_line_exit_2(tmp_path, capsys):
    argv = ["reproduce", "mnist", "--models", "sdl", "--device", "cuda", "--epochs", "1"]
    argv += ["--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "device='cuda'" in err[0] and "no CUDA GPU" in err[0]
    assert not any(tmp_path.iterdir())


def test_train_refuses_a_folder_holding_a_run(run_dir, capsys):
    before = _snapshot(run_dir)
    assert main(["train", "--preset", "mnist-sdl", "--out", str(run_dir)] + SMALL) == 2
    assert "--resume" in capsys.readouterr().err
    assert _snapshot(run_dir) == before


def test_a_run_that_diverges_is_one_line_exit_1(tmp_path, capsys):
    out = tmp_path / "x"  # eta 5, ten times the preset's: FISTA's codes blow up on batch 1
    argv = ["train", "--preset", "mnist-vdl-nl", "--hidden-dim", "64", "--eta", "5"]
    assert main(argv + ["--out", str(out), "--epochs", "2", "--no-progress"] + SMALL) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "training diverged: epoch 1, batch 1" in err[0]
    assert "smaller eta (e.g. 2.5" in err[0]
    assert not (out / "checkpoint.pt").exists()


def test_a_missing_test_split_is_one_line_exit_2_before_training(tmp_path, capsys, monkeypatch):
    from sparselab.data import mnist

    data = tmp_path / "data" / "mnist"
    data.mkdir(parents=True)
    for f in (mnist.data_dir() / "mnist").iterdir():
        if not f.name.startswith("t10k-images"):  # the test images are missing
            (data / f.name).write_bytes(f.read_bytes())
    monkeypatch.setenv("SPARSELAB_DATA", str(tmp_path / "data"))

    def offline(*args, **kwargs):
        raise OSError("offline")

    monkeypatch.setattr("pooch.retrieve", offline)
    mnist._read_idx.cache_clear()
    out = tmp_path / "run"
    try:
        for command in (["train"], ["sweep", "--preset", "mnist-vdl"]):
            assert main([*command, "--out", str(out), "--epochs", "1", *SMALL]) == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and "t10k-images-idx3-ubyte.gz is not in" in err[0]
            assert not out.exists()
    finally:
        mnist._read_idx.cache_clear()


def test_a_run_killed_before_its_first_checkpoint_restarts_under_resume(tmp_path, capsys):
    argv = ["train", "--preset", "mnist-sdl", "--epochs", "1", "--no-progress", *SMALL]
    fresh, killed = tmp_path / "fresh", tmp_path / "killed"
    assert main([*argv, "--out", str(fresh)]) == 0
    assert main([*argv, "--out", str(killed)]) == 0
    for f in killed.iterdir():  # what a kill during epoch 1 leaves: the config, a half write
        if f.name != "config.json":
            f.unlink()
    (killed / "checkpoint.pt.4242.tmp").write_bytes(b"half a checkpoint")
    assert main(["train", "--out", str(killed), "--no-progress"]) == 2  # not --resume: refused
    capsys.readouterr()
    assert main(["train", "--resume", "--out", str(killed), "--no-progress"]) == 0
    assert "starting again" in capsys.readouterr().out
    assert not list(killed.glob("*.tmp"))
    for name in ("decoder.pt", "encoder.pt"):
        a, b = (torch.load(d / name, weights_only=True) for d in (fresh, killed))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((killed / "metrics.json").read_text())["epochs"] == 1


def test_python_dash_m_exit_status(tmp_path):
    out = tmp_path / "x"
    proc = subprocess.run(
        [sys.executable, "-m", "sparselab", "train", "--preset", "nope", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_device_run_script_checks_its_arguments_before_spending_device_time(tmp_path):
    script = str(Path(__file__).resolve().parents[1] / "tools" / "device_run.sh")
    env = {"PATH": os.environ["PATH"], "OUT": str(tmp_path)}
    usage = subprocess.run(["bash", script], capture_output=True, text=True, env=env)
    assert usage.returncode == 2 and "prepare RUN" in usage.stderr
    # a run folder that did not travel: it would train from scratch
    argv = ["bash", script, "device", "60", str(tmp_path / "run"), "--", "mnist"]
    missing = subprocess.run(argv, capture_output=True, text=True, env=env)
    assert missing.returncode == 2 and "checkpoint.pt: name it in carry" in missing.stderr
    assert list(tmp_path.iterdir()) == []  # nothing ran, nothing written
