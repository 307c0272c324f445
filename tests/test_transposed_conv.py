"""vms_zoo.layers.Conv2DTranspose and its formulations compute keras.layers.Conv2DTranspose exactly.

The layer uses `vms_zoo.backend.conv.conv_transpose` (sub-pixel forward, strided-convolution gradients) on JAX and
`backend.conv_transpose_nhwc` on torch, but `conv_transpose` is compared on every backend against that backend's own
conv_transpose: outputs and the gradients w.r.t. the input and the kernel.
"""

import numpy as np
import keras
import pytest
from keras import ops

from helpers import assert_replaces_keras_layer, random_conv_layer
from vms_zoo import backend
from vms_zoo.backend.conv import conv_transpose
from vms_zoo.layers import Conv2DTranspose

# (kernel, strides): the decoder's (3, 2), even and larger kernels, stride 1, a non-square case and kernel < stride
CASES = [(3, 2), (4, 2), (5, 2), (3, 1), (4, 1), (5, 1), ((3, 4), (2, 1)), (2, 3)]
SIZES = [(2, 2), (5, 4)]  # the decoder's smallest input; odd and even, non-square


def np_(x):
    return ops.convert_to_numpy(x)


def reference_layer(kernel_size, strides, padding, channels, filters, seed=0):
    """A built keras.layers.Conv2DTranspose with O(1) random kernel and bias."""
    return random_conv_layer(keras.layers.Conv2DTranspose, kernel_size, strides, padding, channels, filters, seed)


def output_and_grads(apply, x, kernel, seed=1):
    """apply() -> output; also the gradients of sum(output * r) (r random) w.r.t. the input and the kernel."""
    out = np_(apply())
    r = ops.convert_to_tensor(np.random.default_rng(seed).normal(size=out.shape).astype("float32"))
    _, _, grads = backend.value_and_grad(lambda: (ops.sum(apply() * r), None), [x, kernel])
    return out, [np_(g) for g in grads]


def assert_same(got, want):
    (out, grads), (ref_out, ref_grads) = got, want
    assert out.shape == ref_out.shape
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-5)
    for g, ref_g, what in zip(grads, ref_grads, ("input", "kernel")):
        np.testing.assert_allclose(g, ref_g, rtol=1e-5, atol=5e-5, err_msg=f"gradient w.r.t. the {what}")


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kernel_size,strides", CASES)
def test_conv_transpose_equals_keras(kernel_size, strides, padding):
    channels, filters = 3, 4
    ref = reference_layer(kernel_size, strides, padding, channels, filters)
    for h, w in SIZES:
        x = keras.Variable(np.random.default_rng(h * w).normal(size=(2, h, w, channels)).astype("float32"))
        s = tuple(ref.strides)
        got = output_and_grads(lambda: conv_transpose(x, ref.kernel, s, padding) + ref.bias, x, ref.kernel)
        assert_same(got, output_and_grads(lambda: ref(x), x, ref.kernel))


# The decoder's (3, 2, same); Keras' crop of an even and of an odd excess (4, 5); 'valid'; kernel < stride (Keras' op)
@pytest.mark.parametrize("kernel_size,strides,padding",
                         [(3, 2, "same"), (4, 2, "same"), (4, 2, "valid"), (5, 1, "same"), (2, 3, "same")])
def test_layer_equals_keras_layer(kernel_size, strides, padding):
    """The layer itself (`conv_transpose` on JAX, `backend.conv_transpose_nhwc` on torch, Keras' op on TensorFlow
    and where the kernel is smaller than the stride), with the decoder's l2 regulariser."""
    ref = reference_layer(kernel_size, strides, padding, channels=8, filters=2)
    layer = Conv2DTranspose(2, kernel_size, strides=strides, padding=padding,
                            kernel_regularizer=keras.regularizers.l2(0.02))
    layer.build((None, None, None, 8))
    assert [(v.name, tuple(v.shape)) for v in layer.weights] == [(v.name, tuple(v.shape)) for v in ref.weights]
    layer.set_weights(ref.get_weights())
    for h, w in [(4, 4), (5, 3)]:
        x = keras.Variable(np.random.default_rng(h).normal(size=(3, h, w, 8)).astype("float32"))
        got = output_and_grads(lambda: layer(x), x, layer.kernel)
        assert_same(got, output_and_grads(lambda: ref(x), x, ref.kernel))
    assert tuple(layer.compute_output_shape((3, 5, 3, 8))) == tuple(np_(layer(x)).shape)


def test_config_round_trips_and_keras_weights_load(tmp_path):
    """Same config as Keras' layer, registered for deserialisation, and weights saved from a model built with
    keras.layers.Conv2DTranspose (checkpoints written before this layer) load into one built with it."""
    assert_replaces_keras_layer(Conv2DTranspose, keras.layers.Conv2DTranspose, (4, 3), {"strides": 2, "padding": "same"},
                                (2, 2, 3), tmp_path)
