"""FLOPs of W-MEMGAN's training (the rules are in `vms_zoo.flops`)."""

from vms_zoo.flops import forward_flops, gan_step_flops
from vms_zoo.settings import WMEMGANTraining


def step_flops(model, batch_size, training, stage=None, fading=None, cached=False):
    """One train step at `batch_size`, a critic update's batch (default: the preset's)."""
    batch_size = training["batch_size"] if batch_size is None else batch_size
    return gan_step_flops(forward_flops(model.generator), forward_flops(model.critic), forward_flops(model.predictor),
                          batch_size, model.n_critic)


def run_cost(model, training, num_images=None):
    """epochs x whole steps of the training images (`num_images`, default the entry's "num_images"); "max_steps"
    caps it, "max_minutes" is not counted."""
    batch = training["batch_size"]
    num_images = num_images or training.get("num_images")
    if not num_images:
        raise ValueError("its training entry states no number of images (num_images): pass num_images.")
    per_step = batch * (model.n_critic if WMEMGANTraining.real_batches_of(training) == "fresh" else 1)
    steps = training["epochs"] * (num_images // per_step)
    if training.get("max_steps"):
        steps = min(steps, training["max_steps"])
    step = step_flops(model, batch, training)
    return {"batch": batch, "flops_per_step": step, "steps_per_run": steps, "images_per_run": steps * per_step,
            "flops_per_run": steps * step}
