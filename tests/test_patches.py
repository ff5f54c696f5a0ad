import io
import json
import shlex
import shutil
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.signal import correlate2d

from sparselab.cli import main
from sparselab.data import DataError, bsds500, data_dir, patches
from sparselab.data.patches import build_patches, lcn, load_patches, save_patches


def window_2d(size=13, sigma=5.0):
    """The Method §5 window, written directly: exp(-r^2 / (2 sigma^2)) on a size x size grid."""
    t = np.arange(size) - (size - 1) / 2
    w = np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2 * sigma**2))
    return w / w.sum()


def lcn_oracle(v, floor):
    """LCN of one image v: (H, W) with scipy's 2-D valid correlation and a given floor."""
    w = window_2d()
    m = correlate2d(v, w, mode="valid")
    c = v[6:-6, 6:-6] - m
    s = np.sqrt(correlate2d(c**2, w, mode="valid"))
    d = np.maximum(s, floor)
    return c[6:-6, 6:-6] / d, m[6:-6, 6:-6], d


def random_texture(rng, shape=(64, 96)):
    """A smooth random texture (noise upsampled by the 256 resize), uint8."""
    return rng.integers(0, 256, shape, dtype=np.uint8)


def write_images(folder, names, seed=0, shape=(64, 96)):
    rng = np.random.default_rng(seed)
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        rgb = np.stack([random_texture(rng, shape)] * 3, axis=-1)
        Image.fromarray(rgb).save(path)
    return folder


def test_lcn_matches_direct_2d_correlation():
    v = torch.randn(3, 52, 52, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    v[1] *= 0.1  # a low-contrast crop: its divisor is the group floor
    res = lcn(v, group=3)
    assert res.x.shape == res.mean.shape == res.divisor.shape == (3, 28, 28)
    s = [lcn_oracle(vi.numpy(), 0)[2] for vi in v]
    floor = np.mean(s)  # mean local std over the group, all positions of all crops
    for i in range(3):
        x, m, d = lcn_oracle(v[i].numpy(), floor)
        np.testing.assert_allclose(res.x[i].numpy(), x, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(res.mean[i].numpy(), m, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(res.divisor[i].numpy(), d, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.divisor[1].numpy(), floor, rtol=1e-12)
    # groups: the floor of each crop is its own group's, the last small group joins the previous
    r = lcn(v, group=1)
    for i in range(3):
        np.testing.assert_allclose(r.divisor[i].numpy(), np.maximum(s[i], s[i].mean()), rtol=1e-5)
    np.testing.assert_allclose(lcn(v, group=2).divisor.numpy(), res.divisor.numpy(), rtol=1e-6)
    flat = lcn(torch.ones(1, 52, 52, dtype=torch.float64))
    assert (flat.divisor == 1e-4).all() and flat.x.abs().max() < 1e-10


def test_lcn_gives_zero_local_mean_and_unit_local_std_where_contrast_is_high(device):
    """A grating whose offset drifts and whose contrast goes from 0.2 (left) to 2 (right)."""
    rows, cols = np.mgrid[0:120, 0:160].astype(np.float64)
    contrast = 0.2 + 1.8 / (1 + np.exp(-(cols - 80) / 6))
    v = 3 * np.sin(rows / 30) + contrast * np.sin(2 * np.pi * (rows + 2 * cols) / 5)
    res = lcn(torch.from_numpy(v)[None].to(device))
    x = res.x[0].cpu().numpy()  # (96, 136): pixel (i, j) of x is pixel (i + 12, j + 12) of v
    w = window_2d()
    local_mean = correlate2d(x, w, mode="valid")  # (84, 124) centred on x[6:-6, 6:-6]
    local_std = np.sqrt(correlate2d((x[6:-6, 6:-6] - local_mean) ** 2, w, mode="valid"))
    assert np.abs(local_mean).max() < 0.05  # the offset 3 sin(rows / 30) is removed
    c = np.arange(local_std.shape[1]) + 24  # column of v at the centre of each window
    high, low = local_std[:, c > 120], local_std[:, c < 40]
    np.testing.assert_allclose(high, 1, atol=0.05)
    assert low.max() < 0.3  # the floor (mean local std) keeps faint texture faint


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_undo_lcn_recovers_the_crop_centre(dtype, device):
    """pixels = x * 0.259 d + (0.259 m + 0.457) is the 28x28 centre of the [0, 1] crop."""
    g = torch.Generator().manual_seed(1)
    crops = torch.randint(0, 256, (100, 52, 52), generator=g).to(dtype) / 255
    res = lcn(((crops - 0.457) / 0.259).to(device))
    pixels = res.x * (0.259 * res.divisor) + (0.259 * res.mean + 0.457)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(pixels.cpu(), crops[:, 12:40, 12:40], atol=tol, rtol=0)


@pytest.fixture
def image_tree(tmp_path):
    """An ImageNet-like tree: train/<class>/*.JPEG, PNGs, other case suffixes and a non-image."""
    names = [f"train/n0{c}/img_{i}.JPEG" for c in range(3) for i in range(4)]
    names += ["train/n03/a.png", "train/n03/b.jpeg", "extra/deep/er/c.PNG", "d.jpg"]
    write_images(tmp_path / "imgs", names)
    (tmp_path / "imgs" / "train" / "n00" / "notes.txt").write_text("not an image")
    return tmp_path / "imgs"


def test_build_nested_folders_split_by_source_image_and_exact_pixels(image_tree, device):
    arrays = build_patches(
        image_tree, n_train=120, n_val=40, n_test=30, seed=3, device=device, progress=False
    )
    files = {s: set(arrays[f"{s}_files"]) for s in ("train", "val", "test")}
    assert set.union(*files.values()) <= {
        p.relative_to(image_tree).as_posix() for p in patches.find_images(image_tree)
    }
    assert any(f.startswith("extra/deep/er/") for f in set.union(*files.values()))
    assert not files["train"] & files["val"] and not files["train"] & files["test"]
    assert not files["val"] & files["test"]
    for split, n in (("train", 120), ("val", 40), ("test", 30)):
        x, m, d = (arrays[f"{split}_{k}"] for k in ("x", "mean", "divisor"))
        assert x.shape == m.shape == d.shape == (n, 784) and x.dtype == np.float32
        assert (x.std(axis=1, ddof=1) >= 0.5 - 1e-6).all()  # the std filter
        pixels = x * (0.259 * d) + (0.259 * m + 0.457)
        # independent oracle: decode, grayscale, resize with Pillow and cut the crop's centre
        for i in range(0, n, 7):
            name = arrays[f"{split}_files"][arrays[f"{split}_source"][i]]
            with Image.open(image_tree / name) as im:
                im = im.convert("L")
                w, h = im.size
                size = (256, int(256 * h / w)) if w <= h else (int(256 * w / h), 256)
                img = np.asarray(im.resize(size, Image.Resampling.BILINEAR)) / 255
            r, c = arrays[f"{split}_origin"][i]
            crop = img[r + 12 : r + 40, c + 12 : c + 40]
            np.testing.assert_allclose(pixels[i].reshape(28, 28), crop, atol=1e-5)
    params = json.loads(str(arrays["params"]))
    assert params["seed"] == 3 and params["window"] == 13 and params["min_std"] == 0.5


def test_build_is_seeded(image_tree):
    kw = dict(n_train=30, n_val=10, n_test=10, progress=False, device="cpu")
    a, b = build_patches(image_tree, seed=5, **kw), build_patches(image_tree, seed=5, **kw)
    c = build_patches(image_tree, seed=6, **kw)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["train_x"], c["train_x"])


def test_crops_are_spread_evenly_and_many_images_give_one_crop_each():
    rng = np.random.default_rng(0)
    counts, cursor = patches._crop_counts(1003, 10, 0, rng)  # BSDS-like: many crops per image
    assert counts.sum() == 1003 and counts.max() - counts.min() == 1 and cursor == 0
    counts, cursor = patches._crop_counts(4, 10, 8, rng)  # ImageNet-like: the next 4 images
    np.testing.assert_array_equal(np.flatnonzero(counts), [0, 1, 8, 9])
    assert cursor == 2


def test_save_load_round_trip(image_tree, tmp_path):
    arrays = build_patches(image_tree, n_train=50, n_val=20, n_test=0, progress=False)
    path = save_patches(arrays, tmp_path / "out" / "p.npz")
    assert sorted(p.name for p in path.parent.iterdir()) == ["p.npz"]  # no partial file left
    ps = load_patches("train", path=path)
    assert ps.x.shape == ps.pixel_scale.shape == ps.pixel_offset.shape == (50, 784)
    assert ps.x.dtype == ps.pixel_scale.dtype == ps.pixel_offset.dtype == torch.float32
    np.testing.assert_array_equal(ps.x.numpy(), arrays["train_x"])
    torch.testing.assert_close(
        ps.x * ps.pixel_scale + ps.pixel_offset,
        torch.from_numpy(arrays["train_x"] * 0.259 * arrays["train_divisor"])
        + torch.from_numpy(0.259 * arrays["train_mean"] + 0.457),
    )
    assert load_patches("val", path=path, n=7).x.shape == (7, 784)
    assert load_patches("test", path=path).x.shape == (0, 784)
    with pytest.raises(ValueError, match="split must be"):
        load_patches("validation", path=path)
    with pytest.raises(ValueError, match="n must be"):
        load_patches("val", path=path, n=21)
    with pytest.raises(DataError, match="does not exist"):
        load_patches("train", path=tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(DataError, match="not a patch file"):
        load_patches("train", path=tmp_path / "other.npz")


def test_clear_errors(tmp_path, image_tree):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match="no images"):
        build_patches(tmp_path / "empty", n_train=10, n_val=0, n_test=0, progress=False)
    with pytest.raises(DataError, match="does not exist"):
        build_patches(tmp_path / "nowhere", n_train=10, n_val=0, n_test=0, progress=False)
    bad = write_images(tmp_path / "bad", ["a.png", "b.png"])
    (bad / "c.jpg").write_bytes(b"\xff\xd8 this is not a JPEG")
    with pytest.raises(DataError, match=r"cannot read image .*c\.jpg"):
        build_patches(bad, n_train=10, n_val=0, n_test=0, progress=False)
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        Image.fromarray(np.full((60, 80), 40 * i, dtype=np.uint8)).save(flat / f"{i}.png")
    with pytest.raises(DataError, match="only 0 of the 10 patches"):
        build_patches(flat, n_train=10, n_val=0, n_test=0, progress=False)
    one = write_images(tmp_path / "one", ["a.png"])
    with pytest.raises(DataError, match="no image may feed two splits"):
        build_patches(one, n_train=10, n_val=5, n_test=0, progress=False)
    junk = tmp_path / "junk"
    junk.mkdir()
    for name in ("x.jpg", "y.png"):
        (junk / name).write_bytes(b"not an image")
    with pytest.raises(DataError) as err:
        build_patches(junk, n_train=10, n_val=5, n_test=5, progress=False)
    assert str(err.value).startswith("2 of the 2 image file(s) found could not be read as images")
    assert str(junk / "x.jpg") in str(err.value) and str(junk / "y.png") in str(err.value)
    with pytest.raises(ValueError, match="n_val must be"):
        build_patches(image_tree, n_train=10, n_val=-1, n_test=0, progress=False)


def test_cli_builds_and_reports_bad_input(image_tree, tmp_path, capsys):
    out = tmp_path / "p.npz"
    args = ["patches", "--images", str(image_tree), "--out", str(out), "--no-progress"]
    assert main([*args, "--n-train", "20", "--n-val", "5", "--n-test", "5"]) == 0
    assert load_patches("test", path=out).x.shape == (5, 784)
    capsys.readouterr()
    empty = tmp_path / "empty"
    empty.mkdir()
    for argv, message in [
        (["--images", str(empty), "--out", str(tmp_path / "a.npz")], "no images"),
        (["--images", str(image_tree), "--out", str(tmp_path / "a.txt")], "must end with .npz"),
        (["--images", str(image_tree), "--out", str(tmp_path / "a.npz"), "--n-val", "-2"], ">= 0"),
    ]:
        assert main(["patches", *argv, "--no-progress"]) == 2
        assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "imgs", "p.npz"]


def test_cli_refuses_an_existing_out_unless_forced(image_tree, tmp_path, capsys):
    out = tmp_path / "p.npz"
    out.write_bytes(b"someone's file")
    args = ["patches", "--images", str(image_tree), "--out", str(out), "--no-progress"]
    sizes = ["--n-train", "20", "--n-val", "5", "--n-test", "5"]
    assert main([*args, *sizes]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--out {out} exists" in err and "--force" in err
    assert out.read_bytes() == b"someone's file"
    assert main([*args, *sizes, "--force"]) == 0
    assert load_patches("val", path=out).x.shape == (5, 784)
    assert main(["patches", "--images", str(image_tree), "--out", str(tmp_path), "--force"]) == 2


def test_a_run_on_a_patch_file_checks_every_split_first(image_tree, tmp_path):
    from sparselab.runs import make_config
    from sparselab.runs.config import check_data

    out = tmp_path / "p.npz"
    args = ["--images", str(image_tree), "--out", str(out), "--no-progress"]
    assert main(["patches", *args, "--n-train", "20", "--n-val", "5", "--n-test", "0"]) == 0
    assert patches.patch_counts(out) == {"train": 20, "val": 5, "test": 0}
    config = make_config("patches-vdl", patches_file=str(out), n_test=None)
    with pytest.raises(ValueError, match="^n_test must be at most the 0 test patches of"):
        check_data(config)
    with pytest.raises(ValueError, match="^n_val must be at most the 5 val patches of .*got 6$"):
        check_data(make_config(config, n_val=6))
    with pytest.raises(DataError, match="does not exist"):
        check_data(make_config(config, patches_file=str(tmp_path / "none.npz")))


def test_rebuild_command_rebuilds_the_same_file(image_tree, tmp_path):
    out = tmp_path / "p.npz"
    args = ["--images", str(image_tree), "--no-progress"]
    assert main(["patches", "--out", str(out), "--n-train", "30", "--n-val", "6", "--seed", "4",
                 "--n-test", "5", *args]) == 0  # fmt: skip
    command = patches.rebuild_command(out)
    assert command.startswith("python -m sparselab patches ")
    again = tmp_path / "again.npz"
    argv = shlex.split(command)[3:]
    argv[argv.index("--out") + 1] = str(again)
    assert main([*argv, *args]) == 0  # argv: patches --out ... --seed 4
    with np.load(out) as a, np.load(again) as b:
        assert a.files == b.files
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
    with pytest.raises(DataError, match="does not exist"):
        patches.rebuild_command(tmp_path / "missing.npz")


@pytest.fixture
def no_local_bsds(tmp_path, monkeypatch):
    """No BSDS500 under $SPARSELAB_DATA, an empty cache: bsds500_images_dir must download."""
    source = data_dir() / "bsds500" if data_dir() is not None else None
    if source is None or not (source / "images").is_dir():
        pytest.skip("needs $SPARSELAB_DATA/bsds500 to play the archive")
    monkeypatch.setenv("SPARSELAB_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(bsds500, "cache_dir", lambda: tmp_path / "cache")
    return source


def fake_retrieve(source, damage=None):
    """pooch.retrieve played offline: writes an archive laid out as the official one (plus a
    file that must not be extracted) and runs the real processor on it."""

    def retrieve(url, known_hash, fname, path, processor, progressbar=False):
        assert url == bsds500.BSDS500_URL and known_hash is None
        archive = path / fname
        path.mkdir(parents=True)
        with tarfile.open(archive, "w") as tar:  # pooch.Untar reads any tar
            for f in sorted((source / "images").rglob("*.jpg")):
                name = "BSR/BSDS500/data/" + f.relative_to(source).as_posix()
                data = f.read_bytes()
                if name.endswith(damage or "-"):
                    data = data[:-10]
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            info = tarfile.TarInfo("BSR/BSDS500/data/groundTruth/x.mat")
            info.size = 3
            tar.addfile(info, io.BytesIO(b"mat"))
        return processor(str(archive), "download", None)

    return retrieve


def test_default_source_is_downloaded_and_verified(no_local_bsds, tmp_path, monkeypatch):
    monkeypatch.setattr("pooch.retrieve", fake_retrieve(no_local_bsds))
    images = bsds500.bsds500_images_dir()
    assert images.is_relative_to(tmp_path / "cache")
    assert len(patches.find_images(images)) == 500
    assert not list((tmp_path / "cache").rglob("*.mat"))  # only the images are extracted

    def no_network(*args, **kwargs):
        raise AssertionError("a verified download must not be fetched again")

    monkeypatch.setattr("pooch.retrieve", no_network)
    assert bsds500.bsds500_images_dir() == images
    monkeypatch.setenv("SPARSELAB_DATA", str(no_local_bsds.parent))  # a local copy comes first
    assert bsds500.bsds500_images_dir() == no_local_bsds / "images"


def test_default_source_damaged_or_unreachable(no_local_bsds, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("pooch.retrieve", fake_retrieve(no_local_bsds, damage="test/100007.jpg"))
    with pytest.raises(DataError, match=r"1 BSDS500 image\(s\).*test/100007\.jpg"):
        bsds500.bsds500_images_dir()
    shutil.rmtree(tmp_path / "cache")

    def no_network(*args, **kwargs):
        raise ConnectionError("no network in tests")

    monkeypatch.setattr("pooch.retrieve", no_network)
    out = tmp_path / "p.npz"
    assert main(["patches", "--out", str(out), "--n-train", "10", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "could not be downloaded" in err and "ConnectionError" in err and not out.exists()
