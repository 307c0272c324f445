import pytest

from vms_zoo.models.vae import VMSPredictor
from vms_zoo.zoo import get_preset, list_presets


def test_paper_predictor_presets_match_the_paper_configs():
    expected = {"vms_vae_m8": (64, 8, "mse"), "vms_vae_m8_l1": (64, 8, "l1"), "vms_vae_m32": (128, 32, "mse")}
    for name, (n, m, loss) in expected.items():
        config = get_preset(name)["config"]
        assert (config["dense_units"], config["latent_dim"], config["reconstruction"]) == (n, m, loss)
        assert config["image_size"] == 224 and config["encoder"] == "vgg16"
        training = get_preset(name)["training"]
        assert (training["learning_rate"], training["batch_size"], training["epochs"], training["steps_per_epoch"]) == (
            1e-4, 32, 250, 20)


def test_cpu_preset_builds():
    model = VMSPredictor(**get_preset("vms_vae_synthetic_64")["config"])
    assert model.image_size == 64 and model.count_params() > 0


def test_unknown_preset_suggests_close_names():
    assert "vms_vae_m32" in list_presets()
    with pytest.raises(ValueError, match="Did you mean 'vms_vae_m32'"):
        get_preset("vms_vae_m23")
    with pytest.raises(ValueError, match="Known presets"):
        get_preset("zzz")


def test_shipped_predictor_checkpoint_reproduces_its_card():
    import json
    from pathlib import Path

    from vms_zoo.data.synthetic import SyntheticScenes
    from vms_zoo.metrics import pearson_2d

    folder = Path(__file__).resolve().parents[1] / "checkpoints" / "vms_vae_synthetic_64"
    model = VMSPredictor.from_config(json.loads((folder / "config.json").read_text())["config"])
    model.load_weights(folder / "model.weights.h5")
    card = json.loads((folder / "metrics.json").read_text())["model"]["overall"]
    test = SyntheticScenes(image_size=64, seed=0).arrays("test", num=96, progress=False)
    rho = pearson_2d(test["vms"], model.predict(test["images"], verbose=0))
    assert rho[0] == pytest.approx(card["rho2d_true"], abs=0.05)
    assert rho[1] == pytest.approx(card["rho2d_false"], abs=0.06)


SHIPPED_GENERATORS = ["wmemgan_synthetic_score_32", "wmemgan_synthetic_map_32", "memgan_synthetic_32",
                      "memgan_foil_synthetic_32"]


@pytest.mark.parametrize("name", SHIPPED_GENERATORS)
def test_shipped_generator_checkpoints_reproduce_their_cards(name):
    import json

    import vms_zoo
    from vms_zoo.evaluation import evaluate_pairs
    from vms_zoo.zoo import CHECKPOINTS

    folder = CHECKPOINTS / name
    if not folder.exists():
        pytest.fail(f"{name} is registered with weights but checkpoints/{name} is missing")
    card = json.loads((folder / "metadata.json").read_text())["metrics"]["pairs_scored_by_vms_vae_synthetic_scorer_32"]
    gan = vms_zoo.load(name)
    result = evaluate_pairs(gan, vms_zoo.load("vms_vae_synthetic_scorer_32"), num_pairs=100, seed=0)
    # 100 of the card's 1000 pairs (same seed): the mean difference agrees to sampling error.
    assert result["mean_difference"] == pytest.approx(card["mean_difference"], abs=0.012)
    if gan.get_config().get("alpha", 10.0) > 0:  # steered generators: high targets really score higher
        assert result["mean_difference"] > 0 and result["p_paired_t"] < 0.01
