"""The preset folder format and loading: keras-hub's layout, its reader and writer, sha256 checks, downloads,
model cards and `PresetMixin`; named presets are looked up in `vms_zoo.registry`.

A preset is a name -> the model class and config, how it trains (`vms_zoo.training`), its card metadata and
its weights (a file shipped in `checkpoints/<name>/`, which installs inside the package, or a URL; always with
a sha256). Each family keeps its presets beside its model (`vms_zoo/models/<family>/presets.py`) and registers
them with its class in `vms_zoo.registry`. Paper presets reproduce the published configurations (GPU-sized);
`*synthetic*` presets are CPU-sized and trained here on the embedded synthetic scenes.

A preset *folder* has keras-hub's layout, so a model you trained yourself loads like a named one:

    config.json         {"class": "VMSPredictor", "config": {...}}: a registered class, never a module path
    model.weights.h5    model.save_weights()
    metadata.json       the card fields, parameter count and weights sha256
    README.md           the card, for people

    model = load("vms_vae_synthetic_64")         # named preset, published weights
    model = load("vms_vae_m8", weights=False)    # the architecture only, ready to train
    model = load("./runs/my_model")              # a preset folder (a path: ./, ../, / or a separator)
    model = VMSPredictor.from_preset("vms_vae_synthetic_64")

The families import this module (`PresetMixin`, `nested`, `LICENSE`, ...). It imports only the ground floor
(`vms_zoo.io`, `vms_zoo.registry`); the registry finds the families as plugins, by importing the packages under
`vms_zoo/models/` when a preset is first looked up, so no import leads from here back up to a family.
"""

import hashlib
import inspect
import json
import math
import numbers
import os
from pathlib import Path

import keras

from vms_zoo import registry as families
from vms_zoo.io import write_atomically

CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE, CARD_FILE = "config.json", "model.weights.h5", "metadata.json", "README.md"
# Every preset's metadata has these; save_preset adds class, parameters, weights_sha256, keras_version, backend.
METADATA_FIELDS = ("description", "paper", "dataset", "resolution", "metrics", "recipe", "license")
LICENSE = "Apache-2.0"  # the zoo's own code and the weights we trained; a third-party family states its own


def nested(class_name, config):
    """A sub-model (e.g. a GAN's frozen predictor) inside a config, in keras' serialised form."""
    return {"class_name": class_name, "registered_name": f"vms_zoo>{class_name}", "module": None, "config": config}


def train_command(name, training, scorer="vms_vae_m8"):
    """The command a preset's card prints to train it. Presets on synthetic scenes need nothing else; the others
    name their data folder, and the paper GANs the predictors trained beforehand (each with its own card's
    command): the feedback predictor and an independent scorer of the pairs."""
    if training["data"] == "synthetic":
        return f"vms-zoo train {name} --output runs/{name}"
    if "predictor" not in training:
        return f"vms-zoo train {name} --data {training['data']}:DIR --output runs/{name}"
    return (f"vms-zoo train {name} --data {training['data']}:DIR --set training.predictor=./runs/"
            f"{training['predictor']} training.scorer=./runs/{scorer} --output runs/{name}")


def make_preset(class_name, config, *, description, paper, dataset, training=None, weights=None, metrics=None,
                resolution=None, recipe=None, license=LICENSE, **metadata):
    """A preset entry, the one way families write them: the class and config, how it trains (a family's
    settings dataclass `.as_dict()`, or None when its authors trained it), its weights (None, a shipped
    {"file", "sha256"}, a URL, or a family's own loader) and its card fields. `recipe` defaults to
    `train_command`, filled in by `with_recipes` once the preset has a name; extra keywords join the metadata."""
    return {"class": class_name, "config": config, "training": training, "weights": weights,
            "metadata": {"description": description, "paper": paper, "dataset": dataset,
                         "resolution": resolution or config["image_size"], "metrics": metrics or {},
                         "recipe": recipe, "license": license, **metadata}}


def with_recipes(presets):
    """`presets` ({name: make_preset(...)}) with each missing recipe made by `train_command`."""
    for name, preset in presets.items():
        if preset["metadata"]["recipe"] is None:
            preset["metadata"]["recipe"] = train_command(name, preset["training"])
    return presets


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


CONFIG_KEYS = {"class", "config"}  # all a preset folder's config.json may hold
KERAS_CONFIG_KEYS = {"name", "trainable", "dtype"}  # what keras.Model.get_config adds to ours
# Bounds on a config's sizes, checked before anything is allocated (an untrusted config.json cannot ask for
# terabytes): image sides up to 1024 px, every other width or count up to 65536; then, from each class' closed
# form, at most 2^28 parameters (1 GiB as float32; the largest preset, memgan_256, has 68 million) and 2^29
# activations per image (2 GiB; memgan_256: 90 million, a VGG16 predictor at 1024 px: 300 million). Our choice.
MAX_IMAGE_SIZE, MAX_WIDTH = 1024, 65536
MAX_PARAMETERS, MAX_ACTIVATIONS = 2**28, 2**29
KERAS_CONFIG_TYPES = {"name": str, "trainable": bool}


def checkpoints_dir():
    """Where shipped weights are: inside the installed package, else the source checkout's checkpoints/."""
    here = Path(__file__).resolve().parent
    installed = here / "checkpoints"
    return installed if installed.is_dir() else here.parent / "checkpoints"


def check_config(cls, config, where="config"):
    """Refuse, before anything is built, keys `cls` does not take, values of the wrong type (`cls.config_types`),
    sizes out of bounds and configs whose closed-form size (`cls.size_estimate`) is over the limits; nested
    predictor configs included."""
    if not isinstance(config, dict):
        raise ValueError(f"{where} must be a JSON object, got {type(config).__name__}.")
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "args", "kwargs"} | KERAS_CONFIG_KEYS
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ValueError(f"{where} has keys {cls.__name__} does not take: {', '.join(unknown)}.")
    types = {**KERAS_CONFIG_TYPES, **getattr(cls, "config_types", {})}
    for key, value in config.items():
        if key in types and not _matches(value, types[key]):
            raise ValueError(f"{where}: {key}={value!r} must be {_describe(types[key])}.")
        values = value if isinstance(value, (list, tuple)) else [value]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values) and values:
            limit = MAX_IMAGE_SIZE if key == "image_size" else MAX_WIDTH
            if any(v < 0 or v > limit for v in values):
                raise ValueError(f"{where}: {key}={value!r} is outside 0..{limit}.")
    dtype = config.get("dtype")
    if not (dtype is None or isinstance(dtype, str)
            or (isinstance(dtype, dict) and str(dtype.get("module", "")).split(".")[0] == "keras")):
        raise ValueError(f"{where}: dtype must be a dtype name or a Keras dtype policy, got {dtype!r}.")
    predictor = config.get("predictor")
    if isinstance(predictor, dict):
        name = predictor.get("registered_name") or predictor.get("class_name")
        if name not in ("VMSPredictor", "vms_zoo>VMSPredictor"):
            raise ValueError(f"{where}: the feedback predictor must be a VMSPredictor, got class {name!r}.")
        check_config(families.model_class("VMSPredictor"), predictor.get("config"), f"{where} (predictor)")
    if hasattr(cls, "size_estimate"):
        parameters, activations = size_estimate(cls, config)
        for amount, limit, what in ((parameters, MAX_PARAMETERS, "parameters"),
                                    (activations, MAX_ACTIVATIONS, "activations per image")):
            if amount > limit:
                raise ValueError(f"{where} would build {amount:,} {what} ({amount * 4 / 2**30:.1f} GiB as float32); "
                                 f"the limit is {limit:,} ({limit * 4 / 2**30:.0f} GiB).")


def _matches(value, expected):
    """Whether a config value is what `expected` says: a type (float takes any finite number, int no bool),
    None, [type] (a list of those), a tuple of strings (one of them) or a tuple of alternatives."""
    if expected is None:
        return value is None
    if isinstance(expected, list):
        return isinstance(value, (list, tuple)) and all(_matches(v, expected[0]) for v in value)
    if isinstance(expected, tuple):
        if all(isinstance(e, str) for e in expected):
            return isinstance(value, str) and value in expected
        return any(_matches(value, e) for e in expected)
    if isinstance(value, bool) and expected is not bool:
        return False
    if expected is int:
        return isinstance(value, numbers.Integral)
    if expected is float:
        return isinstance(value, numbers.Real) and math.isfinite(value)
    return isinstance(value, expected)


def _describe(expected):
    """What `expected` (see `_matches`) asks for, in words."""
    if expected is None:
        return "null"
    if isinstance(expected, list):
        return f"a list of {_describe(expected[0]).split(' ', 1)[1]}s"
    if isinstance(expected, tuple):
        if all(isinstance(e, str) for e in expected):
            return "one of " + ", ".join(repr(e) for e in expected)
        return " or ".join(_describe(e) for e in expected)
    return {int: "an integer", float: "a finite number", bool: "true or false", str: "a string",
            dict: "an object"}.get(expected, f"a {expected.__name__}")


def size_estimate(cls, config):
    """(parameters, activations per sample) of `cls` built from `config`, its defaults filled in, from the class'
    closed form: nothing is built."""
    defaults = {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
                if p.default is not inspect.Parameter.empty}
    return cls.size_estimate({**defaults, **config})


def build(class_name, config):
    """An (untrained) model from a registered class name and a checked config."""
    cls = families.model_class(class_name)
    check_config(cls, config)
    return cls.from_config(dict(config))


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


def weights_status(name):
    """"shipped", "download", "not published", "missing", or for weights converted from a wheel "converted" (in
    the cache) or "from wheel" (converted on first load)."""
    spec = families.preset(name).get("weights")
    if not spec:
        return "not published"
    if "convert" in spec:
        return "converted" if spec["cached"]().exists() else "from wheel"
    if (checkpoints_dir() / name / spec.get("file", WEIGHTS_FILE)).exists():
        return "shipped"
    return "download" if spec.get("url") else "missing"


def preset_weights(name):
    """Local path of a named preset's weights: the shipped file, else a verified download."""
    preset = families.preset(name)
    spec = preset.get("weights")
    if not spec:
        raise ValueError(f"Preset {name!r} has no published weights yet. Train them with: "
                         f"{preset['metadata']['recipe']} and load the output folder with vms_zoo.load(FOLDER), "
                         f"or use load({name!r}, weights=False) for the untrained architecture.")
    if "convert" in spec:  # the owner's wheel: converted on first use, then read from the cache
        return str(spec["convert"]())
    local = checkpoints_dir() / name / spec.get("file", WEIGHTS_FILE)
    if local.exists() or not spec.get("url"):
        if not local.exists():
            raise FileNotFoundError(f"Preset {name!r} ships its weights as {local}, which is missing "
                                    "(reinstall vms-zoo: the wheel carries checkpoints/).")
        check_sha256(local, spec["sha256"])
        return str(local)
    return download(spec["url"], spec["sha256"], f"{name}-{spec['sha256'][:12]}.weights.h5")


# --- loading and saving -----------------------------------------------------------------------------------


def is_path(text):
    """Whether a --preset argument names a folder rather than a preset: ./x, ../x, /x, ~/x or any separator."""
    return os.sep in text or "/" in text or text.startswith(("~", "."))


def read_preset_dir(directory):
    """(class name, config, metadata) of a preset folder, checked: a registered class and no other keys."""
    directory = Path(directory)
    config_path = directory / CONFIG_FILE
    if not config_path.exists():
        raise FileNotFoundError(f"{directory} is not a preset folder: it has no {CONFIG_FILE}.")
    spec = read_json_object(config_path)
    if "class" not in spec or "config" not in spec:
        raise ValueError(f"{config_path} must be a JSON object with \"class\" and \"config\".")
    unknown = sorted(set(spec) - CONFIG_KEYS)
    if unknown:
        hint = " (vms_zoo 0.1 folders named a module: delete that key)" if "module" in unknown else ""
        raise ValueError(f"{config_path} has unknown keys {', '.join(unknown)}; expected only "
                         f"\"class\" and \"config\"{hint}.")
    check_config(families.model_class(spec["class"]), spec["config"], str(config_path))
    metadata_path = directory / METADATA_FILE
    metadata = read_json_object(metadata_path) if metadata_path.exists() else {}
    sha256 = metadata.get("weights_sha256")
    if sha256 is not None and not (isinstance(sha256, str) and len(sha256) == 64
                                   and all(c in "0123456789abcdef" for c in sha256.lower())):
        raise ValueError(f"{metadata_path}: weights_sha256 must be 64 hex digits, got {sha256!r}.")
    return spec["class"], spec["config"], metadata


def read_json_object(path):
    """The JSON object in `path`; an unreadable, empty, malformed or non-object file is a one-line ValueError
    naming the file and what is wrong with it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} cannot be read as text ({type(e).__name__}: {e}).") from None
    if not text.strip():
        raise ValueError(f"{path} is empty; expected a JSON object.")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}.") from None
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")
        raise ValueError(f"{path} must be a JSON object, got {kind}.")
    return value


def locate(name_or_dir):
    """(class name, config, weights file or None, where) of a preset name or preset folder.

    A registered name always wins over a folder of the same name in the working directory: a folder is
    given as a path.
    """
    name_or_dir = os.fspath(name_or_dir)
    if name_or_dir in families.presets() or not is_path(name_or_dir):
        preset = families.preset(name_or_dir)
        return preset["class"], preset["config"], None, name_or_dir
    directory = os.path.expanduser(name_or_dir)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"No preset folder {name_or_dir!r} (and it is not a preset name).")
    class_name, config, metadata = read_preset_dir(directory)
    return class_name, config, os.path.join(directory, WEIGHTS_FILE), directory


def load(name_or_dir, weights=True, **overrides):
    """A model from a preset name or a preset folder, like keras.applications' `weights=`.

    weights: True (the preset's weights: shipped, downloaded or the folder's model.weights.h5), False (the
    architecture only; paper presets then fetch their ImageNet encoder as training would) or a path to a
    .weights.h5 file. `overrides` replace config entries (e.g. image_size for a tiny test model).
    """
    class_name, config, weights_file, where = locate(name_or_dir)
    if weights is True:
        if weights_file is None:
            weights_file = preset_weights(where)
        elif not os.path.exists(weights_file):
            raise FileNotFoundError(f"Preset folder {where} has no {WEIGHTS_FILE}; pass weights=False for the "
                                    "architecture only.")
        else:
            metadata = read_preset_dir(where)[2]
            if metadata.get("weights_sha256"):
                check_sha256(weights_file, metadata["weights_sha256"])
    if weights is not False:
        config = without_downloads(config)
    model = build(class_name, {**config, **overrides})
    if weights is not False:
        model.load_weights(weights_file if weights is True else os.fspath(weights))
    return model


def save_preset(model, directory, metadata=None):
    """Write `model` as a preset folder (config.json, model.weights.h5, metadata.json, README.md card).

    `metadata` gives the card fields (METADATA_FIELDS); the parameter count and weights sha256 are measured
    here, so a card cannot disagree with its weights. Each file is written to a temporary name and renamed;
    config.json comes last, so a folder with a config is complete. Returns the folder as a Path.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if getattr(model, "optimizer", None) is not None:
        # A compiled model's weights file also holds the optimizer slots (3x the size); presets publish weights.
        bare = type(model).from_config(without_downloads(model.get_config()))
        bare.set_weights(model.get_weights())
        if hasattr(model, "growth_state"):
            bare.sync_graph()
        model = bare
    class_name = type(model).__name__
    families.model_class(class_name)  # only registered classes are written
    write_atomically(directory / WEIGHTS_FILE, model.save_weights)
    metadata = {
        **(metadata or {}),
        "class": class_name,
        "parameters": int(model.count_params()),
        "weights_sha256": file_sha256(directory / WEIGHTS_FILE),
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
    }
    write_atomically(directory / METADATA_FILE, lambda p: Path(p).write_text(json.dumps(metadata, indent=2)))
    write_atomically(directory / CARD_FILE, lambda p: Path(p).write_text(model_card(directory.name, metadata)))
    spec = {"class": class_name, "config": model.get_config()}
    write_atomically(directory / CONFIG_FILE, lambda p: Path(p).write_text(json.dumps(spec, indent=2)))
    return directory


class PresetMixin:
    """`from_preset` / `save_to_preset` on every model class, as in keras-hub."""

    @classmethod
    def from_preset(cls, preset, weights=True, **overrides):
        """The model of a preset name or preset folder; it must be of this class."""
        class_name = locate(preset)[0]
        if not issubclass(families.model_class(class_name), cls):
            raise ValueError(f"Preset {preset!r} is a {class_name}, not a {cls.__name__}.")
        return load(preset, weights=weights, **overrides)

    def save_to_preset(self, directory, metadata=None):
        """Write this model as a preset folder (see `save_preset`)."""
        return save_preset(self, directory, metadata)


def _flat(metrics, prefix=""):
    """{"model": {"rho2d": 0.5}} -> [("model.rho2d", 0.5)]: nested metric reports as card table rows."""
    rows = []
    for key, value in metrics.items():
        if isinstance(value, dict):
            rows += _flat(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def _metric_text(key, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return str(value)
    if key.startswith("p_") or key == "p":
        return "< 1e-300" if value < 1e-300 else f"{value:.3g}"  # a p-value never reads as 0
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def _metrics_table(metrics):
    """Metrics as readable Markdown tables: one column per report (held out, baseline, ...) where the reports
    share their keys, one table per report where they do not (pair scores and their targets), else one row per
    metric."""
    groups = {k: v for k, v in metrics.items() if isinstance(v, dict) and not any(isinstance(x, dict) for x in v.values())}
    if groups and len(groups) == len(metrics):
        if len({tuple(sorted(g)) for g in groups.values()}) > 1:
            lines = []
            for name, group in groups.items():
                lines += [f"**{name.replace('_', ' ')}**", "", "| metric | value |", "|---|---|"]
                lines += [f"| {k} | {_metric_text(k, v)} |" for k, v in group.items()] + [""]
            return lines[:-1]
        names = list(groups)
        keys = list(dict.fromkeys(k for g in groups.values() for k in g))
        lines = ["| metric | " + " | ".join(n.replace("_", " ") for n in names) + " |",
                 "|---|" + "---|" * len(names)]
        lines += [f"| {k} | " + " | ".join(_metric_text(k, groups[n][k]) for n in names) + " |" for k in keys]
        return lines
    return ["| metric | value |", "|---|---|"] + [f"| {k.replace('.', ' / ')} | {_metric_text(k.split('.')[-1], v)} |"
                                                  for k, v in _flat(metrics)]


def _training_facts(metadata):
    """What the metadata records of how long the run trained: seconds, images seen, generator steps."""
    facts, seconds = [], metadata.get("training_seconds")
    if isinstance(seconds, dict):
        facts.append("Time: " + ", ".join(f"{k} {v:g} s" for k, v in seconds.items() if isinstance(v, (int, float))))
    elif isinstance(seconds, (int, float)):
        facts.append(f"Time: {seconds:g} s")
    for key, what in (("images_seen", "Images seen"), ("generator_steps", "Generator steps")):
        if isinstance(metadata.get(key), int):
            facts.append(f"{what}: {metadata[key]:,}")
    return facts


_INTENDED_USE = {
    "predictor": "Predicting visual memory schema maps (true: regions that make a scene memorable; false: regions "
                 "that make people think they have seen it) of scene images, for research on image memorability.",
    "generator": "Generating scenes at a chosen memorability for research on image memorability and for "
                 "building stimuli of memory experiments.",
    "scorer": "Scoring the memorability of images for research.",
}


def model_card(name, metadata):
    """The README.md of a preset folder, in the sections of Hugging Face / keras-hub model cards: model, intended
    use, training data, metrics, limitations, citation, licence, and how to use it."""
    cls = metadata.get("class", "?")
    task = families.model_class(cls).task if cls in families.classes() else None
    dataset = metadata.get("dataset")
    lines = [f"# {name}", ""]
    if metadata.get("smoke"):
        lines += ["> **Smoke run:** trained for 2 steps at the smallest size to check the data and setup. Its "
                  "weights are not a trained model; do not use its outputs.", ""]
    lines += [metadata.get("description", ""), "", "## Model", "", "| | |", "|---|---|"]
    fields = [("Class", f"`{cls}`"), ("Task", task), ("Paper", metadata.get("paper")),
              ("Resolution", metadata.get("resolution") and f"{metadata['resolution']} x {metadata['resolution']}"),
              ("Parameters", f"{metadata['parameters']:,}" if "parameters" in metadata else None),
              ("Weights", metadata.get("weights_sha256") and f"`{WEIGHTS_FILE}`, sha256 `{metadata['weights_sha256']}`"),
              ("Backend", metadata.get("backend") and f"{metadata['backend']}, Keras {metadata.get('keras_version')}")]
    lines += [f"| {key} | {value} |" for key, value in fields if value]
    lines += ["", "## Intended use", "", _INTENDED_USE.get(task, "Research on image memorability.")]
    lines += ["", "## Training data", "", f"Dataset: {dataset or 'not recorded'}."]
    if metadata.get("recipe"):
        when = f" ({metadata['date']})" if metadata.get("date") else ""
        lines += ["", f"Trained with{when}:", "", "```", metadata["recipe"], "```"]
        today = (families.presets().get(name) or {}).get("metadata", {}).get("recipe")
        if today and today != metadata["recipe"] and not metadata.get("smoke"):
            lines += ["", "The same preset with the command line of this version of vms_zoo:", "",
                      "```", today, "```"]
    facts = _training_facts(metadata)
    if facts:
        lines += [""] + [f"- {fact}" for fact in facts]
    metrics = metadata.get("metrics") or {}
    lines += ["", "## Metrics", ""] + (_metrics_table(metrics) if metrics else ["None recorded."])
    limits = []
    if metadata.get("smoke"):
        limits.append("A smoke run: not trained; its numbers mean nothing.")
    if dataset and str(dataset).startswith("synthetic"):
        limits.append("Trained on synthetic scenes only: on photographs its outputs are illustrative, not a fitted "
                      "human memorability schema.")
    limits.append("Memorability and schema maps come from small groups of observers; they describe averages, "
                  "not any one person, and are not for decisions about people.")
    lines += ["", "## Limitations", ""] + [f"- {text}" for text in limits]
    lines += ["", "## Citation", "", metadata.get("paper") or "See the vms_zoo CITATION.cff."]
    lines += ["", "## Licence", "", metadata.get("license") or "Not recorded."]
    if metadata.get("notice"):
        lines += ["", metadata["notice"]]
    where = name if name in families.presets() else f"./path/to/{name}"
    command = "generate --memorability low high --pairs 4" if task == "generator" else "predict photo.jpg"
    lines += ["", "## Use", "", "```python", "import vms_zoo", "", f'model = vms_zoo.load("{where}")', "```", "",
              "```", f"vms-zoo {command} --preset {where} --output out/", "```", ""]
    return "\n".join(lines)
