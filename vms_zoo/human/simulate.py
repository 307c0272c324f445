"""Simulated observers: raw experiment data with a known ground truth, to test the analysis end to end.

Each simulated participant sees every image twice (a first showing, then a repeat). On the repeat they
press "seen it" with a probability that rises with the image's true-map intensity; on the first showing
they false-alarm with a probability that rises with its false-map intensity. After a hit they draw boxes
around points sampled from the true map, after a false alarm around points of the false map, with
Gaussian jitter. Takes plain numpy maps (e.g. ``SyntheticScenes(...).arrays()["vms"]``).
"""

import numpy as np


def memorability(vms):
    """Ground-truth memorability of each map: the mean intensity of its true channel, in [0, 1]."""
    return np.asarray(vms, np.float64)[..., 0].mean(axis=(-2, -1))


def simulate_experiment(vms, n_participants=20, seed=0, image_ids=None, hit_floor=0.2, hit_gain=1.5,
                        fa_floor=0.05, fa_gain=0.5, boxes_per_response=2, box_size=0.2, jitter=0.03):
    """Trials and annotation tables (see `vms_zoo.human.experiment`) from maps `vms` (N, H, W, 2).

    p(hit) = hit_floor + hit_gain * mean(true map) and p(false alarm) = fa_floor + fa_gain *
    mean(false map), both clipped to [0, 1]; boxes are squares of side ~ `box_size` (fraction of the
    image) centred on map-weighted random points moved by N(0, jitter). Returns (trials, annotations,
    truth) where truth holds the per-image p_hit and p_fa.
    """
    vms = np.asarray(vms, np.float64)
    n, h, w, _ = vms.shape
    ids = np.arange(n) if image_ids is None else np.asarray(image_ids)
    rng = np.random.default_rng(seed)
    p_hit = np.clip(hit_floor + hit_gain * memorability(vms), 0, 1)
    p_fa = np.clip(fa_floor + fa_gain * vms[..., 1].mean(axis=(1, 2)), 0, 1)

    people = np.repeat(np.arange(n_participants), 2 * n)
    images = np.tile(np.repeat(np.arange(n), 2), n_participants)
    repeat = np.tile([0, 1], n * n_participants)
    response = rng.random(len(repeat)) < np.where(repeat == 1, p_hit[images], p_fa[images])
    trials = {"participant": people, "image_id": ids[images], "repeat": repeat,
              "response": response.astype(np.int64)}

    rows = []
    for p, i, rep in zip(people[response], images[response], repeat[response]):
        weights = vms[i, ..., 0 if rep else 1].ravel()
        weights = weights / weights.sum() if weights.sum() > 0 else None
        for cell in rng.choice(h * w, size=boxes_per_response, p=weights):
            cy, cx = (np.array(divmod(cell, w)) + 0.5) / (h, w) + rng.normal(0, jitter, 2)
            half = box_size / 2 * rng.uniform(0.5, 1.5)
            box = np.clip([cx - half, cy - half, cx + half, cy + half], 0, 1)
            rows.append((ids[i], p, "true" if rep else "false", *box))
    cols = list(zip(*rows)) if rows else [[]] * 7
    annotations = {k: np.asarray(v) for k, v in zip(("image_id", "participant", "response",
                                                     "x0", "y0", "x1", "y1"), cols)}
    return trials, annotations, {"p_hit": p_hit, "p_fa": p_fa}
