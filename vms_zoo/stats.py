"""Effect sizes and tests shared by the pair evaluation (`vms_zoo.evaluation`) and the human-experiment
toolkit (`vms_zoo.human`): numpy and scipy only, so the toolkit never imports a deep-learning framework.

Every comparison is of a (one sample against 0), a - b (paired) or a vs b (independent groups). When the
spread is zero the ratio is read as its limit: no difference gives d = t = 0 and p = 1, a constant
non-zero difference gives d = t = +-inf and p = 0 (scipy would return NaN for the first and warn).
"""

from typing import NamedTuple

import numpy as np
from scipy import stats


class TTest(NamedTuple):
    t: float
    df: float
    p: float
    ci_low: float  # confidence interval of the mean (difference)
    ci_high: float


class Wilcoxon(NamedTuple):
    w: float
    p: float


def _vector(x):
    return np.asarray(x, np.float64).reshape(-1)


def _effect_and_spread(a, b=None, paired=False):
    """Mean effect and the SD it is measured against: SD of a, of a - b (paired), or pooled over a and b."""
    a = _vector(a)
    if b is None or paired:
        x = a if b is None else a - _vector(b)
        return x.mean(), x.std(ddof=1), x.size - 1
    b = _vector(b)
    df = a.size + b.size - 2
    pooled = np.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / df)
    return a.mean() - b.mean(), pooled, df


def _ratio(effect, spread):
    if spread == 0:
        return 0.0 if effect == 0 else float(np.sign(effect) * np.inf)
    return float(effect / spread)


def cohens_d(a, b=None, paired=False):
    """Cohen's d: mean of a over its SD (b None), d_z = mean(a - b) / SD(a - b) (paired), or the
    difference of means over the pooled SD (independent groups)."""
    effect, spread, _ = _effect_and_spread(a, b, paired)
    return _ratio(effect, spread)


def t_test(a, b=None, paired=False, confidence=0.95):
    """Student t-test of a against 0 (b None), of a - b against 0 (paired), or of a vs b (independent,
    equal variances), two-sided, with the `confidence` interval of the mean (difference)."""
    effect, spread, df = _effect_and_spread(a, b, paired)
    if spread == 0:  # scipy gives NaN or +-inf with a warning; take the limit
        return TTest(_ratio(effect, spread), float(df), 1.0 if effect == 0 else 0.0, float(effect), float(effect))
    if b is None:
        res = stats.ttest_1samp(_vector(a), 0.0)
    elif paired:
        res = stats.ttest_rel(_vector(a), _vector(b))
    else:
        res = stats.ttest_ind(_vector(a), _vector(b))
    ci = res.confidence_interval(confidence)
    return TTest(float(res.statistic), float(res.df), float(res.pvalue), float(ci.low), float(ci.high))


def wilcoxon(a, b=None, alternative="two-sided"):
    """Wilcoxon signed-rank test of a (or a - b) against 0, the rank-based twin of the paired t-test.
    Zero differences are dropped (scipy's default); when all are zero there is nothing to rank: W = 0, p = 1."""
    d = _vector(a) if b is None else _vector(a) - _vector(b)
    if not np.any(d != 0):
        return Wilcoxon(0.0, 1.0)
    res = stats.wilcoxon(d, alternative=alternative)
    return Wilcoxon(float(res.statistic), float(res.pvalue))


def paired_comparison(high, low):
    """Paired effect of `high` over `low` (element i of each is one pair): both means, the mean difference,
    the share of positive differences, Cohen's d (pooled, and paired d_z), the paired t-test, the Wilcoxon
    signed-rank test (two-sided) and, for reference, the independent t-test. The one summary of paired
    scores, shared by the generator pair evaluation and the human image-pair analysis."""
    low, high = _vector(low), _vector(high)
    if low.shape != high.shape:
        raise ValueError(f"low and high scores must pair up, got {low.size} and {high.size} values.")
    if low.size < 2:
        raise ValueError(f"Need at least 2 pairs, got {low.size}.")
    diff = high - low
    paired, signed_rank = t_test(high, low, paired=True), wilcoxon(high, low)
    return {
        "num_pairs": int(low.size),
        "mean_low": float(low.mean()),
        "mean_high": float(high.mean()),
        "mean_difference": float(diff.mean()),
        "positive_share": float(np.mean(diff > 0)),
        "cohens_d": cohens_d(high, low),
        "cohens_d_paired": cohens_d(high, low, paired=True),
        "t_paired": paired.t,
        "df_paired": paired.df,
        "p_paired_t": paired.p,
        "w_wilcoxon": signed_rank.w,
        "p_wilcoxon": signed_rank.p,
        "p_independent_t": t_test(high, low).p,
    }


def within_sd(values, n_sd=2.0):
    """Mask of the values within `n_sd` sample standard deviations (ddof 1) of their mean: the outlier rule
    of the W-MEMGAN paper's human experiment ("Outliers beyond two standard deviations of the mean were
    excluded"). One pass, no re-estimation. NaN is never kept; `n_sd` None keeps every finite value.
    With n values no value can lie beyond (n - 1) / sqrt(n) SDs, so 2 SDs exclude nothing below 6 values."""
    x = _vector(values)
    finite = np.isfinite(x)
    if n_sd is None or finite.sum() < 2:
        return finite
    mean, sd = x[finite].mean(), x[finite].std(ddof=1)
    with np.errstate(invalid="ignore"):
        return finite & (np.abs(x - mean) <= n_sd * sd)


def corr2(a, b):
    """2-D Pearson correlation of two maps, MATLAB's corr2 (NaN when either map is constant)."""
    a = np.asarray(a, np.float64) - np.mean(a)
    b = np.asarray(b, np.float64) - np.mean(b)
    denom = np.sqrt(np.sum(a * a) * np.sum(b * b))
    return float(np.sum(a * b) / denom) if denom > 0 else float("nan")
