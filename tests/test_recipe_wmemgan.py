import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "recipes"))
import train_wmemgan  # noqa: E402

import vms_zoo  # noqa: E402


def test_recipe_trains_evaluates_and_writes_a_loadable_preset(tmp_path):
    record = train_wmemgan.main([
        "--predictor", str(ROOT / "checkpoints" / "vms_vae_synthetic_64"),
        "--scorer", str(ROOT / "checkpoints" / "vms_vae_synthetic_scorer_32"),
        "--num-scenes", "320", "--epochs", "1", "--max-steps", "1", "--batch-size", "16", "--pairs", "8",
        "--out", str(tmp_path)])
    pairs = json.loads((tmp_path / "pairs.json").read_text())["pairs"]
    assert pairs["num_pairs"] == 8 and 0.0 <= pairs["positive_share"] <= 1.0
    assert record["gan"]["generator_steps"] == 1
    gan = vms_zoo.load(tmp_path / "preset")
    images = gan.generate(np.zeros((2, gan.latent_dim), "float32"), np.zeros((2, 1), "float32"))
    assert images.shape == (2, 32, 32, 3) and images.min() >= 0.0 and images.max() <= 1.0
