"""MEMGAN: fade-in exactness, growth keeps weights, schedule, and resume after an interruption mid-fade."""

import numpy as np
import keras
import pytest
from keras import ops

from helpers import MEMGAN_LATENT as LATENT, make_memgan as make_gan
from vms_zoo.models.memgan import MEMGAN, GrowthSchedule
from vms_zoo.models.memgan.model import downsample, upsample
from vms_zoo.training.callbacks import Checkpoint, GrowthCallback, SampleGrid
from vms_zoo.training.memgan import ImageStream, grow


def inputs(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, LATENT)).astype("float32"), rng.uniform(size=(n, 10, 10, 1)).astype("float32")


def np_(x):
    return ops.convert_to_numpy(x)


def test_fade_0_is_previous_resolution_upsampled_and_1_the_new_block():
    model = make_gan(8)
    z, m = inputs()
    g = model.generator
    previous = np_(g([z, m], stage=0))  # 4x4
    new = np_(g([z, m], stage=1))  # 8x8, stable
    assert previous.shape == (4, 4, 4, 3) and new.shape == (4, 8, 8, 3)
    old = np_(upsample(previous))
    for fade, expected in ((0.0, old), (1.0, new), (0.3, 0.7 * old + 0.3 * new)):
        model.fade_in.fade.assign(fade)
        np.testing.assert_allclose(np_(g([z, m], stage=1, fade_in=model.fade_in)), expected, atol=1e-5)
    assert np.abs(np_(upsample(previous)) - new).mean() > 1e-2  # the two ends differ: the checks bite
    # The critic fades the same way: at fade 0 it scores the half-resolution image with the old fromRGB.
    x = np.random.default_rng(1).uniform(-1, 1, size=(4, 8, 8, 3)).astype("float32")
    model.fade_in.fade.assign(0.0)
    np.testing.assert_allclose(np_(model.critic(x, stage=1, fade_in=model.fade_in)),
                               np_(model.critic(downsample(x), stage=0)), rtol=1e-4, atol=1e-5)
    model.fade_in.fade.assign(1.0)
    np.testing.assert_allclose(np_(model.critic(x, stage=1, fade_in=model.fade_in)), np_(model.critic(x, stage=1)),
                               rtol=1e-4, atol=1e-5)


def test_generate_uses_stored_stage_and_fade_in_tanh_range():
    model = make_gan(8)
    z, m = inputs()
    model.set_growth_state(0)
    low = model.generate(z, m)
    assert low.shape == (4, 4, 4, 3)
    model.set_growth_state(1, fade=0.0)
    assert model.growth_state() == (1, 0.0, 0) and float(np_(model.fade_in.fade)) == 0.0
    images = model.generate(z, m)
    assert images.shape == (4, 8, 8, 3)
    np.testing.assert_allclose(images, np_(upsample(low)), atol=1e-5)
    assert images.min() >= 0.0 and images.max() <= 1.0
    with pytest.raises(ValueError, match="stage"):
        model.set_growth_state(2)


def test_schedule_counts_images():
    s = GrowthSchedule(3, fade_images=[0, 16, 8], stabilise_images=8, batch_sizes=[4, 4, 2])
    assert s.phases == [(0, False, 0, 8, 4), (1, True, 8, 24, 4), (1, False, 24, 32, 4), (2, True, 32, 40, 2),
                        (2, False, 40, 48, 2)]
    assert s.total_images == 48
    assert s.state_at(0) == (0, 1.0)
    assert s.state_at(8) == (1, 0.0)
    assert s.state_at(12) == (1, 0.25)
    assert s.state_at(24) == (1, 1.0)
    assert s.state_at(36) == (2, 0.5)
    assert s.state_at(100) == (2, 1.0) and s.phase_at(48) is None
    rounded = GrowthSchedule(2, fade_images=[0, 10], stabilise_images=[5, 8], batch_sizes=4)
    assert rounded.phases == [(0, False, 0, 8, 4), (1, True, 8, 20, 4), (1, False, 20, 28, 4)]  # whole batches
    with pytest.raises(ValueError, match="per stage"):
        GrowthSchedule(3, fade_images=[1, 2], stabilise_images=8, batch_sizes=4)


def test_image_stream_depends_on_position_only():
    images = np.random.default_rng(0).uniform(size=(10, 8, 8, 3)).astype("float32")
    a = ImageStream(images, 4, batch_size=4, start=0, steps=5, seed=3)
    b = ImageStream(images, 4, batch_size=4, start=8, steps=3, seed=3)
    np.testing.assert_array_equal(a[2], b[0])  # the same stream position gives the same images
    assert a[0].shape == (4, 4, 4, 3)
    np.testing.assert_allclose(a[0].mean(axis=(1, 2)), images[np.random.default_rng((3, 0)).permutation(10)[:4]]
                               .mean(axis=(1, 2)), rtol=1e-5)  # box downsampling keeps the mean


def test_growth_keeps_earlier_blocks_weights_and_resets_optimizers():
    model = make_gan(8)
    model.compile()
    schedule = GrowthSchedule(2, fade_images=[0, 8], stabilise_images=[8, 8], batch_sizes=4)
    init = [np_(w).copy() for w in model.generator.weights]
    model.fit(ImageStream(np.random.default_rng(0).uniform(size=(8, 8, 8, 3)).astype("float32"), 4, 4, 0, 1),
              epochs=1, verbose=0)  # one step at 4x4
    model.images_seen.assign(4)
    trained = [np_(w).copy() for w in model.generator.weights + model.critic.weights]
    assert any(not np.allclose(a, b) for a, b in zip(init, trained))  # stage 0 did train
    z, m = inputs()
    before = model.generate(z, m)
    assert int(np_(model.g_optimizer.iterations)) == 1

    callback = GrowthCallback(schedule)
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_train_batch_end(0)  # the batch that reaches 8 images: grow to 8x8, fade 0
    assert model.growth_state() == (1, 0.0, 8)
    assert model.stop_training
    for a, b in zip(trained, model.generator.weights + model.critic.weights):
        np.testing.assert_array_equal(a, np_(b))
    np.testing.assert_allclose(model.generate(z, m), np_(upsample(before)), atol=1e-5)
    assert int(np_(model.g_optimizer.iterations)) == 0 and int(np_(model.d_optimizer.iterations)) == 0
    assert float(np_(model.g_optimizer.learning_rate)) == pytest.approx(1.5e-3)


class InterruptAt(keras.callbacks.Callback):
    """Simulates killing the process: raises KeyboardInterrupt once `images` images have been seen."""

    def __init__(self, images):
        super().__init__()
        self.images = images

    def on_train_batch_end(self, batch, logs=None):
        if self.model.growth_state()[2] >= self.images:
            raise KeyboardInterrupt


def test_resume_after_interruption_mid_fade(tmp_path):
    schedule = GrowthSchedule(2, fade_images=[0, 16], stabilise_images=[4, 4], batch_sizes=4)
    images = np.random.default_rng(0).uniform(size=(12, 8, 8, 3)).astype("float32")
    path = str(tmp_path / "memgan.weights.h5")

    first = make_gan(8)
    first.compile()
    with pytest.raises(KeyboardInterrupt):
        grow(first, images, schedule, callbacks=[Checkpoint(path, every=1), InterruptAt(12)], verbose=0)
    assert first.growth_state() == (1, 0.5, 12)  # interrupted half-way through the 8x8 fade

    # "Run the same command again": a fresh process builds the model, restores the checkpoint, trains.
    second = make_gan(8)
    second.compile()
    second.load_weights(path)
    assert second.growth_state() == (1, 0.5, 12)
    assert second.active == (1, True)
    for a, b in zip(first.weights + first.optimizer.variables, second.weights + second.optimizer.variables):
        np.testing.assert_array_equal(np_(a), np_(b), err_msg=a.path)
    assert int(np_(second.g_optimizer.iterations)) == 2  # two fade steps since the growth reset
    grow(second, images, schedule, verbose=0)
    assert second.growth_state() == (1, 1.0, 24)
    assert int(np_(second.g_optimizer.iterations)) == 5  # 2 before + 3 after: optimizer state resumed
    assert int(np_(second.d_optimizer.iterations)) == 5
    ema = [np_(w) for w in second.generator_ema.weights]
    live = [np_(w) for w in second.generator.weights]
    assert any(not np.allclose(a, b) for a, b in zip(ema, live))  # the moving average lags the generator


def test_config_round_trip_restores_growth_state_and_ema(tmp_path, tiny_predictor):
    # A config carries its predictor serialised, which must be a VMSPredictor (not the stand-in).
    model = make_gan(8, predictor=tiny_predictor(), alpha=0.0, ema_beta=0.9)
    model.set_growth_state(1, fade=0.25, images_seen=40)
    model.generator_ema.weights[0].assign(np_(model.generator_ema.weights[0]) + 1.0)  # EMA differs from G
    path = str(tmp_path / "foil.weights.h5")
    model.save_weights(path)
    clone = MEMGAN.from_config(model.get_config())
    assert (clone.alpha, clone.ema_beta, clone.filters) == (0.0, 0.9, (8, 8))
    clone.load_weights(path)
    assert clone.growth_state() == (1, 0.25, 40) and clone.active == (1, True)
    z, m = inputs()
    np.testing.assert_allclose(clone.generate(z, m), model.generate(z, m), atol=1e-6)
    # generate samples the moving average; sampling_images(..., ema=False) is the raw generator, in [-1, 1].
    raw = np_(clone.sampling_images(z, m, ema=False))
    assert raw.shape == (4, 8, 8, 3) and raw.min() >= -1.0 and raw.max() <= 1.0
    np.testing.assert_allclose(clone.generate(z, m), (np_(clone.sampling_images(z, m)) + 1.0) / 2.0, atol=1e-6)
    assert not np.allclose(clone.generate(z, m), (raw + 1.0) / 2.0, atol=1e-3)


def test_sample_grid_every_n_epochs_and_growth_tagged_final_grid(tmp_path):
    model = make_gan(8)
    model.set_growth_state(1, fade=0.5, images_seen=12)
    callback = SampleGrid(str(tmp_path), rows=2, columns=3, every=2)
    callback.set_model(model)
    for epoch in range(3):  # what fit does with epochs=3
        callback.on_epoch_end(epoch)
    callback.on_train_end()
    # Epochs 1-3 with every=2: a grid after epoch 2, and the final one named by the growth state.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples_000000012img_8px_fade0.50.png",
                                                          "samples_epoch002.png"]
    grid = callback.grid()
    assert grid.shape == (2 * 8, 3 * 8, 3) and grid.dtype == np.uint8
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "samples_000000012img_8px_fade0.50.png")), grid)
