"""FLOPs of the VMS predictor's training (the rules are in `vms_zoo.flops`): a train step at batch B costs
3 x (encoder + head) for a trainable encoder, 1 x encoder + 3 x head for a frozen one, and 3 x head on cached
features (the head: flatten, dense, latent, decoder)."""

from vms_zoo.flops import forward_flops


def predictor_step_flops(model, batch_size, cached=False):
    """FLOPs of one VMS predictor train step: on images, or on cached encoder features (`cached`)."""
    head = forward_flops(model.feature_model)
    if cached:
        return batch_size * 3 * head
    return batch_size * ((1 if model.encoder_frozen else 3) * forward_flops(model.encoder) + 3 * head)


def step_flops(model, batch_size, training, stage=None, fading=None, cached=False):
    """One train step at `batch_size` (default: the preset's)."""
    return predictor_step_flops(model, training["batch_size"] if batch_size is None else batch_size, cached)


def run_cost(model, training, num_images=None):
    """epochs x steps_per_epoch (or num_train // batch_size) steps, on cached features when the encoder is frozen
    and nothing augments the images (plus the one encoding pass over num_train images)."""
    batch = training["batch_size"]
    steps = training["epochs"] * (training.get("steps_per_epoch") or training["num_train"] // batch)
    cached = model.encoder_frozen and not training.get("augment")
    step = predictor_step_flops(model, batch, cached)
    encoding = training["num_train"] * forward_flops(model.encoder) if cached else 0
    return {"batch": batch, "flops_per_step": step, "steps_per_run": steps, "images_per_run": steps * batch,
            "flops_per_run": steps * step + encoding}
