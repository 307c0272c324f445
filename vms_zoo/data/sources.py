"""Data spec strings (``--data synthetic``, ``folder:DIR``, ...) turned into training data, in one place.

Every image or map handed out here is float32 in [0, 1] (`vms.check_images` / `vms.check_maps`): the contract
is enforced where data enters, so no model ever rescales a batch twice.

Specs: ``synthetic`` (rendered scenes, no files), ``folder:DIR`` (every image under DIR), ``lsun:DIR``
(DIR holds the LSUN lmdb zips or a tfds dataset prepared as array_record files), and ``vischema1:DIR``,
``vischema2:DIR``, ``vischema_plus:DIR`` (DIR in the layout of `vms_zoo.data.vischema`). The first three serve
GAN training; predictors need maps, so only ``synthetic`` and the VISCHEMA kinds serve them.

GAN images stream: a folder or LSUN becomes a `LazyImages`, an array-like that decodes only the images it is
indexed with, so a run over 240,000 LSUN scenes holds one batch, not 189 GB of float32. `EpochBatches` deals
them out in a seeded order per epoch; MEMGAN's `ImageStream` indexes them the same way. The synthetic scenes
are rendered once and stay in memory.
"""

import os

import keras
import numpy as np

from vms_zoo.vms import check_images, check_maps

NEEDS_DIR = ("folder", "lsun", "vischema1", "vischema2", "vischema_plus")
KINDS = ("synthetic",) + NEEDS_DIR
GAN_KINDS = ("synthetic", "folder", "lsun")


def parse(spec, task=None):
    """(kind, path or None) of a spec string; a one-line ValueError saying which form is expected otherwise.

    `task` ("generator" or "predictor") also refuses data that task cannot train on: maps for a GAN, bare images
    for a predictor.
    """
    kind, sep, path = str(spec).partition(":")
    if kind not in KINDS:
        raise ValueError(f"Unknown data {spec!r}: expected synthetic or one of "
                         f"{', '.join(k + ':DIR' for k in NEEDS_DIR)}.")
    if kind == "synthetic":
        if sep:
            raise ValueError(f"--data synthetic takes no DIR; got {spec!r}.")
        return kind, None
    if not path:
        raise ValueError(f"--data {kind} needs a folder: use --data {kind}:DIR.")
    path = os.path.expanduser(path)
    if not os.path.isdir(path):
        raise ValueError(f"--data {kind}:DIR: no such folder: {path}")
    if task == "generator" and kind not in GAN_KINDS:
        raise ValueError(f"--data {kind}:{path} holds VMS maps for predictors; GANs train on images: --data "
                         "synthetic, folder:DIR or lsun:DIR.")
    if task == "predictor" and kind in GAN_KINDS:
        raise ValueError(f"--data {kind}:{path} has no VMS maps: predictors need VISCHEMA-layout data "
                         "(--data vischema1:DIR, vischema2:DIR, vischema_plus:DIR) or synthetic.")
    return kind, path


def check_data(spec, task):
    """Refuse, before a run writes anything, data `task` cannot train on: a wrong kind (see `parse`), a folder
    without a decodable image, a VISCHEMA folder in another layout. One line naming the path and what was
    expected. (LSUN is checked when it is opened: preparing it may take long.)"""
    kind, path = parse(spec, task)
    if kind == "folder":
        _folder(path, 8)
    elif kind not in GAN_KINDS:
        from vms_zoo.data import vischema

        vischema.config_splits(path, kind)


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


def gan_source(spec, image_size, category=None, num_scenes=None, seed=0, limit=None):
    """The images a GAN trains on, (N, S, S, 3) float32 in [0, 1], at most `limit` of them: a numpy array of
    synthetic scenes, or a `LazyImages` that decodes folder or LSUN images only when they are indexed.

    `category` picks synthetic scenes (a name in `synthetic.CATEGORIES`; None or "all" keeps every scene,
    of `num_scenes` rendered) and the LSUN category (required); folders take every image and ignore it.
    """
    kind, path = parse(spec, "generator")
    if kind == "folder":
        return _folder(path, image_size, limit)
    if kind == "lsun":
        return _lsun(path, category, image_size, limit)
    from vms_zoo.data.synthetic import CATEGORIES, MIN_SIZE

    if category not in (None, "all") and category not in CATEGORIES:
        raise ValueError(f"Unknown synthetic category {category!r}: expected all or one of {', '.join(CATEGORIES)}.")
    factor = -(-MIN_SIZE // image_size)  # rendered at MIN_SIZE or more, then box-averaged
    data = _synthetic(image_size * factor, seed, num_scenes).arrays("train", progress=False)
    array = data["images"]
    if category not in (None, "all"):
        array = array[data["categories"] == CATEGORIES.index(category)]
    array = box_downsample(array[:limit], image_size) if factor > 1 else array[:limit]
    return check_images(array, image_size, what=f"Synthetic {category or 'all'} scenes")


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
    if kind == "synthetic":
        from vms_zoo.data.synthetic import CATEGORIES

        scenes = _synthetic(image_size, seed, num_train, num_test)
        print(f"Rendering {scenes.split_size('train')} training and {scenes.split_size('test')} test scenes "
              f"at {image_size} px", flush=True)
        train, test, names = scenes.arrays("train"), scenes.arrays("test"), CATEGORIES
    else:
        from vms_zoo.data import vischema

        train, test = (vischema.load_vischema(path, config=kind, split=split, image_size=image_size, seed=seed,
                                              limit=limit)
                       for split, limit in (("train", num_train), ("test", num_test)))
        names = vischema.CATEGORIES
    for split, data in (("train", train), ("test", test)):
        data["images"] = check_images(data["images"], image_size, what=f"{spec} {split} images")
        data["vms"] = check_maps(data["vms"], image_size, what=f"{spec} {split} VMS maps")
    return train, test, names
