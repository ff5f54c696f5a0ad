import gzip
import shutil

import numpy as np
import pytest
import torch

from sparselab.data import DataError, load_mnist, mnist_denormalize
from sparselab.data import mnist as data


def test_split_sizes_shapes_and_normalisation():
    x, labels = load_mnist("train")
    assert x.shape == (55_000, 784) and x.dtype == torch.float32 and labels.shape == (55_000,)
    assert load_mnist("val").x.shape == (5_000, 784)
    t = load_mnist("test")
    assert t.x.shape == (10_000, 784) and set(t.labels.tolist()) == set(range(10))
    full = torch.cat([x, load_mnist("val").x])
    assert abs(full.mean().item()) < 1e-3 and abs(full.std().item() - 1) < 1e-3
    pixels = mnist_denormalize(x)
    assert pixels.min().item() == pytest.approx(0, abs=1e-6)
    assert pixels.max().item() == pytest.approx(1, abs=1e-6)
    torch.testing.assert_close(load_mnist("train", n=10, normalize=False).x, pixels[:10])


def test_train_and_val_are_disjoint_and_cover_the_training_set():
    train = data._split_indices("train")
    val = data._split_indices("val")
    assert len(np.intersect1d(train, val)) == 0
    assert len(np.union1d(train, val)) == 60_000
    tr, va = load_mnist("train"), load_mnist("val")
    # no image of one split is in the other (as bytes: duplicates inside MNIST are rare)
    hashes = {row.numpy().tobytes() for row in tr.x[:5000]}
    assert not any(row.numpy().tobytes() in hashes for row in va.x)


def test_subset_and_bad_arguments():
    assert load_mnist("test", n=5).x.shape == (5, 784)
    with pytest.raises(ValueError, match="split must be"):
        load_mnist("validation")
    with pytest.raises(ValueError, match="n must be"):
        load_mnist("val", n=5001)


def test_counts_take_numpy_integers_and_refuse_bools():
    x = load_mnist("test", n=np.int64(10)).x
    assert x.shape == (10, 784)
    torch.testing.assert_close(x, load_mnist("test", n=10).x)
    for bad in (True, False, 2.0, "3"):
        with pytest.raises(ValueError, match=r"^n must be an integer in \[1, 10000\] for split"):
            load_mnist("test", n=bad)


@pytest.fixture
def fake_data_dir(tmp_path, monkeypatch):
    """A private copy of $SPARSELAB_DATA/mnist to damage; the network is unavailable."""
    src = data.data_dir() / "mnist"
    dst = tmp_path / "mnist"
    shutil.copytree(src, dst)
    for f in dst.iterdir():
        f.chmod(0o644)
    monkeypatch.setenv("SPARSELAB_DATA", str(tmp_path))
    data._read_idx.cache_clear()

    def no_network(*args, **kwargs):
        raise ConnectionError("no network in tests")

    monkeypatch.setattr("pooch.retrieve", no_network)
    yield dst
    data._read_idx.cache_clear()


def test_truncated_file_gives_clear_error(fake_data_dir):
    f = fake_data_dir / "t10k-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:100_000])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz.*truncated or corrupt"):
        load_mnist("test")


def test_raw_idx_files_work_and_truncation_is_detected(fake_data_dir):
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        gz = fake_data_dir / f"{name}.gz"
        (fake_data_dir / name).write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    assert load_mnist("test", n=3).x.shape == (3, 784)
    raw = fake_data_dir / "t10k-images-idx3-ubyte"
    raw.write_bytes(raw.read_bytes()[:-784])
    data._read_idx.cache_clear()
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte does not match .* truncated"):
        load_mnist("test")


def test_raw_idx_file_of_the_right_length_with_images_overwritten_is_refused(fake_data_dir):
    name = "t10k-images-idx3-ubyte"
    gz = fake_data_dir / f"{name}.gz"
    raw = bytearray(gzip.decompress(gz.read_bytes()))
    gz.unlink()
    raw[16 : 16 + 100 * 784] = bytes(100 * 784)  # 100 images blanked, header and length intact
    (fake_data_dir / name).write_bytes(bytes(raw))
    assert data._read_idx.__wrapped__(fake_data_dir / name, "images").shape == (10_000, 28, 28)
    with pytest.raises(DataError, match=f"{name} does not match the official MNIST file"):
        load_mnist("test")


def test_missing_file_without_network_gives_clear_error(fake_data_dir):
    (fake_data_dir / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(
        DataError, match="train-labels-idx1-ubyte.gz is not in .*could not be downloaded"
    ):
        load_mnist("val")


def test_download_goes_through_pooch_with_the_official_hash(tmp_path, monkeypatch):
    src = data.data_dir() / "mnist"
    monkeypatch.setenv("SPARSELAB_DATA", str(tmp_path))  # an empty folder: must download
    data._read_idx.cache_clear()
    calls = []

    def fake_retrieve(url, known_hash, fname, path, progressbar):
        calls.append((url, known_hash, fname))
        return str(src / fname)

    monkeypatch.setattr("pooch.retrieve", fake_retrieve)
    assert load_mnist("test", n=2).x.shape == (2, 784)
    data._read_idx.cache_clear()
    assert [c[2] for c in calls] == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    url, known_hash, _ = calls[0]
    assert url == data.MNIST_URL + "t10k-images-idx3-ubyte.gz"
    assert known_hash == "sha256:" + data.MNIST_FILES["t10k-images-idx3-ubyte"]
