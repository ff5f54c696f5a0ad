"""``python -m sparselab evaluate denoise|classify --run DIR``: :mod:`sparselab.evaluate` on a
trained run, written as ``denoise.json`` / ``classify.json`` in the run folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data import load_mnist
from ..evaluate import classify, denoise
from ..runs import load_run, load_split, make_config
from ..util.files import write_json
from . import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``python -m sparselab evaluate denoise|classify --run DIR ...``."""
    sub = parser.add_subparsers(dest="task", required=True, metavar="task")
    den = sub.add_parser("denoise", help="PSNR of reconstructions of noisy test images")
    den.add_argument(
        "--noise", type=float, nargs="+", default=[0.5, 1.0, 1.5], help="noise stds (normalised)"
    )
    cls = sub.add_parser("classify", help="low-data classification on MNIST")
    cls.add_argument(
        "--per-class", type=int, nargs="+", default=[1, 5, 10, 50, 100], help="labels per class"
    )
    cls.add_argument("--classifier", nargs="+", default=["linear", "lista"], help="linear lista")
    cls.add_argument("--epochs", type=int, default=300, help="full-batch Adam steps")
    seeds = {den: "the noise's seed (the first given)", cls: "draws of the labelled set"}
    for p, seeds_help in seeds.items():
        p.add_argument("--run", type=Path, required=True, help="a folder written by train")
        p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help=seeds_help)
        p.add_argument("--n-test", type=int, default=None, help="first n test images (default all)")


def run(args: argparse.Namespace) -> int:
    """Validate the arguments and the run folder, evaluate, write the JSON next to the run."""
    if args.n_test is not None and args.n_test < 2:
        raise UsageError(f"--n-test must be >= 2; got {args.n_test}")
    if args.task == "denoise" and any(s < 0 for s in args.noise):
        raise UsageError(f"--noise levels must be >= 0; got {args.noise}")
    if args.task == "classify":
        if any(n < 1 for n in args.per_class):
            raise UsageError(f"--per-class values must be >= 1; got {args.per_class}")
        bad = sorted(set(args.classifier) - {"linear", "lista"})
        if bad:
            raise UsageError(f"--classifier must be linear or lista; got {bad}")
        if args.epochs < 1:
            raise UsageError(f"--epochs must be >= 1; got {args.epochs}")
    try:
        config, decoder, encoder, _, _ = load_run(args.run)
    except (ValueError, OSError, RuntimeError) as err:
        raise UsageError(str(err)) from None
    if args.task == "classify" and config.data != "mnist":
        raise UsageError(f"classify needs an MNIST run; {args.run} was trained on {config.data}")
    config = make_config(config, n_test=args.n_test)
    if args.task == "denoise":
        x, scale = load_split(config, "test")
        results = denoise(decoder, encoder, x, scale, args.noise, seed=args.seeds[0])
        write_json({str(k): v for k, v in results.items()}, args.run / "denoise.json")
        for sigma, r in results.items():
            print(f"noise {sigma}: noisy {r['noisy_psnr']:.2f} dB -> {r['psnr']:.2f} dB")
        return 0
    train_set, test_set = load_mnist("train"), load_mnist("test", n=args.n_test)
    results = classify(
        encoder,
        train_set.x,
        train_set.labels,
        test_set.x,
        test_set.labels,
        per_class=args.per_class,
        seeds=args.seeds,
        classifiers=args.classifier,
        epochs=args.epochs,
    )
    write_json(results, args.run / "classify.json")
    for kind, by_classifier in results.items():
        for classifier, by_n in by_classifier.items():
            row = ", ".join(
                f"{n}: {100 * r['mean']:.1f}±{100 * r['std']:.1f}" for n, r in by_n.items()
            )
            print(f"{kind:6s} {classifier:6s} {row}")
    return 0
