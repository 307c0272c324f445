"""Custom layers shared by the zoo's models (keras.ops only, so they run on every backend)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="vms_zoo")
class Sampling(keras.layers.Layer):
    """Reparameterised draw z = mean + exp(log_var / 2) * eps while training; z = mean at inference.

    Returning the mean at inference makes `predict` deterministic; pass `sample=True` to draw anyway.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False, sample=False):
        z_mean, z_log_var = inputs
        if not (training or sample):
            return z_mean
        eps = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="vms_zoo")
class VGGPreprocess(keras.layers.Layer):
    """Maps images in [0, 1] to the caffe-style input VGG16's ImageNet weights expect."""

    def call(self, inputs):
        return keras.applications.vgg16.preprocess_input(inputs * 255.0)
