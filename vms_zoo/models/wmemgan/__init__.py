"""W-MEMGAN (Kyle-Davidson, Bors & Evans, Scientific Reports 2022): a conditional WGAN-GP with memorability
feedback, and its presets."""

from vms_zoo.models.wmemgan.model import WMEMGAN

__all__ = ["WMEMGAN"]
