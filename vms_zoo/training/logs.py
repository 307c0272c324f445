"""What a run logs beside its weights: the CSV log of every family, its curves, and TensorBoard on request.

The predictor and W-MEMGAN log one row per epoch (Keras' CSVLogger). MEMGAN trains one `fit` per growth phase,
so `GrowthLog` writes a row every `every` steps and at each phase's end instead, with the images seen, the
resolution and the fade beside the metrics (means over the row's steps). Every log appends when a run resumes
or continues, as its weights do.
"""

import importlib.util
import os

import keras

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


def save_run_curves(output, log_file, curves_file, marks=()):
    """The curves PNG of a run's CSV log: per epoch, or for a growth log against the images seen, with `marks`
    ((images seen, label) of each phase start)."""
    from vms_zoo.visualize import read_csv_log, save_curves

    history = read_csv_log(os.path.join(str(output), log_file))
    if "images_seen" in history:
        history = {key: values for key, values in history.items() if key not in ("resolution", "fade")}
        return save_curves(history, os.path.join(str(output), curves_file), x="images_seen", marks=marks)
    return save_curves(history, os.path.join(str(output), curves_file))
