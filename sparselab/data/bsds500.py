"""BSDS500 (Martin et al. 2001), the default source of natural images (Method §5): found in
``$SPARSELAB_DATA/bsds500/images`` or downloaded once from the official archive with pooch.

No official checksum of the archive is published, so the 500 extracted images are checked instead,
file by file, against the SHA-256 sums shipped with the package (``bsds500_sha256.txt`` here).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .mnist import DataError, cache_dir, data_dir

__all__ = ["BSDS500_URL", "bsds500_images_dir"]

BSDS500_URL = (
    "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz"
)
BSDS500_MEMBER_PREFIX = "BSR/BSDS500/data/"  # images/{train,val,test}/*.jpg in the archive


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _bsds500_sums() -> dict[str, str]:
    """``images/<split>/<name>.jpg`` -> SHA-256, from the list shipped with the package."""
    text = (Path(__file__).with_name("bsds500_sha256.txt")).read_text()
    return {name: digest for digest, name in (line.split() for line in text.splitlines() if line)}


def bsds500_images_dir() -> Path:
    """The BSDS500 image folder: ``$SPARSELAB_DATA/bsds500/images`` when it exists, else the
    official archive, downloaded once with pooch into ``sparselab.data.cache_dir()`` and
    extracted (images only).

    No official checksum of the archive is published, so the archive is fetched without one and
    the 500 extracted images are checked instead, file by file, against the SHA-256 sums shipped
    with the package (``sparselab/data/bsds500_sha256.txt``).
    """
    root = data_dir()
    if root is not None and (root / "bsds500" / "images").is_dir():
        return root / "bsds500" / "images"
    sums = _bsds500_sums()
    base = cache_dir() / "bsds500"
    images = base / "BSR_bsds500" / BSDS500_MEMBER_PREFIX / "images"
    if not all((images.parent / name).is_file() for name in sums):
        import pooch

        try:
            pooch.retrieve(
                BSDS500_URL,
                known_hash=None,  # no official hash: the extracted images are verified below
                fname="BSR_bsds500.tgz",
                path=base,
                processor=pooch.Untar(
                    members=[BSDS500_MEMBER_PREFIX + name for name in sums],
                    extract_dir="BSR_bsds500",
                ),
                progressbar=False,
            )
        except Exception as err:  # network down, bad archive: one message
            where = "$SPARSELAB_DATA/bsds500/images" + (f" ({root})" if root else " (unset)")
            raise DataError(
                f"BSDS500 is not in {where} and could not be downloaded from {BSDS500_URL} "
                f"({type(err).__name__}: {err}). Pass --images DIR or check your connection."
            ) from None
    bad = [
        name
        for name, digest in sums.items()
        if not (images.parent / name).is_file() or _sha256(images.parent / name) != digest
    ]
    if bad:
        raise DataError(
            f"{len(bad)} BSDS500 image(s) under {images} are missing or differ from the official "
            f"files (SHA-256), e.g. {bad[0]}: delete {base} and run again"
        )
    return images
