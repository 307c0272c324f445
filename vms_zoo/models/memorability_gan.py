"""What W-MEMGAN and MEMGAN share: the frozen-predictor feedback, two-optimizer compile, one train step.

Both are conditional WGAN-GPs G(z, M) whose generator loss adds the memorability feedback of Eq. (3),
alpha * E[(P(G(z, M)) - M)^2], with P a frozen VMS predictor whose true-schema channel is reduced to M's shape
(a mean for a single score, an area resize for a 10x10 map). The critic never sees M. A subclass supplies
its networks through four hooks; the step itself (noise, critic updates with the gradient penalty and drift
term, the generator update, metrics) is written once here and runs on TensorFlow, JAX and PyTorch through
`vms_zoo.backend`.

Real batches: as in WGAN-GP (Gulrajani et al., Algorithm 1) each critic update takes its own real batch by
default (`compile(real_batches="fresh")`): a train step receives n_critic real batches at once, and `fit`'s
`batch_size` is the batch of one critic update. `real_batches="reuse"` trains every critic update of a step
on the same real batch, as the shipped CPU W-MEMGANs were trained.

Images cross every public boundary in [0, 1] (`fit` data, `generate` output); the networks work in [-1, 1].
"""

import keras
import numpy as np
from keras import ops

from vms_zoo import backend, losses
from vms_zoo.backend.fit_data import fit_data
from vms_zoo.layers import KeepsSeedState
from vms_zoo.preset_io import PresetMixin, nested
from vms_zoo.settings import WMEMGANTraining
from vms_zoo.targets import (CONDITIONS, TARGET_SAMPLERS, check_sampler, sample_target_maps, sample_targets,
                             scale_to_level)
from vms_zoo.vms import (area_matrix, area_resize, check_images, check_unit_range, inputs_checked, is_array,
                         predictor_input_size, to_numpy, true_schema)

METRICS = ("d_loss", "g_loss", "gp", "mem_loss", "wasserstein")
REAL_BATCHES = ("fresh", "reuse")
SMOKE_FEEDBACK = "vms_vae_synthetic_64"  # shipped: feeds back a score-scaled smoke run (see smoke_images)


def frozen_predictor(predictor):
    """The feedback predictor as a frozen Keras model; a serialised one must be a registered VMSPredictor.

    Only our own class is rebuilt from a config, so a config file can never name a module to import.
    """
    if isinstance(predictor, dict):
        from vms_zoo.models.vms_predictor import VMSPredictor

        name = predictor.get("registered_name") or predictor.get("class_name")
        if name not in ("VMSPredictor", "vms_zoo>VMSPredictor") or not isinstance(predictor.get("config"), dict):
            raise ValueError(f"A serialised feedback predictor must be a VMSPredictor config, got class {name!r}.")
        predictor = VMSPredictor.from_config(predictor["config"])
    if not isinstance(predictor, keras.Model):
        raise TypeError(f"predictor must be a Keras model, got {type(predictor).__name__}.")
    predictor.trainable = False  # frozen for real: no trainable weights, and training=False in `feedback`
    return predictor


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


class MemorabilityGAN(KeepsSeedState, PresetMixin, keras.Model):
    """Base of the memorability-steered GANs.

    Args (shared by both):
        predictor: frozen VMS predictor, images in [0, 1] -> (N, S, S, 2) maps (or its serialised config).
        latent_dim: size of z.
        condition: "score" (M is one number per image) or "map" (a map_size x map_size target map).
        map_size: side of the target map.
        alpha: weight of the memorability feedback (10 in the papers; 0 trains without it, e.g. foils).
        seed: seed of the training noise (z, M, gradient-penalty interpolation).
        target_sampler: how target maps are drawn from P_t, "authors_code" or "uniform_extent" (see
            `vms_zoo.targets`); the default is the one the shipped CPU presets were trained with.

    Subclasses build `generator` and `critic` and implement the hooks `generator_images`, `critic_scores`,
    `real_images` (and optionally `after_generator_step`, `sampling_images`, `sample_tag`).
    """

    task = "generator"
    default_n_critic = 5
    # What each config entry must be, checked before building (see `vms_zoo.presets.check_config`).
    config_types = {"predictor": (dict, keras.Model), "latent_dim": int, "condition": CONDITIONS, "map_size": int,
                    "alpha": float, "seed": (None, int), "target_sampler": TARGET_SAMPLERS}

    def __init__(self, predictor, latent_dim, condition, map_size=10, alpha=10.0, seed=None,
                 target_sampler="uniform_extent", **kwargs):
        super().__init__(**kwargs)
        check_sampler(target_sampler)
        self.target_sampler = target_sampler
        if condition not in CONDITIONS:
            raise ValueError(f"Unknown condition {condition!r}; expected 'score' or 'map'.")
        alpha = float(alpha)
        if not np.isfinite(alpha) or alpha < 0:
            raise ValueError(f"alpha (the memorability weight) must be a finite number >= 0, got {alpha}.")
        if int(latent_dim) < 1 or int(map_size) < 1:
            raise ValueError(f"latent_dim and map_size must be >= 1, got {latent_dim}, {map_size}.")
        self.latent_dim, self.condition, self.map_size = int(latent_dim), condition, int(map_size)
        self.alpha, self.seed = alpha, seed
        self.condition_shape = (1,) if condition == "score" else (self.map_size, self.map_size, 1)
        self.predictor = frozen_predictor(predictor)
        self.predictor_size = predictor_input_size(self.predictor)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in METRICS}
        self.n_critic, self.gp_weight, self.drift_weight = self.default_n_critic, 10.0, 0.001
        self.real_batches = "fresh"

    @staticmethod
    def condition_size(config):
        """Numbers in one condition M of `config`: 1 for a score, map_size**2 for a map."""
        return 1 if config["condition"] == "score" else int(config["map_size"]) ** 2

    @staticmethod
    def predictor_size_estimate(predictor):
        """(parameters, activations per sample) of the feedback predictor: a serialised VMSPredictor from its
        config, a built model from its weights (activations unknown: 0)."""
        if isinstance(predictor, dict):
            from vms_zoo.models.vms_predictor import VMSPredictor
            from vms_zoo.preset_io import size_estimate

            return size_estimate(VMSPredictor, predictor["config"])
        return (predictor.count_params() if getattr(predictor, "built", False) else 0), 0

    def get_config(self):
        predictor = (nested("VMSPredictor", self.predictor.get_config()) if getattr(self.predictor, "task", None)
                     else keras.saving.serialize_keras_object(self.predictor))  # ours: never a module path
        return {**super().get_config(), "predictor": predictor,
                "latent_dim": self.latent_dim, "condition": self.condition, "map_size": self.map_size,
                "alpha": self.alpha, "seed": self.seed, "target_sampler": self.target_sampler}

    def get_compile_config(self):
        return None  # two optimizers and GAN weights: call compile() again after loading

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def standardized(self):
        """True when M is a z-score of real-image memorability (W-MEMGAN with a `score_scale`)."""
        return getattr(self, "score_scale", None) is not None

    # --- hooks ---------------------------------------------------------------------------------------

    def generator_images(self, z, m, training):
        """The trained generator's images in [-1, 1] at the active resolution."""
        raise NotImplementedError

    def critic_scores(self, images):
        """The critic's scores (N, 1) for images in [-1, 1] at the active resolution."""
        raise NotImplementedError

    def real_images(self, images):
        """A batch of real training images in [0, 1] -> the critic's input in [-1, 1]."""
        raise NotImplementedError

    def after_generator_step(self):
        """Called after each generator update (MEMGAN: the moving-average generator)."""

    def sampling_images(self, z, m):
        """Images in [-1, 1] that `generate` returns (rescaled): the generator in inference mode."""
        return self.generator_images(z, m, training=False)

    def sample_tag(self):
        """Name part of the sample grid written when training ends."""
        return "final"

    # --- feedback and conditions ---------------------------------------------------------------------

    def feedback(self, images):
        """P(G(z, M)) reduced to M's shape, from generator images in [-1, 1]."""
        # Map tanh output to the predictor's [0, 1] range (the original code fed raw tanh output).
        x = (images + 1.0) * 0.5
        if x.shape[1] != self.predictor_size or x.shape[2] != self.predictor_size:
            x = ops.image.resize(x, (self.predictor_size, self.predictor_size), interpolation="bilinear")
        with inputs_checked():  # in [0, 1] by construction, up to the resize's rounding
            true = ops.cast(true_schema(self.predictor(x, training=False)), "float32")
        if self.condition == "score":
            score = ops.mean(true, axis=(1, 2))
            if self.standardized:
                mean, std = self.score_scale
                score = (score - mean) / std
            return score
        return area_resize(true, self.map_size)

    def check_condition(self, m):
        """Raise a clear error unless `m` (numpy or any backend's tensor) is a condition M for this model: shape
        (N, *condition_shape), float and finite, in [0, 1] (maps, raw scores) or any z-score (standardized)."""
        if tuple(m.shape[1:]) != self.condition_shape:
            raise ValueError(f"Condition M for condition={self.condition!r} must have shape (N, "
                             f"{', '.join(map(str, self.condition_shape))}), got {tuple(m.shape)}.")
        if not self.standardized:
            check_unit_range(m, f"Condition M ({'target maps' if self.condition == 'map' else 'raw scores'})")
            return
        array = to_numpy(m)
        if array.dtype.kind != "f" or not np.all(np.isfinite(array)):
            problem = f"dtype {array.dtype}" if array.dtype.kind != "f" else "NaN or infinite values"
            raise ValueError(f"Condition M (z-scores of memorability) must be finite float32 values; got {problem}.")

    def to_condition(self, scores):
        """Raw predictor scores in [0, 1] -> this model's single-score condition M (numpy (N, 1))."""
        if self.condition != "score":
            raise ValueError("to_condition converts single scores; this model takes maps.")
        m = np.asarray(scores, "float32").reshape(-1, 1)
        if self.standardized:
            mean, std = self.score_scale
            m = (m - mean) / std
        return m.astype("float32")

    def low_high(self, low=None, high=None):
        """Pair targets on this model's condition scale: the given values, else 0.1 / 0.9 (raw scores, map
        peaks) or -1.645 / +1.645 (z-scores: the 5th / 95th percentile of the N(0, 1) training targets)."""
        default_low, default_high = (-1.645, 1.645) if self.standardized else (0.1, 0.9)
        return (default_low if low is None else float(low)), (default_high if high is None else float(high))

    def make_condition(self, value, n, seed=0):
        """M for `n` samples at one memorability request.

        value: "low" / "high" (the model's own pair targets), a raw score in [0, 1], or a true-schema map
        (2-D array in [0, 1], any size: area-resized to the map grid, or averaged for a score model).
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"The number of samples n must be a positive integer, got {n!r}.")
        if isinstance(value, str):
            if value not in ("low", "high"):
                raise ValueError(f"Unknown memorability {value!r}; expected 'low', 'high', a score or a map.")
            level, raw = self.low_high()[value == "high"], False
        else:
            target = memorability_request(value)
            if target.ndim == 2 and self.condition == "map":
                m = area_matrix(target.shape[0], self.map_size) @ target @ area_matrix(target.shape[1],
                                                                                        self.map_size).T
                return np.repeat(m[None, :, :, None], n, axis=0).astype("float32")
            level, raw = float(target.mean()), True
        if self.condition == "map":
            layouts = ops.convert_to_numpy(sample_target_maps(n, seed=seed, size=self.map_size,
                                                              sampler=self.target_sampler))
            return scale_to_level(layouts, np.full(n, level))
        m = np.full((n, 1), level, "float32")
        return self.to_condition(m) if raw else m

    # --- generation ----------------------------------------------------------------------------------

    def generate(self, z, m, batch_size=64):
        """Images in [0, 1] (numpy (N, S, S, 3)) for latent codes z (N, latent_dim) and conditions m."""
        m = to_numpy(m)
        self.check_condition(m)
        z, m = np.asarray(to_numpy(z), "float32"), np.asarray(m, "float32")
        self.check_latents(z, len(m))
        images = backend.in_batches(self.sampling_images, [z, m], batch_size)
        return np.clip((images + 1.0) * 0.5, 0.0, 1.0)

    def check_latents(self, z, n):
        """Raise a clear error unless `z` (numpy) is (n, latent_dim) and finite: NaN codes make NaN images."""
        if z.shape != (n, self.latent_dim):
            raise ValueError(f"z must have shape ({n}, {self.latent_dim}), got {z.shape}.")
        if not np.all(np.isfinite(z)):
            raise ValueError("z (the latent codes) must be finite; got NaN or infinite values.")

    def __call__(self, inputs, *args, **kwargs):
        """[z, M] -> images in [-1, 1]. z and M are checked when they hold values (traced ones cannot be), here
        rather than in `call`, where Keras would wrap the one-line error in a report of the arguments."""
        z, m = inputs
        if backend.has_values(z) and backend.has_values(m):
            m = to_numpy(m)
            self.check_condition(m)
            self.check_latents(to_numpy(z), len(m))
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, training=False):
        return self.generator_images(inputs[0], inputs[1], training=training)

    # --- training ------------------------------------------------------------------------------------

    def default_optimizer(self):
        """A fresh optimizer for the critic or the generator when compile() is given none."""
        return keras.optimizers.Adam(1e-4, **WMEMGANTraining.ADAM)  # WGAN-GP's settings

    def compile(self, d_optimizer=None, g_optimizer=None, n_critic=None, gp_weight=10.0, drift_weight=0.001,
                real_batches="fresh", **kwargs):
        """Two optimizers (critic, generator), critic updates per generator update, GP and drift weights, and
        whether each critic update takes a fresh real batch ("fresh") or all reuse one ("reuse")."""
        n_critic = self.default_n_critic if n_critic is None else int(n_critic)
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}.")
        if real_batches not in REAL_BATCHES:
            raise ValueError(f"real_batches must be 'fresh' or 'reuse', got {real_batches!r}.")
        if gp_weight < 0 or drift_weight < 0:
            raise ValueError(f"gp_weight and drift_weight must be >= 0, got {gp_weight}, {drift_weight}.")
        if not kwargs.get("run_eagerly"):
            kwargs.setdefault("jit_compile", backend.jit_compile_with_double_backprop())
        super().compile(**kwargs)
        self.d_optimizer = with_loss_scaling(d_optimizer or self.default_optimizer(), self.dtype_policy)
        self.g_optimizer = with_loss_scaling(g_optimizer or self.default_optimizer(), self.dtype_policy)
        if self.d_optimizer is self.g_optimizer:
            raise ValueError("d_optimizer and g_optimizer must be two different optimizer instances.")
        self.optimizer = OptimizerPair(self)
        self.optimizer.build()
        self.n_critic, self.gp_weight, self.drift_weight = n_critic, float(gp_weight), float(drift_weight)
        self.real_batches = real_batches

    def fit(self, x=None, y=None, batch_size=None, *args, **kwargs):
        """keras fit, after checking the training images: whole arrays, or a dataset's first batch.

        `batch_size` (arrays) is the real batch of one critic update: with fresh real batches a train step
        takes n_critic of them. A dataset's batches are whole train steps (n_critic * batch images).
        """
        check_training_data(x)
        if is_array(x) and self.real_batches == "fresh":
            batch_size = (batch_size or 32) * self.n_critic
        if not args:  # fit's positional arguments (epochs, ..., shuffle, ...) go to Keras as they are
            x, y, batch_size, kwargs = fit_data(x, y, batch_size, kwargs)
        return super().fit(x, y, batch_size, *args, **kwargs)

    def train_on_batch(self, x, *args, **kwargs):
        """One train step on a batch of images in [0, 1], checked like `fit`'s (with fresh real batches it
        holds the n_critic batches of the step's critic updates)."""
        check_training_data(x)
        return super().train_on_batch(x, *args, **kwargs)

    def critic_batches(self, real):
        """The real batch of each critic update, from the step's real images (in [-1, 1]).

        "fresh": the images are dealt out in turn, update i taking images i, i + k, i + 2k, ... (k = n_critic;
        a remainder of fewer than k images is left out). Dealt rather than cut in blocks, so that under data
        parallelism each replica holds its own share of every update's batch and matches one device.
        "reuse": every update takes the whole batch.
        """
        k = self.n_critic
        if self.real_batches == "reuse" or k == 1:
            return [real] * k
        n = real.shape[0]
        if isinstance(n, int):
            if n < k:
                raise ValueError(f"A train step with fresh real batches needs at least n_critic = {k} images, got {n}.")
            real = real[:n - n % k]
        else:  # a batch dimension unknown while tracing
            real = real[:ops.shape(real)[0] // k * k]
        dealt = ops.reshape(real, (-1, k) + tuple(real.shape[1:]))
        return [dealt[:, i] for i in range(k)]

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
            "critic_m": ops.reshape(self.sample_conditions(k * n, seed), (k, -1) + self.condition_shape),
            "mix": keras.random.uniform((k, n, 1, 1, 1), seed=seed),
            "z": normal((n, self.latent_dim), seed=seed),
            "m": self.sample_conditions(n, seed),
        }
        if replicas == 1:
            return noise
        start = index * batch_size
        return {key: value[:, start:start + batch_size] if key in ("critic_z", "critic_m", "mix")
                else value[start:start + batch_size] for key, value in noise.items()}

    def sample_conditions(self, n, seed):
        """`n` training targets M (in-graph): P_t maps from this model's sampler, or scores."""
        return sample_targets(self.condition, n, seed, self.map_size, self.standardized, self.target_sampler)

    # Under a mixed dtype policy the networks compute in bfloat16 / float16; losses, the gradient penalty and the
    # feedback are computed in float32 from their outputs (Keras' mixed-precision rule: float32 at the loss).

    def float32_images(self, z, m):
        """The trained generator's images (training mode) as float32."""
        return ops.cast(self.generator_images(z, m, training=True), "float32")

    def float32_scores(self, images):
        """The critic's scores as float32."""
        return ops.cast(self.critic_scores(images), "float32")

    def train_step(self, *args):
        return backend.train_step(self, self._train_step, *args)

    def _train_step(self, data):
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        if "int" in str(images.dtype):
            raise ValueError(f"Training images must be float32 in [0, 1], got dtype {images.dtype}.")
        reals = self.critic_batches(ops.cast(self.real_images(ops.cast(images, "float32")), "float32"))
        noise = self.draw_noise(ops.shape(reals[0])[0])
        critic_vars, generator_vars = self.critic.trainable_variables, self.generator.trainable_variables

        for i, real in enumerate(reals):
            fake = ops.stop_gradient(self.float32_images(noise["critic_z"][i], noise["critic_m"][i]))

            def d_objective():
                real_scores, fake_scores = self.float32_scores(real), self.float32_scores(fake)
                gp = losses.gradient_penalty(self.float32_scores, real, fake, noise["mix"][i])
                d_loss = (losses.critic_loss(real_scores, fake_scores) + self.gp_weight * gp
                          + losses.drift_loss(real_scores, self.drift_weight))
                # Replicas' gradients are summed under tf.distribute: each contributes its share of the mean.
                return self.d_optimizer.scale_loss(backend.scale_for_replicas(d_loss)), (d_loss, gp,
                                                            losses.wasserstein_estimate(real_scores, fake_scores))

            _, (d_loss, gp, wasserstein), grads = backend.value_and_grad(d_objective, critic_vars)
            backend.apply_gradients(self.d_optimizer, list(grads), critic_vars)

        def g_objective():
            fake = self.float32_images(noise["z"], noise["m"])
            mem = losses.memorability_loss(self.feedback(fake), noise["m"])
            g_loss = losses.generator_loss(self.float32_scores(fake)) + self.alpha * mem
            return self.g_optimizer.scale_loss(backend.scale_for_replicas(g_loss)), (g_loss, mem)

        _, (g_loss, mem), grads = backend.value_and_grad(g_objective, generator_vars)
        backend.apply_gradients(self.g_optimizer, list(grads), generator_vars)
        self.after_generator_step()

        values = dict(d_loss=d_loss, g_loss=g_loss, gp=gp, mem_loss=mem, wasserstein=wasserstein)
        for name, value in values.items():
            self.trackers[name].update_state(ops.stop_gradient(value))
        return {name: tracker.result() for name, tracker in self.trackers.items()}


def memorability_request(value):
    """A raw score or a 2-D true-schema map as a float32 array, checked: finite and in [0, 1]."""
    expected = "a score in [0, 1] or a 2-D (H, W) true-schema map in [0, 1]"
    try:
        if value is None or isinstance(value, bool):
            raise TypeError
        target = np.asarray(to_numpy(value), "float32")
    except (TypeError, ValueError):
        raise ValueError(f"A memorability request must be 'low', 'high', {expected}; got {value!r}.") from None
    if target.ndim not in (0, 2):
        raise ValueError(f"A memorability request must be {expected}; got an array of shape {target.shape}.")
    return check_unit_range(target, "Target maps" if target.ndim == 2 else "Memorability scores")


def with_loss_scaling(optimizer, policy):
    """`optimizer` wrapped in Keras' LossScaleOptimizer under a float16 policy (float16 gradients underflow
    without it; bfloat16 has float32's range and needs none), as Keras' own compile() does for one optimizer."""
    if policy.compute_dtype == "float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def check_training_data(x, what="Training images"):
    """The image contract for `fit` data: a whole array is checked, a dataset by its first batch."""
    if x is None:
        return
    if is_array(x):
        check_images(x, what=what)
        return
    if isinstance(x, keras.utils.PyDataset):
        batch = x[0] if len(x) else None
    elif hasattr(x, "as_numpy_iterator"):  # tf.data
        batch = next(x.take(1).as_numpy_iterator(), None)
    else:
        return
    if batch is None:
        raise ValueError(f"{what} are empty: the dataset yields no batch.")
    if isinstance(batch, (tuple, list)):
        batch = batch[0]
    check_images(batch, what=what)


def smoke_images(training, images):
    """Part of both GANs' smoke rules: `images` real images and pairs, and on the synthetic scenes enough scenes to
    hold that many of the preset's category. A score-scaled run is fed back by SMOKE_FEEDBACK, a shipped trained
    predictor, when it would train its own: one trained for a smoke run's few steps scores every real image the
    same (std ~1e-7), and `fit_score_scale` refuses such z-scores."""
    from vms_zoo.data.synthetic import CATEGORIES
    from vms_zoo.preset_io import is_path, weights_status

    training.update(num_images=images, pairs=images)
    if training["data"] == "synthetic":
        training["num_scenes"] = len(CATEGORIES) * images
    predictor = training.get("predictor")
    if (training.get("score_scale") is True and not is_path(predictor)
            and weights_status(predictor) not in ("shipped", "download")):
        training["predictor"] = SMOKE_FEEDBACK
