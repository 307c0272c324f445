"""VMS maps from raw participant annotations.

In a VMS experiment a participant who presses "seen it" on an image then draws boxes around the regions
that made them remember it. A box drawn after a correct recognition (a hit on a repeat) is a *true*
response; one drawn after a false alarm (the image was new) is a *false* response. Summing the boxes of
all participants gives the true map (channel 0) and the false map (channel 1).

Annotation table
----------------
A plain dict of equal-length numpy columns (what `read_table(path)` returns for a CSV with this header,
typed by the "annotations" schema of `vms_zoo.human.tables`)::

    image_id, participant, response, x0, y0, x1, y1

- ``image_id``, ``participant``: ids, read from CSV as text exactly as written ("007" and "7" differ).
- ``response``: "true" or "false" (also accepted: 1/0, True/False); anything else is an error.
- Box corners: finite numbers; x is the column (0 = left edge), y the row (0 = top edge); x0 <= x1 and
  y0 <= y1 (a box of zero width or height adds nothing). `vms_maps` refuses other boxes, naming the row.
- ``coords="normalized"`` (default): corners are fractions of the image width/height in [0, 1], so the
  same annotations give a map at any resolution.
- ``coords="pixels"``: corners are pixel positions in the image the participant saw; pass that image's
  ``(height, width)`` as ``image_size`` (one pair, or a dict image_id -> pair). Edges are continuous: a box
  (0, 0, 2, 1) covers exactly pixels [0, 2) x [0, 1).

A box covers each output pixel by the fraction of the pixel's area inside it, so grid-aligned boxes give
exact 0/1 coverage and boxes smaller than a pixel still count.
"""

import numpy as np
from scipy import ndimage

from vms_zoo.human.tables import SCHEMAS, binary, columns, read_table, row, write_table  # noqa: F401 (re-exported)

COLUMNS = tuple(SCHEMAS["annotations"])


def is_true_response(response):
    """Vectorised "is this a true-schema box?" for bool, 0/1 or true/false/1/0 text response columns."""
    return binary(response, "response", words=True)


def _coverage(lo, hi, n):
    """Fraction of each of n unit cells on [0, 1] covered by the interval [lo, hi]."""
    edges = np.arange(n + 1) / n
    return np.clip(np.minimum(hi, edges[1:]) - np.maximum(lo, edges[:-1]), 0.0, None) * n


def grid_size(size, name="size"):
    """(height, width) of an output grid as two ints >= 1, or a ValueError naming `name`: a zero-sized grid
    would give empty maps and NaN tables without a word."""
    try:
        h, w = (int(v) for v in size)
        whole = all(float(v) == int(v) for v in size)
    except (TypeError, ValueError, OverflowError):
        h = w = whole = 0
    if not whole or h < 1 or w < 1:
        raise ValueError(f"{name} must be (height, width), two integers >= 1; got {size!r}")
    return h, w


def smoothing(sigma):
    """`sigma` as a float, or a ValueError: a finite number >= 0 (0 = no smoothing). NaN would skip the
    smoothing silently, because every comparison with it is false."""
    try:
        value = float(sigma)
    except (TypeError, ValueError):
        value = float("nan")
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"sigma must be a finite number >= 0 (Gaussian width in output pixels, 0 = none); "
                         f"got {sigma!r}")
    return value


def box_map(boxes, size):
    """Sum of the coverage of normalised boxes (K, 4) = (x0, y0, x1, y1) on a (H, W) grid."""
    h, w = grid_size(size)
    out = np.zeros((h, w), np.float64)
    for x0, y0, x1, y1 in np.asarray(boxes, np.float64).reshape(-1, 4):
        out += np.outer(_coverage(y0, y1, h), _coverage(x0, x1, w))
    return out


def normalise_maps(maps, normalise="max"):
    """Scale (..., H, W, 2) maps to [0, 1].

    "max" divides both channels by their joint maximum, keeping how much stronger the true schema is than
    the false one; "channel" scales each channel to its own maximum; None keeps the raw counts.
    """
    maps = np.asarray(maps, np.float64)
    if normalise is None:
        return maps
    axes = (-3, -2, -1) if normalise == "max" else (-3, -2) if normalise == "channel" else None
    if axes is None:
        raise ValueError(f"normalise must be 'max', 'channel' or None, not {normalise!r}")
    peak = maps.max(axis=axes, keepdims=True)
    return np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)


def _check_boxes(boxes, bad, problem):
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"box at {row(i)}: {problem}; got (x0, y0, x1, y1) = {tuple(boxes[i].tolist())}")


def vms_maps(annotations, size, image_ids=None, coords="normalized", image_size=None, sigma=0.0,
             normalise="max"):
    """True/false maps (dict image_id -> (H, W, 2) float32) from an annotation table.

    `sigma` is a Gaussian smoothing width in output pixels (0 = none), applied to the counts before
    normalising, which models the imprecision of hand-drawn boxes. Images in `image_ids` without any box
    get an all-zero map, so every image of an experiment has one.
    """
    size, sigma = grid_size(size), smoothing(sigma)
    columns(annotations, ("image_id", "response", "x0", "y0", "x1", "y1"), "annotations")
    ids = np.asarray(annotations["image_id"])
    boxes = np.stack([np.asarray(annotations[k], np.float64) for k in ("x0", "y0", "x1", "y1")], -1)
    _check_boxes(boxes, ~np.isfinite(boxes).all(1) | (boxes[:, 0] > boxes[:, 2]) | (boxes[:, 1] > boxes[:, 3]),
                 "need finite corners with x0 <= x1 and y0 <= y1")
    if coords == "pixels":
        if image_size is None:
            raise ValueError("coords='pixels' needs image_size=(height, width) or a dict of them")
        if isinstance(image_size, dict) and not set(ids.tolist()) <= set(image_size):
            raise ValueError(f"image_size has no (height, width) for image_id "
                             f"{sorted(set(ids.tolist()) - set(image_size), key=str)[:5]}")
        sizes = np.array([image_size[i] if isinstance(image_size, dict) else image_size for i in ids.tolist()],
                         np.float64).reshape(-1, 2)
        if not (np.isfinite(sizes) & (sizes > 0)).all():
            raise ValueError("image_size must be positive (height, width) pairs")
        boxes = boxes / sizes[:, [1, 0, 1, 0]]
    elif coords != "normalized":
        raise ValueError(f"coords must be 'normalized' or 'pixels', not {coords!r}")
    _check_boxes(boxes, (boxes < -1e-9).any(1) | (boxes > 1 + 1e-9).any(1),
                 "corners fall outside the image; check coords= and image_size=")
    true = is_true_response(annotations["response"])
    out = {}
    for image_id in (np.unique(ids) if image_ids is None else image_ids):
        mine = ids == image_id
        counts = np.stack([box_map(boxes[mine & true], size), box_map(boxes[mine & ~true], size)], -1)
        if sigma > 0:
            counts = ndimage.gaussian_filter(counts, sigma=(sigma, sigma, 0), mode="constant")
        out[image_id.item() if hasattr(image_id, "item") else image_id] = (
            normalise_maps(counts, normalise).astype(np.float32))
    return out
