"""Mixed precision for every family: a train step under mixed_bfloat16 / mixed_float16 gives finite losses close to
float32's from the same weights and data, the networks compute in the low precision, and the GANs scale their
losses under float16 (Keras' LossScaleOptimizer in their own train step)."""

import keras
import numpy as np
import pytest

from helpers import make_memgan, make_wmemgan, set_weights, tiny_predictor
from vms_zoo import training

# Unit roundoff of each compute dtype (half the gap between 1 and the next number): bfloat16 keeps 8 significant
# bits, float16 11. A loss that passes through about a dozen layers, each rounding its output once, moves by a few
# units typically (errors add like a random walk); 16 units, relative to the loss or 1 for small ones, leaves
# room for the longest of them (MEMGAN's critic with the gradient penalty's second pass).
UNIT_ROUNDOFF = {"mixed_bfloat16": 2.0**-8, "mixed_float16": 2.0**-11}
ROUNDOFFS = 16
COMPUTE = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}


def train_two_steps(family, policy):
    """The metrics of two SGD train steps of a tiny `family` model built under `policy`, and the model."""
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        if family == "predictor":
            model = tiny_predictor()
            set_weights(model, 3)
            model.compile(optimizer=keras.optimizers.SGD(1e-3))
            x = rng.uniform(size=(4, 32, 32, 3)).astype("float32")
            y = rng.uniform(size=(4, 32, 32, 2)).astype("float32")
            return [model.train_on_batch(x, y, return_dict=True) for _ in range(2)], model
        if family == "wmemgan":
            model, x = make_wmemgan("map"), rng.uniform(size=(8, 16, 16, 3)).astype("float32")
        else:  # MEMGAN mid-fade at 8 px: both blocks, the fade-in and the moving average run
            model, x = make_memgan(8, ema_beta=0.9), rng.uniform(size=(8, 8, 8, 3)).astype("float32")
            set_weights(model.generator, 0)
            set_weights(model.critic, 1)
        model.compile(d_optimizer=keras.optimizers.SGD(1e-3), g_optimizer=keras.optimizers.SGD(1e-3), n_critic=1)
        if family == "memgan":
            model.set_growth_state(1, fade=0.5)
        return [model.train_on_batch(x, return_dict=True) for _ in range(2)], model
    finally:
        keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("family", ["predictor", "wmemgan", "memgan"])
@pytest.mark.slow
def test_mixed_precision_steps_are_finite_and_close_to_float32(family, policy):
    reference, _ = train_two_steps(family, "float32")
    mixed, model = train_two_steps(family, policy)
    assert model.dtype_policy.compute_dtype == COMPUTE[policy]
    assert all(v.dtype == "float32" for v in model.trainable_variables)  # float32 master weights
    if family != "predictor":
        is_scaled = isinstance(model.d_optimizer, keras.optimizers.LossScaleOptimizer)
        assert is_scaled == (policy == "mixed_float16") and type(model.g_optimizer) is type(model.d_optimizer)
    tolerance = ROUNDOFFS * UNIT_ROUNDOFF[policy]
    for step, (low, full) in enumerate(zip(mixed, reference)):
        for name, value in full.items():
            got, want = float(low[name]), float(value)
            assert np.isfinite(got), (family, policy, step, name)
            assert abs(got - want) <= tolerance * max(abs(want), 1.0), (family, policy, step, name, got, want)


@pytest.mark.slow
def test_float32_policy_is_unchanged_and_memgan_growth_keeps_the_loss_scale():
    _, model = train_two_steps("memgan", "mixed_float16")
    scale = float(keras.ops.convert_to_numpy(model.g_optimizer.dynamic_scale))
    model.reset_optimizers()  # at every growth: the moments are zeroed, the loss scale stays
    assert float(keras.ops.convert_to_numpy(model.g_optimizer.dynamic_scale)) == scale > 1.0
    _, plain = train_two_steps("wmemgan", "float32")
    assert plain.dtype_policy.compute_dtype == "float32" and keras.config.dtype_policy().name == "float32"


def test_dtype_policy_is_a_training_setting_of_every_preset():
    for name in ("vms_vae_m32", "wmemgan_score_128", "memgan_256"):
        assert training.resolve(name, {"dtype_policy": "mixed_bfloat16"})["training"]["dtype_policy"] == "mixed_bfloat16"
        assert "dtype_policy" not in training.resolve(name)["training"]  # runs without it keep their settings
    with pytest.raises(ValueError, match="dtype_policy='float16' must be 'float32', 'mixed_bfloat16' or 'mixed_float16'"):
        training.resolve("memgan_256", {"dtype_policy": "float16"})
    with training.dtype_policy("mixed_bfloat16"):
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"
