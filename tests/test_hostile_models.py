"""Hostile values at the models' sampling entry points: non-finite latent codes, memorability requests outside
[0, 1] or of the wrong shape, and sample counts below one are refused with one-line errors naming the problem;
the values around them still work and give the conditions they should."""

import re

import numpy as np
import pytest

from helpers import make_memgan, make_wmemgan, tiny_predictor

N = 3


@pytest.fixture(scope="module")
def gans():
    return {"score": make_wmemgan("score"), "map": make_wmemgan("map"),
            "standardized": make_wmemgan("score", score_scale=(0.2, 0.05)), "memgan": make_memgan(8)}


def refused(call, message):
    """The one-line ValueError message of `call`, which must match `message`."""
    with pytest.raises(ValueError, match=message) as error:
        call()
    assert "\n" not in str(error.value)
    return str(error.value)


@pytest.mark.parametrize("name", ["score", "map", "memgan"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_generate_refuses_non_finite_latent_codes(name, value, gans):
    model = gans[name]
    z = np.random.default_rng(0).normal(size=(N, model.latent_dim)).astype("float32")
    m = model.make_condition("high", N)
    assert np.all(np.isfinite(model.generate(z, m)))
    z[1, 2] = value
    refused(lambda: model.generate(z, m), r"z \(the latent codes\) must be finite; got NaN or infinite")
    refused(lambda: model([z, m]), r"z \(the latent codes\) must be finite")


@pytest.mark.parametrize("name", ["score", "map", "standardized", "memgan"])
@pytest.mark.parametrize("value, message", [
    (np.nan, "Memorability scores contain NaN or infinite values; expected float32 in \\[0, 1\\]"),
    (np.inf, "Memorability scores contain NaN or infinite"),
    (5.0, r"Memorability scores must be float32 in \[0, 1\]; got values in \[5, 5\]"),
    (-0.1, r"Memorability scores must be float32 in \[0, 1\]; got values in \[-0.1, -0.1\]"),
    (np.full((4, 4), 1.5), r"Target maps must be float32 in \[0, 1\]; got values in \[1.5, 1.5\]"),
    (np.full((4, 4), np.nan), "Target maps contain NaN or infinite"),
    (np.zeros((3, 4, 4)), r"a 2-D \(H, W\) true-schema map in \[0, 1\]; got an array of shape \(3, 4, 4\)"),
    (np.zeros((1, 4, 4, 1)), r"a 2-D \(H, W\) true-schema map .*got an array of shape \(1, 4, 4, 1\)"),
    ([0.2, 0.4], r"got an array of shape \(2,\)"),
    (None, r"must be 'low', 'high', a score in \[0, 1\] or a 2-D \(H, W\) true-schema map in \[0, 1\]; got None"),
    ("medium", "Unknown memorability 'medium'; expected 'low', 'high', a score or a map"),
])
def test_make_condition_refuses_requests_outside_the_unit_range_or_of_the_wrong_shape(name, value, message, gans):
    assert re.search(message, refused(lambda: gans[name].make_condition(value, N), message))


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_make_condition_refuses_a_sample_count_below_one(n, gans):
    text = refused(lambda: gans["score"].make_condition(0.5, n), f"n must be a positive integer, got {n!r}")
    assert text.endswith(f"got {n!r}.")  # names the value it refused


def test_make_condition_gives_the_requested_level_on_each_scale(gans):
    np.testing.assert_array_equal(gans["score"].make_condition(0.5, N), np.full((N, 1), 0.5, "float32"))
    np.testing.assert_array_equal(gans["score"].make_condition(1, 2), np.ones((2, 1), "float32"))  # an int score
    # The standardized model takes raw scores too, as z-scores of its scale: (0.3 - 0.2) / 0.05 = 2.
    np.testing.assert_allclose(gans["standardized"].make_condition(0.3, N), np.full((N, 1), 2.0), rtol=1e-5)
    ramp = np.linspace(0.0, 1.0, 20, dtype="float32").reshape(4, 5)
    np.testing.assert_allclose(gans["score"].make_condition(ramp, 2), np.full((2, 1), ramp.mean()), rtol=1e-6)
    maps = gans["map"].make_condition(np.full((20, 30), 0.25), 2)
    assert maps.shape == (2, 10, 10, 1)
    np.testing.assert_allclose(maps, 0.25, rtol=1e-6)  # an area resize keeps a constant map


@pytest.mark.parametrize("num_samples", [0, -2, 1.5, "2", None])
def test_predictor_sample_refuses_a_sample_count_below_one(num_samples):
    model = tiny_predictor()
    images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    refused(lambda: model.sample(images, num_samples=num_samples),
            f"num_samples \\(maps drawn per image\\) must be a positive integer, got {re.escape(repr(num_samples))}")
    draws = model.sample(images, num_samples=np.int64(2))
    assert draws.shape == (2, 2, 32, 32, 2) and draws.min() >= 0.0 and draws.max() <= 1.0
