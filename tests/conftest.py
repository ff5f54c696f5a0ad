import os

import pytest
import torch

# nbval's kernels inherit this: the chapters' explorers store their precomputed views and build
# no live widget, which headless could leave kernel and client waiting (jupyter/nbclient#312)
os.environ.setdefault("SPARSELAB_HEADLESS", "1")

# Tests never touch the network: data comes from $SPARSELAB_DATA (CI sets it to the absolute path
# of ../shared/data); without it the loaders would download the official files.

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip)


@pytest.fixture(params=DEVICES)
def device(request):
    """Every test that takes `device` runs on CPU, and on CUDA when one is present."""
    return torch.device(request.param)


@pytest.fixture
def mnist_batch():
    """250 real MNIST training images, float64, normalised: (250, 784)."""
    from sparselab import load_mnist

    return load_mnist("train", n=250).x.double()
