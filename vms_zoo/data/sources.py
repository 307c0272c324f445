"""Data spec strings (``--data synthetic``, ``folder:DIR``, ...) turned into numpy arrays, in one place.

Every array returned here has passed `vms.check_images` / `vms.check_maps`: images float32 in [0, 1],
VMS maps in [0, 1]. The contract is enforced where data enters, so no model ever rescales a batch twice.

Specs: ``synthetic`` (rendered scenes, no files), ``folder:DIR`` (every image under DIR), ``lsun:DIR``
(DIR holds the LSUN lmdb zips or a prepared tfds dataset), and ``vischema1:DIR``, ``vischema2:DIR``,
``vischema_plus:DIR`` (DIR in the layout of `vms_zoo.data.vischema`). The first three serve GAN training;
predictors need maps, so only ``synthetic`` and the VISCHEMA kinds serve them.
"""

import os

import keras
import numpy as np

from vms_zoo.vms import check_images, check_maps

NEEDS_DIR = ("folder", "lsun", "vischema1", "vischema2", "vischema_plus")
KINDS = ("synthetic",) + NEEDS_DIR
GAN_KINDS = ("synthetic", "folder", "lsun")


def parse(spec):
    """(kind, path or None) of a spec string; a ValueError saying which form is expected otherwise."""
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
    return kind, path


def _synthetic(image_size, seed, num_train, num_test=None):
    from vms_zoo.data.synthetic import SyntheticScenes

    sizes = {k: v for k, v in (("num_train", num_train), ("num_test", num_test)) if v is not None}
    return SyntheticScenes(image_size=image_size, seed=seed, **sizes)


def _collect(ds, what, total=None, limit=None):
    """Concatenated batches of a tf.data pipeline, at most `limit` images, with a progress bar."""
    target = total if limit is None else min(limit, total or limit)
    bar = keras.utils.Progbar(target, unit_name="image")
    batches, n = [], 0
    print(f"Loading {what}", flush=True)
    for batch in ds:
        batches.append(batch.numpy())
        n += len(batches[-1])
        bar.update(min(n, target) if target else n)
        if limit is not None and n >= limit:
            break
    return np.concatenate(batches)[:limit] if batches else None


def _folder_images(path, image_size, limit):
    from vms_zoo.data import images

    paths = images.list_images(path)
    expected = f"a folder of image files ({', '.join(images.IMAGE_EXTS)}) for --data folder:DIR"
    if not paths:
        raise ValueError(f"{path}: no images found; expected {expected}.")
    ds = images.image_folder(path, image_size, batch_size=256, shuffle=False, skip_unreadable=True)
    array = _collect(ds, f"images from {path}", len(paths), limit)
    if array is None:
        raise ValueError(f"{path}: none of its {len(paths)} image files could be decoded; expected {expected}.")
    if limit is None and len(array) < len(paths):
        print(f"Skipped {len(paths) - len(array)} unreadable files under {path} "
              "(vms_zoo.data.images.clean_image_folder moves them aside).", flush=True)
    return array


def gan_images(spec, image_size, category=None, num_scenes=None, seed=0, limit=None):
    """float32 (N, S, S, 3) images in [0, 1] for GAN training from a spec; `limit` caps N.

    `category` picks synthetic scenes (a name in `synthetic.CATEGORIES`; None or "all" keeps every scene,
    of `num_scenes` rendered) and the LSUN category (required); folders take every image and ignore it.
    """
    kind, path = parse(spec)
    if kind == "synthetic":
        from vms_zoo.data.synthetic import CATEGORIES

        if category not in (None, "all") and category not in CATEGORIES:
            raise ValueError(f"Unknown synthetic category {category!r}: expected all or one of "
                             f"{', '.join(CATEGORIES)}.")
        data = _synthetic(image_size, seed, num_scenes).arrays("train", progress=False)
        array = data["images"]
        if category not in (None, "all"):
            array = array[data["categories"] == CATEGORIES.index(category)]
        array, what = array[:limit], f"Synthetic {category or 'all'} scenes"
    elif kind == "folder":
        array, what = _folder_images(path, image_size, limit), f"Images under {path}"
    elif kind == "lsun":
        from vms_zoo.data import images

        if category in (None, "all"):
            raise ValueError("--data lsun:DIR needs one LSUN category, e.g. kitchen or living_room.")
        zipped = os.path.isfile(os.path.join(path, f"{category}_train_lmdb.zip"))
        try:
            ds = images.lsun(category, data_dir=path, manual_dir=path if zipped else None,
                             image_size=image_size, batch_size=256, shuffle=False)
        except FileNotFoundError as e:
            raise ValueError(str(e)) from None
        array, what = _collect(ds, f"LSUN {category} from {path}", limit=limit), f"LSUN {category} images"
    else:
        raise ValueError(f"--data {kind} holds VMS maps for predictors; GANs train on --data synthetic, "
                         "folder:DIR or lsun:DIR.")
    return check_images(array, image_size, what=what)


def predictor_data(spec, image_size, seed=0, num_train=None, num_test=None):
    """(train, test, category names) for predictor training; train/test are dicts of numpy arrays.

    Each dict holds images (N, S, S, 3) and vms (N, S, S, 2), both float32 in [0, 1], and categories (N,)
    indices into the names. `num_train` / `num_test` size the synthetic splits (VISCHEMA has its own).
    """
    kind, path = parse(spec)
    if kind == "synthetic":
        from vms_zoo.data.synthetic import CATEGORIES

        scenes = _synthetic(image_size, seed, num_train, num_test)
        print(f"Rendering {scenes.split_size('train')} training and {scenes.split_size('test')} test scenes "
              f"at {image_size} px", flush=True)
        train, test, names = scenes.arrays("train"), scenes.arrays("test"), CATEGORIES
    elif kind in GAN_KINDS:
        raise ValueError(f"--data {kind}:DIR has no VMS maps: predictors need VISCHEMA-layout data "
                         "(--data vischema1:DIR, vischema2:DIR, vischema_plus:DIR) or synthetic.")
    else:
        from vms_zoo.data import vischema

        train, test = (vischema.load_vischema(path, config=kind, split=split, image_size=image_size, seed=seed)
                       for split in ("train", "test"))
        names = vischema.CATEGORIES
    for split, data in (("train", train), ("test", test)):
        data["images"] = check_images(data["images"], image_size, what=f"{spec} {split} images")
        data["vms"] = check_maps(data["vms"], image_size, what=f"{spec} {split} VMS maps")
    return train, test, names
