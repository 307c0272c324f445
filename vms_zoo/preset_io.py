"""The ground floor of presets: the folder's file names, sha256 checks, downloads and the small helpers a
family's preset entries are written with (atomic writes are `vms_zoo.io.write_atomically`).

Model families import this module (and `vms_zoo.presets` for `PresetMixin`); it imports nothing of vms_zoo, so
no family, and nothing a family imports, can lead back into a family.
"""

import hashlib
import os

CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE, CARD_FILE = "config.json", "model.weights.h5", "metadata.json", "README.md"
# Every preset's metadata has these; save_preset adds class, parameters, weights_sha256, keras_version, backend.
METADATA_FIELDS = ("description", "paper", "dataset", "resolution", "metrics", "recipe", "license")
LICENSE = "Apache-2.0"  # the zoo's own code and the weights we trained; a third-party family states its own


def nested(class_name, config):
    """A sub-model (e.g. a GAN's frozen predictor) inside a config, in keras' serialised form."""
    return {"class_name": class_name, "registered_name": f"vms_zoo>{class_name}", "module": None, "config": config}


def gan_recipe(name, training, scorer="vms_vae_m8"):
    """The command a GAN preset's card prints. Paper presets train on real images with predictors trained
    beforehand (their cards' own commands): the feedback predictor, and an independent scorer of the pairs."""
    if training["data"] == "synthetic":
        return f"vms-zoo train {name} --output runs/{name}"
    return (f"vms-zoo train {name} --data {training['data']}:DIR --set training.predictor=./runs/"
            f"{training['predictor']} training.scorer=./runs/{scorer} --output runs/{name}")


def file_sha256(path):
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(path, sha256):
    """Raise a ValueError unless the file at `path` has this sha256 (a corrupt or stale weights file)."""
    actual = file_sha256(path)
    if actual != sha256.lower():
        raise ValueError(f"Weights file {path} has sha256 {actual}, expected {sha256}: the file is corrupt or "
                         f"belongs to another model; replace it.")


def download(url, sha256, fname):
    """`url` into the Keras cache (~/.keras/vms_zoo, or $KERAS_HOME) via keras.utils.get_file, sha256-checked.

    keras.utils.get_file leaves a file that fails its hash in the cache; it is removed here so a retry starts
    clean.
    """
    import keras

    cache_dir = os.path.expanduser(os.environ.get("KERAS_HOME", os.path.join("~", ".keras")))
    os.makedirs(os.path.join(cache_dir, "vms_zoo"), exist_ok=True)
    target = os.path.join(cache_dir, "vms_zoo", fname)
    try:
        return keras.utils.get_file(fname, origin=url, file_hash=sha256, hash_algorithm="sha256",
                                    cache_dir=cache_dir, cache_subdir="vms_zoo")
    except ValueError as e:
        if "hash" not in str(e):
            raise
        if os.path.exists(target):
            os.remove(target)
        raise ValueError(f"The file downloaded from {url} does not match sha256 {sha256} (corrupt or changed "
                         f"download); it was removed, nothing was loaded.") from None
