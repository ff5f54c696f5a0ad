"""Floor 2, data: MNIST (loading, hashes, the fixed train/validation split) and natural image
patches (BSDS500 or any folder of images, local contrast normalisation, patch files)."""

from .mnist import (
    MNIST_MEAN,
    MNIST_STD,
    N_TRAIN,
    DataError,
    Dataset,
    cache_dir,
    data_dir,
    load_mnist,
    mnist_denormalize,
    mnist_normalize,
)
from .patches import PatchSet, build_patches, lcn, load_patches, save_patches

__all__ = [
    "MNIST_MEAN",
    "MNIST_STD",
    "N_TRAIN",
    "DataError",
    "Dataset",
    "PatchSet",
    "build_patches",
    "cache_dir",
    "data_dir",
    "lcn",
    "load_mnist",
    "load_patches",
    "mnist_denormalize",
    "mnist_normalize",
    "save_patches",
]
