"""Odd and hostile data: the folder cleaner keeps every record, the VISCHEMA loader refuses or correctly reads
odd data, and large images are refused or downscaled before they fill memory."""

import io as bytes_io
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image, ImageFile

pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_datasets")

import vms_zoo  # noqa: E402
from test_vischema import H, W, write_fake  # noqa: E402
from vms_zoo import io  # noqa: E402
from vms_zoo.data import images, vischema  # noqa: E402
from vms_zoo.data.vischema import VischemaError, load_vischema  # noqa: E402


def _jpeg(seed, h=20, w=24):
    buf = bytes_io.BytesIO()
    Image.fromarray((np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _broken(path, seed):
    """A truncated JPEG at `path`; returns its bytes."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = _jpeg(seed)[:300]
    with open(path, "wb") as f:
        f.write(data)
    return data


def _good(path, colour=(200, 30, 30)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", (10, 8), colour).save(path)
    return str(path)


def _quarantined(quarantine):
    """Relative paths of the files the cleaner moved into `quarantine`."""
    return sorted(os.path.relpath(os.path.join(d, f), quarantine) for d, _, files in os.walk(quarantine)
                  for f in files if f != "report.json" and not f.startswith("."))


# The folder cleaner keeps every record.

def test_cleaner_never_overwrites_quarantine_and_appends_its_report(tmp_path):
    src = tmp_path / "imgs"
    _good(src / "ok.png")
    first = _broken(src / "sub" / "a.jpg", seed=1)
    images.clean_image_folder(str(src), verbose=0)
    second = _broken(src / "sub" / "a.jpg", seed=2)  # the same name breaks again
    report = images.clean_image_folder(str(src), verbose=0)
    quarantine = str(src) + "_quarantine"
    entries = report["quarantined"]
    assert [e["file"] for e in entries] == [os.path.join("sub", "a.jpg")] * 2
    moved = [e["moved_to"] for e in entries]
    assert len(set(moved)) == 2 and all(m.startswith("sub" + os.sep) for m in moved)  # subpath kept
    for name, data in zip(moved, (first, second)):
        with open(os.path.join(quarantine, name), "rb") as f:
            assert f.read() == data
    images.clean_image_folder(str(src), verbose=0)  # a clean rerun keeps the records
    with open(os.path.join(quarantine, "report.json")) as f:
        assert json.load(f)["quarantined"] == entries


def test_quarantine_inside_the_folder_is_never_read_as_data(tmp_path):
    src = tmp_path / "imgs"
    good = [_good(src / "a.png"), _good(src / "b" / "c.png", (0, 0, 255))]
    _broken(src / "b" / "bad.jpg", seed=3)
    images.clean_image_folder(str(src), quarantine=str(src / "quarantine"), verbose=0)
    assert images.list_images(str(src)) == sorted(good)
    batches = list(images.image_folder(str(src), image_size=8, batch_size=4, shuffle=False))
    assert sum(len(b) for b in batches) == 2
    again = images.clean_image_folder(str(src), quarantine=str(src / "quarantine"), verbose=0)
    assert again["checked"] == 2 and len(again["quarantined"]) == 1
    with pytest.raises(ValueError, match="must not be"):
        images.clean_image_folder(str(src / "b"), quarantine=str(src), verbose=0)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs kill -9")
def test_a_kill_after_a_move_leaves_a_report_of_every_moved_file(tmp_path):
    src = tmp_path / "imgs"
    _good(src / "ok.png")
    for i, name in enumerate(["a.jpg", "b/c.jpg", "d.jpg"]):
        _broken(src / name, seed=i)
    script = textwrap.dedent("""
        import os, shutil, signal, sys
        from vms_zoo.data import images

        real_move = shutil.move

        def move_then_die(*args, **kwargs):
            real_move(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)  # kill -9 right after the first move

        shutil.move = move_then_die
        images.clean_image_folder(sys.argv[1], verbose=0)
    """)
    root = os.path.dirname(os.path.dirname(vms_zoo.__file__))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", script, str(src)], env=env, capture_output=True, timeout=300)
    assert run.returncode == -signal.SIGKILL, run.stderr.decode()[-2000:]
    quarantine = str(src) + "_quarantine"
    moved = _quarantined(quarantine)
    assert len(moved) == 1
    with open(os.path.join(quarantine, "report.json")) as f:
        assert set(moved) <= {e["moved_to"] for e in json.load(f)["quarantined"]}
    report = images.clean_image_folder(str(src), verbose=0)  # the rerun finishes the job
    assert _quarantined(quarantine) == sorted(e["moved_to"] for e in report["quarantined"])
    assert len(report["quarantined"]) == 3 and images.list_images(str(src)) == [str(src / "ok.png")]


# The VISCHEMA loader refuses or correctly reads odd data.

def _record(root, id_, fmt="auto"):
    return next(r for r in vischema.scan(root / "vischema1", fmt) if r.id == id_)


def test_16_bit_gray_maps_are_scaled_by_their_bit_depth(tmp_path):
    write_fake(tmp_path, per_category=1, fmt="gray")
    deep = np.linspace(0, 65535, H * W).reshape(H, W).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "vischema1" / "vms" / "kitchen" / "img000_true.png")
    vms = vischema.read_map(_record(tmp_path, "kitchen/img000"))
    np.testing.assert_allclose(vms[..., 0], deep / 65535, atol=1e-6)


def test_nan_in_npy_maps_is_refused(tmp_path):
    write_fake(tmp_path, per_category=1, fmt="npy")
    path = tmp_path / "vischema1" / "vms" / "populated" / "img000.npy"
    vms = np.load(path)
    vms[3, 4, 1] = np.nan  # NaN fails no comparison, so a min/max range check let it through
    np.save(path, vms)
    with pytest.raises(VischemaError, match=r"populated/img000\.npy: .*NaN or inf") as e:
        load_vischema(tmp_path, "vischema1", "all", image_size=8)
    assert "\n" not in str(e.value)


def test_an_id_in_both_split_files_is_refused(tmp_path):
    write_fake(tmp_path, per_category=2)
    ids = [f"{c}/img{i:03d}" for c in vischema.CATEGORIES for i in range(2)]
    (tmp_path / "vischema1" / "train.txt").write_text("\n".join(ids))
    (tmp_path / "vischema1" / "test.txt").write_text("kitchen/img000\nisolated/img001\n")
    with pytest.raises(VischemaError, match=r"train\.txt and test\.txt: ids in both.*isolated/img001, "
                                            r"kitchen/img000") as e:
        load_vischema(tmp_path, "vischema1", "train", image_size=8)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("given", ["train", "test"])
def test_a_lone_split_file_is_used(tmp_path, given):
    write_fake(tmp_path, per_category=2)
    listed = ["kitchen/img001", "populated/img000", "isolated/img000"]
    (tmp_path / "vischema1" / f"{given}.txt").write_text("\n".join(listed) + "\n")
    other = "test" if given == "train" else "train"
    assert load_vischema(tmp_path, "vischema1", given, image_size=8)["ids"].tolist() == listed
    rest = load_vischema(tmp_path, "vischema1", other, image_size=8)["ids"].tolist()
    assert len(rest) == 16 - 3 and not set(rest) & set(listed)


def test_exif_rotation_is_applied_like_io_read_image(tmp_path):
    write_fake(tmp_path, per_category=1)
    folder = tmp_path / "vischema1" / "images" / "kitchen"
    os.remove(folder / "img000.png")
    stored = np.zeros((W, H, 3), np.uint8)  # stored sideways: displayed (H, W) after the EXIF rotation
    stored[:3] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = str(folder / "img000.jpg")
    Image.fromarray(stored).save(path, quality=95, exif=exif.tobytes())
    image = vischema.read_image(path)
    assert image.shape == (H, W, 3)
    np.testing.assert_array_equal(image, np.round(io.read_image(path) * 255))
    data = load_vischema(tmp_path, "vischema1", "all", image_size=8)
    np.testing.assert_array_equal(data["images"][data["ids"].tolist().index("kitchen/img000")],
                                  io.read_image(path, 8))


# Large inputs are refused or downscaled before they fill memory.

def test_a_huge_compressed_png_is_refused_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    Image.new("L", (9000, 9000)).save(path)  # 81 megapixels in well under 1 MB
    assert os.path.getsize(path) < 1_000_000
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded the pixels"))
    with pytest.raises(ValueError, match=r"bomb\.png: 9000x9000 is 81 megapixels.*MAX_PIXELS") as e:
        io.read_image(str(path), 64)
    assert "\n" not in str(e.value)


def test_the_vischema_loader_has_the_same_pixel_limit(tmp_path, monkeypatch):
    write_fake(tmp_path, per_category=1)
    monkeypatch.setattr(io, "MAX_PIXELS", H * W - 1)
    with pytest.raises(ValueError, match=rf"kitchen/img000\.png: {W}x{H} is"):
        load_vischema(tmp_path, "vischema1", "all", image_size=8)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_target_size_downscales_while_decoding(tmp_path, fmt):
    h, w = 1200, 1600
    ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3), np.float32)
    path = str(tmp_path / f"big.{fmt.lower()}")
    Image.fromarray(ramp.astype(np.uint8)).save(path, fmt)
    decoded = io.open_image(path, 64)
    assert min(decoded.size) >= 64 and max(decoded.size) <= w // 8  # never the full 1600x1200
    small = io.read_image(path, 64)
    full = np.asarray(Image.open(path).convert("RGB").resize((64, 64), Image.BILINEAR), np.float32) / 255
    assert small.shape == (64, 64, 3) and small.dtype == np.float32 and 0 <= small.min() and small.max() <= 1
    assert np.abs(small - full).mean() < 0.01
