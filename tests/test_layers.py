"""Progressive-GAN layers against numpy: equalised learning rate, pixel norm, minibatch stddev, fade-in."""

import numpy as np
import keras
import pytest
from keras import ops

from vms_zoo.layers import EqualizedConv2D, EqualizedDense, FadeIn, MinibatchStdDev, PixelNorm


def np_(x):
    return ops.convert_to_numpy(x)


def test_equalized_layers_store_unit_normal_and_apply_he_std():
    conv = EqualizedConv2D(64, 3)
    conv.build((None, 8, 8, 32))
    dense = EqualizedDense(256)
    dense.build((None, 512))
    for layer, fan_in in ((conv, 3 * 3 * 32), (dense, 512)):
        stored, effective = np_(layer.kernel), np_(layer.effective_kernel())
        assert stored.std() == pytest.approx(1.0, rel=0.03)  # N(0, 1) weights
        assert effective.std() == pytest.approx(np.sqrt(2.0 / fan_in), rel=0.03)  # He std at run time
        np.testing.assert_allclose(effective, stored * np.sqrt(2.0 / fan_in), rtol=1e-6)


def test_equalized_layers_compute_with_the_scaled_kernel():
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 4)).astype("float32")
    conv = EqualizedConv2D(3, 3, gain=1.0)
    y = np_(conv(x))
    kernel = np_(conv.kernel) / np.sqrt(3 * 3 * 4)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    expected = np.zeros((2, 5, 5, 3), "float32")
    for i in range(5):
        for j in range(5):
            expected[:, i, j] = np.einsum("nhwc,hwcf->nf", padded[:, i:i + 3, j:j + 3], kernel)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
    dense = EqualizedDense(6)
    v = x.reshape(2, -1)
    np.testing.assert_allclose(np_(dense(v)), v @ (np_(dense.kernel) * np.sqrt(2.0 / v.shape[1])), rtol=1e-4,
                               atol=1e-5)


def test_pixel_norm_gives_unit_mean_square_per_pixel():
    x = np.random.default_rng(1).normal(3.0, 5.0, size=(2, 4, 4, 16)).astype("float32")
    y = np_(PixelNorm()(x))
    np.testing.assert_allclose(np.mean(y**2, axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(y, x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + 1e-8), rtol=1e-5)


def minibatch_stddev_reference(x, group_size=4):
    """ProGAN's feature in numpy, with groups of G consecutive samples: {0 .. G-1}, {G .. 2G-1}, ..."""
    n, h, w, c = x.shape
    g = min(group_size, n)
    y = x.reshape(-1, g, h, w, c)
    y = np.sqrt(((y - y.mean(axis=1, keepdims=True)) ** 2).mean(axis=1) + 1e-8)
    y = y.mean(axis=(1, 2, 3))  # (N / G,)
    feature = np.repeat(y, g).reshape(n, 1, 1, 1) * np.ones((n, h, w, 1), "float32")
    return np.concatenate([x, feature], axis=-1)


@pytest.mark.parametrize("batch", [8, 2])
def test_minibatch_stddev_matches_numpy(batch):
    x = np.random.default_rng(2).normal(size=(batch, 4, 4, 5)).astype("float32")
    x[1] *= 10.0  # groups differ, so a wrong grouping changes the answer
    y = np_(MinibatchStdDev(group_size=4)(x))
    assert y.shape == (batch, 4, 4, 6)
    np.testing.assert_array_equal(y[..., :5], x)
    np.testing.assert_allclose(y, minibatch_stddev_reference(x), rtol=1e-5)
    if batch == 8:  # two groups, {0, 1, 2, 3} and {4, 5, 6, 7}, with different values
        assert y[0, 0, 0, 5] != pytest.approx(y[4, 0, 0, 5])
        assert y[0, 0, 0, 5] == pytest.approx(y[3, 0, 0, 5])
        # Each half of the batch alone gives its half's values: what each of two replicas computes.
        np.testing.assert_allclose(np_(MinibatchStdDev(group_size=4)(x[4:])), y[4:], rtol=1e-5)


def test_fade_in_fade_is_a_non_trainable_variable():
    layer = FadeIn(fade=0.25)
    old, new = np.zeros((1, 2, 2, 3), "float32"), np.ones((1, 2, 2, 3), "float32") * 4.0
    assert layer.trainable_weights == [] and layer.non_trainable_weights == [layer.fade]
    assert layer.fade.path.endswith("fade")
    np.testing.assert_allclose(np_(layer([old, new])), 1.0)
    layer.fade.assign(1.0)
    np.testing.assert_allclose(np_(layer([old, new])), 4.0)
    layer.fade.assign(0.0)
    np.testing.assert_allclose(np_(layer([old, new])), 0.0)
    assert layer.get_config()["fade"] == 0.25 and "alpha" not in layer.get_config()


@pytest.mark.parametrize("layer", [EqualizedConv2D(4, 1, padding="valid", gain=1.0), EqualizedDense(3, gain=0.5),
                                   PixelNorm(epsilon=1e-6), MinibatchStdDev(group_size=2), FadeIn(fade=0.5)],
                         ids=lambda layer: type(layer).__name__)
def test_layers_serialize(layer):
    config = keras.saving.serialize_keras_object(layer)
    clone = keras.saving.deserialize_keras_object(config)
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()
