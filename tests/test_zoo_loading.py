"""The zoo: every preset builds and describes itself; preset folders, shipped and downloaded weights load."""

import json
import os
import re

import keras
import numpy as np
import pytest

from vms_zoo import zoo

TINY_PREDICTOR = {"image_size": 32, "encoder": "conv", "encoder_weights": None, "encoder_filters": [8, 8, 8, 8],
                  "decoder_filters": [8, 8, 8, 8]}
# Per class: what shrinks a paper-size config to a test-size one (everything else comes from the preset).
TINY = {
    "VMSPredictor": TINY_PREDICTOR,
    "WMEMGAN": {"image_size": 16, "latent_dim": 8, "filters": 16,
                "predictor": zoo.nested("VMSPredictor", {**TINY_PREDICTOR, "dense_units": 8, "latent_dim": 4})},
    "MEMGAN": {"image_size": 8, "latent_dim": 8, "filters": [16, 16],
               "predictor": zoo.nested("VMSPredictor", {**TINY_PREDICTOR, "dense_units": 8, "latent_dim": 4})},
}


def tiny_model(class_name="VMSPredictor", **config):
    return zoo.build(class_name, {**TINY[class_name], "seed": 0, **config})


def run_model(model, seed=0):
    """The model's output on fixed inputs: maps for predictors, images for generators (eager: no compile)."""
    rng = np.random.default_rng(seed)
    if hasattr(model, "generate"):
        z = rng.normal(size=(2, model.latent_dim)).astype("float32")
        return model.generate(z, rng.uniform(size=(2,) + model.condition_shape).astype("float32"))
    out = model(rng.uniform(size=(2, model.image_size, model.image_size, 3)).astype("float32"), training=False)
    return keras.ops.convert_to_numpy(out["vms"] if isinstance(out, dict) else out)


@pytest.mark.parametrize("name", zoo.list_presets())
def test_every_preset_builds_round_trips_and_runs(name):
    preset = zoo.get_preset(name)
    assert preset["class"] in TINY, f"add test-size overrides for {preset['class']} to TINY"
    config = zoo.without_downloads(preset["config"])
    assert config["image_size"] == preset["metadata"]["resolution"]
    # Test size: the preset's config with only the sizes shrunk, so every other setting is exercised (full-size
    # builds take seconds each, minutes in all on three backends; the shipped-checkpoint tests load full size).
    model = zoo.build(preset["class"], {**config, **TINY[preset["class"]]})
    for key, value in config.items():
        if key not in TINY[preset["class"]] and isinstance(value, (int, float, str)):
            assert model.get_config()[key] == value, key
    clone = type(model).from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.count_params() == model.count_params() > 0
    out = run_model(model)
    size = getattr(model, "resolution", model.image_size)  # a growing GAN generates at its current stage
    assert out.shape == ((2, size, size, 3) if hasattr(model, "generate") else (2, size, size, 2))
    assert np.all(np.isfinite(out)) and out.min() >= 0.0 and out.max() <= 1.0


def test_every_preset_has_a_complete_card():
    for name in zoo.list_presets():
        preset = zoo.get_preset(name)
        assert {"class", "config", "weights", "metadata"} <= set(preset), name
        meta = preset["metadata"]
        missing = set(zoo.METADATA_FIELDS) - set(meta)
        assert not missing, f"{name} lacks {missing}"
        assert isinstance(meta["resolution"], int) and meta["resolution"] >= 16
        assert isinstance(meta["metrics"], dict)
        assert meta["recipe"].startswith("python recipes/") and meta["license"]
        assert ("synthetic" in name) == (meta["dataset"] == "synthetic"), name
        weights = preset["weights"]
        if weights is not None:
            assert re.fullmatch(r"[0-9a-f]{64}", weights["sha256"]) and ("file" in weights or "url" in weights)


def test_shipped_checkpoints_match_the_registry():
    for folder in sorted(p for p in zoo.CHECKPOINTS.iterdir() if p.is_dir()) if zoo.CHECKPOINTS.is_dir() else []:
        weights = zoo.get_preset(folder.name)["weights"]
        assert weights, f"{folder.name} is shipped but its preset has no weights entry"
        assert zoo.file_sha256(folder / weights.get("file", zoo.WEIGHTS_FILE)) == weights["sha256"], folder.name
        if (folder / zoo.METADATA_FILE).exists():
            assert json.loads((folder / zoo.METADATA_FILE).read_text())["weights_sha256"] == weights["sha256"]
        assert (folder / zoo.CARD_FILE).exists() and (folder / zoo.CONFIG_FILE).exists()
        spec = json.loads((folder / zoo.CONFIG_FILE).read_text())
        assert spec["class"] == zoo.get_preset(folder.name)["class"]
        for key, value in zoo.without_downloads(zoo.get_preset(folder.name)["config"]).items():
            saved = spec["config"][key]
            if isinstance(value, dict) and "class_name" in value:  # a nested model: the preset names a subset
                assert saved["class_name"] == value["class_name"], f"{folder.name}: {key}"
                saved, value = {k: saved["config"][k] for k in value["config"]}, value["config"]
            if isinstance(value, (list, tuple)):
                saved, value = list(saved), list(value)
            assert saved == value, f"{folder.name}: config.json and the preset disagree on {key}"


def test_without_downloads_reaches_nested_configs():
    config = zoo.without_downloads(zoo.get_preset("wmemgan_score_128")["config"])
    assert config["predictor"]["config"]["encoder_weights"] is None
    assert zoo.get_preset("wmemgan_score_128")["config"]["predictor"]["config"]["encoder_weights"] == "imagenet"


@pytest.mark.parametrize("class_name", ["VMSPredictor", "WMEMGAN", "MEMGAN"])
def test_save_preset_and_load_give_identical_outputs(tmp_path, class_name):
    model = tiny_model(class_name)
    folder = zoo.save_preset(model, tmp_path / "mine", {"description": "a test model", "dataset": "synthetic",
                                                        "metrics": {"model": {"rho2d_true": 0.25}}})
    assert sorted(os.listdir(folder)) == ["README.md", "config.json", "metadata.json", "model.weights.h5"]
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["parameters"] == model.count_params() and meta["class"] == class_name
    assert meta["weights_sha256"] == zoo.file_sha256(folder / "model.weights.h5")
    assert meta["description"] == "a test model"
    card = (folder / "README.md").read_text()
    assert meta["weights_sha256"] in card and "model.rho2d_true | 0.25" in card and f"{meta['parameters']:,}" in card

    loaded = zoo.load(folder)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(run_model(loaded), run_model(model))
    fresh = zoo.load(folder, weights=False)
    assert not np.array_equal(run_model(fresh), run_model(model))
    np.testing.assert_array_equal(run_model(zoo.load(folder, weights=folder / "model.weights.h5")), run_model(model))


def test_a_recipe_output_folder_loads(tmp_path):
    model = tiny_model()
    model.save_weights(tmp_path / "model.weights.h5")  # what recipes/train_vms_predictor.py writes
    (tmp_path / "config.json").write_text(json.dumps({"class": "VMSPredictor", "config": model.get_config()}))
    np.testing.assert_array_equal(run_model(zoo.load(tmp_path)), run_model(model))


def test_a_preset_folder_with_a_changed_weights_file_is_refused(tmp_path):
    folder = zoo.save_preset(tiny_model(), tmp_path / "p")
    tiny_model(seed=1).save_weights(folder / "model.weights.h5")
    with pytest.raises(ValueError, match="sha256"):
        zoo.load(folder)


@pytest.fixture
def registered(monkeypatch, tmp_path):
    """Register a tiny preset `tiny_synthetic_32` whose weights entry the test fills in."""
    model = tiny_model()
    source = tmp_path / "published.weights.h5"
    model.save_weights(source)
    preset = {"class": "VMSPredictor", "config": {**TINY_PREDICTOR, "seed": 0}, "weights": None,
              "metadata": {"description": "t", "paper": "p", "dataset": "synthetic", "resolution": 32,
                           "metrics": {}, "recipe": "python recipes/train_vms_predictor.py", "license": "x"}}
    monkeypatch.setitem(zoo.PRESETS, "tiny_synthetic_32", preset)
    monkeypatch.setattr(zoo, "CHECKPOINTS", tmp_path / "checkpoints")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return preset, source, zoo.file_sha256(source), run_model(model)


def test_shipped_weights_load_by_name_and_are_hash_checked(registered):
    preset, source, sha, expected = registered
    shipped = zoo.CHECKPOINTS / "tiny_synthetic_32" / "model.weights.h5"
    shipped.parent.mkdir(parents=True)
    shipped.write_bytes(source.read_bytes())
    preset["weights"] = {"file": "model.weights.h5", "sha256": sha}
    np.testing.assert_array_equal(run_model(zoo.load("tiny_synthetic_32")), expected)
    preset["weights"] = {"file": "model.weights.h5", "sha256": "0" * 64}
    with pytest.raises(ValueError, match="sha256"):
        zoo.load("tiny_synthetic_32")
    assert shipped.exists()  # a shipped file is the user's: reported, not deleted


def test_url_weights_download_through_get_file_with_sha256(registered):
    preset, source, sha, expected = registered
    preset["weights"] = {"url": source.as_uri(), "sha256": sha}
    np.testing.assert_array_equal(run_model(zoo.load("tiny_synthetic_32")), expected)
    cached = os.listdir(os.path.join(os.environ["KERAS_HOME"], "vms_zoo"))
    assert cached == [f"tiny_synthetic_32-{sha[:12]}.weights.h5"]
    np.testing.assert_array_equal(run_model(zoo.load("tiny_synthetic_32")), expected)  # from the cache


def test_a_download_with_the_wrong_hash_is_removed(registered):
    preset, source, sha, _ = registered
    preset["weights"] = {"url": source.as_uri(), "sha256": "f" * 64}
    with pytest.raises(ValueError, match="does not match sha256 f{64}.*removed"):
        zoo.load("tiny_synthetic_32")
    assert os.listdir(os.path.join(os.environ["KERAS_HOME"], "vms_zoo")) == []


def test_clear_errors_for_unknown_names_missing_folders_and_unpublished_weights(tmp_path):
    with pytest.raises(ValueError, match="Did you mean 'vms_vae_m32'"):
        zoo.load("vms_vae_m23")
    with pytest.raises(FileNotFoundError, match="No preset folder"):
        zoo.load(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="not a preset folder"):
        zoo.load(tmp_path)
    with pytest.raises(ValueError, match="no published weights.*train_vms_predictor.py --preset vms_vae_m8 "):
        zoo.load("vms_vae_m8")
    with pytest.raises(ValueError, match="No model class 'Nope'"):
        zoo.model_class("Nope")
