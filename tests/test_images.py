import io
import json
import os

import numpy as np
import pytest
from PIL import Image

tf = pytest.importorskip("tensorflow")

from vms_zoo.data.images import check_image, clean_image_folder, image_folder, list_images, lsun, to_training  # noqa: E402,E501


def _jpeg_bytes(h=32, w=48, seed=0):
    img = (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _folder(root):
    """Good images in nested folders (no class structure) plus a truncated JPEG and a non-image."""
    (root / "a" / "b").mkdir(parents=True)
    (root / "one.jpg").write_bytes(_jpeg_bytes(seed=1))
    (root / "a" / "two.JPG").write_bytes(_jpeg_bytes(20, 20, seed=2))
    Image.new("RGB", (40, 24), (255, 0, 0)).save(root / "a" / "b" / "three.png")
    (root / "a" / "notes.txt").write_text("not an image")
    data = _jpeg_bytes(seed=3)
    (root / "a" / "b" / "broken.jpg").write_bytes(data[: len(data) // 2])  # truncated mid-scan


def test_truncated_jpeg_fools_pil_open_but_not_check_image(tmp_path):
    _folder(tmp_path)
    broken = str(tmp_path / "a" / "b" / "broken.jpg")
    with Image.open(broken) as im:  # header-only: accepted
        assert im.size == (48, 32)
    with Image.open(broken) as im:  # structure-only: accepted too
        im.verify()
    assert check_image(broken) is not None
    assert check_image(str(tmp_path / "one.jpg")) is None


def test_clean_quarantines_and_reports(tmp_path):
    root = tmp_path / "imgs"
    _folder(root)
    report = clean_image_folder(str(root), verbose=0)
    quarantine = str(root) + "_quarantine"
    assert [b["file"] for b in report["quarantined"]] == [os.path.join("a", "b", "broken.jpg")]
    assert report["checked"] == 4
    assert os.path.isfile(os.path.join(quarantine, "a", "b", "broken.jpg"))
    assert not os.path.exists(root / "a" / "b" / "broken.jpg")
    with open(os.path.join(quarantine, "report.json")) as f:
        assert json.load(f)["quarantined"][0]["file"] == os.path.join("a", "b", "broken.jpg")
    assert len(list_images(str(root))) == 3


def test_image_folder_pipeline(tmp_path):
    _folder(tmp_path)
    clean_image_folder(str(tmp_path), quarantine=str(tmp_path.parent / "q"), verbose=0)
    batches = list(image_folder(str(tmp_path), image_size=16, batch_size=2, shuffle=True, seed=1))
    x = np.concatenate([b.numpy() for b in batches])
    assert x.shape == (3, 16, 16, 3) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
    red = x[np.argmax(x[..., 0].mean(axis=(1, 2)))]  # the pure-red PNG
    np.testing.assert_allclose(red[..., 0], 1.0, atol=1e-5)
    np.testing.assert_allclose(red[..., 1:], 0.0, atol=1e-5)


def test_center_crop_and_resize():
    img = np.zeros((10, 20, 3), np.uint8)
    img[:, 5:15] = 255  # the central square is white, the sides black
    np.testing.assert_allclose(to_training(img, 5, "center").numpy(), 1.0, atol=1e-5)
    squashed = to_training(img, 5, "resize").numpy()
    assert squashed[:, 0].max() < 0.5 and squashed[:, 2].min() > 0.99
    assert squashed.dtype == np.float32 and squashed.min() >= 0 and squashed.max() <= 1


def test_lsun_needs_local_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="kitchen_train_lmdb.zip"):
        lsun("kitchen", manual_dir=str(tmp_path), data_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not prepared"):
        lsun("living_room", data_dir=str(tmp_path))


def test_lsun_pipeline_on_mocked_tfds(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=5, policy=tfds.testing.MockPolicy.USE_CODE):
        ds = lsun("kitchen", data_dir=str(tmp_path), image_size=8, batch_size=5)
        x = next(iter(ds)).numpy()
    assert x.shape == (5, 8, 8, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
