import numpy as np
from PIL import Image

from vms_zoo.visualize import overlay, save_prediction_grid, vms_to_rgb


def test_true_schema_is_green_and_false_schema_red():
    vms = np.zeros((2, 2, 2), np.float32)
    vms[0, 0, 0] = 1.0  # true
    vms[1, 1, 1] = 0.5  # false
    rgb = vms_to_rgb(vms)
    np.testing.assert_array_equal(rgb[0, 0], [0, 1, 0])
    np.testing.assert_array_equal(rgb[1, 1], [0.5, 0, 0])
    image = np.full((2, 2, 3), 0.5, np.float32)
    np.testing.assert_allclose(overlay(image, np.zeros_like(vms)), image)


def test_prediction_grid_is_a_png_with_one_row_per_scene(tmp_path):
    rng = np.random.default_rng(0)
    images, maps = rng.random((3, 16, 16, 3)), rng.random((3, 16, 16, 2))
    path = save_prediction_grid(images, maps, maps, tmp_path / "grid.png", scale=1)
    with Image.open(path) as picture:
        assert picture.format == "PNG" and picture.mode == "RGB"
        assert picture.size == (4 * 18 + 2, 3 * 18 + 2)
