"""vms_zoo: Keras 3 models for visual memory schemas (VMS), on TensorFlow, JAX and PyTorch.

VMS maps have two channels everywhere in this package: channel 0 is the *true* memorability schema
(regions that made people remember a scene), channel 1 the *false* schema (regions that made people
think they had seen a scene they had not). Images and maps are float32 in [0, 1] (`vms_zoo.vms`).

The names below load on first use, so `import vms_zoo.human` (the experiment toolkit) never imports Keras.
"""

import importlib

__version__ = "0.2.0"

_LAZY = {
    "CATEGORIES": "vms_zoo.data.synthetic", "SyntheticScenes": "vms_zoo.data.synthetic",
    "VMSPredictor": "vms_zoo.models.vms_predictor", "WMEMGAN": "vms_zoo.models.wmemgan",
    "MEMGAN": "vms_zoo.models.memgan", "ResMem": "vms_zoo.models.resmem", "get_preset": "vms_zoo.presets", "list_presets": "vms_zoo.presets",
    "load": "vms_zoo.presets", "save_preset": "vms_zoo.presets", "train": "vms_zoo.training",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'vms_zoo' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
