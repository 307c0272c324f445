"""Test helpers shared by the test files (and by scripts the tests run in subprocesses: no pytest import here).

- `TINY_PREDICTOR`: the one tiny VMSPredictor config (32 px, conv encoder), plain JSON-able data.
- `tiny_predictor_config(image_size=32, **overrides)` / `tiny_predictor(...)`: that config, or a model built
  from it (conftest.py exposes both as fixtures of the same names).
- `stand_in_predictor`: a plain functional Keras model standing in for a VMS predictor in GAN unit tests
  (faster; it cannot be saved inside a GAN, whose serialised predictor must be a VMSPredictor).
- `make_wmemgan`, `make_memgan`: tiny GANs with backend-independent weights.
- `assert_same_training`: two training runs from the same weights agree, to a fraction of the update size.
- `random_conv_layer`, `assert_replaces_keras_layer`: our convolution layers against Keras' own.
- `shrink_preset`, `model_outputs`, `run_preset_test`: build a test-size copy of a preset (by its family's
  `test_shrink` rule), save it as a preset folder, load it back both ways and compare outputs exactly.
- `presets_with(rule)`: the presets whose family states a rule (a trainer, a smoke rule, ...).
"""

import numpy as np

TINY_PREDICTOR = {"image_size": 32, "encoder": "conv", "encoder_weights": None, "encoder_filters": [8, 16],
                  "dense_units": 16, "latent_dim": 4, "decoder_filters": [16, 8, 8, 8], "seed": 0}


def tiny_predictor_config(image_size=32, **overrides):
    """A copy of `TINY_PREDICTOR` at `image_size` (a multiple of 32) with `overrides` applied."""
    return {**TINY_PREDICTOR, "image_size": int(image_size), **overrides}


def tiny_predictor(image_size=32, **overrides):
    """A fresh tiny VMSPredictor (weights drawn from Keras' global seed, set per test by conftest)."""
    from vms_zoo.models.vms_predictor import VMSPredictor

    return VMSPredictor(**tiny_predictor_config(image_size, **overrides))


def stand_in_predictor(size=16, channels=2, as_dict=False):
    """A stand-in VMS predictor: images (N, S, S, 3) in [0, 1] -> sigmoid maps (N, S/2, S/2, channels)."""
    import keras

    x = keras.Input((size, size, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    h = keras.layers.AveragePooling2D(2)(h)
    out = keras.layers.Conv2D(channels, 1, activation="sigmoid")(h)
    return keras.Model(x, {"vms": out} if as_dict else out)


def set_weights(model, seed):
    """Backend-independent weights: He-scaled normal kernels, small normal biases."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        fan_in = int(np.prod(v.shape[:-1])) if len(v.shape) > 1 else 100
        v.assign(rng.normal(0.0, np.sqrt(2.0 / fan_in), v.shape).astype("float32"))


WMEMGAN_SIZE, WMEMGAN_LATENT = 16, 8


def make_wmemgan(condition="score", seed=0, predictor=None, **kwargs):
    """A 16 px W-MEMGAN (latent 8, filters 16) with seeded weights; the stand-in predictor unless given one."""
    from vms_zoo.models.wmemgan import WMEMGAN

    if predictor is None:
        predictor = stand_in_predictor(WMEMGAN_SIZE)
        set_weights(predictor, seed + 2)
    model = WMEMGAN(predictor, **{"image_size": WMEMGAN_SIZE, "latent_dim": WMEMGAN_LATENT, "condition": condition,
                                  "filters": 16, "seed": 1, **kwargs})
    set_weights(model.generator, seed)
    set_weights(model.critic, seed + 1)
    return model


MEMGAN_LATENT = 8


def make_memgan(image_size=8, predictor=None, **kwargs):
    """A MEMGAN growing 4 -> `image_size` px, 8 filters per block, latent 8, map condition."""
    from vms_zoo.models.memgan import MEMGAN

    filters = [8] * (int(np.log2(image_size)) - 1)
    if predictor is None:
        predictor = stand_in_predictor(image_size)
    return MEMGAN(predictor, **{"image_size": image_size, "latent_dim": MEMGAN_LATENT, "filters": filters,
                                "seed": 1, **kwargs})


def assert_same_training(weights, ref_weights, initial, rtol=1e-3, atol=1e-5):
    """Two runs from the same `initial` weights end at the same weights, up to `rtol` of each tensor's largest
    update in the reference run (plus `atol` for float noise on weights of order 1).

    The tolerance follows the update size, not the weights: float-level differences between two code paths
    (devices, cached features, backends) move the result by a fraction of an update, while a wrong gradient
    scale or repeated noise is off by a whole one. (A fixed tolerance is either loose for small updates or
    flaky for large ones.) Compare SGD runs: Adam's first steps are lr * sign(gradient), so a weight whose
    true gradient is zero moves a full step along float noise.
    """
    assert len(weights) == len(ref_weights) == len(initial)
    moved = 0.0
    for i, (w, ref, init) in enumerate(zip(weights, ref_weights, initial)):
        w, ref, init = np.asarray(w, "float64"), np.asarray(ref, "float64"), np.asarray(init, "float64")
        update = np.abs(ref - init).max(initial=0.0)
        moved = max(moved, update)
        np.testing.assert_allclose(w, ref, rtol=0, atol=rtol * update + atol,
                                   err_msg=f"weight {i}: largest reference update {update:.3g}")
    assert moved > 1e-3, "training did not move the weights: the comparison would prove nothing"


def assert_replaces_keras_layer(ours, theirs, args, kwargs, input_shape, folder):
    """`ours`, standing in for Keras' layer class `theirs`: the same config, registered for deserialisation, and
    weights saved from a two-layer model built with `theirs` (checkpoints written before `ours`) load into one built
    with `ours` and give the same outputs. args: (filters, kernel_size)."""
    import os

    import keras

    layer = ours(*args, name="layer0", **kwargs)
    config = layer.get_config()
    assert config == theirs(*args, name="layer0", **kwargs).get_config()
    assert type(ours.from_config(config)) is ours
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is ours and restored.get_config() == config

    def model(conv):
        inputs = keras.Input(input_shape)
        return keras.Model(inputs, conv(2, *args[1:], **kwargs)(conv(*args, **kwargs)(inputs)))

    old, new = model(theirs), model(ours)
    path = os.path.join(folder, "old.weights.h5")
    old.save_weights(path)
    new.load_weights(path)
    x = np.random.default_rng(0).normal(size=(2, *input_shape)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(new(x)), keras.ops.convert_to_numpy(old(x)), rtol=1e-5,
                               atol=1e-5)


# --- presets -----------------------------------------------------------------------------------------------

def presets_with(rule):
    """Names of the registered presets whose family states `rule` ("trainer", "smoke_rule", "step_flops", ...):
    a family of third-party scorers, for one, has no smoke run to test."""
    from vms_zoo import presets, registry

    return [name for name in presets.list_presets()
            if getattr(registry.family(presets.get_preset(name)["class"]), rule) is not None]


def shrink_config(class_name, config):
    """A test-size copy of a config by its family's `test_shrink` rule (unchanged for a family without one);
    nested models (a GAN's feedback predictor) shrink by their own family's rule."""
    from vms_zoo import registry

    shrink = registry.family(class_name).test_shrink
    config = shrink(config) if shrink else dict(config)
    for key, value in config.items():
        if isinstance(value, dict) and value.get("class_name") in registry.classes():
            config[key] = {**value, "config": shrink_config(value["class_name"], value["config"])}
    return config


def trainable_presets():
    """The presets that train in vms_zoo: their family has a trainer (not the pretrained scorers)."""
    return presets_with("trainer")


def shrink_preset(name):
    """(class name, test-size config) of a registered preset: sizes shrunk, nested predictor too."""
    from vms_zoo import presets

    preset = presets.get_preset(name)
    return preset["class"], shrink_config(preset["class"], presets.without_downloads(preset["config"]))


def perturb_weights(model, seed=0):
    """Moves every float weight a little (positive ones stay positive), so equal outputs after a reload
    prove the weights were loaded rather than drawn again from the same seed."""
    rng = np.random.default_rng(seed)
    model.set_weights([w * (1.0 + 0.1 * rng.uniform(size=w.shape)).astype(w.dtype) + 0.01 * rng.uniform(size=w.shape)
                       .astype(w.dtype) if w.dtype.kind == "f" else w for w in model.get_weights()])


def model_outputs(model, seed=0, n=2):
    """The model's output on fixed inputs: maps for predictors, `generate` images for generators.

    A predictor is called directly (what `predict` runs, without compiling a predict function per model:
    seconds each on JAX), so the outputs of several models on the same inputs compare exactly.
    """
    import keras

    rng = np.random.default_rng(seed)
    if model.task == "generator":
        z = rng.normal(size=(n, model.latent_dim)).astype("float32")
        m = rng.uniform(size=(n,) + model.condition_shape).astype("float32")
        if model.standardized:  # z-scores
            m = rng.normal(size=(n,) + model.condition_shape).astype("float32")
        return model.generate(z, m)
    images = rng.uniform(size=(n, model.image_size, model.image_size, 3)).astype("float32")
    return keras.ops.convert_to_numpy(model(images, training=False)["vms"])


def run_preset_test(name, directory, metadata=None):
    """Build a test-size copy of preset `name`, save it with save_preset, load it back with `load(path)` and
    `Cls.from_preset(path)`, and check configs, parameter counts and outputs agree exactly.

    Returns (model, loaded) for further checks.
    """
    from pathlib import Path

    from vms_zoo import presets

    class_name, config = shrink_preset(name)
    cls = presets.model_class(class_name)
    model = presets.build(class_name, config)
    assert type(model) is cls and model.task == cls.task
    perturb_weights(model)
    if hasattr(model, "set_growth_state"):  # a growing GAN: save it mid-fade, so stage and fade travel too
        model.set_growth_state(len(model.sizes) - 1, 0.25, images_seen=123)
    expected = model_outputs(model)
    assert np.all(np.isfinite(expected)) and expected.min() >= 0.0 and expected.max() <= 1.0

    folder = presets.save_preset(model, Path(directory) / name, metadata or presets.get_preset(name)["metadata"])
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "metadata.json",
                                                        "model.weights.h5"]
    path = str(folder)  # a path, never a bare name
    for loaded in (presets.load(path), cls.from_preset(path)):
        assert type(loaded) is cls
        assert loaded.get_config() == model.get_config()
        assert loaded.count_params() == model.count_params()
        if hasattr(model, "growth_state"):
            assert loaded.growth_state() == model.growth_state() == (len(model.sizes) - 1, 0.25, 123)
        np.testing.assert_array_equal(model_outputs(loaded), expected)
    return model, loaded


def random_conv_layer(layer_class, kernel_size, strides, padding, channels, filters, seed=0):
    """A built Keras convolution layer (Conv2D, Conv2DTranspose) with O(1) random kernel (1 / sqrt(fan-in)) and bias."""
    layer = layer_class(filters, kernel_size, strides=strides, padding=padding)
    layer.build((None, None, None, channels))
    rng = np.random.default_rng(seed)
    fan_in = np.prod(layer.kernel.shape[:2]) * channels
    layer.kernel.assign(rng.normal(0.0, fan_in**-0.5, layer.kernel.shape).astype("float32"))
    layer.bias.assign(rng.normal(size=layer.bias.shape).astype("float32"))
    return layer
