"""W-MEMGAN model: one train step agrees across backends, frozen predictor, critic blind to M, I/O."""

import numpy as np
import keras
import pytest
from keras import ops

from helpers import WMEMGAN_LATENT as LATENT, WMEMGAN_SIZE as SIZE, make_wmemgan as make_gan
from helpers import stand_in_predictor
from vms_zoo.training.callbacks import SampleGrid
from vms_zoo.models.wmemgan import WMEMGAN
from vms_zoo.vms import area_resize

BATCH = 8


def fixed_noise(condition, n_critic, seed=3):
    rng = np.random.default_rng(seed)
    shape = (1,) if condition == "score" else (10, 10, 1)
    return {
        "critic_z": rng.normal(size=(n_critic, BATCH, LATENT)).astype("float32"),
        "critic_m": rng.uniform(size=(n_critic, BATCH) + shape).astype("float32"),
        "mix": rng.uniform(size=(n_critic, BATCH, 1, 1, 1)).astype("float32"),
        "z": rng.normal(size=(BATCH, LATENT)).astype("float32"),
        "m": rng.uniform(size=(BATCH,) + shape).astype("float32"),
    }


def one_step(condition):
    model = make_gan(condition, alpha=10.0)
    # Reuse: the step these references were recorded for (test_paper_presets checks fresh batches).
    model.compile(d_optimizer=keras.optimizers.SGD(1e-3), g_optimizer=keras.optimizers.SGD(1e-3),
                  n_critic=2, gp_weight=10.0, real_batches="reuse")
    noise = fixed_noise(condition, 2)
    model.draw_noise = lambda batch_size: noise  # same "random" inputs on every backend
    images = np.random.default_rng(4).uniform(size=(BATCH, SIZE, SIZE, 3)).astype("float32")
    history = model.fit(images, batch_size=BATCH, epochs=1, shuffle=False, verbose=0).history
    logs = {k: float(v[-1]) for k, v in history.items()}
    # The updated weights, seen through the networks' outputs on fixed inputs.
    logs["critic_after"] = float(ops.convert_to_numpy(ops.mean(model.critic(images * 2 - 1))))
    logs["generator_after"] = float(np.mean(model.generate(noise["z"], noise["m"]) ** 2))
    return logs


# Computed once on TensorFlow; JAX and PyTorch must reproduce them (SGD keeps the update linear in the
# gradients, so float noise cannot flip an update's sign).
REFERENCE = {
    "score": {"d_loss": 3.220541, "g_loss": 1.194953, "gp": 0.3234544, "mem_loss": 0.05147123,
              "wasserstein": 0.01431768, "critic_after": -0.2532999, "generator_after": 0.3191938},
    "map": {"d_loss": 0.7539927, "g_loss": 0.8473312, "gp": 0.05807419, "mem_loss": 0.08691722,
            "wasserstein": -0.1729337, "critic_after": -0.1460901, "generator_after": 0.3424435},
}


@pytest.mark.parametrize("condition", ["score", "map"])
def test_one_train_step_matches_reference_on_every_backend(condition):
    logs = one_step(condition)
    expected = REFERENCE[condition]
    assert set(expected) == set(logs)
    for key, value in expected.items():
        np.testing.assert_allclose(logs[key], value, rtol=2e-4, atol=2e-5, err_msg=key)


def test_predictor_frozen_and_unchanged_by_training():
    model = make_gan("map")
    before = [w.copy() for w in model.predictor.get_weights()]
    critic_before = [w.copy() for w in model.critic.get_weights()]
    model.compile(n_critic=2, d_optimizer=keras.optimizers.SGD(1e-2), g_optimizer=keras.optimizers.SGD(1e-2))
    images = np.random.default_rng(0).uniform(size=(4 * BATCH, SIZE, SIZE, 3)).astype("float32")
    model.fit(images, batch_size=BATCH, epochs=1, verbose=0)  # 2 steps of 2 fresh real batches each
    assert model.predictor.trainable is False
    assert model.predictor.trainable_weights == []
    for a, b in zip(before, model.predictor.get_weights()):
        np.testing.assert_array_equal(a, b)
    # ...while the critic did train, so the check above is not vacuous.
    assert any(not np.allclose(a, b) for a, b in zip(critic_before, model.critic.get_weights()))
    # Both optimizers' state survived the training loop (carried in the JAX state on JAX): 2 steps.
    assert int(ops.convert_to_numpy(model.d_optimizer.iterations)) == 4
    assert int(ops.convert_to_numpy(model.g_optimizer.iterations)) == 2


def test_critic_cannot_receive_condition():
    model = make_gan("map")
    assert len(model.critic.inputs) == 1
    assert tuple(model.critic.inputs[0].shape[1:]) == (SIZE, SIZE, 3)
    image = np.zeros((2, SIZE, SIZE, 3), "float32")
    with pytest.raises(Exception):
        model.critic([image, np.zeros((2, 10, 10, 1), "float32")])


def test_generator_output_in_tanh_range():
    model = make_gan("score")
    z = np.random.default_rng(0).normal(0, 100.0, size=(16, LATENT)).astype("float32")
    m = np.linspace(0, 1, 16, dtype="float32").reshape(-1, 1)
    out = ops.convert_to_numpy(model([z, m]))
    assert out.shape == (16, SIZE, SIZE, 3)
    assert out.min() >= -1.0 and out.max() <= 1.0
    assert np.abs(out).max() > 0.99  # saturates: the bound is doing work
    images = model.generate(z, m)
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_feedback_reduces_true_channel_to_condition_shape():
    score_model = make_gan("score")
    map_model = make_gan("map")
    images = np.random.default_rng(0).uniform(-1, 1, size=(3, SIZE, SIZE, 3)).astype("float32")
    raw = ops.convert_to_numpy(score_model.predictor((images + 1) / 2))[..., 0]
    np.testing.assert_allclose(ops.convert_to_numpy(score_model.feedback(images))[:, 0], raw.mean(axis=(1, 2)),
                               rtol=1e-5)
    assert tuple(map_model.feedback(images).shape) == (3, 10, 10, 1)


def test_area_resize_is_exact_box_average():
    x = np.arange(2 * 20 * 20, dtype="float32").reshape(2, 20, 20, 1)
    expected = x.reshape(2, 10, 2, 10, 2, 1).mean(axis=(2, 4))
    np.testing.assert_allclose(ops.convert_to_numpy(area_resize(ops.convert_to_tensor(x), 10)), expected, rtol=1e-5)
    y = np.random.default_rng(0).uniform(size=(1, 8, 8, 1)).astype("float32")
    out = ops.convert_to_numpy(area_resize(ops.convert_to_tensor(y), 10))
    np.testing.assert_allclose(out.mean(), y.mean(), rtol=1e-5)  # area resize preserves the mean


def test_predictor_returning_dict_is_accepted():
    model = WMEMGAN(stand_in_predictor(SIZE, as_dict=True), image_size=SIZE, latent_dim=LATENT, filters=16)
    assert tuple(model.feedback(np.zeros((2, SIZE, SIZE, 3), "float32")).shape) == (2, 1)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="condition"):
        WMEMGAN(stand_in_predictor(SIZE), image_size=SIZE, condition="pixels")
    with pytest.raises(ValueError, match="image_size"):
        WMEMGAN(stand_in_predictor(SIZE), image_size=48)
    with pytest.raises(ValueError, match=r"\(N, S, S, 2\)"):
        WMEMGAN(stand_in_predictor(SIZE, channels=3), image_size=SIZE)
    with pytest.raises(TypeError, match="predictor"):
        WMEMGAN("vgg", image_size=SIZE)
    for alpha in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="alpha"):
            WMEMGAN(stand_in_predictor(SIZE), image_size=SIZE, alpha=alpha)
    model = make_gan("map")
    with pytest.raises(ValueError, match="Condition M"):
        model.generate(np.zeros((2, LATENT)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="n_critic"):
        model.compile(n_critic=0)
    model.compile(n_critic=1)
    with pytest.raises(ValueError, match="Training images"):
        model.fit(np.zeros((4, 2 * SIZE, 2 * SIZE, 3), "float32"), batch_size=4, epochs=1, verbose=0)


def test_serialization_round_trip(tmp_path, tiny_predictor):
    model = make_gan("map", predictor=tiny_predictor(), alpha=2.5)
    z = np.random.default_rng(0).normal(size=(2, LATENT)).astype("float32")
    m = np.random.default_rng(1).uniform(size=(2, 10, 10, 1)).astype("float32")
    path = str(tmp_path / "wmemgan.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, WMEMGAN) and loaded.condition == "map" and loaded.alpha == 2.5
    np.testing.assert_allclose(loaded.generate(z, m), model.generate(z, m), atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(loaded.feedback(ops.ones((1, SIZE, SIZE, 3)))),
                               ops.convert_to_numpy(model.feedback(ops.ones((1, SIZE, SIZE, 3)))), atol=1e-6)
    weights = str(tmp_path / "wmemgan.weights.h5")
    model.save_weights(weights)
    fresh = WMEMGAN.from_config(model.get_config())
    fresh.load_weights(weights)
    np.testing.assert_allclose(fresh.generate(z, m), model.generate(z, m), atol=1e-6)


def test_sample_grid_rows_share_z_and_columns_rise(tmp_path):
    model = make_gan("score")
    callback = SampleGrid(str(tmp_path), rows=2, columns=3, every=1)
    callback.set_model(model)
    callback.on_epoch_end(0)
    from PIL import Image

    grid = np.asarray(Image.open(tmp_path / "samples_epoch001.png"))
    assert grid.shape == (2 * SIZE, 3 * SIZE, 3)
    np.testing.assert_array_equal(grid, callback.grid())
    assert not np.array_equal(grid[:SIZE, :SIZE], grid[:SIZE, SIZE:2 * SIZE])  # M changes the image


def test_score_scale_standardizes_feedback_and_targets():
    raw_model = make_gan("score")
    model = make_gan("score", score_scale=(0.2, 0.05))
    assert model.standardized and not raw_model.standardized
    images = np.random.default_rng(0).uniform(-1, 1, size=(3, SIZE, SIZE, 3)).astype("float32")
    raw = ops.convert_to_numpy(raw_model.feedback(images))
    np.testing.assert_allclose(ops.convert_to_numpy(model.feedback(images)), (raw - 0.2) / 0.05, rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(model.to_condition([0.1, 0.25]), [[-2.0], [1.0]], rtol=1e-5)
    np.testing.assert_allclose(raw_model.to_condition([0.1]), [[0.1]])
    m = ops.convert_to_numpy(model.draw_noise(256)["m"])
    assert m.shape == (256, 1) and m.min() < 0.0 and m.max() > 1.0  # N(0, 1) z-scores
    assert make_gan("score", score_scale={"mean": 0.2, "std": 0.05}).score_scale == (0.2, 0.05)
    model.compile(n_critic=1)
    history = model.fit(np.random.default_rng(1).uniform(size=(BATCH, SIZE, SIZE, 3)).astype("float32"),
                        batch_size=BATCH, epochs=1, verbose=0).history
    assert np.isfinite(history["mem_loss"][-1])


def test_score_scale_round_trips_and_rejects_bad_values(tmp_path, tiny_predictor):
    model = make_gan("score", predictor=tiny_predictor(), score_scale=(0.2, 0.05))
    path = str(tmp_path / "scaled.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.score_scale == (0.2, 0.05)
    images = np.zeros((1, SIZE, SIZE, 3), "float32")
    np.testing.assert_allclose(ops.convert_to_numpy(loaded.feedback(images)),
                               ops.convert_to_numpy(model.feedback(images)), atol=1e-5)
    with pytest.raises(ValueError, match="condition='score'"):
        make_gan("map", score_scale=(0.2, 0.05))
    with pytest.raises(ValueError, match="std > 0"):
        make_gan("score", score_scale=(0.2, 0.0))
    with pytest.raises(ValueError, match="mean, std"):
        make_gan("score", score_scale=0.2)
    with pytest.raises(ValueError, match="maps"):
        make_gan("map").to_condition([0.1])


def test_sample_grid_uses_z_score_levels_and_writes_final_grid(tmp_path):
    model = make_gan("score", score_scale=(0.2, 0.05))
    callback = SampleGrid(str(tmp_path), rows=2, columns=3, low=-2.0, high=2.0)
    callback.set_model(model)
    callback.on_train_end()
    assert (tmp_path / "samples_final.png").exists()
    assert callback.grid().shape == (2 * SIZE, 3 * SIZE, 3)


def test_alpha_lives_in_the_config_not_in_compile():
    model = make_gan("score", alpha=3.0)
    assert model.alpha == 3.0 and model.get_config()["alpha"] == 3.0
    with pytest.raises(TypeError, match="alpha"):
        model.compile(alpha=10.0)
    assert make_gan("score").alpha == 10.0  # the papers' weight by default


def test_make_condition_and_low_high_on_both_scales():
    raw, scaled, maps = make_gan("score"), make_gan("score", score_scale=(0.2, 0.05)), make_gan("map")
    assert raw.low_high() == (0.1, 0.9) and scaled.low_high() == (-1.645, 1.645)
    assert raw.low_high(high=0.7) == (0.1, 0.7) and scaled.low_high(low=-1.0) == (-1.0, 1.645)
    np.testing.assert_allclose(raw.make_condition("high", 3), np.full((3, 1), 0.9))
    np.testing.assert_allclose(scaled.make_condition("low", 2), np.full((2, 1), -1.645))
    np.testing.assert_allclose(scaled.make_condition(0.3, 2), np.full((2, 1), 2.0), rtol=1e-5)  # raw -> z-score
    np.testing.assert_allclose(raw.make_condition(np.full((20, 20), 0.4), 2), np.full((2, 1), 0.4), rtol=1e-6)
    high = maps.make_condition("high", 4, seed=1)
    assert high.shape == (4, 10, 10, 1) and np.allclose(high.reshape(4, -1).max(axis=1), 0.9)
    np.testing.assert_array_equal(high, maps.make_condition("high", 4, seed=1))
    target = np.zeros((20, 20), "float32")
    target[:10, :10] = 1.0  # the top-left quarter, area-resized to the 10x10 grid
    m = maps.make_condition(target, 2)
    assert m.shape == (2, 10, 10, 1) and m[0, :5, :5].min() == 1.0 and m[0, 5:].max() == 0.0
    with pytest.raises(ValueError, match="memorability"):
        raw.make_condition("medium", 2)
    maps.check_condition(m)
    with pytest.raises(ValueError, match=r"\(N, 10, 10, 1\)"):
        maps.check_condition(np.zeros((2, 1)))


def test_sample_grid_every_n_epochs(tmp_path):
    model = make_gan("map")
    callback = SampleGrid(str(tmp_path), rows=1, columns=2, every=2)
    callback.set_model(model)
    for epoch in range(5):
        callback.on_epoch_end(epoch)
    callback.on_train_end()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples_epoch002.png", "samples_epoch004.png",
                                                          "samples_final.png"]
    quiet = SampleGrid(str(tmp_path / "quiet"))  # every=0: only the final grid
    quiet.set_model(model)
    quiet.on_epoch_end(0)
    assert not (tmp_path / "quiet").exists()
