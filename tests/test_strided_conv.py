"""vms_zoo.layers.Conv2D and `strided_conv` compute keras.layers.Conv2D exactly, to second order.

The layer uses `vms_zoo.backend.conv.strided_conv` (ops.conv forward, `conv_transpose` input gradient) only on JAX and
`backend.conv_nhwc` on torch, but the function is compared on every backend against that backend's Conv2D: outputs,
the gradients w.r.t. the input and the kernel, and the weight gradient of a WGAN gradient penalty (the gradient of a
norm of the input gradient), as the critic takes it.
"""

import numpy as np
import keras
import pytest
from keras import ops

from helpers import assert_replaces_keras_layer, random_conv_layer
from vms_zoo import backend
from vms_zoo.backend.conv import strided_conv
from vms_zoo.layers import Conv2D

# (kernel, strides, padding): the critic's (4, 2, 'same'), 3x3 both ways, a non-square case and kernel < stride
CASES = [(4, 2, "same"), (3, 2, "same"), (3, 2, "valid"), ((3, 4), (2, 1), "same"), (2, 3, "valid")]
SIZES = [(7, 8)]  # an odd and an even side: 'same' pads them differently, 'valid' drops a row of one


def np_(x):
    return ops.convert_to_numpy(x)


def reference_layer(kernel_size, strides, padding, channels, filters, seed=0):
    """A built keras.layers.Conv2D with O(1) random kernel and bias."""
    return random_conv_layer(keras.layers.Conv2D, kernel_size, strides, padding, channels, filters, seed)


def outputs_and_grads(apply, x, weights, seed=1):
    """apply(x) -> output; the gradients of sum(tanh(output) * r) (r random) w.r.t. x and the weights; and the
    weights' gradient of the penalty mean((|d/dx sum(tanh(output) * r)| - 1)^2)."""
    out = np_(apply(x))
    r = ops.convert_to_tensor(np.random.default_rng(seed).normal(size=out.shape).astype("float32"))
    score = lambda x: ops.tanh(apply(x)) * r
    _, _, grads = backend.value_and_grad(lambda: (ops.sum(score(x)), None), [x, *weights])

    def penalty():
        g = backend.input_gradient(score, ops.convert_to_tensor(x))
        return ops.mean((ops.sqrt(ops.sum(ops.square(g), axis=(1, 2, 3))) - 1.0) ** 2), None

    _, _, gp_grads = backend.value_and_grad(penalty, weights)
    return out, [np_(g) for g in grads], [np_(g) for g in gp_grads]


def assert_same(got, want):
    (out, grads, gp_grads), (ref_out, ref_grads, ref_gp_grads) = got, want
    assert out.shape == ref_out.shape
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-5)
    for g, ref_g, what in zip(grads, ref_grads, ("input", "kernel", "bias")):
        np.testing.assert_allclose(g, ref_g, rtol=1e-5, atol=5e-5, err_msg=f"gradient w.r.t. the {what}")
    for g, ref_g, what in zip(gp_grads, ref_gp_grads, ("kernel", "bias")):
        np.testing.assert_allclose(g, ref_g, rtol=1e-4, atol=1e-4, err_msg=f"penalty's gradient w.r.t. the {what}")


@pytest.mark.parametrize("kernel_size,strides,padding", CASES)
def test_strided_conv_equals_keras(kernel_size, strides, padding):
    ref = reference_layer(kernel_size, strides, padding, channels=3, filters=4)
    s = tuple(ref.strides)
    for h, w in SIZES:
        x = keras.Variable(np.random.default_rng(h * w).normal(size=(2, h, w, 3)).astype("float32"))
        got = outputs_and_grads(lambda x: strided_conv(x, ref.kernel, s, padding) + ref.bias, x, [ref.kernel, ref.bias])
        assert_same(got, outputs_and_grads(ref, x, [ref.kernel, ref.bias]))


@pytest.mark.parametrize("kernel_size,strides,padding", [(4, 2, "same"), (3, 1, "same"), (4, 1, "same"),
                                                          (3, 2, "valid")])
def test_layer_equals_keras_layer(kernel_size, strides, padding):
    """The layer itself (`strided_conv` on JAX when strided, `backend.conv_nhwc` on torch, Keras' op elsewhere), as
    the W-MEMGAN nets use it; (4, 1, 'same') pads one more pixel after than before."""
    ref = reference_layer(kernel_size, strides, padding, channels=5, filters=3)
    ref.activation = keras.activations.get("elu")
    layer = Conv2D(3, kernel_size, strides=strides, padding=padding, activation="elu")
    layer.build((None, None, None, 5))
    assert [(v.name, tuple(v.shape)) for v in layer.weights] == [(v.name, tuple(v.shape)) for v in ref.weights]
    layer.set_weights(ref.get_weights())
    x = keras.Variable(np.random.default_rng(0).normal(size=(3, 7, 8, 5)).astype("float32"))
    got = outputs_and_grads(layer, x, [layer.kernel, layer.bias])
    assert_same(got, outputs_and_grads(ref, x, [ref.kernel, ref.bias]))
    assert tuple(layer.compute_output_shape((3, 7, 8, 5))) == tuple(np_(layer(x)).shape)


def test_config_round_trips_and_keras_weights_load(tmp_path):
    """Same name, config and weights' paths as Keras' layer, registered for deserialisation, and weights saved from
    a model built with keras.layers.Conv2D (checkpoints written before this layer) load into one built with it."""
    assert Conv2D(4, 4, strides=2, padding="same").name.startswith("conv2d")
    assert_replaces_keras_layer(Conv2D, keras.layers.Conv2D, (4, 4), {"strides": 2, "padding": "same"}, (8, 8, 3),
                                tmp_path)
