"""What `fit` is given, per backend: on TensorFlow the GANs' training data go through Keras' own data adapter with
tf.data's autotuning off.

Deleting an autotuned tf.data iterator, as `fit` does at the end of every epoch, waits for the autotuner's next
wake-up, at 10 ms * (2^k - 1) after the first batch (5.1 s, 10.2 s, 20.5 s, ...), so some epochs took twice as long
as others (docs/performance.md).
"""

from vms_zoo.backend import BACKEND


def fit_data(x, y, batch_size, fit_kwargs):
    """fit's (x, y, batch_size, other keyword arguments): on TensorFlow `x` (arrays, a PyDataset or a tf.data
    pipeline) as Keras' data adapter without autotuning, which takes over y, batch_size, shuffle, sample_weight and
    class_weight; unchanged elsewhere, and with a validation_split (Keras splits arrays itself)."""
    if BACKEND != "tensorflow" or x is None or fit_kwargs.get("validation_split"):
        return x, y, batch_size, fit_kwargs
    from keras.src.trainers.data_adapters import get_data_adapter

    kwargs = dict(fit_kwargs)
    adapter = get_data_adapter(x, y, kwargs.pop("sample_weight", None), batch_size, kwargs.get("steps_per_epoch"),
                               kwargs.pop("shuffle", True), kwargs.pop("class_weight", None))
    return without_autotune(adapter), None, None, kwargs


def without_autotune(adapter):
    """A Keras data adapter whose tf.data pipeline runs without tf.data's autotuning (TensorFlow backend).
    Arrays, PyDatasets and tf.data pipelines keep their batches, order and options otherwise."""
    import tensorflow as tf

    make_dataset = adapter.get_tf_dataset

    def get_tf_dataset():
        options = tf.data.Options()
        options.autotune.enabled = False
        return make_dataset().with_options(options)

    adapter.get_tf_dataset = get_tf_dataset
    return adapter
