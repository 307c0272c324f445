"""The VMS predictor: the paper's architecture, deterministic predict, training, feature caching, saving, errors."""

import numpy as np
import pytest
import keras

from helpers import assert_same_training
from vms_zoo.metrics import Pearson2D
from vms_zoo.models.vms_predictor import VMSPredictor


def _data(n=8, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, size, size, 3), np.float32), rng.random((n, size, size, 2), np.float32)


def test_paper_architecture_shapes_and_ranges():
    model = VMSPredictor(image_size=224, encoder="vgg16", encoder_weights=None, dense_units=64, latent_dim=8)
    spec = model.compute_output_spec(keras.KerasTensor((2, 224, 224, 3)))
    assert tuple(spec["vms"].shape) == (2, 224, 224, 2)
    assert tuple(spec["z_mean"].shape) == (2, 8) and tuple(spec["z_log_var"].shape) == (2, 8)
    assert model.encoder.output_shape[1:] == (7, 7, 512)  # VGG16 conv base at 224 px
    deconvs = [l for l in model.decoder.layers if isinstance(l, keras.layers.Conv2DTranspose)]
    assert len(deconvs) == 5 and deconvs[-1].filters == 2
    assert all(l.kernel_regularizer.l2 == pytest.approx(0.02) for l in deconvs)
    assert sum(isinstance(l, keras.layers.BatchNormalization) for l in model.decoder.layers) == 5
    assert not model.encoder.trainable_weights  # frozen for real
    assert model.dense.units == 64


def test_predict_is_deterministic_and_sampling_is_not(tiny_predictor):
    model = tiny_predictor()
    x, _ = _data(4)
    p1, p2 = model.predict(x, verbose=0), model.predict(x, verbose=0)
    np.testing.assert_array_equal(p1, p2)
    assert p1.shape == (4, 32, 32, 2) and p1.min() >= 0.0 and p1.max() <= 1.0
    draws = model.sample(x, num_samples=3)
    assert draws.shape == (3, 4, 32, 32, 2)
    assert not np.allclose(draws[0], draws[1])


def test_fit_reports_reconstruction_and_kl_and_frozen_encoder_is_unchanged(tiny_predictor):
    model = tiny_predictor(encoder="vgg16")
    x, y = _data(16)
    before = [w.copy() for w in model.encoder.get_weights()]
    head_before = model.dense.get_weights()[0].copy()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=[Pearson2D(0)])
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    for key in ("loss", "reconstruction_loss", "kl_loss", "rho2d_true"):
        assert key in history and np.all(np.isfinite(history[key]))
    # total = reconstruction + KL + l2 penalty, so it is at least their sum
    assert history["loss"][-1] >= history["reconstruction_loss"][-1] + history["kl_loss"][-1] - 1e-3
    for a, b in zip(before, model.encoder.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(head_before, model.dense.get_weights()[0])


def test_cached_and_uncached_training_agree(tiny_predictor):
    """Training on cached encoder features is training on images: the same weights after the same steps.

    SGD, not Adam: Adam's first steps are lr * sign(gradient), so a weight whose true gradient is zero (a
    convolution bias followed by batch norm) moves a full step along float noise, differently on each path.
    """
    x, y = _data(16)
    uncached = tiny_predictor(encoder="vgg16")
    cached = tiny_predictor(encoder="vgg16")
    cached.set_weights(uncached.get_weights())
    initial = uncached.get_weights()
    features = cached.encode(x, verbose=0)
    assert features.shape == (16, 1, 1, 512)
    for model, inputs in ((uncached, x), (cached, features)):
        model.compile(optimizer=keras.optimizers.SGD(1e-3))
        model.fit(inputs, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert_same_training(cached.get_weights(), uncached.get_weights(), initial)
    np.testing.assert_allclose(uncached.predict(x, verbose=0), cached.predict(features, verbose=0), atol=1e-5)


def test_keras_round_trip_gives_identical_predictions(tmp_path, tiny_predictor):
    model = tiny_predictor()
    x, y = _data(8)
    model.compile(optimizer="adam")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    path = tmp_path / "vms.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, VMSPredictor) and restored.latent_dim == 4
    np.testing.assert_array_equal(model.predict(x, verbose=0), restored.predict(x, verbose=0))
    weights = tmp_path / "vms.weights.h5"
    model.save_weights(weights)
    fresh = tiny_predictor(seed=5)
    assert not np.array_equal(model.predict(x, verbose=0), fresh.predict(x, verbose=0))
    fresh.load_weights(weights)
    np.testing.assert_array_equal(model.predict(x, verbose=0), fresh.predict(x, verbose=0))


def test_vgg_weights_load_from_a_file(tmp_path, tiny_predictor):
    source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "vgg16.weights.h5"
    source.save_weights(path)
    model = tiny_predictor(encoder="vgg16", encoder_weights=str(path))
    np.testing.assert_array_equal(model.encoder.get_layer("vgg16").get_weights()[0], source.get_weights()[0])


@pytest.mark.parametrize(
    "x, y, message",
    [
        (np.zeros((2, 32, 32, 1), np.float32), None, "RGB"),
        (np.zeros((2, 16, 16, 3), np.float32), None, "32x32"),
        (np.full((2, 32, 32, 3), 2.0, np.float32), None, r"\[0, 1\]"),
        (np.full((2, 32, 32, 3), np.nan, np.float32), None, "NaN"),
        (np.zeros((2, 32, 32, 3), np.float32), np.zeros((2, 32, 32, 1), np.float32), "channel 0 true"),
        (np.zeros((2, 32, 32, 3), np.float32), np.full((2, 32, 32, 2), -0.5, np.float32), r"\[0, 1\]"),
    ],
)
def test_bad_inputs_raise_errors_that_name_the_problem(x, y, message, tiny_predictor):
    model = tiny_predictor()
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=message):
        if y is None:
            model.predict(x, verbose=0)
        else:
            model.fit(x, y, verbose=0)


def test_bad_configs_are_rejected(tiny_predictor):
    with pytest.raises(ValueError, match="multiple of 32"):
        tiny_predictor(image_size=48)
    with pytest.raises(ValueError, match="resnet"):
        tiny_predictor(encoder="resnet")
    with pytest.raises(ValueError, match="huber"):
        tiny_predictor(reconstruction="huber")
    with pytest.raises(ValueError, match="4 widths"):
        tiny_predictor(decoder_filters=[8, 8])


def test_kl_warmup_ramps_linearly_and_is_saved(tmp_path, tiny_predictor):
    model = tiny_predictor(kl_warmup_steps=8, kl_weight=2.0)
    x, y = _data(8)
    model.compile(optimizer="adam")
    assert float(model.kl_scale()) == 0.0
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)  # 4 steps
    assert float(model.kl_step.numpy()) == 4.0
    assert float(model.kl_scale()) == pytest.approx(2.0 * 4 / 8)
    model.save_weights(tmp_path / "w.weights.h5")
    resumed = tiny_predictor(kl_warmup_steps=8, kl_weight=2.0)
    resumed.load_weights(tmp_path / "w.weights.h5")
    assert float(resumed.kl_scale()) == pytest.approx(1.0)
    assert tiny_predictor().kl_scale() == 1.0  # the paper's plain ELBO by default
