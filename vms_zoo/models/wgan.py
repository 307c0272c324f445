"""W-MEMGAN: a conditional WGAN-GP whose generator is steered by a frozen VMS predictor.

G(z, M) makes an image from a latent code z and a memorability condition M (a single score, or a 10x10
target true-schema map). The critic D only sees images, never M. The generator loss adds the
memorability feedback alpha * E[(P(G(z, M)) - M)^2] of Eq. (3), where P is a frozen VMS predictor whose
true-schema channel is reduced to M's shape. With `score_scale` a single-score M is a z-score of P's
memorability on real images (M ~ N(0, 1), the paper's Gaussian) and P's score is standardized the same way,
so the feedback is measured in units of the real-score spread (see `vms_zoo.targets`). One `train_step` serves TensorFlow, JAX and PyTorch; the
backend-specific gradient code lives in `vms_zoo.backend`.
"""

import os

import keras
import numpy as np
from keras import layers, ops

from vms_zoo import backend, losses
from vms_zoo.targets import CONDITIONS, sample_targets, target_ramp

SUPPORTED_SIZES = (8, 16, 32, 64, 128)


def _filters(filters, level):
    """Width at `level` upsamplings from 4x4: halves per level, never below 8."""
    return max(filters // 2**level, 8)


def build_generator(image_size, latent_dim, condition_shape, filters):
    """G(z, M): Dense to 4x4, then (upsample, 3x3 conv, LeakyReLU) per doubling; tanh RGB output."""
    z = keras.Input((latent_dim,), name="z")
    m = keras.Input(condition_shape, name="m")
    x = layers.Concatenate()([z, layers.Flatten()(m)])
    x = layers.Dense(4 * 4 * filters)(x)
    x = layers.LeakyReLU(0.2)(layers.Reshape((4, 4, filters))(x))
    for level in range(1, int(np.log2(image_size // 4)) + 1):
        x = layers.UpSampling2D(2)(x)
        x = layers.Conv2D(_filters(filters, level), 3, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
    image = layers.Conv2D(3, 3, padding="same", activation="tanh", name="image")(x)
    return keras.Model([z, m], image, name="generator")


def build_critic(image_size, filters):
    """D(x): strided 4x4 convs down to 4x4, then a linear score. No batch norm: it breaks the penalty."""
    image = keras.Input((image_size, image_size, 3), name="image")
    levels = int(np.log2(image_size // 4))
    x = layers.Conv2D(_filters(filters, levels), 3, padding="same")(image)
    x = layers.LeakyReLU(0.2)(x)
    for level in reversed(range(levels)):
        x = layers.Conv2D(_filters(filters, level), 4, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
    score = layers.Dense(1, name="score")(layers.Flatten()(x))
    return keras.Model(image, score, name="critic")


def predictor_input_size(predictor):
    """Side length of the square images a VMS predictor takes."""
    size = getattr(predictor, "image_size", None)
    if size is None:
        try:
            size = predictor.input_shape[1]
        except (AttributeError, ValueError):
            size = None
    if not size:
        raise ValueError(
            "Cannot tell the predictor's input size: give it an `image_size` attribute or a static "
            "input shape (N, S, S, 3)."
        )
    return int(size)


def true_schema(outputs):
    """Channel 0 (true schema) of a VMS predictor's output, which may be a tensor or a dict with "vms"."""
    if isinstance(outputs, dict):
        if "vms" not in outputs:
            raise ValueError(f"Predictor returned a dict without a 'vms' key: {sorted(outputs)}.")
        outputs = outputs["vms"]
    if len(outputs.shape) != 4 or outputs.shape[-1] != 2:
        raise ValueError(f"A VMS predictor must return (N, S, S, 2) maps, got shape {tuple(outputs.shape)}.")
    return outputs[..., 0:1]


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


class OptimizerPair:
    """The critic's and generator's optimizers behind the single `model.optimizer` slot.

    Keras' JAX trainer carries `model.optimizer.variables` in the training state, so both optimizers'
    slots must be listed there; the other backends only need it to build them.
    """

    def __init__(self, model):
        self.model = model

    @property
    def variables(self):
        return self.model.d_optimizer.variables + self.model.g_optimizer.variables

    @property
    def built(self):
        return self.model.d_optimizer.built and self.model.g_optimizer.built

    def build(self, variables=None):
        self.model.d_optimizer.build(self.model.critic.trainable_variables)
        self.model.g_optimizer.build(self.model.generator.trainable_variables)


class MemorabilityGAN(keras.Model):
    """What W-MEMGAN and MEMGAN share: the frozen-predictor feedback, the conditions and the training noise.

    Subclasses set predictor, predictor_size, condition, condition_shape, map_size, score_scale, latent_dim,
    n_critic, seed_generator and trackers.
    """

    def get_compile_config(self):
        return None  # two optimizers and GAN weights: call compile() again after loading

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def standardized(self):
        """True when M is a z-score of real-image memorability (`score_scale` set)."""
        return self.score_scale is not None

    def check_condition(self, m):
        """Raise a clear error unless `m` has the condition's shape (N, *condition_shape)."""
        if tuple(m.shape[1:]) != self.condition_shape:
            raise ValueError(
                f"Condition M for condition={self.condition!r} must have shape (N, "
                f"{', '.join(map(str, self.condition_shape))}), got {tuple(m.shape)}."
            )

    def feedback(self, images):
        """P(G(z, M)) reduced to M's shape, from generator images in [-1, 1]."""
        # Map tanh output to the predictor's [0, 1] range (the original code fed raw tanh output).
        x = (images + 1.0) * 0.5
        if x.shape[1] != self.predictor_size or x.shape[2] != self.predictor_size:
            x = ops.image.resize(x, (self.predictor_size, self.predictor_size), interpolation="bilinear")
        true = true_schema(self.predictor(x, training=False))
        if self.condition == "score":
            score = ops.mean(true, axis=(1, 2))
            if self.standardized:
                mean, std = self.score_scale
                score = (score - mean) / std
            return score
        return area_resize(true, self.map_size)

    def draw_noise(self, batch_size):
        """All random inputs of one train step: z and M per critic and generator update, and GP weights.

        Under tf.distribute every replica shares the seed state, so each draws the noise of the global
        batch and keeps its own slice: fresh noise per sample, the same numbers as on one device.
        """
        index, replicas = backend.replica_slice()
        k, seed, n = self.n_critic, self.seed_generator, batch_size * replicas
        normal = keras.random.normal
        noise = {
            "critic_z": normal((k, n, self.latent_dim), seed=seed),
            "critic_m": ops.reshape(sample_targets(self.condition, k * n, seed, self.map_size, self.standardized),
                                    (k, -1) + self.condition_shape),
            "mix": keras.random.uniform((k, n, 1, 1, 1), seed=seed),
            "z": normal((n, self.latent_dim), seed=seed),
            "m": sample_targets(self.condition, n, seed, self.map_size, self.standardized),
        }
        if replicas == 1:
            return noise
        start = index * batch_size
        return {key: value[:, start:start + batch_size] if key in ("critic_z", "critic_m", "mix")
                else value[start:start + batch_size] for key, value in noise.items()}


@keras.saving.register_keras_serializable(package="vms_zoo")
class WMEMGAN(MemorabilityGAN):
    """Conditional WGAN-GP with memorability feedback from a frozen VMS predictor.

    Args:
        predictor: Keras model mapping images in [0, 1], (N, S, S, 3), to VMS maps (N, S', S', 2) in
            [0, 1] (a tensor, or a dict with key "vms"). Frozen here for good.
        image_size: generated image side, a power of two from 8 to 128.
        latent_dim: size of z.
        condition: "score" (M is one number per image) or "map" (M is a map_size x map_size map).
        map_size: side of the target map for condition="map".
        filters: generator width at 4x4 (the critic mirrors it); halves per doubling, at least 8.
        seed: seed of the training noise (z, M, interpolation weights).
        score_scale: None (M is a raw score in [0, 1], drawn uniformly) or the (mean, std) of P's scores
            on real training images, e.g. from `vms_zoo.targets.fit_score_scale`: then M is the z-score
            (score - mean) / std, drawn from N(0, 1), and the feedback is P's score on that scale.
            condition="score" only.

    Calling the model on [z, M] returns images in [-1, 1]; `generate` returns them in [0, 1].
    """

    def __init__(self, predictor, image_size=64, latent_dim=128, condition="score", map_size=10,
                 filters=256, seed=None, score_scale=None, **kwargs):
        super().__init__(**kwargs)
        if condition not in CONDITIONS:
            raise ValueError(f"Unknown condition {condition!r}; expected 'score' or 'map'.")
        if image_size not in SUPPORTED_SIZES:
            raise ValueError(f"image_size must be one of {SUPPORTED_SIZES} (up to 128x128), got {image_size}.")
        if isinstance(predictor, dict):
            predictor = keras.saving.deserialize_keras_object(predictor)
        if not isinstance(predictor, keras.Model):
            raise TypeError(f"predictor must be a Keras model, got {type(predictor).__name__}.")
        self.image_size = int(image_size)
        self.latent_dim = int(latent_dim)
        self.condition = condition
        self.map_size = int(map_size)
        self.filters = int(filters)
        self.seed = seed
        self.score_scale = self._check_score_scale(score_scale, condition)
        self.condition_shape = (1,) if condition == "score" else (self.map_size, self.map_size, 1)

        self.generator = build_generator(self.image_size, self.latent_dim, self.condition_shape, self.filters)
        self.critic = build_critic(self.image_size, self.filters)
        self.predictor = predictor
        self.predictor.trainable = False  # frozen for real: no trainable weights, and training=False below
        self.predictor_size = predictor_input_size(predictor)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("d_loss", "g_loss", "gp", "mem_loss", "wasserstein")}
        # Build the predictor (and check its output) now, so every variable exists before training.
        self.feedback(ops.zeros((1, self.image_size, self.image_size, 3)))
        self.n_critic, self.gp_weight, self.alpha, self.drift_weight = 5, 10.0, 10.0, 0.001
        self.built = True

    # --- model API ---------------------------------------------------------------------------------

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(
            predictor=keras.saving.serialize_keras_object(self.predictor),
            image_size=self.image_size, latent_dim=self.latent_dim, condition=self.condition,
            map_size=self.map_size, filters=self.filters, seed=self.seed,
            score_scale=None if self.score_scale is None else list(self.score_scale),
        )
        return config

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

    def to_condition(self, scores):
        """Raw predictor scores in [0, 1] -> this model's condition M (z-scores with `score_scale`). numpy (N, 1)."""
        if self.condition != "score":
            raise ValueError("to_condition converts single scores; this model takes maps.")
        m = np.asarray(scores, "float32").reshape(-1, 1)
        if self.standardized:
            mean, std = self.score_scale
            m = (m - mean) / std
        return m.astype("float32")

    def generate(self, z, m, batch_size=64):
        """Images in [0, 1] (numpy, (N, S, S, 3)) for latent codes z and conditions m."""
        z, m = np.asarray(z, "float32"), np.asarray(m, "float32")
        self.check_condition(m)
        if z.shape != (len(m), self.latent_dim):
            raise ValueError(f"z must have shape ({len(m)}, {self.latent_dim}), got {z.shape}.")
        out = [ops.convert_to_numpy(self.generator([z[i:i + batch_size], m[i:i + batch_size]], training=False))
               for i in range(0, len(z), batch_size)]
        return (np.concatenate(out) + 1.0) * 0.5

    # --- training ----------------------------------------------------------------------------------

    def compile(self, d_optimizer=None, g_optimizer=None, n_critic=5, gp_weight=10.0, alpha=10.0,
                drift_weight=0.001, **kwargs):
        """Two Adam(1e-4, beta_1=0, beta_2=0.9) optimizers by default (WGAN-GP paper settings)."""
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}.")
        if gp_weight < 0 or alpha < 0 or drift_weight < 0:
            raise ValueError(f"gp_weight, alpha and drift_weight must be >= 0, got {gp_weight}, {alpha}, {drift_weight}.")
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9)
        if self.d_optimizer is self.g_optimizer:
            raise ValueError("d_optimizer and g_optimizer must be two different optimizer instances.")
        self.optimizer = OptimizerPair(self)
        self.optimizer.build()
        self.n_critic, self.gp_weight, self.alpha, self.drift_weight = int(n_critic), gp_weight, alpha, drift_weight

    def train_step(self, *args):
        return backend.train_step(self, self._train_step, *args)

    def _train_step(self, data):
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        if len(images.shape) != 4 or tuple(images.shape[1:]) != (self.image_size, self.image_size, 3):
            raise ValueError(
                f"Training images must be (N, {self.image_size}, {self.image_size}, 3) in [0, 1], "
                f"got shape {tuple(images.shape)}."
            )
        real = ops.cast(images, "float32") * 2.0 - 1.0
        noise = self.draw_noise(ops.shape(real)[0])
        critic_vars = self.critic.trainable_variables
        generator_vars = self.generator.trainable_variables

        def critic_fn(x):
            return self.critic(x, training=True)

        for i in range(self.n_critic):
            fake = ops.stop_gradient(self.generator([noise["critic_z"][i], noise["critic_m"][i]], training=True))

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
            fake = self.generator([noise["z"], noise["m"]], training=True)
            mem = losses.memorability_loss(self.feedback(fake), noise["m"])
            g_loss = losses.generator_loss(critic_fn(fake)) + self.alpha * mem
            return backend.scale_for_replicas(g_loss), (g_loss, mem)

        _, (g_loss, mem), grads = backend.value_and_grad(g_objective, generator_vars)
        self.g_optimizer.apply(list(grads), generator_vars)

        values = dict(d_loss=d_loss, g_loss=g_loss, gp=gp, mem_loss=mem, wasserstein=wasserstein)
        for name, value in values.items():
            self.trackers[name].update_state(ops.stop_gradient(value))
        return {name: tracker.result() for name, tracker in self.trackers.items()}


class SampleGrid(keras.callbacks.Callback):
    """Writes a PNG per epoch: one row per fixed z, columns with M rising from low to high (Fig. 2).

    `low` and `high` are on the model's condition scale (z-scores when it has a `score_scale`).
    """

    def __init__(self, directory, rows=4, columns=6, low=0.0, high=1.0, seed=0, every=1):
        super().__init__()
        self.directory, self.rows, self.every = directory, rows, every
        self.levels = np.linspace(low, high, columns)
        self.seed = seed

    def grid(self):
        """The sample grid as a uint8 (rows * S, columns * S, 3) array."""
        model = self.model
        columns = len(self.levels)
        z = np.random.default_rng(self.seed).normal(size=(self.rows, model.latent_dim)).astype("float32")
        m = target_ramp(model.condition, self.levels, seed=self.seed, map_size=model.map_size,
                        standardized=getattr(model, "standardized", False))
        images = model.generate(np.repeat(z, columns, axis=0), np.tile(m, (self.rows,) + (1,) * (m.ndim - 1)))
        s = model.image_size
        images = images.reshape(self.rows, columns, s, s, 3).transpose(0, 2, 1, 3, 4)
        return (np.clip(images, 0, 1) * 255).round().astype("uint8").reshape(self.rows * s, columns * s, 3)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        self.save(f"samples_epoch{epoch + 1:03d}.png")

    def on_train_end(self, logs=None):
        self.save("samples_final.png")

    def save(self, name):
        """Write the current grid to `directory/name`."""
        from PIL import Image

        os.makedirs(self.directory, exist_ok=True)
        Image.fromarray(self.grid()).save(os.path.join(self.directory, name))
