"""MEMGAN's growth schedule: the stage and fade after a number of images seen (training drives it: see
`vms_zoo.training.memgan`)."""

import math


def _per_stage(value, num_stages, what):
    values = list(value) if isinstance(value, (list, tuple)) else [value] * num_stages
    if len(values) != num_stages or any(int(v) < 0 for v in values):
        raise ValueError(f"{what} needs one non-negative value per stage ({num_stages}), got {value}.")
    return [int(v) for v in values]


class GrowthSchedule:
    """Progressive growing counted in images seen: per resolution a fade phase, then a stabilise phase.

    `fade_images`, `stabilise_images` and `batch_sizes` are one number for every stage or a list with one
    per stage (stage 0, 4x4, has nothing to fade). Each phase is a tuple (stage, fading, start, end,
    batch_size), start and end in images seen; `state_at(images_seen)` gives the stage and fade there.
    Phase lengths are rounded up to whole batches, so every phase starts exactly where the last one ended.
    """

    def __init__(self, num_stages, fade_images, stabilise_images, batch_sizes):
        self.num_stages = int(num_stages)
        self.fade_images = _per_stage(fade_images, self.num_stages, "fade_images")
        self.stabilise_images = _per_stage(stabilise_images, self.num_stages, "stabilise_images")
        self.batch_sizes = _per_stage(batch_sizes, self.num_stages, "batch_sizes")
        if min(self.batch_sizes) < 1:
            raise ValueError(f"batch sizes must be >= 1, got {batch_sizes}.")
        self.phases, start = [], 0
        for stage in range(self.num_stages):
            for fading, length in ((True, self.fade_images[stage] if stage else 0), (False, self.stabilise_images[stage])):
                if length:
                    length = math.ceil(length / self.batch_sizes[stage]) * self.batch_sizes[stage]
                    self.phases.append((stage, fading, start, start + length, self.batch_sizes[stage]))
                    start += length
        self.total_images = start

    def get_config(self):
        return {"num_stages": self.num_stages, "fade_images": self.fade_images,
                "stabilise_images": self.stabilise_images, "batch_sizes": self.batch_sizes}

    def phase_at(self, images_seen):
        """The phase (stage, fading, start, end, batch_size) holding `images_seen`, None once done."""
        for phase in self.phases:
            if images_seen < phase[3]:
                return phase
        return None

    def state_at(self, images_seen):
        """(stage, fade) after `images_seen` images; the final state once the schedule is done."""
        phase = self.phase_at(images_seen)
        if phase is None:
            return self.phases[-1][0], 1.0
        stage, fading, start, end, _ = phase
        return stage, (min(max((images_seen - start) / (end - start), 0.0), 1.0) if fading else 1.0)
