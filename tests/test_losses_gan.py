"""Wasserstein GAN loss terms against numpy, and the gradient penalty's double backprop."""

import numpy as np
import keras
import pytest
from keras import ops

from vms_zoo import backend, losses


def np_(x):
    return ops.convert_to_numpy(x)


def test_wasserstein_terms_match_numpy():
    real = np.array([[1.0], [2.0], [-0.5]], "float32")
    fake = np.array([[0.25], [-1.0], [3.0]], "float32")
    assert np.isclose(np_(losses.critic_loss(real, fake)), fake.mean() - real.mean())
    assert np.isclose(np_(losses.generator_loss(fake)), -fake.mean())
    assert np.isclose(np_(losses.wasserstein_estimate(real, fake)), real.mean() - fake.mean())
    assert np.isclose(np_(losses.drift_loss(real)), 0.001 * np.mean(real**2))
    assert np.isclose(np_(losses.drift_loss(real, weight=0.5)), 0.5 * np.mean(real**2))


def test_memorability_loss_is_alpha_weighted_mse():
    pred = np.random.default_rng(0).uniform(size=(4, 10, 10, 1)).astype("float32")
    target = np.random.default_rng(1).uniform(size=(4, 10, 10, 1)).astype("float32")
    mse = np.mean((pred - target) ** 2)
    assert np.isclose(np_(losses.memorability_loss(ops.convert_to_tensor(pred), target)), mse, rtol=1e-6)
    assert np.isclose(np_(losses.memorability_loss(ops.convert_to_tensor(pred), target, alpha=10.0)), 10 * mse,
                      rtol=1e-6)
    assert np_(losses.memorability_loss(ops.convert_to_tensor(pred), target, alpha=0.0)) == 0.0
    with pytest.raises(ValueError, match="does not match target shape"):
        losses.memorability_loss(ops.convert_to_tensor(pred), target[:, :5])


def linear_critic(w):
    w = ops.convert_to_tensor(w)
    return lambda x: ops.sum(ops.reshape(x, (ops.shape(x)[0], -1)) * ops.reshape(w, (1, -1)), axis=-1)


def test_gradient_penalty_closed_form_for_linear_critic():
    """D(x) = <w, x> has input gradient w everywhere: penalty = (sqrt(|w|^2 + eps) - 1)^2."""
    rng = np.random.default_rng(0)
    real = rng.normal(size=(5, 4, 4, 3)).astype("float32")
    fake = rng.normal(size=(5, 4, 4, 3)).astype("float32")
    mix = rng.uniform(size=(5, 1, 1, 1)).astype("float32")
    for scale in (0.05, 0.3):
        w = (scale * rng.normal(size=(4, 4, 3))).astype("float32")
        gp = np_(losses.gradient_penalty(linear_critic(w), ops.convert_to_tensor(real), fake, mix))
        assert np.isclose(gp, (np.sqrt(np.sum(w.astype("float64") ** 2) + 1e-10) - 1.0) ** 2, rtol=1e-4)
    # The epsilon inside the square root keeps a zero input gradient finite.
    gp0 = np_(losses.gradient_penalty(linear_critic(np.zeros((4, 4, 3), "float32")), ops.convert_to_tensor(real),
                                      fake, mix))
    assert np.isclose(gp0, 1.0, atol=1e-4)


def tiny_critic(seed=0):
    critic = keras.Sequential([keras.Input((3, 3, 2)), keras.layers.Flatten(),
                               keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)])
    rng = np.random.default_rng(seed)
    for v in critic.weights:
        v.assign(rng.normal(0.0, 0.8, v.shape).astype("float32"))
    return critic


def test_gradient_penalty_weight_gradients_match_finite_differences():
    """The penalty depends on the weights only through grad_x D: wrong double backprop gives wrong numbers."""
    critic = tiny_critic()
    rng = np.random.default_rng(1)
    real = ops.convert_to_tensor(rng.normal(size=(6, 3, 3, 2)).astype("float32"))
    fake = ops.convert_to_tensor(rng.normal(size=(6, 3, 3, 2)).astype("float32"))
    mix = ops.convert_to_tensor(rng.uniform(size=(6, 1, 1, 1)).astype("float32"))

    def penalty():
        return losses.gradient_penalty(lambda x: critic(x), real, fake, mix)

    value, _, grads = backend.value_and_grad(lambda: (penalty(), None), critic.trainable_variables)
    assert np.isclose(np_(value), np_(penalty()))
    h = 1e-2
    checked = 0
    for v, g in zip(critic.trainable_variables, grads):
        g = np_(g)
        base = np_(v.value).copy()
        for idx in list(np.ndindex(base.shape))[:: max(1, base.size // 6)]:
            numeric = []
            for sign in (1.0, -1.0):
                bumped = base.copy()
                bumped[idx] += sign * h
                v.assign(bumped)
                numeric.append(float(np_(penalty())))
            v.assign(base)
            fd = (numeric[0] - numeric[1]) / (2 * h)
            assert np.isclose(g[idx], fd, rtol=3e-2, atol=2e-3), (v.path, idx, g[idx], fd)
            checked += abs(fd) > 1e-2
    assert checked >= 5  # enough non-trivial derivatives were compared


def test_input_gradient_matches_analytic():
    x = ops.convert_to_tensor(np.array([[1.0, -2.0], [0.5, 3.0]], "float32"))
    g = np_(backend.input_gradient(lambda t: ops.sum(t**3, axis=-1), x))
    np.testing.assert_allclose(g, 3 * np_(x) ** 2, rtol=1e-6)
