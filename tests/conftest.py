import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# XLA's LLVM optimisation passes dominate the compile of a GAN train step (most of a tiny W-MEMGAN step's compile on
# JAX, docs/performance.md) while the tests' tiny nets run in microseconds either way; the maths is unchanged.
# Set before keras imports jax; subprocesses started by the tests inherit it.
os.environ["XLA_FLAGS"] = " ".join(filter(None, [os.environ.get("XLA_FLAGS"), "--xla_backend_optimization_level=0"]))

# On JAX the tests build the same tiny nets again and again, each compiled afresh: a compilation cache for this run
# (a fresh folder, removed at exit; subprocesses share it) compiles each once. Its measurement is in
# docs/performance.md; a cache folder you set yourself is used as it is.
if os.environ.get("KERAS_BACKEND") == "jax" and "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    _jax_cache = tempfile.mkdtemp(prefix="vms_zoo_test_jax_cache_")
    atexit.register(shutil.rmtree, _jax_cache, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _jax_cache
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

# PyTorch's OpenMP threads spin between the tests' tiny ops: one thread halves the CPU time of the tests that
# train, run beside the other two backends' as in CI (docs/performance.md).
if os.environ.get("KERAS_BACKEND") == "torch":
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import keras  # noqa: E402
import pytest  # noqa: E402

import helpers  # noqa: E402  (tests/ is on sys.path: pytest puts a test folder without __init__.py there)


def pytest_collection_modifyitems(config, items):
    """The experiment's server and browser tests never touch Keras, so they run once, in the TensorFlow run
    (the default backend): CI runs the suite once per backend side by side, and three copies of a browser and
    a load test would only cost time."""
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        return
    others = [item for item in items if item.get_closest_marker("experiment_server")]
    if others:  # deselected, as -m deselects: run in the TensorFlow run, not missing
        config.hook.pytest_deselected(items=others)
        items[:] = [item for item in items if not item.get_closest_marker("experiment_server")]


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same global seeds, on every backend."""
    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture(scope="session")
def tiny_predictor_config():
    """Factory: `tiny_predictor_config(image_size=32, **overrides)` -> a fresh dict of the one tiny
    VMSPredictor config (`helpers.TINY_PREDICTOR`; import that directly in subprocess scripts)."""
    return helpers.tiny_predictor_config


@pytest.fixture(scope="session")
def tiny_predictor():
    """Factory: `tiny_predictor(image_size=32, **overrides)` -> a fresh tiny VMSPredictor (32 px, conv encoder).

    Each call builds a new model (tests may train it); its weights come from the per-test global seed.
    """
    return helpers.tiny_predictor
