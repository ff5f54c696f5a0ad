"""Counts at the public boundary (sparselab.util.validate): numpy integers are counts, bools are
not, and a bad value is one line naming the argument."""

import numpy as np
import pytest
import torch

from sparselab.autoencoder import fit_autoencoder
from sparselab.book.plots import show_images
from sparselab.data.patches import build_patches
from sparselab.evaluate import train_classifier
from sparselab.util.validate import check_int, is_int


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3)])
def test_ints_and_numpy_ints_are_counts(value):
    assert is_int(value)
    out = check_int("n", value, low=1, high=3)
    assert out == 3 and type(out) is int


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 3.0, "3", None, torch.tensor(3)])
def test_bools_and_non_integers_are_not(value):
    assert not is_int(value)
    with pytest.raises(ValueError, match=r"^n must be an integer >= 0; got "):
        check_int("n", value, low=0)


def test_bounds_are_named_in_the_message():
    with pytest.raises(
        ValueError, match=r"^n must be an integer in \[1, 5\] for split 'val'; got 6$"
    ):
        check_int("n", 6, low=1, high=5, where=" for split 'val'")
    with pytest.raises(ValueError, match=r"^k must be an integer <= 2; got 7$"):
        check_int("k", 7, high=2)
    assert check_int("k", -7) == -7


def test_public_functions_take_numpy_counts_and_refuse_bools(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(20, 6)
    labels = torch.arange(20) % 2
    a = train_classifier(x, labels, n_classes=2, epochs=np.int64(3), seed=np.int64(1))
    b = train_classifier(x, labels, n_classes=2, epochs=3, seed=1)
    torch.testing.assert_close(a(x), b(x))
    with pytest.raises(ValueError, match="^epochs must be an integer >= 0; got True$"):
        train_classifier(x, labels, n_classes=2, epochs=True)
    model = torch.nn.Sequential(torch.nn.Linear(6, 6))
    with pytest.raises(ValueError, match="^batch_size must be an integer >= 1; got True$"):
        fit_autoencoder(model, x, epochs=1, batch_size=True, lr=1e-3, seed=0, progress=False)
    with pytest.raises(ValueError, match="^n_val must be an integer >= 0; got True$"):
        build_patches(tmp_path, n_train=10, n_val=True, n_test=0, progress=False)
    with pytest.raises(ValueError, match="^n_cols must be an integer >= 1; got False$"):
        show_images(torch.zeros(4, 784), n_cols=False)


def test_configs_take_numpy_numbers_and_refuse_bools_as_counts():
    from sparselab.runs import make_config

    config = make_config("mnist-sdl", epochs=np.int64(3), lam=np.float32(0.25), n_train=np.int32(9))
    assert (config.epochs, config.lam, config.n_train) == (3, 0.25, 9)
    assert type(config.epochs) is int and type(config.lam) is float
    with pytest.raises(ValueError, match="^epochs must be a finite int; got True$"):
        make_config("mnist-sdl", epochs=True)
