"""Training a W-MEMGAN preset: fit on real images, then score low/high target pairs with an independent predictor.

The single-score condition is standardized when the settings say `score_scale`: M is the z-score of the
feedback predictor's memorability on the real training images, drawn from N(0, 1) in training (the paper's
Gaussian M), and the pairs use the real scores' quantiles (as z-scores) as the low / high targets, so both
are memorability levels real scenes reach.

With fresh real batches (`"real_batches": "fresh"`, WGAN-GP's way) each of the n_critic critic updates of a step
takes its own `batch_size` real images, so an epoch (one pass over the images) has n_critic times fewer
generator steps than with "reuse". An epoch is the whole steps the images fill (`EpochBatches`: a seeded order
per epoch, only a step's images decoded), so every update gets a full batch.

Every epoch ends with a backup (weights, both optimizers and the noise state) that the run keeps when it
finishes: an interrupted run resumes at its last whole epoch, and a finished one given more epochs trains on
from where it stopped, exactly as one trained straight to the longer length.
"""

import json
import time

import keras

from vms_zoo.data.sources import EpochBatches
from vms_zoo.models.wmemgan import WMEMGAN
from vms_zoo.settings import WMEMGANTraining
from vms_zoo.training.callbacks import SampleGrid, StepLimit, Throughput
from vms_zoo.training.gan import finish, prepare, save_log_curves, standardize_scores
from vms_zoo.training.callbacks import CSVLog


def train_wmemgan(resolved, output, verbose=1, callbacks=()):
    """Train `resolved` (see `vms_zoo.training.resolve`); writes the preset folder, samples/ and pairs.json."""
    config, training, predictor, scorer, images, record = prepare(resolved, output, verbose, stream=True)

    scale = standardize_scores(config, training, predictor, images)
    low, high = (scale["low"], scale["high"]) if scale else (None, None)
    record["score_scale"] = scale
    gan = WMEMGAN(predictor, **config)
    adam = WMEMGANTraining.adam(training)
    real_batches = WMEMGANTraining.real_batches_of(training)
    gan.compile(d_optimizer=keras.optimizers.Adam(**adam), g_optimizer=keras.optimizers.Adam(**adam),
                n_critic=training["n_critic"], gp_weight=training["gp_weight"], real_batches=real_batches)
    per_step = training["batch_size"] * (training["n_critic"] if real_batches == "fresh" else 1)  # real images
    whole_steps(range(len(images)), per_step)  # refuses images that fill no step
    # A batch is one generator step's real images (`MemorabilityGAN.fit`); an epoch, the whole steps they fill.
    data = EpochBatches(images, None, per_step, training["seed"])
    grids = SampleGrid(str(output / "samples"), low=low, high=high, seed=training["seed"],
                       every=training["sample_every"])
    from vms_zoo.training.runs import CSV_LOG

    limit = StepLimit(training.get("max_minutes"), training.get("max_steps"))
    limit.steps = steps_before(output)  # max_steps caps the run's steps, those before a continuation included
    # Kept when the run finishes: what a longer run continues from.
    backup = keras.callbacks.BackupAndRestore(str(output / ".vms_zoo_backup"), delete_checkpoint=False)
    if verbose:
        print(f"Training W-MEMGAN ({config['condition']}, alpha={gan.alpha:g}) on {len(images)} images", flush=True)
    progress = [Throughput(images_per_step=per_step, max_steps=training.get("max_steps"),
                           max_minutes=training.get("max_minutes"))] if verbose else []
    start = time.time()
    history = gan.fit(data, epochs=training["epochs"], shuffle=False, verbose=2 if verbose else 0,
                      callbacks=[backup, data.epoch_callback(), CSVLog(output / CSV_LOG), grids, limit, *callbacks,
                                 *progress])
    # The history of every epoch, those before a resume or continuation too: the CSV log's.
    log = save_log_curves(output)
    record["gan"] = {"train_seconds": round(time.time() - start, 1), "generator_steps": limit.steps,
                     "history": {k: v for k, v in log.items() if k != "epoch"} if log else
                     {k: [float(v) for v in vals] for k, vals in history.history.items()}}
    return finish(gan, resolved, output, record, predictor, scorer, low, high, verbose)


def steps_before(output):
    """The generator steps of the finished run a continued one goes on from (0 for a new run)."""
    from vms_zoo.training.runs import RECORD_FILE, run_state

    if not run_state(output).get("continued_from"):
        return 0
    try:
        return int(json.loads((output / RECORD_FILE).read_text())["gan"]["generator_steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def whole_steps(images, step):
    """The first images that fill whole train steps of `step` images (`fit` would end an epoch on a short one)."""
    if len(images) < step:
        raise ValueError(f"A train step takes batch_size * n_critic = {step} real images, but there are only "
                         f"{len(images)}: lower batch_size or n_critic, or add images.")
    return images[:len(images) // step * step]
