"""The callbacks training runs add to `fit`: progress (images/s and the whole run's time left), limits, sample
grids, MEMGAN's growth and its resumable checkpoint, and the logs every run writes beside its weights (a CSV log
of every family, TensorBoard on request).

Keras' progress bar shows the time left in the current epoch only. `Throughput` adds the images per second
and the minutes left in the whole run to the bar's values while an epoch runs, and prints both at the end of
each epoch. The first step of each `fit` is left out of the rate: it includes the compile.
"""

import importlib.util
import os
import time

import keras
import numpy as np

from vms_zoo.io import write_atomically
from vms_zoo.targets import target_ramp


class Throughput(keras.callbacks.Callback):
    """images/s and the run's ETA for `fit`s that consume `images_per_step` images per step.

    `images_seen` / `total_images` (callables / int) count the run in images where it spans several `fit`s
    (MEMGAN's growth phases, each with its own batch size). Otherwise the run is this `fit`: its epochs x steps,
    at most `max_steps`, and never past `max_minutes` from its start.
    """

    def __init__(self, images_per_step=None, images_seen=None, total_images=None, max_steps=None,
                 max_minutes=None, verbose=1):
        super().__init__()
        if (images_per_step is None) == (images_seen is None):
            raise ValueError("Give images_per_step or images_seen.")
        self.images_per_step, self.images_seen, self.total_images = images_per_step, images_seen, total_images
        self.max_steps, self.max_minutes, self.verbose = max_steps, max_minutes, verbose
        self.run_started, self.rate = time.monotonic(), None

    def _done(self):
        """Images trained so far in this run."""
        if self.images_seen is not None:
            return float(self.images_seen())
        return float(self.steps * self.images_per_step)

    def on_train_begin(self, logs=None):
        self.started, self.steps, self.epoch = None, 0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.steps = self.epoch * (self.params.get("steps") or 0) + batch + 1
        now = time.monotonic()
        if self.started is None:  # after the first (compiling) step
            self.started, self.start_done = now, self._done()
            return
        self.rate = (self._done() - self.start_done) / max(now - self.started, 1e-9)
        if logs is not None:
            logs["images/s"], logs["eta_min"] = self.rate, self.eta_minutes()

    def eta_minutes(self):
        """Minutes left in the run at the current rate (nan before a rate is known)."""
        if not self.rate:
            return float("nan")
        if self.total_images is not None:
            left = self.total_images - self._done()
        else:
            steps = (self.params.get("steps") or 0) * self.params.get("epochs", 1)
            if self.max_steps:
                steps = min(steps, self.max_steps)
            left = (steps - self.steps) * self.images_per_step
        minutes = max(left, 0.0) / self.rate / 60
        if self.max_minutes:
            minutes = min(minutes, max(self.max_minutes - (time.monotonic() - self.run_started) / 60, 0.0))
        return minutes

    def on_epoch_end(self, epoch, logs=None):
        if self.verbose and self.rate:
            print(f"  {self.rate:.1f} images/s, about {self.eta_minutes():.1f} min left in the run", flush=True)


class StepLimit(keras.callbacks.Callback):
    """Counts generator steps; stops training after `max_minutes` or `max_steps` (None: no limit)."""

    def __init__(self, max_minutes=None, max_steps=None):
        super().__init__()
        self.max_seconds = None if max_minutes is None else 60.0 * max_minutes
        self.max_steps, self.steps, self.start = max_steps, 0, None

    def on_train_begin(self, logs=None):
        self.start = self.start or time.time()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if ((self.max_seconds is not None and time.time() - self.start > self.max_seconds)
                or (self.max_steps and self.steps >= self.max_steps)):
            self.model.stop_training = True


class SampleGrid(keras.callbacks.Callback):
    """Writes PNG grids: one row per fixed z, columns with M rising from `low` to `high` (Fig. 2).

    A grid every `every` epochs (0: none) as samples_epoch<NNN>.png and one when training ends as
    samples_<model.sample_tag()>.png. `low` / `high` are on the model's condition scale (None: its pair
    targets).
    """

    def __init__(self, directory, rows=4, columns=6, low=None, high=None, seed=0, every=0):
        super().__init__()
        self.directory, self.rows, self.columns, self.every = directory, rows, columns, int(every)
        self.low, self.high, self.seed = low, high, seed

    def grid(self):
        """The sample grid as a uint8 (rows * S, columns * S, 3) array."""
        model, columns = self.model, self.columns
        levels = np.linspace(*model.low_high(self.low, self.high), columns)
        z = np.random.default_rng(self.seed).normal(size=(self.rows, model.latent_dim)).astype("float32")
        m = target_ramp(model.condition, levels, seed=self.seed, map_size=model.map_size,
                        standardized=model.standardized, sampler=model.target_sampler)
        images = model.generate(np.repeat(z, columns, axis=0), np.tile(m, (self.rows,) + (1,) * (m.ndim - 1)))
        s = images.shape[1]
        images = images.reshape(self.rows, columns, s, s, 3).transpose(0, 2, 1, 3, 4)
        return (images * 255).round().astype("uint8").reshape(self.rows * s, columns * s, 3)

    def on_epoch_end(self, epoch, logs=None):
        if self.every and (epoch + 1) % self.every == 0:
            self.save(f"samples_epoch{epoch + 1:03d}.png")

    def on_train_end(self, logs=None):
        self.save(f"samples_{self.model.sample_tag()}.png")

    def save(self, name):
        """Write the current grid to `directory/name`."""
        from PIL import Image

        os.makedirs(self.directory, exist_ok=True)
        Image.fromarray(self.grid()).save(os.path.join(self.directory, name))


class GrowthCallback(keras.callbacks.Callback):
    """Drives fade and stage from the image count during `model.fit`; stops fit at each phase's end.

    After each batch it adds the batch to `images_seen` and sets the fade; when a phase ends it sets the next
    phase's stage and fade (resetting the optimizers on growth) and stops training, so the next `fit`
    traces the next stage's graph with that stage's batch size (see `vms_zoo.training.memgan.grow`).
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


# --- logs ---------------------------------------------------------------------------------------------------
# The predictor and W-MEMGAN log one row per epoch (Keras' CSVLogger). MEMGAN trains one `fit` per growth phase,
# so `GrowthLog` writes a row every `every` steps and at each phase's end instead, with the images seen, the
# resolution and the fade beside the metrics (means over the row's steps). Every log appends when a run resumes
# or continues, as its weights do.

GROWTH_COLUMNS = ("images_seen", "resolution", "fade")  # MEMGAN's rows: where in the schedule, not metrics


def check_tensorboard():
    """A one-line error, before anything is written, where Keras' TensorBoard callback cannot write: it needs
    the tensorboard package, and TensorFlow's summary writer on every backend."""
    missing = [name for name in ("tensorflow", "tensorboard") if importlib.util.find_spec(name) is None]
    if missing:
        raise ValueError(f"--tensorboard needs the {' and '.join(missing)} package{'s' * (len(missing) > 1)}: "
                         f"pip install {' '.join(missing)} (or pip install 'vms_zoo[tensorboard]'), or train without "
                         "--tensorboard.")


class TensorBoardLog(keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback, writing epoch summaries at the epoch, or for a growing model (MEMGAN, one
    `fit` per phase, each starting at epoch 0) at the images seen."""

    def __init__(self, log_dir):
        super().__init__(log_dir=str(log_dir), write_graph=False)  # no graph: JAX and PyTorch have none to show

    def on_epoch_end(self, epoch, logs=None):
        if hasattr(self.model, "growth_state"):
            epoch = int(self.model.growth_state()[2])
        super().on_epoch_end(epoch, logs)


def tensorboard_callback(log_dir):
    """The TensorBoard callback of a run, writing to `log_dir` (checked first: `check_tensorboard`)."""
    check_tensorboard()
    return TensorBoardLog(log_dir)


class CSVLog(keras.callbacks.CSVLogger):
    """Keras' CSVLogger, appending, without the empty val_ columns it adds for a run that has no held-out data."""

    def __init__(self, filename):
        super().__init__(str(filename), append=True)

    def on_epoch_end(self, epoch, logs=None):
        if self.keys is None:
            self.keys = sorted(logs or {})
        super().on_epoch_end(epoch, logs)


class GrowthLog(CSVLog):
    """Keras' CSVLogger for MEMGAN: a row every `every` steps and at each phase's end, appended to `filename`.

    Each row holds the means of the metrics over its steps (Keras' logs are running means since the phase
    began: the row's mean is recovered from two of them), the images seen after it, the phase's resolution and
    the fade reached.
    The "epoch" column numbers the rows, on from the rows already in the file.
    """

    def __init__(self, filename, every):
        super().__init__(filename)
        self.every, self.row = int(every), _rows(filename)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.steps, self.logged, self.means = 0, 0, {}
        self.stage = int(self.model.growth_state()[0])  # one fit is one phase: its stage

    def on_train_batch_end(self, batch, logs=None):
        self.steps, self.latest = self.steps + 1, dict(logs or {})
        if self.steps % self.every == 0:
            self.write()

    def on_epoch_end(self, epoch, logs=None):
        if self.steps > self.logged:
            self.write()

    def write(self):
        n, done = self.steps, self.logged
        means = {key: float(value) for key, value in self.latest.items()}
        row = {key: (value * n - self.means.get(key, 0.0) * done) / (n - done) for key, value in means.items()}
        stage, fade, seen = self.model.growth_state()
        # At a phase's end the model already holds the next phase's stage: this phase's block is fully faded in.
        row.update(images_seen=int(seen), resolution=int(self.model.sizes[self.stage]),
                   fade=float(fade) if int(stage) == self.stage else 1.0)
        super().on_epoch_end(self.row, row)
        self.row, self.logged, self.means = self.row + 1, n, means


def _rows(filename):
    """The data rows already in a CSV log (0 when there is none)."""
    try:
        with open(filename) as f:
            return max(sum(1 for line in f if line.strip()) - 1, 0)
    except OSError:
        return 0
