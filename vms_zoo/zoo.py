"""The zoo: presets as data, models loaded by name or from a preset folder, and the folder writer.

A preset is a name -> the model class and config, how it was trained, its card metadata and its weights
(a file shipped in `checkpoints/<name>/` or a URL, always with a sha256). Paper presets reproduce the
published configurations (GPU-sized); `*synthetic*` presets are CPU-sized and trained here on the
embedded synthetic scenes.

A preset *folder* has keras-hub's layout, so a model you trained yourself loads like a named one:

    config.json         {"class", "module", "config"} (what a recipe's --output folder also holds)
    model.weights.h5    model.save_weights()
    metadata.json       the card fields, parameter count and weights sha256
    README.md           the card, for people

    model = load("vms_vae_synthetic_64")         # named preset, published weights
    model = load("vms_vae_m8", weights=False)    # the architecture only, ready to train
    model = load("runs/my_model")                # a preset folder or a recipe's output folder
"""

import difflib
import hashlib
import importlib
import json
import os
import pkgutil
from pathlib import Path

import keras

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"  # shipped weights (source checkout)
CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE, CARD_FILE = "config.json", "model.weights.h5", "metadata.json", "README.md"
# Every preset's metadata has these; save_preset adds class, parameters, weights_sha256, keras_version, backend.
METADATA_FIELDS = ("description", "paper", "dataset", "resolution", "metrics", "recipe", "license")
LICENSE = "Apache-2.0"

PREDICTOR_PAPER = "Kyle-Davidson, Bors & Evans, Predicting visual memory schemas with variational autoencoders, BMVC 2019"
GENERATOR_PAPER = ("Kyle-Davidson, Bors & Evans, Modulating human memory for complex scenes with artificially "
                   "generated images, Scientific Reports 12, 1583 (2022)")

# The paper's optimisation: Adam 1e-4, batch 32, 250 epochs x 20 steps, shift/zoom/flip augmentation.
_PAPER_TRAINING = {"learning_rate": 1e-4, "batch_size": 32, "epochs": 250, "steps_per_epoch": 20, "augment": True}
_PAPER_VAE = {"image_size": 224, "encoder": "vgg16", "encoder_weights": "imagenet", "decoder_filters": [256, 128, 64, 32]}
_SYNTHETIC_VAE = {
    "image_size": 64, "encoder": "conv", "encoder_filters": [32, 64, 96, 128], "dense_units": 128, "latent_dim": 32,
    "decoder_filters": [128, 96, 64, 32], "reconstruction": "mse", "kl_weight": 0.1, "kl_warmup_steps": 1000,
    "l2": 0.02, "seed": 0,
}


def nested(class_name, config):
    """A sub-model (e.g. W-MEMGAN's frozen predictor) inside a config, in keras' serialised form."""
    return {"class_name": class_name, "registered_name": f"vms_zoo>{class_name}", "module": None, "config": config}


# MEMGAN: ProGAN's widths with the 128 and 256 blocks at half capacity (the paper says only that they are halved).
_MEMGAN_PAPER = {"predictor": nested("VMSPredictor", {**_PAPER_VAE, "dense_units": 64, "latent_dim": 8}),
                 "image_size": 256, "latent_dim": 512, "condition": "map", "map_size": 10,
                 "filters": [512, 512, 512, 512, 256, 64, 32], "alpha": 10.0, "ema_beta": 0.999, "group_size": 4}
# Each block faded in over 2.4M images and stabilised over 2.4M more, 4x4 trained on 4.8M, the last block on
# 2.4M in all (our reading of the paper's epochs); ProGAN's batch sizes per resolution.
_MEMGAN_PAPER_TRAINING = {"fade_images": [0] + [2_400_000] * 5 + [1_200_000],
                          "stabilise_images": [4_800_000] + [2_400_000] * 5 + [1_200_000],
                          "batch_sizes": [128, 128, 128, 64, 32, 16, 8],
                          "learning_rate": 1.5e-3, "gp_weight": 10.0, "drift_weight": 0.001, "n_critic": 1}


# CPU MEMGAN: grows 4 -> 32 px; the recipe trains its own 32 px feedback predictor (this architecture) and an
# independent scorer. A shorter moving average (0.99) suits a run of ~1000 steps.
_MEMGAN_SYNTHETIC = {"predictor": nested("VMSPredictor", {"image_size": 32, "encoder": "conv", "encoder_weights": None,
                                                          "kl_weight": 1e-3, "seed": 0}),
                     "image_size": 32, "latent_dim": 64, "condition": "map", "map_size": 10, "filters": [64, 64, 32, 16],
                     "alpha": 10.0, "ema_beta": 0.99, "group_size": 4, "seed": 0}
_MEMGAN_SYNTHETIC_TRAINING = {"fade_images": [0, 3000, 3000, 3000], "stabilise_images": [3000, 3000, 3000, 6000],
                              "batch_sizes": [32, 32, 32, 16], "learning_rate": 1.5e-3, "gp_weight": 10.0,
                              "drift_weight": 0.001, "n_critic": 1}


def _predictor_recipe(preset, data="vischema1"):
    return (f"python recipes/train_vms_predictor.py --preset {preset} --data {data} --data-dir PATH "
            f"--output runs/{preset}")


def _paper_predictor(preset, number, dense_units, latent_dim, reconstruction):
    """A Table 1 configuration of the BMVC 2019 predictor: frozen ImageNet VGG16 at 224 px, no published weights."""
    return {
        "class": "VMSPredictor",
        "config": {**_PAPER_VAE, "dense_units": dense_units, "latent_dim": latent_dim, "reconstruction": reconstruction},
        "training": _PAPER_TRAINING,
        "weights": None,
        "metadata": {"description": f"Paper config {number}: n={dense_units}, m={latent_dim}, {reconstruction.upper()}.",
                     "paper": PREDICTOR_PAPER, "dataset": "vischema1", "resolution": 224, "metrics": {},
                     "recipe": _predictor_recipe(preset), "license": LICENSE},
    }


def _wmemgan_recipe(preset, condition, size, extra=""):
    return (f"python recipes/train_wmemgan.py --condition {condition} --alpha 10 --image-size {size}{extra} "
            f"--out runs/{preset}")


# Adding a preset is one dict. "weights": None until published; then {"sha256", "file"} for a file in
# checkpoints/<name>/ and/or {"sha256", "url"} for a download (the local file wins when both exist).
PRESETS = {
    # --- VMS predictor, BMVC 2019 (Table 1 configurations) -------------------------------------------------
    "vms_vae_m8": _paper_predictor("vms_vae_m8", 1, dense_units=64, latent_dim=8, reconstruction="mse"),
    "vms_vae_m8_l1": _paper_predictor("vms_vae_m8_l1", 2, dense_units=64, latent_dim=8, reconstruction="l1"),
    "vms_vae_m32": _paper_predictor("vms_vae_m32", 3, dense_units=128, latent_dim=32, reconstruction="mse"),
    # --- W-MEMGAN, Scientific Reports 2022: 128 px LSUN kitchens, alpha = 10 ----------------------------------
    # Provisional configs (the W-MEMGAN defaults at 128 px with the paper predictor as feedback): replace them
    # with the authors' values. The feedback predictor's weights travel inside the W-MEMGAN weights file.
    "wmemgan_score_128": {
        "class": "WMEMGAN",
        "config": {"predictor": nested("VMSPredictor", {**_PAPER_VAE, "dense_units": 128, "latent_dim": 32}),
                   "image_size": 128, "latent_dim": 128, "condition": "score", "filters": 256},
        "weights": None,
        "metadata": {"description": "W-MEMGAN, single-score condition: G(z, score) -> 128 px kitchen.",
                     "paper": GENERATOR_PAPER, "dataset": "lsun_kitchen", "resolution": 128, "metrics": {},
                     "recipe": _wmemgan_recipe("wmemgan_score_128", "score", 128, " --epochs 500"), "license": LICENSE},
    },
    "wmemgan_map_128": {
        "class": "WMEMGAN",
        "config": {"predictor": nested("VMSPredictor", {**_PAPER_VAE, "dense_units": 128, "latent_dim": 32}),
                   "image_size": 128, "latent_dim": 128, "condition": "map", "map_size": 10, "filters": 256},
        "weights": None,
        "metadata": {"description": "W-MEMGAN, 10x10 target-map condition: G(z, M) -> 128 px kitchen.",
                     "paper": GENERATOR_PAPER, "dataset": "lsun_kitchen", "resolution": 128, "metrics": {},
                     "recipe": _wmemgan_recipe("wmemgan_map_128", "map", 128, " --epochs 500"), "license": LICENSE},
    },
    # --- MEMGAN (progressive GAN), Scientific Reports 2022: 256 px ------------------------------------------
    "memgan_256": {
        "class": "MEMGAN",
        "config": _MEMGAN_PAPER,
        "training": _MEMGAN_PAPER_TRAINING,
        "weights": None,
        "metadata": {"description": "MEMGAN: progressive GAN with memorability feedback at every resolution, "
                                    "256 px kitchens, alpha = 10.",
                     "paper": GENERATOR_PAPER, "dataset": "lsun_kitchen", "resolution": 256, "metrics": {},
                     "recipe": "python recipes/train_memgan.py --preset memgan_256 --images kitchens256.npy "
                               "--predictor PREDICTOR.keras --scorer SCORER.keras --out runs/memgan_256",
                     "license": LICENSE},
    },
    "memgan_foil_256": {
        "class": "MEMGAN",
        "config": {**_MEMGAN_PAPER, "alpha": 0.0},  # the memorability weight: no feedback for foils
        "training": _MEMGAN_PAPER_TRAINING,
        "weights": None,
        "metadata": {"description": "The experiment's foil generator: MEMGAN without memorability feedback "
                                    "(alpha = 0), 256 px living rooms.",
                     "paper": GENERATOR_PAPER, "dataset": "lsun_living_room", "resolution": 256, "metrics": {},
                     "recipe": "python recipes/train_memgan.py --preset memgan_foil_256 --images living256.npy "
                               "--predictor PREDICTOR.keras --scorer SCORER.keras --out runs/memgan_foil_256",
                     "license": LICENSE},
    },
    # --- CPU presets trained here on the embedded synthetic scenes ------------------------------------------
    # The W-MEMGAN ones use vms_vae_synthetic_64 as feedback, as recipes/train_wmemgan.py does; with a
    # standardized score condition, copy the trained model's "score_scale" into the config with its weights.
    "vms_vae_synthetic_64": {
        "class": "VMSPredictor",
        "config": _SYNTHETIC_VAE,
        # No augmentation: the synthetic stream already gives 8000 distinct scenes, and shifted/zoomed images with
        # black borders pull the batch-norm statistics away from those of clean held-out scenes.
        "training": {"learning_rate": 1e-3, "batch_size": 32, "epochs": 30, "steps_per_epoch": None,
                     "augment": False, "cosine_decay": True, "num_train": 8000, "num_test": 1000},
        "weights": {"file": WEIGHTS_FILE, "sha256": "7d51904a60759ebe219aaf6244c4158846b7f41bf1a9609f7a8090cead471cb1"},
        "metadata": {"description": "CPU preset: small trainable conv encoder, 64 px synthetic scenes.",
                     "paper": PREDICTOR_PAPER, "dataset": "synthetic", "resolution": 64,
                     # held-out synthetic test scenes (1000); the category-mean baseline scores rho2D 0.199 / 0.196
                     "metrics": {"rho2d_true": 0.799, "rho2d_false": 0.699, "mse255_true": 516.7, "mse255_false": 472.5},
                     "recipe": "python recipes/train_vms_predictor.py --preset vms_vae_synthetic_64 "
                               "--output runs/vms_vae_synthetic_64",
                     "license": LICENSE},
    },
    "vms_vae_synthetic_scorer_32": {
        "class": "VMSPredictor",
        # The generators' independent judge: another architecture, input size and data seed than their feedback.
        "config": {"image_size": 32, "encoder": "conv", "encoder_weights": None, "encoder_filters": [32, 64, 128],
                   "dense_units": 64, "latent_dim": 16, "decoder_filters": [128, 64, 32, 16], "reconstruction": "mse",
                   "kl_weight": 0.1, "kl_warmup_steps": 1000, "l2": 0.02, "seed": 1},
        "weights": {"file": WEIGHTS_FILE, "sha256": "52e96b6475f4ebf94c47862d6996fdc0637037e98bc391e73c66cf20c7b5c169"},
        "metadata": {"description": "Independent VMS predictor that scores generated pairs (32 px, synthetic data seed 1).",
                     "paper": PREDICTOR_PAPER, "dataset": "synthetic", "resolution": 32,
                     "metrics": {"rho2d_true": 0.612, "rho2d_false": 0.476},
                     "recipe": "python recipes/train_wmemgan.py --predictor runs/predictor64 --stop-after-predictors "
                               "--out runs/scorer",
                     "license": LICENSE},
    },
    "memgan_synthetic_32": {
        "class": "MEMGAN",
        "config": _MEMGAN_SYNTHETIC,
        "training": _MEMGAN_SYNTHETIC_TRAINING,
        "weights": {"file": WEIGHTS_FILE, "sha256": "5486aa6dc3ab44e2a90458b430da15249d7bad6eb9750e103b85d9e555fa642f"},
        "metadata": {"description": "CPU preset: MEMGAN growing 4 -> 32 px on synthetic kitchens, 10x10 map condition.",
                     "paper": GENERATOR_PAPER, "dataset": "synthetic", "resolution": 32, "metrics": {},
                     "recipe": "python recipes/train_memgan.py --out runs/memgan_synthetic_32", "license": LICENSE},
    },
    "memgan_foil_synthetic_32": {
        "class": "MEMGAN",
        "config": {**_MEMGAN_SYNTHETIC, "alpha": 0.0},  # the memorability weight: no feedback for foils
        "training": _MEMGAN_SYNTHETIC_TRAINING,
        "weights": {"file": WEIGHTS_FILE, "sha256": "a9885c84afdd861e6bb09d95d3aaf5d404978d0eb48b508b31d724e9adfd639b"},
        "metadata": {"description": "CPU foil preset: the same MEMGAN without memorability feedback (alpha = 0).",
                     "paper": GENERATOR_PAPER, "dataset": "synthetic", "resolution": 32, "metrics": {},
                     "recipe": "python recipes/train_memgan.py --preset memgan_foil_synthetic_32 --out runs/memgan_foil_synthetic_32", "license": LICENSE},
    },
    "wmemgan_synthetic_score_32": {
        "class": "WMEMGAN",
        # score_scale: mean and std of the feedback predictor's scores on the real training kitchens (M is a z-score).
        "config": {"predictor": nested("VMSPredictor", _SYNTHETIC_VAE),
                   "image_size": 32, "latent_dim": 64, "condition": "score", "filters": 128, "seed": 0,
                   "score_scale": [0.06274096059830238, 0.03460666045824046]},
        "weights": {"file": WEIGHTS_FILE, "sha256": "d6c8bf0fa3ad9de07ff68bd14bc65fce8332041d6149c615d77d0e60a6382764"},
        "metadata": {"description": "CPU preset: W-MEMGAN, score condition, 32 px synthetic kitchens.",
                     "paper": GENERATOR_PAPER, "dataset": "synthetic", "resolution": 32, "metrics": {},
                     "recipe": _wmemgan_recipe("wmemgan_synthetic_score_32", "score", 32), "license": LICENSE},
    },
    "wmemgan_synthetic_map_32": {
        "class": "WMEMGAN",
        "config": {"predictor": nested("VMSPredictor", _SYNTHETIC_VAE),
                   "image_size": 32, "latent_dim": 64, "condition": "map", "map_size": 10, "filters": 128, "seed": 0},
        "weights": {"file": WEIGHTS_FILE, "sha256": "8d746cbcc22279230a9afa8661169b886c4792e4097a837c7a9c65b027fcae36"},
        "metadata": {"description": "CPU preset: W-MEMGAN, 10x10 map condition, 32 px synthetic kitchens.",
                     "paper": GENERATOR_PAPER, "dataset": "synthetic", "resolution": 32, "metrics": {},
                     "recipe": _wmemgan_recipe("wmemgan_synthetic_map_32", "map", 32), "license": LICENSE},
    },
}


def list_presets():
    """Names of every preset, sorted."""
    return sorted(PRESETS)


def get_preset(name):
    """The preset dict for `name`; an unknown name raises a ValueError suggesting close matches."""
    if name not in PRESETS:
        close = difflib.get_close_matches(name, PRESETS, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"Unknown preset {name!r}.{hint} Known presets: {', '.join(list_presets())}.")
    return PRESETS[name]


# --- building ---------------------------------------------------------------------------------------------


def model_class(name, module=None):
    """The registered Keras class for "VMSPredictor" (or "package>Class"), importing where it is defined.

    Generic on purpose: every module under vms_zoo.models registers its classes when imported, so a new model
    needs no code here.
    """
    registered = name if ">" in name else f"vms_zoo>{name}"
    if module:
        importlib.import_module(module)
    cls = keras.saving.get_registered_object(registered)
    if cls is None:
        import vms_zoo.models

        for info in pkgutil.iter_modules(vms_zoo.models.__path__, "vms_zoo.models."):
            importlib.import_module(info.name)
        cls = keras.saving.get_registered_object(registered)
    if cls is None:
        raise ValueError(f"No model class {name!r} is registered (is its module in vms_zoo/models/?).")
    return cls


def build(class_name, config, module=None):
    """An (untrained) model from a class name and config: the class's own from_config."""
    return model_class(class_name, module).from_config(dict(config))


def without_downloads(config):
    """`config` with every "*_weights" entry (e.g. encoder_weights="imagenet") set to None, nested ones too.

    Those name pretrained sub-model weights to fetch when training starts; a checkpoint already holds them.
    """
    if isinstance(config, dict):
        return {k: None if k.endswith("_weights") and isinstance(v, str) else without_downloads(v)
                for k, v in config.items()}
    if isinstance(config, list):
        return [without_downloads(v) for v in config]
    return config


# --- weights ----------------------------------------------------------------------------------------------


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
    if actual != sha256:
        raise ValueError(f"Weights file {path} has sha256 {actual}, expected {sha256}: the file is corrupt or "
                         f"belongs to another model; replace it.")


def download(url, sha256, fname):
    """`url` into the Keras cache (~/.keras/vms_zoo, or $KERAS_HOME) via keras.utils.get_file, sha256-checked.

    keras.utils.get_file leaves a file that fails its hash in the cache; it is removed here so a retry starts
    clean.
    """
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


def preset_weights(name):
    """Local path of a named preset's weights: the shipped file, else a verified download."""
    preset = get_preset(name)
    spec = preset.get("weights")
    if not spec:
        raise ValueError(f"Preset {name!r} has no published weights yet. Train them with: "
                         f"{preset['metadata']['recipe']} and load the output folder with vms_zoo.load(FOLDER), "
                         f"or use load({name!r}, weights=False) for the untrained architecture.")
    local = CHECKPOINTS / name / spec.get("file", WEIGHTS_FILE)
    if local.exists() or not spec.get("url"):
        if not local.exists():
            raise FileNotFoundError(f"Preset {name!r} ships its weights as {local}, which is missing "
                                    "(install from a source checkout that has checkpoints/).")
        check_sha256(local, spec["sha256"])
        return str(local)
    return download(spec["url"], spec["sha256"], f"{name}-{spec['sha256'][:12]}.weights.h5")


# --- loading and saving -----------------------------------------------------------------------------------


def read_preset_dir(directory):
    """(class name, module or None, config, metadata) of a preset folder or a recipe's output folder."""
    directory = Path(directory)
    config_path = directory / CONFIG_FILE
    if not config_path.exists():
        raise FileNotFoundError(f"{directory} is not a preset folder: it has no {CONFIG_FILE}.")
    spec = json.loads(config_path.read_text())
    metadata_path = directory / METADATA_FILE
    metadata = json.loads(metadata_path.read_text()) if metadata_path.exists() else {}
    return spec["class"], spec.get("module"), spec["config"], metadata


def load(name_or_dir, weights=True, **overrides):
    """A model from a preset name or a preset folder, like keras.applications' `weights=`.

    weights: True (the preset's weights: shipped, downloaded or the folder's model.weights.h5), False (the
    architecture only; paper presets then fetch their ImageNet encoder as training would) or a path to a
    .weights.h5 file. `overrides` replace config entries (e.g. image_size for a tiny test model).
    """
    name_or_dir = os.fspath(name_or_dir)
    if os.path.isdir(name_or_dir):
        class_name, module, config, metadata = read_preset_dir(name_or_dir)
        weights_file = os.path.join(name_or_dir, WEIGHTS_FILE)
        if weights is True:
            if not os.path.exists(weights_file):
                raise FileNotFoundError(f"Preset folder {name_or_dir} has no {WEIGHTS_FILE}; pass weights=False "
                                        "for the architecture only.")
            if metadata.get("weights_sha256"):
                check_sha256(weights_file, metadata["weights_sha256"])
    elif name_or_dir in PRESETS or not (os.sep in name_or_dir or "/" in name_or_dir or name_or_dir.startswith(".")):
        preset = get_preset(name_or_dir)
        class_name, module, config = preset["class"], None, preset["config"]
        weights_file = preset_weights(name_or_dir) if weights is True else None
    else:
        raise FileNotFoundError(f"No preset folder {name_or_dir!r} (and it is not a preset name).")
    if weights is not False:
        config = without_downloads(config)
    model = build(class_name, {**config, **overrides}, module)
    if weights is not False:
        model.load_weights(weights_file if weights is True else os.fspath(weights))
    return model


def save_preset(model, directory, metadata=None):
    """Write `model` as a preset folder (config.json, model.weights.h5, metadata.json, README.md card).

    `metadata` gives the card fields (METADATA_FIELDS); the parameter count and weights sha256 are measured
    here, so a card cannot disagree with its weights. Returns the folder as a Path.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if getattr(model, "optimizer", None) is not None:
        # A compiled model's weights file also holds the optimizer slots (3x the size); presets publish weights.
        bare = type(model).from_config(without_downloads(model.get_config()))
        bare.set_weights(model.get_weights())
        model = bare
    model.save_weights(directory / WEIGHTS_FILE)
    class_name = keras.saving.get_registered_name(type(model)).removeprefix("vms_zoo>")
    spec = {"class": class_name, "module": type(model).__module__, "config": model.get_config()}
    (directory / CONFIG_FILE).write_text(json.dumps(spec, indent=2))
    metadata = {
        **(metadata or {}),
        "class": class_name,
        "parameters": int(model.count_params()),
        "weights_sha256": file_sha256(directory / WEIGHTS_FILE),
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
    }
    (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
    (directory / CARD_FILE).write_text(model_card(directory.name, metadata))
    return directory


def _flat(metrics, prefix=""):
    """{"model": {"rho2d": 0.5}} -> [("model.rho2d", 0.5)]: nested metric reports as card table rows."""
    rows = []
    for key, value in metrics.items():
        if isinstance(value, dict):
            rows += _flat(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def model_card(name, metadata):
    """The README.md of a preset folder: what the model is, what it was trained on, how well, how to use it."""
    fields = [("Model", f"`{metadata.get('class', '?')}`"), ("Paper", metadata.get("paper")),
              ("Dataset", metadata.get("dataset")),
              ("Resolution", metadata.get("resolution") and f"{metadata['resolution']} x {metadata['resolution']}"),
              ("Parameters", f"{metadata['parameters']:,}" if "parameters" in metadata else None),
              ("Weights", metadata.get("weights_sha256") and f"`{WEIGHTS_FILE}`, sha256 `{metadata['weights_sha256']}`"),
              ("Trained with", metadata.get("recipe") and f"`{metadata['recipe']}`"),
              ("Backend", metadata.get("backend") and f"{metadata['backend']}, Keras {metadata.get('keras_version')}"),
              ("License", metadata.get("license"))]
    lines = [f"# {name}", "", metadata.get("description", ""), "", "| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in fields if value]
    metrics = _flat(metadata.get("metrics") or {})
    if metrics:
        lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {key} | {value:.4g} |" if isinstance(value, float) else f"| {key} | {value} |"
                  for key, value in metrics]
    where = name if name in PRESETS else f"path/to/{name}"
    generator = hasattr(model_class(metadata["class"]), "generate") if "class" in metadata else False
    command = "generate --memorability low high --pairs 4" if generator else "predict photo.jpg"
    lines += ["", "## Use", "", "```python", "import vms_zoo", "", f'model = vms_zoo.load("{where}")', "```", "",
              "```", f"vms-zoo {command} --preset {where} --output out/", "```", ""]
    return "\n".join(lines)
