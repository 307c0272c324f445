"""The VMS predictor (Kyle-Davidson, Bors & Evans, BMVC 2019) and its presets."""

from vms_zoo import registry
from vms_zoo.settings import PredictorTraining
from vms_zoo.models.vms_predictor import flops, presets
from vms_zoo.models.vms_predictor.model import VMSPredictor

__all__ = ["VMSPredictor"]

registry.register(registry.Family(
    "vms_predictor", VMSPredictor, presets.PRESETS, trainer="vms_zoo.training.predictor:train_predictor",
    smallest_size=presets.SMALLEST_SIZE,
    smoke_rule=presets.smoke_rule, step_flops=flops.step_flops, run_cost=flops.run_cost,
    test_shrink=presets.shrink_for_tests,
    settings=PredictorTraining,
    longer=registry.Longer("training.epochs", "model.weights.h5", registry.more_epochs)))
