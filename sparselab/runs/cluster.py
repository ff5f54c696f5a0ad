"""The paper's grids as jobs: :func:`reproduce_jobs` runs the groups of
``reproduce.grid`` through submitit (FAIR's launcher), on this machine
(``local``) or on SLURM (``slurm``, one job array), instead of one after another in this process.

    python -m sparselab reproduce mnist --executor slurm --slurm-partition cpu --seeds 5
    python -m sparselab reproduce mnist --executor local          # one job per core, here

One writer: a job trains its runs (``reproduce.run_group``) and writes only their
run folders and artifact files; the driver collects what finished jobs return and is the only
process that writes ``manifest.json``. Faults: a job that times out or is preempted checkpoints
(``GroupJob.checkpoint``) and is requeued; it resumes from its run folders' last atomic
checkpoint, so no finished epoch is lost or trained twice. A job that fails (a diverged run, a raised
error, a cancelled job) is one line with its log, and the others go on. The job ids are kept in
``<jobs_dir>/jobs.json``: a driver stopped and started again with the same command re-attaches to
the jobs still queued or running, collects those that finished meanwhile and submits only the rest.
submitit is optional (``pip install 'sparselab[cluster]'``); nothing here imports it until a job is
submitted.
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import importlib.util
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ..util.files import write_json
from ..util.progress import progress as progress_bar
from .reproduce import Group, finished, grid, record, reproduce, run_group
from .store import CHECKPOINT, METRICS

__all__ = ["EXECUTORS", "JobOptions", "JobsFailed", "check_executor", "describe", "reproduce_jobs"]

EXECUTORS = ("inline", "local", "slurm")
JOBS_FILE = "jobs.json"  # in the jobs folder: each group's job id, to re-attach to


@dataclasses.dataclass(frozen=True)
class JobOptions:
    """How each job runs. ``cpus`` threads (torch) and CPUs a job; ``time_min`` its time limit (a
    job that reaches it checkpoints and is requeued); ``local_jobs`` how many local jobs at once
    (default: cores // cpus). The rest are SLURM's: partition, gpus, mem_gb, account, qos,
    array_parallelism (jobs of the array at once) and ``extra`` (sbatch options passed as is)."""

    cpus: int = 1
    time_min: int | None = None  # default: 240 on SLURM, a week here (local)
    local_jobs: int | None = None
    partition: str | None = None
    gpus: int = 0
    mem_gb: int | None = None
    account: str | None = None
    qos: str | None = None
    array_parallelism: int = 256
    extra: dict = dataclasses.field(default_factory=dict)


class JobsFailed(RuntimeError):
    """Some jobs failed; ``lines``: one per failed job, with its log."""

    def __init__(self, lines: list[str], n_jobs: int, manifest_path: Path):
        self.lines = lines
        super().__init__(
            f"{len(lines)} of {n_jobs} jobs failed (the others are in {manifest_path}): "
            + " | ".join(lines)
        )


def check_executor(executor: str, options: JobOptions, *, dry_run: bool = False) -> None:
    """Raise ValueError, one line saying what to install or pass, unless ``executor`` can run
    here with ``options``: submitit installed, and for slurm ``sbatch`` on PATH and the partition
    known to ``sinfo`` (a dry run needs neither)."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}; got {executor!r}")
    for name in ("cpus", "time_min", "local_jobs", "array_parallelism", "gpus"):
        value, least = getattr(options, name), 0 if name == "gpus" else 1
        if value is not None and value < least:
            raise ValueError(f"{name} must be >= {least}; got {value}")
    if executor == "inline":
        return
    if importlib.util.find_spec("submitit") is None:
        raise ValueError(
            f"--executor {executor} needs submitit, which is not installed: "
            "pip install 'sparselab[cluster]' (or pip install submitit)"
        )
    if executor != "slurm" or dry_run:
        return
    if shutil.which("sbatch") is None:
        raise ValueError(
            "--executor slurm: no SLURM on this machine (sbatch is not on PATH): run from a "
            "cluster's login node, or use --executor local"
        )
    if options.partition is not None:
        out = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True)
        known = sorted(set(out.stdout.split()))
        if options.partition not in known:
            raise ValueError(
                f"--slurm-partition {options.partition!r} is not a partition of this cluster; "
                f"sinfo lists: {', '.join(known) or 'none'}"
            )


def _time_min(kind: str, options: JobOptions) -> int:
    return options.time_min or (240 if kind == "slurm" else 7 * 24 * 60)


def _executor(kind: str, jobs_dir: Path, options: JobOptions):
    """A submitit executor for ``kind`` ('local' or 'slurm') writing into ``jobs_dir``."""
    import submitit

    # a requeue resumes from the last epoch's checkpoint, so a run may take any number of time
    # limits; GroupJob.checkpoint refuses to requeue a job whose allocation finished no epoch
    executor = submitit.AutoExecutor(
        jobs_dir, cluster=kind, slurm_max_num_timeout=10_000, local_max_num_timeout=10_000
    )
    time_min = _time_min(kind, options)
    # the signal comes this long before the limit: enough to requeue (the epoch under way is lost)
    signal_delay_s = int(min(120, 20 * time_min))
    params = dict(timeout_min=time_min, cpus_per_task=options.cpus, name="sparselab")
    if options.gpus:
        params["gpus_per_node"] = options.gpus
    if kind == "slurm":  # (local jobs get their signal 30 s before the limit)
        params |= dict(slurm_signal_delay_s=signal_delay_s)
        params["slurm_array_parallelism"] = options.array_parallelism
        for name in ("partition", "account", "qos"):
            if getattr(options, name) is not None:
                params[f"slurm_{name}"] = getattr(options, name)
        if options.mem_gb is not None:
            params["mem_gb"] = options.mem_gb
        if options.extra:
            params["slurm_additional_parameters"] = dict(options.extra)
    executor.update_parameters(**params)
    return executor


def _progress_mark(group: Group) -> list:
    """What changes in ``group``'s run folders when an epoch (or a run) finishes."""
    mark = []
    for run_dir in group.run_dirs:
        for name in (CHECKPOINT, METRICS):
            path = run_dir / name
            mark.append(path.stat().st_mtime_ns if path.is_file() else None)
    return mark


class GroupJob:
    """What a job runs: ``reproduce.run_group`` on ``threads`` threads,
    returning (entries, diverged). submitit calls :meth:`checkpoint` when the job is signalled
    (time limit or preemption)."""

    def __init__(self, group: Group, results_dir: Path, *, threads: int, allow_tf32: bool, command):
        self.group, self.results_dir, self.threads = group, results_dir, threads
        self.allow_tf32, self.command = allow_tf32, command
        self._mark = None

    def __call__(self) -> tuple[list[dict], list[tuple[int, str]]]:
        torch.set_num_threads(self.threads)
        self._mark = _progress_mark(self.group)
        return run_group(
            self.group, self.results_dir, allow_tf32=self.allow_tf32, command=self.command
        )

    def checkpoint(self):
        """Requeue this job, which will resume from the run folders' last atomic checkpoint; or,
        if no epoch finished since it started, return None: submitit then ends the job as failed
        (its time limit is shorter than an epoch) instead of requeueing it forever."""
        from submitit.helpers import DelayedSubmission

        if self._mark is not None and _progress_mark(self.group) == self._mark:
            return None
        return DelayedSubmission(self)


def _key(group: Group) -> str:
    return "|".join(str(d) for d in group.run_dirs)


def _fingerprint(group: Group) -> str:
    """Changes with what the group's job trains (a job for fewer epochs is another job)."""
    configs = [dataclasses.asdict(c) for c in group.configs]
    return hashlib.sha1(json.dumps(configs, sort_keys=True).encode()).hexdigest()[:12]


def describe(groups: list[Group], executor: str, options: JobOptions, jobs_dir: Path) -> list[str]:
    """The plan of a dry run: one line a job (its runs), then how they would be submitted (for
    slurm, the sbatch header submitit writes, array line included)."""
    lines = [
        f"{i:4d}  {g}  ->  {g.run_dirs[0] if len(g.run_dirs) == 1 else g.run_dirs[0].parent.parent}"
        for i, g in enumerate(groups)
    ]
    n = len(groups)
    if executor == "inline":
        return lines + [f"inline: {n} groups, one after another in this process"]
    if executor == "local":
        at_once = options.local_jobs or max(1, (os.cpu_count() or 1) // options.cpus)
        return lines + [
            f"local: {n} jobs, {min(n, at_once)} at a time, {options.cpus} threads each, "
            f"time limit {_time_min('local', options)} min (then checkpointed and restarted); "
            f"logs in {jobs_dir}"
        ]
    from submitit.slurm.slurm import _make_sbatch_string

    with tempfile.TemporaryDirectory() as tmp:  # a dry run leaves nothing behind
        params = dict(_executor("slurm", Path(tmp), options)._executor.parameters)
    script = _make_sbatch_string(command="<job>", folder=jobs_dir, map_count=max(n, 1), **params)
    header = [line for line in script.splitlines() if line.startswith("#SBATCH")]
    return lines + [f"slurm: one array of {n} jobs; sbatch parameters:"] + header


def _save_jobs(jobs_dir: Path, jobs: dict[str, dict]) -> None:
    write_json(jobs, jobs_dir / JOBS_FILE)


def _load_jobs(jobs_dir: Path) -> dict[str, dict]:
    path = jobs_dir / JOBS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _slurm_queued() -> set[str]:
    """Ids of this user's jobs (array tasks as ``<array>_<task>``) that SLURM still has pending,
    running or requeued; squeue, because sacct needs accounting, which many clusters lack."""
    out = subprocess.run(
        ["squeue", "-h", "-r", "-u", getpass.getuser(), "-o", "%i"],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise RuntimeError(f"squeue failed: {out.stderr.strip()}")
    return set(out.stdout.split())


def _local_alive(job) -> bool:
    """Whether a local job's controller still runs (a job submitted by another driver process
    is found by its pid)."""
    if job.state == "RUNNING":
        return True
    if getattr(job, "_process", None) is not None:
        return False
    try:
        return "submitit.local._local" in Path(f"/proc/{job.job_id}/cmdline").read_text()
    except OSError:
        return False


def _outcome(job, group: Group) -> tuple[str, object]:
    """('success', (entries, diverged)), ('error', one line) or ('none', None): no result yet."""
    from submitit.core.utils import pickle_load

    if not job.paths.result_pickle.is_file():
        return "none", None
    outcome, value = pickle_load(job.paths.result_pickle)
    if outcome == "success":
        return outcome, value
    last = [line for line in str(value).strip().splitlines() if line.strip()]
    return "error", f"{group}: {last[-1] if last else 'failed'} (log: {job.paths.stderr})"


def reproduce_jobs(
    data: str,
    *,
    executor: str,
    options: JobOptions | None = None,
    jobs_dir: str | Path = "runs/jobs",
    poll_s: float = 10.0,
    **reproduce_options,
) -> list[dict]:
    """:func:`~sparselab.runs.reproduce.reproduce` as submitit jobs (``executor`` 'local' or
    'slurm'): one job per group of ``reproduce.grid`` not yet finished
    (a run, or with ``stacked`` a preset's runs), SLURM's as one array; the same folders, entries
    and numbers. Waits for every job, showing a bar over them, and records each finished run in
    ``manifest.json`` as its job returns; returns the manifest's entries. A failed job is reported
    on stderr (one line, with its log file) as it fails, and :class:`JobsFailed` names them
    all once the others are done. ``jobs_dir``: submitit's folder (logs, pickles) and ``jobs.json``;
    run the same command again to re-attach to the jobs still running. reproduce_options:
    :func:`~sparselab.runs.reproduce.reproduce`'s keywords (the grid, the folders, progress...)."""
    options = options or JobOptions()
    if executor not in ("local", "slurm"):
        raise ValueError(f"executor must be 'local' or 'slurm'; got {executor!r}")
    check_executor(executor, options)
    args = inspect.signature(reproduce).bind(data, **reproduce_options)
    args.apply_defaults()
    run = args.arguments
    # jobs may start in another folder: every path they get is absolute
    for key in ("runs_dir", "results_dir"):
        run[key] = Path(run[key]).resolve()
    jobs_dir = Path(jobs_dir).resolve()
    groups, manifest_path = grid(**run)
    groups = [g for g in groups if not finished(g, manifest_path)]
    jobs_dir.mkdir(parents=True, exist_ok=True)
    ex = _executor(executor, jobs_dir, options)
    job_class = type(ex._executor).job_class
    ids = _load_jobs(jobs_dir)
    queued = _slurm_queued() if executor == "slurm" else set()

    def alive(job) -> bool:
        return job.job_id in queued if executor == "slurm" else _local_alive(job)

    watched, pending = {}, []  # key -> (group, job); groups to submit
    for group in groups:
        known = ids.get(_key(group), {})
        job = None
        if known.get("fingerprint") == _fingerprint(group):
            job = job_class(jobs_dir, known["job_id"])
        if job is not None and (alive(job) or _outcome(job, group)[0] == "success"):
            watched[_key(group)] = (group, job)  # re-attached, or finished while no driver ran
        else:
            pending.append(group)  # never submitted, or failed: (re)submitted

    def submit(todo: list[Group]) -> None:
        with ex.batch():
            jobs = [
                ex.submit(
                    GroupJob(
                        g,
                        manifest_path.parent,
                        threads=options.cpus,
                        allow_tf32=run["allow_tf32"],
                        command=run["command"],
                    )
                )
                for g in todo
            ]
        for g, job in zip(todo, jobs, strict=True):
            watched[_key(g)] = (g, job)
            ids[_key(g)] = {"job_id": job.job_id, "fingerprint": _fingerprint(g)}
        _save_jobs(jobs_dir, ids)  # before waiting: a driver killed from here on re-attaches

    print(
        f"{data}: {len(groups)} jobs to wait for: {len(watched)} re-attached, "
        f"{len(pending)} to submit ({executor}, logs in {jobs_dir})",
        file=sys.stderr,
    )
    at_once = options.local_jobs or max(1, (os.cpu_count() or 1) // options.cpus)  # local

    def top_up() -> None:  # SLURM gets every job at once (one array); local, at_once at a time
        nonlocal pending
        free = len(pending) if executor == "slurm" else at_once - len(watched)
        if pending and free > 0:
            submit(pending[:free])
            pending = pending[free:]

    top_up()
    failures, missing, n_done = [], {}, 0
    bar = progress_bar(
        total=len(groups), enabled=run["progress"], desc=f"{data} jobs", unit="job", leave=True
    )
    with bar:
        while watched:
            if executor == "slurm":
                queued = _slurm_queued()
            running = 0
            for key, (group, job) in list(watched.items()):
                outcome, value = _outcome(job, group)
                if outcome == "none" and alive(job):
                    running += 1
                    missing.pop(key, None)
                    continue
                if outcome == "none":  # gone without a result: wait a poll (requeue, slow disk)
                    missing[key] = missing.get(key, 0) + 1
                    if missing[key] < 3:
                        continue
                    value = (
                        f"{group}: job {job.job_id} ended without a result (cancelled, killed, "
                        f"out of memory or out of time) (log: {job.paths.stderr})"
                    )
                del watched[key]
                bar.update(1)
                if outcome == "success":
                    entries, diverged = value
                    for entry in entries:
                        record(entry, manifest_path)
                    for _, message in diverged:
                        value = f"{message} (log: {job.paths.stderr})"
                        failures.append(value)
                        bar.write(value, file=sys.stderr)
                    n_done += not diverged
                else:
                    failures.append(value)
                    bar.write(value, file=sys.stderr)
            top_up()
            bar.set_postfix_str(
                f"done {n_done}, running {running}, "
                f"pending {len(watched) - running + len(pending)}, failed {len(failures)}"
            )
            if watched:
                time.sleep(poll_s)
    if failures:
        raise JobsFailed(failures, len(groups), manifest_path)
    return json.loads(manifest_path.read_text()) if manifest_path.is_file() else []
