"""On TensorFlow the GANs' fit feeds Keras' own batches through tf.data without autotuning (deleting an autotuned
iterator at an epoch's end waits for the autotuner's next wake-up, up to doubling an epoch's time)."""

import keras
import numpy as np
import pytest

from helpers import make_wmemgan
from vms_zoo.backend.fit_data import without_autotune

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.data is TensorFlow's")


def batches(adapter):
    return [np.asarray(b) for b in adapter.get_tf_dataset()]


@pytest.mark.parametrize("shuffle", [False, True])
def test_same_batches_as_keras_without_autotune(shuffle):
    import tensorflow as tf
    from keras.src.trainers.data_adapters import get_data_adapter

    x = np.arange(10 * 3, dtype="float32").reshape(10, 3)
    tf.random.set_seed(0)
    ours = without_autotune(get_data_adapter(x, batch_size=4, shuffle=shuffle))
    assert ours.get_tf_dataset().options().autotune.enabled is False
    tf.random.set_seed(0)
    ours_batches = batches(ours)
    tf.random.set_seed(0)
    keras_batches = batches(get_data_adapter(x, batch_size=4, shuffle=shuffle))
    assert [b.shape for b in ours_batches] == [(4, 3), (4, 3), (2, 3)]
    for a, b in zip(ours_batches, keras_batches):
        np.testing.assert_array_equal(a, b)


def test_fit_on_arrays_and_a_py_dataset():
    model = make_wmemgan()
    model.compile(n_critic=2)
    x = np.random.default_rng(0).uniform(size=(16, 16, 16, 3)).astype("float32")
    history = model.fit(x, batch_size=4, epochs=2, verbose=0)  # 2 steps of 2 x 4 real images per epoch
    assert len(history.history["d_loss"]) == 2

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return x[8 * index:8 * index + 8]

    history = model.fit(Batches(), epochs=1, verbose=0)
    assert np.isfinite(history.history["g_loss"][0])
