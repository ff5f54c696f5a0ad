"""MNIST (Method §5): IDX files parsed with numpy, found in ``$SPARSELAB_DATA/mnist/`` (gzipped or
raw) or downloaded once with pooch from the official mirror; every file, gzipped or raw, is verified
by SHA-256 before it is read.

Splits: ``train`` 55,000 and ``val`` 5,000 (a fixed, seeded split of the official 60,000 training
images), ``test`` the official 10,000. Images are flattened to (N, 784), scaled to [0, 1] and
normalised with mean 0.1307 and std 0.3081.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from ..util.validate import check_int

__all__ = [
    "MNIST_MEAN",
    "MNIST_STD",
    "Dataset",
    "DataError",
    "data_dir",
    "load_mnist",
    "mnist_normalize",
    "mnist_denormalize",
]

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
N_TRAIN, N_VAL, SPLIT_SEED = 55_000, 5_000, 0
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_FILES = {  # name -> SHA-256 of the official .gz file
    "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MNIST_RAW_FILES = {  # name -> SHA-256 of the uncompressed IDX file (the .gz above, decompressed)
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
_IDX_SHAPES = {"images": (28, 28), "labels": ()}


class DataError(RuntimeError):
    """A data file is missing, truncated or corrupt; the message names it and says what to do."""


class Dataset(NamedTuple):
    """x: (N, P) float32 inputs; labels: (N,) int64 (or None where there are none)."""

    x: Tensor
    labels: Tensor | None


def data_dir() -> Path | None:
    """The folder named by ``$SPARSELAB_DATA``, or None when it is unset."""
    root = os.environ.get("SPARSELAB_DATA")
    return Path(root).expanduser() if root else None


def cache_dir() -> Path:
    """Where downloads go when ``$SPARSELAB_DATA`` does not hold a file."""
    import pooch

    return Path(pooch.os_cache("sparselab"))


@lru_cache(maxsize=16)
def _sha256(path: Path, mtime_ns: int, size: int) -> str:
    """SHA-256 of ``path``, computed once per (mtime, size): a rewritten file is hashed again."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _find_mnist_file(name: str) -> Path:
    """Local ``.gz`` or raw IDX file under $SPARSELAB_DATA/mnist, verified by SHA-256, else a pooch
    download (verified by pooch)."""
    root = data_dir()
    if root is not None:
        for candidate in (root / "mnist" / f"{name}.gz", root / "mnist" / name):
            if candidate.is_file():
                gz = candidate.suffix == ".gz"
                stat = candidate.stat()
                if (
                    _sha256(candidate, stat.st_mtime_ns, stat.st_size)
                    != (MNIST_FILES if gz else MNIST_RAW_FILES)[name]
                ):
                    raise DataError(
                        f"{candidate} does not match the official MNIST file (SHA-256 of the "
                        f"{'gzipped' if gz else 'uncompressed IDX'} file differs): it is truncated "
                        "or corrupt. Delete it and copy or download it again."
                    )
                return candidate
    try:
        import pooch

        return Path(
            pooch.retrieve(
                MNIST_URL + name + ".gz",
                known_hash=f"sha256:{MNIST_FILES[name]}",
                fname=f"{name}.gz",
                path=cache_dir() / "mnist",
                progressbar=False,
            )
        )
    except Exception as err:  # network down, hash mismatch ...: one clear message
        where = f"$SPARSELAB_DATA/mnist ({root / 'mnist'})" if root else "$SPARSELAB_DATA (unset)"
        raise DataError(
            f"MNIST file {name}.gz is not in {where} and could not be downloaded from "
            f"{MNIST_URL} ({type(err).__name__}: {err}). Put the official files there or check "
            "your connection."
        ) from None


@lru_cache(maxsize=8)
def _read_idx(path: Path, kind: str) -> np.ndarray:
    """Parse an IDX file (gzipped or raw) into a uint8 array, with clear errors."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(
            f"cannot read {path}: {err}. The file is truncated or corrupt; delete it and copy or "
            "download it again."
        ) from None
    n_dims = len(_IDX_SHAPES[kind]) + 1
    magic = 0x0800 + n_dims
    if len(raw) < 4 + 4 * n_dims or int.from_bytes(raw[:4], "big") != magic:
        raise DataError(f"{path} is not an MNIST {kind} IDX file (bad header)")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims)]
    offset, expected = 4 + 4 * n_dims, int(np.prod(dims))
    if len(raw) - offset != expected or tuple(dims[1:]) != _IDX_SHAPES[kind]:
        raise DataError(
            f"{path} holds {len(raw) - offset} bytes of data for a header announcing shape "
            f"{tuple(dims)}: the file is truncated or corrupt; delete it and get it again."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def _split_indices(split: str) -> np.ndarray:
    perm = np.random.default_rng(SPLIT_SEED).permutation(N_TRAIN + N_VAL)
    return np.sort(perm[:N_TRAIN] if split == "train" else perm[N_TRAIN:])


def mnist_normalize(x: Tensor) -> Tensor:
    """Pixels in [0, 1] -> normalised inputs (mean 0.1307, std 0.3081)."""
    return (x - MNIST_MEAN) / MNIST_STD


def mnist_denormalize(x: Tensor) -> Tensor:
    """Normalised inputs -> pixels in [0, 1] scale (not clipped)."""
    return x * MNIST_STD + MNIST_MEAN


def load_mnist(split: str = "train", *, n: int | None = None, normalize: bool = True) -> Dataset:
    """MNIST as ``Dataset(x, labels)``: x (N, 784) float32, labels (N,) int64.

    split: ``"train"`` (55,000), ``"val"`` (5,000) or ``"test"`` (10,000); n: keep the first n
    samples of the split (for quick CPU demos); normalize: False gives pixels in [0, 1].
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test'; got {split!r}")
    prefix = "t10k" if split == "test" else "train"
    images = _read_idx(_find_mnist_file(f"{prefix}-images-idx3-ubyte"), "images")
    labels = _read_idx(_find_mnist_file(f"{prefix}-labels-idx1-ubyte"), "labels")
    if split != "test":
        idx = _split_indices(split)
        images, labels = images[idx], labels[idx]
    if n is not None:
        n = check_int("n", n, low=1, high=len(labels), where=f" for split {split!r}")
        images, labels = images[:n], labels[:n]
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)
    return Dataset(
        mnist_normalize(x) if normalize else x, torch.from_numpy(labels.astype(np.int64))
    )
