import json
from collections import Counter

import numpy as np
import pytest

from vms_zoo.human.streams import (StreamError, design_streams, load_streams, responses_to_trials, save_streams,
                             validate_streams)

PAIRS = [(f"h{i}", f"l{i}") for i in range(100)]
FOILS = [f"f{i}" for i in range(200)]


def check_rules(streams, length, n_targets, min_gap, pairs):
    """Independent check of the design rules (does not use validate_streams)."""
    partner = {h: l for h, l in pairs} | {l: h for h, l in pairs}
    for seq in streams:
        assert len(seq) == length
        positions = {}
        for pos, item in enumerate(seq):
            positions.setdefault(item["image"], []).append(pos)
        images = set(positions)
        assert not any(partner.get(i) in images for i in images), "both members of a pair in one sequence"
        repeated = {i: p for i, p in positions.items() if len(p) == 2}
        assert len(repeated) == n_targets and all(len(p) <= 2 for p in positions.values())
        for i, (first, second) in repeated.items():
            assert second - first - 1 >= min_gap
            assert not seq[first]["repeat"] and seq[second]["repeat"]
        kinds = Counter(seq[p[0]]["kind"] for p in positions.values())
        assert abs(kinds["high"] - kinds["low"]) <= 1 and abs(kinds["foil"] - kinds["high"] - kinds["low"]) <= 1
        rep = Counter(seq[p[0]]["kind"] for p in repeated.values())
        assert abs(rep["high"] - rep["low"]) <= 1 and abs(rep["foil"] - rep["high"] - rep["low"]) <= 1


def test_paper_design_never_breaks_rules_over_many_seeds():
    for seed in range(25):
        streams = design_streams(PAIRS, FOILS, seed=seed)  # 10 x 150, 40 repeats, gap 30
        assert len(streams) == 10
        check_rules(streams, 150, 40, 30, PAIRS)


def test_random_designs_never_break_rules():
    rng = np.random.default_rng(0)
    for seed in range(60):
        length = int(rng.integers(20, 90))
        min_gap = int(rng.integers(0, length // 3))
        n_targets = int(rng.integers(1, min(length // 2, length - min_gap - 1) + 1))
        n_unique = length - n_targets
        pairs = [(f"h{i}", f"l{i}") for i in range(n_unique // 2 + int(rng.integers(0, 5)))]
        foils = [f"f{i}" for i in range(n_unique - n_unique // 2 + int(rng.integers(0, 5)))]
        try:
            streams = design_streams(pairs, foils, int(rng.integers(1, 5)), length, n_targets, min_gap, seed)
        except ValueError as e:  # only allowed when a kind has too few images for its share of repeats
            assert "Not enough" in str(e)
            continue
        check_rules(streams, length, n_targets, min_gap, pairs)


def test_images_are_used_evenly_across_sequences():
    streams = design_streams(PAIRS, FOILS, seed=3)
    shown = Counter(it["image"] for seq in streams for it in seq if not it["repeat"])
    pair_counts = Counter(it["pair"] for seq in streams for it in seq if it["pair"] is not None and not it["repeat"])
    foil_counts = [shown[f] for f in FOILS]
    assert max(foil_counts) - min(foil_counts) <= 1 and max(pair_counts.values()) - min(pair_counts.values()) <= 1
    high = sum(shown[h] for h, _ in PAIRS)
    low = sum(shown[low] for _, low in PAIRS)
    assert abs(high - low) <= 10


def test_csv_and_json_round_trip(tmp_path):
    streams = design_streams(PAIRS[:30], FOILS[:40], n_sequences=3, length=60, n_targets=10, min_gap=10)
    for name in ("s.csv", "s.json"):
        save_streams(streams, tmp_path / name, min_gap=10)
        assert load_streams(tmp_path / name, min_gap=10) == streams
    assert json.loads((tmp_path / "s.json").read_text())["min_gap"] == 10
    with pytest.raises(StreamError, match="at least 30 required"):
        load_streams(tmp_path / "s.json", min_gap=30)


def test_validation_names_each_broken_rule(tmp_path):
    streams = design_streams(PAIRS[:30], FOILS[:40], n_sequences=2, length=60, n_targets=10, min_gap=10)
    seq = streams[0]
    j = next(p for p, it in enumerate(seq) if it["repeat"])
    first = next(p for p, it in enumerate(seq) if it["image"] == seq[j]["image"])
    seq[first + 1], seq[j] = seq[j], seq[first + 1]  # repeat right after its first showing
    single = next(it for it in seq if it["kind"] == "high" and not it["repeat"])
    seq[-1] = {"image": PAIRS[single["pair"]][1], "kind": "low", "pair": single["pair"], "repeat": False}
    with pytest.raises(StreamError) as err:
        validate_streams(streams, min_gap=10)
    msg = str(err.value)
    assert "only 0 images since its first showing" in msg and f"pair {single['pair']} already shown" in msg
    (tmp_path / "bad.csv").write_text("sequence,position,image\n0,0,x\n")
    with pytest.raises(StreamError, match="expected CSV columns"):
        load_streams(tmp_path / "bad.csv")
    with pytest.raises(ValueError, match="do not fit"):
        design_streams(PAIRS, FOILS, length=50, n_targets=30)


def test_responses_to_trials():
    streams = design_streams(PAIRS[:30], FOILS[:40], n_sequences=2, length=60, n_targets=10, min_gap=10)
    responses = {"participant": np.array([7] * 60), "sequence": np.array([1] * 60),
                 "position": np.arange(60), "response": np.array([it["repeat"] for it in streams[1]], int)}
    trials = responses_to_trials(streams, responses)
    assert trials["repeat"].sum() == 10 and (trials["response"] == trials["repeat"]).all()
    assert trials["image_id"][5] == streams[1][5]["image"]


@pytest.mark.parametrize("argument,value,expected", [
    ("min_gap", -5, "min_gap must be an integer >= 0"), ("min_gap", 2.5, "min_gap must be an integer >= 0"),
    ("n_sequences", 0, "n_sequences must be an integer >= 1"), ("length", 0, "length must be an integer >= 1"),
    ("n_targets", -1, "n_targets must be an integer >= 0"), ("max_tries", 0, "max_tries must be an integer >= 1")])
def test_design_arguments_out_of_range_name_the_argument(argument, value, expected):
    with pytest.raises(ValueError, match=f"^{expected} .*; got {value}$"):
        design_streams(PAIRS, FOILS, **{argument: value})


@pytest.mark.parametrize("pairs,foils,expected", [
    (PAIRS, FOILS[:100] + FOILS[:100], r"^foils: image id\(s\) \['f0', 'f1', 'f2', 'f3', 'f4'\] and 95 more appear "
                                       "more than once"),
    ([("a", "a")] + PAIRS[1:], FOILS, r"^pairs: \[\('a', 'a'\)\] use one image as both high and low"),
    ([("h1", "x")] + PAIRS[1:], FOILS, r"^pairs: image id\(s\) \['h1'\] appear more than once"),
    (PAIRS, ["h0", "l7"] + FOILS[2:], r"^foils: image id\(s\) \['h0', 'l7'\] are also pair images"),
    ([("a", "b", "c")] + PAIRS[1:], FOILS, r"^pairs must hold \(high_id, low_id\) tuples; pair\(s\) \[0\]"),
    (PAIRS, [None] + FOILS[1:], r"^image ids must be non-empty text or integers; got \[None\]"),
])
def test_bad_image_lists_name_the_argument_and_the_ids(pairs, foils, expected):
    with pytest.raises(ValueError, match=expected):
        design_streams(pairs, foils)


@pytest.mark.parametrize("content,expected", [
    ({"sequences": [["a"]]}, "sequence 0, position 0: expected an object with keys image, kind, pair, repeat; got 'a'"),
    ({"sequences": "abc"}, "expected an object with a 'sequences' list"),
    ({"sequences": [{"image": "a"}]}, "sequence 0 must be a list of presentations"),
    ({"sequences": [[{"image": ["x"], "kind": "foil", "pair": None, "repeat": False}]]},
     "image must be a non-empty id"),
    ({"sequences": [[{"image": "x", "kind": "foil", "pair": None, "repeat": "yes"}]]},
     "repeat must be true or false; got 'yes'"),
    ({"min_gap": -2, "sequences": []}, "min_gap must be an integer >= 0"),
    ("{not json", "not a JSON text file"),
])
def test_malformed_json_streams_name_the_file(tmp_path, content, expected):
    path = tmp_path / "streams.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(StreamError) as err:
        load_streams(path)
    assert str(err.value).startswith(f"{path}: ") and expected in str(err.value)


def test_saved_streams_are_checked_first(tmp_path):
    with pytest.raises(StreamError, match="marked as a repeat but not shown before"):
        save_streams([[{"image": "a", "kind": "foil", "pair": None, "repeat": True}]], tmp_path / "s.csv")
    assert not (tmp_path / "s.csv").exists()


def test_ragged_response_columns_are_an_error():
    streams = design_streams(PAIRS[:30], FOILS[:40], n_sequences=2, length=60, n_targets=10, min_gap=10)
    responses = {"participant": np.array(["a", "b"]), "sequence": np.array([0, 0, 0]),
                 "position": np.array([0, 1]), "response": np.array([1, 0, 1])}
    with pytest.raises(ValueError, match=r"^responses: columns must have equal lengths .*'sequence': 3, "
                                         r"'position': 2"):
        responses_to_trials(streams, responses)
    with pytest.raises(ValueError, match=r"^responses lacks column\(s\) \['response'\]"):
        responses_to_trials(streams, {k: v[:2] for k, v in responses.items() if k != "response"})
