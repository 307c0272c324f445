import os

import numpy as np
import pytest
from PIL import Image

tfds = pytest.importorskip("tensorflow_datasets")

from vms_zoo.data import vischema  # noqa: E402
from vms_zoo.data.vischema import CATEGORIES, VischemaError, load_vischema  # noqa: E402

H, W = 12, 16


def _true_false(k):
    """A distinct, exactly representable (x/255) map per image."""
    true = np.zeros((H, W), np.uint8)
    true[2:6, 3 + k % 5:9] = 255
    false = np.zeros((H, W), np.uint8)
    false[7:11, 1:4 + k % 7] = 51 * (1 + k % 5)
    return true, false


def write_fake(root, name="vischema1", per_category=5, fmt="rgb"):
    """A small VISCHEMA folder: `per_category` images in each category, maps in format `fmt`."""
    expected = {}
    for c, category in enumerate(CATEGORIES):
        os.makedirs(os.path.join(root, name, "images", category), exist_ok=True)
        os.makedirs(os.path.join(root, name, "vms", category), exist_ok=True)
        for i in range(per_category):
            k = c * per_category + i
            stem = f"img{i:03d}"
            img = np.full((H, W, 3), (k * 7) % 256, np.uint8)
            Image.fromarray(img).save(os.path.join(root, name, "images", category, stem + ".png"))
            true, false = _true_false(k)
            vdir = os.path.join(root, name, "vms", category)
            if fmt == "rgb":
                rgb = np.stack([false, true, np.zeros_like(true)], -1)  # red = false, green = true
                Image.fromarray(rgb).save(os.path.join(vdir, stem + ".png"))
            elif fmt == "gray":
                Image.fromarray(true).save(os.path.join(vdir, stem + "_true.png"))
                Image.fromarray(false).save(os.path.join(vdir, stem + "_false.png"))
            else:
                np.save(os.path.join(vdir, stem + ".npy"), np.stack([true, false], -1) / 255.0)
            expected[f"{category}/{stem}"] = np.stack([true, false], -1) / 255.0
    return expected


@pytest.mark.parametrize("fmt", ["rgb", "gray", "npy"])
def test_load_reads_maps_in_every_format(tmp_path, fmt):
    expected = write_fake(tmp_path, fmt=fmt)
    data = load_vischema(tmp_path, "vischema1", split="all", image_size=H, map_format="auto")
    assert data["images"].shape == (40, H, H, 3) and data["vms"].shape == (40, H, H, 2)
    full = {r.id: vischema.read_map(r) for r in vischema.scan(tmp_path / "vischema1", fmt)}
    for key, want in expected.items():
        np.testing.assert_allclose(full[key], want, atol=1e-6)  # green channel -> true, red -> false
    assert np.bincount(data["categories"]).tolist() == [5] * 8
    assert 0 <= data["vms"].min() and data["vms"].max() <= 1 and data["vms"][..., 0].max() == 1


def test_seeded_split_is_stratified_640_160_shape(tmp_path):
    write_fake(tmp_path, per_category=10)
    train = load_vischema(tmp_path, "vischema1", "train", image_size=8)
    test = load_vischema(tmp_path, "vischema1", "test", image_size=8)
    assert len(train["ids"]) == 64 and len(test["ids"]) == 16  # 80/20 like 640/160 of 800
    assert np.bincount(test["categories"], minlength=8).tolist() == [2] * 8
    assert not set(train["ids"]) & set(test["ids"])
    again = load_vischema(tmp_path, "vischema1", "test", image_size=8)
    assert again["ids"].tolist() == test["ids"].tolist()


def test_split_files_are_used(tmp_path):
    write_fake(tmp_path, per_category=2)
    (tmp_path / "vischema1" / "test.txt").write_text("kitchen/img000\nisolated/img001\n")
    ids = [f"{c}/img{i:03d}" for c in CATEGORIES for i in range(2)]
    (tmp_path / "vischema1" / "train.txt").write_text(
        "\n".join(i for i in ids if i not in ("kitchen/img000", "isolated/img001")))
    test = load_vischema(tmp_path, "vischema1", "test", image_size=8)
    assert test["ids"].tolist() == ["kitchen/img000", "isolated/img001"]


def test_plus_joins_both_datasets(tmp_path):
    write_fake(tmp_path, "vischema1", per_category=2)
    write_fake(tmp_path, "vischema2", per_category=3)
    data = load_vischema(tmp_path, "vischema_plus", "all", image_size=8)
    assert len(data["ids"]) == 8 * 5
    assert sum(i.startswith("vischema2/") for i in data["ids"]) == 24


def test_broken_folders_name_the_offending_files(tmp_path):
    write_fake(tmp_path, per_category=2)
    os.remove(tmp_path / "vischema1" / "vms" / "kitchen" / "img001.png")
    with pytest.raises(VischemaError, match="images without a VMS map.*kitchen/img001"):
        vischema.scan(tmp_path / "vischema1")
    write_fake(tmp_path, per_category=2)
    Image.new("RGB", (3, 3)).save(tmp_path / "vischema1" / "vms" / "isolated" / "stray.png")
    with pytest.raises(VischemaError, match="maps without an image.*isolated/stray.png"):
        vischema.scan(tmp_path / "vischema1")
    os.remove(tmp_path / "vischema1" / "vms" / "isolated" / "stray.png")
    Image.new("RGB", (W + 1, H)).save(tmp_path / "vischema1" / "vms" / "populated" / "img000.png")
    with pytest.raises(VischemaError, match="size differs.*populated/img000"):
        vischema.scan(tmp_path / "vischema1")


def test_tfds_builder_builds_from_manual_dir(tmp_path):
    manual = tmp_path / "manual"
    expected = write_fake(manual, per_category=5)
    builder = vischema.Vischema(config="vischema1", data_dir=str(tmp_path / "data"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    assert builder.info.splits["train"].num_examples == 32
    assert builder.info.splits["test"].num_examples == 8
    examples = list(tfds.as_numpy(builder.as_dataset(split="train+test")))
    assert len(examples) == 40
    for ex in examples:
        key = ex["id"].decode()
        assert ex["image"].shape == (H, W, 3) and ex["vms"].shape == (H, W, 2)
        np.testing.assert_allclose(ex["vms"], expected[key], atol=1e-6)
        assert CATEGORIES[ex["category"]] == key.split("/")[0]


def test_tfds_builder_rejects_broken_folder(tmp_path):
    manual = tmp_path / "manual"
    write_fake(manual, per_category=1)
    os.remove(manual / "vischema1" / "vms" / "work_home" / "img000.png")
    builder = vischema.Vischema(config="vischema1", data_dir=str(tmp_path / "data"))
    with pytest.raises(VischemaError, match="work_home/img000"):
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
