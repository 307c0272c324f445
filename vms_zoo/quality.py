"""Image quality: Fréchet and kernel distances between image sets in the feature space of a fixed network.

    extractor = quality.feature_extractor("resmem")        # or "inception", "inception:PATH.h5"
    report = quality.compare(extractor(generated), extractor(real), extractor.name)   # {"fid", "kid", ...}

`frechet_distance` is FID's formula (Heusel et al. 2017) and `kernel_distance` KID's (Bińkowski et al. 2018) on
any (N, D) features. Two extractors:

- "resmem": the pooled 2048-d features of ResMem's ImageNet ResNet-152, read from the user's installed `resmem`
  wheel (`pip install "vms-zoo[memorability]"`): works offline, the default.
- "inception": keras.applications' InceptionV3 average-pool features (2048-d) with Keras' ImageNet weights,
  downloaded by Keras into ~/.keras/models when online, or "inception:PATH" for a local copy of that file.
  These are not the TF-slim Inception weights of the reference FID code either, so even these numbers are not
  comparable with published FIDs.

A distance is only comparable with another from the same extractor, image size and sample sizes (FID is
biased upwards by small samples; KID is not), so every result names its extractor.
"""

import hashlib
import os
import warnings
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import scipy.linalg

KID_SUBSET_SIZE, KID_SUBSETS = 1000, 100  # the reference KID code's defaults (Bińkowski et al.)
FID_EPS = 1e-6  # diagonal offset when sqrtm of a singular product fails (as the reference FID code does)

INCEPTION_SIZE = 299
RESMEM_SIZE = 227  # ResMem's input: its transformer's centre crop
INCEPTION_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"  # Keras' own file name and hash
INCEPTION_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/" + INCEPTION_FILE
INCEPTION_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"


# --- the two distances ------------------------------------------------------------------------------------


def _features(x, what):
    x = np.asarray(x, "float64")
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"{what} must be an (N, D) feature array with N >= 2; got shape {x.shape}.")
    if not np.isfinite(x).all():
        raise ValueError(f"{what} contain NaN or infinite values.")
    return x


def _pair(a, b):
    a, b = _features(a, "Features a"), _features(b, "Features b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"Features a and b must have the same width D; got {a.shape[1]} and {b.shape[1]}.")
    return a, b


def _sqrtm(matrix):
    """scipy's sqrtm without its warning for a singular matrix: covariances of fewer samples than features are
    singular, and what the square root gives is checked by the caller."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        return scipy.linalg.sqrtm(matrix)


def frechet_moments(mu1, sigma1, mu2, sigma2):
    """|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2): the Fréchet distance of two Gaussians.

    As the reference FID code: a non-finite square root (singular product) is retried with `FID_EPS` added to
    both diagonals, and the imaginary round-off of a real result is dropped; an imaginary part that is not
    round-off is an error.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype("float64"), np.atleast_1d(mu2).astype("float64")
    sigma1, sigma2 = np.atleast_2d(sigma1).astype("float64"), np.atleast_2d(sigma2).astype("float64")
    covmean = _sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(sigma1)) * FID_EPS
        covmean = _sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0.0, atol=1e-3):
            raise ValueError(f"The covariances' product has a square root with imaginary part "
                             f"{np.max(np.abs(covmean.imag)):.3g}, not round-off: check the features.")
        covmean = covmean.real
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean)
    return max(float(value), 0.0)  # a squared distance: a negative value is round-off


def frechet_distance(a, b):
    """FID's formula on features a (N, D) and b (M, D): the Fréchet distance of Gaussians with their sample
    means and covariances (ddof 1). 0 for equal sets; biased upwards when N, M are small against D."""
    a, b = _pair(a, b)
    return frechet_moments(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def _mmd2_unbiased(x, y):
    """Unbiased MMD^2 with the kernel (x.y / d + 1)^3: diagonals of the within-set kernels left out."""
    d, n, m = x.shape[1], len(x), len(y)
    k_xx, k_yy, k_xy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (n * (n - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return within_x + within_y - 2.0 * k_xy.mean()


def kid_subsets(a, b, subset_size=KID_SUBSET_SIZE, num_subsets=KID_SUBSETS, seed=0):
    """The unbiased MMD^2 of each of `num_subsets` random subsets (`subset_size` rows of a and of b, drawn
    without replacement, at most min(N, M)); `subset_size=None`: one "subset" holding every row. numpy (S,)."""
    a, b = _pair(a, b)
    if subset_size is None:
        return np.array([_mmd2_unbiased(a, b)])
    if int(subset_size) < 2 or int(num_subsets) < 1:
        raise ValueError(f"KID needs subset_size >= 2 and num_subsets >= 1; got {subset_size}, {num_subsets}.")
    size = min(int(subset_size), len(a), len(b))
    rng = np.random.default_rng(seed)
    return np.array([_mmd2_unbiased(a[rng.choice(len(a), size, replace=False)],
                                    b[rng.choice(len(b), size, replace=False)]) for _ in range(int(num_subsets))])


def kernel_distance(a, b, subset_size=KID_SUBSET_SIZE, num_subsets=KID_SUBSETS, seed=0):
    """KID: the unbiased MMD^2 with the kernel (x.y / d + 1)^3 between features a (N, D) and b (M, D), averaged
    over `num_subsets` random subsets of `subset_size` rows each (capped at min(N, M), as the clean-fid
    code does). `subset_size=None`: one subset holding every sample. Its expectation is 0 for one
    distribution, so it can come out slightly negative."""
    return float(kid_subsets(a, b, subset_size, num_subsets, seed).mean())


def compare(features, real_features, extractor, subset_size=KID_SUBSET_SIZE, num_subsets=KID_SUBSETS, seed=0):
    """FID and KID (mean and standard deviation over subsets) of `features` against `real_features`, with the
    name of the `extractor` that made them: a dict for a report."""
    a, b = _pair(features, real_features)
    kid = kid_subsets(a, b, subset_size, num_subsets, seed)
    return {"extractor": str(extractor), "fid": frechet_distance(a, b), "kid": float(kid.mean()),
            "kid_std": float(kid.std()), "kid_subset_size": None if subset_size is None else min(
                int(subset_size), len(a), len(b)), "num_images": len(a), "num_real": len(b)}


# --- feature extractors -----------------------------------------------------------------------------------


@dataclass
class Extractor:
    """A named feature extractor: `extractor(images)` -> numpy (N, D) for images (N, H, W, 3) in [0, 1].

    `prepare` turns a numpy batch of images into the network's input; `network` is a Keras model giving (N, D);
    `input_size` is the side of its input, which bounds the batch size (None: the images' own).
    """

    name: str
    network: object
    prepare: Callable
    input_size: Optional[int] = None

    def __call__(self, images, batch_size=32):
        from vms_zoo.backend import fitting_batch, in_batches, inference
        from vms_zoo.vms import check_images

        images = np.asarray(check_images(images), "float32")
        batch_size = fitting_batch(batch_size, self.input_size or images.shape[1])
        return in_batches(lambda x: inference(self.network, self.prepare(x)), [images], batch_size)


def resmem_features(resmem=None):
    """ResMem's ResNet-152 (ImageNet) as a Keras model (N, 227, 227, 3) in [0, 1] -> pooled features (N, 2048),
    weights from the installed `resmem` wheel; `resmem`, a loaded "resmem" preset, saves loading it again. The one
    place that names the module of the ResMem family."""
    from vms_zoo.models.resmem import resnet152_features

    return resnet152_features(resmem)


def resmem_prepare(images):
    """Images (N, H, W, 3) in [0, 1] as ResMem's transformer feeds them (resize to 256, centre crop 227).
    The one place that names the module of the ResMem family."""
    from vms_zoo.models.resmem import prepare_images

    return prepare_images(images)


def resmem_extractor(resmem=None):
    """The offline default: ResMem's pooled ResNet-152 features (see `resmem_features`)."""
    return Extractor("resmem_resnet152_pool", resmem_features(resmem), resmem_prepare, RESMEM_SIZE)


def keras_home():
    """Where Keras keeps downloads: $KERAS_HOME, else ~/.keras (read now, where Keras reads it at import)."""
    return os.path.expanduser(os.environ.get("KERAS_HOME", os.path.join("~", ".keras")))


def inception_weights(weights="imagenet"):
    """Local path of InceptionV3's no-top ImageNet weights: `weights` itself when it is a file, else Keras'
    file from its cache (~/.keras/models), downloaded by Keras when missing and online."""
    import keras

    if weights != "imagenet":
        if not os.path.isfile(weights):
            raise FileNotFoundError(f"No InceptionV3 weights file {weights} (expected Keras' {INCEPTION_FILE}).")
        return os.fspath(weights)
    os.makedirs(os.path.join(keras_home(), "models"), exist_ok=True)  # else Keras falls back to /tmp/.keras
    try:
        return keras.utils.get_file(INCEPTION_FILE, INCEPTION_URL, cache_dir=keras_home(), cache_subdir="models",
                                    file_hash=INCEPTION_MD5)
    except Exception as e:  # offline: urllib's error, wrapped by Keras in a plain Exception
        folder = os.path.join(keras_home(), "models")
        raise OSError(f"InceptionV3's ImageNet weights could not be downloaded ({' '.join(str(e).split())}): put "
                      f"{INCEPTION_FILE} (from {INCEPTION_URL}) in {folder}, or pass the file as "
                      "inception:PATH.") from None


def inception_network(weights_path):
    """keras.applications' InceptionV3 without its top, average pooled (2048-d), with the given weights."""
    import keras

    return keras.applications.InceptionV3(include_top=False, weights=weights_path, pooling="avg",
                                          input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3))


def inception_prepare(images):
    """Images in [0, 1] -> InceptionV3's input: bilinear resize to 299, scaled to [-1, 1] (its preprocess_input)."""
    from keras import ops

    if images.shape[1] != INCEPTION_SIZE or images.shape[2] != INCEPTION_SIZE:
        images = ops.image.resize(images, (INCEPTION_SIZE, INCEPTION_SIZE), interpolation="bilinear")
    return images * 2.0 - 1.0


def inception_extractor(weights="imagenet"):
    """InceptionV3 pool features; the name carries the weights file's sha256, so other weights read as
    another extractor."""
    path = inception_weights(weights)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return Extractor(f"inception_v3_pool:{digest.hexdigest()[:12]}", inception_network(path), inception_prepare,
                     INCEPTION_SIZE)


FEATURES = ("auto", "resmem", "inception", "inception:PATH", "none")


def check_spec(spec):
    """Refuse, before anything loads, a feature extractor name `feature_extractor` does not take."""
    if not (spec in (None, "auto", "resmem", "inception", "none")
            or (isinstance(spec, str) and spec.startswith("inception:") and len(spec) > len("inception:"))):
        raise ValueError(f"Unknown feature extractor {spec!r}; expected one of {', '.join(FEATURES)}.")


def feature_extractor(spec="auto", resmem=None):
    """An `Extractor` from a name: "resmem", "inception" (Keras' ImageNet weights), "inception:PATH" (a local
    weights file). Returns (extractor, note): "auto" tries ResMem's features, then InceptionV3 when Keras already
    holds its weights, and else gives (None, a note saying why); "none" gives (None, None). A named extractor
    that cannot load raises its error. `resmem`: a loaded "resmem" preset to take the features from."""
    check_spec(spec)
    if spec in (None, "none"):
        return None, None
    if spec == "resmem":
        return resmem_extractor(resmem), None
    if spec == "inception":
        return inception_extractor(), None
    if spec.startswith("inception:"):
        return inception_extractor(spec.partition(":")[2]), None
    try:
        return resmem_extractor(resmem), None
    except (ImportError, OSError, ValueError) as e:
        reason = " ".join(str(e).split())
    cached = os.path.join(keras_home(), "models", INCEPTION_FILE)
    if os.path.isfile(cached):
        return inception_extractor(), None
    return None, (f"Image quality (FID / KID) not measured: ResMem's features are unavailable ({reason}) and "
                  f"InceptionV3's ImageNet weights are not in {os.path.dirname(cached)}.")
