"""MEMGAN: a progressive-growing conditional WGAN-GP with memorability feedback at every resolution.

Generator and critic hold every resolution block from 4x4 up to `image_size`, built once. Which blocks are
active (`stage`) and how far the newest one has faded in (`fade_in.alpha`) are model variables: saved with
the weights, moved by `GrowthCallback` during `model.fit`, so an interrupted run resumes where it stopped.
Only the active blocks are computed; the stage and whether a fade is under way pick the traced graph, which
`fit` retraces when they change (once per phase). The memorability feedback (Eq. 3, via the W-MEMGAN
predictor machinery) applies to whatever resolution is active, so it shapes every block in turn (Fig. 10).
"""

import math

import keras
import numpy as np
from keras import ops

from vms_zoo.layers import EqualizedConv2D, EqualizedDense, FadeIn, MinibatchStdDev, PixelNorm
from vms_zoo.models.memorability_gan import MemorabilityGAN
from vms_zoo.settings import MEMGANTraining

# The authors' code (memgan_spatial.py, LOD_FILTERS) from 4 px up; the paper states no widths, only that the 128
# and 256 px blocks run at half capacity (docs/fidelity.md).
PAPER_FILTERS = (512, 512, 512, 512, 256, 256, 128)


def resolutions(image_size):
    """Sides of the resolution blocks: 4, 8, ..., image_size."""
    if image_size < 4 or image_size & (image_size - 1):
        raise ValueError(f"image_size must be a power of two >= 4, got {image_size}.")
    return [4 * 2**s for s in range(int(math.log2(image_size // 4)) + 1)]


def _lrelu(x):
    return ops.leaky_relu(x, 0.2)


def upsample(x):
    """Nearest-neighbour 2x upsampling: what the previous resolution's output looks like at the next."""
    return ops.repeat(ops.repeat(x, 2, axis=1), 2, axis=2)


def downsample(x):
    """2x2 average pooling: how real images look one resolution down."""
    return ops.average_pool(x, 2, strides=2, padding="valid")


class ProGenerator(keras.layers.Layer):
    """G(z, M) with one block per resolution; tanh on each RGB output before resolutions are merged."""

    def __init__(self, latent_dim, condition_shape, filters, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim, self.condition_shape, self.filters = latent_dim, tuple(condition_shape), tuple(filters)
        self.norm = PixelNorm()
        f0 = self.filters[0]
        self.dense = EqualizedDense(16 * f0, gain=2**0.5 / 4)  # ProGAN's gain for the latent -> 4x4 layer
        self.conv4 = EqualizedConv2D(f0, 3)
        self.blocks = [[EqualizedConv2D(f, 3), EqualizedConv2D(f, 3)] for f in self.filters[1:]]
        self.to_rgb = [EqualizedConv2D(3, 1, gain=1.0) for _ in self.filters]

    def build(self, input_shape=None):
        """Builds every block from its known input shape, so all weights exist up front."""
        self.dense.build((None, self.latent_dim + int(np.prod(self.condition_shape))))
        self.conv4.build((None, 4, 4, self.filters[0]))
        for s, f in enumerate(self.filters):
            r = 4 * 2**s
            if s:
                self.blocks[s - 1][0].build((None, r, r, self.filters[s - 1]))
                self.blocks[s - 1][1].build((None, r, r, f))
            self.to_rgb[s].build((None, r, r, f))
        self.built = True

    def features_and_rgb(self, inputs, stage, fading):
        """RGB at `stage`'s resolution and, when fading, the previous resolution's RGB (both tanh)."""
        z, m = inputs
        x = ops.concatenate([self.norm(z), ops.reshape(m, (ops.shape(m)[0], -1))], axis=-1)
        x = self.norm(_lrelu(ops.reshape(self.dense(x), (-1, 4, 4, self.filters[0]))))
        x = self.norm(_lrelu(self.conv4(x)))
        previous = x
        for conv_a, conv_b in self.blocks[:stage]:
            previous = x
            x = self.norm(_lrelu(conv_a(upsample(x))))
            x = self.norm(_lrelu(conv_b(x)))
        rgb = ops.tanh(self.to_rgb[stage](x))
        old = ops.tanh(self.to_rgb[stage - 1](previous)) if fading else None
        return rgb, old

    def call(self, inputs, stage, fade_in=None):
        rgb, old = self.features_and_rgb(inputs, stage, fading=fade_in is not None)
        return rgb if fade_in is None else fade_in([upsample(old), rgb])


class ProCritic(keras.layers.Layer):
    """D(x): fromRGB at the input resolution, blocks down to 4x4, minibatch stddev, linear score."""

    def __init__(self, filters, group_size=4, **kwargs):
        super().__init__(**kwargs)
        self.filters = tuple(filters)
        self.from_rgb = [EqualizedConv2D(f, 1) for f in self.filters]
        # Block s takes resolution 4 * 2**s down to half: widths filters[s] -> filters[s - 1].
        self.blocks = [[EqualizedConv2D(self.filters[s], 3), EqualizedConv2D(self.filters[s - 1], 3)]
                       for s in range(1, len(self.filters))]
        self.mbstd = MinibatchStdDev(group_size)
        self.conv4 = EqualizedConv2D(self.filters[0], 3)
        self.dense4 = EqualizedDense(self.filters[0])
        self.score = EqualizedDense(1, gain=1.0)

    def build(self, input_shape=None):
        """Builds every block from its known input shape, so all weights exist up front."""
        for s, f in enumerate(self.filters):
            r = 4 * 2**s
            self.from_rgb[s].build((None, r, r, 3))
            if s:
                self.blocks[s - 1][0].build((None, r, r, f))
                self.blocks[s - 1][1].build((None, r, r, f))
        self.conv4.build((None, 4, 4, self.filters[0] + 1))
        self.dense4.build((None, 16 * self.filters[0]))
        self.score.build((None, self.filters[0]))
        self.built = True

    def block(self, stage, x):
        conv_a, conv_b = self.blocks[stage - 1]
        return downsample(_lrelu(conv_b(_lrelu(conv_a(x)))))

    def call(self, images, stage, fade_in=None):
        x = _lrelu(self.from_rgb[stage](images))
        if stage > 0:
            x = self.block(stage, x)
            if fade_in is not None:
                x = fade_in([_lrelu(self.from_rgb[stage - 1](downsample(images))), x])
        for s in range(stage - 1, 0, -1):
            x = self.block(s, x)
        x = _lrelu(self.conv4(self.mbstd(x)))
        x = _lrelu(self.dense4(ops.reshape(x, (ops.shape(x)[0], -1))))
        return self.score(x)


@keras.saving.register_keras_serializable(package="vms_zoo")
class MEMGAN(MemorabilityGAN):
    """Progressive conditional WGAN-GP (ProGAN) steered by a frozen VMS predictor (the paper's MEMGAN).

    Args (besides `MemorabilityGAN`'s predictor, latent_dim, condition, map_size, alpha, seed):
        image_size: final side, a power of two >= 8 (the paper: 256).
        filters: width per resolution block, from 4x4 up; defaults to `PAPER_FILTERS`.
        ema_beta: decay of the generator's moving average, used by `generate` and for published weights; None
            (or 0) keeps none, as the paper and the authors' code: `generate` then uses the generator itself.
        group_size: minibatch-stddev group size.

    State saved with the weights: `stage` (index of the highest active block), `fade_in.fade` (how far
    that block has faded in; 1 = stable), `images_seen`, the moving-average generator (if any) and, once
    compiled, both optimizers.
    """

    default_n_critic = 1  # ProGAN: one critic step per generator step
    config_types = {**MemorabilityGAN.config_types, "image_size": int, "filters": (None, [int]),
                    "ema_beta": (None, float), "group_size": int}

    def __init__(self, predictor, image_size=256, latent_dim=512, condition="map", map_size=10, filters=None,
                 alpha=10.0, ema_beta=0.999, group_size=4, seed=None, target_sampler="uniform_extent", **kwargs):
        super().__init__(predictor, latent_dim, condition, map_size, alpha, seed, target_sampler, **kwargs)
        self.sizes = resolutions(image_size)
        if len(self.sizes) < 2:
            raise ValueError(f"image_size must be at least 8 to grow, got {image_size}.")
        filters = PAPER_FILTERS[:len(self.sizes)] if filters is None else tuple(int(f) for f in filters)
        if len(filters) != len(self.sizes) or min(filters) < 1:
            raise ValueError(f"filters needs one positive width per resolution {self.sizes}, got {filters}.")
        if ema_beta is not None and not 0.0 <= ema_beta < 1.0:
            raise ValueError(f"Need 0 <= ema_beta < 1 (or None: no moving average), got {ema_beta}.")
        # A beta of 0 would copy the generator after every step: the same as none, at twice the weights.
        self.ema_beta = float(ema_beta) if ema_beta else None
        self.image_size, self.filters, self.group_size = int(image_size), filters, int(group_size)

        self.generator = ProGenerator(self.latent_dim, self.condition_shape, filters, name="generator")
        self.generator_ema = (None if self.ema_beta is None else
                              ProGenerator(self.latent_dim, self.condition_shape, filters, name="generator_ema"))
        self.critic = ProCritic(filters, self.group_size, name="critic")
        for net in (self.generator, self.generator_ema, self.critic):
            if net is not None:
                net.build()
        if self.generator_ema is not None:
            self.generator_ema.trainable = False
            for ema, w in zip(self.generator_ema.weights, self.generator.weights):
                ema.assign(ops.convert_to_numpy(w))  # a copy: on JAX two variables must not share one buffer
        self.feedback(keras.KerasTensor((1, 4, 4, 3)))  # builds the predictor and checks its output, symbolically

        self.fade_in = FadeIn(fade=1.0, name="fade_in")
        self.stage = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False, name="stage")
        self.images_seen = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False,
                                           name="images_seen")
        self.active = (0, False)  # the (stage, fading) the traced functions were built for
        self.built = True

    @classmethod
    def size_estimate(cls, config):
        """(parameters, activations per sample at the last stage) that `config` (every argument given) builds,
        the predictor's included: a closed form, checked before anything is allocated. Activations count the
        outputs of the weighted layers."""
        sizes = resolutions(int(config["image_size"]))
        filters = list(PAPER_FILTERS[:len(sizes)] if config["filters"] is None else config["filters"])[:len(sizes)]
        if not filters:
            return cls.predictor_size_estimate(config["predictor"])
        sizes, f0 = sizes[:len(filters)], filters[0]
        inputs = int(config["latent_dim"]) + cls.condition_size(config)
        generator = (inputs + 1) * 16 * f0 + 9 * f0 * f0 + f0 + sum(3 * f + 3 for f in filters)  # toRGB: 1x1 convs
        critic = sum(4 * f for f in filters) + 9 * (f0 + 1) * f0 + f0 + (16 * f0 + 1) * f0 + f0 + 1
        # generator: the 4x4 dense and conv, toRGB; critic: fromRGB, the 4x4 conv, dense and score; then the blocks
        acts = 2 * 16 * f0 + 3 * sizes[-1] ** 2 + filters[-1] * sizes[-1] ** 2 + 16 * f0 + f0 + 1
        for s in range(1, len(filters)):
            before, width, side = filters[s - 1], filters[s], sizes[s]
            generator += 9 * before * width + width + 9 * width * width + width
            critic += 9 * width * width + width + 9 * width * before + before
            acts += side * side * (2 * width + width + before)
        params, predictor_acts = cls.predictor_size_estimate(config["predictor"])
        params += generator * (2 if config["ema_beta"] else 1) + critic + 3  # stage, fade, images seen
        return params, acts + predictor_acts

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "filters": list(self.filters),
                "ema_beta": self.ema_beta, "group_size": self.group_size}

    # --- growth state ------------------------------------------------------------------------------

    def growth_state(self):
        """(stage, fade, images_seen) as Python numbers, read from the variables."""
        return (int(ops.convert_to_numpy(self.stage)), float(ops.convert_to_numpy(self.fade_in.fade)),
                int(ops.convert_to_numpy(self.images_seen)))

    @property
    def resolution(self):
        """Side of the images at the current stage."""
        return self.sizes[self.growth_state()[0]]

    def set_growth_state(self, stage, fade=1.0, images_seen=None):
        """Sets stage and fade (and optionally the image count), and retraces for them."""
        if not 0 <= stage < len(self.sizes):
            raise ValueError(f"stage must be in [0, {len(self.sizes) - 1}], got {stage}.")
        self.stage.assign(int(stage))
        self.fade_in.fade.assign(float(fade) if stage > 0 else 1.0)
        if images_seen is not None:
            self.images_seen.assign(int(images_seen))
        self.sync_graph()

    def sync_graph(self):
        """Points call/train_step at the stored stage; drops traced functions built for another one."""
        stage, fade, _ = self.growth_state()
        active = (stage, stage > 0 and fade < 1.0)
        if active != self.active:
            self.active = active
            self.train_function = self.predict_function = self.test_function = None

    def fit(self, *args, **kwargs):
        self.sync_graph()
        return super().fit(*args, **kwargs)

    def load_weights(self, *args, **kwargs):
        super().load_weights(*args, **kwargs)
        self.sync_graph()

    def sample_tag(self):
        stage, fade, seen = self.growth_state()
        return f"{seen:09d}img_{self.sizes[stage]}px_fade{fade:.2f}"

    # --- MemorabilityGAN hooks -----------------------------------------------------------------------

    def _fade(self):
        return self.fade_in if self.active[1] else None

    def generator_images(self, z, m, training):
        return self.generator([z, m], stage=self.active[0], fade_in=self._fade())

    def critic_scores(self, images):
        return self.critic(images, stage=self.active[0], fade_in=self._fade())

    def real_images(self, images):
        size = self.sizes[self.active[0]]
        if len(images.shape) != 4 or tuple(images.shape[1:]) != (size, size, 3):
            raise ValueError(f"At stage {self.active[0]} training images must be (N, {size}, {size}, 3) in [0, 1], "
                             f"got shape {tuple(images.shape)}.")
        real = images * 2.0 - 1.0
        if self.active[1]:  # real images are faded like the generator's, so the critic sees the same blend
            real = self.fade_in([upsample(downsample(real)), real])
        return real

    def after_generator_step(self):
        if self.generator_ema is None:
            return
        beta = self.ema_beta
        for ema, w in zip(self.generator_ema.weights, self.generator.weights):
            ema.assign(beta * ema + (1.0 - beta) * w)

    def sampling_images(self, z, m, ema=True):
        """The moving-average generator (the generator itself when there is none, or with ema=False) at the
        stored growth state (read from the variables, not the trace)."""
        stage, fade, _ = self.growth_state()
        net = self.generator_ema if ema and self.generator_ema is not None else self.generator
        return net([z, m], stage=stage, fade_in=self.fade_in if stage > 0 and fade < 1.0 else None)

    def default_optimizer(self):
        return keras.optimizers.Adam(1.5e-3, **MEMGANTraining.ADAM)  # ProGAN, the paper

    def reset_optimizers(self):
        """Zeroes both optimizers' step counters and moment estimates (learning rates stay).

        Done at every growth, as the reference ProGAN does. Keras' Adam bias-corrects with one global
        step counter: the new block's weights have had zero gradients, so their second-moment estimates
        are zero while the counter is large, and their first updates would be ~10x the learning rate
        (beta_2 = 0.99). The old blocks' moments were also measured on a different output resolution.
        """
        for opt in (self.d_optimizer, self.g_optimizer):
            opt = getattr(opt, "inner_optimizer", opt)  # a LossScaleOptimizer keeps its loss scale
            for v in opt.variables:
                if not v.name.endswith("learning_rate"):
                    v.assign(ops.zeros(v.shape, v.dtype))
