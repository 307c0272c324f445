"""vms_zoo: Keras 3 models for visual memory schemas (VMS), on TensorFlow, JAX and PyTorch.

VMS maps have two channels everywhere in this package: channel 0 is the *true* memorability schema
(regions that made people remember a scene), channel 1 the *false* schema (regions that made people
think they had seen a scene they had not). Images and maps are float32 in [0, 1] (`vms_zoo.vms`).

The names below load on first use, so `import vms_zoo.human` (the experiment toolkit) never imports Keras. The
model classes (`vms_zoo.VMSPredictor`, ...) are those the model families register (`vms_zoo.registry`).
"""

import importlib

__version__ = "0.2.0"

_LAZY = {
    "CATEGORIES": "vms_zoo.data.synthetic", "SyntheticScenes": "vms_zoo.data.synthetic",
    "get_preset": "vms_zoo.presets", "list_presets": "vms_zoo.presets", "load": "vms_zoo.presets",
    "save_preset": "vms_zoo.presets", "train": "vms_zoo.training",
}


def _model_classes():
    return importlib.import_module("vms_zoo.registry").classes()


def __getattr__(name):
    if name == "__all__":  # `from vms_zoo import *`: the names above and every family's model class
        return sorted([*_LAZY, *_model_classes(), "__version__"])
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    # A class name (capitalised: `from vms_zoo import human` must not import the families, and Keras, first),
    # looked up each time: families may come and go.
    if name[:1].isupper() and name in _model_classes():
        return _model_classes()[name]
    raise AttributeError(f"module 'vms_zoo' has no attribute {name!r}")


def __dir__():
    return __getattr__("__all__")
