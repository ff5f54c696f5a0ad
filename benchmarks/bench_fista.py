"""FISTA step: sparselab vs the naive autograd loop, same batch, same decoder, same settings.

    python benchmarks/bench_fista.py [--device cpu|cuda] [--steps 100] [--json out.json]

Prints one row per configuration: ms per step for each, their ratio, and peak memory (CUDA only).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import sparselab as sl
from benchmarks.naive import naive_fista
from sparselab.util.device import resolve_device

# name -> (decoder factory, L); B = 250, P = 784 everywhere (Method §1)
CONFIGS = {
    "linear L=128": (lambda g: sl.LinearDictionary(128, 784, generator=g), 128),
    "mlp L=128 H=1024": (lambda g: sl.MLPDecoder(128, 1024, 784, generator=g), 128),
    "patches linear L=256": (lambda g: sl.LinearDictionary(256, 784, generator=g), 256),
    "patches mlp L=256 H=2048": (lambda g: sl.MLPDecoder(256, 2048, 784, generator=g), 256),
}
ENERGIES = {  # the paper's MNIST settings: VDL has every term of the energy active
    "VDL": dict(lam=0.02, beta=10.0, T=0.5, gamma=5.0),
    "SDL": dict(lam=0.005, beta=0.0, T=0.5, gamma=1.0),
}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, device, repeats=3):
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def bench(name, energy, device, steps, y):
    make, L = CONFIGS[name]
    SETTINGS = ENERGIES[energy]
    decoder = make(torch.Generator().manual_seed(0)).to(device)
    e = torch.relu(torch.randn(y.shape[0], L, generator=torch.Generator().manual_seed(1))).to(
        device
    )
    step = 0.5 / sl.lipschitz_constant(decoder, gamma=SETTINGS["gamma"])
    ours = _time(lambda: sl.fista(decoder, y, z_target=e, step=step, max_iter=steps, tol=0,
                                  **SETTINGS), device)  # fmt: skip
    naive = _time(lambda: naive_fista(decoder, y, z_target=e, step=step, n_steps=steps,
                                      **SETTINGS), device)  # fmt: skip
    row = {
        "config": name,
        "energy": energy,
        "device": str(device),
        "ms_per_step_sparselab": 1e3 * ours / steps,
        "ms_per_step_naive": 1e3 * naive / steps,
        "speedup": naive / ours,
    }
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        sl.fista(decoder, y, z_target=e, step=step, max_iter=steps, tol=0, **SETTINGS)
        row["peak_mb_sparselab"] = torch.cuda.max_memory_allocated() / 2**20
        torch.cuda.reset_peak_memory_stats()
        naive_fista(decoder, y, z_target=e, step=step, n_steps=steps, **SETTINGS)
        row["peak_mb_naive"] = torch.cuda.max_memory_allocated() / 2**20
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--json")
    args = parser.parse_args()
    try:
        device = resolve_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    y = sl.load_mnist("train", n=250).x.to(device)
    rows = [bench(name, en, device, args.steps, y) for name in CONFIGS for en in ENERGIES]
    for r in rows:
        print(f"{r['config']:<26} {r['energy']} {r['device']:<5} sparselab {r['ms_per_step_sparselab']:8.3f} ms"
              f"  naive {r['ms_per_step_naive']:8.3f} ms  x{r['speedup']:.1f}")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
