"""Data parallelism per backend, for `vms_zoo.distribute.setup`: TensorFlow's tf.distribute strategies, JAX's
keras.distribution.DataParallel, and torch's single device.
"""

import json
import os

import keras

from vms_zoo.backend import BACKEND

if BACKEND == "tensorflow":
    import tensorflow as tf


def data_parallel(devices=None, multi_worker=None):
    """(kind, number of replicas, tf.distribute strategy or None, keras distribution or None) of this backend's
    data-parallel setup; the arguments as `vms_zoo.distribute.setup` takes them."""
    if BACKEND == "tensorflow":
        if multi_worker is None:
            multi_worker = _tf_config_workers() > 1
        if multi_worker:
            if devices is not None:
                raise ValueError("Multi-worker training uses each worker's local devices; do not pass `devices`.")
            strategy = _strategy(("multi_worker",), _multi_worker_strategy)
            return "multi_worker", strategy.num_replicas_in_sync, strategy, None
        if devices is None:
            devices = [d.name for d in tf.config.list_logical_devices("GPU")]
            devices = devices or [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = _strategy(("mirrored", *devices), lambda: tf.distribute.MirroredStrategy(list(devices)))
        return "mirrored", strategy.num_replicas_in_sync, strategy, None
    if BACKEND == "jax":
        if multi_worker:
            raise ValueError("On JAX call keras.distribution.initialize() first; DataParallel then spans all hosts.")
        devices = list(devices) if devices is not None else keras.distribution.list_devices()
        distribution = keras.distribution.DataParallel(devices=devices)
        return "data_parallel", len(devices), None, distribution
    if BACKEND == "torch":
        if multi_worker or (devices is not None and len(devices) > 1):
            raise NotImplementedError(
                "Keras' PyTorch trainer runs one process on one device: data-parallel training is not "
                "supported on the torch backend. Use the tensorflow or jax backend for several devices."
            )
        return "single", 1, None, None
    raise ValueError(f"Unsupported Keras backend {BACKEND!r}.")


_STRATEGIES = {}  # one tf.distribute strategy per kind and device list per process


def _strategy(key, make):
    """The strategy made for `key` earlier in this process, else `make()`: a second MirroredStrategy over the
    same devices would reuse the first one's collective-op keys, and its first all-reduce fails with a
    shape mismatch between two unrelated tensors."""
    if key not in _STRATEGIES:
        _STRATEGIES[key] = make()
    return _STRATEGIES[key]


def _tf_config_workers():
    """Number of workers TF_CONFIG declares (0 without TF_CONFIG)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0
    cluster = json.loads(raw).get("cluster", {})
    return sum(len(cluster.get(role, [])) for role in ("chief", "worker"))


def _multi_worker_strategy():
    """MultiWorkerMirroredStrategy with a `reduce` that takes what Keras 3.15's `fit` gives it.

    Keras reduces a whole (x, y) batch in one call (the collective implementation takes one value at a
    time) and averages scalar logs over `axis=0` (they have no axis 0). Without this, fit fails on its
    first batch with a PerReplica conversion error, then with "Invalid reduction dimension 0".
    """
    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis):
            parent = super().reduce

            def one(v):
                rank = self.experimental_local_results(v)[0].shape.rank
                return parent(reduce_op, v, axis if rank else None)

            return tf.nest.map_structure(one, value)

    return MultiWorkerMirroredStrategy()


def split_cpu(num_devices):
    """TensorFlow only: split the host CPU into `num_devices` logical devices (tests and CPU demos of
    MirroredStrategy). Must run before TensorFlow initialises its devices."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)
