import numpy as np
import pytest
from scipy import ndimage

from vms_zoo.human.annotations import box_map, read_table, vms_maps, write_table


def _table(rows):
    cols = list(zip(*rows))
    return {k: np.array(v) for k, v in zip(("image_id", "participant", "response", "x0", "y0", "x1", "y1"), cols)}


ROWS = [
    ("im1", 1, "true", 0.0, 0.0, 0.5, 0.5),    # rows 0-1, cols 0-1
    ("im1", 2, "true", 0.25, 0.25, 0.75, 0.75),  # rows 1-2, cols 1-2
    ("im1", 3, "false", 0.5, 0.75, 1.0, 1.0),  # row 3, cols 2-3
    ("im2", 1, "false", 0.0, 0.0, 0.125, 1.0),  # half of column 0
]


def test_map_from_boxes_matches_hand_example():
    maps = vms_maps(_table(ROWS), (4, 4), normalise=None)
    true = np.array([[1, 1, 0, 0],
                     [1, 2, 1, 0],
                     [0, 1, 1, 0],
                     [0, 0, 0, 0]], float)
    false = np.zeros((4, 4))
    false[3, 2:] = 1
    np.testing.assert_array_equal(maps["im1"][..., 0], true)
    np.testing.assert_array_equal(maps["im1"][..., 1], false)
    np.testing.assert_array_equal(maps["im2"][..., 1][:, 0], [0.5] * 4)  # partial pixel coverage
    assert maps["im2"][..., 0].sum() == 0 and maps["im2"][..., 1][:, 1:].sum() == 0


def test_normalisation_modes():
    joint = vms_maps(_table(ROWS), (4, 4))["im1"]
    assert joint[1, 1, 0] == 1 and joint[3, 3, 1] == 0.5  # false map keeps its ratio to the true one
    per_channel = vms_maps(_table(ROWS), (4, 4), normalise="channel")["im1"]
    assert per_channel[3, 3, 1] == 1 and per_channel[0, 0, 0] == 0.5


def test_pixel_coords_and_any_resolution():
    pix = [("a", 1, 1, 0, 0, 100, 50)]  # a 200 x 100 (H x W) image: the top-left quarter
    maps = vms_maps(_table(pix), (8, 4), coords="pixels", image_size=(200, 100), normalise=None)["a"][..., 0]
    expected = np.zeros((8, 4))
    expected[:2, :4] = 1  # y1 = 50 of 200 rows = 1/4, x1 = 100 of 100 = all columns
    np.testing.assert_array_equal(maps, expected)
    with pytest.raises(ValueError, match="outside the image"):
        vms_maps(_table(pix), (8, 4))  # pixel values read as normalised


def test_smoothing_and_missing_images():
    raw = vms_maps(_table(ROWS), (8, 8), normalise=None)["im1"]
    smooth = vms_maps(_table(ROWS), (8, 8), sigma=1.0, normalise=None, image_ids=["im1", "none"])
    np.testing.assert_allclose(smooth["im1"][..., 0], ndimage.gaussian_filter(raw[..., 0], 1.0, mode="constant"),
                               atol=1e-6)
    assert smooth["none"].shape == (8, 8, 2) and smooth["none"].sum() == 0


def test_box_map_and_table_round_trip(tmp_path):
    assert box_map([(0, 0, 1, 1)], (3, 5)).sum() == 15
    write_table(_table(ROWS), tmp_path / "a.csv")
    table = read_table(tmp_path / "a.csv")
    assert table["participant"].dtype.kind == "U" and table["participant"][1] == "2"  # ids stay text
    assert table["response"].dtype == bool and table["x1"][1] == 0.75
    np.testing.assert_array_equal(vms_maps(table, (4, 4))["im1"], vms_maps(_table(ROWS), (4, 4))["im1"])
    with pytest.raises(ValueError, match="maybe"):
        vms_maps({**_table(ROWS), "response": np.array(["true", "maybe", "true", "false"])}, (4, 4))


@pytest.mark.parametrize("sigma", [float("nan"), -1.0, float("inf"), "wide"])
def test_bad_sigma_is_an_error_naming_it(sigma):
    with pytest.raises(ValueError, match=r"^sigma must be a finite number >= 0 .*; got "):
        vms_maps(_table(ROWS), (4, 4), sigma=sigma)


@pytest.mark.parametrize("size", [(0, 0), (4, 0), (4,), (4.5, 4), None])
def test_bad_size_is_an_error_naming_it(size):
    with pytest.raises(ValueError, match=r"^size must be \(height, width\), two integers >= 1; got "):
        vms_maps(_table(ROWS), size)


def test_ragged_annotation_columns_are_an_error():
    table = {**_table(ROWS), "x1": np.array([0.5, 0.75, 1.0])}
    with pytest.raises(ValueError, match=r"^annotations: columns must have equal lengths .*'x1': 3"):
        vms_maps(table, (4, 4))
