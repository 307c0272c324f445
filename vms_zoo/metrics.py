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
    """rho2D and MSE (0-255 scale) per channel, overall and per category, as a JSON-ready dict."""
    y_true, y_pred = _as_maps(y_true, "y_true"), _as_maps(y_pred, "y_pred")
    rho = pearson_2d_per_image(y_true, y_pred)
    sq = np.mean(np.square(255.0 * (y_true - y_pred)), axis=(1, 2))

    def summary(idx):
        out = {"count": int(np.sum(idx))}
        for c, name in enumerate(CHANNEL_NAMES[: y_true.shape[-1]]):
            out[f"rho2d_{name}"] = float(np.nanmean(rho[idx, c]))
            out[f"mse255_{name}"] = float(np.mean(sq[idx, c]))
        out["rho2d_mean"] = float(np.nanmean(rho[idx]))
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
    """Streaming rho2D of one channel for `compile(metrics=...)`; matches `pearson_2d` on non-constant maps."""

    def __init__(self, channel=0, name=None, dtype=None):
        super().__init__(name=name or f"rho2d_{CHANNEL_NAMES[channel]}", dtype=dtype)
        self.channel = channel

    def update_state(self, y_true, y_pred, sample_weight=None):
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
