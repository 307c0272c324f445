"""Joint image/map augmentation: one random geometric transform applied to a scene and its VMS map.

The paper augments with shifts of 0.1 of the image size, zoom and horizontal flips; the map must move
with the image, so both are stacked along channels and transformed together. Built from Keras'
preprocessing layers, which run inside tf.data whatever the Keras backend.
"""

import keras
import tensorflow as tf


class JointAugment:
    """Callable for `tf.data.Dataset.map`: (images, vms) -> (images, vms) under the same transform."""

    def __init__(self, shift=0.1, zoom=0.1, flip=True, seed=None):
        self.shift, self.zoom, self.flip, self.seed = shift, zoom, flip, seed
        seeds = [None] * 3 if seed is None else [seed, seed + 1, seed + 2]  # independent draws per step
        steps = [keras.layers.RandomFlip("horizontal", seed=seeds[0])] if flip else []
        if shift:
            steps.append(keras.layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seeds[1]))
        if zoom:
            steps.append(keras.layers.RandomZoom(zoom, zoom, fill_mode="constant", seed=seeds[2]))
        self.steps = steps  # called one by one: each is tf.data-aware, a Sequential around them is not

    def __call__(self, images, vms, *rest):
        stacked = tf.concat([images, tf.cast(vms, images.dtype)], axis=-1)
        out = stacked
        for step in self.steps:
            out = step(out, training=True)
        # Bilinear resampling keeps values inside the convex hull of the inputs; the clip only guards round-off.
        out = tf.clip_by_value(out, 0.0, 1.0)
        return (out[..., :3], out[..., 3:], *rest)


def augmented_batches(images, vms, batch_size, seed=None):
    """An endless tf.data pipeline of shuffled (images, vms) training batches, each pair under its own
    `JointAugment` transform; `fit` then needs steps_per_epoch."""
    return (tf.data.Dataset.from_tensor_slices((images, vms))
            .shuffle(len(images), seed=seed).repeat()
            .batch(batch_size, drop_remainder=True)
            .map(JointAugment(seed=seed), num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))
