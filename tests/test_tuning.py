"""The alpha sweep: keras-tuner drives W-MEMGAN trials, the objective comes from the independent scorer,
the best model is rebuilt from its hyperparameters, and the sweep run writes its table and plot and resumes."""

import json

import helpers
import keras
import numpy as np
import pytest

from vms_zoo.models.memgan import MEMGAN
from vms_zoo.models.wmemgan import WMEMGAN
from vms_zoo.training import alpha_sweep as tuning

SIZE = 16


def tiny_predictor(seed):
    """A stand-in VMS predictor: images (N, 16, 16, 3) -> sigmoid maps (N, 8, 8, 2)."""
    keras.utils.set_random_seed(seed)
    return helpers.stand_in_predictor(SIZE)


@pytest.fixture(scope="module")
def setup():
    images = np.random.default_rng(0).uniform(size=(32, SIZE, SIZE, 3)).astype("float32")
    predictor, scorer = tiny_predictor(0), tiny_predictor(1)
    make = tuning.gan_factory(WMEMGAN, predictor, compile_kwargs={"n_critic": 1}, image_size=SIZE, latent_dim=8,
                                  filters=16)
    return images, scorer, make


def test_two_trial_grid_search(setup, tmp_path):
    images, scorer, make = setup
    hypermodel = tuning.AlphaHyperModel(make, scorer, images, alphas=(0.0, 25.0), num_pairs=16)
    tuner = tuning.make_tuner(hypermodel, "grid", directory=str(tmp_path), project_name="alpha")
    tuner.search(images, epochs=1, batch_size=16, verbose=0)
    rows = tuning.trial_table(tuner)
    assert [r["alpha"] for r in rows] == [0.0, 25.0]
    for r in rows:
        assert np.isfinite([r["separation"], r["mean_memorability"], r["quality_distance"]]).all()
        assert 0.0 <= r["mean_memorability"] <= 1.0 and r["quality_distance"] >= 0.0
    assert tuning.best_alpha(rows) in (0.0, 25.0)
    assert tuning.best_alpha(rows, max_quality_distance=-1.0) in (0.0, 25.0)  # none passes: all considered

    best = tuner.oracle.get_best_trials(1)[0]
    model = tuning.best_model(tuner)
    assert isinstance(model, WMEMGAN) and model.alpha == best.hyperparameters.get("alpha")
    z, m = np.zeros((2, 8), "float32"), np.full((2, 1), 0.5, "float32")
    assert model.generate(z, m).shape == (2, SIZE, SIZE, 3)
    # The weights are the trained ones the tuner saved, not a fresh initialisation.
    saved = tuner.hypermodel.build(best.hyperparameters)
    assert any(not np.allclose(a, b) for a, b in zip(saved.get_weights(), model.get_weights()))


def test_several_generators_per_alpha(setup, tmp_path):
    """executions_per_trial=2: two seeds per alpha, the trial value is their mean, the test is across them."""
    images, scorer, make = setup
    hypermodel = tuning.AlphaHyperModel(make, scorer, images, alphas=(10.0,), num_pairs=16, seed=3)
    tuner = tuning.make_tuner(hypermodel, "grid", directory=str(tmp_path), project_name="seeds",
                              executions_per_trial=2)
    tuner.search(images, epochs=1, batch_size=16, verbose=0)
    (row,) = tuning.trial_table(tuner)
    generators = row["per_generator"]
    assert [g["seed"] for g in generators] == [3, 4]
    for name in tuning.PER_GENERATOR:
        assert np.isclose(row[name], np.mean([g[name] for g in generators]))
    # Different seeds train different generators (the check would pass vacuously on copies).
    assert generators[0]["mean_difference"] != generators[1]["mean_difference"]
    assert row["generators"] == 2 and 0.0 <= row["p_across"] <= 1.0
    assert row["ci_low"] <= row["mean_difference_across"] <= row["ci_high"]
    assert np.isclose(row["mean_difference_across"], row["mean_difference"])


def test_memgan_sweep_at_its_final_resolution(tmp_path):
    size = 8
    images = np.random.default_rng(0).uniform(size=(16, size, size, 3)).astype("float32")
    predictor, scorer = tiny_predictor(0), tiny_predictor(1)
    make = tuning.gan_factory(MEMGAN, predictor, image_size=size, latent_dim=8, filters=(8, 8), growth_state=(1, 1.0))
    hypermodel = tuning.AlphaHyperModel(make, scorer, images, alphas=(0.0, 10.0), num_pairs=8)
    tuner = tuning.make_tuner(hypermodel, "grid", directory=str(tmp_path), project_name="memgan")
    tuner.search(images, epochs=1, batch_size=8, verbose=0)
    rows = tuning.trial_table(tuner)
    assert [r["alpha"] for r in rows] == [0.0, 10.0]
    assert all(np.isfinite(r["separation"]) and 0.0 <= r["mean_memorability"] <= 1.0 for r in rows)
    model = tuning.best_model(tuner)
    assert isinstance(model, MEMGAN) and model.growth_state()[0] == 1 and model.alpha in (0.0, 10.0)


def test_other_tuners_and_bad_tuner(setup, tmp_path):
    images, scorer, make = setup
    hypermodel = tuning.AlphaHyperModel(make, scorer, images, alphas=(10.0, 25.0))
    tuner = tuning.make_tuner(hypermodel, "random", directory=str(tmp_path), project_name="r")
    assert tuner.oracle.max_trials == 2 and tuner.oracle.objective.name == "separation"
    tuner = tuning.make_tuner(hypermodel, "hyperband", directory=str(tmp_path), project_name="h")
    assert tuner.oracle.max_epochs == 3 and tuner.oracle.objective.direction == "max"
    # BayesianOptimization needs scikit-learn (keras-tuner[bayesian]); not a dependency here.
    with pytest.raises(ValueError, match="Unknown tuner"):
        tuning.make_tuner(hypermodel, "annealing")


def test_quality_distance():
    rng = np.random.default_rng(0)
    real = rng.uniform(size=(64, 8, 8, 3))
    assert tuning.image_statistics_distance(real, real) == 0.0
    assert tuning.image_statistics_distance(np.zeros_like(real), real) > 0.5


TINY_SWEEP = {"config.image_size": 16, "config.latent_dim": 8, "config.filters": 16, "num_scenes": 64,
              "category": "all", "epochs": 1, "batch_size": 16, "n_critic": 1}


def tiny_sweep(out, **kwargs):
    """A two-alpha, two-generator sweep of the CPU W-MEMGAN preset shrunk to 16 px (shipped predictor and scorer)."""
    settings = dict(alphas=(0.0, 50.0), seeds=2, pairs=16, overrides=TINY_SWEEP, verbose=0)
    return tuning.sweep(out, **{**settings, **kwargs})


def test_sweep_resumes_when_interrupted_writes_its_table_and_refuses_other_settings(tmp_path, monkeypatch, capsys):
    """An interrupted sweep keeps its finished trials: the rerun trains only the interrupted alpha, both
    generators of it, and a rerun with other settings is refused instead of mixing two sweeps."""
    out = tmp_path / "tune"
    trained, fit = [], tuning.AlphaHyperModel.fit

    def interrupted_fit(self, hp, model, *args, **kwargs):
        if hp.get("alpha") == 50.0:
            raise KeyboardInterrupt  # like Ctrl-C, it escapes keras-tuner's failed-trial handling
        trained.append(hp.get("alpha"))
        return fit(self, hp, model, *args, **kwargs)

    monkeypatch.setattr(tuning.AlphaHyperModel, "fit", interrupted_fit)
    with pytest.raises(KeyboardInterrupt):
        tiny_sweep(out)
    assert trained == [0.0, 0.0]

    def counted_fit(self, hp, model, *args, **kwargs):
        trained.append(hp.get("alpha"))
        return fit(self, hp, model, *args, **kwargs)

    monkeypatch.setattr(tuning.AlphaHyperModel, "fit", counted_fit)
    record = tiny_sweep(out, verbose=1)
    assert trained == [0.0, 0.0, 50.0, 50.0]
    assert "1 trial(s) finished" in capsys.readouterr().out
    assert [r["alpha"] for r in record["trials"]] == [0.0, 50.0]
    assert all(r["generators"] == 2 and [g["seed"] for g in r["per_generator"]] == [0, 1] for r in record["trials"])
    # The finished sweep's table and plot.
    lines = (out / "alpha_sweep_generators.csv").read_text().splitlines()
    assert lines[0].startswith("alpha,seed,separation") and len(lines) == 5
    table = json.loads((out / "alpha_sweep.json").read_text())
    assert table["trials"] == record["trials"] and table["best_alpha"] in (0.0, 50.0)
    assert (out / "alpha_sweep.csv").read_text().startswith("alpha,separation,")
    from PIL import Image

    assert Image.open(out / "alpha_sweep.png").size[0] > 200

    with pytest.raises(ValueError, match="pairs: 16 -> 32"):
        tiny_sweep(out, pairs=32)
    tiny_sweep(out, alphas=(10.0,), seeds=1, overwrite=True)  # a new sweep in place of the old one
    assert trained[4:] == [10.0]


def test_sweep_refuses_a_memgan_preset(tmp_path):
    with pytest.raises(ValueError, match="trains W-MEMGAN presets"):
        tuning.sweep(tmp_path, preset="memgan_synthetic_32")
