"""The image contract at every numpy/tensor entry point of every model: images, VMS maps and map/score
conditions are float32 in [0, 1]. uint8 0..255 data and [-1, 1] data are refused with a ValueError that names
the expected range (and what was given), as numpy arrays and as the backend's own tensors."""

import keras
import numpy as np
import pytest

from helpers import make_memgan, make_wmemgan, stand_in_predictor, tiny_predictor
from vms_zoo.models.memgan import GrowthSchedule
from vms_zoo.training.memgan import grow

N = 4


def bad(kind, good):
    """`good` data in [0, 1] made wrong the way people get it wrong: 0..255 bytes, tanh's [-1, 1], a NaN or an
    inf from a broken pipeline, an empty batch, or the channels dropped."""
    if kind == "uint8":
        return (good * 255).round().astype("uint8")
    if kind in ("nan", "inf"):
        out = good.copy()
        out.flat[1] = np.nan if kind == "nan" else np.inf
        return out
    if kind == "empty":
        return good[:0]
    if kind == "shape":
        return good[..., :-1] if good.ndim == 4 and good.shape[-1] > 1 else good[:, None]
    return (good * 2.0 - 1.0).astype("float32")


def container(kind, array):
    return array if kind == "numpy" else keras.ops.convert_to_tensor(array)


def uniform(*shape, seed=0):
    return np.random.default_rng(seed).uniform(0.02, 0.98, size=shape).astype("float32")


@pytest.fixture(scope="module")
def models():
    """Tiny models of each class, built and compiled once: every call below is refused before it runs."""
    keras.utils.set_random_seed(0)
    predictor = tiny_predictor()
    predictor.compile(optimizer="sgd")
    wmemgan_map = make_wmemgan("map")
    wmemgan_map.compile(n_critic=1)
    wmemgan_score = make_wmemgan("score")
    memgan = make_memgan(8, predictor=stand_in_predictor(8))
    memgan.compile()
    memgan.set_growth_state(1, fade=0.5)
    return {"predictor": predictor, "wmemgan_map": wmemgan_map, "wmemgan_score": wmemgan_score, "memgan": memgan}


class Batches(keras.utils.PyDataset):
    def __init__(self, images):
        super().__init__()
        self.images = images

    def __len__(self):
        return 2

    def __getitem__(self, index):
        return self.images


def _tf_data(x):
    import tensorflow as tf  # tf.data feeds every backend's fit

    return tf.data.Dataset.from_tensor_slices(keras.ops.convert_to_numpy(x)).batch(N)


def _z(model):
    return np.random.default_rng(1).normal(size=(N, model.latent_dim)).astype("float32")


# name: (model, what is wrong, call(model, wrong data, make(container))) -- `make` converts good data too, so
# a call mixes nothing but the one wrong argument with well-formed inputs of the same container kind.
IMAGES32, MAPS32 = uniform(N, 32, 32, 3), uniform(N, 32, 32, 2, seed=1)
ENTRY_POINTS = {
    "VMSPredictor.fit(x)": ("predictor", "images", lambda m, x, c: m.fit(x, c(MAPS32), epochs=1, verbose=0)),
    "VMSPredictor.fit(y)": ("predictor", "maps", lambda m, y, c: m.fit(c(IMAGES32), y, epochs=1, verbose=0)),
    "VMSPredictor.evaluate(x)": ("predictor", "images", lambda m, x, c: m.evaluate(x, c(MAPS32), verbose=0)),
    "VMSPredictor.evaluate(y)": ("predictor", "maps", lambda m, y, c: m.evaluate(c(IMAGES32), y, verbose=0)),
    "VMSPredictor.predict": ("predictor", "images", lambda m, x, c: m.predict(x, verbose=0)),
    "VMSPredictor.train_on_batch(x)": ("predictor", "images", lambda m, x, c: m.train_on_batch(x, c(MAPS32))),
    "VMSPredictor.train_on_batch(y)": ("predictor", "maps", lambda m, y, c: m.train_on_batch(c(IMAGES32), y)),
    "VMSPredictor.test_on_batch(x)": ("predictor", "images", lambda m, x, c: m.test_on_batch(x, c(MAPS32))),
    "VMSPredictor.test_on_batch(y)": ("predictor", "maps", lambda m, y, c: m.test_on_batch(c(IMAGES32), y)),
    "VMSPredictor.predict_on_batch": ("predictor", "images", lambda m, x, c: m.predict_on_batch(x)),
    "VMSPredictor.sample": ("predictor", "images", lambda m, x, c: m.sample(x)),
    "VMSPredictor(x)": ("predictor", "images", lambda m, x, c: m(x)),
    "VMSPredictor(x, training=True)": ("predictor", "images", lambda m, x, c: m(x, training=True)),
    "VMSPredictor(x, sample=True)": ("predictor", "images", lambda m, x, c: m(x, sample=True)),
    "WMEMGAN.fit": ("wmemgan_map", "images16", lambda m, x, c: m.fit(x, batch_size=N, epochs=1, verbose=0)),
    "WMEMGAN.fit(PyDataset)": ("wmemgan_map", "images16", lambda m, x, c: m.fit(Batches(x), epochs=1, verbose=0)),
    "WMEMGAN.fit(tf.data)": ("wmemgan_map", "images16", lambda m, x, c: m.fit(_tf_data(x), epochs=1, verbose=0)),
    "WMEMGAN.train_on_batch": ("wmemgan_map", "images16", lambda m, x, c: m.train_on_batch(x)),
    "WMEMGAN.generate(map M)": ("wmemgan_map", "map_condition", lambda m, cond, c: m.generate(c(_z(m)), cond)),
    "WMEMGAN.generate(score M)": ("wmemgan_score", "score_condition",
                                  lambda m, cond, c: m.generate(c(_z(m)), cond)),
    "MEMGAN.fit": ("memgan", "images8", lambda m, x, c: m.fit(x, batch_size=N, epochs=1, verbose=0)),
    "MEMGAN.train_on_batch": ("memgan", "images8", lambda m, x, c: m.train_on_batch(x)),
    "MEMGAN.generate": ("memgan", "map_condition", lambda m, cond, c: m.generate(c(_z(m)), cond)),
    # Called directly, a GAN returns images in [-1, 1]: mapped to [0, 1] for the in-range check below.
    "WMEMGAN([z, map M])": ("wmemgan_map", "map_condition", lambda m, cond, c: (m([c(_z(m)), cond]) + 1) / 2),
    "WMEMGAN([z, score M])": ("wmemgan_score", "score_condition",
                              lambda m, cond, c: (m([c(_z(m)), cond]) + 1) / 2),
    "MEMGAN([z, M])": ("memgan", "map_condition", lambda m, cond, c: (m([c(_z(m)), cond]) + 1) / 2),
}
GOOD = {"images": IMAGES32, "maps": MAPS32, "images16": uniform(N, 16, 16, 3), "images8": uniform(N, 8, 8, 3),
        "map_condition": uniform(N, 10, 10, 1), "score_condition": uniform(N, 1)}


def expected_message(kind):
    """The error names the expected range and what it got: the dtype, or values below 0 (with the fix)."""
    return {"uint8": r"\[0, 1\].*uint8", "nan": "NaN or infinite", "inf": "NaN or infinite", "empty": "empty",
            "shape": "shape"}.get(kind, r"\[0, 1\].*\[-1, 1\]")


@pytest.mark.parametrize("tensor", ["numpy", "tensor"])
@pytest.mark.parametrize("kind", ["uint8", "[-1, 1]", "nan", "inf", "empty", "shape"])
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_entry_points_refuse_bytes_and_tanh_range(entry, kind, tensor, models):
    model_key, what, call = ENTRY_POINTS[entry]
    model = models[model_key]
    weights = [w.copy() for w in model.get_weights()]
    wrong = container(tensor, bad(kind, GOOD[what]))
    with pytest.raises(ValueError, match=expected_message(kind)) as error:
        call(model, wrong, lambda array: container(tensor, array))
    assert "\n" not in str(error.value)  # one line: not wrapped in Keras' report of a failed call
    # Refused before anything ran: no weight moved.
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)


# Inference entry points; training on good data is tested with each model.
INFERENCE = [e for e, (_, what, _) in ENTRY_POINTS.items() if what.endswith("condition") or "predict" in e
             or "sample" in e or e.startswith("VMSPredictor(")]


@pytest.mark.parametrize("entry", INFERENCE)
def test_entry_points_take_the_same_data_in_range(entry, models):
    """The refused calls above differ from working ones only in the range: the good data passes the checks."""
    model_key, what, call = ENTRY_POINTS[entry]
    model = models[model_key]
    out = call(model, keras.ops.convert_to_tensor(GOOD[what]), keras.ops.convert_to_tensor)
    out = out["vms"] if isinstance(out, dict) else out
    out = keras.ops.convert_to_numpy(out)
    assert np.all(np.isfinite(out)) and out.min() >= 0.0 and out.max() <= 1.0


def test_a_symbolic_call_is_not_checked_and_an_eager_one_is(models):
    """Symbolic (or traced) images have no values to check: the call builds its graph, while the same images
    called eagerly are refused."""
    model, images = models["predictor"], bad("[-1, 1]", IMAGES32)
    spec = keras.KerasTensor(images.shape)
    assert tuple(model(spec)["vms"].shape) == (N, 32, 32, 2)
    with pytest.raises(ValueError, match=expected_message("[-1, 1]")):
        model(images)


@pytest.mark.parametrize("name", ["wmemgan_map", "memgan"])
def test_the_train_step_itself_refuses_integer_images(name, models):
    """Past fit's checks (a dataset is checked by its first batch), the step refuses integer images as it is
    traced: the dtype is static, so this holds inside compiled graphs too."""
    model = models[name]
    size = 16 if name == "wmemgan_map" else 8
    images = keras.ops.convert_to_tensor(bad("uint8", uniform(N, size, size, 3)))
    with pytest.raises(ValueError, match=expected_message("uint8")):
        model._train_step((images,))


def test_a_standardized_score_model_takes_z_scores_but_not_bytes():
    model = make_wmemgan("score", score_scale=(0.2, 0.05))
    z = _z(model)
    images = model.generate(z, np.linspace(-2.0, 2.0, N, dtype="float32").reshape(-1, 1))  # z-scores: any real
    assert images.shape == (N, 16, 16, 3)
    with pytest.raises(ValueError, match="uint8"):
        model.generate(z, np.full((N, 1), 3, "uint8"))
    with pytest.raises(ValueError, match="NaN"):
        model.generate(z, np.full((N, 1), np.nan, "float32"))


def test_memgan_growth_training_refuses_tanh_range_images():
    """`train` streams a numpy (or memory-mapped) image store batch by batch; uint8 storage is allowed there
    (it is divided by 255), float images must be in [0, 1]."""
    model = make_memgan(8)
    model.compile()
    schedule = GrowthSchedule(2, fade_images=[0, 4], stabilise_images=[4, 4], batch_sizes=4)
    with pytest.raises(ValueError, match=expected_message("[-1, 1]")):
        grow(model, bad("[-1, 1]", uniform(8, 8, 8, 3)), schedule, verbose=0)
    assert model.growth_state() == (0, 1.0, 0)
