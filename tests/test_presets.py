"""Presets: every preset builds, saves and loads back exactly; cards; preset folders name registered classes only
and import nothing; shipped weights are sha256-checked and reproduce their cards; downloads go through get_file."""

import functools
import inspect
import json
import os
import re
import sys

import numpy as np
import pytest

import vms_zoo
from helpers import (model_outputs, run_preset_test, shrink_preset, stand_in_predictor, tiny_predictor_config,
                     trainable_presets)
from vms_zoo import preset_io, presets
from vms_zoo.models.memgan import MEMGAN
from vms_zoo.models.resmem import ResMem
from vms_zoo.models.vms_predictor import VMSPredictor
from vms_zoo.models.wmemgan import WMEMGAN

CLASSES = {"VMSPredictor": VMSPredictor, "WMEMGAN": WMEMGAN, "MEMGAN": MEMGAN, "ResMem": ResMem}


def tiny_model(class_name="VMSPredictor", seed=0):
    """A test-size model of each class, through `presets.build` (a tiny VMSPredictor inside the GANs)."""
    predictor = tiny_predictor_config(seed=seed)
    config = {
        "VMSPredictor": predictor,
        "WMEMGAN": {"predictor": presets.nested("VMSPredictor", predictor), "image_size": 16, "latent_dim": 8,
                    "filters": 16, "seed": seed},
        "MEMGAN": {"predictor": presets.nested("VMSPredictor", predictor), "image_size": 8, "latent_dim": 8,
                   "filters": [16, 16], "seed": seed},
    }[class_name]
    return presets.build(class_name, config)


# --- the registry ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", trainable_presets())
@pytest.mark.slow
def test_every_preset_builds_saves_and_loads_back_exactly(name, tmp_path):
    """The run_preset_test helper: a test-size copy of the preset through save_preset, load and from_preset."""
    model, loaded = run_preset_test(name, tmp_path)
    preset = presets.get_preset(name)
    assert type(model).__name__ == preset["class"]
    # Only sizes were shrunk: every other setting of the preset is the model's.
    shrunk = shrink_preset(name)[1]
    for key, value in presets.without_downloads(preset["config"]).items():
        if isinstance(value, (int, float, str)) and key not in ("image_size", "latent_dim", "filters", "dense_units",
                                                                "encoder"):
            assert shrunk[key] == value and loaded.get_config()[key] == value, key
    assert preset["metadata"]["resolution"] == preset["config"]["image_size"]


def test_tasks_and_classes():
    names = presets.list_presets()
    predictors, generators = presets.list_presets("predictor"), presets.list_presets("generator")
    scorers = presets.list_presets("scorer")
    assert sorted(predictors + generators + scorers) == names and not set(predictors) & set(generators)
    assert {presets.get_preset(n)["class"] for n in predictors} == {"VMSPredictor"}
    assert {presets.get_preset(n)["class"] for n in generators} == {"WMEMGAN", "MEMGAN"}
    assert scorers == ["falseresmem", "resmem"] and trainable_presets() == sorted(predictors + generators)
    assert presets.model_classes() == CLASSES
    assert [cls.task for cls in CLASSES.values()] == ["predictor", "generator", "generator", "scorer"]
    assert presets.list_presets("nothing") == []


def test_paper_predictor_presets_match_the_paper_configs():
    expected = {"vms_vae_m8": (64, 8, "mse"), "vms_vae_m8_l1": (64, 8, "l1"), "vms_vae_m32": (128, 32, "mse")}
    for name, (n, m, loss) in expected.items():
        config = presets.get_preset(name)["config"]
        assert (config["dense_units"], config["latent_dim"], config["reconstruction"]) == (n, m, loss)
        assert config["image_size"] == 224 and config["encoder"] == "vgg16"
        assert config["encoder_weights"] == "imagenet"
        training = presets.get_preset(name)["training"]
        assert (training["learning_rate"], training["batch_size"], training["epochs"],
                training["steps_per_epoch"]) == (1e-4, 32, 250, 20)


def test_a_cpu_preset_builds_at_full_size():
    model = presets.load("vms_vae_synthetic_64", weights=False)
    assert isinstance(model, VMSPredictor) and model.image_size == 64 and model.count_params() > 0


def test_every_preset_has_a_complete_card():
    for name in presets.list_presets():
        preset = presets.get_preset(name)
        assert {"class", "config", "weights", "metadata"} <= set(preset), name
        meta = preset["metadata"]
        missing = set(presets.METADATA_FIELDS) - set(meta)
        assert not missing, f"{name} lacks {missing}"
        assert isinstance(meta["resolution"], int) and meta["resolution"] >= 16
        assert isinstance(meta["metrics"], dict)
        assert meta["license"]
        assert ("synthetic" in name) == (meta["dataset"] == "synthetic"), name
        weights = preset["weights"]
        if preset["training"] is None:  # a pretrained scorer: weights from its owners' wheel, which the card names
            assert re.fullmatch(r"[0-9a-f]{64}", weights["sha256"]) and weights["wheel"] in meta["recipe"], name
            assert presets.weights_status(name) in ("from wheel", "converted") and meta["notice"], name
            continue
        assert meta["recipe"].startswith(f"vms-zoo train {name} "), name
        if weights is not None:
            assert re.fullmatch(r"[0-9a-f]{64}", weights["sha256"]) and ("file" in weights or "url" in weights)
        assert presets.weights_status(name) in ("shipped", "not published"), name


def test_unknown_preset_suggests_close_names():
    assert "vms_vae_m32" in presets.list_presets()
    with pytest.raises(ValueError, match="Did you mean 'vms_vae_m32'"):
        presets.get_preset("vms_vae_m23")
    with pytest.raises(ValueError, match="Known presets"):
        presets.get_preset("zzz")


def test_without_downloads_reaches_nested_configs():
    config = presets.without_downloads(presets.get_preset("wmemgan_score_128")["config"])
    assert config["predictor"]["config"]["encoder_weights"] is None
    assert presets.get_preset("wmemgan_score_128")["config"]["predictor"]["config"]["encoder_weights"] == "imagenet"


# --- shipped checkpoints -----------------------------------------------------------------------------------


def shipped_folders():
    root = presets.checkpoints_dir()
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def test_shipped_checkpoints_match_the_registry():
    assert shipped_folders(), "no shipped checkpoints found"
    for folder in shipped_folders():
        preset = presets.get_preset(folder.name)
        weights = preset["weights"]
        assert weights, f"{folder.name} is shipped but its preset has no weights entry"
        assert presets.weights_status(folder.name) == "shipped"
        assert presets.file_sha256(folder / weights.get("file", presets.WEIGHTS_FILE)) == weights["sha256"], folder
        assert json.loads((folder / presets.METADATA_FILE).read_text())["weights_sha256"] == weights["sha256"]
        assert (folder / presets.CARD_FILE).exists()
        spec = json.loads((folder / presets.CONFIG_FILE).read_text())
        assert set(spec) == {"class", "config"}, f"{folder.name}: config.json may hold only class and config"
        assert spec["class"] == preset["class"]
        assert presets.read_preset_dir(folder)[0] == preset["class"]  # passes the folder checks
        for key, value in presets.without_downloads(preset["config"]).items():
            saved = spec["config"][key]
            if isinstance(value, dict) and "class_name" in value:  # a nested model: the preset names a subset
                assert saved["class_name"] == value["class_name"], f"{folder.name}: {key}"
                saved, value = {k: saved["config"][k] for k in value["config"]}, value["config"]
            if isinstance(value, (list, tuple)):
                saved, value = list(saved), list(value)
            assert saved == value, f"{folder.name}: config.json and the preset disagree on {key}"


@functools.cache
def shipped(name):
    """`vms_zoo.load(name)`, loaded once per module: the tests here only read these full-size models."""
    return vms_zoo.load(name)


@pytest.mark.parametrize("cls, name", [(VMSPredictor, "vms_vae_synthetic_scorer_32"),
                                       (WMEMGAN, "wmemgan_synthetic_map_32"), (MEMGAN, "memgan_synthetic_32")])
@pytest.mark.slow
def test_from_preset_on_each_class_by_name_and_by_folder(cls, name, tmp_path):
    model = cls.from_preset(name)
    assert type(model) is cls
    expected = model_outputs(model)
    np.testing.assert_array_equal(model_outputs(shipped(name)), expected)
    folder = model.save_to_preset(tmp_path / "copy")
    np.testing.assert_array_equal(model_outputs(cls.from_preset(str(folder))), expected)
    other = VMSPredictor if cls is not VMSPredictor else WMEMGAN
    with pytest.raises(ValueError, match=f"is a {cls.__name__}, not a {other.__name__}"):
        other.from_preset(name)


def test_load_keeps_its_signature():
    parameters = inspect.signature(vms_zoo.load).parameters
    assert list(parameters) == ["name_or_dir", "weights", "overrides"]
    assert parameters["weights"].default is True and parameters["overrides"].kind is inspect.Parameter.VAR_KEYWORD
    assert vms_zoo.load is presets.load


@pytest.mark.slow
def test_shipped_predictor_checkpoint_reproduces_its_card():
    from vms_zoo.data.synthetic import SyntheticScenes
    from vms_zoo.metrics import pearson_2d

    folder = presets.checkpoints_dir() / "vms_vae_synthetic_64"
    model = VMSPredictor.from_preset("vms_vae_synthetic_64")
    card = json.loads((folder / "metrics.json").read_text())["model"]["overall"]
    test = SyntheticScenes(image_size=64, seed=0).arrays("test", num=96, progress=False)
    rho = pearson_2d(test["vms"], model.predict(test["images"], verbose=0))
    assert rho[0] == pytest.approx(card["rho2d_true"], abs=0.05)
    assert rho[1] == pytest.approx(card["rho2d_false"], abs=0.06)


def test_every_shipped_card_is_what_the_card_writer_makes_of_its_metadata():
    """The cards in checkpoints/ are written from their metadata.json, never by hand, so they cannot drift from
    the card writer's layout or from the weights' recorded sha256."""
    folders = sorted(p for p in presets.checkpoints_dir().iterdir() if (p / presets.METADATA_FILE).is_file())
    assert len(folders) >= 6
    for folder in folders:
        metadata = json.loads((folder / presets.METADATA_FILE).read_text())
        assert metadata["weights_sha256"] == presets.file_sha256(folder / presets.WEIGHTS_FILE), folder.name
        card = (folder / presets.CARD_FILE).read_text()
        assert card == presets.model_card(folder.name, metadata), (
            f"checkpoints/{folder.name}/README.md differs from presets.model_card of its metadata.json: regenerate it")
        for section in ("## Model", "## Intended use", "## Training data", "## Metrics", "## Limitations",
                        "## Citation", "## Licence"):
            assert section in card, (folder.name, section)
        assert metadata["recipe"] in card and "| metric |" in card


SHIPPED_GENERATORS = ["wmemgan_synthetic_score_32", "wmemgan_synthetic_map_32", "memgan_synthetic_32",
                      "memgan_foil_synthetic_32"]


@pytest.fixture(scope="module")
def scorer():
    return shipped("vms_vae_synthetic_scorer_32")


@pytest.mark.parametrize("name", SHIPPED_GENERATORS)
@pytest.mark.slow
def test_shipped_generator_checkpoints_reproduce_their_cards(name, scorer):
    from vms_zoo.evaluation import evaluate_pairs

    folder = presets.checkpoints_dir() / name
    if not folder.exists():
        pytest.fail(f"{name} is registered with weights but checkpoints/{name} is missing")
    card = json.loads((folder / "metadata.json").read_text())["metrics"]["pairs_scored_by_vms_vae_synthetic_scorer_32"]
    gan = shipped(name)
    # One chunk of 100: the same pairs, but one generator shape to compile on JAX instead of 64 + 36.
    result = evaluate_pairs(gan, scorer, num_pairs=100, seed=0, batch_size=100)
    # 100 of the card's 1000 pairs (same seed): the mean difference agrees to sampling error.
    assert result["mean_difference"] == pytest.approx(card["mean_difference"], abs=0.012)
    if gan.alpha > 0:  # steered generators: high targets really score higher
        assert result["mean_difference"] > 0 and result["p_paired_t"] < 0.01


# --- preset folders ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_save_preset_writes_a_complete_folder_and_card(tmp_path):
    model = tiny_model()
    folder = presets.save_preset(model, tmp_path / "mine", {"description": "a test model", "dataset": "synthetic",
                                                            "metrics": {"model": {"rho2d_true": 0.25}}})
    assert sorted(os.listdir(folder)) == ["README.md", "config.json", "metadata.json", "model.weights.h5"]
    spec = json.loads((folder / "config.json").read_text())
    assert set(spec) == {"class", "config"} and spec["class"] == "VMSPredictor"
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["parameters"] == model.count_params() and meta["class"] == "VMSPredictor"
    assert meta["weights_sha256"] == presets.file_sha256(folder / "model.weights.h5")
    assert meta["description"] == "a test model"
    card = (folder / "README.md").read_text()
    assert meta["weights_sha256"] in card and "| rho2d_true | 0.25 |" in card and f"{meta['parameters']:,}" in card

    expected = model_outputs(model)
    np.testing.assert_array_equal(model_outputs(presets.load(folder)), expected)  # a Path works too
    assert not np.array_equal(model_outputs(presets.load(folder, weights=False)), expected)
    np.testing.assert_array_equal(model_outputs(presets.load(folder, weights=folder / "model.weights.h5")), expected)
    bigger = presets.load(folder, weights=False, dense_units=32)  # overrides replace config entries
    assert bigger.dense_units == 32


def test_only_registered_classes_are_saved(tmp_path):
    with pytest.raises(ValueError, match="Unknown model class 'Functional'"):
        presets.save_preset(stand_in_predictor(), tmp_path / "plain")
    assert not any((tmp_path / "plain").iterdir())


def test_a_recipe_output_folder_loads(tmp_path):
    model = tiny_model()
    model.save_weights(tmp_path / "model.weights.h5")  # what a recipe writes, without metadata
    (tmp_path / "config.json").write_text(json.dumps({"class": "VMSPredictor", "config": model.get_config()}))
    np.testing.assert_array_equal(model_outputs(presets.load(tmp_path)), model_outputs(model))


def test_a_preset_folder_with_a_changed_weights_file_is_refused(tmp_path):
    folder = presets.save_preset(tiny_model(), tmp_path / "p")
    tiny_model(seed=1).save_weights(folder / "model.weights.h5")
    with pytest.raises(ValueError, match="sha256"):
        presets.load(folder)
    with pytest.raises(ValueError, match="sha256"):
        VMSPredictor.from_preset(str(folder))


@pytest.mark.slow
def test_a_folder_is_given_as_a_path_and_a_bare_name_is_a_preset_name(tmp_path, monkeypatch):
    model = tiny_model()
    presets.save_preset(model, tmp_path / "mine")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="Unknown preset 'mine'"):
        presets.load("mine")
    for path in ("./mine", str(tmp_path / "mine"), "mine/"):
        np.testing.assert_array_equal(model_outputs(presets.load(path)), model_outputs(model))
    assert presets.is_path("~/mine") and presets.is_path("../mine") and not presets.is_path("mine")


# --- refusals that import nothing ------------------------------------------------------------------------------

STDLIB_CANDIDATES = ("wave", "tabnanny", "mailbox", "smtplib", "zipapp", "pyclbr", "imaplib", "nntplib")


@pytest.fixture
def stdlib_module(tmp_path, monkeypatch):
    """A module this process has not imported, so a loader that imports it would show: a standard-library one,
    else (all candidates already imported) a canary module written for this test."""
    for name in STDLIB_CANDIDATES:
        if name not in sys.modules:
            return name
    (tmp_path / "vms_zoo_canary_module.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "vms_zoo_canary_module"


def bad_specs(module):
    """config.json contents that must be refused, each naming the standard-library `module` somewhere."""
    tiny = tiny_predictor_config()
    gan = {"image_size": 16, "latent_dim": 8, "filters": 16}
    return {
        "module key": ({"class": "Mailbox", "module": module, "config": {}}, "unknown keys module"),
        "dotted class": ({"class": f"{module}.Mailbox", "config": {}}, "Unknown model class"),
        "keras-style class": ({"class": f"{module}>Mailbox", "config": {}}, "Unknown model class"),
        "keras class": ({"class": "Functional", "config": {}}, "Unknown model class"),
        "unknown config key": ({"class": "VMSPredictor", "config": {**tiny, "module": module}},
                               "keys VMSPredictor does not take: module"),
        "nested class": ({"class": "WMEMGAN", "config": {**gan, "predictor": {
            "class_name": "Mailbox", "registered_name": f"{module}>Mailbox", "module": module, "config": {}}}},
                         "feedback predictor must be a VMSPredictor"),
        "nested unknown key": ({"class": "MEMGAN", "config": {**gan, "filters": [8, 8, 8], "predictor": {
            **presets.nested("VMSPredictor", tiny), "config": {**tiny, "module": module}}}},
                               r"\(predictor\) has keys VMSPredictor does not take: module"),
        "not an object": ([module], "JSON object"),
    }


CASES = list(bad_specs("x"))


@pytest.mark.parametrize("loader", ["load", "from_preset"])
@pytest.mark.parametrize("case", CASES)
def test_a_bad_preset_folder_fails_in_one_line_and_imports_nothing(case, loader, stdlib_module, tmp_path):
    spec, message = bad_specs(stdlib_module)[case]
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(spec))
    load = presets.load if loader == "load" else VMSPredictor.from_preset
    presets.model_classes(), presets.registry()  # what any first load imports (the model families)
    before = set(sys.modules)
    with pytest.raises(ValueError, match=message) as error:
        load(str(folder), weights=False)
    assert "\n" not in str(error.value)
    assert set(sys.modules) == before and stdlib_module not in sys.modules


def test_serialised_module_entries_in_a_config_are_never_imported(stdlib_module, tmp_path):
    """Keras' own serialised forms inside a config (the nested predictor, a dtype policy) may carry a "module":
    a registered class is built from its config regardless, and a non-Keras module is never imported."""
    tiny = tiny_predictor_config()
    nested = {**presets.nested("VMSPredictor", tiny), "module": stdlib_module}
    spec = {"class": "WMEMGAN", "config": {"image_size": 16, "latent_dim": 8, "filters": 16, "predictor": nested}}
    (tmp_path / "config.json").write_text(json.dumps(spec))
    presets.model_classes(), presets.registry()
    before = set(sys.modules)
    model = presets.load(str(tmp_path), weights=False)
    assert isinstance(model, WMEMGAN) and isinstance(model.predictor, VMSPredictor)
    spec["config"]["dtype"] = {"module": stdlib_module, "class_name": "Wave_read", "config": {},
                               "registered_name": f"{stdlib_module}>Wave_read"}
    (tmp_path / "config.json").write_text(json.dumps(spec))
    try:  # Keras imports only its own modules; it keeps this policy as a bare name (a broken model, no import)
        presets.load(str(tmp_path), weights=False)
    except (TypeError, ValueError, AttributeError):
        pass
    assert stdlib_module not in sys.modules
    assert all(m.startswith(("keras", "vms_zoo")) for m in set(sys.modules) - before), set(sys.modules) - before


def test_clear_errors_for_unknown_names_missing_folders_and_unpublished_weights(tmp_path):
    with pytest.raises(ValueError, match="Did you mean 'vms_vae_m32'"):
        presets.load("vms_vae_m23")
    with pytest.raises(FileNotFoundError, match="No preset folder"):
        presets.load(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="not a preset folder"):
        presets.load(tmp_path)
    with pytest.raises(ValueError, match="no published weights.*vms-zoo train vms_vae_m8 "):
        presets.load("vms_vae_m8")
    with pytest.raises(ValueError, match="Unknown model class 'Nope'"):
        presets.model_class("Nope")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        presets.load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"class": "VMSPredictor", "config": tiny_predictor_config()}))
    with pytest.raises(FileNotFoundError, match="no model.weights.h5"):
        presets.load(tmp_path)
    assert isinstance(presets.load(tmp_path, weights=False), VMSPredictor)


# --- registered weights: shipped files and downloads --------------------------------------------------------


@pytest.fixture
def registered(monkeypatch, tmp_path):
    """Register a tiny preset `tiny_synthetic_32` whose weights entry the test fills in."""
    model = tiny_model()
    source = tmp_path / "published.weights.h5"
    model.save_weights(source)
    preset = {"class": "VMSPredictor", "config": tiny_predictor_config(), "weights": None,
              "metadata": {"description": "t", "paper": "p", "dataset": "synthetic", "resolution": 32,
                           "metrics": {}, "recipe": "vms-zoo train tiny_synthetic_32", "license": "x"}}
    monkeypatch.setitem(presets.registry(), "tiny_synthetic_32", preset)
    for module in (presets, preset_io):  # preset_io finds the weights, presets re-exports it to the CLI
        monkeypatch.setattr(module, "checkpoints_dir", lambda: tmp_path / "checkpoints")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return preset, source, presets.file_sha256(source), model_outputs(model)


def test_shipped_weights_load_by_name_and_are_hash_checked(registered):
    preset, source, sha, expected = registered
    assert presets.weights_status("tiny_synthetic_32") == "not published"
    preset["weights"] = {"file": "model.weights.h5", "sha256": sha}
    assert presets.weights_status("tiny_synthetic_32") == "missing"
    with pytest.raises(FileNotFoundError, match="missing"):
        presets.load("tiny_synthetic_32")
    shipped = presets.checkpoints_dir() / "tiny_synthetic_32" / "model.weights.h5"
    shipped.parent.mkdir(parents=True)
    shipped.write_bytes(source.read_bytes())
    assert presets.weights_status("tiny_synthetic_32") == "shipped"
    np.testing.assert_array_equal(model_outputs(presets.load("tiny_synthetic_32")), expected)
    np.testing.assert_array_equal(model_outputs(VMSPredictor.from_preset("tiny_synthetic_32")), expected)
    preset["weights"] = {"file": "model.weights.h5", "sha256": "0" * 64}
    with pytest.raises(ValueError, match="sha256"):
        presets.load("tiny_synthetic_32")
    assert shipped.exists()  # a shipped file is the user's: reported, not deleted


def test_url_weights_download_through_get_file_with_sha256(registered):
    preset, source, sha, expected = registered
    preset["weights"] = {"url": source.as_uri(), "sha256": sha}
    assert presets.weights_status("tiny_synthetic_32") == "download"
    np.testing.assert_array_equal(model_outputs(presets.load("tiny_synthetic_32")), expected)
    cached = os.listdir(os.path.join(os.environ["KERAS_HOME"], "vms_zoo"))
    assert cached == [f"tiny_synthetic_32-{sha[:12]}.weights.h5"]
    source.unlink()  # from the cache now
    np.testing.assert_array_equal(model_outputs(presets.load("tiny_synthetic_32")), expected)


def test_a_download_with_the_wrong_hash_is_removed(registered):
    preset, source, sha, _ = registered
    preset["weights"] = {"url": source.as_uri(), "sha256": "f" * 64}
    with pytest.raises(ValueError, match="does not match sha256 f{64}.*removed"):
        presets.load("tiny_synthetic_32")
    assert os.listdir(os.path.join(os.environ["KERAS_HOME"], "vms_zoo")) == []


def test_a_config_asking_for_huge_sizes_is_refused_before_anything_is_built(tmp_path):
    folder = tmp_path / "huge"
    folder.mkdir()
    for key, value in (("image_size", 1 << 20), ("dense_units", 10**9), ("decoder_filters", [10**7, 8, 8, 8])):
        (folder / "config.json").write_text(json.dumps({"class": "VMSPredictor", "config": {key: value}}))
        with pytest.raises(ValueError, match=f"{key}=.* is outside 0..") as error:
            presets.load(str(folder), weights=False)
        assert "\n" not in str(error.value)


# --- corrupt files, wrong types and oversized configs: one-line refusals before anything is built ----------------

CORRUPT_JSON = {"empty": ("", "is empty; expected a JSON object"),
                "blank": ("  \n", "is empty; expected a JSON object"),
                "not JSON": ("{not json", r"is not valid JSON: Expecting property name .* at line 1, column 2"),
                "cut short": ('{"class": "VMSPredictor", ', "is not valid JSON: .* at line 1"),
                "an array": ("[1, 2]", "must be a JSON object, got an array"),
                "a string": ('"VMSPredictor"', "must be a JSON object, got a string"),
                "a number": ("7", "must be a JSON object, got a number"),
                "not text": (b"\xff\xfe\x00{", "cannot be read as text")}


@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("case", list(CORRUPT_JSON))
@pytest.mark.parametrize("name", ["config.json", "metadata.json"])
def test_a_corrupt_json_file_in_a_preset_folder_is_named_in_one_line(name, case, weights, tmp_path):
    content, message = CORRUPT_JSON[case]
    model = tiny_model()
    model.save_to_preset(tmp_path)
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError, match=re.escape(str(path)) + " " + message) as error:
        presets.load(str(tmp_path), weights=weights)
    assert "\n" not in str(error.value)
    assert path.read_bytes() == (content if isinstance(content, bytes) else content.encode())  # left as it was


def test_a_metadata_sha256_that_is_not_a_hash_is_refused(tmp_path):
    tiny_model().save_to_preset(tmp_path)
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    for bad in (5, "abc", ["f" * 64], "g" * 64):
        (tmp_path / "metadata.json").write_text(json.dumps({**metadata, "weights_sha256": bad}))
        with pytest.raises(ValueError, match=r"metadata.json: weights_sha256 must be 64 hex digits, got"):
            presets.load(str(tmp_path))
    upper = {**metadata, "weights_sha256": metadata["weights_sha256"].upper()}
    (tmp_path / "metadata.json").write_text(json.dumps(upper))
    assert isinstance(presets.load(str(tmp_path)), VMSPredictor)


def gan_config(class_name, **overrides):
    base = {"predictor": presets.nested("VMSPredictor", tiny_predictor_config()), "image_size": 16, "latent_dim": 8}
    base.update({"filters": 16} if class_name == "WMEMGAN" else {"filters": [8, 8, 8]})
    return {**base, **overrides}


WRONG_TYPES = [  # (class, key, value, what the message says it must be)
    ("VMSPredictor", "image_size", "64", "an integer"),
    ("VMSPredictor", "image_size", 64.0, "an integer"),
    ("VMSPredictor", "image_size", True, "an integer"),
    ("VMSPredictor", "encoder_filters", "abc", "a list of integers"),
    ("VMSPredictor", "encoder_filters", [8, "16"], "a list of integers"),
    ("VMSPredictor", "decoder_filters", 16, "a list of integers"),
    ("VMSPredictor", "dense_units", 3.5, "an integer"),
    ("VMSPredictor", "encoder", "resnet", "one of 'vgg16', 'conv'"),
    ("VMSPredictor", "encoder_weights", 1, "null or a string"),
    ("VMSPredictor", "reconstruction", ["mse"], "one of 'mse', 'l1'"),
    ("VMSPredictor", "kl_weight", "1", "a finite number"),
    ("VMSPredictor", "kl_weight", float("nan"), "a finite number"),
    ("VMSPredictor", "l2", float("inf"), "a finite number"),
    ("VMSPredictor", "seed", "0", "null or an integer"),
    ("VMSPredictor", "name", 3, "a string"),
    ("VMSPredictor", "trainable", "yes", "true or false"),
    ("WMEMGAN", "condition", "maps", "one of 'score', 'map'"),
    ("WMEMGAN", "latent_dim", "8", "an integer"),
    ("WMEMGAN", "filters", [16], "an integer"),
    ("WMEMGAN", "alpha", "10", "a finite number"),
    ("WMEMGAN", "pixel_norm", "false", "true or false"),
    ("WMEMGAN", "score_scale", "0.1", "null or a list of finite numbers or an object"),
    ("WMEMGAN", "predictor", "vms_vae_m8", "an object or a Model"),
    ("MEMGAN", "filters", "8,8,8", "null or a list of integers"),
    ("MEMGAN", "ema_beta", "0.999", "null or a finite number"),
    ("MEMGAN", "map_size", None, "an integer"),
]


@pytest.mark.parametrize("class_name, key, value, expected", WRONG_TYPES)
def test_a_wrong_typed_config_value_is_named_with_its_expected_type(class_name, key, value, expected, tmp_path):
    config = tiny_predictor_config() if class_name == "VMSPredictor" else gan_config(class_name)
    (tmp_path / "config.json").write_text(json.dumps({"class": class_name, "config": {**config, key: value}}))
    with pytest.raises(ValueError, match=re.escape(f"config.json: {key}={value!r} must be {expected}.")) as error:
        presets.load(str(tmp_path), weights=False)
    assert "\n" not in str(error.value)


def test_a_wrong_typed_value_in_a_nested_predictor_or_an_override_is_named(tmp_path):
    nested = presets.nested("VMSPredictor", tiny_predictor_config(latent_dim="4"))
    (tmp_path / "config.json").write_text(json.dumps({"class": "WMEMGAN", "config": gan_config("WMEMGAN",
                                                                                               predictor=nested)}))
    with pytest.raises(ValueError, match=r"\(predictor\): latent_dim='4' must be an integer\."):
        presets.load(str(tmp_path), weights=False)
    with pytest.raises(ValueError, match=r"config: image_size='64' must be an integer\."):
        presets.load("vms_vae_synthetic_32", weights=False, image_size="64")


@pytest.mark.parametrize("cls", [VMSPredictor, WMEMGAN, MEMGAN])
def test_every_constructor_argument_has_an_expected_type(cls):
    arguments = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs", "dtype"}
    assert set(cls.config_types) == arguments
    for config in (p["config"] for p in presets.registry().values() if p["class"] == cls.__name__):
        presets.check_config(cls, config)  # every preset's own values pass


def weighted_outputs(model):
    """Numbers per sample out of the Dense, convolution and transposed-convolution layers of a functional model
    (nested models included), from the shapes in its graph: what `size_estimate` counts as activations."""
    import keras

    total = 0
    for nodes in model._nodes_by_depth.values():
        for node in nodes:
            op = node.operation
            if isinstance(op, keras.Model):
                total += weighted_outputs(op)
            elif isinstance(op, (keras.layers.Dense, keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
                total += int(np.prod(node.outputs[0].shape[1:]))
    return total


SIZED_CONFIGS = [
    ("VMSPredictor", tiny_predictor_config()),
    ("VMSPredictor", tiny_predictor_config(64, encoder_filters=[8, 16, 5], dense_units=7, latent_dim=3)),
    ("VMSPredictor", {"image_size": 64, "encoder_weights": None, "dense_units": 5}),
    ("WMEMGAN", gan_config("WMEMGAN")),
    ("WMEMGAN", gan_config("WMEMGAN", image_size=32, filters=64, latent_dim=5, condition="map", map_size=3,
                           minibatch_stddev=True)),
    ("MEMGAN", gan_config("MEMGAN")),
    ("MEMGAN", gan_config("MEMGAN", filters=[16, 8, 4], ema_beta=None, condition="score")),
]


@pytest.mark.parametrize("class_name, config", SIZED_CONFIGS)
def test_the_closed_form_size_matches_the_built_model(class_name, config):
    cls = CLASSES[class_name]
    parameters, activations = presets.size_estimate(cls, config)
    model = presets.build(class_name, config)
    assert parameters == model.count_params()
    if class_name == "VMSPredictor":
        assert activations == weighted_outputs(model)
    elif class_name == "WMEMGAN":
        assert activations == sum(weighted_outputs(m) for m in (model.generator, model.critic, model.predictor))
    else:  # no functional graph: count what the equalised layers return when both nets run at the last stage
        assert activations == memgan_weighted_outputs(model) + weighted_outputs(model.predictor)


def memgan_weighted_outputs(model):
    """Numbers per sample out of a MEMGAN's equalised Dense and convolution layers at its last stage (stable),
    generator and critic, recorded from one eager call of each."""
    from vms_zoo.layers import EqualizedConv2D, EqualizedDense

    sizes, calls = [], {cls: cls.call for cls in (EqualizedConv2D, EqualizedDense)}

    def recording(call):
        def wrapped(self, x, *args, **kwargs):
            out = call(self, x, *args, **kwargs)
            sizes.append(int(np.prod(out.shape[1:])))
            return out
        return wrapped

    stage, side = len(model.sizes) - 1, model.sizes[-1]
    z = np.zeros((1, model.latent_dim), "float32")
    m = np.zeros((1,) + model.condition_shape, "float32")
    try:
        for cls, call in calls.items():
            cls.call = recording(call)
        model.generator([z, m], stage=stage)
        model.critic(np.zeros((1, side, side, 3), "float32"), stage=stage)
    finally:
        for cls, call in calls.items():
            cls.call = call
    return sum(sizes)


HUGE = [  # (class, config, what is over the limit)
    ("VMSPredictor", {"dense_units": 65536, "latent_dim": 65536, "encoder_weights": None}, "parameters"),
    ("VMSPredictor", {"image_size": 1024, "encoder": "conv", "encoder_filters": [4096] + [1] * 8},
     "activations per image"),
    ("WMEMGAN", gan_config("WMEMGAN", image_size=128, filters=65536), "parameters"),
    ("MEMGAN", gan_config("MEMGAN", image_size=1024, filters=[8] * 8 + [512]), "activations per image"),
]


@pytest.mark.parametrize("class_name, config, what", HUGE)
def test_a_config_asking_for_gigabytes_is_refused_with_its_estimate(class_name, config, what, tmp_path,
                                                                   monkeypatch):
    cls = CLASSES[class_name]
    monkeypatch.setattr(cls, "from_config", classmethod(lambda *a, **k: pytest.fail("built before the check")))
    (tmp_path / "config.json").write_text(json.dumps({"class": class_name, "config": config}))
    estimate = presets.size_estimate(cls, config)[what != "parameters"]
    limit = presets.MAX_PARAMETERS if what == "parameters" else presets.MAX_ACTIVATIONS
    assert estimate > limit
    with pytest.raises(ValueError, match=re.escape(f"would build {estimate:,} {what} (") + r"[\d.]+ GiB as float32\); "
                       + re.escape(f"the limit is {limit:,}")) as error:
        presets.load(str(tmp_path), weights=False)
    assert "\n" not in str(error.value)


def test_the_size_limits_hold_the_largest_presets_with_room():
    """memgan_256 (the largest) is well inside both limits: a real config is never refused (the scorers' sizes are
    fixed by their published architectures, so they have no estimate)."""
    for name, preset in presets.registry().items():
        cls = presets.model_class(preset["class"])
        if not hasattr(cls, "size_estimate"):
            continue
        parameters, activations = presets.size_estimate(cls, preset["config"])
        assert parameters < presets.MAX_PARAMETERS / 3 and activations < presets.MAX_ACTIVATIONS / 5, name
