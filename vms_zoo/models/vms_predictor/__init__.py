"""The VMS predictor (Kyle-Davidson, Bors & Evans, BMVC 2019) and its presets."""

from vms_zoo.models.vms_predictor.model import VMSPredictor

__all__ = ["VMSPredictor"]
