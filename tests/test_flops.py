"""vms_zoo.flops against closed forms on tiny layers and hand counts of tiny models."""

import keras
import numpy as np
import pytest
from keras import layers

from helpers import make_memgan, make_wmemgan
from vms_zoo import flops
from vms_zoo.layers import EqualizedConv2D, EqualizedDense
from vms_zoo.models.memgan.flops import memgan_forward_flops
from vms_zoo.models.wmemgan.model import build_critic, build_generator


def built(layer, input_shape):
    layer.build((None,) + tuple(input_shape))
    return layer


def test_dense_is_2_in_out_per_position():
    assert flops.layer_flops(layers.Dense(7), (5,)) == 2 * 5 * 7
    assert flops.layer_flops(layers.Dense(7), (3, 5)) == 3 * 2 * 5 * 7  # applied at each of 3 positions
    assert flops.layer_flops(built(EqualizedDense(7), (5,)), (5,)) == 2 * 5 * 7


@pytest.mark.parametrize("layer", [layers.Conv2D(4, 3, padding="same"), EqualizedConv2D(4, 3)])
def test_conv2d_same_padding(layer):
    h, w, k, cin, cout = 6, 5, 3, 3, 4
    assert flops.layer_flops(layer, (h, w, cin)) == 2 * h * w * k * k * cin * cout


def test_strided_and_valid_conv2d_count_output_pixels():
    # 9x9 input, stride 2: "same" gives 5x5 outputs, "valid" with a 3x3 kernel 4x4.
    assert flops.layer_flops(layers.Conv2D(4, 3, strides=2, padding="same"), (9, 9, 3)) == 2 * 25 * 9 * 3 * 4
    assert flops.layer_flops(layers.Conv2D(4, 3, strides=2), (9, 9, 3)) == 2 * 16 * 9 * 3 * 4
    assert flops.layer_flops(built(EqualizedConv2D(4, 3, padding="valid"), (6, 6, 3)), (6, 6, 3)) == 2 * 16 * 9 * 3 * 4


def test_conv2d_transpose_counts_input_pixels():
    h, w, k, cin, cout = 4, 3, 3, 5, 2
    layer = layers.Conv2DTranspose(cout, k, strides=2, padding="same")
    assert flops.layer_flops(layer, (h, w, cin)) == 2 * h * w * k * k * cin * cout


def test_elementwise_layers_count_nothing():
    for layer in (layers.BatchNormalization(), layers.ReLU(), layers.MaxPooling2D(), layers.UpSampling2D()):
        assert flops.layer_flops(layer, (4, 4, 3)) == 0


def test_tiny_model_with_a_nested_model_by_hand():
    z = keras.Input((6,))
    x = layers.Reshape((2, 2, 4))(layers.Dense(16)(z))
    decoder = keras.Model(z, layers.Conv2DTranspose(2, 3, strides=2, padding="same")(x))
    image = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(image)
    x = layers.Conv2D(8, 3, strides=2, padding="same")(layers.BatchNormalization()(x))
    model = keras.Model(image, decoder(layers.Dense(6)(layers.Flatten()(x))))
    by_hand = (2 * 8 * 8 * 9 * 3 * 4      # conv 3 -> 4 at 8x8
               + 2 * 4 * 4 * 9 * 4 * 8    # strided conv 4 -> 8, 4x4 outputs
               + 2 * 128 * 6              # dense on the flattened 4x4x8
               + 2 * 6 * 16               # the decoder's dense
               + 2 * 2 * 2 * 9 * 4 * 2)   # its transposed conv on 2x2 inputs
    assert flops.forward_flops(model) == by_hand
    assert flops.forward_flops(keras.Sequential([keras.Input((5,)), layers.Dense(3), layers.Dense(2)])) == 2 * (15 + 6)


def test_wmemgan_networks_by_hand():
    g = build_generator(8, latent_dim=4, condition_shape=(1,), filters=16)
    d = build_critic(8, filters=16)
    # G: dense (4 + 1) -> 4x4x16, upsample, 3x3 conv 16 -> 8 at 8x8, 3x3 RGB conv 8 -> 3.
    assert flops.forward_flops(g) == 2 * 5 * 256 + 2 * 64 * 9 * 16 * 8 + 2 * 64 * 9 * 8 * 3
    # D: 3x3 conv 3 -> 8 at 8x8, 4x4 stride-2 conv 8 -> 16 (4x4 outputs), dense 256 -> 1.
    assert flops.forward_flops(d) == 2 * 64 * 9 * 3 * 8 + 2 * 16 * 16 * 8 * 16 + 2 * 256


def test_gan_step_follows_the_stated_rules():
    model = make_wmemgan()
    g, d, p = (flops.forward_flops(net) for net in (model.generator, model.critic, model.predictor))
    step = flops.train_step_flops(model, batch_size=4)
    assert step == 4 * (model.n_critic * (g + 12 * d) + 3 * g + 2 * d + 2 * p)


def recorded_flops(net, *args, **kwargs):
    """FLOPs of the equalised layers `net` actually calls on a batch of one, from the shapes they see."""
    seen = []
    originals = {cls: cls.call for cls in (EqualizedConv2D, EqualizedDense)}

    def recording(cls):
        def call(self, inputs):
            seen.append(flops.layer_flops(self, inputs.shape[1:]))
            return originals[cls](self, inputs)
        return call

    try:
        for cls in originals:
            cls.call = recording(cls)
        net(*args, **kwargs)
    finally:
        for cls, call in originals.items():
            cls.call = call
    return sum(seen)


@pytest.mark.parametrize("stage, fading", [(0, False), (1, True), (2, False), (2, True)])
@pytest.mark.slow
def test_memgan_counts_the_active_blocks(stage, fading):
    model = make_memgan(image_size=16)
    fade_in = model.fade_in if fading else None
    z, m = np.zeros((1, model.latent_dim), "float32"), np.zeros((1, 10, 10, 1), "float32")
    size = model.sizes[stage]
    gen, crit = memgan_forward_flops(model, stage, fading)
    assert gen == recorded_flops(model.generator, [z, m], stage=stage, fade_in=fade_in)
    assert crit == recorded_flops(model.critic, np.zeros((1, size, size, 3), "float32"), stage=stage,
                                  fade_in=fade_in)


def test_predictor_step_cached_is_the_head_alone(tiny_predictor):
    model = tiny_predictor()
    encoder, head = flops.forward_flops(model.encoder), flops.forward_flops(model.feature_model)
    assert flops.forward_flops(model) == encoder + head
    assert flops.train_step_flops(model, batch_size=2) == 2 * 3 * (encoder + head)  # conv encoder: trained
    assert flops.train_step_flops(model, batch_size=2, cached=True) == 2 * 3 * head


@pytest.mark.slow
def test_a_preset_by_name_uses_its_training_entry(monkeypatch, tiny_predictor_config, tiny_predictor):
    from vms_zoo import presets

    tiny = {"class": "WMEMGAN", "config": {"predictor": presets.nested("VMSPredictor", tiny_predictor_config()),
                                           "image_size": 8, "latent_dim": 4, "filters": 16},
            "training": {"batch_size": 6, "n_critic": 3, "epochs": 2, "real_batches": "fresh"}}
    monkeypatch.setitem(presets.registry(), "tiny_wmemgan", tiny)
    g, d, p = (flops.forward_flops(net) for net in (build_generator(8, 4, (1,), 16), build_critic(8, 16),
                                                     tiny_predictor()))
    step = 6 * (3 * (g + 12 * d) + 3 * g + 2 * d + 2 * p)
    assert flops.train_step_flops("tiny_wmemgan") == step
    # 40 images fill two whole steps of 3 x 6 fresh real images per epoch: 4 steps in 2 epochs.
    assert flops.run_cost("tiny_wmemgan", num_images=40) == {"batch": 6, "flops_per_step": step, "steps_per_run": 4,
                                                             "images_per_run": 4 * 18, "flops_per_run": 4 * step}
