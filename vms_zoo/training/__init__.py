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

from vms_zoo.training.callbacks import Checkpoint, GrowthCallback, SampleGrid, StepLimit, Throughput
from vms_zoo.training.runner import dtype_policy, load_or_train, smoke_check, train, trainers
from vms_zoo.training.runs import (CSV_LOG, CURVES_FILE, LOCK_FILE, RECORD_FILE, RESUME_STATE, RUN_FILE, RUN_OUTPUTS,
                                   SESSION_KEYS, SMOKE_FILE, STATE, TENSORBOARD_DIR, TRAINED_HERE, finished_message,
                                   finished_record, mark_run, read_run, run_folder, run_state, start_run, would_write)
from vms_zoo.training.resolving import (MAX_SEED, OPTIONAL_TRAINING, SMOKE_BATCH, SMOKE_IMAGES, SMOKE_SCORER,
                                       SMOKE_STEPS, SMOKE_WIDTH, check_settings, check_trainable, resolve,
                                       setting_kinds, smallest_size, smoke_settings)

__all__ = [
    "CSV_LOG", "CURVES_FILE", "LOCK_FILE", "MAX_SEED", "OPTIONAL_TRAINING", "RECORD_FILE",
    "RESUME_STATE", "RUN_FILE", "RUN_OUTPUTS", "SESSION_KEYS", "SMOKE_BATCH", "SMOKE_FILE", "SMOKE_IMAGES",
    "SMOKE_SCORER", "SMOKE_STEPS", "SMOKE_WIDTH", "STATE", "TENSORBOARD_DIR", "TRAINED_HERE", "Checkpoint",
    "GrowthCallback",
    "SampleGrid", "StepLimit", "Throughput", "check_settings", "check_trainable", "dtype_policy",
    "finished_message", "finished_record", "load_or_train", "mark_run", "read_run", "resolve", "run_folder",
    "run_state", "setting_kinds", "smallest_size", "smoke_check", "smoke_settings", "start_run", "train", "trainers", "would_write",
]
