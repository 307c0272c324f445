"""Target sampler P_t and single scores: shapes, ranges, rectangle structure, determinism, errors."""

import numpy as np
import pytest
from keras import ops

from vms_zoo import targets


def maps(n=2000, seed=0, **kwargs):
    return ops.convert_to_numpy(targets.sample_target_maps(n, seed=seed, **kwargs))


def test_maps_shape_range_and_determinism():
    m = maps()
    assert m.shape == (2000, 10, 10, 1) and m.dtype == np.float32
    assert m.min() >= 0.0 and m.max() <= 1.0
    np.testing.assert_array_equal(m, maps())
    assert not np.array_equal(m, maps(seed=1))
    assert maps(5, size=7).shape == (5, 7, 7, 1)


def test_maps_are_one_rectangle_with_optional_brighter_nested_one():
    m = maps()[..., 0]
    heights, widths, levels, nested = [], [], [], 0
    for single in m:
        nonzero = single > 0
        rows, cols = np.where(nonzero)
        if rows.size == 0:  # intensity exactly 0: possible but rare
            continue
        box = single[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        assert (box > 0).all(), "support of the outer region must be a filled rectangle"
        values = np.unique(box)
        assert len(values) <= 2
        if len(values) == 2:
            nested += 1
            inner_rows, inner_cols = np.where(box == values[1])
            inner = box[inner_rows.min():inner_rows.max() + 1, inner_cols.min():inner_cols.max() + 1]
            assert (inner == values[1]).all(), "the brighter region must be a rectangle"
        heights.append(box.shape[0])
        widths.append(box.shape[1])
        levels.append(values[0])
    assert set(heights) == set(range(1, 11)) and set(widths) == set(range(1, 11))
    assert abs(np.mean(heights) - 5.5) < 0.3 and abs(np.mean(widths) - 5.5) < 0.3  # uniform on 1..10
    assert abs(np.mean(levels) - 0.5) < 0.03 and min(levels) < 0.05 and max(levels) > 0.95  # uniform [0, 1]
    assert 0.4 < nested / len(m) < 0.55  # nested_prob=0.5 (a tiny inner box can equal the outer one)
    assert (maps(200, nested_prob=0.0)[..., 0] > 0).sum() > 0
    for single in maps(200, nested_prob=0.0)[..., 0]:
        assert len(np.unique(single[single > 0])) <= 1


def test_scores_shape_range_and_determinism():
    s = ops.convert_to_numpy(targets.sample_target_scores(1000, seed=0, low=0.2, high=0.6))
    assert s.shape == (1000, 1)
    assert s.min() >= 0.2 and s.max() <= 0.6 and abs(s.mean() - 0.4) < 0.02
    np.testing.assert_array_equal(s, ops.convert_to_numpy(targets.sample_target_scores(1000, seed=0, low=0.2,
                                                                                        high=0.6)))
    assert tuple(targets.sample_targets("score", 3, seed=0).shape) == (3, 1)
    assert tuple(targets.sample_targets("map", 3, seed=0).shape) == (3, 10, 10, 1)


def test_low_high_pairs_share_layout():
    low, high = targets.low_high_targets("map", 50, seed=0, low=0.1, high=0.9)
    assert low.shape == high.shape == (50, 10, 10, 1)
    assert np.allclose(low.reshape(50, -1).max(axis=1), 0.1) and np.allclose(high.reshape(50, -1).max(axis=1), 0.9)
    np.testing.assert_allclose(high, 9.0 * low, rtol=1e-5, atol=1e-7)  # same layout, scaled
    s_low, s_high = targets.low_high_targets("score", 4, low=0.2, high=0.7)
    assert s_low.shape == (4, 1) and np.all(s_low == np.float32(0.2)) and np.all(s_high == np.float32(0.7))


def test_ramp_rises_with_fixed_layout():
    ramp = targets.target_ramp("map", [0.0, 0.5, 1.0], seed=3)
    assert ramp.shape == (3, 10, 10, 1)
    assert ramp[0].max() == 0.0 and np.isclose(ramp[1].max(), 0.5) and np.isclose(ramp[2].max(), 1.0)
    np.testing.assert_allclose(ramp[2], 2 * ramp[1], rtol=1e-6)
    np.testing.assert_allclose(targets.target_ramp("score", [0.1, 0.9]), [[0.1], [0.9]])


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="condition"):
        targets.sample_targets("pixels", 2)
    with pytest.raises(ValueError, match="nested_prob"):
        targets.sample_target_maps(2, nested_prob=1.5)
    with pytest.raises(ValueError, match="low"):
        targets.low_high_targets("score", 2, low=0.9, high=0.1)
    with pytest.raises(ValueError, match="levels"):
        targets.target_ramp("score", [0.5, 1.5])
    with pytest.raises(ValueError, match="Score range"):
        targets.sample_target_scores(2, low=-1.0)


def test_standard_scores_are_gaussian_z_scores():
    s = ops.convert_to_numpy(targets.sample_standard_scores(4000, seed=0))
    assert s.shape == (4000, 1) and s.dtype == np.float32
    assert abs(s.mean()) < 0.1 and abs(s.std() - 1.0) < 0.1 and s.min() < -2.0 and s.max() > 2.0
    np.testing.assert_array_equal(s, ops.convert_to_numpy(targets.sample_standard_scores(4000, seed=0)))
    t = ops.convert_to_numpy(targets.sample_targets("score", 500, seed=0, standardized=True))
    assert t.shape == (500, 1) and t.min() < 0.0  # z-scores, not raw [0, 1] scores
    assert tuple(targets.sample_targets("map", 3, seed=0, standardized=True).shape) == (3, 10, 10, 1)


def test_fit_score_scale_gives_mean_std_and_quantile_z_scores():
    scores = np.random.default_rng(0).gamma(2.0, 0.02, size=5000)  # skewed, sparse-map-like scores
    scale = targets.fit_score_scale(scores, quantiles=(0.1, 0.9))
    assert np.isclose(scale["mean"], scores.mean()) and np.isclose(scale["std"], scores.std())
    q = np.quantile(scores, [0.1, 0.9])
    assert np.isclose(scale["low"], (q[0] - scores.mean()) / scores.std())
    assert np.isclose(scale["high"], (q[1] - scores.mean()) / scores.std())
    assert scale["low"] < 0.0 < scale["high"] and scale["quantiles"] == [0.1, 0.9]
    with pytest.raises(ValueError, match="zero spread"):
        targets.fit_score_scale(np.full(10, 0.05))
    with pytest.raises(ValueError, match="quantiles"):
        targets.fit_score_scale(scores, quantiles=(0.9, 0.1))
    with pytest.raises(ValueError, match="at least 2"):
        targets.fit_score_scale([0.1])


def test_standardized_pairs_and_ramps_take_any_z_scores():
    low, high = targets.low_high_targets("score", 3, low=-1.5, high=2.0, standardized=True)
    assert np.all(low == np.float32(-1.5)) and np.all(high == np.float32(2.0))
    np.testing.assert_allclose(targets.target_ramp("score", [-2.0, 0.0, 2.0], standardized=True),
                               [[-2.0], [0.0], [2.0]])
    with pytest.raises(ValueError, match="low < high"):
        targets.low_high_targets("score", 2, low=1.0, high=-1.0, standardized=True)
    with pytest.raises(ValueError, match="levels"):
        targets.target_ramp("score", [], standardized=True)
    with pytest.raises(ValueError, match="levels"):  # maps stay in [0, 1] whatever the score scale
        targets.target_ramp("map", [-1.0, 0.5], standardized=True)
