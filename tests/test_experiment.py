import json
from statistics import NormalDist

import numpy as np
import pytest
from scipy import integrate, stats

from vms_zoo.human import experiment as E
from vms_zoo.human.simulate import memorability, simulate_experiment
from vms_zoo.stats import cohens_d, corr2

Z = NormalDist().inv_cdf


def test_dprime_log_linear_hand_values():
    # H = (3 + .5) / (4 + 1) = .7, F = (1 + .5) / 5 = .3
    assert E.dprime(3, 4, 1, 4) == pytest.approx(2 * 0.5244005127080407)
    # perfect hits and no false alarms: H = 4.5 / 5 = .9, F = .1 -> finite, not inf
    assert E.dprime(4, 4, 0, 4) == pytest.approx(2.5631031310892007)
    # all misses and all false alarms: symmetric negative
    assert E.dprime(0, 4, 4, 4) == pytest.approx(-2.5631031310892007)
    got = E.dprime([10, 0, 7], [10, 10, 12], [0, 10, 2], [20, 10, 9])
    want = [Z((h + .5) / (s + 1)) - Z((f + .5) / (n + 1)) for h, s, f, n in
            [(10, 10, 0, 20), (0, 10, 10, 10), (7, 12, 2, 9)]]
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_rates_per_image_and_pooled_per_category():
    trials = {"participant": np.array([1, 1, 1, 1, 2, 2, 2, 2]),
              "image_id": np.array(["a", "a", "b", "b", "a", "a", "b", "b"]),
              "repeat": np.array([0, 1, 0, 1, 0, 1, 0, 1]),
              "response": np.array([0, 1, 1, 1, 0, 0, 0, 1])}
    r = E.rates(trials)
    assert r["group"].tolist() == ["a", "b"]
    np.testing.assert_allclose(r["hit_rate"], [0.5, 1.0])
    np.testing.assert_allclose(r["fa_rate"], [0.0, 0.5])
    assert r["dprime"][1] == pytest.approx(Z(2.5 / 3) - Z(1.5 / 3))
    pooled = E.rates(trials, {"a": "kitchen", "b": "kitchen"})
    assert pooled["hits"].tolist() == [3] and pooled["n_signal"].tolist() == [4]
    assert pooled["dprime"][0] == pytest.approx(Z(3.5 / 5) - Z(1.5 / 5))


def _bf10_over_delta(t, n_eff, df, r):
    """Independent check: integrate the noncentral-t likelihood over a Cauchy(0, r) effect size."""
    f = lambda d: stats.nct.pdf(t, df, d * np.sqrt(n_eff)) * stats.cauchy.pdf(d, scale=r)  # noqa: E731
    return integrate.quad(f, -np.inf, np.inf, limit=200)[0] / stats.t.pdf(t, df)


@pytest.mark.parametrize("t,n1,n2,r", [(2.5, 20, None, np.sqrt(2) / 2), (0.3, 30, None, 1.0),
                                       (3.1, 15, 18, np.sqrt(2) / 2), (-1.2, 40, 35, 1.0)])
def test_jzs_bayes_factor_matches_delta_integral(t, n1, n2, r):
    n_eff = n1 if n2 is None else n1 * n2 / (n1 + n2)
    df = n1 - 1 if n2 is None else n1 + n2 - 2
    assert E.jzs_bayes_factor(t, n1, n2, r) == pytest.approx(_bf10_over_delta(t, n_eff, df, r), rel=1e-4)


def test_jzs_bayes_factor_direction():
    assert E.jzs_bayes_factor(0.0, 50) < 1 / 5  # no effect: evidence for the null
    assert E.jzs_bayes_factor(5.0, 50) > 100


def test_compare_groups_matches_scipy():
    rng = np.random.default_rng(1)
    a, b, c = rng.normal(1, 1, 20), rng.normal(0, 1, 20), rng.normal(0, 1, 15)
    out = E.compare_groups(a, b, paired=True)
    assert out["t_test"]["t"] == pytest.approx(stats.ttest_rel(a, b).statistic)
    assert out["wilcoxon"]["p"] == pytest.approx(stats.wilcoxon(a, b, alternative="greater").pvalue)
    assert out["mann_whitney"]["p"] == pytest.approx(stats.mannwhitneyu(a, b, alternative="greater").pvalue)
    assert out["bf10"] == pytest.approx(E.jzs_bayes_factor(stats.ttest_rel(a, b).statistic, 20))
    three = E.compare_groups(a, b, c)
    assert three["anova"]["F"] == pytest.approx(stats.f_oneway(a, b, c).statistic)
    assert three["kruskal"]["H"] == pytest.approx(stats.kruskal(a, b, c).statistic)
    assert three["t_test"]["t"] == pytest.approx(stats.ttest_ind(a, b).statistic)
    assert three["cohens_d"] == pytest.approx(cohens_d(a, b))
    assert out["cohens_d"] == pytest.approx(np.mean(a - b) / np.std(a - b, ddof=1))


def _maps(n, size=16, seed=0):
    """Maps with one bright rectangle per channel; true-map brightness varies widely across images."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, size, size, 2), np.float32)
    for k in range(n):
        for c in range(2):
            y0, x0 = rng.integers(0, size - 6, 2)
            hh, ww = rng.integers(3, size // 2, 2)
            out[k, y0:y0 + hh, x0:x0 + ww, c] = rng.uniform(0.2, 1.0)
    return out


@pytest.mark.slow
def test_consistency_rises_with_participants():
    vms = _maps(24)
    map_cons, hit_cons = [], []
    for n in (4, 16, 48):
        trials, boxes, _ = simulate_experiment(vms, n_participants=n, seed=n, hit_gain=3.0)
        map_cons.append(np.nanmean(list(E.map_consistency(boxes, (16, 16), n_splits=10).values())))
        hit_cons.append(np.nanmean(E.hit_rate_consistency(trials, n_splits=10)))
    assert map_cons[0] < map_cons[1] < map_cons[2] and map_cons[2] > 0.6
    assert hit_cons[0] < hit_cons[2] and hit_cons[2] > 0.4


def test_simulated_memory_recovers_ground_truth():
    vms = _maps(30, seed=3)
    trials, boxes, truth = simulate_experiment(vms, n_participants=60, seed=0, hit_gain=4.0)
    r = E.rates(trials)
    assert stats.spearmanr(r["hit_rate"], memorability(vms)).statistic > 0.8
    np.testing.assert_allclose(r["hit_rate"], truth["p_hit"], atol=0.2)
    # the pooled true map of all participants lands on the true-map rectangle
    built = E.vms_maps(boxes, (16, 16))
    for i in range(30):
        assert corr2(built[i][..., 0], vms[i, ..., 0]) > 0.5


def test_analyse_and_report(tmp_path):
    vms = _maps(24, seed=5)
    trials, boxes, _ = simulate_experiment(vms, n_participants=20, seed=2)
    categories = {i: ("kitchen", "isolated", "populated")[i % 3] for i in range(24)}
    report = E.analyse(trials, boxes, categories, size=(16, 16), n_splits=4)
    assert set(report["table1_consistency"]) == {"kitchen", "isolated", "populated"}
    assert all(0 < v <= 1 for v in report["table1_consistency"].values())
    kitchen = [i for i in range(24) if categories[i] == "kitchen"]
    r = E.rates({k: v[np.isin(trials["image_id"], kitchen)] for k, v in trials.items()})
    hits, sig = r["hits"].sum(), r["n_signal"].sum()
    fas, noise = r["false_alarms"].sum(), r["n_noise"].sum()
    assert report["table2_dprime"]["kitchen"]["dprime"] == pytest.approx(E.dprime(hits, sig, fas, noise))
    paths = E.write_report(report, tmp_path)
    assert len(paths) == 3 and all(p.endswith(".png") for p in paths)
    with open(tmp_path / "report.json") as f:
        assert json.load(f)["settings"]["n_splits"] == 4


def test_memory_experiment_detects_high_vs_low():
    vms = _maps(30, seed=7)
    kinds = {}
    for i in range(30):  # make every third image clearly memorable, the next clearly not
        kinds[i] = ("high", "low", "foil")[i % 3]
        vms[i, ..., 0] *= {"high": 3.0, "low": 0.1, "foil": 1.0}[kinds[i]]
    trials, _, _ = simulate_experiment(np.clip(vms, 0, 1), n_participants=30, seed=1)
    out = E.memory_experiment(trials, kinds)
    assert out["hit_rate"]["high"] > out["hit_rate"]["low"]
    assert out["per_participant"]["t_test"]["t"] > 0 and out["per_participant"]["t_test"]["p"] < 0.01
    assert out["per_participant"]["bf10"] > 10 and out["per_image"]["anova"]["p"] < 0.05


def _experiment():
    vms = _maps(6, size=8, seed=1)
    trials, boxes, _ = simulate_experiment(vms, n_participants=6, seed=0)
    return trials, boxes, {i: ("a", "b")[i % 2] for i in range(6)}


@pytest.mark.parametrize("setting,expected", [
    ({"size": (0, 0)}, r"^size must be \(height, width\), two integers >= 1; got \(0, 0\)$"),
    ({"size": (16,)}, r"^size must be \(height, width\)"),
    ({"n_splits": 0}, r"^n_splits must be an integer >= 1 \(random split halves\); got 0$"),
    ({"n_splits": 2.5}, r"^n_splits must be an integer >= 1"),
    ({"sigma": float("nan")}, r"^sigma must be a finite number >= 0 .*; got nan$"),
    ({"sigma": -0.5}, r"^sigma must be a finite number >= 0"),
    ({"n_sd": float("nan")}, r"^n_sd must be a finite number > 0 .* or None .*; got nan$"),
    ({"n_sd": 0}, r"^n_sd must be a finite number > 0"),
])
def test_analyse_refuses_settings_that_would_give_nan_tables(setting, expected):
    trials, boxes, categories = _experiment()
    with pytest.raises(ValueError, match=expected):
        E.analyse(trials, boxes, categories, **setting)


def test_consistency_functions_refuse_zero_splits():
    trials, boxes, _ = _experiment()
    with pytest.raises(ValueError, match="^n_splits must be an integer >= 1"):
        E.hit_rate_consistency(trials, n_splits=0)
    with pytest.raises(ValueError, match="^n_splits must be an integer >= 1"):
        E.map_consistency(boxes, (8, 8), n_splits=0)
    with pytest.raises(ValueError, match=r"^channel must be 0 \(true map\), 1 \(false map\) or None"):
        E.map_consistency(boxes, (8, 8), channel=2)


def test_analyse_refuses_ragged_trials():
    trials, boxes, categories = _experiment()
    trials = {**trials, "response": trials["response"][:-1]}
    with pytest.raises(ValueError, match="^trials: columns must have equal lengths"):
        E.analyse(trials, boxes, categories)


# Target maps vs participants' maps, by hand. Image "x": r = s = 1/sqrt(3) (ranks give the same), MSE 255^2 / 4.
# Image "y": the participants' map reverses the target: r = s = -1, MSE 255^2 x mean(.36, .04, .04, .36).
# Image "z": nobody drew on it: no correlation, MSE 255^2 x mean(t^2) = 255^2 / 16.
TARGETS = {"x": np.array([[0, 0], [0, 1.0]]), "y": np.array([[0.2, 0.4], [0.6, 0.8]]),
           "z": np.array([[0, 0.5], [0, 0]])[..., None]}
DRAWN = {"x": np.array([[0, 0], [1.0, 1.0]]), "y": np.array([[0.8, 0.6], [0.4, 0.2]]), "z": np.zeros((2, 2))}
HAND = {"x": (1 / np.sqrt(3), 1 / np.sqrt(3), 65025 / 4), "y": (-1.0, -1.0, 65025 * 0.2),
        "z": (np.nan, np.nan, 65025 / 16)}


def test_target_agreement_matches_hand_computed_table():
    out = E.target_agreement(TARGETS, DRAWN)
    for i, (r, s, mse) in HAND.items():
        got = out["per_image"][i]
        np.testing.assert_allclose([got["pearson"], got["spearman"], got["mse_255"]], [r, s, mse], rtol=1e-12)
    overall = out["overall"]
    assert overall["pearson"] == pytest.approx((1 / np.sqrt(3) - 1) / 2)
    assert overall["spearman"] == pytest.approx((1 / np.sqrt(3) - 1) / 2)
    assert overall["mse_255"] == pytest.approx(65025 * (1 / 4 + 0.2 + 1 / 16) / 3)
    assert overall["num_images"] == 3 and overall["num_correlated_pearson"] == 2
    assert overall["pearson_p"] == pytest.approx(stats.ttest_1samp([1 / np.sqrt(3), -1], 0).pvalue)
    t = np.concatenate([np.ravel(TARGETS[i]) for i in "xyz"])
    m = np.concatenate([np.ravel(DRAWN[i]) for i in "xyz"])
    assert out["pooled"]["pearson"] == pytest.approx(stats.pearsonr(t, m).statistic)
    assert out["pooled"]["spearman_p"] == pytest.approx(stats.spearmanr(t, m).pvalue)


def test_target_agreement_matches_numpy_and_scipy_on_random_maps():
    rng = np.random.default_rng(4)
    targets = {k: rng.uniform(0, 1, (5, 7)) for k in range(4)}
    drawn = {k: np.clip(targets[k] + rng.normal(0, 0.3, (5, 7)), 0, 1) for k in range(4)}
    out = E.target_agreement(targets, drawn)
    for k in range(4):
        a, b = targets[k].ravel(), drawn[k].ravel()
        assert out["per_image"][k]["pearson"] == pytest.approx(np.corrcoef(a, b)[0, 1])
        assert out["per_image"][k]["spearman"] == pytest.approx(stats.spearmanr(a, b).statistic)
        assert out["per_image"][k]["mse_255"] == pytest.approx(np.mean((255 * a - 255 * b) ** 2))


def test_analyse_reports_target_agreement_with_maps_drawn_at_the_target_size():
    trials = {"participant": np.array(["p1", "p1", "p2", "p2"]), "image_id": np.array(["a"] * 4),
              "repeat": np.array([0, 1, 0, 1]), "response": np.array([0, 1, 0, 1])}
    names = ("image_id", "participant", "response", "x0", "y0", "x1", "y1")
    rows = [("a", "p1", "true", 0, 0, 0.5, 0.5), ("a", "p2", "true", 0, 0, 1, 0.5)]
    boxes = {k: np.array(v) for k, v in zip(names, zip(*rows))}
    target = np.zeros((4, 4, 1))
    target[:2, :2] = 1
    report = E.analyse(trials, boxes, {"a": "kitchen"}, size=(2, 2), n_splits=2, targets={"a": target})
    # participants' true map on the target's 4 x 4 grid: top-left quarter 2 boxes, top-right 1, scaled to peak 1
    drawn = np.zeros((4, 4))
    drawn[:2, :2], drawn[:2, 2:] = 1, 0.5
    got = report["target_agreement"]["per_image"]["a"]
    assert got["pearson"] == pytest.approx(2.5 / np.sqrt(3 * 2.75))  # by hand: cov 2.5, var 3 and 2.75
    assert got["spearman"] == pytest.approx(np.sqrt(2 / 3))           # by hand from the tied ranks
    assert got["mse_255"] == pytest.approx(65025 / 16)                # four pixels off by 0.5
    assert got["pearson"] == pytest.approx(np.corrcoef(target.ravel(), drawn.ravel())[0, 1])
    assert "target_agreement" not in E.analyse(trials, boxes, {"a": "kitchen"}, size=(2, 2), n_splits=2)


@pytest.mark.parametrize("targets,expected", [
    ({"a": np.full((4, 4), 255.0)}, r"^targets\['a'\]: map values must be finite and in \[0, 1\]; got \[255, 255\]"),
    ({"a": np.full((4, 4), np.nan)}, r"^targets\['a'\]: map values must be finite and in \[0, 1\]; got non-finite"),
    ({"zz": np.zeros((4, 4))}, r"^targets name image_id \['zz'\] that no trial shows"),
    ({"a": np.zeros(4)}, r"^targets\['a'\]: expected a numeric \(H, W\) or \(H, W, C\) map"),
    ({}, r"^targets must be a non-empty dict"),
])
def test_bad_targets_are_refused_before_any_work(targets, expected):
    trials, boxes, _ = _experiment()
    trials = {**trials, "image_id": np.where(trials["image_id"] == 0, "a", "b")}
    boxes = {**boxes, "image_id": np.where(boxes["image_id"] == 0, "a", "b")}
    with pytest.raises(ValueError, match=expected):
        E.analyse(trials, boxes, {"a": "k", "b": "k"}, targets=targets)


def test_target_agreement_needs_matching_maps():
    with pytest.raises(ValueError, match=r"^maps has no participants' map for target image_id \['z'\]"):
        E.target_agreement(TARGETS, {k: DRAWN[k] for k in "xy"})
    with pytest.raises(ValueError, match=r"same height and width .*\('x', \(2, 2\), \(3, 3\)\)"):
        E.target_agreement(TARGETS, {**DRAWN, "x": np.zeros((3, 3))})
