"""Image files for the patch sets (:mod:`sparselab.data.patches`): every JPEG/PNG under a
folder, found in a stable order, and each decoded to grayscale with its short side resized to 256."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .mnist import DataError

__all__ = ["IMAGE_SUFFIXES", "SHORT_SIDE", "find_images", "read_image", "unreadable"]

SHORT_SIDE = 256
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def find_images(folder: str | Path) -> list[Path]:
    """Every .jpg/.jpeg/.png (any case) under ``folder``, recursively, sorted: a stable order that
    makes the seeded split independent of the file system."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist (or is not a folder)")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(
            f"no images (.jpg, .jpeg, .png) under {root}: point --images at a folder of images"
        )
    return files


def read_image(path: Path) -> np.ndarray:
    """Grayscale (ITU-R 601-2 luma), short side resized to 256 (bilinear, antialiased, as the
    paper's torchvision ``Resize(256)``): (H, W) uint8."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L")
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise DataError(
            f"cannot read image {path}: {err}. Remove or replace the file and run again."
        ) from None
    w, h = im.size
    # torchvision's rule: the long side is truncated, not rounded
    size = (
        (SHORT_SIDE, int(SHORT_SIDE * h / w)) if w <= h else (int(SHORT_SIDE * w / h), SHORT_SIDE)
    )
    return np.asarray(im.resize(size, Image.Resampling.BILINEAR))


def unreadable(files: list[Path]) -> list[Path]:
    """The files among ``files`` that :func:`read_image` cannot decode."""
    bad = []
    for f in files:
        try:
            read_image(f)
        except DataError:
            bad.append(f)
    return bad
