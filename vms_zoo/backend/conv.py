"""Convolutions with faster gradients than Keras' own on some backends, for `vms_zoo.layers.Conv2D` and
`Conv2DTranspose` (same weights, config and outputs as Keras' layers).

- JAX: XLA:CPU trains `jax.lax.conv_transpose` several times slower than a convolution of the same size, and the
  input gradient of a strided convolution is such a transposed convolution (twice in a WGAN-GP's penalty). Here the
  transposed convolution is a sub-pixel convolution, and both get hand-written gradients that stay fast and
  differentiable (`conv_transpose`, `strided_conv`).
- PyTorch: Keras' torch layers copy the NHWC input to NCHW and back; `conv_nhwc` / `conv_transpose_nhwc` convolve
  the permuted view, which already is channels-last in memory.
- TensorFlow: Keras' own ops are the fastest; the layers use them.

docs/performance.md has the measurements. The kernels themselves are keras.ops, so tests/test_strided_conv.py and
tests/test_transposed_conv.py compare them with Keras' layers on every backend.
"""

import functools

from keras import ops

from vms_zoo.backend import BACKEND, conv_nhwc, same_padding, same_transpose_crop

if BACKEND == "torch":
    from vms_zoo.backend import conv_transpose_nhwc


def has_fast_conv(strides):
    """Whether `fast_conv` beats keras.layers.Conv2D's own convolution here: always on torch (no layout copies), on
    JAX when strided (its input gradient), never on TensorFlow."""
    return BACKEND == "torch" or (BACKEND == "jax" and tuple(strides) != (1, 1))


def has_fast_conv_transpose():
    """Whether `fast_conv_transpose` beats keras.layers.Conv2DTranspose's own op here: on JAX and torch."""
    return BACKEND != "tensorflow"


def fast_conv(inputs, kernel, strides, padding):
    """keras.ops.conv (NHWC, no dilation or groups) in this backend's fast form: `strided_conv` on JAX,
    `conv_nhwc` on torch."""
    if BACKEND == "jax":
        return _compiled_on_jax(strided_conv)(inputs, kernel, tuple(strides), padding)
    return conv_nhwc(inputs, kernel, tuple(strides), padding)


def fast_conv_transpose(inputs, kernel, strides, padding):
    """keras.ops.conv_transpose (NHWC, kernel >= stride, no dilation or output padding) in this backend's fast form:
    `conv_transpose` on JAX, `conv_transpose_nhwc` on torch."""
    if BACKEND == "jax":
        return _compiled_on_jax(conv_transpose)(inputs, kernel, tuple(strides), padding)
    if BACKEND == "torch":
        return conv_transpose_nhwc(inputs, kernel, tuple(strides), padding)
    return ops.conv_transpose(inputs, kernel, strides, padding)


@functools.cache
def _compiled_on_jax(function):
    """`function(inputs, kernel, strides, padding)` as one jitted function per input shape (JAX only). Called eagerly
    (building a model, scoring images) its dozen ops would otherwise each compile on their own, ~25 ms apiece on
    XLA:CPU; inside a traced training step it is inlined."""
    import jax

    return jax.jit(function, static_argnums=(2, 3))


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
            crop = same_transpose_crop(k, s)
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
    fronts = [same_transpose_crop(k, s) if padding == "same" else 0 for k, s in ((kh, sh), (kw, sw))]

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
            geometry.append((*same_padding(n, k, s), -(-n // s)))
        else:
            geometry.append((0, 0, (n - k) // s + 1))
    (ph0, ph1, hy), (pw0, pw1, wy) = geometry

    def input_grad(dy, k):
        # The transpose puts dy[i] * k[t] at padded position s*i + t < s*(m - 1) + k: 'valid' keeps them all, 'same'
        # the m*s from max(k - s, 0) // 2. Use 'same' where that holds the input's rows, from position `pad before`.
        fronts = [same_transpose_crop(kk, s) for kk, s in ((kh, sh), (kw, sw))]
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
