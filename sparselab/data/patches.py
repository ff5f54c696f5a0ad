"""Natural image patches with local contrast normalisation (Method §5).

Every JPEG/PNG under a folder (recursively: an ImageNet ``train/<class>/*.JPEG`` tree works as
it is) is converted to grayscale (Pillow's ITU-R 601-2 luma), resized so that its short side is 256
and cut into random 52x52 crops, scaled to [0, 1] and normalised, ``v = (p - 0.457) / 0.259``.
Local contrast normalisation (LCN) with the normalised 13x13 Gaussian window ``w`` (sigma 5) gives

.. math::

    m = w \\star v, \\qquad c = v - m, \\qquad s = \\sqrt{w \\star c^2}, \\qquad
    d = \\max(s, \\bar s, 10^{-4}), \\qquad x = c / d

where :math:`\\star` is a *valid* correlation and :math:`\\bar s` the mean of ``s`` over a batch of
250 crops. Geometry: ``m`` and ``c`` are defined on the 40x40 centre of the crop (52 - 12), ``s``,
``d`` and ``x`` on its 28x28 centre (40 - 12), where every window used lies inside the crop: that
28x28 region is the patch (784 pixels). Patches whose LCN output has std < 0.5 (low contrast) are
dropped. Since ``m`` and ``d`` are stored, the crop is recovered exactly:
``pixels = x * pixel_scale + pixel_offset`` with ``pixel_scale = 0.259 d`` and
``pixel_offset = 0.259 m + 0.457``.

Splits are made by source image (no image feeds two splits), everything is seeded. The default
source is BSDS500 (:mod:`sparselab.data.bsds500`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..util.device import resolve_device
from ..util.files import atomic_write
from ..util.progress import progress as progress_bar
from .mnist import DataError

__all__ = [
    "PATCH_MEAN",
    "PATCH_STD",
    "LCNResult",
    "PatchSet",
    "build_patches",
    "find_images",
    "gaussian_window",
    "lcn",
    "load_patches",
    "read_image",
    "rebuild_command",
    "save_patches",
]

PATCH_MEAN, PATCH_STD = 0.457, 0.259  # grayscale ImageNet statistics used by the paper
SHORT_SIDE, CROP, WINDOW, SIGMA, EPS = 256, 52, 13, 5.0, 1e-4
SIZE = CROP - 2 * (WINDOW - 1)  # 28: the region where both windows (mean, then std) fit
MIN_STD = 0.5  # patches whose LCN output has a smaller std are dropped
FLOOR_GROUP = 250  # crops whose mean local std floors the divisor (the paper's loader batch)
SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
FORMAT_VERSION = 1

_CHUNK = 20_000  # crops gathered (and shuffled across images) before LCN: 54 MB as uint8
_LCN_BATCH = 8 * FLOOR_GROUP  # crops per conv2d call (and per progress update)
_CACHE_BYTES = 1 << 30  # decoded images kept in memory while building (BSDS500 needs 49 MB)
_MAX_ROUNDS = 10


class LCNResult(NamedTuple):
    """x: (B, h, w) LCN output; mean: (B, h, w) local mean m; divisor: (B, h, w) d (all on the
    (h, w) = (H - 24, W - 24) valid centre of the (H, W) input)."""

    x: Tensor
    mean: Tensor
    divisor: Tensor


class PatchSet(NamedTuple):
    """x: (N, 784) float32 LCN patches (network inputs); ``pixels = x * pixel_scale +
    pixel_offset`` (both (N, 784) float32) are the grayscale crops in [0, 1]."""

    x: Tensor
    pixel_scale: Tensor
    pixel_offset: Tensor


def gaussian_window(
    size: int = WINDOW, sigma: float = SIGMA, *, dtype: torch.dtype = torch.float32
) -> Tensor:
    """1-D Gaussian of ``size`` taps, std ``sigma``, summing to 1: (size,). The 2-D window
    is its outer product (also summing to 1), which is what makes the LCN convolutions separable."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd integer; got {size!r}")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0; got {sigma!r}")
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    return (g / g.sum()).to(dtype)


def _blur(v: Tensor, g: Tensor) -> Tensor:
    """Valid correlation of v: (B, H, W) with the 2-D window outer(g, g): (B, H-k+1, W-k+1)."""
    k = len(g)
    v = F.conv2d(v.unsqueeze(1), g.view(1, 1, 1, k))  # rows: 13 taps instead of 169
    return F.conv2d(v, g.view(1, 1, k, 1)).squeeze(1)


def lcn(
    v: Tensor,
    *,
    window: int = WINDOW,
    sigma: float = SIGMA,
    group: int = FLOOR_GROUP,
    eps: float = EPS,
) -> LCNResult:
    """Local contrast normalisation of normalised crops v: (B, H, W) (Method §5).

    The local std is floored at its mean over each group of ``group`` consecutive crops (over all
    positions of those crops), as in the paper's code where the group is its loader batch of 250,
    and at ``eps``. A last group smaller than ``group`` joins the one before it. A per-patch floor
    would instead lift every flat, noisy patch (sky, JPEG blocks) to unit contrast, and the
    ``std < 0.5`` filter could no longer remove them. Returns :class:`LCNResult` on the
    (H - 2 (window - 1), W - 2 (window - 1)) centre.
    """
    if v.dim() != 3:
        raise ValueError(f"v must be (B, H, W); got {tuple(v.shape)}")
    r = window - 1
    if min(v.shape[1:]) <= 2 * r:
        raise ValueError(f"v must be larger than {2 * r}x{2 * r}; got {tuple(v.shape)}")
    if group < 1:
        raise ValueError(f"group must be >= 1; got {group!r}")
    g = gaussian_window(window, sigma, dtype=v.dtype).to(v.device)
    h = r // 2
    m = _blur(v, g)  # (B, H - r, W - r)
    c = v[:, h : v.shape[1] - h, h : v.shape[2] - h] - m
    s = _blur(c * c, g).clamp_min(0).sqrt()  # (B, H - 2r, W - 2r)
    n_groups = max(len(v) // group, 1)
    gid = (torch.arange(len(v), device=v.device) // group).clamp(max=n_groups - 1)
    per_crop = s.mean(dim=(1, 2))
    floor = torch.zeros(n_groups, dtype=s.dtype, device=v.device).index_add_(0, gid, per_crop)
    floor = floor / torch.bincount(gid, minlength=n_groups).to(s.dtype)
    d = torch.maximum(s, floor[gid].view(-1, 1, 1)).clamp_min(eps)
    inner = (slice(None), slice(h, c.shape[1] - h), slice(h, c.shape[2] - h))
    return LCNResult(c[inner] / d, m[inner], d)


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


def _assign_images(n_images: int, counts: dict[str, int], rng: np.random.Generator) -> dict:
    """Seeded partition of image indices into splits, sizes proportional to the patch counts
    (every split that wants patches gets at least one image)."""
    wanted = [s for s in SPLITS if counts[s] > 0]
    if n_images < len(wanted):
        raise DataError(
            f"{n_images} image(s) found but {len(wanted)} splits ({', '.join(wanted)}) need "
            "patches, and no image may feed two splits: add images or ask for fewer splits"
        )
    total = sum(counts[s] for s in wanted)
    sizes = {s: max(1, round(n_images * counts[s] / total)) for s in wanted}
    while sum(sizes.values()) > n_images:  # rounding overshoot: shrink the largest
        biggest = max(sizes, key=sizes.get)
        sizes[biggest] -= 1
    sizes[wanted[0]] += n_images - sum(sizes.values())
    perm = rng.permutation(n_images)
    out, start = {s: np.zeros(0, dtype=np.int64) for s in SPLITS}, 0
    for s in wanted:
        out[s] = np.sort(perm[start : start + sizes[s]])
        start += sizes[s]
    return out


def _crop_counts(n_crops: int, n_images: int, cursor: int, rng) -> tuple[np.ndarray, int]:
    """How many crops each image of the split gives this round: one each from the next images
    (cycling) when there are more images than crops, otherwise spread evenly."""
    counts = np.zeros(n_images, dtype=np.int64)
    if n_crops <= n_images:
        counts[(cursor + np.arange(n_crops)) % n_images] = 1
        return counts, (cursor + n_crops) % n_images
    counts[:] = n_crops // n_images
    counts[rng.choice(n_images, n_crops % n_images, replace=False)] += 1
    return counts, cursor


class _DecodedImages:
    """Images by index, decoded once and kept while they fit in ``_CACHE_BYTES``: later rounds
    reuse them (all of BSDS500 fits; an ImageNet run takes one crop per image and barely uses it).
    """

    def __init__(self, files: list[Path]):
        self.files, self.kept, self.nbytes = files, {}, 0

    def __getitem__(self, idx: int) -> np.ndarray:
        img = self.kept.get(idx)
        if img is None:
            img = read_image(self.files[idx])
            if self.nbytes + img.nbytes <= _CACHE_BYTES:
                self.kept[idx], self.nbytes = img, self.nbytes + img.nbytes
        return img


def _build_split(images, image_ids, n, rng, device, bar) -> dict[str, np.ndarray]:
    """Draw crops from the given images until ``n`` patches pass the std filter."""
    kept = {"x": [], "mean": [], "divisor": [], "source": [], "origin": []}
    have, tried, keep_rate, cursor = 0, 0, 0.8, 0

    def flush(crops, source, origin):
        nonlocal have
        order = rng.permutation(len(crops))  # mix images inside each floor group
        crops = np.stack(crops)[order]
        source, origin = np.concatenate(source)[order], np.concatenate(origin)[order]
        for a in range(0, len(crops), _LCN_BATCH):
            u = torch.from_numpy(crops[a : a + _LCN_BATCH]).to(device)
            v = (u.float() / 255 - PATCH_MEAN) / PATCH_STD
            res = lcn(v)
            ok = res.x.flatten(1).std(dim=1) >= MIN_STD  # unbiased std, as the paper's code
            for key, val in zip(("x", "mean", "divisor"), res, strict=True):
                kept[key].append(val[ok].flatten(1).cpu().numpy())
            ok = ok.cpu().numpy()
            kept["source"].append(source[a : a + _LCN_BATCH][ok])
            kept["origin"].append(origin[a : a + _LCN_BATCH][ok])
            bar.update(max(min(int(ok.sum()), n - have), 0))
            have += int(ok.sum())

    for _ in range(_MAX_ROUNDS):
        need = n - have
        n_crops = min(math.ceil(1.1 * need / keep_rate) + 16, 20 * need + 1000)
        counts, cursor = _crop_counts(n_crops, len(image_ids), cursor, rng)
        crops, source, origin, buffered, before = [], [], [], 0, have
        for j in np.flatnonzero(counts):
            idx = int(image_ids[j])
            img = images[idx]
            k = int(counts[j])
            rows = rng.integers(0, img.shape[0] - CROP + 1, k)
            cols = rng.integers(0, img.shape[1] - CROP + 1, k)
            crops.extend(img[r : r + CROP, c : c + CROP] for r, c in zip(rows, cols, strict=True))
            source.append(np.full(k, idx, dtype=np.int64))
            origin.append(np.stack([rows, cols], axis=1))
            buffered += k
            if buffered >= _CHUNK:
                flush(crops, source, origin)
                crops, source, origin, buffered = [], [], [], 0
        if crops:
            flush(crops, source, origin)
        tried += n_crops
        keep_rate = max((have - before) / n_crops, 0.05)
        if have >= n:
            break
        if have == before:
            break  # nothing passes the filter: more rounds would not help
    if have < n:
        raise DataError(
            f"only {have} of the {n} patches asked for have std >= {MIN_STD} after LCN ({tried} "
            f"random crops of {len(image_ids)} image(s)): the images are too flat or too few; "
            "add images or ask for fewer patches"
        )
    pick = rng.permutation(have)[:n]  # a seeded subset, in random order
    return {key: np.concatenate(kept.pop(key))[pick] for key in list(kept)}  # one copy at a time


def build_patches(
    images_dir: str | Path,
    *,
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """LCN patches from every image under ``images_dir`` (Method §5), as the arrays of the ``.npz``
    layout (see :func:`save_patches`). Images are assigned to the splits first (seeded, in
    proportion to the patch counts), so that no image feeds two splits; each split then draws
    random crops from its own images, as many per image as needed. ``device``: where LCN runs
    (default: CUDA when available). Raises :class:`~sparselab.data.mnist.DataError` for a folder without
    readable images, an unreadable image or too few patches.
    """
    counts = {"train": n_train, "val": n_val, "test": n_test}
    for split, n in counts.items():
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
            raise ValueError(f"n_{split} must be an integer >= 0; got {n!r}")
    if sum(counts.values()) == 0:
        raise ValueError("n_train, n_val and n_test are all 0: ask for some patches")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
    device = resolve_device(str(device) if device else "auto")
    root = Path(images_dir).expanduser()
    files = find_images(root)
    split_seq, *crop_seqs = np.random.SeedSequence(seed).spawn(1 + len(SPLITS))
    assignment = _assign_images(len(files), counts, np.random.default_rng(split_seq))
    params = {
        "format_version": FORMAT_VERSION,
        "images_dir": str(root),
        "n_images": len(files),
        "seed": int(seed),
        "short_side": SHORT_SIDE,
        "crop": CROP,
        "patch": SIZE,
        "mean": PATCH_MEAN,
        "std": PATCH_STD,
        "window": WINDOW,
        "sigma": SIGMA,
        "eps": EPS,
        "floor_group": FLOOR_GROUP,
        "min_std": MIN_STD,
        "grayscale": "Pillow convert('L') (ITU-R 601-2 luma)",
        "resize": "Pillow bilinear, antialiased",
    }
    arrays: dict[str, np.ndarray] = {}
    images = _DecodedImages(files)
    bar = progress_bar(total=sum(counts.values()), enabled=progress, desc="patches", unit="patch")
    with bar, torch.no_grad():
        for split, seq in zip(SPLITS, crop_seqs, strict=True):
            ids = assignment[split]
            if counts[split] == 0:
                part = {
                    "x": np.zeros((0, SIZE * SIZE), np.float32),
                    "mean": np.zeros((0, SIZE * SIZE), np.float32),
                    "divisor": np.zeros((0, SIZE * SIZE), np.float32),
                    "source": np.zeros(0, np.int64),
                    "origin": np.zeros((0, 2), np.int64),
                }
            else:
                bar.set_postfix_str(f"{split}: {len(ids)} images")
                part = _build_split(
                    images, ids, counts[split], np.random.default_rng(seq), device, bar
                )
            used, source = np.unique(part["source"], return_inverse=True)
            arrays[f"{split}_x"] = part["x"]
            arrays[f"{split}_mean"] = part["mean"]
            arrays[f"{split}_divisor"] = part["divisor"]
            arrays[f"{split}_source"] = source.astype(np.int32)
            arrays[f"{split}_origin"] = part["origin"].astype(np.int16)
            arrays[f"{split}_files"] = np.array(
                [files[i].relative_to(root).as_posix() for i in used], dtype=str
            ).reshape(-1)
    arrays["params"] = np.array(json.dumps(params))
    return arrays


def save_patches(arrays: dict[str, np.ndarray], path: str | Path) -> Path:
    """Write the arrays of :func:`build_patches` to ``path`` (.npz, uncompressed: float32 LCN data
    barely compresses), atomically: an interrupted write leaves no file.

    Layout, for each split in train/val/test: ``{split}_x``, ``{split}_mean``, ``{split}_divisor``
    (N, 784) float32 (LCN output x, local mean m, divisor d, in normalised units);
    ``{split}_source`` (N,) int32, the index of each patch's image in ``{split}_files`` (paths
    relative to the image folder); ``{split}_origin`` (N, 2) int16, the top-left (row, col) of the
    52x52 crop in the resized image. ``params``: a JSON string of the preprocessing parameters.
    """
    path = Path(path).expanduser()
    if path.suffix != ".npz":
        raise ValueError(f"path must end with .npz; got {str(path)!r}")

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would add ".npz" to a name
            np.savez(f, **arrays)

    return atomic_write(path, write)


def load_patches(split: str, *, path: str | Path, n: int | None = None) -> PatchSet:
    """The patches of one split of a file written by ``python -m sparselab patches``.

    split: ``"train"``, ``"val"`` or ``"test"``; n: keep the first n patches (already in random
    order). Returns :class:`PatchSet` with x, pixel_scale, pixel_offset: (N, 784) float32.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be 'train', 'val' or 'test'; got {split!r}")
    params, (x, m, d) = _read(path, [f"{split}_{key}" for key in ("x", "mean", "divisor")])
    if n is not None:
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= len(x):
            raise ValueError(
                f"n must be an integer in [1, {len(x)}] for split {split!r} of {path}; got {n!r}"
            )
        x, m, d = x[:n], m[:n], d[:n]
    mean, std = params["mean"], params["std"]
    return PatchSet(
        torch.from_numpy(np.ascontiguousarray(x)),
        torch.from_numpy(d * np.float32(std)),
        torch.from_numpy(m * np.float32(std) + np.float32(mean)),
    )


def rebuild_command(path: str | Path) -> str:
    """The ``python -m sparselab patches`` command that rebuilds the file at ``path`` from the
    default images (its split sizes and seed, read from the file): what a results manifest
    records next to the runs trained on it."""
    params, sources = _read(path, [f"{split}_source" for split in SPLITS])
    n_train, n_val, n_test = (len(s) for s in sources)
    return (
        f"python -m sparselab patches --out {path} --n-train {n_train} --n-val {n_val} "
        f"--n-test {n_test} --seed {params['seed']}"
    )


def _read(path: str | Path, keys: list[str]) -> tuple[dict, list[np.ndarray]]:
    """The params of the patch file at ``path`` and its arrays named ``keys``; DataError for a
    missing file or one that is not a patch file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(
            f"patch file {path} does not exist: build it with `python -m sparselab patches "
            f"--out {path}`"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            return json.loads(str(f["params"])), [f[key] for key in keys]
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"{path} is not a patch file of this version ({err})") from None
