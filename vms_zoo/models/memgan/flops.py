"""FLOPs of MEMGAN's training (the rules are in `vms_zoo.flops`): the blocks active at a growth stage, both RGB
paths while a block fades in."""

from vms_zoo.flops import forward_flops, gan_step_flops, layer_flops
from vms_zoo.models.memgan.growth import GrowthSchedule
from vms_zoo.models.memgan.presets import growth_settings


def memgan_forward_flops(model, stage=None, fading=None):
    """(generator, critic) FLOPs per sample of a MEMGAN at `stage` (default: its stored state), both RGB paths
    while `fading`."""
    stored_stage, fade, _ = model.growth_state()
    stage = stored_stage if stage is None else int(stage)
    fading = (stage > 0 and fade < 1.0) if fading is None else bool(fading) and stage > 0
    f, g, d = model.filters, model.generator, model.critic
    size = 4 * 2**stage
    gen = layer_flops(g.dense, (g.dense.kernel.shape[0],)) + layer_flops(g.conv4, (4, 4, f[0]))
    crit = layer_flops(d.from_rgb[stage], (size, size, 3))
    for s in range(1, stage + 1):
        r = 4 * 2**s
        gen += layer_flops(g.blocks[s - 1][0], (r, r, f[s - 1])) + layer_flops(g.blocks[s - 1][1], (r, r, f[s]))
        crit += layer_flops(d.blocks[s - 1][0], (r, r, f[s])) + layer_flops(d.blocks[s - 1][1], (r, r, f[s]))
    gen += layer_flops(g.to_rgb[stage], (size, size, f[stage]))
    if fading:
        gen += layer_flops(g.to_rgb[stage - 1], (size // 2, size // 2, f[stage - 1]))
        crit += layer_flops(d.from_rgb[stage - 1], (size // 2, size // 2, 3))
    crit += (layer_flops(d.conv4, (4, 4, f[0] + 1)) + layer_flops(d.dense4, (16 * f[0],))
             + layer_flops(d.score, (f[0],)))
    return gen, crit


def step_flops(model, batch_size, training, stage=None, fading=None, cached=False):
    """One train step at `stage` (a model: its stored one; a preset: its last) and the stage's batch size
    (default: the preset's for that stage)."""
    if training is not None and stage is None:
        stage = len(model.sizes) - 1
    if batch_size is None:
        batch_size = training["batch_sizes"][len(model.sizes) - 1 if stage is None else stage]
    gen, crit = memgan_forward_flops(model, stage, fading)
    return gan_step_flops(gen, crit, forward_flops(model.predictor), batch_size, model.n_critic)


def run_cost(model, training, num_images=None):
    """Every fade and stabilise phase of the growth schedule at its stage and batch size; the step at the last
    stage. The training's named schedule (paper or authors' code) applies."""
    training = growth_settings(training)
    schedule = GrowthSchedule(len(model.sizes), training["fade_images"], training["stabilise_images"],
                              training["batch_sizes"])
    steps = flops = 0
    for stage, fading, start, end, batch in schedule.phases:
        steps += (end - start) // batch
        flops += (end - start) // batch * step_flops(model, batch, None, stage=stage, fading=fading)
    batch = training["batch_sizes"][-1]
    return {"batch": batch, "flops_per_step": step_flops(model, batch, None, stage=len(model.sizes) - 1),
            "steps_per_run": steps, "images_per_run": schedule.total_images, "flops_per_run": flops}
