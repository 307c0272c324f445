"""MEMGAN: a progressive-growing conditional WGAN-GP with memorability feedback at every resolution.

Generator and critic hold every resolution block from 4x4 up to `image_size`, built once. Which blocks are
active (`stage`) and how far the newest one has faded in (`fade_in.alpha`) are model variables: saved with
the weights, moved by `GrowthCallback` during `model.fit`, so an interrupted run resumes where it stopped.
Only the active blocks are computed; the stage and whether a fade is under way pick the traced graph, which
`fit` retraces when they change (once per phase). The memorability feedback (Eq. 3, via the W-MEMGAN
predictor machinery) applies to whatever resolution is active, so it shapes every block in turn (Fig. 10).
"""

import math
import os

import keras
import numpy as np
from keras import ops

from vms_zoo import backend, losses
from vms_zoo.layers import EqualizedConv2D, EqualizedDense, FadeIn, MinibatchStdDev, PixelNorm
from vms_zoo.models.wgan import MemorabilityGAN, OptimizerPair, predictor_input_size
from vms_zoo.targets import CONDITIONS, target_ramp

# ProGAN widths (fmap_base 8192, fmap_max 512) with the 128 and 256 blocks at half capacity (the paper).
PAPER_FILTERS = (512, 512, 512, 512, 256, 64, 32)


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

    Args:
        predictor: frozen VMS predictor, as for `WMEMGAN`.
        image_size: final side, a power of two >= 8 (the paper: 256).
        latent_dim: size of z.
        condition: "map" (a map_size x map_size target true-schema map, the paper) or "score".
        map_size: side of the target map.
        filters: width per resolution block, from 4x4 up; defaults to `PAPER_FILTERS`.
        alpha: memorability loss weight (10 in the paper; 0 trains the foil generator).
        ema_beta: decay of the generator's moving average, used by `generate` and for published weights.
        group_size: minibatch-stddev group size.
        seed: seed of the training noise.

    State saved with the weights: `stage` (index of the highest active block), `fade_in.alpha` (how far
    that block has faded in; 1 = stable), `images_seen`, the moving-average generator and, once compiled,
    both optimizers.
    """

    def __init__(self, predictor, image_size=256, latent_dim=512, condition="map", map_size=10, filters=None,
                 alpha=10.0, ema_beta=0.999, group_size=4, seed=None, **kwargs):
        super().__init__(**kwargs)
        if condition not in CONDITIONS:
            raise ValueError(f"Unknown condition {condition!r}; expected 'score' or 'map'.")
        self.sizes = resolutions(image_size)
        if len(self.sizes) < 2:
            raise ValueError(f"image_size must be at least 8 to grow, got {image_size}.")
        filters = PAPER_FILTERS[:len(self.sizes)] if filters is None else tuple(int(f) for f in filters)
        if len(filters) != len(self.sizes):
            raise ValueError(f"filters needs one width per resolution {self.sizes}, got {len(filters)}.")
        if isinstance(predictor, dict):
            predictor = keras.saving.deserialize_keras_object(predictor)
        if not isinstance(predictor, keras.Model):
            raise TypeError(f"predictor must be a Keras model, got {type(predictor).__name__}.")
        if alpha < 0 or not 0.0 <= ema_beta < 1.0:
            raise ValueError(f"Need alpha >= 0 and 0 <= ema_beta < 1, got {alpha}, {ema_beta}.")
        self.image_size, self.latent_dim, self.condition = int(image_size), int(latent_dim), condition
        self.map_size, self.filters, self.alpha, self.ema_beta = int(map_size), filters, float(alpha), float(ema_beta)
        self.group_size, self.seed = int(group_size), seed
        self.score_scale = None  # raw [0, 1] targets: the paper's MEMGAN takes maps (see WMEMGAN for z-scores)
        self.condition_shape = (1,) if condition == "score" else (self.map_size, self.map_size, 1)

        self.generator = ProGenerator(self.latent_dim, self.condition_shape, filters, name="generator")
        self.generator_ema = ProGenerator(self.latent_dim, self.condition_shape, filters, name="generator_ema")
        self.critic = ProCritic(filters, self.group_size, name="critic")
        for net in (self.generator, self.generator_ema, self.critic):
            net.build()
        self.generator_ema.trainable = False
        for ema, w in zip(self.generator_ema.weights, self.generator.weights):
            ema.assign(ops.convert_to_numpy(w))  # a copy: on JAX two variables must not share one buffer
        self.predictor = predictor
        self.predictor.trainable = False
        self.predictor_size = predictor_input_size(predictor)
        self.feedback(ops.zeros((1, 4, 4, 3)))  # builds the predictor and checks its output

        self.fade_in = FadeIn(alpha=1.0, name="fade_in")
        self.stage = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False, name="stage")
        self.images_seen = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False,
                                           name="images_seen")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("d_loss", "g_loss", "gp", "mem_loss", "wasserstein")}
        self.n_critic, self.gp_weight, self.drift_weight = 1, 10.0, 0.001
        self.active = (0, False)  # the (stage, fading) the traced functions were built for
        self.built = True

    # --- growth state ------------------------------------------------------------------------------

    def growth_state(self):
        """(stage, alpha, images_seen) as Python numbers, read from the variables."""
        return (int(ops.convert_to_numpy(self.stage)), float(ops.convert_to_numpy(self.fade_in.alpha)),
                int(ops.convert_to_numpy(self.images_seen)))

    @property
    def resolution(self):
        """Side of the images at the current stage."""
        return self.sizes[self.growth_state()[0]]

    def set_growth_state(self, stage, alpha=1.0, images_seen=None):
        """Sets stage and fade alpha (and optionally the image count), and retraces for them."""
        if not 0 <= stage < len(self.sizes):
            raise ValueError(f"stage must be in [0, {len(self.sizes) - 1}], got {stage}.")
        self.stage.assign(int(stage))
        self.fade_in.alpha.assign(float(alpha) if stage > 0 else 1.0)
        if images_seen is not None:
            self.images_seen.assign(int(images_seen))
        self.sync_graph()

    def sync_graph(self):
        """Points call/train_step at the stored stage; drops traced functions built for another one."""
        stage, alpha, _ = self.growth_state()
        active = (stage, stage > 0 and alpha < 1.0)
        if active != self.active:
            self.active = active
            self.train_function = self.predict_function = self.test_function = None

    def fit(self, *args, **kwargs):
        self.sync_graph()
        return super().fit(*args, **kwargs)

    def load_weights(self, *args, **kwargs):
        super().load_weights(*args, **kwargs)
        self.sync_graph()

    # --- model API ---------------------------------------------------------------------------------

    def call(self, inputs, training=False):
        stage, fading = self.active
        return self.generator(inputs, stage=stage, fade_in=self.fade_in if fading else None)

    def get_config(self):
        config = super().get_config()
        config.update(
            predictor=keras.saving.serialize_keras_object(self.predictor), image_size=self.image_size,
            latent_dim=self.latent_dim, condition=self.condition, map_size=self.map_size,
            filters=list(self.filters), alpha=self.alpha, ema_beta=self.ema_beta, group_size=self.group_size,
            seed=self.seed,
        )
        return config

    def generate(self, z, m, batch_size=64, ema=True):
        """Images in [0, 1] (numpy, at the current resolution) from the moving-average generator."""
        z, m = np.asarray(z, "float32"), np.asarray(m, "float32")
        self.check_condition(m)
        if z.shape != (len(m), self.latent_dim):
            raise ValueError(f"z must have shape ({len(m)}, {self.latent_dim}), got {z.shape}.")
        stage, alpha, _ = self.growth_state()
        fade = self.fade_in if stage > 0 and alpha < 1.0 else None
        net = self.generator_ema if ema else self.generator
        out = [ops.convert_to_numpy(net([z[i:i + batch_size], m[i:i + batch_size]], stage=stage, fade_in=fade))
               for i in range(0, len(z), batch_size)]
        return (np.concatenate(out) + 1.0) * 0.5

    # --- training ----------------------------------------------------------------------------------

    def compile(self, d_optimizer=None, g_optimizer=None, n_critic=1, gp_weight=10.0, drift_weight=0.001,
                **kwargs):
        """Two Adam(1.5e-3, beta_1=0, beta_2=0.99, epsilon=1e-8) by default (ProGAN, the paper); one
        critic step per generator step as in ProGAN."""
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}.")
        if gp_weight < 0 or drift_weight < 0:
            raise ValueError(f"gp_weight and drift_weight must be >= 0, got {gp_weight}, {drift_weight}.")
        super().compile(**kwargs)

        def adam():
            return keras.optimizers.Adam(1.5e-3, beta_1=0.0, beta_2=0.99, epsilon=1e-8)

        self.d_optimizer = d_optimizer or adam()
        self.g_optimizer = g_optimizer or adam()
        if self.d_optimizer is self.g_optimizer:
            raise ValueError("d_optimizer and g_optimizer must be two different optimizer instances.")
        self.optimizer = OptimizerPair(self)
        self.optimizer.build()
        self.n_critic, self.gp_weight, self.drift_weight = int(n_critic), gp_weight, drift_weight

    def reset_optimizers(self):
        """Zeroes both optimizers' step counters and moment estimates (learning rates stay).

        Done at every growth, as the reference ProGAN does. Keras' Adam bias-corrects with one global
        step counter: the new block's weights have had zero gradients, so their second-moment estimates
        are zero while the counter is large, and their first updates would be ~10x the learning rate
        (beta_2 = 0.99). The old blocks' moments were also measured on a different output resolution.
        """
        for opt in (self.d_optimizer, self.g_optimizer):
            for v in opt.variables:
                if not v.name.endswith("learning_rate"):
                    v.assign(ops.zeros(v.shape, v.dtype))

    def train_step(self, *args):
        return backend.train_step(self, self._train_step, *args)

    def _train_step(self, data):
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        stage, fading = self.active
        size = self.sizes[stage]
        if len(images.shape) != 4 or tuple(images.shape[1:]) != (size, size, 3):
            raise ValueError(f"At stage {stage} training images must be (N, {size}, {size}, 3) in [0, 1], "
                             f"got shape {tuple(images.shape)}.")
        fade = self.fade_in if fading else None
        real = ops.cast(images, "float32") * 2.0 - 1.0
        if fading:  # real images are faded like the generator's, so the critic sees the same blend
            real = self.fade_in([upsample(downsample(real)), real])
        noise = self.draw_noise(ops.shape(real)[0])
        critic_vars = self.critic.trainable_variables
        generator_vars = self.generator.trainable_variables

        def critic_fn(x):
            return self.critic(x, stage=stage, fade_in=fade)

        for i in range(self.n_critic):
            fake = ops.stop_gradient(self.generator([noise["critic_z"][i], noise["critic_m"][i]], stage=stage, fade_in=fade))

            def d_objective():
                real_scores, fake_scores = critic_fn(real), critic_fn(fake)
                gp = losses.gradient_penalty(critic_fn, real, fake, noise["mix"][i])
                d_loss = (losses.critic_loss(real_scores, fake_scores) + self.gp_weight * gp
                          + losses.drift_loss(real_scores, self.drift_weight))
                # Replicas' gradients are summed under tf.distribute: each contributes its share of the mean.
                return backend.scale_for_replicas(d_loss), (d_loss, gp,
                                                            losses.wasserstein_estimate(real_scores, fake_scores))

            _, (d_loss, gp, wasserstein), grads = backend.value_and_grad(d_objective, critic_vars)
            self.d_optimizer.apply(list(grads), critic_vars)

        def g_objective():
            fake = self.generator([noise["z"], noise["m"]], stage=stage, fade_in=fade)
            mem = losses.memorability_loss(self.feedback(fake), noise["m"])
            g_loss = losses.generator_loss(critic_fn(fake)) + self.alpha * mem
            return backend.scale_for_replicas(g_loss), (g_loss, mem)

        _, (g_loss, mem), grads = backend.value_and_grad(g_objective, generator_vars)
        self.g_optimizer.apply(list(grads), generator_vars)
        beta = self.ema_beta
        for ema, w in zip(self.generator_ema.weights, self.generator.weights):
            ema.assign(beta * ema + (1.0 - beta) * w)

        values = dict(d_loss=d_loss, g_loss=g_loss, gp=gp, mem_loss=mem, wasserstein=wasserstein)
        for name, value in values.items():
            self.trackers[name].update_state(ops.stop_gradient(value))
        return {name: tracker.result() for name, tracker in self.trackers.items()}


# --- growth schedule -------------------------------------------------------------------------------------


def _per_stage(value, num_stages, what):
    values = list(value) if isinstance(value, (list, tuple)) else [value] * num_stages
    if len(values) != num_stages or any(int(v) < 0 for v in values):
        raise ValueError(f"{what} needs one non-negative value per stage ({num_stages}), got {value}.")
    return [int(v) for v in values]


class GrowthSchedule:
    """Progressive growing counted in images seen: per resolution a fade phase, then a stabilise phase.

    `fade_images`, `stabilise_images` and `batch_sizes` are one number for every stage or a list with one
    per stage (stage 0, 4x4, has nothing to fade). Each phase is a tuple (stage, fading, start, end,
    batch_size), start and end in images seen; `state_at(images_seen)` gives the stage and alpha there.
    Phase lengths are rounded up to whole batches, so every phase starts exactly where the last one ended.
    """

    def __init__(self, num_stages, fade_images, stabilise_images, batch_sizes):
        self.num_stages = int(num_stages)
        self.fade_images = _per_stage(fade_images, self.num_stages, "fade_images")
        self.stabilise_images = _per_stage(stabilise_images, self.num_stages, "stabilise_images")
        self.batch_sizes = _per_stage(batch_sizes, self.num_stages, "batch_sizes")
        if min(self.batch_sizes) < 1:
            raise ValueError(f"batch sizes must be >= 1, got {batch_sizes}.")
        self.phases, start = [], 0
        for stage in range(self.num_stages):
            for fading, length in ((True, self.fade_images[stage] if stage else 0), (False, self.stabilise_images[stage])):
                if length:
                    length = math.ceil(length / self.batch_sizes[stage]) * self.batch_sizes[stage]
                    self.phases.append((stage, fading, start, start + length, self.batch_sizes[stage]))
                    start += length
        self.total_images = start

    def get_config(self):
        return {"num_stages": self.num_stages, "fade_images": self.fade_images,
                "stabilise_images": self.stabilise_images, "batch_sizes": self.batch_sizes}

    def phase_at(self, images_seen):
        """The phase (stage, fading, start, end, batch_size) holding `images_seen`, None once done."""
        for phase in self.phases:
            if images_seen < phase[3]:
                return phase
        return None

    def state_at(self, images_seen):
        """(stage, alpha) after `images_seen` images; the final state once the schedule is done."""
        phase = self.phase_at(images_seen)
        if phase is None:
            return self.phases[-1][0], 1.0
        stage, fading, start, end, _ = phase
        return stage, (min(max((images_seen - start) / (end - start), 0.0), 1.0) if fading else 1.0)


class GrowthCallback(keras.callbacks.Callback):
    """Drives alpha and stage from the image count during `model.fit`; stops fit at each phase's end.

    After each batch it adds the batch to `images_seen` and sets alpha; when a phase ends it sets the next
    phase's stage and alpha (resetting the optimizers on growth) and stops training, so the next `fit`
    traces the next stage's graph with that stage's batch size (see `train`).
    """

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_train_begin(self, logs=None):
        self.seen = self.model.growth_state()[2]
        self.phase = self.schedule.phase_at(self.seen)

    def on_train_batch_end(self, batch, logs=None):
        model = self.model  # on JAX this syncs the training state into the variables first
        self.seen += self.phase[4]
        stage, alpha = self.schedule.state_at(self.seen)
        if stage > self.phase[0]:
            model.reset_optimizers()
        model.stage.assign(stage)
        model.fade_in.alpha.assign(alpha)
        model.images_seen.assign(self.seen)
        if self.seen >= self.phase[3]:
            model.stop_training = True


class ImageStream(keras.utils.PyDataset):
    """Batches of real images at one resolution, from a fixed stream position: resumes exactly.

    Image k of the stream is `images[order_p[k % N]]` with a permutation per pass p seeded by (seed, p),
    so the data order depends on the image count alone. Images are box-downsampled to `resolution`.
    `images` may be float in [0, 1] or uint8 (e.g. a memory-mapped .npy of a large image set).
    """

    def __init__(self, images, resolution, batch_size, start, steps, seed=0):
        super().__init__()
        self.images, self.resolution, self.batch_size = images, int(resolution), int(batch_size)
        self.start, self.steps, self.seed = int(start), int(steps), seed
        factor = images.shape[1] // self.resolution
        if factor < 1 or images.shape[1] != factor * self.resolution:
            raise ValueError(f"Image side {images.shape[1]} is not a multiple of resolution {resolution}.")

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        n = len(self.images)
        ks = np.arange(self.start + index * self.batch_size, self.start + (index + 1) * self.batch_size)
        passes = {p: np.random.default_rng((self.seed, p)).permutation(n) for p in np.unique(ks // n)}
        x = self.images[[passes[k // n][k % n] for k in ks]].astype("float32")
        if self.images.dtype == np.uint8:
            x /= 255.0
        f, r = x.shape[1] // self.resolution, self.resolution
        return x.reshape(len(x), r, f, r, f, 3).mean(axis=(2, 4))


def train(model, images, schedule, callbacks=(), seed=0, verbose="auto"):
    """Trains `model` (compiled) through `schedule` from its stored image count: one `fit` per phase.

    Run it again after an interruption, with the weights restored (see `Checkpoint`): it continues at the
    same stage, alpha and image count. `images` (N, S, S, 3) in [0, 1] with S = model.image_size.
    """
    if schedule.num_stages != len(model.sizes):
        raise ValueError(f"The schedule has {schedule.num_stages} stages, the model {len(model.sizes)}.")
    growth = GrowthCallback(schedule)
    while True:
        seen = model.growth_state()[2]
        phase = schedule.phase_at(seen)
        if phase is None:
            return model
        stage, fading, start, end, batch_size = phase
        model.set_growth_state(*schedule.state_at(seen))
        steps = math.ceil((end - seen) / batch_size)
        data = ImageStream(images, model.sizes[stage], batch_size, seen, steps, seed)
        if verbose:
            print(f"Stage {stage} ({model.sizes[stage]}px, {'fade' if fading else 'stabilise'}): "
                  f"images {seen} -> {end}, batch {batch_size}")
        model.fit(data, epochs=1, callbacks=[growth, *callbacks], verbose=verbose)


class Checkpoint(keras.callbacks.Callback):
    """Saves the weights (growth state, EMA and optimizers included) every `every` batches and at each
    phase's end, atomically (write, then rename), so a killed run restarts from the last save."""

    def __init__(self, path, every=50):
        super().__init__()
        if not path.endswith(".weights.h5"):
            raise ValueError(f"Checkpoint path must end in .weights.h5, got {path}.")
        self.path, self.every = path, int(every)

    def save(self):
        tmp = self.path[: -len(".weights.h5")] + ".tmp.weights.h5"
        self.model.save_weights(tmp)
        os.replace(tmp, self.path)

    def on_train_batch_end(self, batch, logs=None):
        if (batch + 1) % self.every == 0:
            self.save()

    def on_train_end(self, logs=None):
        self.save()


class StageSamples(keras.callbacks.Callback):
    """Writes a PNG grid at each phase's end: a row per fixed z, M rising from low to high (columns)."""

    def __init__(self, directory, rows=4, columns=6, low=0.0, high=1.0, seed=0):
        super().__init__()
        self.directory, self.rows, self.seed = directory, rows, seed
        self.levels = np.linspace(low, high, columns)

    def grid(self):
        """The grid as uint8 (rows * R, columns * R, 3), R the current resolution."""
        model, columns = self.model, len(self.levels)
        z = np.random.default_rng(self.seed).normal(size=(self.rows, model.latent_dim)).astype("float32")
        m = target_ramp(model.condition, self.levels, seed=self.seed, map_size=model.map_size)
        images = model.generate(np.repeat(z, columns, axis=0), np.tile(m, (self.rows,) + (1,) * (m.ndim - 1)))
        r = images.shape[1]
        images = images.reshape(self.rows, columns, r, r, 3).transpose(0, 2, 1, 3, 4)
        return (np.clip(images, 0, 1) * 255).round().astype("uint8").reshape(self.rows * r, columns * r, 3)

    def on_train_end(self, logs=None):
        from PIL import Image

        os.makedirs(self.directory, exist_ok=True)
        stage, alpha, seen = self.model.growth_state()
        name = f"samples_{seen:09d}img_{self.model.sizes[stage]}px_alpha{alpha:.2f}.png"
        Image.fromarray(self.grid()).save(os.path.join(self.directory, name))
