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
