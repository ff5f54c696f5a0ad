"""``reproduce --executor local|slurm`` (sparselab.runs.cluster) against the inline grid, on this
machine and on a real single-node SLURM that ``tools/start_slurm.sh`` installs and starts. Where no
SLURM can start, the SLURM tests skip with the reason (``SPARSELAB_REQUIRE_SLURM=1``, as in
``.ci/run``, makes that a failure). Each driver is a separate ``python -m sparselab`` process on one
thread a job, so that killing it is a real kill and the numbers match bit for bit."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sparselab.runs import cluster

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--models", "sdl", "--lams", "0.002", "--epochs", "1", "--n-train", "200",
        "--set", "n_val=100", "--set", "n_test=100", "--device", "cpu"]  # fmt: skip
# a run of 15 to 30 s on one thread (seeds of it: the scancel and restart tests)
SHORT = ["--models", "sdl", "--lams", "0.002", "--epochs", "60", "--n-train", "1000",
         "--set", "n_val=100", "--set", "n_test=100", "--set", "code_dim=64", "--device", "cpu"]  # fmt: skip
# longer than --slurm-time 1 allows (SLURM signals 20 s before the limit, checked every 30 s:
# up to 70 s in); 150 epochs took 34 s on a quiet machine, too few for the signal to come
LONG = ["--models", "sdl", "--lams", "0.002", "--epochs", "400", "--n-train", "2000",
        "--set", "n_val=100", "--set", "n_test=100", "--device", "cpu"]  # fmt: skip
VARYING = {"seconds", "wall_seconds_this_call", "command", "date"}  # entry fields that are timings


def _argv(tmp: Path, grid: list[str], seeds: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sparselab", "reproduce", "mnist", *grid, "--seeds", str(seeds),
            "--runs", str(tmp / "runs"), "--results", str(tmp / "res"), "--jobs-dir",
            str(tmp / "jobs"), "--poll-seconds", "1", "--no-progress", *extra]  # fmt: skip


def _env() -> dict:
    return os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _run(tmp: Path, grid, seeds: int, *extra: str, timeout: float = 240):
    return subprocess.run(_argv(tmp, grid, seeds, *extra), env=_env(), capture_output=True,
                          text=True, timeout=timeout, cwd=tmp)  # fmt: skip


def _start(tmp: Path, grid, seeds: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(_argv(tmp, grid, seeds, *extra), env=_env(), cwd=tmp,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _results(tmp: Path) -> dict:
    """(preset, lam, seed) -> (entry without timings, metrics without timings, history rows
    without timings), read from the manifest and the artifacts it lists."""
    res = tmp / "res" / "mnist"
    out = {}
    for e in json.loads((res / "manifest.json").read_text()):
        metrics = json.loads((res / e["dir"] / "metrics.json").read_text())
        history = json.loads((res / e["dir"] / "history.json").read_text())
        out[e["preset"], e["lam"], e["seed"]] = (
            {k: v for k, v in e.items() if k not in VARYING},
            {k: v for k, v in metrics.items() if k != "seconds"},
            [{k: v for k, v in row.items() if k != "seconds"} for row in history],
        )
    return out


def _run_dir(tmp: Path, seed: int) -> Path:
    return tmp / "runs" / "mnist" / "mnist-sdl" / "lam0.002" / f"seed{seed}"


def _wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.5)


def _job_ids(tmp: Path) -> dict[int, str]:
    jobs = json.loads((tmp / "jobs" / "jobs.json").read_text())
    return {int(k.rsplit("seed", 1)[1]): v["job_id"] for k, v in jobs.items()}


@pytest.fixture(scope="module")
def slurm():
    """A single-node SLURM on this machine (tools/start_slurm.sh), or a skip with its reason."""
    try:
        out = subprocess.run(["bash", str(ROOT / "tools" / "start_slurm.sh")],
                             capture_output=True, text=True, timeout=600)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as err:
        out = subprocess.CompletedProcess([], 3, "", str(err))
    if out.returncode:
        reason = f"no SLURM here: {out.stderr.strip() or out.returncode}"
        if os.environ.get("SPARSELAB_REQUIRE_SLURM") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def inline_tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inline")
    out = _run(tmp, TINY, 2)
    assert out.returncode == 0, out.stderr
    return _results(tmp)


def test_local_grid_matches_the_inline_grid_bit_for_bit(tmp_path, inline_tiny):
    out = _run(tmp_path, TINY, 2, "--executor", "local")
    assert out.returncode == 0, out.stderr
    assert _results(tmp_path) == inline_tiny and len(inline_tiny) == 2
    # the driver alone wrote the manifest; run again, nothing is submitted
    again = _run(tmp_path, TINY, 2, "--executor", "local")
    assert "0 jobs to wait for" in again.stderr and _results(tmp_path) == inline_tiny


def test_slurm_grid_matches_the_inline_grid_bit_for_bit(tmp_path, slurm, inline_tiny):
    out = _run(tmp_path, TINY, 2, "--executor", "slurm", "--slurm-partition", "debug")
    assert out.returncode == 0, out.stderr
    assert _results(tmp_path) == inline_tiny
    assert all("_" in job for job in _job_ids(tmp_path).values())  # one array


def test_timeout_requeues_and_resumes_to_the_uninterrupted_history(tmp_path, slurm):
    for name in ("slurm", "inline"):
        (tmp_path / name).mkdir()
    driver = _start(tmp_path / "slurm", LONG, 1, "--executor", "slurm", "--slurm-time", "1")
    reference = _run(tmp_path / "inline", LONG, 1, timeout=400)  # meanwhile, on the other core
    assert reference.returncode == 0, reference.stderr
    _, err = driver.communicate(timeout=400)
    assert driver.returncode == 0, err
    logs = "".join(p.read_text() for p in (tmp_path / "slurm" / "jobs").glob("*_log.out"))
    assert "Requeued job" in logs  # the time limit came, and the job came back
    assert _results(tmp_path / "slurm") == _results(tmp_path / "inline")


def test_a_driver_killed_and_started_again_reattaches_to_its_job(tmp_path, slurm):
    driver = _start(tmp_path, SHORT, 1, "--executor", "slurm")
    _wait_for(lambda: (_run_dir(tmp_path, 0) / "checkpoint.pt").is_file())
    (job_id,) = _job_ids(tmp_path).values()
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    out = _run(tmp_path, SHORT, 1, "--executor", "slurm")
    assert out.returncode == 0, out.stderr
    assert "1 re-attached, 0 to submit" in out.stderr
    assert _job_ids(tmp_path) == {0: job_id}
    (entry,) = json.loads((tmp_path / "res" / "mnist" / "manifest.json").read_text())
    assert entry["seed"] == 0 and entry["overrides"]["epochs"] == 60


def test_a_failing_and_a_killed_job_are_reported_and_the_other_finishes(tmp_path, slurm):
    broken = _run_dir(tmp_path, 0)  # seed 0 raises: its checkpoint is no checkpoint
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{}")
    (broken / "checkpoint.pt").write_text("not a checkpoint")
    driver = _start(tmp_path, SHORT, 3, "--executor", "slurm")
    _wait_for(lambda: (_run_dir(tmp_path, 1) / "checkpoint.pt").is_file())
    ids = _job_ids(tmp_path)
    # killed outright (SIGABRT, which submitit leaves alone): a plain scancel, SIGTERM then SIGKILL
    # 7 s later, lets a run this short finish in between
    subprocess.run(["scancel", "--signal=ABRT", ids[1]], check=True)
    _, err = driver.communicate(timeout=300)
    assert driver.returncode == 1
    failed = [line for line in err.splitlines() if "(log: " in line]
    assert len(failed) == 2 and "2 jobs failed" in err
    assert any("seed 0" in line and ids[0] in line for line in failed)
    assert any("seed 1" in line and "ended without a result" in line for line in failed)
    assert {k[2] for k in _results(tmp_path)} == {2}
    done_stamp = (_run_dir(tmp_path, 2) / "checkpoint.pt").stat().st_mtime_ns
    resumed_from = len((_run_dir(tmp_path, 1) / "history.csv").read_text().splitlines()) - 1
    assert resumed_from >= 1
    # fixed, the same command submits the two unfinished runs only; seed 1 resumes
    for name in ("config.json", "checkpoint.pt"):
        (broken / name).unlink()
    out = _run(tmp_path, SHORT, 3, "--executor", "slurm")
    assert out.returncode == 0, out.stderr
    assert "0 re-attached, 2 to submit" in out.stderr
    assert (_run_dir(tmp_path, 2) / "checkpoint.pt").stat().st_mtime_ns == done_stamp
    assert _job_ids(tmp_path)[2] == ids[2] and _job_ids(tmp_path)[1] != ids[1]
    (tmp_path / "inline").mkdir()
    reference = _run(tmp_path / "inline", SHORT, 2)
    assert reference.returncode == 0, reference.stderr
    expected = _results(tmp_path / "inline")
    assert {k: v for k, v in _results(tmp_path).items() if k[2] < 2} == expected


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (dict(partition="no-such-partition"), "is not a partition of this cluster"),
        (dict(cpus=0), "cpus must be >= 1"),
    ],
)
def test_bad_slurm_options_are_one_line_before_anything_is_submitted(options, match, slurm):
    with pytest.raises(ValueError, match=match):
        cluster.check_executor("slurm", cluster.JobOptions(**options))


def test_without_sbatch_or_submitit_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch on it
    out = _run(tmp_path, TINY, 1, "--executor", "slurm")
    assert out.returncode == 2 and "sbatch is not on PATH" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "jobs").exists()
    monkeypatch.setattr(cluster.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match=r"pip install 'sparselab\[cluster\]'"):
        cluster.check_executor("local", cluster.JobOptions())


def test_dry_run_prints_one_line_a_run_and_the_sbatch_header(tmp_path):
    out = _run(tmp_path, TINY, 2, "--executor", "slurm", "--dry-run", "--slurm-time", "30",
               "--slurm-extra", "constraint=avx2")  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [line.split()[:4] for line in lines[:2]] == [
        ["0", "mnist-sdl", "lam=0.002", "seed"],
        ["1", "mnist-sdl", "lam=0.002", "seed"],
    ]
    assert "#SBATCH --array=0-1%2" in lines and "#SBATCH --time=30" in lines
    assert "#SBATCH --constraint=avx2" in lines
    assert not (tmp_path / "jobs").exists() and not (tmp_path / "runs").exists()
