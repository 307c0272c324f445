"""The alpha sweep: keras-tuner drives W-MEMGAN trials, the objective comes from the independent scorer,
the best model is rebuilt from its hyperparameters, and the sweep run writes its table and plot and resumes."""

import contextlib
import io
import json
import shutil

import helpers
import keras
import numpy as np
import pytest

from vms_zoo import quality
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


@pytest.mark.slow
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


def scalar_scorer():
    """A stand-in scalar scorer (task "scorer"): one score per image, its mean brightness."""
    x = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(x, keras.layers.Lambda(lambda t: keras.ops.mean(t, axis=(1, 2, 3))[:, None])(x))
    model.task, model.image_size, model.score_kind = "scorer", SIZE, "true"
    return model


def test_trial_metrics_with_a_scalar_scorer_and_the_quality_guard(setup):
    """A trial's objective comes from a scalar scorer as well as from a VMS predictor, and its FID / KID are
    those of its low and high images against the real images' features."""
    from vms_zoo.evaluation import generate_pairs
    from vms_zoo.quality import Extractor, frechet_distance, kernel_distance

    images, _, make = setup
    x = keras.Input((SIZE, SIZE, 3))
    extractor = Extractor("toy_pool", keras.Model(x, keras.layers.Flatten()(keras.layers.AveragePooling2D(8)(x))),
                          lambda batch: batch)
    hypermodel = tuning.AlphaHyperModel(make, scalar_scorer(), images, num_pairs=8, extractor=extractor)
    model = make(10.0, 0)
    metrics = hypermodel.evaluate(model)
    low, high = generate_pairs(model, 8, 0, *model.low_high())
    scores_low, scores_high = low.mean(axis=(1, 2, 3)), high.mean(axis=(1, 2, 3))
    assert metrics["mean_low"] == pytest.approx(scores_low.mean(), abs=1e-5)
    assert metrics["mean_difference"] == pytest.approx((scores_high - scores_low).mean(), abs=1e-5)
    generated, real = extractor(np.concatenate([low, high])), extractor(images)
    assert metrics["fid"] == pytest.approx(frechet_distance(generated, real), rel=1e-4)
    assert metrics["kid"] == pytest.approx(kernel_distance(generated, real), rel=1e-3, abs=1e-6)
    plain = tuning.AlphaHyperModel(make, scalar_scorer(), images, num_pairs=8).evaluate(model)
    assert "fid" not in plain and plain["separation"] == pytest.approx(metrics["separation"], rel=1e-4)


def test_best_alpha_guards_with_the_fid_ratio():
    rows = [{"alpha": 0.0, "separation": 0.1, "fid": 40.0}, {"alpha": 10.0, "separation": 0.5, "fid": 55.0},
            {"alpha": 50.0, "separation": 0.9, "fid": 130.0}]
    assert tuning.best_alpha(rows) == 50.0  # no guard
    assert tuning.best_alpha(rows, max_fid_ratio=1.5) == 10.0  # 130 > 1.5 x 40 = 60 >= 55
    assert tuning.best_alpha(rows, max_fid_ratio=1.0) == 0.0  # the best FID always passes
    unmeasured = [{k: v for k, v in r.items() if k != "fid"} for r in rows]
    assert tuning.best_alpha(unmeasured, max_fid_ratio=1.5) == 50.0  # nothing to guard with
    with pytest.raises(ValueError, match="No completed trials"):
        tuning.best_alpha([])


# training.seed 3: the generators' seeds start from it (3, 4), not from 0.
TINY_SWEEP = {"config.image_size": SIZE, "config.latent_dim": 8, "config.filters": 16, "num_scenes": 64,
              "category": "all", "epochs": 1, "batch_size": 16, "n_critic": 1, "training.seed": 3}


def tiny_sweep(out, **kwargs):
    """A two-alpha, two-generator sweep of the CPU W-MEMGAN preset shrunk to 16 px (shipped predictor and scorer)."""
    settings = dict(alphas=(0.0, 50.0), seeds=2, pairs=16, overrides=TINY_SWEEP, features="none", verbose=0)
    return tuning.sweep(out, **{**settings, **kwargs})


def counted_fit(trained, interrupt_at=None, fit=tuning.AlphaHyperModel.fit):
    """AlphaHyperModel.fit that appends each alpha it trains to `trained`, and is interrupted at `interrupt_at`."""

    def counted(self, hp, model, *args, **kwargs):
        if hp.get("alpha") == interrupt_at:
            raise KeyboardInterrupt  # like Ctrl-C, it escapes keras-tuner's failed-trial handling
        trained.append(hp.get("alpha"))
        return fit(self, hp, model, *args, **kwargs)

    return counted


@pytest.fixture(scope="module")
def resumed_sweep(tmp_path_factory):
    """One sweep interrupted at its second alpha, then rerun to the end (4 generators, trained once for all the
    tests that read it): (folder, record, alphas trained by the first run, by both, what the rerun printed, its
    tuner)."""
    out = tmp_path_factory.mktemp("sweep") / "tune"
    trained = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        # The quality guard on ResMem's features, here a stand-in network: each 8 x 8 block's mean colour.
        x = keras.Input((SIZE, SIZE, 3))
        blocks = keras.Model(x, keras.layers.Flatten()(keras.layers.AveragePooling2D(8)(x)))
        monkeypatch.setattr(quality, "resmem_features", lambda resmem=None: blocks)
        monkeypatch.setattr(quality, "resmem_prepare", lambda images: images)
        monkeypatch.setattr(tuning.AlphaHyperModel, "fit", counted_fit(trained, interrupt_at=50.0))
        with pytest.raises(KeyboardInterrupt):
            tiny_sweep(out, features="resmem")
        first = list(trained)
        monkeypatch.setattr(tuning.AlphaHyperModel, "fit", counted_fit(trained))
        tuners, make_tuner = [], tuning.make_tuner

        def kept_tuner(*args, **kwargs):  # the rerun's tuner, for test_two_trial_grid_search
            tuners.append(make_tuner(*args, **kwargs))
            return tuners[-1]

        monkeypatch.setattr(tuning, "make_tuner", kept_tuner)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            record = tiny_sweep(out, features="resmem", verbose=1)
    return out, record, first, trained, printed.getvalue(), tuners[0]


@pytest.mark.slow
def test_sweep_resumes_when_interrupted(resumed_sweep):
    """An interrupted sweep keeps its finished trials: the rerun trains only the interrupted alpha, both
    generators of it."""
    _, record, first, trained, printed, _ = resumed_sweep
    assert first == [0.0, 0.0]
    assert trained == [0.0, 0.0, 50.0, 50.0]
    assert "1 trial(s) finished" in printed
    assert [r["alpha"] for r in record["trials"]] == [0.0, 50.0]
    assert all(r["generators"] == 2 and [g["seed"] for g in r["per_generator"]] == [3, 4] for r in record["trials"])


@pytest.mark.slow
def test_sweep_writes_its_table(resumed_sweep):
    """The finished sweep's table and plot."""
    out, record = resumed_sweep[:2]
    lines = (out / "alpha_sweep_generators.csv").read_text().splitlines()
    assert lines[0].startswith("alpha,seed,separation") and len(lines) == 5
    table = json.loads((out / "alpha_sweep.json").read_text())
    assert table["trials"] == record["trials"] and table["best_alpha"] in (0.0, 50.0)
    assert table["quality_extractor"] == "resmem_resnet152_pool" and table["quality_note"] is None
    fids = [r["fid"] for r in record["trials"]]
    guarded = [r for r in record["trials"] if r["fid"] <= tuning.MAX_FID_RATIO * min(fids)]
    assert table["best_alpha"] == max(guarded, key=lambda r: r["separation"])["alpha"]
    assert (out / "alpha_sweep.csv").read_text().startswith("alpha,separation,")
    assert ",fid,kid," in (out / "alpha_sweep.csv").read_text().splitlines()[0]
    assert "FID " in resumed_sweep[4]  # printed beside each alpha
    from PIL import Image

    assert Image.open(out / "alpha_sweep.png").size[0] > 200


@pytest.mark.slow
def test_two_trial_grid_search(resumed_sweep):
    """The sweep's grid search over two alphas: its table, best alpha, and the best model rebuilt and reloaded."""
    tuner = resumed_sweep[5]
    rows = tuning.trial_table(tuner)
    assert [r["alpha"] for r in rows] == [0.0, 50.0]
    for r in rows:
        assert np.isfinite([r["separation"], r["mean_memorability"], r["fid"], r["kid"]]).all()
        assert 0.0 <= r["mean_memorability"] <= 1.0 and r["fid"] > 0.0
    assert tuning.best_alpha(rows) in (0.0, 50.0)
    assert tuning.best_alpha(rows, max_fid_ratio=1.0) == min(rows, key=lambda r: r["fid"])["alpha"]

    best = tuner.oracle.get_best_trials(1)[0]
    model = tuning.best_model(tuner)
    assert isinstance(model, WMEMGAN) and model.alpha == best.hyperparameters.get("alpha")
    z, m = np.zeros((2, 8), "float32"), np.full((2, 1), 0.5, "float32")
    assert model.generate(z, m).shape == (2, SIZE, SIZE, 3)
    # The weights are the trained ones the tuner saved, not a fresh initialisation.
    saved = tuner.hypermodel.build(best.hyperparameters)
    assert any(not np.allclose(a, b) for a, b in zip(saved.get_weights(), model.get_weights()))


@pytest.mark.slow
def test_several_generators_per_alpha(resumed_sweep):
    """executions_per_trial=2 (the sweep's seeds=2): two seeds per alpha from the hypermodel's seed (3 here), the
    trial value is their mean, the test is across them."""
    for row in resumed_sweep[1]["trials"]:
        generators = row["per_generator"]
        assert [g["seed"] for g in generators] == [3, 4]
        for name in tuning.PER_GENERATOR:
            assert np.isclose(row[name], np.mean([g[name] for g in generators]))
        # Different seeds train different generators (the check would pass vacuously on copies).
        assert generators[0]["mean_difference"] != generators[1]["mean_difference"]
        assert row["generators"] == 2 and 0.0 <= row["p_across"] <= 1.0
        assert row["ci_low"] <= row["mean_difference_across"] <= row["ci_high"]
        assert np.isclose(row["mean_difference_across"], row["mean_difference"])


@pytest.mark.slow
def test_sweep_refuses_other_settings_unless_overwritten(resumed_sweep, tmp_path, monkeypatch):
    """A rerun with other settings is refused instead of mixing two sweeps; overwrite starts a new one."""
    out = tmp_path / "tune"
    shutil.copytree(resumed_sweep[0], out)  # a copy: the other tests read the finished sweep
    with pytest.raises(ValueError, match="pairs: 16 -> 32"):
        tiny_sweep(out, pairs=32)
    trained = []
    monkeypatch.setattr(tuning.AlphaHyperModel, "fit", counted_fit(trained))
    tiny_sweep(out, alphas=(10.0,), seeds=1, overwrite=True)  # a new sweep in place of the old one
    assert trained == [10.0]


def test_sweep_refuses_a_memgan_preset_and_an_unknown_extractor(tmp_path):
    with pytest.raises(ValueError, match="trains W-MEMGAN presets"):
        tuning.sweep(tmp_path, preset="memgan_synthetic_32")
    with pytest.raises(ValueError, match="Unknown feature extractor 'fid'"):
        tuning.sweep(tmp_path / "run", features="fid")
    assert not (tmp_path / "run").exists()
