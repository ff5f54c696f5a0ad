"""Regenerate the stored outputs of the book's chapters (the book renders them; it never executes).

    python tools/execute_notebooks.py book/03_ista.ipynb ...   # or no argument: every chapter

Runs each notebook from its own folder with TQDM_DISABLE=1 (clean outputs) and SPARSELAB_HEADLESS=1
(the explorers store their precomputed views and build no live widget, so no widget comm can hang
the run, jupyter/nbclient#312), and prints its time.
A cell that runs past the timeout is retried once with a fresh kernel: on a loaded machine the
kernel and the client can each wait on the other forever (ipython/ipykernel#1554).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError


def execute(path: Path, timeout: int = 600, retries: int = 1) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    # coalesce_streams: one stdout block per cell, however a busy machine chunks the prints
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", coalesce_streams=True,
                            resources={"metadata": {"path": str(path.parent)}})  # fmt: skip
    try:
        client.execute()
    except CellTimeoutError:
        if not retries:
            raise
        print(f"{path}: a cell passed {timeout} s; again with a fresh kernel", flush=True)
        return execute(path, timeout, retries - 1)
    nb.metadata.pop("widgets", None)  # no live widget is built: no widget state to keep
    nbformat.write(nb, path)
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("SPARSELAB_HEADLESS", "1")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    if not os.environ.get("SPARSELAB_DATA"):
        print("set SPARSELAB_DATA to an absolute path first", file=sys.stderr)
        return 2
    root = Path(__file__).resolve().parents[1]
    paths = [Path(p) for p in argv] or sorted((root / "book").glob("*.ipynb"))
    for path in paths:
        print(f"{path}: {execute(path.resolve()):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
