"""The human experiment's pair analyses: same-z image pairs, the 2-SD exclusion, high vs low
without the foils. Expected numbers come from the tiny tables written out here, by hand or by scipy."""

import json

import numpy as np
import pytest
from scipy import stats

from vms_zoo.human import experiment as E
from vms_zoo.human.streams import StreamError, stream_pairs

PEOPLE = ["p1", "p2", "p3", "p4"]
PAIRS = [("h1", "l1"), ("h2", "l2"), ("h3", "l3")]
# responses of p1..p4 on each image's repeat (hits) and on its first showing (false alarms)
HITS = {"h1": [1, 1, 1, 0], "l1": [1, 0, 0, 0], "h2": [1, 1, 0, 0], "l2": [0, 1, 1, 0],
        "h3": [1, 1, 1, 1], "l3": [0, 0, 1, 0], "f1": [0, 0, 0, 0]}
FALSE_ALARMS = {"h1": [1, 0, 0, 0], "l2": [0, 0, 1, 0], "f1": [0, 1, 0, 0]}
# by hand: per image hit rate h1 .75, l1 .25, h2 .5, l2 .5, h3 1, l3 .25, f1 0
HIGH_HR, LOW_HR = np.array([0.75, 0.5, 1.0]), np.array([0.25, 0.5, 0.25])
# per participant, hits on (h1, h2, h3) and on (l1, l2, l3): p1 3/3 and 1/3, p2 3/3 and 1/3, p3 2/3 and 2/3,
# p4 1/3 and 0/3
PERSON_HIGH, PERSON_LOW = np.array([1, 1, 2 / 3, 1 / 3]), np.array([1 / 3, 1 / 3, 2 / 3, 0])


def table(hits, false_alarms, people):
    rows = [(p, image, repeat, answers[k]) for image in hits for k, p in enumerate(people)
            for repeat, answers in ((0, false_alarms.get(image, [0] * len(people))), (1, hits[image]))]
    return {name: np.array(column) for name, column in zip(("participant", "image_id", "repeat", "response"),
                                                          zip(*rows))}


def boxes(rows):
    names = ("image_id", "participant", "response", "x0", "y0", "x1", "y1")
    return {name: np.array(column) for name, column in zip(names, zip(*rows))}


TRIALS = table(HITS, FALSE_ALARMS, PEOPLE)
# true boxes: h1 a quarter (p1) and the whole image (p2); h2 half (p1); false box: h1 half (p3)
BOXES = boxes([("h1", "p1", "true", 0, 0, 0.5, 0.5), ("h1", "p2", "true", 0, 0, 1, 1),
               ("h2", "p1", "true", 0, 0, 1, 0.5), ("h1", "p3", "false", 0, 0, 0.5, 1),
               ("l1", "p1", "true", 0.5, 0.5, 1, 1)])


def test_vms_intensity_is_marked_area_per_viewer():
    v = E.vms_intensity(TRIALS, BOXES, size=(4, 4))
    got = {i: (t, f) for i, t, f in zip(v["image_id"].tolist(), v["true"], v["false"])}
    # h1: covered area 0.25 + 1 over the 4 people shown its repeat; false 0.5 over the 4 shown it first
    assert got["h1"] == pytest.approx((1.25 / 4, 0.5 / 4))
    assert got["h2"] == pytest.approx((0.5 / 4, 0.0)) and got["l1"] == pytest.approx((0.25 / 4, 0.0))
    assert got["f1"] == (0.0, 0.0)
    no_repeat = {k: v[TRIALS["repeat"] == 0] for k, v in TRIALS.items()}
    assert np.isnan(E.vms_intensity(no_repeat, BOXES, size=(4, 4))["true"]).all()  # nobody could draw a true map


def test_pair_tests_on_hit_rate_per_pair_and_per_participant():
    out = E.pair_analysis(TRIALS, PAIRS)
    hr = out["hit_rate"]
    # differences .5, 0, .75: mean 5/12, SD sqrt(((1/12)^2 + (5/12)^2 + (4/12)^2) / 2) = sqrt(42) / 12 / sqrt(2)
    sd = np.sqrt(42 / 2) / 12
    assert hr["num_pairs"] == 3 and hr["excluded"] == 0
    assert hr["mean_high"] == pytest.approx(2.25 / 3) and hr["mean_low"] == pytest.approx(1 / 3)
    assert hr["mean_difference"] == pytest.approx(5 / 12) and hr["positive_share"] == pytest.approx(2 / 3)
    assert hr["t_paired"] == pytest.approx((5 / 12) / (sd / np.sqrt(3)))
    assert hr["p_paired_t"] == pytest.approx(stats.ttest_rel(HIGH_HR, LOW_HR).pvalue)
    assert hr["p_wilcoxon"] == pytest.approx(0.5)  # the zero is dropped: 2 positive ranks, 1/4 + 1/4 two-sided
    assert hr["bf10"] == pytest.approx(E.jzs_bayes_factor(hr["t_paired"], 3))
    person = out["per_participant_hit_rate"]
    assert person["num_pairs"] == 4 and person["excluded"] == 0
    assert person["mean_difference"] == pytest.approx(np.mean(PERSON_HIGH - PERSON_LOW))
    assert person["t_paired"] == pytest.approx(stats.ttest_rel(PERSON_HIGH, PERSON_LOW).statistic)
    assert person["p_wilcoxon"] == pytest.approx(stats.wilcoxon(PERSON_HIGH, PERSON_LOW).pvalue)
    assert "vms_true" not in out  # no annotations, no VMS tests


def test_pair_tests_on_vms_intensity():
    out = E.pair_analysis(TRIALS, PAIRS, BOXES, size=(4, 4))
    high, low = np.array([1.25, 0.5, 0.0]) / 4, np.array([0.25, 0.0, 0.0]) / 4  # from the test above
    assert out["vms_true"]["mean_difference"] == pytest.approx(np.mean(high - low))
    assert out["vms_true"]["p_paired_t"] == pytest.approx(stats.ttest_rel(high, low).pvalue)
    assert out["vms_true"]["p_wilcoxon"] == pytest.approx(stats.wilcoxon(high, low).pvalue)
    assert out["vms_false"]["mean_difference"] == pytest.approx(0.5 / 4 / 3)


HIGH_HITS = np.array([5, 6, 4, 5, 5, 6, 4, 5, 10])  # of 10 people; the last is 2.45 SD above the others' mean
LOW_HITS = np.array([3, 2, 4, 3, 1, 2, 2, 3, 2])


def nine_pairs():
    """Ten people p0..p9; an image hit by k of them is hit by the first k."""
    people = [f"p{k}" for k in range(10)]
    hits = {}
    for j, (h, lo) in enumerate(zip(HIGH_HITS, LOW_HITS)):
        hits[f"h{j}"] = [int(k < h) for k in range(10)]
        hits[f"l{j}"] = [int(k < lo) for k in range(10)]
    return table(hits, {}, people), [(f"h{j}", f"l{j}") for j in range(9)]


def test_two_sd_exclusion_drops_the_outlying_pair():
    trials, pairs = nine_pairs()
    # high hit rates: mean 50/90, SD sqrt(26.22 / 8) / 10 = 0.181; 1.0 lies 2.45 SD out, the rest within 0.86 SD
    # low: mean 22/90, SD 0.088, largest distance 1.76 SD: none out
    out = E.pair_analysis(trials, pairs)["hit_rate"]
    high, low = HIGH_HITS[:8] / 10, LOW_HITS[:8] / 10
    assert out["excluded"] == 1 and out["num_pairs"] == 8
    assert out["mean_difference"] == pytest.approx(np.mean(high - low))
    assert out["t_paired"] == pytest.approx(stats.ttest_rel(high, low).statistic)
    assert out["p_wilcoxon"] == pytest.approx(stats.wilcoxon(high, low).pvalue)
    kept = E.pair_analysis(trials, pairs, n_sd=None)["hit_rate"]
    assert kept["excluded"] == 0 and kept["num_pairs"] == 9
    assert kept["mean_difference"] == pytest.approx(np.mean(HIGH_HITS - LOW_HITS) / 10)
    # per participant: person k hits the images hit by more than k people
    person_high = np.array([np.mean(HIGH_HITS > k) for k in range(10)])
    person_low = np.array([np.mean(LOW_HITS > k) for k in range(10)])
    person = E.pair_analysis(trials, pairs)["per_participant_hit_rate"]
    assert person["excluded"] == 0  # largest distance: p0's low rate, 1.91 SD
    assert person["t_paired"] == pytest.approx(stats.ttest_rel(person_high, person_low).statistic)


def test_two_sd_exclusion_of_participants():
    # seven people: all hit h1 and l1, none l2, only p6 hits h2. High rates .5 x 6 and 1 for p6: mean 4/7,
    # SD sqrt((6 (1/14)^2 + (3/7)^2) / 6) = 0.189, so p6 lies 2.27 SD out; low rates are all .5
    people = [f"p{k}" for k in range(7)]
    trials = table({"h1": [1] * 7, "h2": [0] * 6 + [1], "l1": [1] * 7, "l2": [0] * 7}, {}, people)
    person = E.pair_analysis(trials, [("h1", "l1"), ("h2", "l2")])["per_participant_hit_rate"]
    assert person["excluded"] == 1 and person["num_pairs"] == 6
    assert person["mean_difference"] == 0.0 and person["p_paired_t"] == 1.0 and person["p_wilcoxon"] == 1.0


def test_high_vs_low_leaves_the_foils_out():
    kinds = E.pair_kinds(PAIRS, TRIALS)
    assert kinds == {"h1": "high", "h2": "high", "h3": "high", "l1": "low", "l2": "low", "l3": "low",
                     "f1": "foil"}
    out = E.memory_experiment(TRIALS, kinds, annotations=BOXES, size=(4, 4))
    assert out["per_image"]["n"] == [3, 3]
    assert out["per_image"]["anova"]["F"] == pytest.approx(stats.f_oneway(HIGH_HR, LOW_HR).statistic)
    assert out["per_image"]["kruskal"]["H"] == pytest.approx(stats.kruskal(HIGH_HR, LOW_HR).statistic)
    with_foils = stats.f_oneway(HIGH_HR, LOW_HR, [0.0]).statistic  # the foils as a third group
    assert out["per_image"]["anova"]["F"] != pytest.approx(with_foils)
    fa_high, fa_low = np.array([0.25, 0, 0]), np.array([0, 0.25, 0])
    assert out["per_image_false_alarms"]["t_test"]["t"] == pytest.approx(stats.ttest_ind(fa_high, fa_low).statistic)
    vms_high, vms_low = np.array([1.25, 0.5, 0.0]) / 4, np.array([0.25, 0.0, 0.0]) / 4
    assert out["vms_true"]["anova"]["F"] == pytest.approx(stats.f_oneway(vms_high, vms_low).statistic)
    assert out["vms_true"]["excluded"] == 0
    assert out["hit_rate"]["foil"] == 0.0 and out["fa_rate"]["foil"] == 0.25  # foils are still described
    assert out["per_participant"]["t_test"]["t"] == pytest.approx(
        stats.ttest_rel(PERSON_HIGH, PERSON_LOW).statistic)


def test_pairs_are_checked():
    with pytest.raises(ValueError, match=r"image_id \['h9'\] that no trial shows"):
        E.pair_analysis(TRIALS, [("h1", "l1"), ("h9", "l2")])
    with pytest.raises(ValueError, match=r"\['h1'\] appear"):
        E.pair_analysis(TRIALS, [("h1", "l1"), ("h1", "l2")])
    with pytest.raises(ValueError, match="non-empty list"):
        E.pair_analysis(TRIALS, [])


def test_analyse_and_report_include_the_pair_analyses(tmp_path):
    categories = {i: "kitchen" if i != "f1" else "living_room" for i in HITS}
    report = E.analyse(TRIALS, BOXES, categories, size=(4, 4), n_splits=2, pairs=PAIRS)
    assert report["pair_analysis"]["hit_rate"]["mean_difference"] == pytest.approx(5 / 12)
    assert report["memory_experiment"]["per_image"]["n"] == [3, 3]
    assert "pair_analysis" not in E.analyse(TRIALS, BOXES, categories, size=(4, 4), n_splits=2)
    paths = E.write_report(report, tmp_path)
    assert str(tmp_path / "pair_differences.png") in paths
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["pair_analysis"]["vms_true"]["num_pairs"] == 3 and saved["settings"]["n_sd"] == 2.0


def test_stream_pairs_reads_pairs_back_from_streams():
    def show(image, kind, pair):
        return {"image": image, "kind": kind, "pair": pair, "repeat": False}

    streams = [[show("a", "high", 0), show("x", "foil", None), show("c", "high", 1)],
               [show("b", "low", 0), show("d", "low", 2)]]
    assert stream_pairs(streams) == [("a", "b")]  # pairs 1 and 2 never show their other image
    streams[1].append(show("e", "high", 0))
    with pytest.raises(StreamError, match="pair 0 has high image 'e' here but 'a' elsewhere"):
        stream_pairs(streams)
