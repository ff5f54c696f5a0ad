"""``python -m sparselab reproduce mnist|patches``: the paper's grids
(:func:`sparselab.runs.reproduce.reproduce`), resumable, writing the book's artifacts; with
``--executor local|slurm`` as submitit jobs (:func:`sparselab.runs.cluster.reproduce_jobs`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..runs import make_config
from ..runs.cluster import (
    EXECUTORS,
    JobOptions,
    JobsFailed,
    check_executor,
    describe,
    reproduce_jobs,
)
from ..runs.config import check_data, field_types
from ..runs.reproduce import MODELS, grid, plan, reproduce
from ..util.device import resolve_device
from . import UsageError, add_training_flags
from .train import _parse_value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m sparselab reproduce``."""
    parser.add_argument("data", choices=["mnist", "patches"], help="which of the paper's grids")
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="sdl sdl-nl vdl vdl-nl")
    parser.add_argument("--lams", type=float, nargs="+", help="lam values (default: LAM_GRIDS)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per point (paper: 5)")
    parser.add_argument("--epochs", type=int, help="default: the preset's (200 MNIST, 100 patches)")
    parser.add_argument("--n-train", type=int, help="first n training samples (default all)")
    parser.add_argument("--patches-file", help="patch set from `python -m sparselab patches`")
    parser.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="auto: CUDA where there is one",
    )
    _folder(parser, "--runs", "runs/reproduce", "run folders with checkpoints, to resume or extend")
    _folder(parser, "--results", "book/results", "where the artifacts and manifest.json go")
    add_training_flags(parser)
    parser.add_argument(
        "--stacked",
        action="store_true",
        help="train each model's unfinished runs (all lam and seeds) in one batched pass (GPU)",
    )
    parser.add_argument(
        "--retrain",
        action="store_true",
        help="train again the runs the manifest records that have no run folder here (made on "
        "another machine) and replace their entries; by default they are skipped",
    )
    parser.add_argument(
        "--set",
        type=_set,
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="any other config field for every run (--set code_dim=32; repeatable)",
    )
    _add_executor_arguments(parser)


def _folder(parser, flag: str, default: str, help_text: str) -> None:
    parser.add_argument(flag, type=Path, default=Path(default), help=help_text + " (%(default)s)")


def _set(text: str) -> tuple[str, object]:
    """``--set FIELD=VALUE``: a config field, typed as :class:`~sparselab.runs.TrainConfig` says."""
    name, sep, value = text.partition("=")
    kinds = field_types()
    if not sep or name not in kinds:
        raise argparse.ArgumentTypeError(
            f"expected FIELD=VALUE with FIELD one of {', '.join(kinds)}; got {text!r}"
        )
    return name, _parse_value(kinds[name])(value)


def _extra(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (an sbatch option); got {text!r}")
    return key, value


def _add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """``--executor`` and the options of its jobs (:mod:`sparselab.runs.cluster`)."""
    jobs = parser.add_argument_group("jobs (--executor local or slurm, through submitit)")
    jobs.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="inline",
        help="inline: one run after another in this process (default); local: one submitit job "
        "per run on this machine; slurm: one SLURM job per run, as one job array",
    )
    _folder(jobs, "--jobs-dir", "runs/jobs", "submitit's folder: job logs, pickles and jobs.json")
    jobs.add_argument("--dry-run", action="store_true", help="print the plan; submit nothing")
    jobs.add_argument(
        "--poll-seconds", type=float, default=10.0, help="how often to check the jobs (default 10)"
    )
    jobs.add_argument("--local-jobs", type=int, help="local: jobs at once (default cores // cpus)")
    jobs.add_argument("--slurm-partition", help="partition (default: the cluster's)")
    jobs.add_argument(
        "--slurm-cpus-per-job", type=int, default=1, help="CPUs and torch threads a job (local too)"
    )
    jobs.add_argument("--slurm-gpus-per-job", type=int, default=0, help="GPUs a job (--stacked)")
    jobs.add_argument("--slurm-mem", type=int, help="memory a job, GB")
    jobs.add_argument(
        "--slurm-time",
        type=int,
        help="time limit of a job in minutes (default 240); a job that reaches it checkpoints, "
        "is requeued and resumes",
    )
    jobs.add_argument("--slurm-account", help="account to charge")
    jobs.add_argument("--slurm-qos", help="quality of service")
    jobs.add_argument(
        "--slurm-array-parallelism", type=int, default=256, help="jobs of the array at once"
    )
    jobs.add_argument(
        "--slurm-extra",
        type=_extra,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other sbatch option, passed to submitit as is (repeatable)",
    )


def _options(args: argparse.Namespace) -> JobOptions:
    return JobOptions(
        cpus=args.slurm_cpus_per_job,
        time_min=args.slurm_time,
        local_jobs=args.local_jobs,
        partition=args.slurm_partition,
        gpus=args.slurm_gpus_per_job,
        mem_gb=args.slurm_mem,
        account=args.slurm_account,
        qos=args.slurm_qos,
        array_parallelism=args.slurm_array_parallelism,
        extra=dict(args.slurm_extra),
    )


def run(args: argparse.Namespace) -> int:
    overrides = dict(args.set) | {"device": args.device}
    for name in ("epochs", "n_train", "patches_file"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    options = _options(args)
    try:
        points = plan(args.data, models=args.models, lams=args.lams, seeds=args.seeds)
        for preset, lam, seed in points:  # every config is checked before anything runs
            make_config(preset, lam=lam, seed=31 + seed, **overrides)
        check_data(make_config(points[0][0], **overrides))
        if args.executor != "slurm":  # SLURM's jobs find their device on their node
            resolve_device(args.device)
        check_executor(args.executor, options, dry_run=args.dry_run)
    except (ValueError, OSError, RuntimeError) as err:
        raise UsageError(str(err)) from None
    kw = dict(
        models=args.models,
        lams=args.lams,
        seeds=args.seeds,
        overrides=overrides,
        runs_dir=args.runs,
        results_dir=args.results,
        stacked=args.stacked,
        retrain=args.retrain,
    )
    if args.dry_run:
        groups, _ = grid(args.data, **kw)
        print("\n".join(describe(groups, args.executor, options, args.jobs_dir)))
        return 0
    kw |= dict(
        progress=not args.no_progress,
        allow_tf32=args.allow_tf32,
        command="python -m sparselab " + " ".join(sys.argv[1:]),
    )
    manifest_path = args.results / args.data / "manifest.json"
    if args.executor == "inline":
        manifest = reproduce(args.data, **kw)
    else:
        try:
            manifest = reproduce_jobs(
                args.data,
                executor=args.executor,
                options=options,
                jobs_dir=args.jobs_dir,
                poll_s=args.poll_seconds,
                **kw,
            )
        except JobsFailed as err:
            print(
                f"{len(err.lines)} jobs failed (see the lines above); the others are in "
                f"{manifest_path}; run the same command again to resubmit the failed ones",
                file=sys.stderr,
            )
            return 1
        except KeyboardInterrupt:
            print(
                f"stopped waiting; the jobs go on: run the same command to re-attach "
                f"(job ids in {args.jobs_dir / 'jobs.json'})",
                file=sys.stderr,
            )
            return 130
    print(f"{len(manifest)} runs in {manifest_path}")
    return 0
