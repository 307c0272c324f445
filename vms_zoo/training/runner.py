"""`train`: one preset's training run from its name to a written preset folder, for every family; the frozen
predictors a GAN run loads or trains first (`load_or_train`); the smoke run's check of the written folder."""

import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from vms_zoo import presets
from vms_zoo import registry as families
from vms_zoo.io import write_text
from vms_zoo.presets import get_preset, is_path, model_class, registry, weights_status
from vms_zoo.training.runs import (RECORD_FILE, SMOKE_FILE, TENSORBOARD_DIR, finished_message, finished_record, mark_run, run_folder,
                                   run_state)
from vms_zoo.training.callbacks import check_tensorboard, tensorboard_callback
from vms_zoo.training.resolving import SMOKE_SCORER, check_trainable, resolve


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


def trainers():
    """The training function of each model class that can be trained."""
    return {f.model_class.__name__: f.train_function() for f in families.registered().values() if f.trainer}


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

    if preset not in registry():
        get_preset(preset)  # the one-line unknown-preset error with suggestions
    check_trainable(preset)
    resolved = resolve(preset, overrides, data, smoke)
    if dry_run:
        return resolved
    check_data(resolved["training"]["data"], model_class(resolved["class"]).task)  # before anything is written
    if tensorboard:
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
                callbacks = list(callbacks) + ([tensorboard_callback(output / TENSORBOARD_DIR)] if tensorboard else [])
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


def smoke_check(resolved, output, verbose=1):
    """Load a smoke run's folder as a user would and generate low / high-target pairs (GANs) or predict the
    test images' maps (predictors) into output/smoke.png: proof the folder works. Returns the file, the shape
    and range of what was drawn and the loaded model's config."""
    import keras
    import numpy as np

    from vms_zoo import backend
    from vms_zoo.visualize import save_grid, save_prediction_grid

    folder = str(output) if is_path(str(output)) else os.path.join(".", str(output))  # a path, never a preset name
    model, training, path = presets.load(folder), resolved["training"], Path(output) / SMOKE_FILE
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
    from vms_zoo.data.sources import SOURCES

    if reference is None and smoke and role == "scorer":
        reference = SMOKE_SCORER
    if reference is None:
        raise ValueError(f"This preset names no {role}: give one (a trained preset folder, e.g. --set "
                         f"training.{role}=./runs/my_{role}).")
    if is_path(reference):
        return presets.load(reference)
    if weights_status(reference) in ("shipped", "download", "from wheel", "converted"):
        return presets.load(reference)
    folder = Path(output) / role
    if not (folder / "config.json").exists():
        data = get_preset(reference)["training"]["data"]
        needs_dir = SOURCES[data].needs_dir
        if needs_dir and not smoke:
            raise ValueError(f"The {role} {reference} trains on {data}:DIR, which this run cannot give it: train it "
                             f"first (vms-zoo train {reference} --data {data}:DIR --output runs/{reference}) and "
                             f"pass it with --set training.{role}=./runs/{reference}.")
        if verbose:
            print(f"Training the {role} ({reference}) into {folder}", flush=True)
        mark_run(output, trained_here=sorted({*run_state(output).get("trained_here", []), role}))
        train(reference, data="synthetic" if needs_dir else data, output=folder, verbose=verbose,
              smoke=smoke)
    return presets.load(str(folder))  # output/role always holds a separator: read as a folder
