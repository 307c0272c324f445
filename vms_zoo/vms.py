"""VMS conventions, in one place: channel order, the true-schema reductions, and the one image contract.

A VMS map is (N, H, W, 2) with values in [0, 1]: channel 0 is the *true* schema (what made people remember a
scene), channel 1 the *false* schema (what made them think they had seen it). Images are float32 (N, H, W, 3)
in [0, 1] at every public boundary, on every backend; anything else (uint8 0..255, [-1, 1], NaN) is refused
by `check_images` / `check_maps` with an error that names the expected range. Calling a model directly checks
eager inputs the same way (`check_call_images`); symbolic or traced inputs have no values to check.
"""

import contextlib
import threading

import numpy as np
from keras import ops

from vms_zoo import backend

TRUE, FALSE = 0, 1  # channel indices of a VMS map
IMAGE_RANGE = "float32 in [0, 1]"


def to_numpy(x):
    """numpy view of an array-like or a tensor of any backend (numpy, tf, jax, torch), without copying numpy."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach"):  # torch: may carry a graph or sit on a GPU
        return x.detach().cpu().numpy()
    try:
        return ops.convert_to_numpy(x)
    except Exception:  # a tensor of another backend, or a nested list
        return np.asarray(x)


def _describe(x):
    shape = getattr(x, "shape", None)
    return f"{type(x).__name__} of shape {tuple(shape)}" if shape is not None else type(x).__name__


def _check_range(array, what):
    if array.dtype.kind not in "f":
        raise ValueError(f"{what} must be {IMAGE_RANGE}; got dtype {array.dtype} (divide 0..255 images by 255).")
    if array.size == 0:
        raise ValueError(f"{what} are empty (shape {array.shape}).")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} contain NaN or infinite values; expected {IMAGE_RANGE}.")
    lo, hi = float(array.min()), float(array.max())
    if lo < 0.0 or hi > 1.0:
        hint = " (that looks like [-1, 1]: use (x + 1) / 2)" if lo < 0.0 and hi <= 1.0 else ""
        raise ValueError(f"{what} must be {IMAGE_RANGE}; got values in [{lo:.3g}, {hi:.3g}]{hint}.")


def check_unit_range(values, what="Values"):
    """`values` (any shape; numpy or any backend's tensor) as a numpy array after checking it is float, finite
    and in [0, 1]: e.g. a memorability condition M (a target map or a raw score)."""
    array = to_numpy(values)
    _check_range(array, what)
    return array


def _check_batch(values, channels, image_size, what, meaning):
    """`values` as numpy after checking it is (N, S, S, channels), finite and in [0, 1]; `meaning` says what
    the channels are, for the shape error."""
    try:
        array = to_numpy(values)
    except Exception:
        raise ValueError(f"{what} must be an array of shape (N, H, W, {channels}), {IMAGE_RANGE}; got "
                         f"{_describe(values)}.") from None
    if array.ndim != 4 or array.shape[-1] != channels:
        raise ValueError(f"{what} must have shape (N, H, W, {channels}) ({meaning}); got shape {array.shape}.")
    if image_size is not None and tuple(array.shape[1:3]) != (image_size, image_size):
        raise ValueError(f"{what} must be {image_size}x{image_size}; got {array.shape[1]}x{array.shape[2]}.")
    _check_range(array, what)
    return array


def check_images(images, image_size=None, what="Images"):
    """`images` as a numpy float array after checking it is (N, S, S, 3), finite and in [0, 1].

    Any backend's tensor is accepted (and checked the same way); a wrong shape, dtype or range is a
    ValueError naming it. `image_size` also fixes S.
    """
    return _check_batch(images, 3, image_size, what, f"RGB, {IMAGE_RANGE}")


def check_maps(maps, image_size=None, what="VMS maps"):
    """`maps` as a numpy float array after checking it is (N, S, S, 2), finite and in [0, 1]."""
    return _check_batch(maps, 2, image_size, what, "channel 0 true, channel 1 false schema")


_checked = threading.local()  # depth of `inputs_checked` blocks in this thread


@contextlib.contextmanager
def inputs_checked():
    """Inside, `check_call_images` passes: the caller has checked the arrays already (fit, predict) or made them
    in [0, 1] itself (a GAN's feedback on its generator's images), so each batch is not checked again."""
    _checked.depth = getattr(_checked, "depth", 0) + 1
    try:
        yield
    finally:
        _checked.depth -= 1


def check_call_images(images, image_size=None):
    """The image contract for a model's `call`, as `check_images`, on inputs that hold values (eager calls on
    every backend). Symbolic or traced inputs (a functional graph, tf.function, jax.jit) have no values to check."""
    if backend.has_values(images) and not getattr(_checked, "depth", 0):
        check_images(images, image_size)


def is_array(x):
    """True for numpy arrays and backend tensors (what `fit` / `predict` take directly); False for datasets."""
    return isinstance(x, (np.ndarray, list)) or (hasattr(x, "shape") and hasattr(x, "dtype"))


def true_schema(outputs):
    """Channel 0 (true schema) of a VMS predictor's output, a tensor or a dict with "vms": (N, S, S, 1)."""
    if isinstance(outputs, dict):
        if "vms" not in outputs:
            raise ValueError(f"Predictor returned a dict without a 'vms' key: {sorted(outputs)}.")
        outputs = outputs["vms"]
    if len(outputs.shape) != 4 or outputs.shape[-1] != 2:
        raise ValueError(f"A VMS predictor must return (N, S, S, 2) maps, got shape {tuple(outputs.shape)}.")
    return outputs[..., TRUE:TRUE + 1]


def area_matrix(size_in, size_out):
    """(size_out, size_in) weights of an exact area (box) resize along one axis; rows sum to 1."""
    scale = size_in / size_out
    edges_in = np.arange(size_in + 1)
    weights = np.zeros((size_out, size_in), "float32")
    for i in range(size_out):
        lo, hi = i * scale, (i + 1) * scale
        weights[i] = np.clip(np.minimum(edges_in[1:], hi) - np.maximum(edges_in[:-1], lo), 0, None) / scale
    return weights


def area_resize(maps, size):
    """Area-resize (N, H, W, C) maps to (N, size, size, C): each output cell is the mean it covers."""
    rows = ops.convert_to_tensor(area_matrix(maps.shape[1], size))
    cols = ops.convert_to_tensor(area_matrix(maps.shape[2], size))
    return ops.einsum("ih,nhwc,jw->nijc", rows, maps, cols)


def predictor_input_size(predictor):
    """Side length of the square images a VMS predictor takes."""
    size = getattr(predictor, "image_size", None)
    if size is None:
        try:
            size = predictor.input_shape[1]
        except (AttributeError, ValueError):
            size = None
    if not size:
        raise ValueError("Cannot tell the predictor's input size: give it an `image_size` attribute or a static "
                         "input shape (N, S, S, 3).")
    return int(size)


def memorability_score(predictor, images):
    """Mean true-schema value per image (N,) as a tensor: images in [0, 1], resized to the predictor's input."""
    size = predictor_input_size(predictor)
    if images.shape[1] != size or images.shape[2] != size:
        images = ops.image.resize(images, (size, size), interpolation="bilinear")
    with inputs_checked():  # resized images may stray from [0, 1] by a rounding error
        return ops.mean(true_schema(backend.inference(predictor, images)), axis=(1, 2, 3))
