"""Shared statistics (`vms_zoo.stats`): hand-computed values on small arrays, and agreement with scipy."""

import numpy as np
import pytest
from scipy import stats

from vms_zoo.stats import cohens_d, corr2, paired_comparison, t_test, wilcoxon, within_sd

X, Y = np.array([2.0, 4, 6, 8]), np.array([1.0, 2, 3])  # means 5 and 2; pooled SD sqrt((3*20/3 + 2*1) / 5)
A, B = np.array([2.0, 4, 6, 8]), np.array([1.0, 2, 5, 6])  # differences 1, 2, 1, 2: mean 1.5, SD sqrt(1/3)


def test_cohens_d_independent_paired_and_one_sample():
    assert cohens_d(X, Y) == pytest.approx(3 / np.sqrt(4.4))
    assert cohens_d(Y, X) == pytest.approx(-3 / np.sqrt(4.4))
    assert cohens_d(A, B, paired=True) == pytest.approx(1.5 / np.sqrt(1 / 3))
    assert cohens_d([1.0, 2, 3, 4]) == pytest.approx(2.5 / np.std([1, 2, 3, 4], ddof=1))
    # equal group sizes: the pooled SD is the root mean of the two variances
    assert cohens_d(A, B) == pytest.approx(1.5 / np.sqrt((np.var(A, ddof=1) + np.var(B, ddof=1)) / 2))


def test_t_tests_match_hand_values_and_scipy():
    one = t_test([1.0, 2, 3, 4])
    assert one.t == pytest.approx(2.5 / (np.std([1, 2, 3, 4], ddof=1) / 2)) and one.df == 3
    assert one.p == pytest.approx(2 * stats.t.sf(one.t, 3))
    half = stats.t.ppf(0.975, 3) * np.std([1, 2, 3, 4], ddof=1) / 2
    assert (one.ci_low, one.ci_high) == pytest.approx((2.5 - half, 2.5 + half))
    paired = t_test(A, B, paired=True)
    assert paired.t == pytest.approx(1.5 / (np.sqrt(1 / 3) / 2)) and paired.df == 3
    assert paired.p == pytest.approx(stats.ttest_rel(A, B).pvalue)
    ind = t_test(X, Y)
    assert ind.t == pytest.approx(3 / (np.sqrt(4.4) * np.sqrt(1 / 4 + 1 / 3))) and ind.df == 5
    assert ind.t == pytest.approx(1.872563351797078) and ind.p == pytest.approx(0.120017637741894)
    ci = stats.ttest_ind(X, Y).confidence_interval(0.9)
    assert t_test(X, Y, confidence=0.9)[3:] == pytest.approx((ci.low, ci.high))


def test_zero_spread_is_read_as_its_limit():
    same = np.array([0.5, 0.5, 0.5])
    assert cohens_d(same, same, paired=True) == 0.0 and cohens_d(same, same) == 0.0
    assert t_test(same, same, paired=True) == (0.0, 2.0, 1.0, 0.0, 0.0)
    assert t_test([0.0, 0.0]).p == 1.0
    shift = t_test(same + 0.25, same, paired=True)  # every pair differs by exactly 0.25
    assert shift.t == np.inf and shift.p == 0.0 and shift.ci_low == shift.ci_high == 0.25
    assert cohens_d(same - 0.25, same) == -np.inf
    assert wilcoxon(same, same) == (0.0, 1.0)


def test_wilcoxon_exact_values():
    d = np.array([1.0, 2, -3, 4, 5, 6])  # W- = 3; rank sums <= 3 over 64 sign patterns: {}, 1, 2, 3, 1+2
    assert wilcoxon(d) == pytest.approx((3.0, 10 / 64))
    assert wilcoxon(d, alternative="greater") == pytest.approx((18.0, 5 / 64))
    assert wilcoxon(np.append(d, 0.0)) == pytest.approx((3.0, 10 / 64))  # zero differences are dropped
    assert wilcoxon(d + 10, np.full(6, 10.0)) == pytest.approx(wilcoxon(d))
    high = np.array([0.60, 0.45, 0.66, 0.80, 0.70, 0.42])
    low = np.array([0.50, 0.40, 0.70, 0.60, 0.55, 0.30])
    assert wilcoxon(high, low).p == pytest.approx(stats.wilcoxon(high, low).pvalue)


def test_corr2():
    # two different single-pixel maps: centred (.75, -.25, -.25, -.25) and (-.25, -.25, .75, -.25)
    assert corr2([[1.0, 0], [0, 0]], [[0.0, 0], [1, 0]]) == pytest.approx(-1 / 3)
    assert corr2([[1, 2], [3, 4]], [[2, 4], [6, 8]]) == pytest.approx(1.0)
    assert corr2([[1, 2], [3, 4]], [[4, 3], [2, 1]]) == pytest.approx(-1.0)
    rng = np.random.default_rng(0)
    u, v = rng.random((5, 7)), rng.random((5, 7))
    assert corr2(u, v) == pytest.approx(np.corrcoef(u.ravel(), v.ravel())[0, 1])
    assert np.isnan(corr2(u, np.ones_like(u)))


def test_paired_comparison_hand_values():
    # differences A - B = 1, 2, 1, 2: mean 1.5, SD sqrt(1/3); ranks of |d|: 1.5, 3.5, 1.5, 3.5, all positive
    r = paired_comparison(A, B)
    assert r["num_pairs"] == 4 and r["mean_high"] == 5.0 and r["mean_low"] == 3.5
    assert r["mean_difference"] == 1.5 and r["positive_share"] == 1.0
    assert r["cohens_d_paired"] == pytest.approx(1.5 / np.sqrt(1 / 3))
    assert r["t_paired"] == pytest.approx(1.5 / (np.sqrt(1 / 3) / 2)) and r["df_paired"] == 3
    assert r["w_wilcoxon"] == 0.0 and r["p_wilcoxon"] == pytest.approx(stats.wilcoxon(A, B).pvalue)
    assert r["p_independent_t"] == pytest.approx(stats.ttest_ind(A, B).pvalue)
    with pytest.raises(ValueError, match="pair up"):
        paired_comparison([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="at least 2 pairs"):
        paired_comparison([1.0], [0.0])


def test_within_sd_is_the_two_sd_rule():
    # nine 0s and a 10: mean 1, SD sqrt((9 * 1 + 81) / 9) = sqrt(10); |10 - 1| = 9 > 2 sqrt(10) = 6.32
    x = np.r_[np.zeros(9), 10.0]
    assert within_sd(x).tolist() == [True] * 9 + [False]
    assert within_sd(x, n_sd=3).all()  # 9 < 3 sqrt(10) = 9.49
    # four 0s and a 10: mean 2, SD sqrt(20); |10 - 2| = 8 < 2 sqrt(20) = 8.94, as (n - 1) / sqrt(n) < 2 for n = 5
    assert within_sd([0.0, 0, 0, 0, 10]).all()
    assert within_sd([1.0, np.nan, 1.0]).tolist() == [True, False, True]  # NaN is never kept; SD 0 keeps the rest
    assert within_sd(np.r_[x, np.nan], n_sd=None).tolist() == [True] * 10 + [False]
