"""Pair evaluation of a memorability-conditioned generator (W-MEMGAN paper, Fig. 4 and its text).

Each pair shares z and differs only in the condition (a low and a high target). An *independent* VMS
predictor scores every image by the mean of its true-schema map (the paper used AMNet). The effect is
read from the paired differences high - low.
"""

import hashlib

import numpy as np
from keras import ops

from vms_zoo.stats import cohens_d, t_test, wilcoxon
from vms_zoo.targets import fit_score_scale, low_high_targets
from vms_zoo.vms import check_images, memorability_score, predictor_input_size


def score_images(predictor, images, batch_size=64):
    """Memorability score per image in [0, 1]: mean of the predictor's true-schema map. numpy (N,)."""
    images = np.asarray(check_images(images), "float32")
    return np.concatenate([ops.convert_to_numpy(memorability_score(predictor, ops.convert_to_tensor(images[i:i + batch_size])))
                           for i in range(0, len(images), batch_size)])


def score_scale(predictor, images, quantiles=(0.05, 0.95), batch_size=64):
    """`fit_score_scale` of `predictor`'s scores on real `images`: the standardized condition scale of a
    W-MEMGAN fed back by `predictor` (mean, std, and the quantile targets low / high as z-scores)."""
    return fit_score_scale(score_images(predictor, images, batch_size), quantiles)


def pair_statistics(low_scores, high_scores, threshold=0.65):
    """Statistics of paired scores: effect sizes, significance, and the paper's split at `threshold`.

    Cohen's d is given both for independent groups (pooled standard deviation) and for pairs (mean
    difference over the standard deviation of differences). The split groups pairs by whether the
    high-target image's predicted memorability is above `threshold` (0.65 in the paper).
    """
    low = np.asarray(low_scores, "float64").reshape(-1)
    high = np.asarray(high_scores, "float64").reshape(-1)
    if low.shape != high.shape:
        raise ValueError(f"low and high scores must pair up, got {low.size} and {high.size} values.")
    if low.size < 2:
        raise ValueError(f"Need at least 2 pairs, got {low.size}.")
    diff = high - low
    paired = t_test(high, low, paired=True)

    def positive_share(mask):
        return float(np.mean(diff[mask] > 0)) if mask.any() else None

    above = high > threshold
    return {
        "num_pairs": int(low.size),
        "mean_low": float(low.mean()),
        "mean_high": float(high.mean()),
        "mean_difference": float(diff.mean()),
        "positive_share": float(np.mean(diff > 0)),
        "cohens_d": cohens_d(high, low),
        "cohens_d_paired": cohens_d(high, low, paired=True),
        "t_paired": paired.t,
        "p_paired_t": paired.p,
        "p_wilcoxon": wilcoxon(high, low).p,
        "p_independent_t": t_test(high, low).p,
        "threshold": float(threshold),
        "num_above": int(above.sum()),
        "positive_share_above": positive_share(above),
        "num_below": int((~above).sum()),
        "positive_share_below": positive_share(~above),
    }


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
                                     map_size=model.map_size, standardized=model.standardized)
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


def evaluate_pairs(model, scorer, num_pairs=1000, seed=0, low=None, high=None, threshold=0.65, batch_size=64,
                   also_score=None):
    """Generate pairs with `model` and score them with the independent predictor `scorer`.

    `low` / `high` are on the model's condition scale (see `MemorabilityGAN.low_high`); `threshold` is on the
    scorer's raw score scale. `also_score` ({name: predictor}, e.g. the feedback predictor) scores the same
    images too, reported as result[name] = {mean_low, mean_high, positive_share}.
    """
    low, high = model.low_high(low, high)
    if weights_digest(scorer) == weights_digest(model.predictor):
        raise ValueError("The scorer has the same weights as the generator's feedback predictor: a generator "
                         "must be graded by an independent predictor.")
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
    result.update(condition=model.condition, target_low=low, target_high=high, seed=seed)
    for name in also_score or {}:
        s_low, s_high = scores[name, "low"], scores[name, "high"]
        result[name] = {"mean_low": float(s_low.mean()), "mean_high": float(s_high.mean()),
                        "positive_share": float(np.mean(s_high > s_low))}
    return result
