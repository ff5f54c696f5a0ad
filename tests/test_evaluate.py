"""Evaluation: test metrics, denoising, low-data classification (sparselab.evaluate)."""

import numpy as np
import pytest
import torch

from sparselab import evaluate, load_mnist
from sparselab.evaluate import _few_per_class, classify, denoise, train_classifier
from sparselab.models import LISTAEncoder

STD = 0.3081


class _Shift(torch.nn.Module):
    """Decoder D(z) = z + floor (L = P = 784)."""

    def __init__(self, floor: float):
        super().__init__()
        self.floor = floor

    def forward(self, z):
        return z + self.floor


def _clip_model(floor: float = 0.0):
    """Encoder z = relu(x - floor) (LISTA with 0 iterations, W_e = I) and decoder z + floor: the
    model maps x to max(x, floor)."""
    encoder = LISTAEncoder(784, 784, n_iter=0)
    with torch.no_grad():
        encoder.W.weight.copy_(torch.eye(784))
        encoder.W.bias.fill_(-floor)
    return _Shift(floor), encoder


@pytest.fixture(scope="module")
def test_images():
    return load_mnist("test", n=500)


def test_test_metrics_against_a_direct_formula(test_images):
    decoder, encoder = _clip_model()
    x = test_images.x
    m = evaluate.test_metrics(decoder, encoder, x, STD)  # (a module attribute: not a test)
    pixels, pixels_hat = x.double().numpy() * STD + 0.1307, np.maximum(x.double().numpy(), 0) * STD
    pixels_hat += 0.1307
    expected = np.mean(10 * np.log10(1 / np.mean((pixels - pixels_hat) ** 2, axis=1)))
    assert m["psnr"] == pytest.approx(expected, rel=1e-5)
    assert m["zero_fraction"] == pytest.approx(float((x <= 0).double().mean()))
    # a component is dead when that pixel is at or below the mean in every image (MNIST borders)
    assert m["dead_components"] == int((x.amax(dim=0) <= 0).sum())


def test_denoise_noisy_psnr_matches_the_spec_and_the_model_helps(test_images):
    decoder, encoder = _clip_model(floor=-0.1307 / STD)  # the input value of a black pixel
    results = denoise(decoder, encoder, test_images.x, STD, [0.5, 1.0, 1.5], seed=0)
    # Method §7: the noisy MNIST input scores about 16.3, 10.2 and 6.7 dB
    for sigma, db in ((0.5, 16.3), (1.0, 10.2), (1.5, 6.7)):
        assert results[sigma]["noisy_psnr"] == pytest.approx(db, abs=0.15)
        # clipping at black removes the negative half of the noise on the black background
        assert results[sigma]["psnr"] > results[sigma]["noisy_psnr"] + 1
    again = denoise(decoder, encoder, test_images.x, STD, [1.0], seed=0)
    assert again[1.0] == results[1.0]


def test_denoise_rejects_bad_noise_levels(test_images):
    decoder, encoder = _clip_model()
    with pytest.raises(ValueError, match="noise_levels"):
        denoise(decoder, encoder, test_images.x, STD, [-1.0])


def test_few_per_class_draws_n_distinct_samples_of_each_class():
    labels = load_mnist("train", n=2000).labels
    idx = _few_per_class(labels, 7, torch.Generator().manual_seed(0))
    assert len(set(idx.tolist())) == 70
    assert torch.bincount(labels[idx], minlength=10).tolist() == [7] * 10
    other = _few_per_class(labels, 7, torch.Generator().manual_seed(1))
    assert set(idx.tolist()) != set(other.tolist())


@pytest.mark.parametrize("classifier", ["linear", "lista"])
def test_classifier_fits_a_separable_problem(classifier):
    g = torch.Generator().manual_seed(0)
    centres = 4 * torch.randn(3, 20, generator=g)
    labels = torch.arange(3).repeat(30)
    features = centres[labels] + torch.randn(90, 20, generator=g)
    model = train_classifier(features, labels, classifier=classifier, n_classes=3, hidden_dim=16)
    with torch.no_grad():
        assert (model(features).argmax(1) == labels).float().mean() == 1.0


def test_classify_on_pixels_beats_chance_by_far():
    train_set, test_set = load_mnist("train", n=5000), load_mnist("test", n=1000)
    encoder = LISTAEncoder(784, 64, generator=torch.Generator().manual_seed(0))
    results = classify(
        encoder,
        train_set.x,
        train_set.labels,
        test_set.x,
        test_set.labels,
        per_class=[2, 20],
        seeds=[0, 1],
        classifiers=["linear"],
        epochs=100,
    )
    assert set(results) == {"codes", "pixels"}
    pixels = results["pixels"]["linear"]
    assert pixels[20]["mean"] > 0.7  # chance is 0.1
    assert pixels[20]["mean"] > pixels[2]["mean"]
    for r in (pixels[2], pixels[20], results["codes"]["linear"][20]):
        assert len(r["accuracies"]) == 2
        assert r["mean"] == pytest.approx(np.mean(r["accuracies"]))
        assert r["std"] == pytest.approx(np.std(r["accuracies"], ddof=1))


def test_classify_refuses_labels_that_do_not_match_their_inputs():
    encoder = LISTAEncoder(30, 4, generator=torch.Generator().manual_seed(0))
    x, labels = torch.randn(100, 30), torch.arange(10).repeat(10)
    args = dict(per_class=[1], seeds=[0], classifiers=["linear"], epochs=1)
    # 90 labels for 100 inputs used to pair the wrong rows silently
    with pytest.raises(ValueError, match="^y_train holds 90 labels for 100 inputs"):
        classify(encoder, x, labels[:90], x, labels, **args)
    with pytest.raises(ValueError, match=r"^y_test must lie in \[0, 10\); got -1 to 8"):
        classify(encoder, x, labels, x, labels - 1, **args)
    with pytest.raises(ValueError, match="^y_test must be an integer"):
        classify(encoder, x, labels, x, labels.float(), **args)
    with pytest.raises(ValueError, match="^labels holds 99 labels for 100 inputs"):
        train_classifier(x, labels[:99])
    assert set(classify(encoder, x, labels, x, labels, **args)) == {"codes", "pixels"}
