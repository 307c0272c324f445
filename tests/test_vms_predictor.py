"""The VMS predictor: the paper's architecture as one functional graph, deterministic predict, training, feature
caching, saving, the shipped checkpoints' outputs, errors."""

import h5py
import numpy as np
import pytest
import keras

import vms_zoo
from helpers import assert_same_training
from vms_zoo.backend import input_gradient
from vms_zoo.metrics import Pearson2D
from vms_zoo.models.vms_predictor import VMSPredictor

GRAPH = ["image", "vgg16_encoder", "flatten", "dense", "z_mean", "z_log_var", "sampling", "decoder"]


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
    assert model.encoder.output_shape[1:] == model.feature_shape


def test_the_model_is_one_functional_graph_in_the_papers_order():
    model = VMSPredictor(image_size=224, encoder="vgg16", encoder_weights=None, dense_units=128, latent_dim=32)
    assert [layer.name for layer in model.layers] == GRAPH
    assert [tuple(x.shape) for x in model.inputs] == [(None, 224, 224, 3)]
    assert {k: tuple(v.shape) for k, v in model.output.items()} == {
        "vms": (None, 224, 224, 2), "z_mean": (None, 32), "z_log_var": (None, 32)}
    for name in GRAPH[1:]:
        assert model.get_layer(name) is getattr(model, {"vgg16_encoder": "encoder", "sampling": "sampler"}.get(name, name))
    assert model.get_layer("vgg16_encoder").get_layer("vgg16").count_params() == 14_714_688  # VGG16's conv base
    assert model.get_layer("dense").units == 128 and model.get_layer("dense").input.shape[1:] == (7 * 7 * 512,)
    sampling_inputs = [t._keras_history[0].name for t in model.get_layer("sampling").input]
    assert sampling_inputs == ["z_mean", "z_log_var"]
    assert model.get_layer("decoder").input.shape[1:] == (32,)  # the decoder reads z
    deconvs = [layer.name for layer in model.decoder.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert deconvs == [f"deconv{i}" for i in range(5)]
    printed = []
    model.summary(line_length=160, print_fn=lambda text, **kwargs: printed.append(text))
    lines = "\n".join(printed).splitlines()
    rows = [next(i for i, line in enumerate(lines) if f" {name} (" in line) for name in GRAPH]
    assert rows == sorted(rows)  # summary() lists them in graph order


def test_the_graph_is_the_computation(tiny_predictor):
    """A plain functional Model over the predictor's inputs and outputs computes what the predictor does."""
    model = tiny_predictor(encoder="vgg16")
    x, _ = _data(4)
    plain = keras.Model(model.input, model.output)
    expected = model(x, training=False)
    for key, value in plain(x, training=False).items():
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(value), keras.ops.convert_to_numpy(expected[key]))
    # predict runs compiled (XLA on JAX): equal to float rounding
    np.testing.assert_allclose(model.predict(x, verbose=0), keras.ops.convert_to_numpy(expected["vms"]), atol=1e-6)


def test_predict_is_deterministic_and_sampling_is_not(tiny_predictor):
    model = tiny_predictor()
    x, _ = _data(4)
    p1, p2 = model.predict(x, verbose=0), model.predict(x, verbose=0)
    np.testing.assert_array_equal(p1, p2)
    assert p1.shape == (4, 32, 32, 2) and p1.min() >= 0.0 and p1.max() <= 1.0
    draws = model.sample(x, num_samples=3)
    assert draws.shape == (3, 4, 32, 32, 2)
    assert not np.allclose(draws[0], draws[1])
    # Draws spread around the map from z = z_mean: a draw with exp(log_var / 2) -> 0 would be that map exactly.
    assert np.abs(draws.mean(axis=0) - p1).mean() < np.abs(draws[0] - p1).mean()


def test_fit_reports_reconstruction_and_kl_and_frozen_encoder_is_unchanged(tiny_predictor):
    model = tiny_predictor(encoder="vgg16")
    x, y = _data(16)
    before = [w.copy() for w in model.encoder.get_weights()]
    head_before = model.dense.get_weights()[0].copy()
    # SGD: only frozen weights are compared exactly; nothing here may hinge on Adam amplifying float noise.
    model.compile(optimizer=keras.optimizers.SGD(1e-2), metrics=[Pearson2D(0)])
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    for key in ("loss", "reconstruction_loss", "kl_loss", "rho2d_true"):
        assert key in history and np.all(np.isfinite(history[key]))
    # total = reconstruction + KL + l2 penalty, so it is at least their sum
    assert history["loss"][-1] >= history["reconstruction_loss"][-1] + history["kl_loss"][-1] - 1e-3
    for a, b in zip(before, model.encoder.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(head_before, model.dense.get_weights()[0])
    assert len(before) == 26  # all 13 conv kernels and biases were compared


def test_fit_traces_the_train_step_once(tiny_predictor):
    """Adam's moments exist before the step is traced: created inside TensorFlow's first trace, they made
    tf.function trace every predictor's step twice. JAX traces once too; torch runs the step eagerly, once a batch."""
    model = tiny_predictor()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    calls, step = [], model.train_step
    model.train_step = lambda *args: calls.append(1) or step(*args)  # JAX passes (state, data)
    model.fit(*_data(6), batch_size=2, epochs=1, verbose=0)
    assert len(calls) == (3 if keras.backend.backend() == "torch" else 1)


def test_the_frozen_encoder_stays_frozen_through_a_config_and_passes_gradients_to_the_images(tiny_predictor):
    """Frozen for real: no trainable encoder weights, also after from_config(trainable=True) reached every layer.
    But d map / d image is not cut at the encoder: a GAN steers its generator through the frozen predictor."""
    model = tiny_predictor(encoder="vgg16")
    for m in (model, VMSPredictor.from_config(model.get_config())):
        assert m.get_config()["trainable"] is True
        encoder = {id(v) for v in m.encoder.weights}
        assert len(encoder) == 26 and not encoder & {id(v) for v in m.trainable_weights}
        assert len(m.trainable_weights) == len(m.feature_model.trainable_weights)  # exactly the head trains
    x, _ = _data(2)
    grad = keras.ops.convert_to_numpy(input_gradient(lambda images: model(images, training=False)["vms"], x))
    assert grad.shape == x.shape and np.abs(grad).max() > 0


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
    before = uncached.predict(x, verbose=0)
    for model, inputs in ((uncached, x), (cached, features)):
        model.compile(optimizer=keras.optimizers.SGD(1e-3))
        model.fit(inputs, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert_same_training(cached.get_weights(), uncached.get_weights(), initial)
    # The maps too, to a fraction of how far training moved them (as assert_same_training does for the weights).
    after = uncached.predict(x, verbose=0)
    np.testing.assert_allclose(cached.predict(features, verbose=0), after,
                               atol=1e-3 * np.abs(after - before).max() + 1e-5)


def test_one_model_takes_images_and_features_in_turn(tiny_predictor):
    """Selected by input shape, on the same model: compiled functions traced for one kind are not reused for the other."""
    model = tiny_predictor(encoder="vgg16")
    x, y = _data(8)
    features = model.encode(x, verbose=0)
    from_images = model.predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(features, verbose=0), from_images, atol=1e-6)
    np.testing.assert_array_equal(model.predict(x, verbose=0), from_images)
    outputs = model(features, training=False)
    assert sorted(outputs) == ["vms", "z_log_var", "z_mean"]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(outputs["vms"]), from_images, atol=1e-6)
    assert model.sample(x, num_samples=2).shape == (2, 8, 32, 32, 2)
    model.compile(optimizer=keras.optimizers.SGD(1e-3))
    a = model.evaluate(features, y, batch_size=8, verbose=0, return_dict=True)
    b = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    assert a["reconstruction_loss"] == pytest.approx(b["reconstruction_loss"], rel=1e-5)
    with pytest.raises(ValueError, match=r"encoder features \(N, 1, 1, 512\)"):
        model(np.zeros((2, 2, 2, 512), np.float32))


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


def test_a_weights_file_of_the_subclassed_predictor_is_refused(tmp_path, tiny_predictor):
    """Keras would only warn and keep fresh weights; the message names the conversion script."""
    path = tmp_path / "old.weights.h5"
    with h5py.File(path, "w") as f:  # the old layout: the sub-models under their attribute names
        f.create_group("encoder/layers")
        f.create_group("decoder/layers")
    with pytest.raises(ValueError, match="convert_predictor_checkpoints"):
        tiny_predictor().load_weights(path)


# Outputs of the shipped checkpoints on fixed inputs (`_fingerprint`), computed on TensorFlow with the subclassed
# VMSPredictor (tools/convert_predictor_checkpoints.py's OLD_REVISION) and the checkpoints in that layout: the
# functional graph must load the converted files to the same outputs.
SHIPPED_REFERENCES = {
    "vms_vae_synthetic_64": [0.2430319, 0.1586052, 0.2972125, 0.1202888, 0.1985128, 0.07568362, -1.531199, -2.438371,
                             2.709382, -1.758332, -2.555372, 2.710442],
    "vms_vae_synthetic_scorer_32": [0.1909499, 0.1344466, 0.2514091, 0.09159698, 0.03167817, 0.04878284, -0.218635,
                                    -0.5972155, 1.041006, -1.098926, -1.041791, 3.477731],
    "wmemgan_synthetic_score_32": [0.7270532, 0.7067796, 0.6429141, 0.81028, 0.7931308, 0.7017468, 7.868066, 7.878984,
                                   7.868066],
    "wmemgan_synthetic_map_32": [0.6793603, 0.6936892, 0.6648356, 0.6950068, 0.6874653, 0.6380576, 0.2629117,
                                 0.3452256, 0.1117209, 0.2516318, 0.1619276],
    "memgan_synthetic_32": [0.7624086, 0.7605826, 0.6959077, 0.7702785, 0.7679053, 0.7018176, 0.2231804, 0.2285514,
                            0.04415494, 0.04482898, 0.04707559],
    "memgan_foil_synthetic_32": [0.770081, 0.7669421, 0.7112132, 0.77012, 0.7656546, 0.7058648, 0.2231804, 0.2285514,
                                 0.04415494, 0.04482898, 0.04707559],
}


def _fingerprint(model):
    """A dozen numbers that pin a model's outputs on fixed inputs. Predictor: the mean of each map channel, one
    pixel of the first map, three latents per image. GAN: the mean colour of two generated images, and the
    feedback of its nested predictor (score, or 10x10 map: its mean and first entries) on two fixed images."""
    rng = np.random.default_rng(0)
    numpy = keras.ops.convert_to_numpy
    if model.task == "predictor":
        size = model.image_size
        out = model(rng.uniform(size=(2, size, size, 3)).astype("float32"), training=False)
        vms = numpy(out["vms"])
        return np.concatenate([vms.mean(axis=(1, 2)).ravel(), vms[0, size // 2, size // 2],
                               numpy(out["z_mean"])[:, :3].ravel()])
    z = rng.normal(size=(2, model.latent_dim)).astype("float32")
    draw = rng.normal if model.standardized else rng.uniform
    m = draw(size=(2,) + model.condition_shape).astype("float32")
    size = model.predictor.image_size
    images = rng.uniform(size=(2, size, size, 3)).astype("float32")
    feedback = numpy(model.feedback(keras.ops.convert_to_tensor(images * 2.0 - 1.0))).reshape(2, -1)
    return np.concatenate([model.generate(z, m).mean(axis=(1, 2)).ravel(), feedback.mean(axis=1), feedback[0, :3]])


@pytest.mark.parametrize("name", sorted(SHIPPED_REFERENCES))
def test_shipped_checkpoints_reproduce_their_outputs_from_before_the_conversion(name):
    # Backends differ from TensorFlow by ~1e-6 relative; a weight loaded wrong or left fresh is off by far more.
    np.testing.assert_allclose(_fingerprint(vms_zoo.load(name)), SHIPPED_REFERENCES[name], rtol=1e-5, atol=1e-5)
