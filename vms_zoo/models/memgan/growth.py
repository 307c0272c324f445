"""MEMGAN's growth: the schedule in images seen, the callback that moves stage and fade during `fit`, the
resumable real-image stream, and the loop that runs one `fit` per phase."""

import math

import keras
import numpy as np

from vms_zoo.data.sources import box_downsample
from vms_zoo.io import write_atomically
from vms_zoo.vms import check_images


def _per_stage(value, num_stages, what):
    values = list(value) if isinstance(value, (list, tuple)) else [value] * num_stages
    if len(values) != num_stages or any(int(v) < 0 for v in values):
        raise ValueError(f"{what} needs one non-negative value per stage ({num_stages}), got {value}.")
    return [int(v) for v in values]


class GrowthSchedule:
    """Progressive growing counted in images seen: per resolution a fade phase, then a stabilise phase.

    `fade_images`, `stabilise_images` and `batch_sizes` are one number for every stage or a list with one
    per stage (stage 0, 4x4, has nothing to fade). Each phase is a tuple (stage, fading, start, end,
    batch_size), start and end in images seen; `state_at(images_seen)` gives the stage and fade there.
    Phase lengths are rounded up to whole batches, so every phase starts exactly where the last one ended.
    """

    def __init__(self, num_stages, fade_images, stabilise_images, batch_sizes):
        self.num_stages = int(num_stages)
        self.fade_images = _per_stage(fade_images, self.num_stages, "fade_images")
        self.stabilise_images = _per_stage(stabilise_images, self.num_stages, "stabilise_images")
        self.batch_sizes = _per_stage(batch_sizes, self.num_stages, "batch_sizes")
        if min(self.batch_sizes) < 1:
            raise ValueError(f"batch sizes must be >= 1, got {batch_sizes}.")
        self.phases, start = [], 0
        for stage in range(self.num_stages):
            for fading, length in ((True, self.fade_images[stage] if stage else 0), (False, self.stabilise_images[stage])):
                if length:
                    length = math.ceil(length / self.batch_sizes[stage]) * self.batch_sizes[stage]
                    self.phases.append((stage, fading, start, start + length, self.batch_sizes[stage]))
                    start += length
        self.total_images = start

    def get_config(self):
        return {"num_stages": self.num_stages, "fade_images": self.fade_images,
                "stabilise_images": self.stabilise_images, "batch_sizes": self.batch_sizes}

    def phase_at(self, images_seen):
        """The phase (stage, fading, start, end, batch_size) holding `images_seen`, None once done."""
        for phase in self.phases:
            if images_seen < phase[3]:
                return phase
        return None

    def state_at(self, images_seen):
        """(stage, fade) after `images_seen` images; the final state once the schedule is done."""
        phase = self.phase_at(images_seen)
        if phase is None:
            return self.phases[-1][0], 1.0
        stage, fading, start, end, _ = phase
        return stage, (min(max((images_seen - start) / (end - start), 0.0), 1.0) if fading else 1.0)


class GrowthCallback(keras.callbacks.Callback):
    """Drives fade and stage from the image count during `model.fit`; stops fit at each phase's end.

    After each batch it adds the batch to `images_seen` and sets the fade; when a phase ends it sets the next
    phase's stage and fade (resetting the optimizers on growth) and stops training, so the next `fit`
    traces the next stage's graph with that stage's batch size (see `train`).
    """

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_train_begin(self, logs=None):
        self.seen = self.model.growth_state()[2]
        self.phase = self.schedule.phase_at(self.seen)

    def on_train_batch_end(self, batch, logs=None):
        model = self.model  # on JAX this syncs the training state into the variables first
        self.seen += self.phase[4]
        stage, fade = self.schedule.state_at(self.seen)
        if stage > self.phase[0]:
            model.reset_optimizers()
        model.stage.assign(stage)
        model.fade_in.fade.assign(fade)
        model.images_seen.assign(self.seen)
        if self.seen >= self.phase[3]:
            model.stop_training = True


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


def train(model, images, schedule, callbacks=(), seed=0, verbose="auto"):
    """Trains `model` (compiled) through `schedule` from its stored image count: one `fit` per phase.

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


class Checkpoint(keras.callbacks.Callback):
    """Saves the weights (growth state, EMA and optimizers included) every `every` batches and at each
    phase's end, atomically (write, then rename), so a killed run restarts from the last save."""

    def __init__(self, path, every=50):
        super().__init__()
        if not path.endswith(".weights.h5"):
            raise ValueError(f"Checkpoint path must end in .weights.h5, got {path}.")
        self.path, self.every = path, int(every)

    def save(self):
        write_atomically(self.path, self.model.save_weights)

    def on_train_batch_end(self, batch, logs=None):
        if (batch + 1) % self.every == 0:
            self.save()

    def on_train_end(self, logs=None):
        self.save()
