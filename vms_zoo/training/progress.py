"""Throughput and time left for a whole training run, where people wait for one.

Keras' progress bar shows the time left in the current epoch only. `Throughput` adds the images per second
and the minutes left in the whole run to the bar's values while an epoch runs, and prints both at the end of
each epoch. The first step of each `fit` is left out of the rate: it includes the compile.
"""

import time

import keras


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
