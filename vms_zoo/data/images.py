"""Unlabelled scene images for GAN training: LSUN through tfds, or any folder of images.

Both give tf.data pipelines of float32 batches (B, S, S, 3) in [0, 1], the package's one image contract
(`vms_zoo.vms`): the models move to their own internal range themselves, so rescaling here too would hand
them [-3, 1]. Images are centre-cropped to a square then resized (``crop="center"``) or resized ignoring
aspect (``crop="resize"``). Keras feeds tf.data to every backend. GAN training (`vms_zoo.data.sources`) reads
images by index instead, one batch at a time: `list_images` or `lsun_records`, then `square_image` (the same
centre crop, decoded with Pillow through `vms_zoo.io` like every other reader of user images).

Scraped or exported image folders often hold a few corrupt or truncated files that crash a long run
hours in; `clean_image_folder` decodes every file fully, with the same decoder the pipeline uses, and
moves the bad ones to a quarantine folder with a JSON report (nothing is deleted or overwritten).
"""

import json
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf
from PIL import Image, ImageFile

from vms_zoo import io as image_io

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")  # what tf.io.decode_image reads
QUARANTINE_MARK = ".vms_zoo_quarantine"  # file in a quarantine folder's root: never read as data


def list_images(folder):
    """Sorted paths of every image file under `folder`, recursively (no class subfolders needed).

    Quarantine folders (holding `QUARANTINE_MARK`) are skipped, so the broken files `clean_image_folder`
    moved aside never come back as training data, wherever the quarantine is.
    """
    paths = []
    for d, dirs, files in os.walk(folder):
        if QUARANTINE_MARK in files:
            dirs[:] = []
            continue
        paths += [os.path.join(d, f) for f in files if f.lower().endswith(IMAGE_EXTS)]
    return sorted(paths)


def to_training(image, image_size, crop="center"):
    """uint8 (H, W, 3) tensor -> float32 (S, S, 3) in [0, 1]."""
    image = tf.convert_to_tensor(image)
    if crop == "center":
        shape = tf.shape(image)
        side = tf.minimum(shape[0], shape[1])
        image = tf.image.crop_to_bounding_box(image, (shape[0] - side) // 2, (shape[1] - side) // 2,
                                              side, side)
    elif crop != "resize":
        raise ValueError(f"crop must be 'center' or 'resize', not {crop!r}")
    image = tf.image.resize(tf.cast(image, tf.float32), (image_size, image_size), antialias=True)
    return tf.clip_by_value(image / 255.0, 0.0, 1.0)  # the clip guards resize round-off


def _batched(ds, image_size, batch_size, crop, shuffle, seed, repeat, drop_remainder):
    if shuffle:
        ds = ds.shuffle(4096, seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda im: to_training(im, image_size, crop), num_parallel_calls=tf.data.AUTOTUNE)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def image_folder(folder, image_size=64, batch_size=32, crop="center", shuffle=True, seed=0, repeat=False,
                 drop_remainder=False, skip_unreadable=False):
    """Every image under `folder` as batches in [0, 1]; run `clean_image_folder` on it first.

    A file TensorFlow cannot decode stops the pipeline with its error, unless `skip_unreadable` drops it.
    """
    paths = list_images(folder)
    if not paths:
        raise FileNotFoundError(f"No images ({', '.join(IMAGE_EXTS)}) under {folder}")
    ds = tf.data.Dataset.from_tensor_slices(paths)
    if shuffle:  # shuffle paths (cheap, whole folder) before decoding
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda p: tf.io.decode_image(tf.io.read_file(p), channels=3, expand_animations=False),
                num_parallel_calls=tf.data.AUTOTUNE)
    if skip_unreadable:
        ds = ds.ignore_errors()
    return _batched(ds, image_size, batch_size, crop, False, seed, repeat, drop_remainder)


def _lsun_manual(category, manual_dir):
    """tfds' download_and_prepare kwargs that prepare LSUN `category` from the zips in `manual_dir`."""
    import tensorflow_datasets as tfds

    missing = [f"{category}_{s}_lmdb.zip" for s in ("train", "val")
               if not os.path.isfile(os.path.join(manual_dir, f"{category}_{s}_lmdb.zip"))]
    if missing:
        raise FileNotFoundError(f"{manual_dir} lacks {', '.join(missing)}; download them from "
                                "http://dl.yf.io/lsun/scenes/ (nothing is downloaded here).")
    return {"download_and_prepare_kwargs": {"download_config": tfds.download.DownloadConfig(manual_dir=manual_dir)}}


def lsun(category="kitchen", split="train", data_dir=None, manual_dir=None, image_size=64, batch_size=32,
         crop="center", shuffle=True, seed=0, repeat=False, drop_remainder=False):
    """LSUN scenes (the papers train on kitchen and living_room) through tfds, never downloading.

    Either `data_dir` already holds the prepared tfds dataset, or `manual_dir` holds the LSUN zips
    (``<category>_train_lmdb.zip`` and ``<category>_val_lmdb.zip`` from http://dl.yf.io/lsun/scenes/)
    and the dataset is prepared from them into `data_dir` (tfds reads LMDB through tensorflow-io).
    `split` is "train" or "validation". A folder of exported LSUN images works with `image_folder`.
    """
    import tensorflow_datasets as tfds

    kwargs = {} if manual_dir is None else _lsun_manual(category, manual_dir)
    try:
        ds = tfds.load(f"lsun/{category}", split=split, data_dir=data_dir, download=manual_dir is not None,
                       shuffle_files=shuffle, **kwargs)
    except AssertionError as e:  # tfds: "Dataset ... could not find data in ..."
        raise FileNotFoundError(f"LSUN {category} is not prepared in {data_dir or '~/tensorflow_datasets'}; "
                                "pass manual_dir= with the LSUN lmdb zips to prepare it. "
                                f"({e})") from None
    ds = ds.map(lambda ex: ex["image"], num_parallel_calls=tf.data.AUTOTUNE)
    return _batched(ds, image_size, batch_size, crop, shuffle, seed, repeat, drop_remainder)


def lsun_records(category, root, split="train"):
    """LSUN scenes as a random-access sequence of {"image": uint8 (H, W, 3), ...} (a tfds data source), so a
    training run reads only the images of each batch. `root` holds the LSUN zips (prepared into `root` as
    array_record files on first use, never downloading) or a dataset prepared so."""
    import tensorflow_datasets as tfds

    zipped = os.path.isfile(os.path.join(root, f"{category}_train_lmdb.zip"))
    try:
        return tfds.data_source(f"lsun/{category}", split=split, data_dir=root, download=zipped,
                                builder_kwargs={"file_format": "array_record"},
                                **(_lsun_manual(category, root) if zipped else {}))
    except (AssertionError, NotImplementedError, FileNotFoundError, KeyError, ImportError) as e:  # not prepared so
        reason = " ".join(str(e).split())[:200]
        raise ValueError(f"{root}: no LSUN {category} there; expected {category}_train_lmdb.zip and "
                         f"{category}_val_lmdb.zip (http://dl.yf.io/lsun/scenes/) or a tfds lsun/{category} "
                         f"prepared as array_record files ({reason})") from None


def square_image(im, image_size):
    """A Pillow image -> float32 (S, S, 3) in [0, 1]: RGB as `vms_zoo.io.to_rgb` makes it, centre-cropped to a
    square and resized with antialiasing (the crop of `to_training`, one image at a time, without TensorFlow)."""
    im = image_io.to_rgb(im)
    side = min(im.size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    im = im.resize((image_size, image_size), Image.BILINEAR, box=(left, top, left + side, top + side))
    return np.asarray(im, np.float32) / 255.0


def check_image(path):
    """None if `path` decodes completely, else the reason it does not.

    `Image.open` only reads the header and `verify()` only checks structure, so both accept a
    truncated JPEG; a full strict PIL `load()` and TensorFlow's own decoder (the one `image_folder`
    uses) catch it.
    """
    try:
        with Image.open(path) as im:
            im.verify()
        truncated_ok = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False  # some libraries switch this on globally
        try:
            with Image.open(path) as im:
                im.load()
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = truncated_ok
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        if min(image.shape[:2]) < 1:
            return "empty image"
    except Exception as e:  # noqa: BLE001 - any decoder failure means the file is unusable
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
    return None


def _write_json(path, data):
    """Write `path` whole or not at all: temp file, fsync, rename (a kill leaves the old version)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _free_name(quarantine, rel, taken):
    """`rel`, or `stem_1.ext`, `stem_2.ext`, ...: the first name neither in quarantine nor in the report."""
    stem, ext = os.path.splitext(rel)
    name, n = rel, 0
    while name in taken or os.path.lexists(os.path.join(quarantine, name)):
        n += 1
        name = f"{stem}_{n}{ext}"
    return name


def clean_image_folder(folder, quarantine=None, report=None, verbose=1):
    """Move every image under `folder` that fails `check_image` to `quarantine`, keeping its subpath.

    `quarantine` defaults to ``<folder>_quarantine``; it is marked with `QUARANTINE_MARK`, so
    `list_images` skips it even inside `folder`. Nothing there is overwritten: a second broken
    ``sub/a.jpg`` becomes ``sub/a_1.jpg``. The JSON report (default ``<quarantine>/report.json``) lists
    every file moved by every run (``file`` in `folder`, ``moved_to`` in `quarantine`, ``error``); each
    entry is written, atomically, before its move, so even a killed run leaves a report of all it moved
    (an entry whose ``moved_to`` is missing was interrupted before its move). Returns the report dict.
    """
    folder = os.path.abspath(folder)
    quarantine = os.path.abspath(quarantine or folder.rstrip(os.sep) + "_quarantine")
    if os.path.commonpath([folder, quarantine]) == quarantine:
        raise ValueError(f"The quarantine folder {quarantine} must not be {folder} or hold it.")
    report = report or os.path.join(quarantine, "report.json")
    bad = []
    if os.path.exists(report):
        try:
            with open(report) as f:
                old = json.load(f)
            bad = list(old["quarantined"])
            same = old["folder"] == folder and old["quarantine"] == quarantine
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{report} exists but is not a clean_image_folder report ({e}); "
                             "move it or pass another report=.") from None
        if not same:
            raise ValueError(f"{report} reports on {old['folder']} -> {old['quarantine']}, not {folder} -> "
                             f"{quarantine}; pass another report= or quarantine=.")
    os.makedirs(quarantine, exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(report)), exist_ok=True)
    open(os.path.join(quarantine, QUARANTINE_MARK), "a").close()
    paths = list_images(folder)
    bar = keras.utils.Progbar(len(paths), verbose=verbose, stateful_metrics=["quarantined"],
                              unit_name="image")
    result = {"folder": folder, "quarantine": quarantine, "checked": len(paths), "quarantined": bad}
    moved = 0
    for i, path in enumerate(paths):
        reason = check_image(path)
        if reason is not None:
            rel = os.path.relpath(path, folder)
            target = _free_name(quarantine, rel, {b.get("moved_to", b["file"]) for b in bad})
            bad.append({"file": rel, "moved_to": target, "error": reason})
            _write_json(report, result)  # the record first: a kill after the move still leaves it
            os.makedirs(os.path.dirname(os.path.join(quarantine, target)), exist_ok=True)
            shutil.move(path, os.path.join(quarantine, target))
            moved += 1
        bar.update(i + 1, values=[("quarantined", moved)])
    _write_json(report, result)
    return result
