"""The embedded synthetic VISCHEMA-like dataset: shapes, determinism, map semantics, pipelines, difficulty."""

import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import keras

from vms_zoo.data import synthetic
from vms_zoo.data.synthetic import CATEGORIES, VMS_CHANNELS, SyntheticScenes
from vms_zoo.metrics import category_mean_baseline, pearson_2d


def test_constants():
    assert CATEGORIES == ("kitchen", "living_room", "small_public", "big_public", "work_home",
                          "public_entertainment", "populated", "isolated")
    assert VMS_CHANNELS == ("true", "false")


@pytest.mark.parametrize("size", [16, 40])
def test_arrays_shapes_dtypes_ranges_and_categories(size):
    ds = SyntheticScenes(size, num_train=16, num_test=8)
    data = ds.arrays("train", progress=False)
    assert data["images"].shape == (16, size, size, 3) and data["images"].dtype == np.float32
    assert data["vms"].shape == (16, size, size, 2) and data["vms"].dtype == np.float32
    assert data["categories"].shape == (16,) and data["categories"].dtype == np.int32
    for key in ("images", "vms"):
        assert np.all(np.isfinite(data[key]))
        assert data[key].min() >= 0.0 and data[key].max() <= 1.0
    assert set(data["categories"].tolist()) == set(range(len(CATEGORIES)))
    # Scenes are images, not noise: neighbouring pixels are strongly correlated.
    img = data["images"]
    assert np.mean(np.abs(np.diff(img, axis=2))) < 0.5 * np.mean(np.abs(img - img.mean()))
    assert ds.split_size("train") == 16 and ds.split_size("test") == 8
    assert len(ds.arrays("test", num=3, progress=False)["images"]) == 3


def test_scene_matches_arrays_and_default_sizes():
    ds = SyntheticScenes(24, num_train=4, num_test=4)
    image, vms, category = ds.scene(2, "test")
    data = ds.arrays("test", progress=False)
    np.testing.assert_array_equal(image, data["images"][2])
    np.testing.assert_array_equal(vms, data["vms"][2])
    assert category == data["categories"][2] == 2
    default = SyntheticScenes()
    assert default.image_size == 64
    assert default.split_size("train") == 8000 and default.split_size("test") == 1000


def test_determinism_and_seeds():
    a = SyntheticScenes(32, seed=3, num_train=6).arrays(progress=False)
    b = SyntheticScenes(32, seed=3, num_train=6).arrays(progress=False)
    c = SyntheticScenes(32, seed=4, num_train=6).arrays(progress=False)
    for key in ("images", "vms", "categories"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.allclose(a["images"], c["images"])
    assert not np.allclose(a["vms"], c["vms"])


def test_train_and_test_scenes_differ():
    ds = SyntheticScenes(32, num_train=8, num_test=8)
    train, test = ds.arrays("train", progress=False), ds.arrays("test", progress=False)
    for i in range(8):
        assert not np.allclose(train["images"][i], test["images"][i])
    assert ds.layout(0, "train") != ds.layout(0, "test")


def test_same_scene_at_two_resolutions():
    small, large = SyntheticScenes(32, num_train=8), SyntheticScenes(64, num_train=8)
    for i in range(8):
        img_s, vms_s, cat_s = small.scene(i)
        img_l, vms_l, cat_l = large.scene(i)
        assert cat_s == cat_l
        down_img = img_l.reshape(32, 2, 32, 2, 3).mean(axis=(1, 3))
        down_vms = vms_l.reshape(32, 2, 32, 2, 2).mean(axis=(1, 3))
        assert np.mean(np.abs(down_img - img_s)) < 0.05
        rho = pearson_2d(vms_s[None], down_vms[None])
        assert np.all(rho[~np.isnan(rho)] > 0.9), (i, rho)


def _visible_centres(layout):
    """Object centres not covered by any object drawn later (layouts list objects in drawing order)."""
    out = []
    objects = layout["objects"]
    for k, obj in enumerate(objects):
        x0, y0, x1, y1 = obj["box"]
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        if not (0.05 < cx < 0.95 and 0.05 < cy < 0.95):
            continue
        covered = any(o["box"][0] <= cx <= o["box"][2] and o["box"][1] <= cy <= o["box"][3] for o in objects[k + 1:])
        if not covered:
            out.append((obj["role"], cx, cy))
    return out


def test_true_channel_on_distinctive_objects_false_channel_on_generic_ones():
    size, n = 48, 48
    ds = SyntheticScenes(size, num_train=n)
    values = {"distinctive": [], "generic": []}
    for i in range(n):
        _, vms, _ = ds.scene(i)
        for role, cx, cy in _visible_centres(ds.layout(i)):
            if role in values:
                values[role].append(vms[int(cy * size), int(cx * size)])
    distinctive, generic = np.array(values["distinctive"]), np.array(values["generic"])
    assert len(distinctive) > 10 and len(generic) > 10
    assert np.median(distinctive[:, 0]) > 2 * np.median(generic[:, 0])  # true channel: distinctive objects
    assert np.median(generic[:, 1]) > 2 * np.median(distinctive[:, 1])  # false channel: generic objects
    assert np.median(distinctive[:, 0]) > np.median(distinctive[:, 1])
    assert np.median(generic[:, 1]) > np.median(generic[:, 0])


def test_scenes_with_distinctive_objects_are_more_memorable():
    ds = SyntheticScenes(32, num_train=80)
    with_objects, without = [], []
    for i in range(80):
        roles = [o["role"] for o in ds.layout(i)["objects"]]
        n_schema = sum(r in ("distinctive", "foreign") for r in roles)
        if n_schema == 0:
            without.append(ds.scene(i)[1][..., 0].mean())
        elif roles.count("distinctive") >= 2:
            with_objects.append(ds.scene(i)[1][..., 0].mean())
    assert without and with_objects
    assert np.mean(with_objects) > 2 * np.mean(without)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"image_size": 8}, "image_size"), ({"image_size": 300}, "image_size"), ({"image_size": 32.0}, "image_size"),
     ({"num_train": 0}, "num_train"), ({"num_test": -1}, "num_test"), ({"seed": -1}, "seed")],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SyntheticScenes(**kwargs)


def test_bad_call_arguments():
    ds = SyntheticScenes(16, num_train=10, num_test=5)
    with pytest.raises(ValueError, match="split"):
        ds.scene(0, "validation")
    with pytest.raises(ValueError, match="split"):
        ds.split_size("val")
    with pytest.raises(ValueError, match="index -1"):
        ds.scene(-1)
    with pytest.raises(ValueError, match="index 5 is out of range"):
        ds.scene(5, "test")
    with pytest.raises(ValueError, match="num"):
        ds.arrays("train", num=11, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        ds.dataset(batch_size=0)
    for workers in (0, True, 2.0):
        with pytest.raises(ValueError, match="workers"):
            ds.arrays("train", progress=False, workers=workers)


def test_tf_data_pipeline_matches_arrays():
    ds = SyntheticScenes(24, num_train=10, num_test=6)
    ref = ds.arrays("test", progress=False)
    batches = list(ds.dataset("test", batch_size=4).as_numpy_iterator())
    assert [len(b[0]) for b in batches] == [4, 2] and len(batches[0]) == 2
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), ref["images"])
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), ref["vms"])
    with_cats = list(ds.dataset("test", batch_size=6, with_categories=True).as_numpy_iterator())
    assert len(with_cats) == 1 and len(with_cats[0]) == 3
    np.testing.assert_array_equal(with_cats[0][2], ref["categories"])
    # Shuffling permutes whole scenes; repeating cycles the split.
    shuffled = next(ds.dataset("test", batch_size=6, shuffle=True).as_numpy_iterator())
    order = [int(np.argmin(np.abs(ref["images"] - img).sum(axis=(1, 2, 3)))) for img in shuffled[0]]
    assert sorted(order) == list(range(6))
    np.testing.assert_array_equal(shuffled[1], ref["vms"][order])
    repeated = ds.dataset("test", batch_size=4, repeat=True).take(3)
    assert sum(len(b[0]) for b in repeated.as_numpy_iterator()) == 12


@pytest.mark.slow
def test_fit_on_current_backend_with_arrays_and_tf_data():
    ds = SyntheticScenes(16, num_train=8, num_test=4)
    model = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(2, 1, activation="sigmoid"),
    ])
    model.compile("adam", "mse")
    data = ds.arrays("train", progress=False)
    model.fit(data["images"], data["vms"], batch_size=4, epochs=1, verbose=0)
    history = model.fit(ds.dataset("train", batch_size=4), epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][-1])


@pytest.mark.slow
def test_category_mean_baseline_is_weak():
    ds = SyntheticScenes(32, num_train=480, num_test=200)
    train = ds.arrays("train", progress=False)
    test = ds.arrays("test", progress=False)
    pred = category_mean_baseline(train["vms"], train["categories"], test["categories"])
    rho = pearson_2d(test["vms"], pred)
    assert rho[0] < 0.5, rho


def test_worker_processes_give_the_serial_arrays():
    ds = SyntheticScenes(24, seed=5, num_train=9, num_test=4)
    serial = ds.arrays("train", num=7, progress=False, workers=1)
    parallel = ds.arrays("train", num=7, progress=True, workers=2)  # slices 0-2 and 3-6, with the progress bar
    for key in ("images", "vms", "categories"):
        assert parallel[key].dtype == serial[key].dtype and np.array_equal(parallel[key], serial[key]), key
    assert parallel["categories"].tolist() == list(range(7))


def test_failing_worker_raises_with_its_stderr_and_leaves_no_files(monkeypatch, tmp_path):
    monkeypatch.setattr(synthetic, "_WORKER_MODULE", "vms_zoo.data.no_such_worker")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ds = SyntheticScenes(16, num_train=8)
    with pytest.raises(RuntimeError, match=r"(?s)worker \d \(scenes \d-\d of 'train'.*No module named vms_zoo.data.no_such_worker"):
        ds.arrays("train", num=4, progress=False, workers=2)
    assert os.listdir(tmp_path) == []
    # Automatic choice: below the threshold the scenes render here (the broken worker is never started) ...
    assert len(ds.arrays("train", num=4, progress=False)["images"]) == 4
    # ... and from the threshold on, in workers.
    monkeypatch.setattr(synthetic, "PARALLEL_MIN_SCENES", 4)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    with pytest.raises(RuntimeError, match="no_such_worker"):
        ds.arrays("train", num=4, progress=False)
    assert os.listdir(tmp_path) == []


def test_worker_module_imports_no_framework():
    code = ("import sys, vms_zoo.data.synthetic_worker; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'jax', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
