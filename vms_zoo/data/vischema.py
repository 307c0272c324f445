"""VISCHEMA 1, VISCHEMA 2 and VISCHEMA PLUS (both together): scene images with their true/false VMS maps.

The data cannot be downloaded automatically. Get it from https://www.cs.york.ac.uk/vischema/ and lay it out
as below (the manual folder; with tfds it is ``manual_dir``, by default ``<data_dir>/downloads/manual``)::

    <root>/
      vischema1/                         800 images, 100 per category
        images/<category>/<name>.jpg     .jpg, .jpeg or .png
        vms/<category>/<name>.png        map_format="rgb": green = true schema, red = false schema
        vms/<category>/<name>_true.png   map_format="gray": one grayscale PNG per channel ...
        vms/<category>/<name>_false.png  ... (white = 1)
        vms/<category>/<name>.npy        map_format="npy": float array (H, W, 2) in [0, 1]
        train.txt, test.txt              optional official split: one id "<category>/<name>" per line
      vischema2/                         same layout
      vischema_plus/                     optional; if absent, VISCHEMA PLUS = vischema1 + vischema2 with ids
                                         prefixed "vischema1/" and "vischema2/"

``<category>`` is one of `CATEGORIES`. Maps must have the size of their image, both as displayed: images
and maps are read through `vms_zoo.io.open_image`, which applies the EXIF rotation (as `vms_zoo.io.read_image`
does for predictions) and refuses files over `vms_zoo.io.MAX_PIXELS`. PNG maps are scaled by their bit depth
(16-bit by 65535); .npy maps must be finite. ``map_format="auto"`` (default) picks, per image, whichever of
the three map files exists.

Splits: with train.txt and test.txt, exactly those ids (images in neither are left out); with only one of
them, the other split is every other image; with neither, the split is drawn per category with a fixed seed,
holding out `test_fraction` (0.2): 640/160 for VISCHEMA 1's 800 images, as in the VMS-predictor paper. An id
listed twice, or in both files, is an error: it would leak test images into training.

Two ways in, reading the same folder: the tfds builder `Vischema` (``tfds.load("vischema/vischema1",
download_and_prepare_kwargs={"download_config": tfds.download.DownloadConfig(manual_dir=root)})`` after
importing this module), and `load_vischema(root, ...)`, which returns numpy arrays like
`SyntheticScenes.arrays` for recipes (``--data vischema_plus``).
"""

import collections
import dataclasses
import itertools
import os

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import ExifTags, Image

from vms_zoo import io as image_io

CATEGORIES = ("kitchen", "living_room", "small_public", "big_public", "work_home", "public_entertainment",
              "populated", "isolated")
CONFIGS = ("vischema1", "vischema2", "vischema_plus")
IMAGE_EXTS = (".jpg", ".jpeg", ".png")
MAP_FORMATS = ("auto", "rgb", "gray", "npy")

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Download VISCHEMA 1 and VISCHEMA 2 from the VISCHEMA page of the University of York,
https://www.cs.york.ac.uk/vischema/ , and arrange them in `manual_dir` as
  vischema1/images/<category>/<name>.jpg  and  vischema1/vms/<category>/<name>.png (green = true,
  red = false), or <name>_true.png + <name>_false.png, or <name>.npy (H, W, 2); the same for vischema2/.
Categories: kitchen, living_room, small_public, big_public, work_home, public_entertainment, populated,
isolated. Optional train.txt / test.txt list the ids "<category>/<name>" of each split.
See vms_zoo/data/vischema.py for details."""


# What a folder must hold, in the one-line errors of a wrong layout.
LAYOUT = ("images/<category>/<name>.jpg with maps vms/<category>/<name>.png (green = true, red = false; or "
          "<name>_true.png + <name>_false.png, or <name>.npy) of the same size, <category> one of "
          f"{', '.join(CATEGORIES)} (vms_zoo/data/vischema.py)")


class VischemaError(ValueError):
    """The VISCHEMA folder is missing files or holds mismatched ones; the message names them."""


@dataclasses.dataclass(frozen=True)
class Record:
    id: str
    category: str
    image: str
    maps: tuple  # one path (rgb, npy) or two (gray: true, false)
    format: str


def _fail(problem, names, root):
    names = sorted(names)
    listed = ", ".join(names[:20]) + (f", ... ({len(names) - 20} more)" if len(names) > 20 else "")
    raise VischemaError(f"{root}: {problem} ({len(names)}): {listed}")


def _map_files(vms_dir, stem, map_format):
    """(format, paths) of the map files for one image stem, or None if they are not there."""
    candidates = {"npy": (stem + ".npy",), "rgb": (stem + ".png",),
                  "gray": (stem + "_true.png", stem + "_false.png")}
    for fmt in (("npy", "gray", "rgb") if map_format == "auto" else (map_format,)):
        paths = tuple(os.path.join(vms_dir, p) for p in candidates[fmt])
        if all(os.path.isfile(p) for p in paths):
            return fmt, paths
    return None


def scan(folder, map_format="auto", check_sizes=True):
    """Records of one VISCHEMA folder (``images/`` + ``vms/``), after checking every file is there.

    Raises VischemaError naming the images without maps, maps without images, unknown categories and
    maps whose size differs from their image's.
    """
    if map_format not in MAP_FORMATS:
        raise ValueError(f"map_format must be one of {MAP_FORMATS}, not {map_format!r}")
    image_root, vms_root = os.path.join(folder, "images"), os.path.join(folder, "vms")
    for d in (image_root, vms_root):
        if not os.path.isdir(d):
            raise VischemaError(f"{folder}: no '{os.path.basename(d)}/' folder; expected {LAYOUT}.")
    unknown = {c for d in (image_root, vms_root) for c in os.listdir(d)
               if os.path.isdir(os.path.join(d, c)) and c not in CATEGORIES}
    if unknown:
        _fail(f"unknown category folders (expected {', '.join(CATEGORIES)})", unknown, folder)
    records, missing, used = [], [], set()
    for category in CATEGORIES:
        cat_dir = os.path.join(image_root, category)
        for name in sorted(os.listdir(cat_dir)) if os.path.isdir(cat_dir) else []:
            stem, ext = os.path.splitext(name)
            if ext.lower() not in IMAGE_EXTS:
                continue
            found = _map_files(os.path.join(vms_root, category), stem, map_format)
            if found is None:
                missing.append(f"{category}/{stem}")
                continue
            used.update(os.path.realpath(p) for p in found[1])
            records.append(Record(f"{category}/{stem}", category, os.path.join(cat_dir, name), found[1],
                                  found[0]))
    if missing:
        _fail(f"images without a {'' if map_format == 'auto' else map_format + ' '}VMS map", missing, folder)
    orphans = [os.path.relpath(os.path.join(d, f), vms_root) for d, _, files in os.walk(vms_root)
               for f in files if os.path.realpath(os.path.join(d, f)) not in used]
    if orphans:
        _fail("VMS maps without an image", orphans, folder)
    if not records:
        raise VischemaError(f"{folder}: no images found; expected {LAYOUT}.")
    if check_sizes:
        bad = [f"{r.id} (image {_size(r.image)}, map {_size(r.maps[0])})" for r in records
               if _size(r.image) != _size(r.maps[0]) or any(_size(p) != _size(r.maps[0]) for p in r.maps)]
        if bad:
            _fail("VMS maps whose size differs from the image", bad, folder)
    return records


def _size(path):
    """(height, width) of an image or .npy map as displayed (EXIF rotation applied), from the header only."""
    if path.endswith(".npy"):
        try:
            return tuple(np.load(path, mmap_mode="r").shape[:2])
        except (ValueError, OSError) as e:
            raise VischemaError(f"{path}: not a readable .npy map ({str(e).splitlines()[0]})") from None
    with Image.open(path) as im:
        # only when EXIF is in the header: a PNG's getexif() would otherwise decode the whole file
        turned = "exif" in im.info and im.getexif().get(ExifTags.Base.Orientation, 1) in (5, 6, 7, 8)
        return im.size if turned else im.size[::-1]


def read_image(path):
    """uint8 (H, W, 3) RGB image, read like `vms_zoo.io.read_image` (EXIF rotation, size limit)."""
    return image_io.read_rgb(path)


def _read_gray(path):
    """One greyscale map channel in [0, 1], scaled by its bit depth (16-bit PNGs by 65535)."""
    im = image_io.open_image(path)
    if im.mode.startswith("I"):  # PNG greyscale deeper than 8 bits
        return np.asarray(im, np.float32) / 65535
    if im.mode == "F":
        return np.asarray(im, np.float32)
    return np.asarray(im.convert("L"), np.float32) / 255


def read_map(record):
    """The (H, W, 2) float32 map of a record: channel 0 true, channel 1 false, values in [0, 1]."""
    if record.format == "npy":
        try:
            vms = np.load(record.maps[0]).astype(np.float32)
        except (ValueError, OSError, TypeError) as e:
            raise VischemaError(f"{record.maps[0]}: not a readable .npy map ({str(e).splitlines()[0]})") from None
    elif record.format == "gray":
        vms = np.stack([_read_gray(p) for p in record.maps], -1)
    else:
        rgb = np.asarray(image_io.open_image(record.maps[0]).convert("RGB"), np.float32) / 255
        vms = rgb[..., [1, 0]]  # green = true, red = false
    if vms.ndim != 3 or vms.shape[-1] != 2 or not vms.size:
        raise VischemaError(f"{record.maps[0]}: expected an (H, W, 2) map, got shape {vms.shape}")
    if not np.isfinite(vms).all():
        raise VischemaError(f"{record.maps[0]}: map holds {np.size(vms) - np.isfinite(vms).sum()} NaN or inf "
                            "values; expected values in [0, 1]")
    if vms.min() < 0 or vms.max() > 1:
        raise VischemaError(f"{record.maps[0]}: map values must be in [0, 1], got [{vms.min():.3g}, {vms.max():.3g}]")
    return vms


def _read_split_file(folder, split):
    path = os.path.join(folder, f"{split}.txt")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def split_records(records, folder, test_fraction=0.2, seed=0):
    """{"train": [...], "test": [...]}: the folder's train.txt/test.txt, else a seeded per-category split.

    A lone train.txt or test.txt is used too, the other split taking every other image; ids listed twice or
    in both files are refused, since they would put test images into training.
    """
    listed = {s: _read_split_file(folder, s) for s in ("train", "test")}
    by_id = {r.id: r for r in records}
    files = os.path.join(folder, " and ".join(f"{s}.txt" for s, v in listed.items() if v is not None))
    if any(v is not None for v in listed.values()):
        given = [i for v in listed.values() if v is not None for i in v]
        unknown = [i for i in given if i not in by_id]
        if unknown:
            _fail("ids without an image", unknown, files)
        both = set(listed["train"] or ()) & set(listed["test"] or ())
        if both:
            _fail("ids in both train.txt and test.txt (test images would leak into training)", both, files)
        twice = [i for i, n in collections.Counter(given).items() if n > 1]
        if twice:
            _fail("ids listed more than once", twice, files)
        given_set = set(given)
        rest = [r.id for r in records if r.id not in given_set]
        return {s: [by_id[i] for i in (rest if ids is None else ids)] for s, ids in listed.items()}
    rng = np.random.default_rng(seed)
    out = {"train": [], "test": []}
    for category in CATEGORIES:
        mine = [r for r in records if r.category == category]
        order = rng.permutation(len(mine))
        n_test = int(round(len(mine) * test_fraction))
        out["test"] += [mine[i] for i in sorted(order[:n_test])]
        out["train"] += [mine[i] for i in sorted(order[n_test:])]
    return out


def config_splits(root, config, map_format="auto", test_fraction=0.2, seed=0):
    """Train/test records of a config; VISCHEMA PLUS joins both datasets unless it has its own folder."""
    if config not in CONFIGS:
        raise ValueError(f"config must be one of {CONFIGS}, not {config!r}")
    parts = ([config] if config != "vischema_plus" or os.path.isdir(os.path.join(root, config))
             else ["vischema1", "vischema2"])
    out = {"train": [], "test": []}
    for part in parts:
        folder = os.path.join(root, part)
        if not os.path.isdir(folder):
            raise VischemaError(f"{root}: no '{part}/' folder; expected {root}/{part}/{LAYOUT}.")
        splits = split_records(scan(folder, map_format), folder, test_fraction, seed)
        for s, recs in splits.items():
            out[s] += [dataclasses.replace(r, id=f"{part}/{r.id}") if len(parts) > 1 else r for r in recs]
    return out


def load_vischema(root, config="vischema_plus", split="train", image_size=224, map_format="auto",
                  test_fraction=0.2, seed=0, limit=None):
    """Numpy arrays of a VISCHEMA split, resized to `image_size`, shaped like `SyntheticScenes.arrays`.

    Returns dict(images (N, S, S, 3) float32 in [0, 1], vms (N, S, S, 2) float32 in [0, 1], categories
    (N,) int32 indices into `CATEGORIES`, ids (N,) str). `split` is "train", "test" or "all"; `limit` keeps
    that many, taken in turn from each category (a smoke run reads a few).
    """
    splits = config_splits(root, config, map_format, test_fraction, seed)
    records = splits["train"] + splits["test"] if split == "all" else splits[split]
    if limit is not None:  # a few images that still span the categories: one of each in turn
        by_category = [[r for r in records if r.category == c] for c in CATEGORIES]
        records = [r for turn in itertools.zip_longest(*by_category) for r in turn if r is not None][:limit]
    size = (image_size, image_size)
    images, maps = [], []
    for r in records:
        images.append(image_io.read_image(r.image, image_size))  # downscaled while decoding
        vms = read_map(r)
        maps.append(np.stack([np.asarray(Image.fromarray(vms[..., c], "F").resize(size, Image.BILINEAR))
                              for c in range(2)], -1))
    return {"images": np.asarray(images, np.float32).reshape(-1, *size, 3),
            "vms": np.clip(np.asarray(maps, np.float32).reshape(-1, *size, 2), 0, 1),
            "categories": np.array([CATEGORIES.index(r.category) for r in records], np.int32),
            "ids": np.array([r.id for r in records], dtype=str)}


@dataclasses.dataclass(eq=False)
class VischemaConfig(tfds.core.BuilderConfig):
    """A VISCHEMA variant; `map_format`, `test_fraction` and `seed` as in `load_vischema`."""

    map_format: str = "auto"
    test_fraction: float = 0.2
    seed: int = 0


class Vischema(tfds.core.GeneratorBasedBuilder):
    """VISCHEMA scene images with dual-channel visual memory schema maps (manual download)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS
    # tfds derives this via `importlib_resources`, which Python >= 3.9 installs need not have; the
    # builder only uses it to look for a checksums file next to this module (there is none).
    code_path = epath.Path(__file__)
    BUILDER_CONFIGS = [
        VischemaConfig(name="vischema1", description="VISCHEMA 1: 800 images, 640/160 train/test."),
        VischemaConfig(name="vischema2", description="VISCHEMA 2: 800 FIGRIM images, seeded split."),
        VischemaConfig(name="vischema_plus", description="VISCHEMA 1 and 2 together."),
    ]

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "vms": tfds.features.Tensor(shape=(None, None, 2), dtype=np.float32, encoding="zlib"),
                "category": tfds.features.ClassLabel(names=CATEGORIES),
                "id": tfds.features.Text(),
            }),
            supervised_keys=("image", "vms"),
            homepage="https://www.cs.york.ac.uk/vischema/",
        )

    def _split_generators(self, dl_manager):
        c = self.builder_config
        splits = config_splits(str(dl_manager.manual_dir), c.name, c.map_format, c.test_fraction, c.seed)
        return {name: self._generate_examples(records) for name, records in splits.items()}

    def _generate_examples(self, records):
        for r in records:
            yield r.id, {"image": read_image(r.image), "vms": read_map(r), "category": r.category, "id": r.id}
