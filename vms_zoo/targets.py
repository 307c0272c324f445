"""Target memorability conditions M for W-MEMGAN: the target-VMS distribution P_t and single scores.

P_t (W-MEMGAN paper, "Loss functions"): artificial true-schema maps on a coarse grid whose region height,
width and intensity are uniform. Both samplers draw one axis-aligned rectangle on a zero background and, with
probability `nested_prob`, a second, brighter rectangle inside it (VMS maps often have a bright core):
- "authors_code": as the authors' `gen_fake_vms.py` draws it: a corner uniform on the grid, then the far edge
  uniform between it and the border (mean side 3.25 cells of 10), intensity randint(1, 255) / 255; the inner
  box's start and end uniform within the outer one (it may be empty), its intensity randint(outer, 255) / 255.
  Mean box area 10.56 cells, mean map intensity 0.054.
- "uniform_extent": our reading of the paper's sentence: height and width uniform on 1..size, the corner
  uniform where the box fits, intensity U(0, 1); the inner box's sides uniform on 1..outer side.
  Mean box area 30.25 cells, mean map intensity 0.164.
Samplers are keras.ops code, so the training step draws targets in-graph on every backend; `seed` is an
int (reproducible) or a `keras.random.SeedGenerator` (a fresh draw per call).

Single scores come on one of two scales. *Raw*: the predictor's score itself (mean of the true-schema map,
in [0, 1]); targets uniform in [0, 1]. *Standardized* (W-MEMGAN's `score_scale`): M is a z-score of the
predictor's score on real training images, M = (score - mean) / std, drawn from N(0, 1) as in the paper.
Real VMS maps are sparse (synthetic scenes score about 0.05 +- 0.03), so raw targets near 0 or 1 lie far
outside what any real-looking image reaches; `fit_score_scale` measures the scale from real scores.
"""

import numpy as np
from keras import ops, random

CONDITIONS = ("score", "map")
TARGET_SAMPLERS = ("authors_code", "uniform_extent")
# Real-image scores whose std is below this fraction of their mean carry no signal to standardize: a predictor
# that outputs one score for every image (e.g. trained for a few steps) would make every z-score float noise.
DEGENERATE_SPREAD = 1e-4


def _check_condition(condition):
    if condition not in CONDITIONS:
        raise ValueError(f"Unknown condition {condition!r}; expected 'score' or 'map'.")


def check_sampler(sampler):
    if sampler not in TARGET_SAMPLERS:
        raise ValueError(f"Unknown target sampler {sampler!r}; expected one of {', '.join(TARGET_SAMPLERS)}.")


def sample_target_maps(batch_size, seed=None, size=10, nested_prob=0.5, sampler="uniform_extent"):
    """`batch_size` maps from P_t, shape (batch_size, size, size, 1), values in [0, 1].

    `sampler`: "authors_code" or "uniform_extent" (see the module docstring)."""
    if size < 1:
        raise ValueError(f"Target map size must be >= 1, got {size}.")
    if not 0.0 <= nested_prob <= 1.0:
        raise ValueError(f"nested_prob must be in [0, 1], got {nested_prob}.")
    check_sampler(sampler)
    u = random.uniform((batch_size, 11), seed=seed)
    u = [ops.reshape(u[:, i], (-1, 1, 1)) for i in range(11)]  # each (N, 1, 1): broadcasts over the grid
    nested = ops.cast(u[10] < nested_prob, "float32")
    rows = ops.reshape(ops.arange(size, dtype="float32"), (1, size, 1))
    cols = ops.reshape(ops.arange(size, dtype="float32"), (1, 1, size))

    def box(top, left, height, width):
        inside = (rows >= top) & (rows < top + height) & (cols >= left) & (cols < left + width)
        return ops.cast(inside, "float32")

    # uniform() is in [0, 1): floor(u * k) is uniform over {0, ..., k - 1}.
    if sampler == "authors_code":
        return ops.expand_dims(_authors_code_maps(u, size, nested, box), -1)
    h = ops.floor(u[0] * size) + 1.0
    w = ops.floor(u[1] * size) + 1.0
    y0 = ops.floor(u[2] * (size - h + 1.0))
    x0 = ops.floor(u[3] * (size - w + 1.0))
    level = u[4]
    h2 = ops.floor(u[5] * h) + 1.0
    w2 = ops.floor(u[6] * w) + 1.0
    y2 = y0 + ops.floor(u[7] * (h - h2 + 1.0))
    x2 = x0 + ops.floor(u[8] * (w - w2 + 1.0))
    level2 = level + u[9] * (1.0 - level)  # brighter than the outer region, still <= 1
    maps = level * box(y0, x0, h, w) + nested * (level2 - level) * box(y2, x2, h2, w2)
    return ops.expand_dims(maps, -1)


def _authors_code_maps(u, size, nested, box):
    """gen_fake_vms.py's draw with Python's inclusive randint(a, b) = a + floor(u * (b - a + 1)), on a
    `size` grid (the code's is 10): (N, size, size) maps from the uniforms `u` (11 of shape (N, 1, 1))."""
    top, left = ops.floor(u[0] * size), ops.floor(u[1] * size)  # randint(0, 9)
    h, w = ops.floor(u[2] * (size - top)) + 1.0, ops.floor(u[3] * (size - left)) + 1.0  # end: randint(tl + 1, 10)
    level = ops.floor(u[4] * 255.0) + 1.0  # randint(1, 255)
    # The inner box: start randint(tl, end), end randint(start, end), both inclusive, so it may be empty.
    top2, left2 = top + ops.floor(u[5] * (h + 1.0)), left + ops.floor(u[6] * (w + 1.0))
    h2 = ops.floor(u[7] * (top + h - top2 + 1.0))
    w2 = ops.floor(u[8] * (left + w - left2 + 1.0))
    level2 = level + ops.floor(u[9] * (256.0 - level))  # randint(outer, 255): never darker than the outer box
    maps = level * box(top, left, h, w) + nested * (level2 - level) * box(top2, left2, h2, w2)
    return maps / 255.0


def sample_target_scores(batch_size, seed=None, low=0.0, high=1.0):
    """`batch_size` single memorability scores, uniform in [low, high], shape (batch_size, 1).

    The paper draws scores from a Gaussian; a uniform over the predictor's [0, 1] range keeps every
    target reachable.
    """
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"Score range must satisfy 0 <= low <= high <= 1, got low={low}, high={high}.")
    return low + (high - low) * random.uniform((batch_size, 1), seed=seed)


def sample_standard_scores(batch_size, seed=None):
    """`batch_size` standardized scores (z-scores of real-image memorability) from N(0, 1), shape (batch_size, 1).

    The paper's Gaussian M: a target of 0 asks for a typical real scene's memorability, +-1.645 for the 95th /
    5th percentile of a normal score distribution.
    """
    return random.normal((batch_size, 1), seed=seed)


def fit_score_scale(scores, quantiles=(0.05, 0.95)):
    """The standardized score scale from a predictor's scores on real images (numpy, any shape).

    Returns a dict: `mean` and `std` (M = (score - mean) / std), and `low` / `high`, the empirical
    `quantiles` of the real scores already expressed as z-scores: reachable "very low" and "very high"
    targets for pair generation.
    """
    scores = np.asarray(scores, "float64").reshape(-1)
    if scores.size < 2:
        raise ValueError(f"Need at least 2 real-image scores to fit a score scale, got {scores.size}.")
    q_low, q_high = quantiles
    if not 0.0 <= q_low < q_high <= 1.0:
        raise ValueError(f"Need quantiles 0 <= low < high <= 1, got {quantiles}.")
    mean, std = float(scores.mean()), float(scores.std())
    if std <= 0.0 or std < DEGENERATE_SPREAD * abs(mean):
        raise ValueError(f"The predictor's scores on the {scores.size} real images barely vary (std {std:.3g} around "
                         f"mean {mean:.3g}): z-scores of them would be noise; use a predictor trained on real data.")
    low, high = np.quantile(scores, [q_low, q_high])
    return {"mean": mean, "std": std, "low": float((low - mean) / std), "high": float((high - mean) / std),
            "quantiles": [float(q_low), float(q_high)]}


def sample_targets(condition, batch_size, seed=None, map_size=10, standardized=False, sampler="uniform_extent"):
    """Targets for a `condition` ("score" or "map"): what the generator is trained on.

    `standardized=True` draws score targets as z-scores from N(0, 1) (see `sample_standard_scores`);
    it has no effect on maps.
    """
    _check_condition(condition)
    if condition == "score":
        if standardized:
            return sample_standard_scores(batch_size, seed=seed)
        return sample_target_scores(batch_size, seed=seed)
    return sample_target_maps(batch_size, seed=seed, size=map_size, sampler=sampler)


def scale_to_level(maps, level):
    """Rescale each map so its peak equals `level`: same layout, chosen strength."""
    maps = np.asarray(maps, dtype="float32")
    peak = np.maximum(maps.reshape(len(maps), -1).max(axis=1), 1e-6).reshape(-1, 1, 1, 1)
    return (np.asarray(level, dtype="float32").reshape(-1, 1, 1, 1) * maps / peak).astype("float32")


def target_ramp(condition, levels, seed=0, map_size=10, standardized=False, sampler="uniform_extent"):
    """Targets rising through `levels` (a 1-D list in [0, 1]) with one fixed layout: numpy, (L, ...).

    For "score" the targets are the levels themselves (any real z-scores when `standardized`); for "map"
    one P_t map rescaled to each level.
    """
    _check_condition(condition)
    levels = np.asarray(levels, dtype="float32").reshape(-1)
    if standardized and condition == "score":
        if levels.size == 0 or not np.all(np.isfinite(levels)):
            raise ValueError(f"Target levels must be a non-empty list of finite z-scores, got {levels}.")
        return levels.reshape(-1, 1)
    if levels.size == 0 or levels.min() < 0.0 or levels.max() > 1.0:
        raise ValueError(f"Target levels must be a non-empty list of values in [0, 1], got {levels}.")
    if condition == "score":
        return levels.reshape(-1, 1)
    layout = ops.convert_to_numpy(sample_target_maps(1, seed=seed, size=map_size, sampler=sampler))
    return scale_to_level(np.repeat(layout, len(levels), axis=0), levels)


def low_high_targets(condition, num, seed=0, low=0.1, high=0.9, map_size=10, standardized=False,
                     sampler="uniform_extent"):
    """`num` (low, high) target pairs for pair generation: numpy arrays of equal shape.

    Scores are the constants `low` and `high` (z-scores when `standardized`: any low < high); maps share
    one P_t layout per pair, rescaled to peak at `low` and at `high`, so only the intended memorability
    differs within a pair.
    """
    _check_condition(condition)
    if standardized and condition == "score":
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(f"Need finite z-scores low < high, got low={low}, high={high}.")
    elif not 0.0 <= low < high <= 1.0:
        raise ValueError(f"Need 0 <= low < high <= 1, got low={low}, high={high}.")
    if condition == "score":
        return np.full((num, 1), low, "float32"), np.full((num, 1), high, "float32")
    layouts = ops.convert_to_numpy(sample_target_maps(num, seed=seed, size=map_size, sampler=sampler))
    return scale_to_level(layouts, np.full(num, low)), scale_to_level(layouts, np.full(num, high))
