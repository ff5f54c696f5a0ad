import math

import pytest
import torch

from sparselab.metrics import dead_components, mean_std, psnr, zero_fraction


def test_psnr_against_direct_formula():
    x = torch.zeros(2, 4)
    x_hat = torch.tensor([[0.1, 0.1, 0.1, 0.1], [0.0, 0.0, 0.0, 0.2]])
    expected = [10 * math.log10(1 / 0.01), 10 * math.log10(1 / (0.04 / 4))]
    torch.testing.assert_close(psnr(x_hat, x), torch.tensor(expected))
    # a scale of 0.5 from input space to pixels halves the error: +20 log10(2) dB
    torch.testing.assert_close(psnr(x_hat, x, 0.5), torch.tensor(expected) + 20 * math.log10(2))
    per_entry = torch.full((2, 4), 0.5)
    torch.testing.assert_close(psnr(x_hat, x, per_entry), psnr(x_hat, x, 0.5))
    with pytest.raises(ValueError, match=r"both be \(N, P\); got \(2, 4\) and \(2, 3\)"):
        psnr(x_hat, x[:, :3])  # would broadcast, or fail inside torch, without the check
    with pytest.raises(ValueError, match=r"got \(4,\) and \(4,\)"):
        psnr(x_hat[0], x[0])


def test_sparsity_measures():
    z = torch.tensor([[0.0, 1.0, 0.0], [0.0, 2.0, 3.0]])
    assert zero_fraction(z) == 0.5
    assert dead_components(z) == 1
    with pytest.raises(ValueError, match=r"z has no entries; got shape \(0, 3\)"):
        zero_fraction(z[:0])  # would be nan


def test_mean_std_is_numpys_sample_statistics():
    import numpy as np

    values = [17.31, 17.35, 17.40, 17.29, 17.38]
    mean, std = mean_std(values)
    assert mean == pytest.approx(np.mean(values), abs=1e-12)
    assert std == pytest.approx(np.std(values, ddof=1), abs=1e-12)
    assert mean_std([3.0]) == (3.0, 0.0)
    with pytest.raises(ValueError, match="at least one"):
        mean_std([])
