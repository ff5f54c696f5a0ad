import pytest
import torch

from sparselab.atoms import component_images
from sparselab.models import LinearDictionary, MLPDecoder


def test_linear_dictionary_images_are_scaled_columns():
    dictionary = LinearDictionary(6, 12, generator=torch.Generator().manual_seed(0)).double()
    images = component_images(dictionary, [4, 1], amplitudes=(0.5, 2.0))
    W = dictionary.weight.detach()
    assert images.shape == (2, 2, 12)
    for i, a in enumerate((0.5, 2.0)):
        for k, j in enumerate((4, 1)):
            torch.testing.assert_close(images[i, k], a * W[:, j])


def test_mlp_image_matches_direct_formula():
    dec = MLPDecoder(5, 7, 9, generator=torch.Generator().manual_seed(1)).double()
    W1, b1, W2 = dec.fc1.weight.detach(), dec.fc1.bias.detach(), dec.fc2.weight.detach()
    images = component_images(dec, amplitudes=(3.0,))
    assert images.shape == (1, 5, 9)
    for j in range(5):
        expected = W2 @ torch.relu(3.0 * W1[:, j] + b1) - W2 @ torch.relu(b1)
        torch.testing.assert_close(images[0, j], expected)


def test_bad_arguments():
    dec = LinearDictionary(3, 4)
    with pytest.raises(ValueError, match="components"):
        component_images(dec, [3])
    with pytest.raises(ValueError, match="amplitudes"):
        component_images(dec, [0], amplitudes=())
