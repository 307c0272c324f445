"""MEMGAN (Kyle-Davidson, Bors & Evans, Scientific Reports 2022): a progressive GAN with memorability feedback
at every resolution, its growth schedule and its presets."""

from vms_zoo.models.memgan.growth import Checkpoint, GrowthCallback, GrowthSchedule, ImageStream, train
from vms_zoo.models.memgan.model import MEMGAN

__all__ = ["MEMGAN", "Checkpoint", "GrowthCallback", "GrowthSchedule", "ImageStream", "train"]
