"""Data-parallel training on many devices and machines: one call picks the right setup for the backend.

    dist = vms_zoo.distribute.setup()          # all local GPUs (or CPUs); several machines from TF_CONFIG
    with dist.scope():                         # build, compile *and* fit inside (JAX reads it at fit time)
        model = VMSPredictor(...)
        model.compile(...)
        model.fit(x, y, batch_size=dist.global_batch(32))

- TensorFlow: `tf.distribute.MirroredStrategy` over the local GPUs (the logical CPUs when there are none),
  or `tf.distribute.MultiWorkerMirroredStrategy` when TF_CONFIG names a cluster of several workers.
  Replicas' gradients are summed, so hand-written losses go through `vms_zoo.backend.scale_for_replicas`.
- JAX: `keras.distribution.DataParallel` over `keras.distribution.list_devices()`: one global computation
  with the batch sharded, so losses, batch-norm statistics and random draws are those of one device. For
  several hosts call `keras.distribution.initialize()` first (see its docs); the devices then span them.
- PyTorch: Keras' torch trainer runs one process on one device; `setup()` gives that single device and
  refuses to pretend otherwise when more are asked for.

Random draws on TensorFlow: a `keras.random.SeedGenerator` is a mirrored variable, so every replica would
draw the *same* numbers. The VAE's sampling and the GANs' noise therefore draw for the global batch and
keep their replica's slice (`vms_zoo.backend.replica_slice`): the same numbers as one device. The GANs'
minibatch-stddev groups are consecutive samples, so they also stay within a replica. With those, a few
training steps on 2 replicas give one device's weights (tests/test_distribute.py).
"""

import contextlib
import json
import os

import keras

from vms_zoo.backend.distribution import data_parallel, split_cpu

__all__ = ["Setup", "setup", "for_recipe", "is_chief", "split_cpu"]


class Setup:
    """What `setup()` chose: `.scope()`, `.num_replicas`, and the tf `strategy` or keras `distribution`."""

    def __init__(self, kind, num_replicas, strategy=None, distribution=None):
        self.kind, self.num_replicas = kind, int(num_replicas)
        self.strategy, self.distribution = strategy, distribution
        self.backend = keras.backend.backend()

    def scope(self):
        """Context in which models are built, compiled and trained."""
        if self.strategy is not None:
            return self.strategy.scope()
        if self.distribution is not None:
            return self.distribution.scope()
        return contextlib.nullcontext()

    def global_batch(self, per_replica):
        """The batch size to give `fit`: Keras splits it over the replicas."""
        return int(per_replica) * self.num_replicas

    def tuner_kwargs(self):
        """Keyword arguments for a keras-tuner Tuner: its `distribution_strategy` is TensorFlow's only."""
        return {"distribution_strategy": self.strategy} if self.strategy is not None else {}

    def __repr__(self):
        return f"Setup(backend={self.backend!r}, kind={self.kind!r}, num_replicas={self.num_replicas})"


def for_recipe(enabled):
    """What a recipe's `--distribute` flag means: `setup()` when set (and says so), else one device."""
    if not enabled:
        return Setup("single", 1)
    dist = setup()
    print(f"Training on {dist.num_replicas} replicas ({dist.kind}, {dist.backend})", flush=True)
    return dist


def is_chief():
    """Whether this process writes results: always, except a non-chief worker of a TF_CONFIG cluster (the
    chief, or worker 0 when the cluster names no chief, is the one that writes)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    config = json.loads(raw)
    task = config.get("task", {})
    has_chief = bool(config.get("cluster", {}).get("chief"))
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    return kind == "chief" or (not has_chief and kind == "worker" and index == 0)


def setup(devices=None, multi_worker=None):
    """The data-parallel setup for the current Keras backend.

    Args:
        devices: device names to replicate over (TensorFlow: e.g. ["/gpu:0", "/gpu:1"]; JAX: e.g.
            ["cpu:0", "cpu:1"]); default all local GPUs, else all (logical) CPUs.
        multi_worker: TensorFlow only; True uses MultiWorkerMirroredStrategy (the cluster comes from
            TF_CONFIG). Default: True when TF_CONFIG lists more than one worker.
    """
    kind, replicas, strategy, distribution = data_parallel(devices, multi_worker)
    return Setup(kind, replicas, strategy=strategy, distribution=distribution)
