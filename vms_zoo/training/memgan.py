"""Training a MEMGAN preset: progressive growing with memorability feedback, then the low/high pair evaluation.

Interrupt it at any time and run the same command again: the checkpoint in the output folder (weights, growth
stage, fade, image count, moving-average generator and optimizers) continues the run where it stopped. The
preset's batch sizes are global batches, split over the replicas when training is distributed. A finished run
whose last stage's stabilise_images is raised continues from that checkpoint too, into the longer last phase.

Its CSV log has a row every checkpoint_every steps and at each phase's end (`GrowthLog`), and its curves mark
where each phase starts.
"""

import keras

from vms_zoo.models.memgan import MEMGAN, Checkpoint, GrowthSchedule, train
from vms_zoo.models.memgan.presets import growth_settings
from vms_zoo.models.memorability_gan import SampleGrid
from vms_zoo.training.gan import finish, prepare, save_log_curves
from vms_zoo.training.logs import GrowthLog
from vms_zoo.training.progress import Throughput

CHECKPOINT = "memgan.checkpoint.weights.h5"


def train_memgan(resolved, output, verbose=1, callbacks=()):
    """Train `resolved` (see `vms_zoo.training.resolve`); writes the preset folder, samples/ and pairs.json.

    `training.schedule` "authors_code" trains the authors' code's schedule instead of the settings' own (a smoke
    run's tiny phases are its schedule)."""
    if not resolved.get("smoke"):
        resolved = {**resolved, "training": growth_settings(resolved["training"])}
    config, training, predictor, scorer, images, record = prepare(resolved, output, verbose, stream=True)

    gan = MEMGAN(predictor, **config)
    adam = dict(learning_rate=training["learning_rate"], beta_1=0.0, beta_2=0.99, epsilon=1e-8)
    gan.compile(d_optimizer=keras.optimizers.Adam(**adam), g_optimizer=keras.optimizers.Adam(**adam),
                n_critic=training["n_critic"], gp_weight=training["gp_weight"], drift_weight=training["drift_weight"])
    checkpoint = output / CHECKPOINT
    if checkpoint.exists():  # run.json guarantees it belongs to this very run
        gan.load_weights(str(checkpoint))
        stage, fade, seen = gan.growth_state()
        if verbose:
            print(f"Resuming at stage {stage} ({gan.sizes[stage]}px), fade {fade:.3f}, {seen} images seen", flush=True)
    schedule = GrowthSchedule(len(gan.sizes), training["fade_images"], training["stabilise_images"],
                              training["batch_sizes"])
    if verbose:
        print(f"MEMGAN {resolved['preset']}: alpha={gan.alpha:g}, {len(images)} training images, "
              f"{schedule.total_images} images in the schedule", flush=True)
    from vms_zoo.training import CSV_LOG

    train(gan, images, schedule, seed=training["seed"], verbose=verbose, callbacks=[
        Checkpoint(str(checkpoint), every=training["checkpoint_every"]),
        GrowthLog(str(output / CSV_LOG), every=training["checkpoint_every"]),
        SampleGrid(str(output / "samples"), low=training["low"], high=training["high"], seed=training["seed"]),
        *callbacks, *([Throughput(images_seen=lambda: gan.growth_state()[2], total_images=schedule.total_images)]
                      if verbose else [])])
    record.update(images_seen=gan.growth_state()[2], resolution=gan.resolution)
    save_log_curves(output, phase_marks(schedule, gan.sizes))
    return finish(gan, resolved, output, record, predictor, scorer, training["low"], training["high"], verbose)


def phase_marks(schedule, sizes):
    """(images seen, label) where each growth phase starts: "8px fade", "8px", ..."""
    return [(start, f"{sizes[stage]}px{' fade' if fading else ''}") for stage, fading, start, _, _ in schedule.phases]

