"""Custom layers shared by the zoo's models (keras.ops only, so they run on every backend)."""

import keras
import numpy as np
from keras import ops

from vms_zoo import backend
from vms_zoo.backend import conv


SEED_STATE = "seed_generator_state"


class KeepsSeedState:
    """Saves `self.seed_generator`'s state with the weights: Keras does not, so a resumed run would replay its
    random draws from the start. Files without it (written before) still load."""

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store[SEED_STATE] = ops.convert_to_numpy(self.seed_generator.state)

    def load_own_variables(self, store):
        keys = list(store.keys())
        if SEED_STATE in keys:
            self.seed_generator.state.assign(np.asarray(store[SEED_STATE]))
        super().load_own_variables({key: store[key] for key in keys if key != SEED_STATE})


@keras.saving.register_keras_serializable(package="vms_zoo")
class Sampling(KeepsSeedState, keras.layers.Layer):
    """Reparameterised draw z = mean + exp(log_var / 2) * eps while training; z = mean at inference.

    Returning the mean at inference makes `predict` deterministic; pass `sample=True` to draw anyway.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False, sample=False):
        z_mean, z_log_var = inputs
        if not (training or sample):
            return z_mean
        # Under tf.distribute replicas share the seed state: draw the global batch's noise, keep this replica's.
        index, replicas = backend.replica_slice()
        batch = ops.shape(z_mean)[0]
        eps = keras.random.normal((batch * replicas, ops.shape(z_mean)[1]), dtype=z_mean.dtype,
                                  seed=self.seed_generator)
        if replicas > 1:
            eps = eps[index * batch:(index + 1) * batch]
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="vms_zoo")
class VGGPreprocess(keras.layers.Layer):
    """Maps images in [0, 1] to the caffe-style input VGG16's ImageNet weights expect."""

    def call(self, inputs):
        return keras.applications.vgg16.preprocess_input(inputs * 255.0)


def _bias_and_activation(layer, outputs):
    """What a Keras convolution layer's call adds after the convolution, for our layers' own convolutions."""
    if layer.use_bias:
        outputs = outputs + layer.bias
    return outputs if layer.activation is None else layer.activation(outputs)


@keras.saving.register_keras_serializable(package="vms_zoo")
class Conv2DTranspose(keras.layers.Conv2DTranspose):
    """keras.layers.Conv2DTranspose with the same weights, config and output, computed by
    `vms_zoo.backend.conv.fast_conv_transpose` where that is faster (JAX and torch).

    The class keeps Keras' name, so the weights' paths in saved files (`conv2d_transpose_<i>`) and checkpoints
    written before it are unchanged.
    """

    def call(self, inputs):
        if (not conv.has_fast_conv_transpose() or self.data_format != "channels_last"
                or self.output_padding is not None or tuple(self.dilation_rate) != (1, 1)
                or any(k < s for k, s in zip(self.kernel_size, self.strides))):
            return super().call(inputs)
        kernel = ops.convert_to_tensor(self.kernel)
        return _bias_and_activation(self, conv.fast_conv_transpose(inputs, kernel, self.strides, self.padding))


@keras.saving.register_keras_serializable(package="vms_zoo")
class Conv2D(keras.layers.Conv2D):
    """keras.layers.Conv2D with the same weights, config and output, computed by `vms_zoo.backend.conv.fast_conv`
    where that is faster (torch, and JAX when strided).

    The class keeps Keras' name, so the weights' paths in saved files (`conv2d_<i>`) and checkpoints written
    before it are unchanged.
    """

    def call(self, inputs):
        if (not conv.has_fast_conv(self.strides) or self.data_format != "channels_last" or self.groups != 1
                or tuple(self.dilation_rate) != (1, 1) or None in inputs.shape[1:3]):
            return super().call(inputs)
        kernel = ops.convert_to_tensor(self.kernel)
        return _bias_and_activation(self, conv.fast_conv(inputs, kernel, self.strides, self.padding))


# --- progressive GAN layers (MEMGAN) ------------------------------------------------------------------


def _unit_normal():
    return keras.initializers.RandomNormal(0.0, 1.0)


@keras.saving.register_keras_serializable(package="vms_zoo")
class EqualizedDense(keras.layers.Layer):
    """Dense layer with an equalised learning rate (Karras et al., ProGAN).

    The kernel is drawn from N(0, 1) and multiplied by the He constant gain / sqrt(fan_in) at run time, so
    Adam's scale-free updates move every layer at the same relative speed, whatever its fan-in.
    """

    def __init__(self, units, gain=2**0.5, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.units, self.gain, self.use_bias = int(units), float(gain), bool(use_bias)

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.scale = self.gain / fan_in**0.5
        self.kernel = self.add_weight(shape=(fan_in, self.units), initializer=_unit_normal(), name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias") if self.use_bias else None

    def effective_kernel(self):
        """The kernel the layer actually applies: N(0, 1) weights times the He constant."""
        return self.kernel * self.scale

    def call(self, inputs):
        x = ops.matmul(inputs, self.effective_kernel())
        return x + self.bias if self.use_bias else x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "gain": self.gain, "use_bias": self.use_bias}


@keras.saving.register_keras_serializable(package="vms_zoo")
class EqualizedConv2D(keras.layers.Layer):
    """Conv2D (stride 1, NHWC) with an equalised learning rate: N(0, 1) kernel, He constant at run time."""

    def __init__(self, filters, kernel_size=3, padding="same", gain=2**0.5, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.padding = int(filters), int(kernel_size), padding
        self.gain, self.use_bias = float(gain), bool(use_bias)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        k = self.kernel_size
        self.scale = self.gain / (k * k * channels) ** 0.5
        self.kernel = self.add_weight(shape=(k, k, channels, self.filters), initializer=_unit_normal(), name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias") if self.use_bias else None

    def effective_kernel(self):
        """The kernel the layer actually applies: N(0, 1) weights times the He constant."""
        return self.kernel * self.scale

    def call(self, inputs):
        x = backend.conv_nhwc(inputs, self.effective_kernel(), 1, self.padding)
        return x + self.bias if self.use_bias else x

    def compute_output_shape(self, input_shape):
        n, h, w = input_shape[:3]
        if self.padding == "valid" and h is not None:
            h, w = h - self.kernel_size + 1, w - self.kernel_size + 1
        return (n, h, w, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "padding": self.padding, "gain": self.gain, "use_bias": self.use_bias}


@keras.saving.register_keras_serializable(package="vms_zoo")
class PixelNorm(keras.layers.Layer):
    """Scales each pixel's feature vector to unit mean square: stops generator magnitudes escalating."""

    def __init__(self, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.built = True  # no weights

    def call(self, inputs):
        return inputs * ops.rsqrt(ops.mean(ops.square(inputs), axis=-1, keepdims=True) + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="vms_zoo")
class MinibatchStdDev(keras.layers.Layer):
    """Appends one feature map: the standard deviation across a group of samples, averaged (ProGAN).

    The critic can then see a lack of variety in a batch, which discourages mode collapse. Groups are
    G consecutive samples, so under data parallelism (each replica's batch a multiple of G) every group
    lies within one replica and training matches one device. The batch size must be a multiple of the
    group size, or smaller than it (one group of N).
    """

    def __init__(self, group_size=4, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.group_size, self.epsilon = int(group_size), float(epsilon)
        self.built = True  # no weights

    def call(self, inputs):
        n, h, w, c = ops.shape(inputs)
        group = min(self.group_size, n) if isinstance(n, int) else ops.minimum(self.group_size, n)
        # Consecutive groups; the reference code takes samples n mod (N / G), which splits across replicas.
        x = ops.reshape(inputs, (-1, group, h, w, c))
        y = ops.sqrt(ops.var(x, axis=1) + self.epsilon)  # (N / G, H, W, C): std within each group
        y = ops.mean(y, axis=(1, 2, 3))  # (N / G,)
        y = ops.reshape(y, (-1, 1, 1, 1, 1)) + ops.zeros_like(x[..., :1])  # each group member gets its value
        return ops.concatenate([inputs, ops.cast(ops.reshape(y, (-1, h, w, 1)), inputs.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] + 1,)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="vms_zoo")
class FadeIn(keras.layers.Layer):
    """Merges [old, new] as old + fade * (new - old); `fade` is a non-trainable variable.

    Keeping the fade a weight (not a Python number) lets a callback move it during model.fit without
    retracing, and saves it with the weights, so an interrupted fade resumes where it stopped.
    """

    def __init__(self, fade=0.0, **kwargs):
        super().__init__(**kwargs)
        self.initial_fade = float(fade)
        self.fade = self.add_weight(shape=(), initializer=keras.initializers.Constant(self.initial_fade),
                                    trainable=False, name="fade")
        self.built = True

    def call(self, inputs):
        old, new = inputs
        return old + ops.cast(self.fade, old.dtype) * (new - old)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "fade": self.initial_fade}
