"""Data specs -> arrays: every source yields float32 images (and maps) in [0, 1]; bad specs fail in one line."""

import os

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("tensorflow")

from vms_zoo.data import sources  # noqa: E402


def _in_unit_range(x, shape):
    assert x.dtype == np.float32 and x.shape == shape
    assert 0 <= x.min() and x.max() <= 1


def _one_line_error(match, fn, *args, **kwargs):
    """The one-line ValueError message `fn(*args)` raises (it must match `match`)."""
    with pytest.raises(ValueError, match=match) as info:
        fn(*args, **kwargs)
    return str(info.value)


def _image_folder(root):
    """Odd sizes, greyscale, RGBA and palette images in nested folders, plus a non-image named .jpg."""
    rng = np.random.default_rng(0)
    (root / "sub").mkdir(parents=True)
    Image.fromarray((rng.random((23, 37, 3)) * 255).astype(np.uint8)).save(root / "odd.jpg", quality=90)
    Image.fromarray((rng.random((41, 19)) * 255).astype(np.uint8), "L").save(root / "sub" / "grey.png")
    Image.new("RGBA", (30, 30), (0, 255, 0, 128)).save(root / "sub" / "alpha.png")
    Image.new("P", (17, 25), 3).save(root / "palette.gif")
    (root / "sub" / "fake.jpg").write_text("not an image")


def _vischema_folder(root, n=5, size=(12, 16)):
    """A VISCHEMA-layout root with one config, vischema1, of `n` kitchens (rgb maps: green true, red false)."""
    images, vms = root / "vischema1" / "images" / "kitchen", root / "vischema1" / "vms" / "kitchen"
    images.mkdir(parents=True)
    vms.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray((rng.random((*size, 3)) * 255).astype(np.uint8)).save(images / f"im{i}.png")
        Image.fromarray((rng.random((*size, 3)) * 255).astype(np.uint8)).save(vms / f"im{i}.png")


def test_parse(tmp_path):
    assert sources.parse("synthetic") == ("synthetic", None)
    for kind in (k for k in sources.SOURCES if sources.SOURCES[k].needs_dir):
        assert sources.parse(f"{kind}:{tmp_path}") == (kind, str(tmp_path))
    _one_line_error("Unknown data 'imagenet:x'.*folder:DIR", sources.parse, "imagenet:x")
    _one_line_error("--data folder:DIR", sources.parse, "folder")
    _one_line_error("--data lsun:DIR", sources.parse, "lsun:")
    _one_line_error("no such folder: .*missing", sources.parse, f"lsun:{tmp_path / 'missing'}")
    _one_line_error("no such folder", sources.parse, f"vischema1:{tmp_path / 'missing'}")
    _one_line_error("takes no DIR", sources.parse, "synthetic:x")


def test_synthetic_gan_images():
    every = sources.gan_images("synthetic", 16, num_scenes=16, seed=1)
    _in_unit_range(every, (16, 16, 16, 3))
    kitchens = sources.gan_images("synthetic", 16, category="kitchen", num_scenes=16, seed=1)
    _in_unit_range(kitchens, (2, 16, 16, 3))  # scenes 0 and 8
    np.testing.assert_array_equal(kitchens, every[[0, 8]])
    _in_unit_range(sources.gan_images("synthetic", 16, category="all", num_scenes=16, limit=3), (3, 16, 16, 3))
    _one_line_error("Unknown synthetic category 'attic'", sources.gan_images, "synthetic", 16, category="attic",
                    num_scenes=8)


def test_folder_gan_images(tmp_path, capsys):
    _image_folder(tmp_path)
    images = sources.gan_images(f"folder:{tmp_path}", 24)
    # sorted paths: odd.jpg, palette.gif, sub/alpha.png, sub/fake.jpg, sub/grey.png; the fake .jpg is skipped,
    # and said so, the next image taking its place
    _in_unit_range(images, (5, 24, 24, 3))
    assert f"Cannot read image {tmp_path / 'sub' / 'fake.jpg'}" in capsys.readouterr().out
    np.testing.assert_array_equal(images[3], images[4])
    alpha = images[2]  # half-transparent green on white, as `vms-zoo predict` reads it
    np.testing.assert_allclose(alpha[..., 1], 1.0, atol=1e-6)
    np.testing.assert_allclose(alpha[..., [0, 2]], 127 / 255, atol=1.5 / 255)
    grey = images[4]
    np.testing.assert_allclose(grey[..., 0], grey[..., 2], atol=1e-6)
    palette = images[1]
    assert palette.max() - palette.min() < 1e-6  # a one-colour palette image
    _in_unit_range(sources.gan_images(f"folder:{tmp_path}", 8, limit=2), (2, 8, 8, 3))


def test_synthetic_gan_images_below_the_smallest_rendering_are_box_averaged():
    small = sources.gan_images("synthetic", 8, category="kitchen", num_scenes=16, seed=1)
    full = sources.gan_images("synthetic", 16, category="kitchen", num_scenes=16, seed=1)
    _in_unit_range(small, (2, 8, 8, 3))
    np.testing.assert_allclose(small, full.reshape(2, 8, 2, 8, 2, 3).mean(axis=(2, 4)), atol=1e-6)


def test_folder_errors(tmp_path):
    messages = [_one_line_error(f"{tmp_path}: no images found; expected a folder of image files",
                                sources.gan_images, f"folder:{tmp_path}", 16)]
    (tmp_path / "a.png").write_text("garbage")
    messages.append(_one_line_error("none of its 1 images could be decoded; expected a folder of image files",
                                    sources.gan_images, f"folder:{tmp_path}", 16))
    messages.append(_one_line_error("needs one LSUN category", sources.gan_images, f"lsun:{tmp_path}", 16))
    _vischema_folder(tmp_path)
    messages.append(_one_line_error(f"vischema1:{tmp_path} holds VMS maps for predictors", sources.gan_images,
                                    f"vischema1:{tmp_path}", 16))
    assert all("\n" not in m for m in messages)
    assert str(tmp_path) in messages[0] and str(tmp_path) in messages[1]  # the path is named
    assert (tmp_path / "a.png").read_text() == "garbage"  # a refused folder is left as it was


def test_synthetic_predictor_data():
    train, test, names = sources.predictor_data("synthetic", 16, seed=2, num_train=8, num_test=4)
    assert names[0] == "kitchen" and len(names) == 8
    for data, n in ((train, 8), (test, 4)):
        _in_unit_range(data["images"], (n, 16, 16, 3))
        _in_unit_range(data["vms"], (n, 16, 16, 2))
        assert data["categories"].tolist() == [i % 8 for i in range(n)]


def test_vischema_predictor_data(tmp_path):
    _vischema_folder(tmp_path)
    train, test, names = sources.predictor_data(f"vischema1:{tmp_path}", 8)
    for data, n in ((train, 4), (test, 1)):  # the seeded 80/20 split of 5 kitchens
        _in_unit_range(data["images"], (n, 8, 8, 3))
        _in_unit_range(data["vms"], (n, 8, 8, 2))
        assert [names[c] for c in data["categories"]] == ["kitchen"] * n


def test_gan_only_kinds_refused_by_predictor_data(tmp_path):
    for kind in ("folder", "lsun"):
        message = _one_line_error("predictors need synthetic, vischema1:DIR, vischema2:DIR or vischema_plus:DIR", sources.predictor_data,
                                  f"{kind}:{tmp_path}", 16)
        assert "\n" not in message and f"{kind}:{tmp_path}" in message


def test_check_data_refuses_before_a_run_what_its_task_cannot_train_on(tmp_path):
    _vischema_folder(tmp_path / "v")
    sources.check_data(f"vischema1:{tmp_path / 'v'}", "predictor")
    sources.check_data("synthetic", "generator")
    _one_line_error("holds VMS maps for predictors", sources.check_data, f"vischema1:{tmp_path / 'v'}", "generator")
    _one_line_error(f"{tmp_path}: no 'vischema2/' folder; expected {tmp_path}/vischema2/images/<category>",
                    sources.check_data, f"vischema2:{tmp_path}", "predictor")
    (tmp_path / "v" / "vischema1" / "vms" / "kitchen" / "im0.png").unlink()
    _one_line_error("images without a VMS map \\(1\\): kitchen/im0", sources.check_data, f"vischema1:{tmp_path / 'v'}",
                    "predictor")
    _image_folder(tmp_path / "f")
    sources.check_data(f"folder:{tmp_path / 'f'}", "generator")


def test_vischema_limit_takes_images_from_every_category_in_turn(tmp_path):
    from test_vischema import write_fake

    write_fake(tmp_path, "vischema1", per_category=5)
    train = sources.predictor_data(f"vischema1:{tmp_path}", 8, num_train=10, num_test=3)[0]
    assert train["categories"].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]


def test_a_registered_source_serves_gans_and_is_checked_and_listed(tmp_path, monkeypatch):
    """A new kind of --data is one `DataSource` record: parse, check_data, gan_images and the task lists use it."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "images.npy", rng.random((6, 8, 8, 3), dtype=np.float32))

    def images(path, image_size, category, num_scenes, seed, limit):
        return np.load(os.path.join(path, "images.npy"))[:limit]

    def check(path):
        if not os.path.isfile(os.path.join(path, "images.npy")):
            raise ValueError(f"{path}: no images.npy")

    monkeypatch.setattr(sources, "SOURCES", dict(sources.SOURCES))
    sources.register_source(sources.DataSource("npy", "an images.npy array", images=images, check=check))
    assert "npy:DIR" in sources.spec_help("generator") and "npy" not in sources.spec_help("predictor")
    np.testing.assert_array_equal(sources.gan_images(f"npy:{tmp_path}", 8, limit=4),
                                  np.load(tmp_path / "images.npy")[:4])
    sources.check_data(f"npy:{tmp_path}", "generator")
    (tmp_path / "empty").mkdir()
    _one_line_error("empty: no images.npy", sources.check_data, f"npy:{tmp_path / 'empty'}", "generator")
    _one_line_error("has no VMS maps: predictors need", sources.predictor_data, f"npy:{tmp_path}", 8)
    np.save(tmp_path / "images.npy", np.full((2, 8, 8, 3), 255, np.float32))  # the contract is checked on entry
    _one_line_error(r"\[0, 1\]", sources.gan_source, f"npy:{tmp_path}", 8)
    _one_line_error("already registered", sources.register_source, sources.DataSource("npy", "again"))
    _one_line_error("without ':'", sources.register_source, sources.DataSource("a:b", "colon"))
