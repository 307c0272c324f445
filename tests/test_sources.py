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
    for kind in sources.NEEDS_DIR:
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
    _in_unit_range(images, (4, 24, 24, 3))  # the fake .jpg is skipped, and said so
    assert "Skipped 1 unreadable" in capsys.readouterr().out
    alpha = images[2]  # sorted paths: odd.jpg, palette.gif, sub/alpha.png, sub/fake.jpg, sub/grey.png
    assert alpha[..., 1].mean() > 0.9 and alpha[..., 0].max() < 0.1
    grey = images[3]
    np.testing.assert_allclose(grey[..., 0], grey[..., 2], atol=1e-6)
    _in_unit_range(sources.gan_images(f"folder:{tmp_path}", 8, limit=2), (2, 8, 8, 3))


def test_folder_errors(tmp_path):
    messages = [_one_line_error(f"{tmp_path}: no images found; expected a folder of image files",
                                sources.gan_images, f"folder:{tmp_path}", 16)]
    (tmp_path / "a.png").write_text("garbage")
    messages.append(_one_line_error("none of its 1 image files could be decoded", sources.gan_images,
                                    f"folder:{tmp_path}", 16))
    messages.append(_one_line_error("needs one LSUN category", sources.gan_images, f"lsun:{tmp_path}", 16))
    _vischema_folder(tmp_path)
    messages.append(_one_line_error("predictors", sources.gan_images, f"vischema1:{tmp_path}", 16))
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
        message = _one_line_error("predictors need VISCHEMA-layout data .* or synthetic", sources.predictor_data,
                                  f"{kind}:{tmp_path}", 16)
        assert "\n" not in message and kind in message
