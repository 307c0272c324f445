"""MEMGAN (Kyle-Davidson, Bors & Evans, Scientific Reports 2022): a progressive GAN with memorability feedback
at every resolution, its growth schedule and its presets."""

from vms_zoo import registry
from vms_zoo.settings import MEMGANTraining
from vms_zoo.models.memgan import flops, presets
from vms_zoo.models.memgan.growth import GrowthSchedule
from vms_zoo.models.memgan.model import MEMGAN

__all__ = ["MEMGAN", "GrowthSchedule"]

registry.register(registry.Family(
    "memgan", MEMGAN, presets.PRESETS, trainer="vms_zoo.training.memgan:train_memgan",
    smallest_size=8,  # 4 px grown to 8: a smoke run passes through a fade-in
    smoke_rule=presets.smoke_rule, step_flops=flops.step_flops, run_cost=flops.run_cost,
    test_shrink=presets.shrink_for_tests,
    settings=MEMGANTraining,
    longer=registry.Longer("the last stage's training.stabilise_images", "memgan.checkpoint.weights.h5",
                          presets.extends_schedule)))
