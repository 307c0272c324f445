"""`vms-zoo train PRESET --smoke` for every preset, on data made at test time from real photographs: each run
takes the preset's own code path at its smallest size, writes a preset folder that loads, and generates or
predicts from it. Also: the one-line errors of data a preset cannot train on, through the command."""

import json

import pytest
from PIL import Image

import photo_data
from helpers import presets_with
from vms_zoo import cli, presets, training
from vms_zoo.data.sources import kinds_for
from vms_zoo.models.memorability_gan import SMOKE_FEEDBACK


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
    return f"{kind if kind not in kinds_for('generator') else 'vischema1'}:{data['vischema']}"


def grid_size(rows, cols, side, scale):
    """The pixel size (width, height) of `vms_zoo.visualize.save_grid`'s picture with titled columns (a header
    of the title's font size, 10-18 px by the column's width, plus 8)."""
    header = max(10, min(18, side * scale // 6)) + 8
    return ((cols * (side + 2) + 2) * scale, (rows * (side + 2) + 2) * scale + header)


def jsonable(value):
    return json.loads(json.dumps(value))


# Feedback predictors a GAN's smoke run trained itself (preset name -> its folder). The first GAN run that needs
# one trains it (at smoke scale, checked below); the others take it with --set, which is what that run would
# train again: the same preset, smoke settings and data. It keeps this file short.
TRAINED_PREDICTORS = {}
# Presets whose smoke run takes their twin's code path: the same networks, stages and switches, only alpha 0 (the foils'
# generator) and another data category. Their twin's run stands for theirs; the test below checks that the resolved
# smoke settings differ in just those entries. A 256 px MEMGAN smoke run traces 8 growth phases (about 100 s of CPU).
SAME_CODE_PATH = {"memgan_foil_256": "memgan_256", "memgan_foil_synthetic_32": "memgan_synthetic_32"}


def test_presets_left_to_their_twin_take_its_code_path():
    for name, twin in SAME_CODE_PATH.items():
        a, b = training.resolve(name, smoke=True), training.resolve(twin, smoke=True)
        differ = {(section, key) for section in ("config", "training") for key in set(a[section]) | set(b[section])
                  if a[section].get(key) != b[section].get(key)}
        assert differ <= {("config", "alpha"), ("training", "category")} and a["class"] == b["class"], (name, differ)


@pytest.mark.parametrize("name", [name for name in presets_with("smoke_rule") if name not in SAME_CODE_PATH])
def test_every_preset_smoke_trains_from_real_photos_and_its_folder_loads(name, data, tmp_path, capsys):
    out = tmp_path / name
    feedback = presets.get_preset(name)["training"].get("predictor")
    score_scaled = presets.get_preset(name)["training"].get("score_scale") is True
    reuse = (["--set", f"training.predictor={TRAINED_PREDICTORS[feedback]}"]
             if feedback in TRAINED_PREDICTORS and not score_scaled else [])
    assert cli.main(["train", name, "--data", data_spec(name, data), "--output", str(out), "--smoke", *reuse]) == 0
    assert f"Smoke run done: vms_zoo.load('{out}') loads the model" in capsys.readouterr().out
    settings = json.loads((out / "run.json").read_text())
    assert settings["smoke"] is True and settings["preset"] == name
    overrides = {"training.predictor": TRAINED_PREDICTORS[feedback]} if reuse else None
    expected = training.resolve(name, overrides, data=data_spec(name, data), smoke=True)
    assert jsonable(expected) == {k: v for k, v in settings.items() if k not in (*training.SESSION_KEYS, training.STATE)}
    smallest = training.smallest_size(settings["class"])
    # MEMGAN grows to the preset's own resolution (every stage); the others run at their smallest side.
    side = presets.get_preset(name)["config"]["image_size"] if settings["class"] == "MEMGAN" else smallest
    assert settings["config"]["image_size"] == side

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
    assert drawn["shape"] == [2, pairs, side, side, 3]  # low and high target, per pair
    assert size == grid_size(pairs, 2, side, 4)
    assert record["pairs"]["num_pairs"] == pairs and record["num_images"] == training.SMOKE_IMAGES
    assert loaded["predictor"]["config"]["image_size"] in (32, 64)  # the trained feedback predictor travels along
    if (out / "predictor").exists():  # a feedback predictor without weights: trained here, at smoke scale too
        nested = json.loads((out / "predictor" / "run.json").read_text())
        assert nested["smoke"] is True and nested["preset"] == feedback and nested["training"]["data"] == "synthetic"
        assert nested["config"] == training.resolve(feedback, data="synthetic", smoke=True)["config"]
        assert loaded["predictor"]["config"]["encoder"] == nested["config"]["encoder"]
        TRAINED_PREDICTORS[feedback] = str(out / "predictor")
    if settings["class"] == "MEMGAN":  # every stage: a step at 4 px, one fading each block in, one stable at the end
        sizes = [4 * 2**s for s in range(side.bit_length() - 2)]  # 4, 8, ..., side
        batch = training.SMOKE_BATCH
        assert record["resolution"] == side and record["images_seen"] == (len(sizes) + 1) * batch
        assert settings["config"]["filters"] == [training.SMOKE_WIDTH] * len(sizes)
        assert loaded["ema_beta"] == presets.get_preset(name)["config"]["ema_beta"]  # its moving average, as set
        # A sample grid at each phase's end, where the next block has just grown (fade 0.00), then the last
        # block faded in (fade 1.00) and trained at full weight.
        ends = [f"samples_{(s + 1) * batch:09d}img_{r}px_fade0.00.png" for s, r in enumerate(sizes[1:])]
        ends += [f"samples_{k * batch:09d}img_{side}px_fade1.00.png" for k in (len(sizes), len(sizes) + 1)]
        assert sorted(p.name for p in (out / "samples").glob("*.png")) == sorted(ends)
    else:
        assert record["gan"]["generator_steps"] == training.SMOKE_STEPS


def test_smoke_settings_keep_the_presets_code_path():
    for name in presets_with("smoke_rule"):
        full, smoke = training.resolve(name), training.resolve(name, smoke=True)
        assert smoke["class"] == full["class"] and smoke["training"]["data"] == full["training"]["data"]
        for key in ("encoder", "condition", "pixel_norm", "minibatch_stddev", "alpha", "reconstruction", "map_size"):
            assert smoke["config"].get(key) == full["config"].get(key), (name, key)
        for key in ("real_batches", "scorer", "category", "augment"):
            assert smoke["training"].get(key) == full["training"].get(key), (name, key)
        # A predictor trained at smoke scale cannot rank real images: score-scaled runs take a shipped one.
        fed_back = full["training"].get("predictor")
        if full["training"].get("score_scale") is True and presets.weights_status(fed_back) == "not published":
            fed_back = SMOKE_FEEDBACK
        assert smoke["training"].get("predictor") == fed_back, name
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
    assert f"folder:{data['images']} has no VMS maps: predictors need synthetic, vischema1:DIR" in err
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
