"""Map metrics used by the VMS papers, as numpy functions and as Keras metrics for `fit`.

Maps are (N, H, W, C) with C = 2: channel 0 the true schema, channel 1 the false schema.
"""

import numpy as np
import keras
from keras import ops
from scipy import stats

from vms_zoo.stats import corr2  # noqa: F401  (re-exported)

CHANNEL_NAMES = ("true", "false")


def _as_maps(y, name):
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 3:
        y = y[..., None]
    if y.ndim != 4:
        raise ValueError(f"{name} must be maps of shape (N, H, W, C); got shape {y.shape}.")
    return y


def pearson_2d_per_image(y_true, y_pred):
    """corr2 for every image and channel: array (N, C). Constant maps give NaN, as in MATLAB."""
    y_true, y_pred = _as_maps(y_true, "y_true"), _as_maps(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must have the same shape.")
    a = y_true - y_true.mean(axis=(1, 2), keepdims=True)
    b = y_pred - y_pred.mean(axis=(1, 2), keepdims=True)
    num = np.sum(a * b, axis=(1, 2))
    denom = np.sqrt(np.sum(a * a, axis=(1, 2)) * np.sum(b * b, axis=(1, 2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, num / np.where(denom > 0, denom, 1.0), np.nan)


def pearson_2d(y_true, y_pred):
    """rho2D of the papers: corr2 per map averaged over images (NaNs from constant maps skipped), per channel."""
    return np.nanmean(pearson_2d_per_image(y_true, y_pred), axis=0)


def global_map(y):
    """The global VMS map of two-channel maps: true + false, (N, H, W, 1) with values in [0, 2].

    Table 1 of the BMVC 2019 paper scores an "All" row besides the true and false rows, and Table 2 compares
    it, as "Overall rho2D", with a predecessor that predicted only "a combined, global VMS". We read "All"
    as the global map, the sum of both channels. The table's numbers rule out the alternatives:

    - the mean of the true and false rows: All exceeds both (0.57 against 0.545 / 0.369, m = 32);
    - corr2 over both channels jointly (flattened together, per image or pooled): on such maps the MSE is the
      mean of the channel MSEs (81.5, 77.5, 48.7), but the All row has 85.4, 83.5, 72.1;
    - the mean map (t + f) / 2: its MSE is (MSE_t + MSE_f + 2 E[e_t e_f]) / 4, which needs E[e_t e_f] =
      89.2 against the Cauchy-Schwarz bound sqrt(92.54 * 70.53) = 80.8 (m = 32; 89.4 > 76.4 for m = 8).

    The sum fits every row: it needs mean error products of -38.8, -35.8 and -12.7, error correlations of
    -0.48, -0.47 and -0.30. A per-pixel max would fit too; we take the sum because a global map pools the
    boxes of both kinds of response, which adds their counts. rho2D cannot tell the sum from any positive
    multiple of it; the MSE can. docs/evaluation.md has the arithmetic.
    """
    y = _as_maps(y, "maps")
    if y.shape[-1] != 2:
        raise ValueError(f"The global VMS map needs two channels (true, false); got shape {y.shape}.")
    return y.sum(axis=-1, keepdims=True)


def pearson_2d_all(y_true, y_pred):
    """Table 1's "All" rho2D: rho2D of the global maps (true + false, see `global_map`)."""
    return float(pearson_2d(global_map(y_true), global_map(y_pred))[0])


def mse_255(y_true, y_pred):
    """Mean squared error per channel with maps scaled to 0-255, the scale of the papers' MSE tables."""
    y_true, y_pred = _as_maps(y_true, "y_true"), _as_maps(y_pred, "y_pred")
    return np.mean(np.square(255.0 * (y_true - y_pred)), axis=(0, 1, 2))


def spearman(a, b):
    """Spearman rank correlation (rho, p-value) of two score vectors, as the papers compare memorability."""
    result = stats.spearmanr(np.ravel(a), np.ravel(b))
    return float(result.statistic), float(result.pvalue)


def category_mean_baseline(train_maps, train_categories, test_categories):
    """Predict every test map as the mean training map of its category: the floor a model must beat."""
    train_maps = _as_maps(train_maps, "train_maps")
    train_categories = np.asarray(train_categories)
    test_categories = np.asarray(test_categories)
    missing = sorted(set(test_categories.tolist()) - set(train_categories.tolist()))
    if missing:
        raise ValueError(f"No training maps for test categories {missing}.")
    means = {c: train_maps[train_categories == c].mean(axis=0) for c in np.unique(test_categories)}
    return np.stack([means[c] for c in test_categories]).astype(np.float32)


def map_report(y_true, y_pred, categories=None, category_names=None):
    """rho2D and MSE (0-255 scale) per channel, overall and per category, as a JSON-ready dict. Two-channel
    maps also get Table 1's "All" row (`rho2d_all`, `mse255_all`: the global map, see `global_map`);
    `rho2d_mean` is the plain mean over both channels' per-image values, which is not that row."""
    y_true, y_pred = _as_maps(y_true, "y_true"), _as_maps(y_pred, "y_pred")
    rho = pearson_2d_per_image(y_true, y_pred)
    sq = np.mean(np.square(255.0 * (y_true - y_pred)), axis=(1, 2))
    both = y_true.shape[-1] == 2 and y_true.shape == y_pred.shape
    if both:
        rho_all = pearson_2d_per_image(global_map(y_true), global_map(y_pred))[:, 0]
        sq_all = np.mean(np.square(255.0 * (global_map(y_true) - global_map(y_pred))), axis=(1, 2, 3))

    def summary(idx):
        out = {"count": int(np.sum(idx))}
        for c, name in enumerate(CHANNEL_NAMES[: y_true.shape[-1]]):
            out[f"rho2d_{name}"] = float(np.nanmean(rho[idx, c]))
            out[f"mse255_{name}"] = float(np.mean(sq[idx, c]))
        out["rho2d_mean"] = float(np.nanmean(rho[idx]))
        if both:
            out["rho2d_all"] = float(np.nanmean(rho_all[idx]))
            out["mse255_all"] = float(np.mean(sq_all[idx]))
        return out

    report = {"overall": summary(np.ones(len(y_true), bool))}
    if categories is not None:
        categories = np.asarray(categories)
        report["per_category"] = {
            (category_names[c] if category_names is not None else str(c)): summary(categories == c)
            for c in np.unique(categories)
        }
    return report


@keras.saving.register_keras_serializable(package="vms_zoo")
class Pearson2D(keras.metrics.Mean):
    """Streaming rho2D of one channel for `compile(metrics=...)`; matches `pearson_2d` on non-constant maps.
    `channel="all"` is Table 1's "All" row, rho2D of the global map true + false (see `global_map`)."""

    def __init__(self, channel=0, name=None, dtype=None):
        label = "all" if channel == "all" else CHANNEL_NAMES[channel]
        super().__init__(name=name or f"rho2d_{label}", dtype=dtype)
        self.channel = channel

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.channel == "all":
            a = ops.sum(ops.cast(y_true, "float32"), axis=-1)
            b = ops.sum(ops.cast(y_pred, "float32"), axis=-1)
        else:
            a = ops.cast(y_true[..., self.channel], "float32")
            b = ops.cast(y_pred[..., self.channel], "float32")
        a = a - ops.mean(a, axis=(1, 2), keepdims=True)
        b = b - ops.mean(b, axis=(1, 2), keepdims=True)
        num = ops.sum(a * b, axis=(1, 2))
        denom = ops.sqrt(ops.sum(a * a, axis=(1, 2)) * ops.sum(b * b, axis=(1, 2)))
        return super().update_state(num / (denom + 1e-12), sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), "channel": self.channel}


@keras.saving.register_keras_serializable(package="vms_zoo")
class MSE255(keras.metrics.Mean):
    """Streaming map MSE of one channel on the 0-255 scale, for `compile(metrics=...)`."""

    def __init__(self, channel=0, name=None, dtype=None):
        super().__init__(name=name or f"mse255_{CHANNEL_NAMES[channel]}", dtype=dtype)
        self.channel = channel

    def update_state(self, y_true, y_pred, sample_weight=None):
        diff = 255.0 * (ops.cast(y_true[..., self.channel], "float32") - ops.cast(y_pred[..., self.channel], "float32"))
        return super().update_state(ops.mean(ops.square(diff), axis=(1, 2)), sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), "channel": self.channel}
