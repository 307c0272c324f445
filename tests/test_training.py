"""vms_zoo.training end to end at smoke scale, for each family, through the same function the CLI and the
recipes call: the run folder is a loadable preset folder, a rerun with other settings is refused, and an
interrupted run resumes where it stopped."""

import json
import os
import runpy
import shutil
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

import vms_zoo
from helpers import trainable_presets
from vms_zoo import presets, training
from vms_zoo.training import resolving, runner, runs
from vms_zoo.models.vms_predictor import VMSPredictor

ROOT = Path(__file__).resolve().parents[1]
TINY_PREDICTOR = {"epochs": 1, "steps_per_epoch": 2, "num_train": 64, "num_test": 16}
# The presets' own code paths at smoke scale: narrow nets and a few images keep the compiles short.
TINY_WMEMGAN = {"epochs": 1, "max_steps": 1, "batch_size": 16, "num_scenes": 128, "pairs": 8, "config.filters": 16,
                "config.latent_dim": 8}
# MEMGAN grows 4 -> 8 px only: one growth (fade + stabilise) shows what two do, at 3 traced phases instead of 5.
TINY_MEMGAN = {"num_scenes": 32, "fade_images": 16, "stabilise_images": 16, "pairs": 8, "config.image_size": 8,
               "config.filters": [16, 8], "config.latent_dim": 8, "batch_sizes": [32, 16]}


def test_every_preset_has_training_settings_that_resolve():
    for name in trainable_presets():
        resolved = training.train(name, dry_run=True)
        assert resolved["class"] == presets.get_preset(name)["class"]
        assert resolved["training"]["data"] and "seed" in resolved["training"], name
        if resolved["class"] != "VMSPredictor":
            assert "predictor" in resolved["training"] and "scorer" in resolved["training"], name


def test_overrides_are_placed_and_checked():
    resolved = training.resolve("wmemgan_synthetic_map_32", {"epochs": 3, "config.alpha": 0.0, "training.scorer": "x"},
                                data="folder:/tmp")
    assert resolved["training"]["epochs"] == 3 and resolved["config"]["alpha"] == 0.0
    assert resolved["training"]["scorer"] == "x" and resolved["training"]["data"] == "folder:/tmp"
    assert presets.get_preset("wmemgan_synthetic_map_32")["training"]["epochs"] != 3  # the registry is untouched
    with pytest.raises(ValueError, match="both the config and the training"):
        training.resolve("memgan_synthetic_32", {"predictor": "x"})
    with pytest.raises(ValueError, match="Unknown training setting 'epoch'"):
        training.resolve("vms_vae_synthetic_64", {"training.epoch": 1})
    with pytest.raises(ValueError, match="neither"):
        training.resolve("vms_vae_synthetic_64", {"nonsense": 1})
    with pytest.raises(ValueError, match="Unknown preset"):
        training.train("vms_vae_synthetic_6", dry_run=True)


# The run of the interrupted-run test that goes through uninterrupted, trained once: the preset-folder checks read
# the same folder. Narrow nets (the helpers' tiny predictor): folders, refusals and resuming do not depend on size.
RESUMED = {**TINY_PREDICTOR, "epochs": 3, "num_train": 16, "num_test": 8, "batch_size": 8,
           "config.encoder_filters": [8, 16], "config.dense_units": 16, "config.latent_dim": 4,
           "config.decoder_filters": [16, 8, 8, 8]}


@pytest.fixture(scope="module")
def whole_run(tmp_path_factory):
    """(folder, metrics, weights) of a finished 3-epoch run, over a folder that held the user's own backup/."""
    folder = tmp_path_factory.mktemp("whole")
    (folder / "backup").mkdir()  # the user's own folder: Keras' BackupAndRestore deletes its backup_dir when a run ends
    (folder / "backup" / "mine.txt").write_text("keep")
    keras.utils.set_random_seed(1234)
    metrics = training.train("vms_vae_synthetic_scorer_32", output=folder, overrides=RESUMED, verbose=0)
    return folder, metrics, vms_zoo.load(str(folder)).get_weights()


@pytest.mark.slow
def test_predictor_run_writes_a_preset_folder_and_refuses_other_settings(whole_run):
    tmp_path, metrics, _ = whole_run
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["model"]["overall"]["count"] == 8 and saved["model"] == metrics["model"]
    for who in ("model", "category_mean_baseline"):
        assert -1.0 <= saved[who]["overall"]["rho2d_true"] <= 1.0 and saved[who]["overall"]["mse255_false"] >= 0
    with Image.open(tmp_path / "predictions.png") as grid:
        assert grid.format == "PNG"
    assert (tmp_path / "backup" / "mine.txt").read_text() == "keep" and not (tmp_path / ".vms_zoo_backup").exists()
    model = VMSPredictor.from_preset(str(tmp_path))
    assert float(keras.ops.convert_to_numpy(model.kl_step)) == 6.0  # six training steps were taken
    assert np.isfinite(saved["history"]["loss"]).all()
    with pytest.raises(ValueError, match=r"other settings \(training.epochs: 3 -> 2\)"):
        training.train("vms_vae_synthetic_scorer_32", output=tmp_path, overrides={**RESUMED, "epochs": 2}, verbose=0)
    assert training.start_run(tmp_path, json.loads((tmp_path / "run.json").read_text())) is True  # same: resumes
    copy = tmp_path.parent / f"{tmp_path.name}_overwritten"  # the folder itself stays whole for the other tests
    shutil.copytree(tmp_path, copy)
    assert training.start_run(copy, {"other": 1}, overwrite=True) is False  # --overwrite starts afresh
    assert json.loads((copy / "run.json").read_text()) == {"other": 1}
    assert not (copy / training.CSV_LOG).exists()  # a new run's log does not go on from the old run's rows
    shutil.rmtree(copy)


class Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt("simulated kill after epoch 2")


@pytest.mark.slow
def test_interrupted_predictor_run_resumes_from_its_last_epoch(tmp_path, whole_run):
    overrides = RESUMED
    with pytest.raises(KeyboardInterrupt):
        training.train("vms_vae_synthetic_scorer_32", output=tmp_path, overrides=overrides, verbose=0,
                       callbacks=[Interrupt()])
    assert any((tmp_path / ".vms_zoo_backup").iterdir())
    metrics = training.train("vms_vae_synthetic_scorer_32", output=tmp_path, overrides=overrides, verbose=0)
    assert len(metrics["history"]["loss"]) == 1  # only the third epoch ran the second time
    model = vms_zoo.load(str(tmp_path))
    assert float(keras.ops.convert_to_numpy(model.kl_step)) == 6.0  # 3 epochs x 2 steps: nothing lost or repeated
    # The same run without the interruption ends with the same weights: the optimizer, the sampling noise and
    # the data order all continued where they stopped instead of restarting.
    for a, b in zip(model.get_weights(), whole_run[2]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_paper_predictor_trains_on_a_vischema_folder_with_cached_or_augmented_inputs(tmp_path, capsys):
    from test_vischema import write_fake

    write_fake(tmp_path / "data", "vischema1", per_category=5)
    small = {"config.image_size": 32, "config.encoder_weights": None, "epochs": 1, "steps_per_epoch": 1,
             "batch_size": 8}
    cached = training.train("vms_vae_m8", data=f"vischema1:{tmp_path / 'data'}", output=tmp_path / "cached",
                            overrides={**small, "augment": False}, verbose=1)
    assert "Caching frozen-encoder features" in capsys.readouterr().out
    assert cached["num_train"] == 32 and cached["num_test"] == 8  # the seeded 80/20 split per category
    augmented = training.train("vms_vae_m8", data=f"vischema1:{tmp_path / 'data'}", output=tmp_path / "augmented",
                               overrides={**small, "augment": True}, verbose=0)
    assert augmented["training"]["augment"] is True and np.isfinite(augmented["history"]["loss"]).all()
    assert (tmp_path / "augmented" / "predictions.png").exists()


@pytest.mark.slow
def test_frozen_encoder_features_are_cached_in_the_run_folder_and_recomputed_when_stale(tmp_path, monkeypatch):
    calls = []
    encode = VMSPredictor.encode
    monkeypatch.setattr(VMSPredictor, "encode", lambda self, images, **kw: calls.append(len(images)) or
                        encode(self, images, **kw))
    # VGG16 costs its CPU time per image encoded (0.15 s each on JAX at 32 px): as few images as fill the steps.
    small = {**TINY_PREDICTOR, "num_train": 16, "num_test": 8, "config.image_size": 32, "config.encoder_weights": None,
             "batch_size": 8}
    training.train("vms_vae_vgg16_synthetic_64", output=tmp_path, overrides=small, verbose=0)
    assert calls == [16, 8]
    first = np.load(tmp_path / "features_test.npy")
    info = json.loads((tmp_path / "features_test.json").read_text())
    assert first.shape == (8, 1, 1, 512) and info["num_images"] == 8 and info["config"]["image_size"] == 32
    # Three runs, not four: a split whose json matches is read from the cache (the test split here), whatever
    # the other split does, so a rerun with the same settings adds nothing.
    training.train("vms_vae_vgg16_synthetic_64", output=tmp_path, overrides={**small, "num_train": 24},
                   overwrite=True, verbose=0)
    assert calls == [16, 8, 24]  # other training images: recomputed; the test split still matches, read back
    stale = json.loads((tmp_path / "features_test.json").read_text())
    (tmp_path / "features_test.json").write_text(json.dumps({**stale, "encoder_weights_sha256": "0" * 64}))
    training.train("vms_vae_vgg16_synthetic_64", output=tmp_path, overrides={**small, "num_train": 24},
                   overwrite=True, verbose=0)
    assert calls == [16, 8, 24, 8]  # features of other encoder weights: recomputed, the json rewritten
    assert json.loads((tmp_path / "features_test.json").read_text()) == stale
    np.testing.assert_array_equal(np.load(tmp_path / "features_test.npy"), first)


@pytest.mark.slow
def test_wmemgan_run_trains_evaluates_and_writes_a_loadable_preset(tmp_path):
    record = training.train("wmemgan_synthetic_score_32", output=tmp_path, overrides=TINY_WMEMGAN, verbose=0)
    pairs = json.loads((tmp_path / "pairs.json").read_text())["pairs"]
    assert pairs["num_pairs"] == 8 and 0.0 <= pairs["positive_share"] <= 1.0
    assert record["gan"]["generator_steps"] == 1 and record["score_scale"]["std"] > 0
    gan = vms_zoo.WMEMGAN.from_preset(str(tmp_path))
    assert gan.alpha == 10.0 and gan.score_scale == pytest.approx(tuple(record["score_scale"][k] for k in ("mean", "std")))
    images = gan.generate(np.zeros((2, gan.latent_dim), "float32"), np.zeros((2, 1), "float32"))
    assert images.shape == (2, 32, 32, 3) and images.min() >= 0.0 and images.max() <= 1.0
    assert (tmp_path / "samples" / "samples_final.png").exists()


@pytest.mark.slow
def test_memgan_run_grows_evaluates_writes_a_preset_and_resumes(tmp_path, capsys, tiny_predictor):
    # A preset folder given as a path: the helpers' tiny predictor, whose train-step graph traces faster than the
    # shipped 64 px one inside each growth phase.
    keras.utils.set_random_seed(0)
    feedback = str(presets.save_preset(tiny_predictor(), tmp_path / "feedback"))
    overrides = {**TINY_MEMGAN, "training.predictor": feedback}
    result = training.train("memgan_synthetic_32", output=tmp_path / "run", overrides=overrides, verbose=1)
    # Three phases (stabilise at 4 px, then fade + stabilise at 8 px), each rounded up to one whole batch: 32
    # images at 4 px, 16 at 8 px.
    assert result["resolution"] == 8 and result["images_seen"] == 32 + 2 * 16
    assert result["pairs"]["num_pairs"] == 8 and 0.0 <= result["pairs"]["mean_low"] <= 1.0
    assert len(list((tmp_path / "run" / "samples").glob("*.png"))) == 3

    gan = vms_zoo.load(str(tmp_path / "run"))
    images = gan.generate(np.zeros((2, gan.latent_dim), "float32"), np.full((2, 10, 10, 1), 0.5, "float32"))
    assert images.shape == (2, 8, 8, 3) and images.min() >= 0.0 and images.max() <= 1.0

    capsys.readouterr()
    assert training.train("memgan_synthetic_32", output=tmp_path / "run", overrides=overrides, verbose=1) == result
    assert "finished" in capsys.readouterr().out  # a finished run is not trained again
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    del run["state"]["finished"]  # as if killed after its last checkpoint: the checkpoint resumes it
    (tmp_path / "run" / "run.json").write_text(json.dumps(run))
    again = training.train("memgan_synthetic_32", output=tmp_path / "run", overrides=overrides, verbose=1)
    out = capsys.readouterr().out
    assert "Resuming at stage 1 (8px), fade 1.000, 64 images seen" in out
    assert "Stage" not in out.replace("Resuming at stage", "")  # nothing left to train
    assert again["images_seen"] == result["images_seen"]
    assert again["pairs"]["mean_difference"] == pytest.approx(result["pairs"]["mean_difference"], abs=1e-6)


@pytest.mark.slow
def test_a_feedback_preset_without_weights_is_trained_once_into_the_run_folder(tmp_path, monkeypatch):
    calls = []

    def fake_train(preset, output, verbose=1, **kwargs):
        calls.append(preset)
        model = presets.build("VMSPredictor", presets.get_preset("vms_vae_synthetic_scorer_32")["config"])
        presets.save_preset(model, output)

    monkeypatch.setattr(runner, "train", fake_train)
    first = training.load_or_train("vms_vae_synthetic_32", tmp_path, "predictor", verbose=0)
    second = training.load_or_train("vms_vae_synthetic_32", tmp_path, "predictor", verbose=0)
    assert calls == ["vms_vae_synthetic_32"] and isinstance(second, VMSPredictor) and first is not second
    assert isinstance(training.load_or_train("vms_vae_synthetic_scorer_32", tmp_path, "scorer"), VMSPredictor)
    with pytest.raises(ValueError, match="names no scorer"):
        training.load_or_train(None, tmp_path, "scorer")
    # a smoke run is graded by the shipped scorer; a full run cannot train a predictor whose data has no folder
    smoke_scorer = training.load_or_train(None, tmp_path, "scorer", verbose=0, smoke=True)
    np.testing.assert_array_equal(smoke_scorer.get_weights()[0], presets.load(training.SMOKE_SCORER).get_weights()[0])
    with pytest.raises(ValueError, match=r"The predictor vms_vae_m32_vischema_plus trains on vischema_plus:DIR, .*"
                                         r"--set training.predictor=./runs/vms_vae_m32_vischema_plus"):
        training.load_or_train("vms_vae_m32_vischema_plus", tmp_path / "paper", "predictor", verbose=0)
    assert calls == ["vms_vae_synthetic_32"]
    with pytest.raises(FileNotFoundError, match="No preset folder"):
        training.load_or_train("./no/such/folder", tmp_path, "predictor")


@pytest.mark.parametrize("recipe", ["train_vms_predictor", "train_wmemgan", "train_memgan", "tune_alpha"])
def test_recipes_are_shims_that_parse_their_flags(recipe, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [recipe, "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(ROOT / "recipes" / f"{recipe}.py"), run_name="__main__")
    assert exit_info.value.code == 0 and "--output" in capsys.readouterr().out
    assert len((ROOT / "recipes" / f"{recipe}.py").read_text().splitlines()) < 60


def test_recipe_passes_its_flags_to_training(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(training, "train", lambda preset, **kwargs: seen.update(preset=preset, **kwargs))
    namespace = runpy.run_path(str(ROOT / "recipes" / "train_wmemgan.py"))
    namespace["main"](["--alpha", "0", "--predictor", "./p", "--max-steps", "3", "--output", str(tmp_path)])
    assert seen["preset"] == "wmemgan_synthetic_score_32" and seen["output"] == str(tmp_path)
    assert seen["overrides"] == {"config.alpha": 0.0, "training.predictor": "./p", "max_steps": 3}


def test_a_run_folder_in_use_by_a_live_process_is_refused_and_a_stale_lock_taken_over(tmp_path):
    lock = tmp_path / training.LOCK_FILE
    lock.write_text(str(os.getppid()))  # a live process that is not this one
    with pytest.raises(ValueError, match=f"in use by another run \\(process {os.getppid()}, lock file {lock}\\); "
                                         f"wait for it, or, if no run uses this folder, delete {lock}"):
        with training.run_folder(tmp_path, {"a": 1}):
            pass
    assert not (tmp_path / training.RUN_FILE).exists()
    lock.write_text("99999999")  # no such process: a run killed with -9 left it
    with training.run_folder(tmp_path, {"a": 1}) as resume:
        assert resume is False and json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()


def test_overwrite_forgets_the_old_runs_resume_state_and_its_own_predictors_only(tmp_path):
    training.start_run(tmp_path, {"a": 1})
    for name in ("predictor", "scorer", ".vms_zoo_backup", "mine"):
        (tmp_path / name).mkdir()
    (tmp_path / "scorer" / training.RUN_FILE).write_text("{}")  # a run, but not one this run trained
    training.mark_run(tmp_path, trained_here=["predictor"])  # what load_or_train records before training one
    (tmp_path / "memgan.checkpoint.weights.h5").write_text("state")
    assert training.start_run(tmp_path, {"a": 2}, overwrite=True) is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "run.json", "scorer"]  # scorer: the user's


def test_a_non_chief_worker_writes_nothing_to_the_output(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2"]},
                                                "task": {"type": "worker", "index": 1}}))
    seen = {}

    def fake_trainer(resolved, output, **kwargs):
        seen["output"] = output
        (output / "model.weights.h5").write_text("x")
        return {}

    monkeypatch.setattr(runner, "trainers", lambda: {"VMSPredictor": fake_trainer})
    training.train("vms_vae_synthetic_scorer_32", output=tmp_path / "out", verbose=0)
    assert not (tmp_path / "out").exists() and not seen["output"].exists()


def test_a_new_run_never_writes_over_files_that_are_not_a_run(tmp_path):
    (tmp_path / "model.weights.h5").write_text("the user's own")
    with pytest.raises(ValueError, match=r"holds no run \(run.json is missing\) but already has model.weights.h5 "
                                         r"\(not written by a vms_zoo run"):
        training.train("vms_vae_synthetic_scorer_32", output=tmp_path, overrides=TINY_PREDICTOR, verbose=0)
    assert (tmp_path / "model.weights.h5").read_text() == "the user's own"
    assert not (tmp_path / "run.json").exists()


def test_a_killed_save_leaves_the_previous_folder_whole(tmp_path, monkeypatch):
    model = presets.load("vms_vae_synthetic_scorer_32")
    presets.save_preset(model, tmp_path / "p")
    before = {p.name: p.read_bytes() for p in (tmp_path / "p").iterdir()}

    def dies_halfway(self, path, *args, **kwargs):
        Path(path).write_bytes(b"half a file")
        raise KeyboardInterrupt("kill -9 stand-in: the process stops mid-write")

    monkeypatch.setattr(type(model), "save_weights", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        presets.save_preset(model, tmp_path / "p")
    assert {p.name: p.read_bytes() for p in (tmp_path / "p").iterdir()} == before  # no half file, nothing lost
    assert isinstance(vms_zoo.load(str(tmp_path / "p")), VMSPredictor)


@pytest.mark.slow
def test_the_random_state_travels_with_the_weights(tmp_path):
    """Keras does not save SeedGenerator state; ours do, so a resumed run draws new noise, not the old again."""
    for name in ("vms_vae_synthetic_scorer_32", "wmemgan_synthetic_map_32"):
        model = presets.load(name)
        generator = model.sampler.seed_generator if name.startswith("vms") else model.seed_generator
        generator.state.assign(np.array([7, 42], "int64").astype(keras.ops.convert_to_numpy(generator.state).dtype))
        model.save_weights(str(tmp_path / f"{name}.weights.h5"))
        again = presets.load(name, weights=str(tmp_path / f"{name}.weights.h5"))
        state = again.sampler.seed_generator.state if name.startswith("vms") else again.seed_generator.state
        assert keras.ops.convert_to_numpy(state).tolist() == [7, 42]


def test_a_folder_without_a_run_keeps_feature_cache_files_of_its_own(tmp_path):
    (tmp_path / "features_train.npy").write_text("mine")
    (tmp_path / "features_test.json").write_text('{"mine": 1}')
    with pytest.raises(ValueError, match=r"no run \(run.json is missing\) but already has features_train.npy"):
        training.train("vms_vae_vgg16_synthetic_64", output=tmp_path, smoke=True, verbose=0)
    assert (tmp_path / "features_train.npy").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features_test.json", "features_train.npy"]


def test_a_predictor_the_settings_read_is_never_claimed_or_deleted(tmp_path):
    mine = tmp_path / "gan" / "predictor"  # trained separately by the user, then named by the GAN run
    mine.mkdir(parents=True)
    (mine / training.RUN_FILE).write_text("{}")
    (mine / "config.json").write_text("{}")
    settings = {"training": {"predictor": f"./{mine}" if not mine.is_absolute() else str(mine), "scorer": None}}
    assert training.start_run(tmp_path / "gan", settings) is False  # read from there, never written: no claim
    training.mark_run(tmp_path / "gan", trained_here=["predictor"])  # even a (wrong) record cannot delete it
    assert training.start_run(tmp_path / "gan", {**settings, "alpha": 7}, overwrite=True) is False
    assert sorted(p.name for p in mine.iterdir()) == ["config.json", "run.json"]
    # A folder the settings do not read, in a folder without a run, is named for what it is.
    (tmp_path / "gan" / "run.json").unlink()
    with pytest.raises(ValueError, match=r"already has predictor \(a vms_zoo run of its own\)"):
        training.start_run(tmp_path / "gan", {"training": {"predictor": "vms_vae_synthetic_32"}})


@pytest.mark.parametrize("override, message", [
    ({"batch_size": 0}, r"batch_size=0 must be a whole number >= 1"),
    ({"epochs": -3}, r"epochs=-3 must be a whole number >= 1"),
    ({"epochs": "abc"}, r"epochs='abc' must be a whole number >= 1"),
    ({"epochs": 1.5}, r"epochs=1.5 must be a whole number >= 1"),
    ({"learning_rate": 0}, r"learning_rate=0 must be a positive number"),
    ({"training.seed": -1}, r"seed=-1 must be a whole number from 0 to 2\*\*31 - 1"),
    ({"config.alpha": float("nan")}, r"alpha=nan must be a finite number"),
    ({"config.image_size": "big"}, r"image_size='big' must be an integer"),
    ({"config.lattent_dim": 64}, r"keys WMEMGAN does not take: lattent_dim"),
    ({"quantiles": [0.9, 0.1]}, r"quantiles=\[0.9, 0.1\] must be two increasing numbers"),
])
def test_a_refused_setting_leaves_no_folder_and_no_run_file(tmp_path, override, message):
    output = tmp_path / "runs" / "new"
    with pytest.raises(ValueError, match=message):
        training.train("wmemgan_synthetic_score_32", output=output, overrides=override, verbose=0)
    assert not (tmp_path / "runs").exists()
    with pytest.raises(ValueError, match=message):
        training.train("wmemgan_synthetic_score_32", overrides=override, dry_run=True)


def test_every_training_setting_of_every_preset_has_a_checked_kind():
    for name in trainable_presets():
        preset = presets.get_preset(name)
        for key in preset["training"]:
            assert key in resolving.setting_kinds(preset["class"]), (name, key)


def fake_trainer(fail_after_writing=None):
    calls = []

    def trainer(resolved, output, **kwargs):
        calls.append(str(output))
        if fail_after_writing is not None:
            if fail_after_writing:
                (output / "metrics.json").write_text("{}")
            raise ValueError("bad data: maps hold NaN")
        (output / "metrics.json").write_text('{"done": 1}')
        return {"metrics": 1}

    return trainer, calls


@pytest.mark.parametrize("wrote", [False, True])
def test_a_run_that_fails_before_writing_anything_takes_its_run_file_back(tmp_path, monkeypatch, wrote):
    trainer, calls = fake_trainer(fail_after_writing=wrote)
    monkeypatch.setattr(runner, "trainers", lambda: {"VMSPredictor": trainer})
    (tmp_path / "existing").mkdir()
    for output in (tmp_path / "existing", tmp_path / "new" / "deeper"):
        with pytest.raises(ValueError, match="bad data"):
            training.train("vms_vae_synthetic_scorer_32", output=output, verbose=0)
    if wrote:  # something to resume from: the run stays a run
        assert sorted(p.name for p in (tmp_path / "existing").iterdir()) == ["metrics.json", "run.json"]
    else:  # as it was before the command ran
        assert list((tmp_path / "existing").iterdir()) == [] and not (tmp_path / "new").exists()


def test_a_finished_run_says_so_and_where_its_results_are_instead_of_training_again(tmp_path, monkeypatch, capsys):
    trainer, calls = fake_trainer()
    monkeypatch.setattr(runner, "trainers", lambda: {"VMSPredictor": trainer})
    first = training.train("vms_vae_synthetic_scorer_32", output=tmp_path, verbose=0)
    again = training.train("vms_vae_synthetic_scorer_32", output=tmp_path, verbose=1)
    assert calls == [str(tmp_path)] and again == first
    out = capsys.readouterr().out
    assert "finished" in out and str(tmp_path / "record.json") in out and str(tmp_path / "metrics.json") in out
    training.train("vms_vae_synthetic_scorer_32", output=tmp_path, verbose=0, overwrite=True)
    assert len(calls) == 2  # --overwrite trains it again


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]", "\xff\xfe"])
def test_a_corrupt_run_file_is_one_line_naming_it(tmp_path, content):
    (tmp_path / "run.json").write_text(content, encoding="latin-1")
    with pytest.raises(ValueError) as error:
        training.start_run(tmp_path, {"a": 1})
    message = str(error.value)
    assert str(tmp_path / "run.json") in message and "--overwrite" in message and "\n" not in message
    assert training.start_run(tmp_path, {"a": 1}, overwrite=True) is False  # --overwrite starts afresh
    assert json.loads((tmp_path / "run.json").read_text()) == {"a": 1}


def test_a_lock_whose_process_id_was_reused_is_stale(tmp_path, monkeypatch):
    lock = tmp_path / training.LOCK_FILE
    parent, start = os.getppid(), 12345  # a live process, and the start time the system gives for it
    monkeypatch.setattr(runs, "_process_start", lambda pid: start if pid == parent else None)
    lock.write_text(json.dumps({"pid": parent, "start": start + 1}))  # the ID now belongs to another process
    with training.run_folder(tmp_path, {"a": 1}) as resume:
        assert resume is False
    lock.write_text(json.dumps({"pid": parent, "start": start}))  # the very process: in use
    with pytest.raises(ValueError, match="in use by another run"):
        with training.run_folder(tmp_path, {"a": 2}):
            pass
    assert json.loads((tmp_path / "run.json").read_text()) == {"a": 1}


def test_run_files_replace_a_link_and_never_write_through_it(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").symlink_to(precious)
    training.start_run(tmp_path / "run", {"a": 1}, overwrite=True)
    assert precious.read_text() == "keep" and not (tmp_path / "run" / "run.json").is_symlink()
    assert json.loads((tmp_path / "run" / "run.json").read_text()) == {"a": 1}


@pytest.mark.slow
def test_a_predictor_run_logs_every_epoch_to_csv_and_draws_its_curves(whole_run):
    from vms_zoo.training.predictor import below_baseline
    from vms_zoo.visualize import read_csv_log

    folder, metrics, _ = whole_run
    assert {training.CSV_LOG, training.CURVES_FILE} <= set(training.RUN_OUTPUTS)
    log = read_csv_log(folder / training.CSV_LOG)
    assert log["epoch"] == [0.0, 1.0, 2.0]  # one row per epoch, the resumed epochs of the run appended
    np.testing.assert_allclose(log["loss"], metrics["history"]["loss"], rtol=1e-5)
    np.testing.assert_allclose(log["val_loss"], metrics["history"]["val_loss"], rtol=1e-5)
    with Image.open(folder / training.CURVES_FILE) as curves:
        assert curves.format == "PNG" and curves.width >= 360 and curves.height >= 220
        pixels = np.asarray(curves.convert("RGB")).reshape(-1, 3)
        assert ((pixels == (31, 119, 180)).all(-1)).sum() > 20  # the training curve is drawn
    model, baseline = {"rho2d_true": 0.1, "rho2d_false": 0.5}, {"rho2d_true": 0.2, "rho2d_false": 0.2}
    warnings = below_baseline(model, baseline)
    assert len(warnings) == 1 and "rho2D true 0.100 is below the category-mean baseline 0.200" in warnings[0]
    assert below_baseline(baseline, baseline) == []


@pytest.mark.slow
def test_raising_epochs_continues_a_finished_predictor_run_and_lowering_them_is_refused(tmp_path):
    one = {**RESUMED, "epochs": 1}
    training.train("vms_vae_synthetic_scorer_32", output=tmp_path, overrides=one, verbose=0)
    first = vms_zoo.load(str(tmp_path))
    assert float(keras.ops.convert_to_numpy(first.kl_step)) == 2.0
    training.train("vms_vae_synthetic_scorer_32", output=tmp_path, overrides={**one, "epochs": 2}, verbose=0)
    model = vms_zoo.load(str(tmp_path))
    assert float(keras.ops.convert_to_numpy(model.kl_step)) == 4.0  # on from the first epoch's weights: 2 + 2 steps
    from vms_zoo.visualize import read_csv_log

    assert read_csv_log(tmp_path / training.CSV_LOG)["epoch"] == [0.0, 1.0]
    state = training.run_state(tmp_path)
    assert state["finished"] and state["continued_from_epoch"] == 1
    with pytest.raises(ValueError, match=r"training.epochs: 2 -> 1"):
        training.train("vms_vae_synthetic_scorer_32", output=tmp_path, overrides=one, verbose=0)
    with pytest.raises(ValueError, match=r"other settings"):  # more epochs and another change: refused
        training.train("vms_vae_synthetic_scorer_32", output=tmp_path, overrides={**one, "epochs": 3, "batch_size": 4},
                       verbose=0)
