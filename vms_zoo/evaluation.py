"""Pair evaluation of a memorability-conditioned generator (W-MEMGAN paper, Fig. 4 and its text).

Each pair shares z and differs only in the condition (a low and a high target). An *independent* VMS
predictor scores every image by the mean of its true-schema map (the paper used AMNet). The effect is
read from the paired differences high - low.

The paper also splits the pairs by whether the high-target image scores above 0.65, a value on AMNet's
[0, 1] memorability scale. A VMS predictor's score (mean true-schema intensity, about 0.05-0.2) lives on
another scale, so the split is set on the scorer's own scale: by default at the `SPLIT_QUANTILE` of the
scorer's scores on real images, or at an absolute scorer value (`threshold`). docs/evaluation.md has the
reasoning.
"""

import hashlib

import numpy as np
from keras import ops

from vms_zoo.backend import in_batches
from vms_zoo.stats import paired_comparison, t_test
from vms_zoo.targets import fit_score_scale, low_high_targets
from vms_zoo.vms import check_images, memorability_score, predictor_input_size


def score_images(predictor, images, batch_size=64):
    """Memorability score per image in [0, 1]: mean of the predictor's true-schema map. numpy (N,)."""
    images = np.asarray(check_images(images), "float32")
    return in_batches(lambda x: memorability_score(predictor, ops.convert_to_tensor(x)), [images], batch_size)


def score_scale(predictor, images, quantiles=(0.05, 0.95), batch_size=64):
    """`fit_score_scale` of `predictor`'s scores on real `images`: the standardized condition scale of a
    W-MEMGAN fed back by `predictor` (mean, std, and the quantile targets low / high as z-scores)."""
    return fit_score_scale(score_images(predictor, images, batch_size), quantiles)


PAPER_THRESHOLD = 0.65  # W-MEMGAN paper, "Single-score constraint": the split, on AMNet's [0, 1] scale
# Our choice: the quantile of real images at which AMNet's 0.65 falls is not published (the paper gives no
# AMNet score distribution for real kitchens, and we found none elsewhere), so the default split is the
# median of the scorer's real-image scores. With AMNet scores of your real images, `paper_quantile` gives
# the paper's quantile; pass it as `threshold_quantile`.
SPLIT_QUANTILE = 0.5


def paper_quantile(amnet_scores, threshold=PAPER_THRESHOLD):
    """Where the paper's split (0.65 on AMNet's scale) falls among AMNet's scores of real images: the share
    of those scores at or below it (empirical CDF), to pass as `threshold_quantile`."""
    scores = np.asarray(amnet_scores, "float64").reshape(-1)
    if scores.size == 0 or not np.isfinite(scores).all():
        raise ValueError(f"Need finite AMNet scores of real images, got {scores.size} values with NaN or inf.")
    return float(np.mean(scores <= threshold))


def split_threshold(real_scores, quantile=SPLIT_QUANTILE):
    """The pair split on the scorer's own scale: the `quantile` of its scores on real images (linear
    interpolation, numpy's default)."""
    scores = np.asarray(real_scores, "float64").reshape(-1)
    if scores.size == 0 or not np.isfinite(scores).all():
        raise ValueError(f"Need finite scorer scores of real images, got {scores.size} values with NaN or inf.")
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"threshold_quantile must be in [0, 1], got {quantile}.")
    return float(np.quantile(scores, quantile))


def split_settings(training):
    """`evaluate_pairs`' split keywords from a preset's "training" entry: `threshold`, an absolute value on the
    scorer's scale, else `threshold_quantile` of the scorer's scores on real images (default `SPLIT_QUANTILE`)."""
    quantile = training.get("threshold_quantile")
    return {"threshold": training.get("threshold"),
            "threshold_quantile": SPLIT_QUANTILE if quantile is None else float(quantile)}


def pair_statistics(low_scores, high_scores, threshold=None):
    """Statistics of paired scores (`vms_zoo.stats.paired_comparison`) and the paper's split at `threshold`.

    Cohen's d is given both for independent groups (pooled standard deviation) and for pairs (mean
    difference over the standard deviation of differences). The split groups pairs by whether the
    high-target image's score is above `threshold`, a value on the same scale as the scores (see
    `split_threshold`); None leaves the split out.
    """
    result = paired_comparison(high_scores, low_scores)
    low = np.asarray(low_scores, "float64").reshape(-1)
    high = np.asarray(high_scores, "float64").reshape(-1)
    diff = high - low

    def positive_share(mask):
        return float(np.mean(diff[mask] > 0)) if mask.any() else None

    above = None if threshold is None else high > threshold
    result.update({
        "threshold": None if threshold is None else float(threshold),
        "num_above": None if above is None else int(above.sum()),
        "positive_share_above": None if above is None else positive_share(above),
        "num_below": None if above is None else int((~above).sum()),
        "positive_share_below": None if above is None else positive_share(~above),
    })
    return result


def across_generators(differences, confidence=0.95):
    """Is the effect a property of the training method? A test with the trained generator as the unit.

    `differences` holds one mean paired difference (high - low) per independently trained generator (other
    seed, same recipe). A single generator's 1000 pairs test that generator only: without feedback its
    condition is one more latent input whose effect is real for that network but of arbitrary sign across
    training runs. Returns the mean over generators, their standard deviation, how many are positive, a
    one-sample t-test of the mean against 0 and its `confidence` interval.
    """
    d = np.asarray(differences, "float64").reshape(-1)
    if d.size < 2:
        raise ValueError(f"Need at least 2 generators, got {d.size}.")
    test = t_test(d, confidence=confidence)
    return {
        "generators": int(d.size),
        "generators_positive": int(np.sum(d > 0)),
        "mean_difference_across": float(d.mean()),
        "sd_across": float(d.std(ddof=1)),
        "t_across": test.t,
        "p_across": test.p,
        "ci_low": test.ci_low,
        "ci_high": test.ci_high,
    }


PAIR_CHUNK = 1024  # pairs generated and scored at a time


def pair_inputs(model, num_pairs, seed=0, low=None, high=None):
    """(z, M low, M high) of `num_pairs` pairs: each pair shares z and differs only in the target."""
    low, high = model.low_high(low, high)
    z = np.random.default_rng(seed).normal(size=(num_pairs, model.latent_dim)).astype("float32")
    m_low, m_high = low_high_targets(model.condition, num_pairs, seed=seed, low=low, high=high,
                                     map_size=model.map_size, standardized=model.standardized,
                                     sampler=model.target_sampler)
    return z, m_low, m_high


def generate_pairs(model, num_pairs, seed=0, low=None, high=None, batch_size=64):
    """`num_pairs` (low-target, high-target) image pairs sharing z: two numpy (N, S, S, 3) in [0, 1].

    `low` / `high` are on the model's condition scale (see `MemorabilityGAN.low_high`).
    """
    z, m_low, m_high = pair_inputs(model, num_pairs, seed, low, high)
    return model.generate(z, m_low, batch_size), model.generate(z, m_high, batch_size)


def weights_digest(model):
    """sha256 of a model's input size and weights (shapes and values): equal digests mean the same network."""
    digest = hashlib.sha256(str(predictor_input_size(model)).encode())
    for weight in model.weights:
        value = np.ascontiguousarray(ops.convert_to_numpy(weight))
        digest.update(str(value.shape).encode() + value.tobytes())
    return digest.hexdigest()


def evaluate_pairs(model, scorer, num_pairs=1000, seed=0, low=None, high=None, threshold=None,
                   threshold_quantile=SPLIT_QUANTILE, real_scores=None, batch_size=64, also_score=None):
    """Generate pairs with `model` and score them with the independent predictor `scorer`.

    `low` / `high` are on the model's condition scale (see `MemorabilityGAN.low_high`). The pair split is at
    `threshold`, an absolute value on the scorer's scale, or else at the `threshold_quantile` of
    `real_scores`, the scorer's scores on real images (`score_images(scorer, images)`); with neither the split
    is left out. `also_score` ({name: predictor}, e.g. the feedback predictor) scores the same images too,
    reported as result[name] = {mean_low, mean_high, positive_share}.
    """
    low, high = model.low_high(low, high)
    if weights_digest(scorer) == weights_digest(model.predictor):
        raise ValueError("The scorer has the same weights as the generator's feedback predictor: a generator "
                         "must be graded by an independent predictor.")
    if threshold is None and real_scores is not None:
        threshold = split_threshold(real_scores, threshold_quantile)
        split = {"threshold_quantile": float(threshold_quantile), "num_real_scores": int(np.size(real_scores))}
    else:
        split = {"threshold_quantile": None, "num_real_scores": None}
    z, m_low, m_high = pair_inputs(model, num_pairs, seed, low, high)
    judges = {"scorer": scorer, **(also_score or {})}
    scores = {(name, key): [] for name in judges for key in ("low", "high")}
    for start in range(0, num_pairs, PAIR_CHUNK):  # images live one chunk at a time: memory stays bounded
        part = slice(start, start + PAIR_CHUNK)
        for key, m in (("low", m_low), ("high", m_high)):
            images = model.generate(z[part], m[part], batch_size)
            for name, judge in judges.items():
                scores[name, key].append(score_images(judge, images, batch_size))
    scores = {k: np.concatenate(v) for k, v in scores.items()}
    result = pair_statistics(scores["scorer", "low"], scores["scorer", "high"], threshold)
    result.update(split, condition=model.condition, target_low=low, target_high=high, seed=seed)
    for name in also_score or {}:
        s_low, s_high = scores[name, "low"], scores[name, "high"]
        result[name] = {"mean_low": float(s_low.mean()), "mean_high": float(s_high.mean()),
                        "positive_share": float(np.mean(s_high > s_low))}
    return result
