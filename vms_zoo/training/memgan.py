"""Training a MEMGAN preset: progressive growing with memorability feedback, then the low/high pair evaluation.

Interrupt it at any time and run the same command again: the checkpoint in the output folder (weights, growth
stage, fade, image count, moving-average generator and optimizers) continues the run where it stopped. The
preset's batch sizes are global batches, split over the replicas when training is distributed. A finished run
whose last stage's stabilise_images is raised continues from that checkpoint too, into the longer last phase.

Its CSV log has a row every checkpoint_every steps and at each phase's end (`GrowthLog`), and its curves mark
where each phase starts.
"""

import math

import keras
import numpy as np

from vms_zoo.data.sources import box_downsample
from vms_zoo.models.memgan import MEMGAN, GrowthSchedule
from vms_zoo.models.memgan.presets import growth_settings
from vms_zoo.settings import MEMGANTraining
from vms_zoo.training.callbacks import Checkpoint, GrowthCallback, SampleGrid, Throughput
from vms_zoo.training.gan import finish, prepare, save_log_curves
from vms_zoo.training.callbacks import GrowthLog
from vms_zoo.training.runs import CSV_LOG
from vms_zoo.vms import check_images

CHECKPOINT = "memgan.checkpoint.weights.h5"


def train_memgan(resolved, output, verbose=1, callbacks=()):
    """Train `resolved` (see `vms_zoo.training.resolve`); writes the preset folder, samples/ and pairs.json.

    `training.schedule` "authors_code" trains the authors' code's schedule instead of the settings' own (a smoke
    run's tiny phases are its schedule)."""
    if not resolved.get("smoke"):
        resolved = {**resolved, "training": growth_settings(resolved["training"])}
    config, training, predictor, scorer, images, record = prepare(resolved, output, verbose, stream=True)

    gan = MEMGAN(predictor, **config)
    adam = MEMGANTraining.adam(training)
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
    grow(gan, images, schedule, seed=training["seed"], verbose=verbose, callbacks=[
        Checkpoint(str(checkpoint), every=training["checkpoint_every"]),
        GrowthLog(str(output / CSV_LOG), every=training["checkpoint_every"]),
        SampleGrid(str(output / "samples"), low=training["low"], high=training["high"], seed=training["seed"]),
        *callbacks, *([Throughput(images_seen=lambda: gan.growth_state()[2], total_images=schedule.total_images)]
                      if verbose else [])])
    record.update(images_seen=gan.growth_state()[2], resolution=gan.resolution)
    save_log_curves(output, phase_marks(schedule, gan.sizes))
    return finish(gan, resolved, output, record, predictor, scorer, training["low"], training["high"], verbose)


def grow(model, images, schedule, callbacks=(), seed=0, verbose="auto"):
    """Train `model` (compiled) through `schedule` from its stored image count: one `fit` per phase.

    Run it again after an interruption, with the weights restored (see `Checkpoint`): it continues at the
    same stage, fade and image count. `images` (N, S, S, 3) in [0, 1] with S = model.image_size.
    """
    if schedule.num_stages != len(model.sizes):
        raise ValueError(f"The schedule has {schedule.num_stages} stages, the model {len(model.sizes)}.")
    growth = GrowthCallback(schedule)
    while True:
        seen = model.growth_state()[2]
        phase = schedule.phase_at(seen)
        if phase is None:
            return model
        stage, fading, start, end, batch_size = phase
        model.set_growth_state(*schedule.state_at(seen))
        steps = math.ceil((end - seen) / batch_size)
        data = ImageStream(images, model.sizes[stage], batch_size, seen, steps, seed)
        if verbose:
            print(f"Stage {stage} ({model.sizes[stage]}px, {'fade' if fading else 'stabilise'}): "
                  f"images {seen} -> {end}, batch {batch_size}")
        model.fit(data, epochs=1, callbacks=[growth, *callbacks], verbose=verbose)


class ImageStream(keras.utils.PyDataset):
    """Batches of real images at one resolution, from a fixed stream position: resumes exactly.

    Image k of the stream is `images[order_p[k % N]]` with a permutation per pass p seeded by (seed, p),
    so the data order depends on the image count alone. Images are box-downsampled to `resolution`.
    `images` may be float32 in [0, 1], uint8 storage (e.g. a memory-mapped .npy of a large image set,
    divided by 255 here) or a `vms_zoo.data.sources.LazyImages` (folders, LSUN), which decodes only the batch's
    images; batches always leave in [0, 1].
    """

    def __init__(self, images, resolution, batch_size, start, steps, seed=0):
        super().__init__()
        self.images, self.resolution, self.batch_size = images, int(resolution), int(batch_size)
        self.start, self.steps, self.seed = int(start), int(steps), seed
        factor = images.shape[1] // self.resolution
        if factor < 1 or images.shape[1] != factor * self.resolution:
            raise ValueError(f"Image side {images.shape[1]} is not a multiple of resolution {resolution}.")

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        n = len(self.images)
        ks = np.arange(self.start + index * self.batch_size, self.start + (index + 1) * self.batch_size)
        passes = {p: np.random.default_rng((self.seed, p)).permutation(n) for p in np.unique(ks // n)}
        x = self.images[[passes[k // n][k % n] for k in ks]].astype("float32")
        if self.images.dtype == np.uint8:
            x /= 255.0
        else:  # the image contract, batch by batch (the array may be a memory-mapped file too big to scan)
            check_images(x, what=f"Images {ks[0]}..{ks[-1]} of the stream")
        return box_downsample(x, self.resolution)


def phase_marks(schedule, sizes):
    """(images seen, label) where each growth phase starts: "8px fade", "8px", ..."""
    return [(start, f"{sizes[stage]}px{' fade' if fading else ''}") for stage, fading, start, _, _ in schedule.phases]

