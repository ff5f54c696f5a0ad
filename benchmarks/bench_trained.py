"""Training batches of a trained multi-layer model, with and without FISTA's row compaction.

    python -m benchmarks.bench_trained --run runs/reproduce/mnist/mnist-vdl-nl/lam0.01/seed0 ...

A fresh model (``bench_train``) says little about a multi-layer run late in training, when most
samples converge in a few steps and a few stragglers keep the batch iterating. This benchmark loads
a run folder's ``checkpoint.pt`` (from ``python -m sparselab train`` or ``reproduce``), and times
the next epoch's first ``--batches`` batches from that same state (the fastest of ``--repeats``
timings, the settings taking turns), with :func:`sparselab.solvers.fista` computing the decoder's
gradient only for the rows still iterating once any row has converged (the default on a CPU), once
fewer than half are iterating (on a GPU), and on every row. ``--stack K`` also times K copies of
the model trained in one batched pass (:mod:`sparselab.sweep`, as ``reproduce --stacked`` trains),
where the rows left are compacted per model (fresh Adam states for the stack: its first steps
differ a little from the run's).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.bench_train import _sync, write_rows
from sparselab import solvers
from sparselab.runs import config as cfg
from sparselab.runs import loop, store
from sparselab.stacked import stack_models
from sparselab.util.device import resolve_device


def _resumed(run_dir: Path, device):
    """Config, models and optimisers of a run folder as its checkpoint left them."""
    config = cfg.make_config(
        cfg.TrainConfig(),
        **json.loads((run_dir / store.CONFIG).read_text()) | {"device": device.type},
    )
    decoder, encoder = (m.to(device) for m in cfg.build_models(config))
    opt_d, opt_e = loop.optimizers(config, decoder, encoder)
    histories, _ = store.restore(run_dir / store.CHECKPOINT, device, decoder, encoder, opt_d, opt_e)
    return config, decoder, encoder, opt_d, opt_e, len(histories[0])


# what `rows compacted` says -> the fraction of rows still iterating below which FISTA compacts
COMPACTION = {"no": 0.0, "below half": 0.5, "any converged": 1.0}


def bench_run(run_dir: Path, device, batches: int, compaction: str, stack: int = 1) -> dict:
    config, decoder, encoder, opt_d, opt_e, epoch = _resumed(run_dir, device)
    configs = [config] * stack
    if stack > 1:
        decoder, encoder = stack_models([decoder] * stack), stack_models([encoder] * stack)
        opt_d, opt_e = loop.optimizers(config, decoder, encoder)
    x = cfg.load_split(config, "train")[0].to(device)[: batches * config.batch_size]
    default = solvers._COMPACT_BELOW
    solvers._COMPACT_BELOW = {device.type: COMPACTION[compaction]}  # 0: never few enough
    try:
        _sync(device)
        start = time.perf_counter()
        stats, *_ = loop.train_epoch(configs, decoder, encoder, opt_d, opt_e, x, epoch, False)
        _sync(device)
        seconds = time.perf_counter() - start
    finally:
        solvers._COMPACT_BELOW = default
    copies = f", {stack} copies stacked" if stack > 1 else ""
    return {
        "run": f"{config.decoder} lam={config.lam:g} eta={config.eta:g}, epoch {epoch + 1}{copies}",
        "preset_like": run_dir.parts[-3] if len(run_dir.parts) >= 3 else str(run_dir),
        "rows_compacted": compaction,
        "device": device.type,
        "batches_measured": batches,
        "ms_per_batch": 1000 * seconds / batches,
        "fista_steps_per_batch": stats["fista_iter"],
        "fista_steps_per_sample": stats["fista_iter_sample"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, action="append", required=True, help="a run folder")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--stack", type=int, default=1, help="also time K stacked copies")
    parser.add_argument("--repeats", type=int, default=3, help="timings a row keeps the fastest of")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    try:
        device = resolve_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    rows = []
    for run_dir in args.run:
        if not (run_dir / store.CHECKPOINT).is_file():
            parser.error(f"--run {run_dir}: no {store.CHECKPOINT} there")
        for stack in sorted({1, args.stack}):
            timed = {}  # the settings take turns, so that a slow spell of the machine hits them all
            for _ in range(args.repeats):
                for compaction in COMPACTION:
                    row = bench_run(run_dir, device, args.batches, compaction, stack)
                    timed.setdefault(compaction, []).append(row)
            for runs in timed.values():
                rows.append(min(runs, key=lambda r: r["ms_per_batch"]) | {"repeats": len(runs)})
                print(rows[-1], flush=True)
    write_rows(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
