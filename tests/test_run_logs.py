"""What every training run logs beside its weights (the CSV log and its curves, TensorBoard on request), and a
finished GAN run given a longer training that trains on from its saved state, as if trained straight through."""

import importlib.util
import json

import numpy as np
import pytest
from PIL import Image

import vms_zoo
from vms_zoo import presets, training
from vms_zoo.visualize import read_csv_log

GAN_METRICS = {"d_loss", "g_loss", "gp", "mem_loss", "wasserstein"}
# Two generator steps an epoch (16 kitchens of 128 scenes, 8 a step: the critic updates reuse them), no step cap.
WMEMGAN = {"epochs": 1, "max_steps": None, "batch_size": 8, "n_critic": 2, "num_scenes": 128, "pairs": 4,
           "config.filters": 8, "config.latent_dim": 4}
# 4 -> 8 px: stabilise at 4 px (one step of 16), fade in 8 px (one step of 8), stabilise at 8 px (one step of 8).
MEMGAN = {"num_scenes": 32, "fade_images": 8, "stabilise_images": [16, 8], "pairs": 4,
          "config.image_size": 8, "config.filters": [8, 8], "config.latent_dim": 4, "batch_sizes": [16, 8]}
PREDICTOR = {"epochs": 1, "steps_per_epoch": 1, "num_train": 16, "num_test": 8, "batch_size": 8,
             "config.encoder_filters": [8, 16], "config.dense_units": 16, "config.latent_dim": 4,
             "config.decoder_filters": [16, 8, 8, 8]}


HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None


def tensorboard_steps(folder, tag):
    """The steps at which the event files in `folder` hold `tag`."""
    import tensorflow as tf

    return sorted(int(event.step) for path in sorted(folder.glob("events.out.*"))
                  for event in tf.compat.v1.train.summary_iterator(str(path))
                  for value in event.summary.value if value.tag == tag)


def weights(folder):
    return vms_zoo.load(str(folder)).get_weights()


def assert_same_weights(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def assert_curves_drawn(path):
    with Image.open(path) as curves:  # one 360 x 220 chart per GAN metric, three a row
        assert curves.format == "PNG" and curves.size == (3 * 360, 2 * 220)
        pixels = np.asarray(curves.convert("RGB")).reshape(-1, 3)
    assert ((pixels == (31, 119, 180)).all(-1)).sum() > 20  # the training values are drawn


@pytest.mark.slow
def test_a_finished_wmemgan_run_given_more_epochs_trains_on_as_if_trained_straight_through(tmp_path):
    preset = "wmemgan_synthetic_map_32"
    straight = training.train(preset, output=tmp_path / "straight", overrides={**WMEMGAN, "epochs": 2}, verbose=0)
    first = training.train(preset, output=tmp_path / "run", overrides=WMEMGAN, verbose=0)
    log = read_csv_log(tmp_path / "run" / training.CSV_LOG)
    assert set(log) == {"epoch"} | GAN_METRICS and log["epoch"] == [0.0]  # no empty held-out columns
    assert_curves_drawn(tmp_path / "run" / training.CURVES_FILE)
    assert first["gan"]["generator_steps"] == 2

    longer = training.train(preset, output=tmp_path / "run", overrides={**WMEMGAN, "epochs": 2}, verbose=0,
                            tensorboard=HAS_TENSORBOARD)  # a session option: turning it on is no other setting
    continued = read_csv_log(tmp_path / "run" / training.CSV_LOG)
    assert continued["epoch"] == [0.0, 1.0]
    if HAS_TENSORBOARD:  # the continued epoch, at its own number
        assert tensorboard_steps(tmp_path / "run" / "tensorboard" / "train", "epoch_d_loss") == [1]
    assert {k: v[:1] for k, v in continued.items()} == log  # the first epoch's row kept as it was
    assert longer["gan"]["generator_steps"] == straight["gan"]["generator_steps"] == 4
    # From the saved weights, optimizers and noise state: the same numbers as the run trained straight to 2.
    assert_same_weights(weights(tmp_path / "run"), weights(tmp_path / "straight"))
    np.testing.assert_allclose(continued["g_loss"], read_csv_log(tmp_path / "straight" / training.CSV_LOG)["g_loss"],
                               rtol=1e-6)
    assert training.run_state(tmp_path / "run")["continued_from"] == {"epochs": 1}

    with pytest.raises(ValueError, match=r"training.epochs: 2 -> 1.*A finished run trains on when only "
                                         r"training.epochs rises"):
        training.train(preset, output=tmp_path / "run", overrides=WMEMGAN, verbose=0)
    with pytest.raises(ValueError, match=r"other settings"):  # longer, and another change: refused
        training.train(preset, output=tmp_path / "run", overrides={**WMEMGAN, "epochs": 3, "n_critic": 1}, verbose=0)
    backup = tmp_path / "run" / ".vms_zoo_backup"  # a run from before backups were kept: nothing to go on from
    backup.rename(tmp_path / "kept")
    with pytest.raises(ValueError, match=r"the run kept no .vms_zoo_backup to train on from"):
        training.train(preset, output=tmp_path / "run", overrides={**WMEMGAN, "epochs": 3}, verbose=0)
    (tmp_path / "kept").rename(backup)
    # --overwrite starts afresh: the old run's log rows are gone with its backup.
    training.train(preset, output=tmp_path / "run", overrides=WMEMGAN, verbose=0, overwrite=True)
    assert read_csv_log(tmp_path / "run" / training.CSV_LOG)["epoch"] == [0.0]


@pytest.mark.slow
def test_a_finished_memgan_run_given_a_longer_last_phase_trains_on_from_its_checkpoint(tmp_path, tiny_predictor):
    import keras

    keras.utils.set_random_seed(0)
    feedback = str(presets.save_preset(tiny_predictor(), tmp_path / "feedback"))
    short = {**MEMGAN, "training.predictor": feedback}
    long = {**short, "stabilise_images": [16, 24]}
    preset = "memgan_synthetic_32"
    straight = training.train(preset, output=tmp_path / "straight", overrides=long, verbose=0)
    first = training.train(preset, output=tmp_path / "run", overrides=short, verbose=0, tensorboard=HAS_TENSORBOARD)
    log = read_csv_log(tmp_path / "run" / training.CSV_LOG)
    if HAS_TENSORBOARD:  # one fit per phase, each from epoch 0: the summaries are written at the images seen
        assert tensorboard_steps(tmp_path / "run" / "tensorboard" / "train", "epoch_g_loss") == [16, 24, 32]
    # A row at each phase's end (checkpoint_every is more steps than a phase has): where, and the metrics.
    assert set(log) == {"epoch", "images_seen", "resolution", "fade"} | GAN_METRICS
    assert log["images_seen"] == [16.0, 24.0, 32.0] and log["resolution"] == [4.0, 8.0, 8.0]
    assert log["fade"] == [1.0, 1.0, 1.0] and first["images_seen"] == 32
    assert_curves_drawn(tmp_path / "run" / training.CURVES_FILE)

    longer = training.train(preset, output=tmp_path / "run", overrides=long, verbose=0)
    continued = read_csv_log(tmp_path / "run" / training.CSV_LOG)
    assert continued["images_seen"] == [16.0, 24.0, 32.0, 48.0] and continued["epoch"] == [0.0, 1.0, 2.0, 3.0]
    assert {k: v[:3] for k, v in continued.items()} == log
    assert longer["images_seen"] == straight["images_seen"] == 48
    assert_same_weights(weights(tmp_path / "run"), weights(tmp_path / "straight"))

    # An earlier phase is already trained: lengthening it (here every stage's, given as one number) is refused.
    with pytest.raises(ValueError, match=r"stabilise_images.*the last stage's training.stabilise_images"):
        training.train(preset, output=tmp_path / "run", overrides={**long, "stabilise_images": 32}, verbose=0)


def test_the_growth_log_writes_the_mean_of_each_rows_steps(tmp_path):
    from vms_zoo.training.callbacks import GrowthLog

    class Growing:  # what GrowthLog reads of MEMGAN
        sizes, stop_training = [4, 8], False

        def __init__(self):
            self.seen = 0

        def growth_state(self):
            return 1, (0.5 if self.seen < 40 else 0.0), self.seen  # at 40 images: the next stage (none here)

    model, values = Growing(), [1.0, 3.0, 2.0, 6.0, 10.0]
    log = GrowthLog(str(tmp_path / "log.csv"), every=2)
    log.set_model(model)
    log.on_train_begin()
    for step, value in enumerate(values):
        model.seen += 8
        log.on_train_batch_end(step, {"g_loss": np.mean(values[:step + 1])})  # Keras' logs: running means
    log.on_epoch_end(0, {})
    log.on_train_end()
    rows = read_csv_log(tmp_path / "log.csv")
    np.testing.assert_allclose(rows["g_loss"], [2.0, 4.0, 10.0])  # the means of steps 1-2, 3-4 and 5
    assert rows["images_seen"] == [16.0, 32.0, 40.0] and rows["resolution"] == [8.0] * 3
    assert rows["epoch"] == [0.0, 1.0, 2.0]
    again = GrowthLog(str(tmp_path / "log.csv"), every=2)  # a resumed run numbers its rows on
    assert again.row == 3


def test_gan_curves_plot_against_images_seen_and_mark_each_phase(tmp_path):
    from vms_zoo.visualize import save_curves

    history = {"epoch": [0, 1, 2], "images_seen": [16, 24, 32], "g_loss": [1.0, 0.5, 0.2]}
    save_curves(history, tmp_path / "a.png", x="images_seen", marks=[(0, "4px"), (16, "8px fade"), (24, "8px")])
    save_curves(history, tmp_path / "b.png", x="images_seen")
    with Image.open(tmp_path / "a.png") as a, Image.open(tmp_path / "b.png") as b:
        assert a.size == b.size == (360, 220)  # one chart: g_loss (the x column is not charted)
        marked, plain = np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB"))
    grey = lambda image: (image == (200, 200, 200)).all(-1).sum()  # noqa: E731
    assert grey(marked) - grey(plain) >= 3 * 100  # three vertical phase lines, each the chart's height


@pytest.mark.slow
def test_tensorboard_on_request_writes_event_files_and_is_a_session_option(tmp_path):
    if not HAS_TENSORBOARD:
        with pytest.raises(ValueError, match=r"^--tensorboard needs the tensorboard package: pip install tensorboard"):
            training.train("vms_vae_synthetic_scorer_32", output=tmp_path, overrides=PREDICTOR, verbose=0,
                           tensorboard=True)
        assert not tmp_path.exists() or not any(tmp_path.iterdir())
        return
    training.train("vms_vae_synthetic_scorer_32", output=tmp_path, overrides=PREDICTOR, verbose=0, tensorboard=True)
    events = sorted(p.relative_to(tmp_path).parts[:2] for p in (tmp_path / "tensorboard").rglob("events.out.*"))
    assert events == [("tensorboard", "train"), ("tensorboard", "validation")]
    assert tensorboard_steps(tmp_path / "tensorboard" / "validation", "epoch_loss") == [0]
    assert json.loads((tmp_path / training.RUN_FILE).read_text())["tensorboard"] is True
    # How a run runs, not what it computes: resuming without it, or continuing it, is not refused.
    assert training.train("vms_vae_synthetic_scorer_32", output=tmp_path, overrides=PREDICTOR, verbose=0)
    training.train("vms_vae_synthetic_scorer_32", output=tmp_path, overrides={**PREDICTOR, "epochs": 2}, verbose=0)
    assert read_csv_log(tmp_path / training.CSV_LOG)["epoch"] == [0.0, 1.0]


def test_without_the_tensorboard_package_the_request_is_one_line_naming_what_to_install(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(ValueError) as error:
        training.train("vms_vae_synthetic_scorer_32", output=tmp_path / "run", overrides=PREDICTOR, verbose=0,
                       tensorboard=True)
    message = str(error.value)
    assert "\n" not in message and "pip install tensorboard" in message and "--tensorboard" in message
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_the_tensorboard_folder_and_logs_are_claimed_by_the_run_folder():
    assert {training.CSV_LOG, training.CURVES_FILE, training.TENSORBOARD_DIR} <= set(training.RUN_OUTPUTS)
    # A resumed run appends to them, so --overwrite removes them with the resume state.
    assert {training.CSV_LOG, training.TENSORBOARD_DIR} <= set(training.RESUME_STATE)
    assert "tensorboard" in training.SESSION_KEYS
