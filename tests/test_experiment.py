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
