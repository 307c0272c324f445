"""vms_zoo: Keras 3 models for visual memory schemas (VMS), on TensorFlow, JAX and PyTorch.

VMS maps have two channels everywhere in this package: channel 0 is the *true* memorability schema
(regions that made people remember a scene), channel 1 the *false* schema (regions that made people
think they had seen a scene they had not). Values are in [0, 1]; in pictures green is true, red false.
"""

from vms_zoo.data.synthetic import CATEGORIES, SyntheticScenes
from vms_zoo.models.progan import MEMGAN
from vms_zoo.models.vae import VMSPredictor
from vms_zoo.models.wgan import WMEMGAN
from vms_zoo.zoo import get_preset, list_presets, load, save_preset

__version__ = "0.1.0"

__all__ = [
    "CATEGORIES", "MEMGAN", "SyntheticScenes", "VMSPredictor", "WMEMGAN", "get_preset", "list_presets", "load", "save_preset", "__version__",
]
