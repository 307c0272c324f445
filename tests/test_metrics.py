import numpy as np
import pytest
from scipy import stats

from vms_zoo import metrics


@pytest.fixture
def maps():
    rng = np.random.default_rng(0)
    y = rng.random((6, 8, 8, 2)).astype(np.float32)
    p = np.clip(y + 0.3 * rng.standard_normal(y.shape), 0, 1).astype(np.float32)
    return y, p


def test_pearson_2d_equals_numpy_corrcoef_on_flattened_maps(maps):
    y, p = maps
    per_image = metrics.pearson_2d_per_image(y, p)
    for i in range(len(y)):
        for c in range(2):
            expected = np.corrcoef(y[i, ..., c].ravel(), p[i, ..., c].ravel())[0, 1]
            assert per_image[i, c] == pytest.approx(expected, abs=1e-9)
            assert metrics.corr2(y[i, ..., c], p[i, ..., c]) == pytest.approx(expected, abs=1e-9)
    np.testing.assert_allclose(metrics.pearson_2d(y, p), per_image.mean(axis=0))


def test_constant_map_is_nan_and_skipped_in_the_mean(maps):
    y, p = maps
    p = p.copy()
    p[0, ..., 0] = 0.5
    assert np.isnan(metrics.pearson_2d_per_image(y, p)[0, 0])
    assert metrics.pearson_2d(y, p)[0] == pytest.approx(np.mean(metrics.pearson_2d_per_image(y, p)[1:, 0]))


def test_mse_255_scale(maps):
    y, _ = maps
    np.testing.assert_allclose(metrics.mse_255(y, np.clip(y + 0.1, 0, 2)), [(25.5) ** 2] * 2, rtol=1e-4)


def test_keras_metrics_match_numpy(maps):
    y, p = maps
    rho = metrics.Pearson2D(channel=1)
    rho.update_state(y[:3], p[:3])
    rho.update_state(y[3:], p[3:])
    assert float(rho.result()) == pytest.approx(metrics.pearson_2d(y, p)[1], abs=1e-5)
    mse = metrics.MSE255(channel=0)
    mse.update_state(y, p)
    assert float(mse.result()) == pytest.approx(metrics.mse_255(y, p)[0], rel=1e-4)
    assert metrics.Pearson2D.from_config(rho.get_config()).channel == 1


def test_spearman_matches_scipy():
    a, b = np.arange(10.0), np.arange(10.0) ** 3 + np.r_[0, 5, 0, 0, 0, 0, 0, 0, 0, 0]
    assert metrics.spearman(a, b)[0] == pytest.approx(stats.spearmanr(a, b).statistic)


def test_category_mean_baseline_and_report(maps):
    y, p = maps
    cats = np.array([0, 0, 1, 1, 1, 0])
    base = metrics.category_mean_baseline(y, cats, np.array([1, 0]))
    np.testing.assert_allclose(base[0], y[cats == 1].mean(0), rtol=1e-6)
    np.testing.assert_allclose(base[1], y[cats == 0].mean(0), rtol=1e-6)
    with pytest.raises(ValueError, match="categories"):
        metrics.category_mean_baseline(y, cats, np.array([7]))
    report = metrics.map_report(y, p, cats, ["kitchen", "isolated"])
    assert report["overall"]["rho2d_true"] == pytest.approx(metrics.pearson_2d(y, p)[0])
    assert report["per_category"]["isolated"]["count"] == 3
    assert report["per_category"]["kitchen"]["mse255_false"] == pytest.approx(
        metrics.mse_255(y[cats == 0], p[cats == 0])[1], rel=1e-6
    )


def test_shape_mismatch_is_named():
    with pytest.raises(ValueError, match="same shape"):
        metrics.pearson_2d(np.zeros((2, 4, 4, 2)), np.zeros((2, 4, 4, 1)))


def test_all_row_is_rho2d_and_mse_of_the_global_map():
    # one 2x2 image: the true channels agree, the false ones put their pixel in different places
    y = np.zeros((1, 2, 2, 2))
    p = np.zeros((1, 2, 2, 2))
    y[0, 0, 0, 0] = p[0, 0, 0, 0] = 1.0
    y[0, 1, 0, 1] = 1.0
    p[0, 1, 1, 1] = 1.0
    np.testing.assert_allclose(metrics.pearson_2d(y, p), [1.0, -1 / 3])
    # global maps (1, 0, 1, 0) and (1, 0, 0, 1): centred (.5, -.5, .5, -.5) . (.5, -.5, -.5, .5) = 0
    assert metrics.pearson_2d_all(y, p) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_array_equal(metrics.global_map(y)[0, ..., 0], [[1.0, 0.0], [1.0, 0.0]])
    overall = metrics.map_report(y, p)["overall"]
    assert overall["rho2d_all"] == pytest.approx(0.0, abs=1e-12)
    assert overall["rho2d_mean"] == pytest.approx(1 / 3)  # the mean of the rows is another number
    # global-map errors (0, 0, 1, -1) * 255: MSE 255^2 / 2, not the channel mean 255^2 / 4
    assert overall["mse255_all"] == pytest.approx(255.0 ** 2 / 2)
    assert np.mean(metrics.mse_255(y, p)) == pytest.approx(255.0 ** 2 / 4)
    with pytest.raises(ValueError, match="two channels"):
        metrics.global_map(y[..., :1])


def test_all_row_keras_metric_matches_numpy(maps):
    y, p = maps
    expected = np.mean([np.corrcoef(y[i].sum(-1).ravel(), p[i].sum(-1).ravel())[0, 1] for i in range(len(y))])
    assert metrics.pearson_2d_all(y, p) == pytest.approx(expected, abs=1e-6)  # float32 maps
    assert metrics.map_report(y, p)["overall"]["rho2d_all"] == pytest.approx(expected, abs=1e-6)
    rho = metrics.Pearson2D(channel="all")
    rho.update_state(y[:4], p[:4])
    rho.update_state(y[4:], p[4:])
    assert rho.name == "rho2d_all" and float(rho.result()) == pytest.approx(expected, abs=1e-5)
    assert metrics.Pearson2D.from_config(rho.get_config()).channel == "all"
