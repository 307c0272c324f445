"""W-MEMGAN (Kyle-Davidson, Bors & Evans, Scientific Reports 2022): a conditional WGAN-GP with memorability
feedback, and its presets."""

from vms_zoo import registry
from vms_zoo.settings import WMEMGANTraining
from vms_zoo.models.wmemgan import flops, presets
from vms_zoo.models.wmemgan.model import SUPPORTED_SIZES, WMEMGAN

__all__ = ["WMEMGAN"]

registry.register(registry.Family(
    "wmemgan", WMEMGAN, presets.PRESETS, trainer="vms_zoo.training.wmemgan:train_wmemgan",
    smallest_size=min(SUPPORTED_SIZES), smoke_rule=presets.smoke_rule, step_flops=flops.step_flops,
    run_cost=flops.run_cost, test_shrink=presets.shrink_for_tests,
    settings=WMEMGANTraining,
    longer=registry.Longer("training.epochs", ".vms_zoo_backup", registry.more_epochs)))
