"""Data spec strings (``--data synthetic``, ``folder:DIR``, ...) turned into training data, in one place.

Every image or map handed out here is float32 in [0, 1] (`vms.check_images` / `vms.check_maps`): the contract
is enforced where data enters, so no model ever rescales a batch twice.

Specs: ``synthetic`` (rendered scenes, no files), ``folder:DIR`` (every image under DIR), ``lsun:DIR``
(DIR holds the LSUN lmdb zips or a tfds dataset prepared as array_record files), and ``vischema1:DIR``,
``vischema2:DIR``, ``vischema_plus:DIR`` (DIR in the layout of `vms_zoo.data.vischema`). The first three serve
GAN training; predictors need maps, so only ``synthetic`` and the VISCHEMA kinds serve them. Each kind is a
`DataSource` record in `SOURCES`; `register_source` adds one (docs/extending.md).

GAN images stream: a folder or LSUN becomes a `LazyImages`, an array-like that decodes only the images it is
indexed with, so a run over 240,000 LSUN scenes holds one batch, not 189 GB of float32. `EpochBatches` deals
them out in a seeded order per epoch; MEMGAN's `ImageStream` indexes them the same way. The synthetic scenes
are rendered once and stay in memory.
"""

import dataclasses
import os
from typing import Callable

import keras
import numpy as np

from vms_zoo.vms import check_images, check_maps

@dataclasses.dataclass(frozen=True)
class DataSource:
    """One kind of data spec (``kind`` or ``kind:DIR``): what it holds and how it loads. Registered with
    `register_source`; `parse`, `check_data`, `gan_source`, `predictor_data` and the command line's help
    look kinds up here, so a new source is one record.

    images(path, image_size, category, num_scenes, seed, limit): images for GANs, (N, S, S, 3) float32 in
        [0, 1], a numpy array or a `LazyImages`; None when the source has no bare images to give.
    maps(path, image_size, seed, num_train, num_test): (train, test, category names) for predictors, train/test
        dicts of images, vms and categories; None when the source has no VMS maps.
    check(path): raises a one-line ValueError when the folder is not in the source's layout; cheap, run before
        a training run writes anything.
    """

    kind: str
    about: str
    needs_dir: bool = True
    images: Callable | None = None
    maps: Callable | None = None
    check: Callable | None = None


SOURCES = {}


def register_source(source):
    """Add a kind of data spec (a `DataSource`); a kind may be registered once."""
    if source.kind in SOURCES:
        raise ValueError(f"Data kind {source.kind!r} is already registered.")
    if ":" in source.kind or not source.kind:
        raise ValueError(f"Data kind {source.kind!r}: expected a name without ':'.")
    SOURCES[source.kind] = source
    return source


def spec_form(kind):
    """How a kind is written on the command line: synthetic, folder:DIR, ..."""
    return f"{kind}:DIR" if SOURCES[kind].needs_dir else kind


def kinds_for(task=None):
    """The kinds that can train `task` ("generator": bare images, "predictor": VMS maps; None: every kind)."""
    field = {"generator": "images", "predictor": "maps", None: "kind"}[task]
    return tuple(k for k, source in SOURCES.items() if getattr(source, field))


def spec_help(task=None):
    """The spec forms for `task`, as the command line's help lists them."""
    return " | ".join(spec_form(k) for k in kinds_for(task))


def _forms(kinds):
    forms = [spec_form(k) for k in kinds]
    return forms[0] if len(forms) == 1 else f"{', '.join(forms[:-1])} or {forms[-1]}"


def parse(spec, task=None):
    """(kind, path or None) of a spec string; a one-line ValueError saying which form is expected otherwise.

    `task` ("generator" or "predictor") also refuses data that task cannot train on: maps for a GAN, bare images
    for a predictor.
    """
    kind, sep, path = str(spec).partition(":")
    if kind not in SOURCES:
        raise ValueError(f"Unknown data {spec!r}: expected {_forms(SOURCES)}.")
    if not SOURCES[kind].needs_dir:
        if sep:
            raise ValueError(f"--data {kind} takes no DIR; got {spec!r}.")
        return kind, None
    if not path:
        raise ValueError(f"--data {kind} needs a folder: use --data {kind}:DIR.")
    path = os.path.expanduser(path)
    if not os.path.isdir(path):
        raise ValueError(f"--data {kind}:DIR: no such folder: {path}")
    if task == "generator" and SOURCES[kind].images is None:
        raise ValueError(f"--data {kind}:{path} holds VMS maps for predictors; GANs train on images: --data "
                         f"{_forms(kinds_for('generator'))}.")
    if task == "predictor" and SOURCES[kind].maps is None:
        raise ValueError(f"--data {kind}:{path} has no VMS maps: predictors need "
                         f"{_forms(kinds_for('predictor'))}.")
    return kind, path


def check_data(spec, task):
    """Refuse, before a run writes anything, data `task` cannot train on: a wrong kind (see `parse`), or a
    folder not in its source's layout (`DataSource.check`). One line naming the path and what was expected."""
    kind, path = parse(spec, task)
    if SOURCES[kind].check is not None:
        SOURCES[kind].check(path)


def box_downsample(images, size):
    """(N, S, S, C) images box-averaged to (N, size, size, C); S must be a multiple of `size`."""
    factor = images.shape[1] // size
    if factor < 1 or images.shape[1] != factor * size:
        raise ValueError(f"Image side {images.shape[1]} is not a multiple of {size}.")
    return images.reshape(len(images), size, factor, size, factor, images.shape[-1]).mean(axis=(2, 4))


class LazyImages:
    """`count` images as a read-only float32 array (N, S, S, 3) in [0, 1], decoded only when indexed: memory
    holds the requested images, however many the source has.

    `read(i)` returns image i as a Pillow image (any mode or size; it is centre-cropped and resized). An image
    that cannot be read is skipped with a message naming it, and the next readable one takes its place, so
    batches stay whole (`vms_zoo.data.images.clean_image_folder` moves such files aside beforehand). The
    first image is read at once: a source without one readable image fails here, naming `where` and
    what was `expected`.
    """

    dtype = np.dtype("float32")

    def __init__(self, read, count, image_size, where, expected):
        self.read, self.image_size, self.where, self.expected = read, int(image_size), where, expected
        self.shape = (int(count), self.image_size, self.image_size, 3)
        self.skipped = set()
        self[0]  # fails now if none can be read

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, index):
        rows = np.arange(len(self))[index]
        if np.ndim(rows) == 0:
            return self._image(int(rows))
        return np.array([self._image(int(i)) for i in rows], self.dtype).reshape((-1,) + self.shape[1:])

    def _image(self, index):
        from vms_zoo.data.images import square_image

        for k in range(len(self)):
            i = (index + k) % len(self)
            if i in self.skipped:
                continue
            try:
                return square_image(self.read(i), self.image_size)
            except (ValueError, OSError) as e:
                self.skipped.add(i)
                print(f"Skipping an unreadable image ({' '.join(str(e).split())}); the next one takes its place "
                      "(vms_zoo.data.images.clean_image_folder moves such files aside).", flush=True)
        raise ValueError(f"{self.where}: none of its {len(self)} images could be decoded; expected "
                         f"{self.expected}.")


class EpochBatches(keras.utils.PyDataset):
    """Shuffled batches (x, or (x, y)) whose order is a function of (seed, epoch) alone, so a resumed run
    (BackupAndRestore restarts at its epoch) sees the same order an uninterrupted one would; `epoch_callback`
    keeps the epoch. An epoch is `steps` batches (default: the whole batches in the data), wrapping around
    when longer. Only a batch's rows are indexed: a `LazyImages` decodes just those."""

    def __init__(self, x, y, batch_size, seed=0, steps=None):
        super().__init__()
        self.x, self.y, self.batch_size, self.seed, self.epoch = x, y, int(batch_size), seed, 0
        self.steps = int(steps or len(x) // self.batch_size)
        self._order = (None, None)

    def __len__(self):
        return self.steps

    def order(self):
        """This epoch's permutation of the rows (kept for the epoch: 240,000 rows take milliseconds)."""
        if self._order[0] != self.epoch:
            self._order = (self.epoch, np.random.default_rng((self.seed, self.epoch)).permutation(len(self.x)))
        return self._order[1]

    def __getitem__(self, index):
        rows = self.order()[(index * self.batch_size + np.arange(self.batch_size)) % len(self.x)]
        return self.x[rows] if self.y is None else (self.x[rows], self.y[rows])

    def epoch_callback(self):
        data = self

        class SetEpoch(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                data.epoch = epoch

        return SetEpoch()


def _synthetic(image_size, seed, num_train, num_test=None):
    from vms_zoo.data.synthetic import SyntheticScenes

    sizes = {k: v for k, v in (("num_train", num_train), ("num_test", num_test)) if v is not None}
    return SyntheticScenes(image_size=image_size, seed=seed, **sizes)


def _folder(path, image_size, limit=None):
    from vms_zoo import io as image_io
    from vms_zoo.data import images

    paths = images.list_images(path)[:limit]
    expected = f"a folder of image files ({', '.join(images.IMAGE_EXTS)}) for --data folder:DIR"
    if not paths:
        raise ValueError(f"{path}: no images found; expected {expected}.")
    return LazyImages(lambda i: image_io.open_image(paths[i], image_size), len(paths), image_size, path, expected)


def _lsun(path, category, image_size, limit):
    from PIL import Image

    from vms_zoo.data import images

    if category in (None, "all"):
        raise ValueError("--data lsun:DIR needs one LSUN category, e.g. kitchen or living_room.")
    records = images.lsun_records(category, path)
    return LazyImages(lambda i: Image.fromarray(records[i]["image"]), min(len(records), limit or len(records)),
                      image_size, f"LSUN {category} in {path}", "LSUN images")


def _synthetic_images(path, image_size, category, num_scenes, seed, limit):
    from vms_zoo.data.synthetic import CATEGORIES, MIN_SIZE

    if category not in (None, "all") and category not in CATEGORIES:
        raise ValueError(f"Unknown synthetic category {category!r}: expected all or one of {', '.join(CATEGORIES)}.")
    factor = -(-MIN_SIZE // image_size)  # rendered at MIN_SIZE or more, then box-averaged
    data = _synthetic(image_size * factor, seed, num_scenes).arrays("train", progress=False)
    array = data["images"]
    if category not in (None, "all"):
        array = array[data["categories"] == CATEGORIES.index(category)]
    return box_downsample(array[:limit], image_size) if factor > 1 else array[:limit]


def _synthetic_maps(path, image_size, seed, num_train, num_test):
    from vms_zoo.data.synthetic import CATEGORIES

    scenes = _synthetic(image_size, seed, num_train, num_test)
    print(f"Rendering {scenes.split_size('train')} training and {scenes.split_size('test')} test scenes "
          f"at {image_size} px", flush=True)
    return scenes.arrays("train"), scenes.arrays("test"), CATEGORIES


def _folder_images(path, image_size, category, num_scenes, seed, limit):
    return _folder(path, image_size, limit)


def _lsun_images(path, image_size, category, num_scenes, seed, limit):
    return _lsun(path, category, image_size, limit)


def _vischema_source(config):
    def maps(path, image_size, seed, num_train, num_test):
        from vms_zoo.data import vischema

        train, test = (vischema.load_vischema(path, config=config, split=split, image_size=image_size, seed=seed,
                                              limit=limit)
                       for split, limit in (("train", num_train), ("test", num_test)))
        return train, test, vischema.CATEGORIES

    def check(path):
        from vms_zoo.data import vischema

        vischema.config_splits(path, config)

    return DataSource(config, f"{config} images and VMS maps in the layout of vms_zoo.data.vischema",
                      maps=maps, check=check)


register_source(DataSource("synthetic", "rendered scenes with their VMS maps, no files", needs_dir=False,
                           images=_synthetic_images, maps=_synthetic_maps))
register_source(DataSource("folder", "every image file under DIR", images=_folder_images,
                           check=lambda path: _folder(path, 8)))
register_source(DataSource("lsun", "the LSUN lmdb zips, or a tfds LSUN prepared as array_record files",
                           images=_lsun_images))  # checked when opened: preparing LSUN may take long
for _config in ("vischema1", "vischema2", "vischema_plus"):
    register_source(_vischema_source(_config))


def gan_source(spec, image_size, category=None, num_scenes=None, seed=0, limit=None):
    """The images a GAN trains on, (N, S, S, 3) float32 in [0, 1], at most `limit` of them: a numpy array of
    synthetic scenes, or a `LazyImages` that decodes folder or LSUN images only when they are indexed.

    `category` picks synthetic scenes (a name in `synthetic.CATEGORIES`; None or "all" keeps every scene,
    of `num_scenes` rendered) and the LSUN category (required); folders take every image and ignore it.
    """
    kind, path = parse(spec, "generator")
    images = SOURCES[kind].images(path, image_size, category, num_scenes, seed, limit)
    if isinstance(images, LazyImages):  # checks each image as it decodes it
        return images
    return check_images(images, image_size, what=f"Images of {spec}")


def gan_images(spec, image_size, category=None, num_scenes=None, seed=0, limit=None):
    """`gan_source` as one numpy array: every image is decoded, so bound it with `limit` (e.g. a sample to score)."""
    return check_images(gan_source(spec, image_size, category, num_scenes, seed, limit)[:], image_size,
                        what=f"Images of {spec}")


def predictor_data(spec, image_size, seed=0, num_train=None, num_test=None):
    """(train, test, category names) for predictor training; train/test are dicts of numpy arrays.

    Each dict holds images (N, S, S, 3) and vms (N, S, S, 2), both float32 in [0, 1], and categories (N,)
    indices into the names. `num_train` / `num_test` size the synthetic splits and cap VISCHEMA's.
    """
    kind, path = parse(spec, "predictor")
    train, test, names = SOURCES[kind].maps(path, image_size, seed, num_train, num_test)
    for split, data in (("train", train), ("test", test)):
        data["images"] = check_images(data["images"], image_size, what=f"{spec} {split} images")
        data["vms"] = check_maps(data["vms"], image_size, what=f"{spec} {split} VMS maps")
    return train, test, names
