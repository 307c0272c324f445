"""Convert the shipped checkpoints to the weights layout of the functional VMSPredictor.

`VMSPredictor` was a subclassed Keras model until it became one functional graph. Keras writes a
`.weights.h5` file by walking the model's layers, so the two write the same weights under different paths
(`encoder/layers/...` became `layers/functional/layers/...`), and loading an old file into the new class only
warns and keeps fresh weights. This script loads each shipped checkpoint (the two predictors, and the four GANs
whose weights nest a predictor) with the OLD class, taken from git at `OLD_REVISION`, copies every variable into
the new class, writes `model.weights.h5` in the new layout, reloads it and checks that the weights are equal and
the outputs match (predictor maps and latents; for GANs `generate`, the nested predictor's maps and the feedback),
then puts the new sha256 in the folder's `metadata.json` and card. For shipped folders, update the sha256
strings in `vms_zoo/models/*/presets.py` with the old -> new pairs it prints.

    python tools/convert_predictor_checkpoints.py                  # every folder in checkpoints/ still in the old layout
    python tools/convert_predictor_checkpoints.py runs/my_model    # a preset folder you trained yourself
    python tools/convert_predictor_checkpoints.py --check          # only report each folder's layout

Run from the repository root, on any backend (the files are backend-independent; the shipped ones were
converted on TensorFlow).
"""

import argparse
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import h5py
import keras
import numpy as np

from vms_zoo import presets
from vms_zoo.models.vms_predictor import VMSPredictor

ROOT = Path(__file__).resolve().parent.parent
OLD_REVISION = "cee2e01f2fd5e478896e93b4ac86cb858e915a98"  # the last commit with the subclassed VMSPredictor
OLD_SOURCE = "vms_zoo/models/vms_predictor/model.py"
TOLERANCE = 1e-6


def old_predictor_class():
    """The subclassed VMSPredictor from git, as a separate module that leaves Keras' registry to the new class."""
    source = subprocess.run(["git", "show", f"{OLD_REVISION}:{OLD_SOURCE}"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    decorator = '@keras.saving.register_keras_serializable(package="vms_zoo")\nclass VMSPredictor'
    assert decorator in source, "unexpected old source"
    module = types.ModuleType("vms_zoo_old_vms_predictor")
    exec(compile(source.replace(decorator, "class VMSPredictor"), f"{OLD_REVISION[:7]}:{OLD_SOURCE}", "exec"),
         module.__dict__)
    return module.VMSPredictor


def has_old_layout(path):
    """Whether a weights file holds a predictor in the subclassed layout (an `encoder` group beside `decoder`)."""
    groups = []
    with h5py.File(path, "r") as f:
        f.visit(lambda name: groups.append(name) if isinstance(f[name], h5py.Group) else None)
    return any(name.rsplit("/", 1)[-1] == "encoder" for name in groups)


def build(folder, predictor_class):
    """The preset folder's model (untrained), its predictor (or itself, if a predictor) built from `predictor_class`."""
    class_name, config, _ = presets.read_preset_dir(folder)
    config = presets.without_downloads(config)
    if class_name == "VMSPredictor":
        return predictor_class.from_config(config)
    gan_config = {**config, "predictor": predictor_class.from_config(config["predictor"]["config"])}
    return presets.model_class(class_name).from_config(gan_config)


def copy_predictor(old, new):
    """Every variable of an old predictor into a new one, part by part (the parts are built by the same code)."""
    pairs = []
    for part in ("encoder", "dense", "z_mean", "z_log_var", "decoder"):
        pairs += zip(getattr(old, part).variables, getattr(new, part).variables, strict=True)
    pairs += [(old.kl_step, new.kl_step), (old.sampler.seed_generator.state, new.sampler.seed_generator.state)]
    assert {id(b) for _, b in pairs} == {id(v) for v in new.variables}, "a new predictor variable was not copied"
    return pairs


def copy_all(old, new):
    """Every variable of `old` into `new`: a predictor by parts, a GAN's own variables in order."""
    if isinstance(new, VMSPredictor):
        pairs = copy_predictor(old, new)
    else:
        old_own = [v for v in old.variables if id(v) not in {id(w) for w in old.predictor.variables}]
        new_own = [v for v in new.variables if id(v) not in {id(w) for w in new.predictor.variables}]
        pairs = list(zip(old_own, new_own, strict=True)) + copy_predictor(old.predictor, new.predictor)
    for a, b in pairs:
        assert tuple(a.shape) == tuple(b.shape) and a.dtype == b.dtype, (a.path, b.path)
        b.assign(a)
    if hasattr(new, "sync_graph"):
        new.sync_graph()
    return pairs


def outputs(model, seed=0, n=4):
    """Outputs on fixed inputs: a predictor's maps and latents; a GAN's images, its predictor's maps, its feedback."""
    rng = np.random.default_rng(seed)
    numpy = keras.ops.convert_to_numpy
    if model.task == "predictor":
        images = rng.uniform(size=(n, model.image_size, model.image_size, 3)).astype("float32")
        return {k: numpy(v) for k, v in model(images, training=False).items()}
    z = rng.normal(size=(n, model.latent_dim)).astype("float32")
    m = (rng.normal(size=(n,) + model.condition_shape) if model.standardized
         else rng.uniform(size=(n,) + model.condition_shape)).astype("float32")
    size = model.predictor.image_size
    images = rng.uniform(size=(n, size, size, 3)).astype("float32")
    return {"generate": model.generate(z, m), "predictor": numpy(model.predictor(images, training=False)["vms"]),
            "feedback": numpy(model.feedback(keras.ops.convert_to_tensor(images * 2.0 - 1.0)))}


def convert(folder, old_class):
    """Convert a preset folder in place; returns (old sha256, new sha256, largest output difference)."""
    name, path = folder.name, folder / presets.WEIGHTS_FILE
    old_sha = presets.file_sha256(path)
    metadata_file = folder / presets.METADATA_FILE
    metadata = json.loads(metadata_file.read_text()) if metadata_file.exists() else {}
    assert metadata.get("weights_sha256", old_sha) == old_sha, f"{name}: metadata.json names another weights file"

    old = build(folder, old_class)
    old.load_weights(str(path))
    expected = outputs(old)
    new = build(folder, VMSPredictor)
    pairs = copy_all(old, new)

    tmp = folder / ".model.converted.weights.h5"
    new.save_weights(str(tmp))
    reloaded = build(folder, VMSPredictor)
    reloaded.load_weights(str(tmp))
    values = {id(b): keras.ops.convert_to_numpy(a) for a, b in pairs}
    for v, w in zip(new.variables, reloaded.variables, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), values[id(v)], err_msg=f"{name}: {v.path}")
    got = outputs(reloaded)
    diff = max(float(np.abs(got[k] - expected[k]).max()) for k in expected)
    assert diff <= TOLERANCE, f"{name}: outputs differ by {diff}"
    assert reloaded.count_params() == old.count_params() == metadata.get("parameters", old.count_params()), name

    os.replace(tmp, path)
    new_sha = presets.file_sha256(path)
    for card in (folder / presets.METADATA_FILE, folder / presets.CARD_FILE):  # only the sha256 changes in them
        if card.exists():
            card.write_text(card.read_text().replace(old_sha, new_sha))
    return old_sha, new_sha, diff


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path, help="preset folders (default: every one in checkpoints/)")
    parser.add_argument("--check", action="store_true", help="only report which folders are in the old layout")
    args = parser.parse_args()
    folders = args.folders or sorted(p for p in presets.checkpoints_dir().iterdir() if p.is_dir())
    old_class = None if args.check else old_predictor_class()
    for folder in folders:
        path = folder / presets.WEIGHTS_FILE
        if not has_old_layout(path):
            print(f"{folder}: functional layout, nothing to do")
            continue
        if args.check:
            print(f"{folder}: OLD layout, convert it")
            continue
        old_sha, new_sha, diff = convert(folder, old_class)
        print(f"{folder}: converted, outputs equal to {diff:.2g}; sha256 {old_sha} -> {new_sha}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
