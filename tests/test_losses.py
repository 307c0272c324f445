import numpy as np
from keras import ops

from vms_zoo.losses import kl_divergence, reconstruction_loss


def test_kl_matches_closed_form_of_two_gaussians():
    mu = np.array([[0.0, 1.0, -2.0], [0.5, 0.0, 3.0]], np.float32)
    sigma = np.array([[1.0, 0.5, 2.0], [1.5, 0.1, 1.0]], np.float32)
    # KL(N(mu, s^2) || N(0, 1)) = log(1/s) + (s^2 + mu^2)/2 - 1/2, summed over dimensions.
    expected = np.sum(np.log(1 / sigma) + (sigma**2 + mu**2) / 2 - 0.5, axis=-1)
    got = ops.convert_to_numpy(kl_divergence(mu, np.log(sigma**2)))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert ops.convert_to_numpy(kl_divergence(np.zeros((1, 4)), np.zeros((1, 4))))[0] == 0.0


def test_reconstruction_sums_over_map_elements():
    rng = np.random.default_rng(0)
    y, p = rng.random((3, 4, 4, 2), np.float32), rng.random((3, 4, 4, 2), np.float32)
    mse = ops.convert_to_numpy(reconstruction_loss(y, p, "mse"))
    l1 = ops.convert_to_numpy(reconstruction_loss(y, p, "l1"))
    np.testing.assert_allclose(mse, ((y - p) ** 2).reshape(3, -1).sum(1), rtol=1e-5)
    np.testing.assert_allclose(l1, np.abs(y - p).reshape(3, -1).sum(1), rtol=1e-5)


def test_reconstruction_rejects_unknown_kind():
    import pytest

    with pytest.raises(ValueError, match="huber"):
        reconstruction_loss(np.zeros((1, 2)), np.zeros((1, 2)), "huber")
