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
        assert picture.size[0] == 4 * 18 + 2 and picture.size[1] > 3 * 18 + 2  # rows under a titled header


def test_resize_map_is_smooth_and_keeps_the_unit_range():
    from vms_zoo.visualize import resize_map

    blocks = np.kron(np.array([[0.0, 1.0], [1.0, 0.0]], np.float32), np.ones((4, 4), np.float32))  # 8 x 8 checks
    vms = np.stack([blocks, 1 - blocks], -1)
    big = resize_map(vms, (64, 96))
    assert big.shape == (64, 96, 2) and big.min() >= 0.0 and big.max() <= 1.0
    nearest = np.asarray(Image.fromarray(blocks).resize((96, 64), Image.NEAREST))
    step = lambda a: np.abs(np.diff(a, axis=1)).max()  # noqa: E731
    assert step(nearest) == 1.0 and step(big[..., 0]) < 0.2  # no seam: the largest jump between pixels is small
    np.testing.assert_allclose(big[..., 0] + big[..., 1], 1.0, atol=0.05)


def test_contour_overlay_stays_visible_on_red_and_dark_photos():
    from vms_zoo.visualize import FALSE_COLOUR, TRUE_COLOUR, contour_overlay

    yy, xx = np.mgrid[:64, :64]
    blob = np.exp(-((yy - 32) ** 2 + (xx - 32) ** 2) / 200.0).astype(np.float32)
    vms = np.stack([blob, blob * 0.6], -1)
    for colour in ([1.0, 0.0, 0.0], [0.02, 0.02, 0.02]):  # pure red, near black
        photo = np.broadcast_to(np.asarray(colour, np.float32), (64, 64, 3))
        drawn = contour_overlay(photo, vms)
        changed = np.abs(drawn - photo).max(-1) > 0.5  # strongly different pixels, not a faint tint
        assert changed.mean() > 0.02
        assert np.isclose(drawn, TRUE_COLOUR).all(-1).any() and np.isclose(drawn, FALSE_COLOUR).all(-1).any()
        np.testing.assert_array_equal(drawn[:4, :4], photo[:4, :4])  # where the map is weak the photo is untouched
    np.testing.assert_array_equal(contour_overlay(photo, np.zeros_like(vms)), photo)


def _ink_per_column(strip, columns):
    """Dark (text) pixels in each of `columns` equal slices of a header strip."""
    dark = (strip.mean(-1) < 128)
    return [part.sum() for part in np.array_split(dark, columns, axis=1)]


def test_prediction_panel_has_four_titled_pictures_and_a_colour_bar():
    from vms_zoo.visualize import prediction_panel

    rng = np.random.default_rng(0)
    photo, vms = rng.random((120, 160, 3)).astype(np.float32), rng.random((8, 8, 2)).astype(np.float32)
    panel = prediction_panel(photo, vms, caption="x.jpg")
    assert panel.dtype == np.uint8 and panel.shape[2] == 3
    assert panel.shape[0] > 120 and panel.shape[1] > 4 * 160
    header = panel[:16, : 4 * 166]
    assert all(ink > 10 for ink in _ink_per_column(header, 4))  # a title over each of the four columns
    bar = panel[30:140, 4 * 166 + 6 : 4 * 166 + 8].astype(int)  # the true half of the colour bar: green, top high
    assert bar[0, 0, 1] > 200 and bar[-1, 0, 1] < 30 and (np.diff(bar[:, 0, 1]) <= 0).all()


def test_grid_titles_add_a_labelled_header(tmp_path):
    from vms_zoo.visualize import save_grid

    rows = [[np.zeros((16, 16, 3)), np.ones((16, 16, 3))]] * 2
    plain, titled = save_grid(rows, tmp_path / "a.png", scale=4), save_grid(rows, tmp_path / "b.png", scale=4,
                                                                           titles=["target low", "target high"])
    a, b = np.asarray(Image.open(plain)), np.asarray(Image.open(titled))
    assert b.shape[1] == a.shape[1] and b.shape[0] > a.shape[0]
    np.testing.assert_array_equal(b[b.shape[0] - a.shape[0]:], a)
    assert all(ink > 10 for ink in _ink_per_column(b[: b.shape[0] - a.shape[0]], 2))


def test_pair_summary_draws_each_pair_green_up_and_red_down(tmp_path):
    from vms_zoo.visualize import save_pair_summary

    path = save_pair_summary([0.1, 0.2, 0.3], [0.4, 0.5, 0.2], tmp_path / "pairs.png", "g graded by s",
                             [("pairs", "3"), ("mean score low / high", "0.200 / 0.367")], threshold=0.25)
    picture = np.asarray(Image.open(path).convert("RGB")).astype(int)
    r, g, b = picture[..., 0], picture[..., 1], picture[..., 2]
    greenish = (g > r + 40) & (g > b + 40)
    reddish = (r > g + 60) & (abs(g - b) < 20)  # red lines on white; orange bars have g well above b
    assert greenish.sum() > reddish.sum() > 0  # two pairs rise, one falls
    orange = (r > 200) & (g > 100) & (g < 200) & (b < 120)
    blue = (b > r + 60) & (b > g)
    assert orange.any() and blue.any()  # the two histograms
