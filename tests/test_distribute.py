"""Data-parallel training gives the weights of one device: MirroredStrategy and multi-worker on TensorFlow,
DataParallel on JAX, and a plain refusal on PyTorch.

Devices must be configured before the framework initialises, so each check runs this file as a script in a
fresh process (`python tests/test_distribute.py MODE`) that prints its results as JSON.

What differs on TensorFlow, and how the comparison stays honest: a SeedGenerator is a mirrored variable,
so each of R replicas draws the *same* latent noise of shape (B / R, m). The one-device reference draws
noise of that shape from the same seed state and tiles it R times, i.e. it gets identical per-replica draws;
everything else (weights, data, SGD, so that a wrong gradient scale would show) is the same.
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

from vms_zoo import backend as vms_backend

REPLICAS, BATCH, STEPS = 2, 8, 3
CONFIG = dict(image_size=32, encoder="conv", encoder_weights=None, encoder_filters=(8, 16), dense_units=16,
              latent_dim=4, decoder_filters=(16, 8, 8, 8), kl_weight=0.5, kl_warmup_steps=2, l2=0.001, seed=0)
BACKEND = keras.backend.backend()
# With vms_zoo.backend.replica_slice (and the Sampling / WMEMGAN draws that use it) each tf.distribute replica
# keeps its own slice of the global batch's noise: then one device is the reference as it is.
PER_REPLICA_NOISE = hasattr(vms_backend, "replica_slice")


# --- the script side ------------------------------------------------------------------------------------

def data():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(BATCH * STEPS, 32, 32, 3)).astype("float32")
    y = rng.uniform(size=(BATCH * STEPS, 32, 32, 2)).astype("float32")
    return x, y


def tile_noise(sampler, replicas):
    """Make a one-device sampler draw like `replicas` replicas do: one (B / R, m) draw, repeated R times."""
    from keras import ops

    def call(inputs, training=False, sample=False):
        z_mean, z_log_var = inputs
        if not (training or sample):
            return z_mean
        eps = keras.random.normal((ops.shape(z_mean)[0] // replicas, z_mean.shape[1]), seed=sampler.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * ops.tile(eps, (replicas, 1))

    sampler.call = call


def train(dist=None, replicas_noise=1):
    """STEPS SGD steps of the tiny predictor from fixed weights; returns the weights and the last loss."""
    from vms_zoo.models.vae import VMSPredictor

    keras.utils.set_random_seed(0)
    with dist.scope() if dist is not None else contextlib.nullcontext():
        model = VMSPredictor(**CONFIG)
        rng = np.random.default_rng(1)
        model.set_weights([rng.normal(0, 0.03, w.shape).astype("float32") if w.ndim > 1 else w
                           for w in model.get_weights()])
        if replicas_noise > 1:
            tile_noise(model.sampler, replicas_noise)
        model.compile(optimizer=keras.optimizers.SGD(0.05))
        x, y = data()
        history = model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return [w.tolist() for w in model.get_weights()], float(history.history["loss"][-1])


def script(mode):
    from vms_zoo import distribute

    if mode == "mirrored":
        distribute.split_cpu(REPLICAS)
        dist = distribute.setup()
        weights, loss = train(dist)
        ref_weights, ref_loss = train(None, replicas_noise=1 if PER_REPLICA_NOISE else dist.num_replicas)
        return {"replicas": dist.num_replicas, "kind": dist.kind, "weights": weights, "loss": loss,
                "ref_weights": ref_weights, "ref_loss": ref_loss}
    if mode == "wmemgan":  # two SGD steps of a tiny W-MEMGAN, two replicas against one device
        distribute.split_cpu(REPLICAS)
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from test_wgan import make_gan

        def gan(dist):
            keras.utils.set_random_seed(0)
            with dist.scope() if dist is not None else contextlib.nullcontext():
                model = make_gan("score")
                model.compile(d_optimizer=keras.optimizers.SGD(1e-2), g_optimizer=keras.optimizers.SGD(1e-2),
                              n_critic=2, alpha=10.0)
                images = np.random.default_rng(4).uniform(size=(16, 16, 16, 3)).astype("float32")
                model.fit(images, batch_size=8, epochs=1, shuffle=False, verbose=0)
            return [w.tolist() for w in model.get_weights()]

        return {"weights": gan(distribute.setup()), "ref_weights": gan(None)}
    if mode == "data_parallel":
        dist = distribute.setup()
        weights, loss = train(dist)
        ref_weights, ref_loss = train(None)
        return {"replicas": dist.num_replicas, "kind": dist.kind, "weights": weights, "loss": loss,
                "ref_weights": ref_weights, "ref_loss": ref_loss}
    if mode == "recipe":  # train_vms_predictor.py --distribute on two devices
        if BACKEND == "tensorflow":
            distribute.split_cpu(REPLICAS)
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "recipes"))
        import tempfile

        import train_vms_predictor

        with tempfile.TemporaryDirectory() as out:
            metrics = train_vms_predictor.main(
                ["--num-train", "32", "--num-test", "16", "--image-size", "32", "--epochs", "1",
                 "--steps-per-epoch", "2", "--batch-size", "8", "--distribute", "--output", out, "--verbose", "0"])
        return {"loss": metrics["history"]["loss"], "rho2d": metrics["model"]["overall"]["rho2d_true"]}
    if mode == "tune":  # keras-tuner's distribution_strategy, through tune_alpha.py --distribute
        # Its own process: a second MirroredStrategy after keras-tuner's clear_session() can clash on
        # collective-op keys with the first one's.
        distribute.split_cpu(REPLICAS)
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "recipes"))
        import tempfile

        import tune_alpha

        with tempfile.TemporaryDirectory() as out:
            record = tune_alpha.main(
                ["--alphas", "0", "10", "--image-size", "16", "--num-scenes", "32", "--category", "all",
                 "--epochs", "1", "--batch-size", "8", "--n-critic", "1", "--latent-dim", "8", "--filters", "16",
                 "--predictor-epochs", "0", "--pairs", "8", "--tiny", "--distribute", "--out", out])
        return {"tune": record["distribute"], "alphas": [r["alpha"] for r in record["trials"]]}
    if mode == "worker":
        dist = distribute.setup()
        weights, loss = train(dist)
        return {"replicas": dist.num_replicas, "kind": dist.kind, "weights": weights, "loss": loss}
    raise ValueError(mode)


# --- the test side ---------------------------------------------------------------------------------------

def run_script(mode, env=None, timeout=120):
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    proc = subprocess.run([sys.executable, __file__, mode], env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_same_weights(a, b, atol=1e-4):
    for i, (u, v) in enumerate(zip(a, b)):
        np.testing.assert_allclose(np.array(u), np.array(v), atol=atol, rtol=1e-3, err_msg=f"weight {i}")


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute is TensorFlow's")
def test_mirrored_strategy_matches_one_device():
    out = run_script("mirrored")
    assert out["kind"] == "mirrored" and out["replicas"] == REPLICAS
    assert np.isfinite(out["loss"])
    assert abs(out["loss"] - out["ref_loss"]) < 1e-3 * max(1.0, abs(out["ref_loss"]))
    assert_same_weights(out["weights"], out["ref_weights"], atol=2e-4)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute is TensorFlow's")
@pytest.mark.xfail(not PER_REPLICA_NOISE, strict=True,
                   reason="W-MEMGAN's hand-written losses are not yet scaled per replica and its noise repeats "
                          "across replicas (the wgan.py / backend patch of issue #6)")
def test_wmemgan_mirrored_matches_one_device():
    out = run_script("wmemgan")
    assert_same_weights(out["weights"], out["ref_weights"], atol=1e-5)


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution.DataParallel is JAX's")
def test_jax_data_parallel_matches_one_device():
    out = run_script("data_parallel", env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert out["kind"] == "data_parallel" and out["replicas"] == 2
    assert abs(out["loss"] - out["ref_loss"]) < 1e-3 * max(1.0, abs(out["ref_loss"]))
    assert_same_weights(out["weights"], out["ref_weights"])


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.skipif(BACKEND != "tensorflow", reason="MultiWorkerMirroredStrategy is TensorFlow's")
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
    assert_same_weights(outs[0]["weights"], outs[1]["weights"], atol=1e-6)  # synchronous: workers agree


@pytest.mark.skipif(BACKEND not in ("tensorflow", "jax"), reason="data parallelism is tensorflow's and jax's")
def test_predictor_recipe_distribute_flag():
    out = run_script("recipe", env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert np.isfinite(out["loss"]).all() and -1.0 <= out["rho2d"] <= 1.0


@pytest.mark.skipif(BACKEND != "tensorflow", reason="keras-tuner's distribution_strategy is TensorFlow's")
def test_tune_alpha_distribute_flag():
    out = run_script("tune")
    assert "num_replicas=2" in out["tune"] and out["alphas"] == [0.0, 10.0]


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
