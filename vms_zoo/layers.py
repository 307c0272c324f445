"""Custom layers shared by the zoo's models (keras.ops only, so they run on every backend)."""

import functools

import keras
import numpy as np
from keras import ops

from vms_zoo import backend


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


def sub_pixel_conv_transpose(inputs, kernel, strides, padding):
    """Keras' conv_transpose (NHWC, no dilation or output_padding) as a stride-1 conv and a pixel shuffle.

    Output pixel s*m + r of a stride-s transposed convolution sums x[m - a] * kernel[s*a + r] over a: for each
    phase r a stride-1 convolution with every s-th tap. Zero-padding the kernel to a multiple of s and stacking
    the s*s phases as output channels makes that one convolution; depth-to-space interleaves the phases and a
    crop gives Keras' 'same' / 'valid' output. The sums of ops.conv_transpose, plus products with zero taps.
    """
    kh, kw, filters, channels = kernel.shape
    (sh, sw), (ah, aw) = strides, (-(-kh // strides[0]), -(-kw // strides[1]))
    # Taps a run backwards in a correlation: flip them; lay out the s*s phases as (row phase, col phase, filter).
    kernel = ops.pad(kernel, ((0, sh * ah - kh), (0, sw * aw - kw), (0, 0), (0, 0)))
    kernel = ops.flip(ops.reshape(kernel, (ah, sh, aw, sw, filters, channels)), axis=(0, 2))
    kernel = ops.reshape(ops.transpose(kernel, (0, 2, 5, 1, 3, 4)), (ah, aw, channels, sh * sw * filters))
    pads = []  # (input pad before, after, output crop before, after) per spatial axis
    for k, s, a in ((kh, sh, ah), (kw, sw, aw)):
        if padding == "same":  # Keras crops (k - s) // 2 from the front of the full output, keeps n * s
            crop = backend.same_transpose_crop(k, s)
            pads.append((a - 1 - crop // s, -(-crop // s), crop % s, s * -(-crop // s) - crop))
        else:  # 'valid' keeps (n - 1) * s + max(k, s) from the front
            pads.append((a - 1, a - 1, 0, s * a - max(k, s)))
    (ph0, ph1, ch0, ch1), (pw0, pw1, cw0, cw1) = pads
    x = ops.pad(inputs, ((0, 0), (ph0, ph1), (pw0, pw1), (0, 0)))
    x = ops.conv(x, kernel, strides=1, padding="valid")
    _, h, w, _ = ops.shape(x)
    x = ops.reshape(x, (-1, h, w, sh, sw, filters))
    x = ops.reshape(ops.transpose(x, (0, 1, 3, 2, 4, 5)), (-1, h * sh, w * sw, filters))
    return x[:, ch0:h * sh - ch1, cw0:w * sw - cw1]


def _correlate_over_batch(images, kernels, dilation):
    """sum_n images[n] correlated with kernels[n] dilated by `dilation`, (H', W', image channels, kernel channels):
    the kernel gradient of a convolution or of its transpose. One convolution with the batch as the contraction:
    images as a (channels, H, W, batch) image, kernels as a (h, w, batch, channels) kernel."""
    out = ops.conv(ops.transpose(images, (3, 1, 2, 0)), ops.transpose(kernels, (1, 2, 0, 3)), dilation_rate=dilation)
    return ops.transpose(out, (1, 2, 0, 3))


def conv_transpose(inputs, kernel, strides, padding):
    """ops.conv_transpose (NHWC, no dilation or output_padding): `sub_pixel_conv_transpose` forward, and the
    gradients of the strided convolution conv(., kernel, strides, padding) it is the transpose of.

    Its input gradient is that strided convolution of the output gradient dy; its kernel gradient correlates dy
    with the input dilated by the strides, the strided convolution's own kernel gradient. Autodiff of either
    forward form gives what XLA:CPU runs slowly instead: convolutions of an input dilated with zeros, or 16/9 the
    multiplies of a 3x3 kernel.
    """
    (kh, kw), (sh, sw) = kernel.shape[:2], strides
    # Output pixel s*i + t - front gets input pixel i times kernel tap t, per axis (Keras' crop of the full output)
    fronts = [backend.same_transpose_crop(k, s) if padding == "same" else 0 for k, s in ((kh, sh), (kw, sw))]

    @ops.custom_gradient
    def apply(x, k):
        def grad(*args, upstream=None):  # JAX and TensorFlow pass dy; torch the inputs and upstream=dy
            dy = args[0] if upstream is None else upstream
            dx = ops.conv(dy, k, strides=strides, padding=padding)
            (h, w), (hy, wy) = x.shape[1:3], dy.shape[1:3]
            dy = ops.pad(dy, ((0, 0), (fronts[0], max(0, sh * (h - 1) + kh - fronts[0] - hy)),
                              (fronts[1], max(0, sw * (w - 1) + kw - fronts[1] - wy)), (0, 0)))
            return dx, _correlate_over_batch(dy, x, strides)[:kh, :kw]

        return sub_pixel_conv_transpose(x, k, strides, padding), grad

    return apply(ops.copy(inputs), ops.copy(kernel))  # tensors: TF's and torch's custom gradients refuse variables


@functools.cache
def _compiled_on_jax(conv):
    """`conv(inputs, kernel, strides, padding)` as one jitted function per input shape (JAX only). Called eagerly
    (building a model, scoring images) its dozen ops would otherwise each compile on their own, ~25 ms apiece on
    XLA:CPU; inside a traced training step it is inlined."""
    import jax

    return jax.jit(conv, static_argnums=(2, 3))


def _bias_and_activation(layer, outputs):
    """What a Keras convolution layer's call adds after the convolution, for our layers' own convolutions."""
    if layer.use_bias:
        outputs = outputs + layer.bias
    return outputs if layer.activation is None else layer.activation(outputs)


@keras.saving.register_keras_serializable(package="vms_zoo")
class Conv2DTranspose(keras.layers.Conv2DTranspose):
    """keras.layers.Conv2DTranspose with the same weights, config and output, computed on JAX by `conv_transpose`
    (XLA:CPU trains Keras' jax.lax.conv_transpose several times slower than a convolution of the same size) and on
    torch by `backend.conv_transpose_nhwc` (without Keras' two layout copies).

    The class keeps Keras' name, so the weights' paths in saved files (`conv2d_transpose_<i>`) and checkpoints
    written before it are unchanged.
    """

    def call(self, inputs):
        strides = tuple(self.strides)
        if (keras.backend.backend() == "tensorflow" or self.data_format != "channels_last"
                or self.output_padding is not None or tuple(self.dilation_rate) != (1, 1)
                or any(k < s for k, s in zip(self.kernel_size, strides))):
            return super().call(inputs)
        kernel = ops.convert_to_tensor(self.kernel)
        # Forward + backward of the 64 px bench decoder's five layers, ms, one run on 2 busy cores: JAX 849 -> 59,
        # TensorFlow 53 -> 102, torch 216 -> 352; the sub-pixel form on JAX only. Torch's own op on the
        # permuted view: predictor cached training 388 -> 597 images/s.
        if keras.backend.backend() == "jax":
            return _bias_and_activation(self, _compiled_on_jax(conv_transpose)(inputs, kernel, strides, self.padding))
        return _bias_and_activation(self, backend.conv_transpose_nhwc(inputs, kernel, strides, self.padding))


def strided_conv(inputs, kernel, strides, padding):
    """ops.conv(inputs, kernel, strides, padding) (NHWC, kernel (kh, kw, in, out), no dilation) whose input gradient
    is `conv_transpose`, fast and itself differentiable, so a gradient penalty's second-order pass stays fast.

    Autodiff's input gradient of a strided convolution convolves an input dilated with zeros, which XLA:CPU runs
    slowly, and the penalty's weight gradient differentiates it again. The kernel gradient correlates the padded
    input, dilated by the strides, with dy (the batch as the contraction, as in `conv_transpose`).
    """
    (kh, kw), (sh, sw) = kernel.shape[:2], strides
    (h, w) = inputs.shape[1:3]
    geometry = []  # (pad before, pad after, output size) per spatial axis, as ops.conv pads
    for n, k, s in ((h, kh, sh), (w, kw, sw)):
        if padding == "same":
            geometry.append((*backend.same_padding(n, k, s), -(-n // s)))
        else:
            geometry.append((0, 0, (n - k) // s + 1))
    (ph0, ph1, hy), (pw0, pw1, wy) = geometry

    def input_grad(dy, k):
        # The transpose puts dy[i] * k[t] at padded position s*i + t < s*(m - 1) + k: 'valid' keeps them all, 'same'
        # the m*s from max(k - s, 0) // 2. Use 'same' where that holds the input's rows, from position `pad before`.
        fronts = [backend.same_transpose_crop(kk, s) for kk, s in ((kh, sh), (kw, sw))]
        same = all(f == p and min(p + n, s * (m - 1) + kk) <= f + m * s for f, p, n, m, kk, s in
                   zip(fronts, (ph0, pw0), (h, w), (hy, wy), (kh, kw), (sh, sw)))
        mode, fronts = ("same", fronts) if same else ("valid", [0, 0])
        dx = conv_transpose(dy, k, strides, mode)
        (hx, wx), (oh, ow) = dx.shape[1:3], (ph0 - fronts[0], pw0 - fronts[1])
        dx = ops.pad(dx, ((0, 0), (0, max(0, oh + h - hx)), (0, max(0, ow + w - wx)), (0, 0)))
        return dx[:, oh:oh + h, ow:ow + w]

    @ops.custom_gradient
    def apply(x, k):
        def grad(*args, upstream=None):  # JAX and TensorFlow pass dy; torch the inputs and upstream=dy
            dy = args[0] if upstream is None else upstream
            # Padded input rows s*i + t meet dy row i at kernel tap t: keep the rows below s*(hy - 1) + kh.
            xp = ops.pad(x, ((0, 0), (ph0, ph1), (pw0, pw1), (0, 0)))[:, :sh * (hy - 1) + kh, :sw * (wy - 1) + kw]
            return input_grad(dy, k), _correlate_over_batch(xp, dy, strides)

        return ops.conv(x, k, strides=strides, padding=padding), grad

    return apply(ops.copy(inputs), ops.copy(kernel))  # tensors: TF's and torch's custom gradients refuse variables


@keras.saving.register_keras_serializable(package="vms_zoo")
class Conv2D(keras.layers.Conv2D):
    """keras.layers.Conv2D with the same weights, config and output, computed on JAX, when strided, by
    `strided_conv` (XLA:CPU runs the transposed convolution of its input gradient slowly, twice in a WGAN-GP) and on
    torch by `backend.conv_nhwc` (without Keras' two layout copies).

    The class keeps Keras' name, so the weights' paths in saved files (`conv2d_<i>`) and checkpoints written
    before it are unchanged.
    """

    def call(self, inputs):
        strides, framework = tuple(self.strides), keras.backend.backend()
        own_path = framework == "torch" or (framework == "jax" and strides != (1, 1))
        if (not own_path or self.data_format != "channels_last" or self.groups != 1
                or tuple(self.dilation_rate) != (1, 1) or None in inputs.shape[1:3]):
            return super().call(inputs)
        kernel = ops.convert_to_tensor(self.kernel)
        # Gradient-penalty weight gradient of the 32 px bench critic, ms, 2 cores: JAX 110 -> 23 (TensorFlow 22);
        # W-MEMGAN 32 px bench step 817 -> 379. Only XLA:CPU is slow here.
        if framework == "jax":
            return _bias_and_activation(self, _compiled_on_jax(strided_conv)(inputs, kernel, strides, self.padding))
        return _bias_and_activation(self, backend.conv_nhwc(inputs, kernel, strides, self.padding))


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
