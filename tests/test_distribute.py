"""Data-parallel training gives the weights of one device: MirroredStrategy and multi-worker on TensorFlow,
DataParallel on JAX, and a plain refusal on PyTorch.

Devices must be configured before the framework initialises, so each check runs this file as a script in a
fresh process (`python tests/test_distribute.py MODE`) that prints its results as JSON.

The references are plain one-device runs with the same weights, data, seeds and global batch. SGD keeps the
comparison sharp: a wrong gradient scale (losses not divided among tf.distribute replicas) or noise repeated
across replicas (they share one mirrored seed state; `vms_zoo.backend.replica_slice` gives each its slice of
the global batch's draws) moves the weights by a whole update, while two devices' float-level differences move
them by a fraction of one: weights are compared to within 1e-3 of each tensor's update. (Not Adam: its first
steps are lr * sign(gradient), so a bias whose true gradient is zero, e.g. one followed by batch norm, takes a
full step in the direction of float noise.)
"""

import contextlib
import json
import os
import socket
import subprocess
import sys

import numpy as np
import keras
import pytest

# helpers.py sits beside this file: on sys.path under pytest and when run as a script.
from helpers import assert_same_training, make_memgan, make_wmemgan, tiny_predictor_config

REPLICAS, BATCH, STEPS = 2, 8, 3
CONFIG = tiny_predictor_config(kl_weight=0.5, kl_warmup_steps=2, l2=0.001)
BACKEND = keras.backend.backend()
# Two host devices for JAX, on top of the flags conftest sets.
TWO_CPU_DEVICES = {"XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2".strip()}


# --- the script side ------------------------------------------------------------------------------------

def data():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(BATCH * STEPS, 32, 32, 3)).astype("float32")
    y = rng.uniform(size=(BATCH * STEPS, 32, 32, 2)).astype("float32")
    return x, y


def train(dist=None):
    """STEPS SGD steps of the tiny predictor from fixed weights; returns the initial and final weights and the
    last loss."""
    from vms_zoo.models.vms_predictor import VMSPredictor

    keras.utils.set_random_seed(0)
    with dist.scope() if dist is not None else contextlib.nullcontext():
        model = VMSPredictor(**CONFIG)
        rng = np.random.default_rng(1)
        model.set_weights([rng.normal(0, 0.03, w.shape).astype("float32") if w.ndim > 1 else w
                           for w in model.get_weights()])
        initial = [w.tolist() for w in model.get_weights()]
        model.compile(optimizer=keras.optimizers.SGD(0.005))
        x, y = data()
        history = model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return initial, [w.tolist() for w in model.get_weights()], float(history.history["loss"][-1])


def gan_weights(kind, dist):
    """All weights after two SGD steps (global batch 8) of a tiny W-MEMGAN, or of a tiny MEMGAN mid-fade
    (critic, generator and its moving average), built and trained in `dist`'s scope."""
    keras.utils.set_random_seed(0)
    with dist.scope() if dist is not None else contextlib.nullcontext():
        if kind == "wmemgan":
            model, size = make_wmemgan("score", alpha=10.0), 16
            model.compile(d_optimizer=keras.optimizers.SGD(1e-2), g_optimizer=keras.optimizers.SGD(1e-2),
                          n_critic=2)
        else:
            model, size = make_memgan(8, ema_beta=0.5), 8  # a fast average, so a wrong EMA update shows
            model.compile(d_optimizer=keras.optimizers.SGD(1e-2), g_optimizer=keras.optimizers.SGD(1e-2))
            model.set_growth_state(1, 0.5)
        initial = [w.tolist() for w in model.get_weights()]
        images = np.random.default_rng(4).uniform(size=(16, size, size, 3)).astype("float32")
        model.fit(images, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return initial, [w.tolist() for w in model.get_weights()]


def recipe():
    """vms_zoo.training.train(distribute=True) on the two devices: its loss and held-out rho2D."""
    import tempfile

    from vms_zoo.training import train as train_preset

    with tempfile.TemporaryDirectory() as out:
        metrics = train_preset("vms_vae_synthetic_scorer_32", output=out, distribute=True, verbose=0, overrides={
            "num_train": 32, "num_test": 16, "epochs": 1, "steps_per_epoch": 2, "batch_size": 8})
    return {"loss": metrics["history"]["loss"], "rho2d": metrics["model"]["overall"]["rho2d_true"]}


def tune():
    """keras-tuner's distribution_strategy, through the alpha sweep with distribute=True: its setup and alphas."""
    import tempfile

    from vms_zoo.training.alpha_sweep import sweep

    with tempfile.TemporaryDirectory() as out:
        record = sweep(out, alphas=(10.0,), pairs=8, distribute=True, verbose=0, features="none", overrides={
            "config.image_size": 16, "config.latent_dim": 8, "config.filters": 16, "num_scenes": 32,
            "category": "all", "epochs": 1, "batch_size": 8, "n_critic": 1})
    return {"tune": record["distribute"], "alphas": [r["alpha"] for r in record["trials"]]}


def script(mode):
    from vms_zoo import distribute

    if mode == "parallel":  # every data-parallel run in one process: two replicas against one device
        if BACKEND == "tensorflow":
            distribute.split_cpu(REPLICAS)
        dist = distribute.setup()
        initial, weights, loss = train(dist)
        _, ref_weights, ref_loss = train(None)
        out = {"predictor": {"replicas": dist.num_replicas, "kind": dist.kind, "initial": initial,
                             "weights": weights, "loss": loss, "ref_weights": ref_weights, "ref_loss": ref_loss}}
        for kind in ("wmemgan", "memgan"):  # two SGD steps of a tiny GAN
            initial, weights = gan_weights(kind, dist)
            out[kind] = {"replicas": dist.num_replicas, "initial": initial, "weights": weights,
                         "ref_weights": gan_weights(kind, None)[1]}
        out["recipe"] = recipe()  # same process: setup() hands the training API the same strategy
        # Last, as keras-tuner clears the session between trials. Its trials get the same cached strategy too: a
        # second MirroredStrategy after clear_session() could clash on collective-op keys with the first one's.
        out["tune"] = tune()
        return out
    if mode == "worker":
        dist = distribute.setup()
        _, weights, loss = train(dist)
        return {"replicas": dist.num_replicas, "kind": dist.kind, "weights": weights, "loss": loss}
    raise ValueError(mode)


# --- the test side ---------------------------------------------------------------------------------------

def run_script(mode, env=None, timeout=120):
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    proc = subprocess.run([sys.executable, __file__, mode], env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def parallel():
    """The predictor, W-MEMGAN and MEMGAN each trained on two replicas and on one device, the recipe and the
    alpha sweep (one subprocess)."""
    return run_script("parallel", env=TWO_CPU_DEVICES, timeout=420)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute is TensorFlow's")
@pytest.mark.slow
def test_mirrored_strategy_matches_one_device(parallel):
    out = parallel["predictor"]
    assert out["kind"] == "mirrored" and out["replicas"] == REPLICAS
    assert np.isfinite(out["loss"])
    assert abs(out["loss"] - out["ref_loss"]) < 1e-3 * max(1.0, abs(out["ref_loss"]))
    assert_same_training(out["weights"], out["ref_weights"], out["initial"])


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution.DataParallel is JAX's")
@pytest.mark.slow
def test_jax_data_parallel_matches_one_device(parallel):
    out = parallel["predictor"]
    assert out["kind"] == "data_parallel" and out["replicas"] == REPLICAS
    assert abs(out["loss"] - out["ref_loss"]) < 1e-3 * max(1.0, abs(out["ref_loss"]))
    assert_same_training(out["weights"], out["ref_weights"], out["initial"])


@pytest.mark.skipif(BACKEND not in ("tensorflow", "jax"), reason="data parallelism is tensorflow's and jax's")
@pytest.mark.parametrize("kind", ["wmemgan", "memgan"])
@pytest.mark.slow
def test_gan_data_parallel_matches_one_device(kind, parallel):
    out = parallel[kind]
    assert out["replicas"] == REPLICAS
    assert_same_training(out["weights"], out["ref_weights"], out["initial"])


def test_update_relative_comparison_catches_a_wrong_gradient_scale():
    rng = np.random.default_rng(0)
    initial = [rng.normal(size=(3, 4)), rng.normal(size=(5,))]
    updates = [0.01 * rng.normal(size=(3, 4)), 1e-7 * rng.normal(size=(5,))]  # the second: float noise only
    ref = [w + u for w, u in zip(initial, updates)]
    noisy = [r * (1 + 1e-7 * rng.normal(size=r.shape)) for r in ref]
    assert_same_training(noisy, ref, initial)
    with pytest.raises(AssertionError, match="weight 0"):  # gradients summed, not averaged, over 2 replicas
        assert_same_training([w + 2 * u for w, u in zip(initial, updates)], ref, initial)
    with pytest.raises(AssertionError, match="did not move"):
        assert_same_training(initial, initial, initial)


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.skipif(BACKEND != "tensorflow", reason="MultiWorkerMirroredStrategy is TensorFlow's")
@pytest.mark.slow
def test_multi_worker_mirrored_strategy_two_processes():
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "3"}
    procs = [subprocess.Popen(
        [sys.executable, __file__, "worker"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**env, "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})})
        for i in range(2)]
    outs = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=150)
            assert p.returncode == 0, stderr[-3000:]
            outs.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [o["kind"] for o in outs] == ["multi_worker"] * 2 and outs[0]["replicas"] == 2
    assert np.isfinite(outs[0]["loss"])
    for i, (a, b) in enumerate(zip(outs[0]["weights"], outs[1]["weights"])):  # synchronous: workers agree
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-6, atol=1e-7, err_msg=f"weight {i}")


@pytest.mark.skipif(BACKEND not in ("tensorflow", "jax"), reason="data parallelism is tensorflow's and jax's")
@pytest.mark.slow
def test_recipes_distribute_flag(parallel):
    out = parallel["recipe"]
    assert len(out["loss"]) == 1 and np.isfinite(out["loss"]).all() and -1.0 <= out["rho2d"] <= 1.0


@pytest.mark.skipif(BACKEND not in ("tensorflow", "jax"),
                    reason="keras-tuner's distribution_strategy is TensorFlow's; JAX runs the search in DataParallel")
@pytest.mark.slow
def test_tune_alpha_distribute_flag(parallel):
    out = parallel["tune"]
    assert "num_replicas=2" in out["tune"] and out["alphas"] == [10.0]


@pytest.mark.skipif(BACKEND != "torch", reason="the torch trainer's limits")
def test_torch_is_single_device():
    from vms_zoo import distribute

    dist = distribute.setup()
    assert dist.num_replicas == 1 and dist.kind == "single"
    with dist.scope():
        pass
    with pytest.raises(NotImplementedError, match="one device"):
        distribute.setup(devices=["cuda:0", "cuda:1"])


if __name__ == "__main__":
    print(json.dumps(script(sys.argv[1])))
