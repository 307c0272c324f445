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
    with pytest.raises(ValueError, match="barely vary"):
        targets.fit_score_scale(np.full(10, 0.05))
    # A predictor trained for a few steps: scores 0.41 +- 2.3e-8 (float noise). One line, naming the spread.
    noise = 0.41 + 2.3e-8 * np.tile([1.0, -1.0], 32)  # std exactly 2.3e-8
    with pytest.raises(ValueError, match=r"^The predictor's scores on the 64 real images barely vary \(std 2\.3e-08 "
                                         r"around mean 0\.41\)") as error:
        targets.fit_score_scale(noise)
    assert "\n" not in str(error.value)
    assert targets.fit_score_scale(0.41 + 1e-3 * np.random.default_rng(1).standard_normal(64))["std"] > 0
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


# Closed forms of the two samplers' moments (10 x 10 grid, nested_prob 0.5). Box sides: the authors' code draws
# a corner c uniform on 0..9 and a side uniform on 1..10 - c (mean 3.25); the inner box's start and end are
# uniform within the outer side h (mean inner side h / 4), its intensity uniform from the outer's up to 255
# (mean excess 63.5 / 255 over an outer mean of 128 / 255). The uniform sampler: sides uniform on 1..10 (5.5), inner
# sides uniform on 1..h ((5.5 + 1) / 2), intensity U(0, 1), inner excess 0.5 * 0.5.
AUTHORS_AREA = 3.25**2  # 10.56 (50k draws of the sampler: 10.5)
AUTHORS_INTENSITY = (128 / 255 * AUTHORS_AREA + 0.5 * 63.5 / 255 * (3.25 / 4) ** 2) / 100  # 0.0538 (50k draws: 0.054)
UNIFORM_AREA = 5.5**2  # 30.25 (50k draws: 30.2)
UNIFORM_INTENSITY = (0.5 * UNIFORM_AREA + 0.5 * 0.25 * 3.25**2) / 100  # 0.164 (50k draws: 0.163)


@pytest.mark.parametrize("sampler, area, intensity", [("authors_code", AUTHORS_AREA, AUTHORS_INTENSITY),
                                                      ("uniform_extent", UNIFORM_AREA, UNIFORM_INTENSITY)])
def test_sampler_moments_match_their_closed_forms(sampler, area, intensity):
    m = maps(20000, seed=5, sampler=sampler)[..., 0]
    areas, means = (m > 0).sum(axis=(1, 2)), m.mean(axis=(1, 2))
    for sample, expected in ((areas, area), (means, intensity)):
        standard_error = sample.std() / np.sqrt(sample.size)
        assert abs(sample.mean() - expected) < 4.5 * standard_error, (sampler, sample.mean(), expected)
    # The other sampler's moments lie hundreds of standard errors away: the test tells them apart.
    other = UNIFORM_AREA if sampler == "authors_code" else AUTHORS_AREA
    assert abs(areas.mean() - other) > 50 * areas.std() / np.sqrt(areas.size)


def test_authors_sampler_draws_what_gen_fake_vms_draws():
    m = maps(4000, seed=2, sampler="authors_code")[..., 0]
    levels = np.round(m * 255)
    np.testing.assert_allclose(m * 255, levels, atol=1e-3)  # intensities k / 255
    assert levels[m > 0].min() >= 1 and levels.max() <= 255
    nested = 0
    for single in m:
        rows, cols = np.where(single > 0)
        box = single[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        assert (box > 0).all()  # every map has a box (intensity >= 1 / 255), filled
        values = np.unique(box)
        assert len(values) <= 2 and values[-1] >= values[0]
        nested += len(values) == 2
    sides = [np.ptp(np.where(single > 0)[0]) + 1 for single in m]
    assert min(sides) == 1 and max(sides) == 10
    # The corner sits anywhere on the grid, so a box touches the bottom edge far more often than the top.
    touches_bottom = (m[:, -1, :] > 0).any(axis=1).mean()
    assert touches_bottom > 0.25 and (m[:, 0, :] > 0).any(axis=1).mean() < 0.15
    # A visible inner box needs the coin (1/2), a non-empty box, a brighter level and a smaller extent: its
    # frequency matches an independent numpy draw of the same recipe within 4.5 standard errors.
    rng, n = np.random.default_rng(0), 20000
    ends = [(start, start + rng.integers(1, 11 - start)) for start in rng.integers(0, 10, (2, n))]  # side 1..10-c
    inner = [(a + rng.integers(0, b - a + 1), b) for a, b in ends]  # start uniform in [c, end]
    inner = [(a, a + rng.integers(0, b - a + 1)) for a, b in inner]  # end uniform in [start, end]
    level = rng.integers(1, 256, n)
    level2 = level + rng.integers(0, 256 - level)
    smaller = ((inner[0][1] - inner[0][0]) * (inner[1][1] - inner[1][0])
               < (ends[0][1] - ends[0][0]) * (ends[1][1] - ends[1][0]))
    empty = (inner[0][1] == inner[0][0]) | (inner[1][1] == inner[1][0])
    reference = ((rng.random(n) < 0.5) & ~empty & smaller & (level2 > level)).mean()
    ours = nested / len(m)
    error = np.sqrt(reference * (1 - reference) * (1 / n + 1 / len(m)))
    assert abs(ours - reference) < 4.5 * error and 0.05 < ours < 0.2, (ours, reference)
    with pytest.raises(ValueError, match="Unknown target sampler 'paper'"):
        targets.sample_target_maps(2, sampler="paper")
    pairs = targets.low_high_targets("map", 20, seed=0, sampler="authors_code")
    assert np.allclose(pairs[1], 9.0 * pairs[0], rtol=1e-5, atol=1e-7)
