import json
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_vms_predictor  # noqa: E402

from vms_zoo.models.vae import VMSPredictor  # noqa: E402


def test_recipe_writes_weights_metrics_and_grid_and_resumes(tmp_path):
    args = ["--num-train", "64", "--num-test", "16", "--epochs", "1", "--steps-per-epoch", "2",
            "--output", str(tmp_path), "--verbose", "0"]
    metrics = train_vms_predictor.main(args)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["model"]["overall"]["count"] == 16
    for who in ("model", "category_mean_baseline"):
        overall = saved[who]["overall"]
        assert -1.0 <= overall["rho2d_true"] <= 1.0 and overall["mse255_false"] >= 0.0
        assert set(saved[who]["per_category"]) <= {"kitchen", "living_room", "small_public", "big_public",
                                                   "work_home", "public_entertainment", "populated", "isolated"}
    assert saved["model"] == metrics["model"]
    with Image.open(tmp_path / "predictions.png") as grid:
        assert grid.format == "PNG"
    config = json.loads((tmp_path / "config.json").read_text())["config"]
    model = VMSPredictor.from_config(config)
    model.load_weights(tmp_path / "model.weights.h5")
    assert float(model.kl_step.numpy()) == 2.0  # two training steps were taken
    assert np.isfinite(saved["history"]["loss"]).all()


class Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt("simulated kill after epoch 2")


def test_interrupted_run_resumes_from_its_last_epoch(tmp_path):
    args = ["--num-train", "64", "--num-test", "8", "--epochs", "3", "--steps-per-epoch", "2",
            "--output", str(tmp_path), "--verbose", "0"]
    with pytest.raises(KeyboardInterrupt):
        train_vms_predictor.main(args, callbacks=[Interrupt()])
    assert any((tmp_path / "backup").iterdir())
    metrics = train_vms_predictor.main(args)
    assert len(metrics["history"]["loss"]) == 1  # only the third epoch ran the second time
    model = VMSPredictor.from_config(json.loads((tmp_path / "config.json").read_text())["config"])
    model.load_weights(tmp_path / "model.weights.h5")
    assert float(model.kl_step.numpy()) == 6.0  # 3 epochs x 2 steps in all: nothing lost, nothing repeated


def test_recipe_trains_on_a_vischema_folder(tmp_path):
    from test_vischema import write_fake

    write_fake(tmp_path / "data", "vischema1", per_category=5)
    out = tmp_path / "run"
    metrics = train_vms_predictor.main(["--data", "vischema1", "--data-dir", str(tmp_path / "data"), "--epochs", "1",
                                        "--steps-per-epoch", "1", "--output", str(out), "--verbose", "0"])
    assert metrics["num_train"] == 32 and metrics["num_test"] == 8  # the seeded 80/20 split per category
    assert (out / "predictions.png").exists()


def _tiny_paper_run(tmp_path, *flags):
    return train_vms_predictor.main(["--preset", "vms_vae_m8", "--encoder-weights", "none", "--image-size", "32",
                                     "--num-train", "32", "--num-test", "8", "--epochs", "1",
                                     "--steps-per-epoch", "1", "--batch-size", "8", "--output", str(tmp_path),
                                     "--verbose", "0", *flags])


def test_recipe_caches_frozen_encoder_features_without_augmentation(tmp_path, capsys):
    metrics = _tiny_paper_run(tmp_path, "--no-augment")
    assert "Caching frozen-encoder features" in capsys.readouterr().out
    assert metrics["training"]["augment"] is False and metrics["model"]["overall"]["count"] == 8


def test_recipe_augments_images_jointly_on_the_paper_preset(tmp_path, capsys):
    metrics = _tiny_paper_run(tmp_path, "--augment")
    assert "Caching" not in capsys.readouterr().out
    assert metrics["training"]["augment"] is True and np.isfinite(metrics["history"]["loss"]).all()
