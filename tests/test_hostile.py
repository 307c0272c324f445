"""Every `vms-zoo` command against hostile input: links in the output, outputs inside inputs, typos, NaN, bounds,
corrupt JSON, a bad image in a later batch, stale locks. Each case checks the one-line error (or the safe result)
and that no file outside what the command owns changed. In process (`cli.main`), with tiny preset folders; the
cases that train are marked slow."""

import hashlib
import json
import os
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import helpers
from vms_zoo import cli, preset_io, presets, training
from vms_zoo.presets import build, checkpoints_dir, load, nested, save_preset
from vms_zoo.training import runs
from vms_zoo.visualize import to_uint8

TINY = helpers.tiny_predictor_config(encoder_filters=[8, 8], dense_units=8)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Preset folders (a tiny predictor, an independent scorer, a tiny score-conditioned W-MEMGAN) and images."""
    root = tmp_path_factory.mktemp("hostile")
    save_preset(build("VMSPredictor", TINY), root / "predictor")
    save_preset(build("VMSPredictor", {**TINY, "seed": 1}), root / "scorer")
    save_preset(build("WMEMGAN", {"predictor": nested("VMSPredictor", TINY), "image_size": 16, "latent_dim": 8,
                                  "filters": 8, "condition": "score"}), root / "gan")
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        Image.fromarray((rng.uniform(size=(24, 30, 3)) * 255).astype(np.uint8)).save(root / f"{name}.png")
    (root / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return root


def refused(capsys, *args, code=1):
    """Run the command, expect it to fail with one line on stderr; returns that line."""
    try:
        result = cli.main([str(a) for a in args])
    except SystemExit as e:  # usage errors: argparse exits with 2
        result = e.code
    err = capsys.readouterr().err.strip()
    assert result == code and len(err.splitlines()) == 1 and err.startswith("vms-zoo: error: "), (result, err)
    return err


def snapshot(folder):
    """{relative path: sha256} of every file under `folder` (links are not followed)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file() and not p.is_symlink()}


def linked_output(tmp_path, folder, name):
    """(a file of the user's holding "mine", an output folder whose `name` is a link to that file)."""
    precious, out = tmp_path / "precious.txt", tmp_path / folder
    precious.write_text("mine")
    out.mkdir()
    (out / name).symlink_to(precious)
    return precious, out


# --- predict -----------------------------------------------------------------------------------------------


def test_predict_replaces_a_link_in_its_output_and_never_writes_through_it(tmp_path, capsys, folders):
    precious, out = linked_output(tmp_path, "out", "a_vms.png")
    assert "already exists; pass --overwrite" in refused(
        capsys, "predict", folders / "a.png", "--preset", folders / "predictor", "--output", out)
    assert cli.main([str(a) for a in ("predict", folders / "a.png", "--preset", folders / "predictor", "--output",
                                      out, "--overwrite")]) == 0
    assert precious.read_text() == "mine"
    assert not (out / "a_vms.png").is_symlink() and Image.open(out / "a_vms.png").format == "PNG"


def test_predict_checks_every_image_before_writing_any_output(tmp_path, capsys, folders):
    out = tmp_path / "out"
    args = ["predict", folders / "a.png", folders / "b.png", folders / "bad.png", "--batch-size", 1,
            "--preset", folders / "predictor", "--output", out]
    assert "Cannot read image" in refused(capsys, *args)
    assert not out.exists()  # not even the folder: nothing half-written blocks the corrected command
    assert cli.main([str(a) for a in args[:3] + args[4:]]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_overlay.png", "a_panel.png", "a_vms.png", "b_overlay.png",
                                                     "b_panel.png", "b_vms.png", "scores.json"]


def test_predict_failing_halfway_leaves_an_existing_output_folder_as_it_was(tmp_path, capsys, folders):
    out = tmp_path / "deep" / "out"
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    assert "Cannot read image" in refused(capsys, "predict", folders / "a.png", folders / "bad.png", "--batch-size",
                                          1, "--preset", folders / "predictor", "--output", out, "--overwrite")
    assert snapshot(tmp_path) == {"deep/out/notes.txt": hashlib.sha256(b"mine").hexdigest()}
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]  # no staging folder left either


def test_predict_never_writes_inside_its_preset_folder(tmp_path, capsys, folders):
    preset = tmp_path / "predictor"
    shutil.copytree(folders / "predictor", preset)
    before = snapshot(preset)
    assert "inside the input folder" in refused(
        capsys, "predict", folders / "a.png", "--preset", preset, "--output", preset / "maps", "--overwrite")
    assert snapshot(preset) == before and not (preset / "maps").exists()


def test_predict_draws_a_huge_image_from_a_bounded_copy(tmp_path, folders):
    big = tmp_path / "big.png"
    Image.new("RGB", (4000, 3000), (200, 120, 40)).save(big)  # 12 megapixels: 144 MB as float32 RGB
    tracemalloc.start()
    try:
        code = cli.main([str(a) for a in ("predict", big, "--preset", folders / "predictor", "--output",
                                          tmp_path / "out")])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 0 and peak < 60e6, f"{peak / 1e6:.0f} MB of Python / numpy memory at the peak"
    with Image.open(tmp_path / "out" / "big_overlay.png") as overlay:
        assert overlay.size == (512, 384)  # the longest side DISPLAY_SIZE, the aspect kept
        assert np.abs(np.asarray(overlay, np.float32).mean((0, 1)) - (200, 120, 40)).max() < 120


# --- generate ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--pairs", "99999999999"], "argument --pairs: expected at most 10000 pairs"),
    (["--pairs", "0"], "argument --pairs: expected a whole number >= 1"),
    (["--seed", "-1"], "argument --seed: expected a whole number from 0 to 2147483647"),
    (["--memorability", "nan"], "--memorability must be in [0, 1]"),
    (["--memorability", "mid"], "--memorability must be low, high, a number"),
])
def test_generate_refuses_bad_numbers_before_the_model_loads_and_creates_nothing(tmp_path, capsys, monkeypatch,
                                                                                 folders, args, message):
    monkeypatch.setattr(cli, "load_model", lambda *a: pytest.fail("the model loaded"))
    out = tmp_path / "gen"
    code = 2 if args[0] != "--memorability" else 1
    assert message in refused(capsys, "generate", "--preset", folders / "gan", "--output", out, *args, code=code)
    assert not out.exists()


def test_generate_streams_pairs_in_chunks_with_the_same_images(tmp_path, monkeypatch, folders):
    monkeypatch.setattr(cli, "GENERATE_CHUNK", 2)
    monkeypatch.setattr(cli, "GRID_ROWS", 3)
    calls = []
    gan = load(str(folders / "gan"))
    generate = type(gan).generate
    monkeypatch.setattr(type(gan), "generate", lambda self, z, m: calls.append(len(z)) or generate(self, z, m))
    assert cli.main(["generate", "--preset", str(folders / "gan"), "--pairs", "5", "--seed", "3", "--output",
                     str(tmp_path / "gen"), "--memorability", "low", "0.7"]) == 0
    assert calls == [2, 2, 2, 2, 1, 1]  # at most GENERATE_CHUNK z at a time, for each memorability
    z = np.random.default_rng(3).normal(size=(5, gan.latent_dim)).astype("float32")
    for value, label in (("low", "low"), (0.7, "0.7")):
        expected = to_uint8(generate(gan, z, gan.make_condition(value, 5, 3)))
        for i in range(5):
            written = np.asarray(Image.open(tmp_path / "gen" / f"z{i:03d}_{label}.png"))
            assert np.abs(written.astype(int) - expected[i]).max() <= 1, (label, i)
    with Image.open(tmp_path / "gen" / "grid.png") as grid:
        width, height = grid.size  # 3 rows of 2 columns, scale 2, under a header naming the targets
        assert width == 2 * (2 * (16 + 2) + 2) and height == 2 * (3 * (16 + 2) + 2) + 18


def test_generate_replaces_links_and_never_writes_inside_its_preset(tmp_path, capsys, folders):
    precious, out = linked_output(tmp_path, "gen", "grid.png")
    args = ["generate", "--preset", folders / "gan", "--pairs", 1, "--output", out]
    assert "already exists" in refused(capsys, *args)
    assert cli.main([str(a) for a in args + ["--overwrite"]]) == 0
    assert precious.read_text() == "mine" and not (out / "grid.png").is_symlink()
    gan = tmp_path / "gan"
    shutil.copytree(folders / "gan", gan)
    assert "inside the input folder" in refused(capsys, "generate", "--preset", gan, "--output", gan / "out", "--overwrite")
    assert snapshot(gan) == snapshot(folders / "gan")


# --- evaluate ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["preset/model.weights.h5", "scorer/config.json", "preset", "data/stats.json"])
def test_evaluate_never_writes_over_or_inside_an_input(tmp_path, capsys, folders, target):
    shutil.copytree(checkpoints_dir() / "wmemgan_synthetic_score_32", tmp_path / "preset")
    shutil.copytree(checkpoints_dir() / "vms_vae_synthetic_scorer_32", tmp_path / "scorer")
    (tmp_path / "data").mkdir()
    shutil.copy(folders / "a.png", tmp_path / "data")
    before = snapshot(tmp_path)
    message = refused(capsys, "evaluate", "--preset", tmp_path / "preset", "--scorer", tmp_path / "scorer",
                      "--pairs", 4, "--data", f"folder:{tmp_path / 'data'}", "--output", tmp_path / target,
                      "--overwrite")
    assert "would overwrite" in message and "choose another --output" in message
    assert snapshot(tmp_path) == before


def test_evaluate_never_writes_inside_a_named_presets_shipped_folder(tmp_path, capsys, monkeypatch, folders):
    shipped = tmp_path / "checkpoints"  # a copy: a failure here must not break the repository's own checkpoints
    shutil.copytree(checkpoints_dir() / "vms_vae_synthetic_scorer_32", shipped / "vms_vae_synthetic_scorer_32")
    for module in (presets, preset_io):  # preset_io finds the weights, presets re-exports it to the CLI
        monkeypatch.setattr(module, "checkpoints_dir", lambda: shipped)
    before = snapshot(shipped)
    assert "inside the input folder" in refused(
        capsys, "evaluate", "--preset", folders / "gan", "--scorer", "vms_vae_synthetic_scorer_32", "--pairs",
        4, "--output", shipped / "vms_vae_synthetic_scorer_32" / "config.json", "--overwrite")
    assert snapshot(shipped) == before


@pytest.mark.parametrize("args, message", [
    (["--threshold-quantile", "2", "--data", "synthetic"], "argument --threshold-quantile: expected a number in"),
    (["--threshold-quantile", "nan", "--data", "synthetic"], "argument --threshold-quantile: expected a finite"),
    (["--threshold-quantile", "0.3"], "argument --threshold-quantile: needs --data"),
    (["--seed", "-1"], "argument --seed: expected a whole number from 0"),
    (["--pairs", "-4"], "argument --pairs: expected a whole number >= 1"),
    (["--pairs", "99999999999"], "argument --pairs: expected at most 10000 pairs"),
])
def test_evaluate_refuses_bad_numbers_at_parse_time(capsys, monkeypatch, folders, args, message):
    monkeypatch.setattr(cli, "load_model", lambda *a: pytest.fail("the model loaded"))
    assert message in refused(capsys, "evaluate", "--preset", folders / "gan", "--scorer", folders / "scorer", *args,
                              code=2)


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]"])
def test_a_corrupt_preset_folder_is_one_line_naming_its_file(tmp_path, capsys, folders, content):
    shutil.copytree(folders / "scorer", tmp_path / "scorer")
    (tmp_path / "scorer" / "config.json").write_text(content)
    message = refused(capsys, "evaluate", "--preset", folders / "gan", "--scorer", tmp_path / "scorer", "--pairs", 4)
    assert str(tmp_path / "scorer" / "config.json") in message


# --- train -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("setting, message", [
    ("config.lattent_dim=64", "keys VMSPredictor does not take: lattent_dim"),
    ("config.evil=1", "keys VMSPredictor does not take: evil"),
    ("training.epoch=1", "Unknown training setting 'epoch'"),
    ("config.dense_units=NaN", "dense_units=nan must be an integer"),
    ("config.image_size=big", "image_size='big' must be an integer"),
    ("batch_size=0", "batch_size=0 must be a whole number >= 1"),
    ("epochs=-3", "epochs=-3 must be a whole number >= 1"),
    ("epochs=1.5", "epochs=1.5 must be a whole number >= 1"),
    ("epochs=abc", "epochs='abc' must be a whole number >= 1"),
    ("num_train=1e9", "num_train=1000000000.0 must be a whole number >= 1"),
])
def test_train_refuses_a_bad_setting_before_the_run_folder_is_touched(tmp_path, capsys, setting, message):
    out = tmp_path / "runs" / "run"
    assert message in refused(capsys, "train", "vms_vae_synthetic_scorer_32", "--output", out, "--set", setting)
    assert not (tmp_path / "runs").exists()


def test_train_keeps_files_of_a_folder_that_holds_no_run(tmp_path, capsys):
    for name in ("features_train.npy", "features_test.json", "samples"):
        (tmp_path / name).write_text("mine")
    message = refused(capsys, "train", "vms_vae_vgg16_synthetic_64", "--smoke", "--output", tmp_path)
    assert "holds no run" in message and "--overwrite" in message
    assert snapshot(tmp_path) == {name: hashlib.sha256(b"mine").hexdigest()
                                  for name in ("features_test.json", "features_train.npy", "samples")}


@pytest.mark.parametrize("content", ["", "not json", "[1, 2]"])
def test_train_names_a_corrupt_run_file(tmp_path, capsys, content):
    (tmp_path / "run.json").write_text(content)
    message = refused(capsys, "train", "vms_vae_synthetic_scorer_32", "--smoke", "--output", tmp_path)
    assert str(tmp_path / "run.json") in message and "--overwrite" in message
    assert (tmp_path / "run.json").read_text() == content


def test_train_names_the_lock_of_a_live_run_and_how_to_remove_it(tmp_path, capsys):
    lock = tmp_path / training.LOCK_FILE
    lock.write_text(json.dumps({"pid": os.getppid(), "start": runs._process_start(os.getppid())}))
    message = refused(capsys, "train", "vms_vae_synthetic_scorer_32", "--smoke", "--output", tmp_path)
    assert f"process {os.getppid()}, lock file {lock}" in message and f"delete {lock}" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == [training.LOCK_FILE]


@pytest.mark.slow
def test_train_smoke_owns_every_file_it_writes_and_a_rerun_says_it_is_finished(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "vms_vae_vgg16_synthetic_64", "--smoke", "--output", str(out)]) == 0
    written = {p.name for p in out.iterdir()}
    assert {"features_train.npy", "features_test.json", "run.json", "smoke.png"} <= written
    assert written <= set(training.RUN_OUTPUTS), written - set(training.RUN_OUTPUTS)
    before = snapshot(out)
    capsys.readouterr()
    assert cli.main(["train", "vms_vae_vgg16_synthetic_64", "--smoke", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "finished" in printed and str(out / "record.json") in printed and str(out / "smoke.png") in printed
    assert snapshot(out) == before  # not trained again


@pytest.mark.slow
def test_train_overwrite_never_deletes_a_predictor_the_user_trained_and_named(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "vms_vae_synthetic_32", "--smoke", "--output", "gan/predictor"]) == 0
    mine = snapshot(tmp_path / "gan" / "predictor")
    gan = ["train", "wmemgan_synthetic_map_32", "--smoke", "--set", "training.predictor=./gan/predictor", "--output",
           "gan"]
    assert cli.main(gan) == 0  # the predictor is read from gan/predictor, so it is not claimed
    assert cli.main(gan[:4] + [gan[4], "config.alpha=7"] + gan[5:] + ["--overwrite"]) == 0
    assert snapshot(tmp_path / "gan" / "predictor") == mine


# --- info and list -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, message, code", [
    (["info", "vms_vae_synthetic_46"], "Did you mean 'vms_vae_synthetic_64'", 1),
    (["info", "./no/such/folder"], "No preset folder './no/such/folder'", 1),
    (["list", "--jsn"], "unrecognized arguments: --jsn", 2),
    (["predict"], "the following arguments are required: images", 2),
])
def test_info_and_list_refuse_typos_in_one_line(capsys, args, message, code):
    assert message in refused(capsys, *args, code=code)
