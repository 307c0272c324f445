"""Typed CSV reading in the human toolkit: every bad cell names the file, row and column."""

import re

import numpy as np
import pytest

from vms_zoo.human import experiment as E
from vms_zoo.human.annotations import read_table, vms_maps
from vms_zoo.human.streams import StreamError, load_streams, responses_to_trials, save_streams

TRIALS = "participant,image_id,repeat,response\n"


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def trial_rows(n=6, response="0"):
    """n first showings (noise trials) of image a, all answered `response`."""
    return "".join(f"p{k},a,0,{response}\n" for k in range(n))


def test_blank_response_is_an_error_not_text(tmp_path):
    good = read_table(write(tmp_path, "trials.csv", TRIALS + trial_rows()), "trials")
    assert good["response"].dtype == np.int64
    assert E.rates(good)["fa_rate"].tolist() == [0.0]  # "0" is "not seen"
    path = write(tmp_path, "trials.csv", TRIALS + trial_rows(3) + "p3,a,0,\n" + trial_rows(2))
    with pytest.raises(ValueError, match=re.escape("trials.csv, row 5, column 'response': expected 0 or 1, got ''")):
        read_table(path, "trials")


@pytest.mark.parametrize("bad", ["2", "-1", "nan", "NaN", "yes", "1.0", "0.5"])
def test_responses_other_than_0_or_1_are_errors(tmp_path, bad):
    path = write(tmp_path, "trials.csv", TRIALS + trial_rows(5) + f"p9,a,1,{bad}\n")
    with pytest.raises(ValueError, match=re.escape(f"trials.csv, row 7, column 'response': "
                                                   f"expected 0 or 1, got '{bad}'")):
        read_table(path, "trials")


@pytest.mark.parametrize("bad", [2, -1, np.nan, 0.5, "2", ""])
def test_in_memory_responses_other_than_0_or_1_are_errors(bad):
    trials = {"participant": np.array(["p1", "p1", "p2"]), "image_id": np.array(["a", "a", "a"]),
              "repeat": np.array([0, 1, 1]), "response": np.array([0, 1, bad], dtype=object)}
    with pytest.raises(ValueError, match=r"column 'response', row 2 \(CSV row 4\): expected 0 or 1"):
        E.rates(trials)
    with pytest.raises(ValueError, match=r"column 'repeat', row 2 \(CSV row 4\)"):
        E.rates({**trials, "response": np.array([0, 1, 1]), "repeat": np.array([0, 1, bad], dtype=object)})


def test_ids_stay_text(tmp_path):
    rows = "".join(f"p1,{i},1,1\n" for i in ("007", "7", "1e1", "10"))
    trials = read_table(write(tmp_path, "trials.csv", TRIALS + rows), "trials")
    assert trials["image_id"].tolist() == ["007", "7", "1e1", "10"]
    assert sorted(E.rates(trials)["group"].tolist()) == ["007", "10", "1e1", "7"]  # four images, not two
    boxes = read_table(write(tmp_path, "boxes.csv", "image_id,participant,response,x0,y0,x1,y1\n"
                             "007,01,true,0,0,1,1\n7,1,false,0,0,1,1\n"))
    assert boxes["participant"].tolist() == ["01", "1"]
    assert set(vms_maps(boxes, (2, 2))) == {"007", "7"}
    with pytest.raises(ValueError, match=r"groups has no entry for image_id \['007'"):
        E.rates(trials, {7: "x", "7": "x", "1e1": "x", "10": "x"})


def test_reversed_or_outside_boxes_are_errors_naming_the_row(tmp_path):
    header = "image_id,participant,response,x0,y0,x1,y1\n"
    table = read_table(write(tmp_path, "boxes.csv", header + "a,1,true,0,0,.5,.5\na,2,true,.8,0,.2,.5\n"))
    with pytest.raises(ValueError, match=r"box at row 1 \(CSV row 3\): need finite corners with x0 <= x1"):
        vms_maps(table, (4, 4))  # not dropped in silence: a reversed box is a typo
    table = read_table(write(tmp_path, "boxes.csv", header + "a,1,true,0,0,.5,.5\na,2,true,0,.2,.5,1.5\n"))
    with pytest.raises(ValueError, match=r"box at row 1 \(CSV row 3\): corners fall outside the image"):
        vms_maps(table, (4, 4))
    with pytest.raises(ValueError, match=re.escape("boxes.csv, row 2, column 'x1': expected a finite number, "
                                                   "got 'inf'")):
        read_table(write(tmp_path, "boxes.csv", header + "a,1,true,0,0,inf,.5\n"))
    with pytest.raises(ValueError, match=re.escape("boxes.csv, row 3, column 'response': expected true, false, "
                                                   "1 or 0, got '2'")):
        read_table(write(tmp_path, "boxes.csv", header + "a,1,true,0,0,.5,.5\na,1,2,0,0,.5,.5\n"))
    with pytest.raises(ValueError, match=r"column 'response', row 0 \(CSV row 2\): expected true, false, 1 or 0"):
        vms_maps({k: np.asarray(v)[:1] for k, v in {**table, "response": np.array([2, 1])}.items()}, (4, 4))


def _streams():
    seq = [{"image": "x", "kind": "foil", "pair": None, "repeat": False},
           {"image": "007", "kind": "high", "pair": 0, "repeat": False},
           {"image": "x", "kind": "foil", "pair": None, "repeat": True}]
    return [seq]


def test_stream_positions_out_of_range_are_errors(tmp_path):
    streams = _streams()
    ok = {"participant": np.array(["p"] * 3), "sequence": np.array([0, 0, 0]), "position": np.array([0, 1, 2]),
          "response": np.array([0, 0, 1])}
    assert responses_to_trials(streams, ok)["image_id"].tolist() == ["x", "007", "x"]
    with pytest.raises(ValueError, match=r"column 'position', row 1 \(CSV row 3\): no position -1"):
        responses_to_trials(streams, {**ok, "position": np.array([0, -1, 2])})  # not numpy's last image
    with pytest.raises(ValueError, match=r"column 'position', row 2 \(CSV row 4\): no position 3"):
        responses_to_trials(streams, {**ok, "position": np.array([0, 1, 3])})
    with pytest.raises(ValueError, match=r"column 'sequence', row 0 \(CSV row 2\): no sequence -1"):
        responses_to_trials(streams, {**ok, "sequence": np.array([-1, 0, 0])})
    with pytest.raises(ValueError, match=r"column 'response', row 2 \(CSV row 4\): expected 0 or 1, got 2"):
        responses_to_trials(streams, {**ok, "response": np.array([0, 0, 2])})
    path = write(tmp_path, "responses.csv", "participant,sequence,position,response\np,0,0,0\np,0,-1,1\n")
    with pytest.raises(ValueError, match=re.escape("responses.csv, row 3, column 'position': expected an integer "
                                                   ">= 0, got '-1'")):
        read_table(path, "responses")


def test_stream_csv_is_typed_and_complete(tmp_path):
    path = tmp_path / "s.csv"
    save_streams(_streams(), path, min_gap=0)
    assert load_streams(path, min_gap=0) == _streams()  # "007" stays "007"
    text = path.read_text()
    for bad, match in [(text.replace("0,2,x,foil,-1,1", "0,-1,x,foil,-1,1"), "row 4, column 'position'"),
                       (text.replace("0,2,x,foil,-1,1", "0,1,x,foil,-1,1"), "row 4: sequence 0 has position 1 twice"),
                       (text.replace("0,2,x,foil,-1,1", "0,3,x,foil,-1,1"), "row 4: sequence 0 lacks position 2"),
                       (text.replace("0,1,007,high,0,0", "0,1,007,high,0,2"), "row 3, column 'repeat'"),
                       (text.replace("0,1,007,high,0,0", "0,1,007,hi,0,0"), "row 3, column 'kind'")]:
        write(tmp_path, "bad.csv", bad)
        with pytest.raises(StreamError, match=re.escape(f"bad.csv, {match}")):
            load_streams(tmp_path / "bad.csv", min_gap=0)


def test_byte_order_mark_header_reads(tmp_path):
    trials = read_table(write(tmp_path, "trials.csv", "\ufeff" + TRIALS + trial_rows(2), "utf-8"), "trials")
    assert list(trials) == ["participant", "image_id", "repeat", "response"]
    boxes = read_table(write(tmp_path, "boxes.csv", "\ufeffimage_id,participant,response,x0,y0,x1,y1\n"
                             "a,1,true,0,0,1,1\n"))
    assert boxes["image_id"].tolist() == ["a"]
    save_streams(_streams(), tmp_path / "s.csv", min_gap=0)
    write(tmp_path, "bom.csv", "\ufeff" + (tmp_path / "s.csv").read_text())
    assert load_streams(tmp_path / "bom.csv", min_gap=0) == _streams()


def test_file_level_problems_name_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"trials.csv: expected CSV columns .*missing \['response'\]"):
        read_table(write(tmp_path, "trials.csv", "participant,image_id,repeat\np,a,0\n"), "trials")
    with pytest.raises(ValueError, match=r"trials.csv, row 3: 3 cells, expected 4"):
        read_table(write(tmp_path, "trials.csv", TRIALS + "p,a,0,1\np,a,0\n"), "trials")
    with pytest.raises(ValueError, match=r"trials.csv, row 3: a blank row"):
        read_table(write(tmp_path, "trials.csv", TRIALS + "p,a,0,1\n\np,a,1,1\n"), "trials")
    with pytest.raises(ValueError, match=r"trials.csv: no rows"):
        read_table(write(tmp_path, "trials.csv", TRIALS), "trials")
    with pytest.raises(ValueError, match=r"trials.csv: not UTF-8 text"):
        read_table(write(tmp_path, "trials.csv", TRIALS + "p\xe9,a,0,1\n", "latin-1"), "trials")
    with pytest.raises(ValueError, match=re.escape("trials.csv, row 2, column 'participant': expected a non-empty id")):
        read_table(write(tmp_path, "trials.csv", TRIALS + " ,a,0,1\n"), "trials")
    # trailing blank rows (spreadsheet exports) are dropped, spaces around cells ignored, extra columns kept as text
    table = read_table(write(tmp_path, "trials.csv", TRIALS.replace("\n", ",rt\n") + "p, a ,0,1,0.5\n,,,,\n"),
                       "trials")
    assert table["image_id"].tolist() == ["a"] and table["rt"].tolist() == ["0.5"]
    custom = read_table(write(tmp_path, "t.csv", "id,n\n007,3\n"), {"id": "id", "n": "index"})
    assert custom["id"].tolist() == ["007"] and custom["n"].tolist() == [3]


def test_unknown_schema_is_a_value_error_listing_the_known_ones(tmp_path):
    path = write(tmp_path, "t.csv", TRIALS + trial_rows(2))
    with pytest.raises(ValueError, match=r"^schema must be one of \['annotations', 'responses', 'streams', "
                                         r"'trials'\] or a dict column -> type; got 'nonsense'$"):
        read_table(path, schema="nonsense")
    with pytest.raises(ValueError, match=r"^schema gives unknown type\(s\) \{'response': 'int'\}; known types: "):
        read_table(path, schema={"response": "int"})


def test_ragged_in_memory_tables_are_errors(tmp_path):
    from vms_zoo.human.tables import write_table

    with pytest.raises(ValueError, match=r"^table: columns must have equal lengths .*\{'a': 2, 'b': 3\}"):
        write_table({"a": [1, 2], "b": [1, 2, 3]}, tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()
    trials = {"participant": np.array(["p", "p"]), "image_id": np.array(["a", "a", "b"]),
              "repeat": np.array([0, 1]), "response": np.array([1, 1])}
    with pytest.raises(ValueError, match=r"^trials: columns must have equal lengths .*'image_id': 3"):
        E.rates(trials)
