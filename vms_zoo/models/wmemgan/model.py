"""W-MEMGAN: a conditional WGAN-GP whose generator is steered by a frozen VMS predictor.

G(z, M) makes an image from a latent code z and a memorability condition M (a single score, or a 10x10
target true-schema map). The critic D only sees images, never M. The generator loss adds the
memorability feedback alpha * E[(P(G(z, M)) - M)^2] of Eq. (3), where P is a frozen VMS predictor whose
true-schema channel is reduced to M's shape. With `score_scale` a single-score M is a z-score of P's
memorability on real images (M ~ N(0, 1), the paper's Gaussian) and P's score is standardized the same way,
so the feedback is measured in units of the real-score spread (see `vms_zoo.targets`). One `train_step` serves
TensorFlow, JAX and PyTorch; the backend-specific gradient code lives in `vms_zoo.backend`.

The paper's Fig. 9 leaves out "PixelNorm and Minibatch Standard Deviation layers" for clarity, so its networks
have both: `pixel_norm` and `minibatch_stddev` add them (MEMGAN's layers, placed as in ProGAN). Both are off by
default, which keeps the architecture of W-MEMGANs saved without them.
"""

import keras
import numpy as np
from keras import layers, ops

from vms_zoo import backend
from vms_zoo.layers import Conv2D, MinibatchStdDev, PixelNorm
from vms_zoo.models.memorability_gan import MemorabilityGAN

SUPPORTED_SIZES = (8, 16, 32, 64, 128)


def _filters(filters, level):
    """Width at `level` upsamplings from 4x4: halves per level, never below 8."""
    return max(filters // 2**level, 8)


def build_generator(image_size, latent_dim, condition_shape, filters, pixel_norm=False):
    """G(z, M): Dense to 4x4, then (upsample, 3x3 conv, LeakyReLU) per doubling; tanh RGB output.

    pixel_norm: normalise z, and every feature vector after each LeakyReLU (ProGAN; M keeps its scale).
    """
    norm = (lambda x: PixelNorm()(x)) if pixel_norm else (lambda x: x)
    z = keras.Input((latent_dim,), name="z")
    m = keras.Input(condition_shape, name="m")
    x = layers.Concatenate()([norm(z), layers.Flatten()(m)])
    x = layers.Dense(4 * 4 * filters)(x)
    x = norm(layers.LeakyReLU(0.2)(layers.Reshape((4, 4, filters))(x)))
    for level in range(1, int(np.log2(image_size // 4)) + 1):
        x = layers.UpSampling2D(2)(x)
        x = Conv2D(_filters(filters, level), 3, padding="same")(x)
        x = norm(layers.LeakyReLU(0.2)(x))
    image = Conv2D(3, 3, padding="same", activation="tanh", name="image")(x)
    return keras.Model([z, m], image, name="generator")


def build_critic(image_size, filters, minibatch_stddev=False, group_size=4):
    """D(x): strided 4x4 convs down to 4x4, then a linear score. No batch norm: it breaks the penalty.

    minibatch_stddev: append the minibatch standard deviation (groups of `group_size`) to the 4x4 features,
    as ProGAN does before its last layers.
    """
    image = keras.Input((image_size, image_size, 3), name="image")
    levels = int(np.log2(image_size // 4))
    x = Conv2D(_filters(filters, levels), 3, padding="same")(image)
    x = layers.LeakyReLU(0.2)(x)
    for level in reversed(range(levels)):
        x = Conv2D(_filters(filters, level), 4, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
    if minibatch_stddev:
        x = MinibatchStdDev(group_size)(x)
    score = layers.Dense(1, name="score")(layers.Flatten()(x))
    return keras.Model(image, score, name="critic")


@keras.saving.register_keras_serializable(package="vms_zoo")
class WMEMGAN(MemorabilityGAN):
    """Conditional WGAN-GP with memorability feedback from a frozen VMS predictor.

    Args (besides `MemorabilityGAN`'s predictor, latent_dim, condition, map_size, alpha, seed):
        image_size: generated image side, a power of two from 8 to 128.
        filters: generator width at 4x4 (the critic mirrors it); halves per doubling, at least 8.
        score_scale: None (M is a raw score in [0, 1], drawn uniformly) or the (mean, std) of P's scores
            on real training images, e.g. from `vms_zoo.evaluation.score_scale`: then M is the z-score
            (score - mean) / std, drawn from N(0, 1), and the feedback is P's score on that scale.
            condition="score" only.
        pixel_norm: PixelNorm in the generator (z and every hidden layer).
        minibatch_stddev: a minibatch-stddev feature in the critic, over groups of `group_size` samples (the
            per-update batch must be a multiple of it, or smaller).

    Calling the model on [z, M] returns images in [-1, 1]; `generate` returns them in [0, 1].
    """

    config_types = {**MemorabilityGAN.config_types, "image_size": int, "filters": int,
                    "score_scale": (None, [float], dict), "pixel_norm": bool, "minibatch_stddev": bool,
                    "group_size": int}

    def __init__(self, predictor, image_size=64, latent_dim=128, condition="score", map_size=10, filters=256,
                 alpha=10.0, seed=None, score_scale=None, pixel_norm=False, minibatch_stddev=False, group_size=4,
                 target_sampler="uniform_extent", **kwargs):
        super().__init__(predictor, latent_dim, condition, map_size, alpha, seed, target_sampler, **kwargs)
        if image_size not in SUPPORTED_SIZES:
            raise ValueError(f"image_size must be one of {SUPPORTED_SIZES} (up to 128x128), got {image_size}.")
        self.image_size = int(image_size)
        self.filters = int(filters)
        self.score_scale = self._check_score_scale(score_scale, condition)
        self.pixel_norm, self.minibatch_stddev = bool(pixel_norm), bool(minibatch_stddev)
        self.group_size = int(group_size)
        if self.group_size < 1:
            raise ValueError(f"group_size must be >= 1, got {group_size}.")
        self.generator = build_generator(self.image_size, self.latent_dim, self.condition_shape, self.filters,
                                         self.pixel_norm)
        self.critic = build_critic(self.image_size, self.filters, self.minibatch_stddev, self.group_size)
        # Build the predictor (and check its output) now, so every variable exists before training; symbolic, so
        # nothing is computed (on JAX each op of an eager call would compile).
        self.feedback(keras.KerasTensor((1, self.image_size, self.image_size, 3)))
        self.built = True

    @classmethod
    def size_estimate(cls, config):
        """(parameters, activations per sample) that `config` (every argument given) builds, the predictor's
        included: a closed form, checked before anything is allocated. Activations count the outputs of the
        weighted layers."""
        size, filters = int(config["image_size"]), int(config["filters"])
        levels = max((size // 4).bit_length() - 1, 0)
        params, acts = cls.predictor_size_estimate(config["predictor"])
        inputs = int(config["latent_dim"]) + cls.condition_size(config)
        params += (inputs + 1) * 16 * filters
        acts += 16 * filters
        channels = filters
        for level in range(1, levels + 1):  # generator
            width, side = _filters(filters, level), 4 * 2**level
            params += 9 * channels * width + width
            acts += side * side * width
            channels = width
        params += 9 * channels * 3 + 3
        acts += size * size * 3
        channels, side = _filters(filters, levels), size  # critic
        params += 27 * channels + channels
        acts += side * side * channels
        for level in reversed(range(levels)):
            width, side = _filters(filters, level), side // 2
            params += 16 * channels * width + width
            acts += side * side * width
            channels = width
        params += 16 * (channels + bool(config["minibatch_stddev"])) + 1
        return params, acts + 1

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "filters": self.filters,
                "score_scale": None if self.score_scale is None else list(self.score_scale),
                "pixel_norm": self.pixel_norm, "minibatch_stddev": self.minibatch_stddev,
                "group_size": self.group_size}

    @staticmethod
    def _check_score_scale(score_scale, condition):
        if score_scale is None:
            return None
        if condition != "score":
            raise ValueError("score_scale applies to condition='score' only.")
        if isinstance(score_scale, dict):
            score_scale = (score_scale["mean"], score_scale["std"])
        try:
            mean, std = (float(v) for v in score_scale)
        except (TypeError, ValueError):
            raise ValueError(f"score_scale must be None or a (mean, std) pair, got {score_scale!r}.") from None
        if not (np.isfinite(mean) and np.isfinite(std) and std > 0):
            raise ValueError(f"score_scale needs a finite mean and a std > 0, got ({mean}, {std}).")
        return mean, std

    # --- MemorabilityGAN hooks -----------------------------------------------------------------------

    def generator_images(self, z, m, training):
        return self.generator([z, m], training=training)

    def sampling_images(self, z, m):
        return backend.inference(self.generator, [z, m])

    def critic_scores(self, images):
        return self.critic(images, training=True)

    def real_images(self, images):
        if len(images.shape) != 4 or tuple(images.shape[1:]) != (self.image_size, self.image_size, 3):
            raise ValueError(f"Training images must be (N, {self.image_size}, {self.image_size}, 3) in [0, 1], "
                             f"got shape {tuple(images.shape)}.")
        return images * 2.0 - 1.0
