"""The MEMGAN recipe end to end at smoke scale: grows 4 -> 32 px, writes its outputs, and a second run of the
same command resumes from the checkpoint instead of starting over."""

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "recipes"))
import train_memgan  # noqa: E402

import vms_zoo  # noqa: E402

ARGS = ["--num-scenes", "64", "--predictor-epochs", "1", "--phase-images", "16", "--pairs", "8"]


def test_recipe_grows_evaluates_writes_a_preset_and_resumes(tmp_path, capsys):
    result = train_memgan.main(ARGS + ["--out", str(tmp_path)])
    # Seven phases (stabilise at 4 px, then fade + stabilise at 8, 16 and 32 px), each rounded up to one whole
    # batch of the preset: 32 images below 32 px, 16 at 32 px.
    assert result["resolution"] == 32 and result["images_seen"] == 5 * 32 + 2 * 16
    pairs = json.loads((tmp_path / "pairs.json").read_text())
    assert pairs["num_pairs"] == 8 and 0.0 <= pairs["mean_low"] <= 1.0 and 0.0 <= pairs["mean_high"] <= 1.0
    assert len(list((tmp_path / "samples").glob("*.png"))) == 7
    for name in ("memgan.weights.h5", "predictor.keras", "scorer.keras"):
        assert (tmp_path / name).exists(), name

    gan = vms_zoo.load(tmp_path / "preset")
    images = gan.generate(np.zeros((2, gan.latent_dim), "float32"), np.full((2, 10, 10, 1), 0.5, "float32"))
    assert images.shape == (2, 32, 32, 3) and images.min() >= 0.0 and images.max() <= 1.0

    capsys.readouterr()
    again = train_memgan.main(ARGS + ["--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "Resuming at stage 3 (32px), alpha 1.000, 192 images seen" in out
    assert "Stage" not in out.replace("Resuming at stage", "")  # nothing left to train
    assert again["images_seen"] == result["images_seen"] and again["mean_difference"] == result["mean_difference"]
