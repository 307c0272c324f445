"""Run folders: run.json (the settings a run was started with, and its own state), the lock that keeps a second
run out, resume and --overwrite, and what a finished run left behind.

A rerun with the same settings on the same folder resumes; one with other settings is refused unless
`overwrite`; a finished predictor run whose epochs rise continues from its weights. Nothing here trains.
"""

import contextlib
import json
import os
import shutil
from pathlib import Path

from vms_zoo import registry as families
from vms_zoo.io import write_text
from vms_zoo.presets import is_path, registry, weights_status

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
               "metrics.json", "predictions.png", "pairs.json", "samples", SMOKE_FILE, CURVES_FILE) + FEATURE_CACHE \
              + SWEEP_FILES + RESUME_STATE + TRAINED_HERE
# Settings that may change when a run is resumed: how it runs, not what it computes.
SESSION_KEYS = ("verbose", "distribute", "tensorboard")


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
    """Whether `settings` only lengthen the finished run in `output` (its family's `Longer.is_longer`), and the
    run kept the state to go on from (`Longer.state_file`): such a run trains on for the extra length; a shorter
    run, or any other change, is refused."""
    longer = _longer(settings)
    same_otherwise = (longer is not None and saved.get("class") == settings["class"]
                      and not _diff({**saved, "training": None}, {**settings, "training": None}))
    return (same_otherwise and bool(run_state(output).get("finished"))
            and os.path.exists(Path(output) / longer.state_file) and _is_longer(longer, saved, settings))


def longer_hint(output, saved, settings):
    """The end of a refusal: which change a finished run trains on from, or why this one cannot."""
    longer = _longer(settings)
    if longer is None:
        return ""
    if (saved.get("class") == settings["class"] and bool(run_state(output).get("finished"))
            and _is_longer(longer, saved, settings) and not os.path.exists(Path(output) / longer.state_file)):
        return f" (Only the length rose, but the run kept no {longer.state_file} to train on from.)"
    return f" (A finished run trains on when only {longer.setting} rises.)"


def _longer(settings):
    try:
        return families.family(settings.get("class")).longer
    except ValueError:  # a class no family registers: refused elsewhere
        return None


def _is_longer(longer, saved, settings):
    try:
        return bool(longer.is_longer(saved.get("training") or {}, settings.get("training") or {},
                                     settings.get("config") or {}))
    except (TypeError, ValueError, KeyError):
        return False


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
    folder = str(output) if is_path(str(output)) else os.path.join(".", str(output))
    results = [name for name in ("metrics.json", "pairs.json", SMOKE_FILE) if (Path(output) / name).exists()]
    return (f"{output} holds this run, finished {run_state(output)['finished']}: nothing to train. Results: "
            f"{Path(output) / RECORD_FILE}" + "".join(f", {Path(output) / name}" for name in results)
            + f"; the model loads with vms_zoo.load({folder!r}). Pass --overwrite to train it again.")
