"""`vms-zoo train PRESET --smoke` for every preset, on data made at test time from real photographs: each run
takes the preset's own code path at its smallest size, writes a preset folder that loads, and generates or
predicts from it. Also: the one-line errors of data a preset cannot train on, through the command."""

import json

import pytest
from PIL import Image

import photo_data
from helpers import presets_with
from vms_zoo import cli, presets, training
from vms_zoo.data.sources import GAN_KINDS


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """{"images": folder of photo variants, "vischema": VISCHEMA root of the same photos with made-up maps}."""
    return {"images": photo_data.image_folder(tmp_path_factory.mktemp("photos")),
            "vischema": photo_data.vischema_root(tmp_path_factory.mktemp("vischema"))}


def data_spec(name, data):
    """GANs train on the photo folder; predictors on the VISCHEMA root, in their preset's VISCHEMA kind."""
    kind = presets.get_preset(name)["training"]["data"].split(":")[0]
    if presets.get_preset(name)["class"] != "VMSPredictor":
        return f"folder:{data['images']}"
    return f"{kind if kind not in GAN_KINDS else 'vischema1'}:{data['vischema']}"


def grid_size(rows, cols, side, scale):
    """The pixel size (width, height) of `vms_zoo.visualize.save_grid`'s picture."""
    return ((cols * (side + 2) + 2) * scale, (rows * (side + 2) + 2) * scale)


def jsonable(value):
    return json.loads(json.dumps(value))


# Feedback predictors a GAN's smoke run trained itself (preset name -> its folder). The first GAN run that needs
# one trains it (at smoke scale, checked below); the others take it with --set, which is what that run would
# train again: the same preset, smoke settings and data. It keeps this file short.
TRAINED_PREDICTORS = {}


@pytest.mark.parametrize("name", presets_with("smoke_rule"))
def test_every_preset_smoke_trains_from_real_photos_and_its_folder_loads(name, data, tmp_path, capsys):
    out = tmp_path / name
    feedback = presets.get_preset(name)["training"].get("predictor")
    reuse = ["--set", f"training.predictor={TRAINED_PREDICTORS[feedback]}"] if feedback in TRAINED_PREDICTORS else []
    assert cli.main(["train", name, "--data", data_spec(name, data), "--output", str(out), "--smoke", *reuse]) == 0
    assert f"Smoke run done: vms_zoo.load('{out}') loads the model" in capsys.readouterr().out
    settings = json.loads((out / "run.json").read_text())
    assert settings["smoke"] is True and settings["preset"] == name
    overrides = {"training.predictor": TRAINED_PREDICTORS[feedback]} if reuse else None
    expected = training.resolve(name, overrides, data=data_spec(name, data), smoke=True)
    assert jsonable(expected) == {k: v for k, v in settings.items() if k not in training.SESSION_KEYS}
    smallest = training.smallest_size(settings["class"])
    assert settings["config"]["image_size"] == smallest

    # What `smoke_check` drew from the folder after loading it with vms_zoo.load, as a user would.
    record = json.loads((out / "record.json").read_text())
    drawn = record["smoke"]
    assert drawn["file"] == str(out / training.SMOKE_FILE) and 0.0 <= drawn["min"] <= drawn["max"] <= 1.0
    loaded, config = drawn["config"], presets.without_downloads(settings["config"])
    config.pop("predictor", None)  # a GAN's trained feedback predictor replaces the preset's architecture
    if settings["training"].get("score_scale"):  # set by training: the feedback predictor's real-image scores
        config.pop("score_scale", None)
        mean, std = loaded["score_scale"]
        assert 0.0 < mean < 1.0 and std > 0.0
    assert {k: loaded[k] for k in config} == jsonable(config)  # the loaded model is the smoke config
    for key in ("pixel_norm", "minibatch_stddev", "condition", "encoder", "reconstruction", "alpha"):
        if key in presets.get_preset(name)["config"]:  # the preset's switches survive the shrinking
            assert loaded[key] == presets.get_preset(name)["config"][key], key
    assert json.loads((out / "config.json").read_text())["class"] == settings["class"]
    with Image.open(out / training.SMOKE_FILE) as picture:
        size = picture.size
    if settings["class"] == "VMSPredictor":
        assert drawn["shape"] == [2, smallest, smallest, 2]  # maps of the (capped) test split
        assert size == grid_size(2, 4, smallest, 2)  # image | true | predicted | overlay
        assert record["num_train"] == training.SMOKE_IMAGES and len(record["history"]["loss"]) == 1
        return
    pairs = settings["training"]["pairs"]
    assert drawn["shape"] == [2, pairs, smallest, smallest, 3]  # low and high target, per pair
    assert size == grid_size(pairs, 2, smallest, 4)
    assert record["pairs"]["num_pairs"] == pairs and record["num_images"] == training.SMOKE_IMAGES
    assert loaded["predictor"]["config"]["image_size"] in (32, 64)  # the trained feedback predictor travels along
    if (out / "predictor").exists():  # a feedback predictor without weights: trained here, at smoke scale too
        nested = json.loads((out / "predictor" / "run.json").read_text())
        assert nested["smoke"] is True and nested["preset"] == feedback and nested["training"]["data"] == "synthetic"
        assert nested["config"] == training.resolve(feedback, data="synthetic", smoke=True)["config"]
        assert loaded["predictor"]["config"]["encoder"] == nested["config"]["encoder"]
        TRAINED_PREDICTORS[feedback] = str(out / "predictor")
    if settings["class"] == "MEMGAN":  # grew 4 -> 8 px: 2 steps at 4 px, then 2 fading the 8 px block in
        assert record["resolution"] == 8 and record["images_seen"] == 2 * training.SMOKE_IMAGES
        assert sorted(p.name for p in (out / "samples").glob("*.png")) == [
            "samples_000000004img_8px_fade0.00.png", "samples_000000008img_8px_fade1.00.png"]  # phase ends
    else:
        assert record["gan"]["generator_steps"] == training.SMOKE_STEPS


def test_smoke_settings_keep_the_presets_code_path():
    for name in presets_with("smoke_rule"):
        full, smoke = training.resolve(name), training.resolve(name, smoke=True)
        assert smoke["class"] == full["class"] and smoke["training"]["data"] == full["training"]["data"]
        for key in ("encoder", "condition", "pixel_norm", "minibatch_stddev", "alpha", "reconstruction", "map_size"):
            assert smoke["config"].get(key) == full["config"].get(key), (name, key)
        for key in ("real_batches", "predictor", "scorer", "category", "augment"):
            assert smoke["training"].get(key) == full["training"].get(key), (name, key)
    vgg = training.resolve("vms_vae_vgg16_synthetic_64", smoke=True)["config"]
    assert vgg["encoder"] == "vgg16" and vgg["image_size"] == 32 and vgg["encoder_weights"] == "hed_vgg16"
    assert training.resolve("vms_vae_m8", smoke=True)["config"]["encoder_weights"] is None  # never downloads


def test_a_smoke_run_is_refused_on_a_folder_holding_a_full_run(tmp_path, capsys):
    full = training.resolve("vms_vae_synthetic_scorer_32")
    training.start_run(tmp_path, {**full, "verbose": 1, "distribute": False})
    before = (tmp_path / "run.json").read_text()
    assert cli.main(["train", "vms_vae_synthetic_scorer_32", "--output", str(tmp_path), "--smoke"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "other settings" in err and "smoke: None -> True" in err
    assert (tmp_path / "run.json").read_text() == before and sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def one_line_error(capsys, *args):
    """The single stderr line of `vms-zoo ARGS`, which must fail with exit code 1."""
    capsys.readouterr()
    assert cli.main([str(a) for a in args]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("vms-zoo: error: "), err
    return err.strip()


def test_data_a_preset_cannot_train_on_is_one_line_naming_the_path(data, tmp_path, capsys):
    out = tmp_path / "out"
    gan, predictor = "wmemgan_synthetic_score_32", "vms_vae_synthetic_scorer_32"
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    err = one_line_error(capsys, "train", gan, "--data", f"folder:{empty}", "--output", out, "--smoke")
    assert f"{empty}: no images found; expected a folder of image files" in err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.jpg").write_bytes(b"not a jpeg")
    (broken / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    err = one_line_error(capsys, "train", gan, "--data", f"folder:{broken}", "--output", out)
    assert f"{broken}: none of its 2 images could be decoded; expected a folder of image files" in err

    err = one_line_error(capsys, "train", predictor, "--data", f"folder:{data['images']}", "--output", out)
    assert f"folder:{data['images']} has no VMS maps: predictors need VISCHEMA-layout data" in err
    err = one_line_error(capsys, "train", gan, "--data", f"vischema1:{data['vischema']}", "--output", out)
    assert f"vischema1:{data['vischema']} holds VMS maps for predictors; GANs train on images" in err
    assert not out.exists()  # nothing was written for any of them


def test_a_vischema_folder_in_another_layout_is_one_line_naming_the_path(data, tmp_path, capsys):
    import shutil

    def broken(change):
        root = tmp_path / change.__name__
        shutil.copytree(data["vischema"] / "vischema1", root / "vischema1")
        change(root / "vischema1")
        return one_line_error(capsys, "train", "vms_vae_m8", "--data", f"vischema1:{root}", "--output",
                              tmp_path / "out", "--smoke"), root / "vischema1"

    def no_images(folder):
        shutil.rmtree(folder / "images")

    def no_vms(folder):
        shutil.rmtree(folder / "vms")

    def map_missing(folder):
        (folder / "vms" / "kitchen" / "img0.png").unlink()

    def map_of_another_size(folder):
        path = folder / "vms" / "living_room" / "img1_true.png"
        Image.open(path).resize((7, 5)).save(path)

    err, folder = broken(no_images)
    assert f"{folder}: no 'images/' folder; expected images/<category>/<name>.jpg with maps vms/" in err
    err, folder = broken(no_vms)
    assert f"{folder}: no 'vms/' folder; expected images/<category>/<name>.jpg" in err
    err, folder = broken(map_missing)
    assert f"{folder}: images without a VMS map (1): kitchen/img0" in err
    err, folder = broken(map_of_another_size)
    assert f"{folder}: VMS maps whose size differs from the image (1): living_room/img1 (image" in err
    err = one_line_error(capsys, "train", "vms_vae_m8", "--data", f"vischema1:{data['images']}", "--output",
                         tmp_path / "out")
    assert f"{data['images']}: no 'vischema1/' folder; expected {data['images']}/vischema1/images/<category>" in err
    assert not (tmp_path / "out").exists()
