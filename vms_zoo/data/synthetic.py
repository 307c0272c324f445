"""Synthetic VISCHEMA-like scenes with visual memory schema (VMS) maps: the embedded default dataset.

The real VISCHEMA data cannot ship with the package (and the build machines have no internet), so every
model, recipe and test can instead train on procedurally rendered scenes that keep the *structure* of the
task: eight scene categories, each with a schema of typical objects, and maps that depend on which objects
are visible where.

* Images are stylised rooms (wall / floor) or outdoor places (sky / ground) with a lighting gradient and a
  little texture noise. Objects are built from shaded rectangles, ellipses, triangles, rings and grids.
  Each category has *distinctive* schema objects with typical places, sizes, colours and shapes (a fridge
  and a stove in a kitchen, a ferris wheel at a fair); *generic* objects appear in many categories (doors,
  windows, chairs, lamps indoors; trees, cars, benches, street lamps outdoors); *clutter* (boxes, rocks,
  clouds) and the odd *foreign* object from another category's schema are off-schema distractors.
* VMS maps have two channels, in the order of ``VMS_CHANNELS = ("true", "false")``:
  channel 0, the *true* schema, concentrates on distinctive schema-consistent objects; channel 1, the *false*
  schema, on generic, commonly seen objects. A map is the per-object weights painted on the *visible* pixels
  of each object (occlusion is tracked), smoothed with a Gaussian whose sigma is proportional to the image
  size, and squashed with ``1 - exp(-k * field)`` into [0, 1). Large, salient distinctive objects therefore
  make a scene more memorable (a higher mean true channel) than a scene without them.
* Everything is deterministic: the layout of scene ``index`` of a split is sampled in normalised
  coordinates from ``np.random.default_rng((seed, split, index))`` and only then rasterised, so a scene is
  the same scene at every resolution from 16 to 256 px (images below 128 px are rendered at an integer
  multiple of their size and box-filtered, so thin objects do not alias away). "train" and "test" draw from
  disjoint seed streams.
* Scene ``index`` has category ``index % 8``, so every prefix of 8 scenes holds every category once.

Use :meth:`SyntheticScenes.arrays` for numpy arrays and :meth:`SyntheticScenes.dataset` for a tf.data
pipeline rendered on the fly; both feed ``model.fit`` on every Keras backend.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from numpy.lib.format import open_memmap
from scipy import ndimage

# numpy and scipy only at import time: the scene workers (`vms_zoo.data.synthetic_worker`) import this module
# and must start fast without a deep-learning framework. Keras is imported where the progress bar is drawn.

CATEGORIES = (
    "kitchen",
    "living_room",
    "small_public",
    "big_public",
    "work_home",
    "public_entertainment",
    "populated",
    "isolated",
)
SPLITS = ("train", "test")
MIN_SIZE, MAX_SIZE = 16, 256

# Map synthesis constants: Gaussian sigma as a fraction of the image size, and the squashing gain k.
MAP_SIGMA = 0.03
MAP_GAIN = 2.0
# Images smaller than this are rendered at an integer multiple of their size and box-filtered (anti-aliasing).
SUPERSAMPLE = 128

# Per-role (true, false) weights: distinctive objects drive the true schema, generic ones the false schema.
ROLE_WEIGHTS = {
    "distinctive": (1.0, 0.12),
    "generic": (0.12, 1.0),
    "clutter": (0.05, 0.12),
    "foreign": (0.25, 0.25),
}
_INDOOR = frozenset(CATEGORIES[:4])

# Scenes from which `arrays` renders in worker processes by default; at 64 px on 2 idle cores, serial vs 2 workers:
# 250 scenes 0.95 vs 1.03 s, 500 scenes 1.67 vs 1.48 s, 4000 scenes 16.1 vs 9.2 s.
PARALLEL_MIN_SCENES = 500
_WORKER_MODULE = "vms_zoo.data.synthetic_worker"


def __getattr__(name):
    """``VMS_CHANNELS`` is the channel order of `vms_zoo.metrics`, loaded on first use (that module imports Keras)."""
    if name == "VMS_CHANNELS":
        from vms_zoo.metrics import CHANNEL_NAMES  # channel 0 true, channel 1 false

        return CHANNEL_NAMES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# --------------------------------------------------------------------------------------------------
# Object catalogue. A kind is (place, (w_lo, w_hi), (h_lo, h_hi), weight_scale, parts); a part is
# (shape, (u0, v0, u1, v1) inside the object's box, colour) with colour an RGB triple or "palette".
# Sizes are fractions of the image for an object near the bottom of the frame (perspective scales them).
# --------------------------------------------------------------------------------------------------
_PALETTE = np.array(
    [[0.85, 0.15, 0.15], [0.95, 0.8, 0.1], [0.15, 0.35, 0.85], [0.2, 0.7, 0.3], [0.9, 0.5, 0.1],
     [0.6, 0.2, 0.7], [0.95, 0.95, 0.95], [0.1, 0.1, 0.12]],
    np.float32,
)

_KINDS = {
    # ---- generic indoor
    "door": ("wallbase", (0.11, 0.15), (0.38, 0.48), 1.0, [
        ("rect", (0, 0, 1, 1), (0.45, 0.3, 0.16)),
        ("rect", (0.15, 0.08, 0.85, 0.45), (0.36, 0.23, 0.12)),
        ("rect", (0.15, 0.55, 0.85, 0.92), (0.36, 0.23, 0.12)),
        ("ellipse", (0.72, 0.48, 0.86, 0.54), (0.9, 0.8, 0.3))]),
    "window": ("wall", (0.12, 0.2), (0.12, 0.2), 1.0, [
        ("rect", (0, 0, 1, 1), (0.95, 0.95, 0.93)),
        ("rect", (0.1, 0.1, 0.9, 0.9), (0.55, 0.75, 0.95)),
        ("rect", (0.46, 0, 0.54, 1), (0.95, 0.95, 0.93)),
        ("rect", (0, 0.46, 1, 0.54), (0.95, 0.95, 0.93))]),
    "chair": ("floor", (0.07, 0.1), (0.13, 0.17), 1.0, [
        ("rect", (0, 0, 0.2, 0.6), (0.3, 0.32, 0.3)),
        ("rect", (0, 0.45, 1, 0.6), (0.3, 0.32, 0.3)),
        ("rect", (0, 0.6, 0.12, 1), (0.2, 0.2, 0.2)),
        ("rect", (0.88, 0.6, 1, 1), (0.2, 0.2, 0.2))]),
    "lamp": ("floor", (0.06, 0.08), (0.3, 0.4), 1.0, [
        ("tri", (0.05, 0, 0.95, 0.3), (0.98, 0.92, 0.6)),
        ("rect", (0.45, 0.25, 0.55, 0.95), (0.15, 0.15, 0.15)),
        ("ellipse", (0.15, 0.9, 0.85, 1), (0.15, 0.15, 0.15))]),
    "plant": ("floor", (0.07, 0.1), (0.15, 0.2), 1.0, [
        ("ellipse", (0, 0, 1, 0.68), (0.2, 0.55, 0.2)),
        ("rect", (0.22, 0.6, 0.78, 1), (0.75, 0.4, 0.25))]),
    # ---- generic outdoor
    "tree": ("floor", (0.1, 0.16), (0.25, 0.38), 1.0, [
        ("rect", (0.42, 0.55, 0.58, 1), (0.4, 0.26, 0.13)),
        ("ellipse", (0, 0, 1, 0.7), (0.2, 0.5, 0.18))]),
    "car": ("floor", (0.14, 0.2), (0.07, 0.1), 1.0, [
        ("rect", (0.2, 0, 0.75, 0.45), (0.2, 0.3, 0.55)),
        ("rect", (0, 0.35, 1, 0.8), (0.2, 0.3, 0.55)),
        ("rect", (0.27, 0.08, 0.68, 0.35), (0.7, 0.85, 0.95)),
        ("ellipse", (0.1, 0.62, 0.3, 1), (0.05, 0.05, 0.05)),
        ("ellipse", (0.7, 0.62, 0.9, 1), (0.05, 0.05, 0.05))]),
    "bench": ("floor", (0.1, 0.14), (0.05, 0.07), 1.0, [
        ("rect", (0, 0, 1, 0.3), (0.5, 0.33, 0.18)),
        ("rect", (0, 0.4, 1, 0.6), (0.5, 0.33, 0.18)),
        ("rect", (0.05, 0.6, 0.15, 1), (0.2, 0.2, 0.2)),
        ("rect", (0.85, 0.6, 0.95, 1), (0.2, 0.2, 0.2))]),
    "streetlamp": ("floor", (0.035, 0.05), (0.3, 0.4), 1.0, [
        ("rect", (0.4, 0.1, 0.6, 1), (0.2, 0.22, 0.25)),
        ("ellipse", (0, 0, 1, 0.14), (1.0, 0.95, 0.6))]),
    # ---- kitchen
    "fridge": ("floor", (0.1, 0.14), (0.36, 0.46), 1.1, [
        ("rect", (0, 0, 1, 1), (0.92, 0.93, 0.96)),
        ("rect", (0, 0.32, 1, 0.35), (0.4, 0.42, 0.45)),
        ("rect", (0.8, 0.1, 0.87, 0.26), (0.5, 0.52, 0.55)),
        ("rect", (0.8, 0.42, 0.87, 0.62), (0.5, 0.52, 0.55))]),
    "stove": ("floor", (0.14, 0.18), (0.16, 0.2), 1.0, [
        ("rect", (0, 0.12, 1, 1), (0.25, 0.25, 0.28)),
        ("rect", (0, 0, 1, 0.14), (0.08, 0.08, 0.08)),
        ("ellipse", (0.1, 0.02, 0.4, 0.12), (0.95, 0.3, 0.1)),
        ("ellipse", (0.6, 0.02, 0.9, 0.12), (0.95, 0.3, 0.1)),
        ("rect", (0.15, 0.35, 0.85, 0.82), (0.55, 0.3, 0.12))]),
    "counter": ("floor", (0.25, 0.38), (0.15, 0.18), 0.9, [
        ("rect", (0, 0.12, 1, 1), (0.25, 0.55, 0.6)),
        ("rect", (0, 0, 1, 0.14), (0.88, 0.86, 0.8)),
        ("grid", (0.04, 0.25, 0.96, 0.95), (0.18, 0.42, 0.46))]),
    # ---- living room
    "sofa": ("floor", (0.25, 0.35), (0.14, 0.18), 1.0, [
        ("rect", (0.05, 0, 0.95, 0.55), (0.6, 0.12, 0.2)),
        ("rect", (0.05, 0.45, 0.95, 0.85), (0.72, 0.2, 0.28)),
        ("rect", (0, 0.3, 0.12, 0.88), (0.5, 0.08, 0.15)),
        ("rect", (0.88, 0.3, 1, 0.88), (0.5, 0.08, 0.15)),
        ("rect", (0.08, 0.85, 0.14, 1), (0.15, 0.1, 0.05)),
        ("rect", (0.86, 0.85, 0.92, 1), (0.15, 0.1, 0.05))]),
    "tv": ("wall", (0.16, 0.22), (0.1, 0.14), 1.0, [
        ("rect", (0, 0, 1, 1), (0.05, 0.05, 0.06)),
        ("rect", (0.07, 0.1, 0.93, 0.9), (0.25, 0.55, 0.95))]),
    "fireplace": ("wallbase", (0.16, 0.22), (0.2, 0.26), 1.1, [
        ("rect", (0, 0, 1, 1), (0.68, 0.3, 0.2)),
        ("rect", (0, 0, 1, 0.1), (0.85, 0.82, 0.75)),
        ("rect", (0.2, 0.4, 0.8, 1), (0.06, 0.04, 0.03)),
        ("tri", (0.32, 0.5, 0.68, 1), (1.0, 0.6, 0.1)),
        ("tri", (0.42, 0.7, 0.58, 1), (1.0, 0.9, 0.3))]),
    "rug": ("flat", (0.3, 0.4), (0.08, 0.12), 0.9, [
        ("ellipse", (0, 0, 1, 1), (0.5, 0.2, 0.55)),
        ("ring", (0.12, 0.15, 0.88, 0.85), (0.95, 0.75, 0.2))]),
    # ---- small public (cafe / shop)
    "bar": ("floor", (0.3, 0.42), (0.14, 0.18), 0.9, [
        ("rect", (0, 0.12, 1, 1), (0.35, 0.2, 0.1)),
        ("rect", (0, 0, 1, 0.14), (0.7, 0.5, 0.3)),
        ("grid", (0.03, 0.3, 0.97, 0.9), (0.25, 0.13, 0.06))]),
    "menu_board": ("wall", (0.14, 0.2), (0.12, 0.17), 1.0, [
        ("rect", (0, 0, 1, 1), (0.45, 0.28, 0.15)),
        ("rect", (0.07, 0.08, 0.93, 0.92), (0.08, 0.28, 0.15)),
        ("grid", (0.15, 0.2, 0.85, 0.8), (0.92, 0.92, 0.85))]),
    "shelf": ("wall", (0.16, 0.24), (0.1, 0.14), 1.0, [
        ("rect", (0, 0.85, 1, 1), (0.5, 0.32, 0.15)),
        ("rect", (0.05, 0.2, 0.2, 0.85), (0.85, 0.15, 0.15)),
        ("rect", (0.25, 0.05, 0.38, 0.85), (0.95, 0.8, 0.1)),
        ("rect", (0.43, 0.3, 0.57, 0.85), (0.15, 0.35, 0.85)),
        ("rect", (0.62, 0.1, 0.75, 0.85), (0.2, 0.7, 0.3)),
        ("rect", (0.8, 0.25, 0.95, 0.85), (0.9, 0.5, 0.1))]),
    "cafe_table": ("floor", (0.1, 0.14), (0.12, 0.15), 1.0, [
        ("ellipse", (0, 0, 1, 0.3), (0.97, 0.97, 0.97)),
        ("rect", (0.44, 0.2, 0.56, 0.92), (0.15, 0.15, 0.15)),
        ("ellipse", (0.2, 0.88, 0.8, 1), (0.15, 0.15, 0.15))]),
    # ---- big public (station / airport hall)
    "departures": ("wall", (0.22, 0.3), (0.1, 0.13), 1.0, [
        ("rect", (0, 0, 1, 1), (0.05, 0.05, 0.07)),
        ("grid", (0.06, 0.1, 0.94, 0.9), (1.0, 0.8, 0.1))]),
    "escalator": ("floor", (0.2, 0.28), (0.22, 0.3), 1.0, [
        ("band", (0, 0, 1, 1), (0.6, 0.62, 0.66)),
        ("band_stripes", (0, 0, 1, 1), (0.3, 0.32, 0.36))]),
    "pillar": ("floor", (0.05, 0.07), (0.75, 0.95), 0.9, [
        ("rect", (0.1, 0.04, 0.9, 1), (0.88, 0.84, 0.74)),
        ("rect", (0, 0, 1, 0.05), (0.55, 0.5, 0.42)),
        ("rect", (0, 0.95, 1, 1), (0.55, 0.5, 0.42))]),
    "luggage": ("floor", (0.08, 0.11), (0.1, 0.13), 1.0, [
        ("rect", (0, 0.35, 1, 1), "palette"),
        ("rect", (0.1, 0.0, 0.9, 0.35), "palette"),
        ("rect", (0.4, 0.05, 0.6, 0.12), (0.1, 0.1, 0.1))]),
    # ---- work / home (built environment)
    "house": ("floor", (0.2, 0.3), (0.24, 0.32), 1.0, [
        ("rect", (0.05, 0.4, 0.95, 1), (0.88, 0.78, 0.58)),
        ("tri", (0, 0, 1, 0.42), (0.65, 0.18, 0.12)),
        ("rect", (0.42, 0.65, 0.58, 1), (0.4, 0.22, 0.1)),
        ("rect", (0.14, 0.55, 0.32, 0.75), (0.45, 0.65, 0.9)),
        ("rect", (0.68, 0.55, 0.86, 0.75), (0.45, 0.65, 0.9))]),
    "tower": ("floor", (0.12, 0.18), (0.5, 0.7), 1.0, [
        ("rect", (0, 0, 1, 1), (0.35, 0.42, 0.55)),
        ("grid", (0.08, 0.05, 0.92, 0.97), (0.7, 0.85, 0.95))]),
    "factory": ("floor", (0.22, 0.3), (0.22, 0.28), 1.0, [
        ("rect", (0, 0.4, 1, 1), (0.55, 0.5, 0.45)),
        ("rect", (0.1, 0, 0.2, 0.4), (0.7, 0.25, 0.15)),
        ("rect", (0.3, 0.1, 0.4, 0.4), (0.7, 0.25, 0.15)),
        ("grid", (0.05, 0.5, 0.95, 0.8), (0.3, 0.28, 0.25))]),
    # ---- public entertainment (fair / circus / stadium)
    "ferris_wheel": ("floor", (0.22, 0.3), (0.3, 0.4), 1.1, [
        ("tri", (0.25, 0.4, 0.75, 1), (0.45, 0.45, 0.5)),
        ("ring", (0, 0, 1, 0.8), (0.9, 0.15, 0.2)),
        ("ellipse", (0.44, 0.34, 0.56, 0.46), (0.9, 0.9, 0.9)),
        ("ellipse", (0.42, -0.02, 0.58, 0.1), (0.95, 0.8, 0.1)),
        ("ellipse", (-0.02, 0.33, 0.12, 0.47), (0.15, 0.35, 0.85)),
        ("ellipse", (0.88, 0.33, 1.02, 0.47), (0.2, 0.7, 0.3))]),
    "tent": ("floor", (0.18, 0.26), (0.2, 0.28), 1.0, [
        ("tri_stripes", (0, 0, 1, 1), (0.9, 0.1, 0.15)),
        ("rect", (0.42, 0.7, 0.58, 1), (0.15, 0.05, 0.05))]),
    "balloons": ("sky", (0.1, 0.14), (0.14, 0.2), 1.0, [
        ("rect", (0.48, 0.45, 0.52, 1), (0.3, 0.3, 0.3)),
        ("ellipse", (0, 0.1, 0.45, 0.45), (0.9, 0.1, 0.15)),
        ("ellipse", (0.55, 0.05, 1, 0.4), (0.95, 0.85, 0.1)),
        ("ellipse", (0.28, 0.3, 0.72, 0.62), (0.15, 0.4, 0.95))]),
    # ---- populated nature (beach / park with people)
    "people": ("floor", (0.1, 0.14), (0.1, 0.14), 1.0, [
        ("ellipse", (0.05, 0, 0.25, 0.2), (0.9, 0.7, 0.55)),
        ("rect", (0.0, 0.2, 0.3, 0.65), "palette"),
        ("rect", (0.05, 0.65, 0.25, 1), (0.15, 0.2, 0.4)),
        ("ellipse", (0.75, 0.05, 0.95, 0.25), (0.6, 0.42, 0.3)),
        ("rect", (0.7, 0.25, 1.0, 0.68), "palette"),
        ("rect", (0.75, 0.68, 0.95, 1), (0.2, 0.2, 0.2))]),
    "umbrella": ("floor", (0.1, 0.14), (0.12, 0.16), 1.0, [
        ("rect", (0.47, 0.3, 0.53, 1), (0.95, 0.95, 0.95)),
        ("dome_stripes", (0, 0, 1, 0.7), "palette")]),
    "boat": ("sea", (0.1, 0.15), (0.08, 0.12), 1.0, [
        ("tri", (0.35, 0, 0.75, 0.7), (0.97, 0.97, 0.97)),
        ("rect", (0.52, 0, 0.56, 0.72), (0.3, 0.2, 0.1)),
        ("hull", (0, 0.68, 1, 1), (0.55, 0.25, 0.12))]),
    # ---- isolated nature (mountains / wilderness)
    "mountain": ("horizon", (0.35, 0.55), (0.22, 0.34), 1.0, [
        ("tri", (0, 0, 1, 1), (0.45, 0.42, 0.55)),
        ("tri", (0.36, 0, 0.64, 0.28), (0.97, 0.97, 1.0))]),
    "pine": ("floor", (0.07, 0.1), (0.22, 0.3), 1.0, [
        ("rect", (0.42, 0.8, 0.58, 1), (0.35, 0.2, 0.1)),
        ("tri", (0, 0.25, 1, 0.85), (0.08, 0.32, 0.18)),
        ("tri", (0.12, 0, 0.88, 0.55), (0.1, 0.38, 0.2))]),
    "lake": ("flat", (0.3, 0.45), (0.08, 0.12), 1.0, [
        ("ellipse", (0, 0, 1, 1), (0.15, 0.4, 0.75)),
        ("ellipse", (0.25, 0.2, 0.6, 0.5), (0.5, 0.7, 0.95))]),
    "sun": ("sky", (0.08, 0.12), (0.08, 0.12), 0.9, [
        ("ellipse", (0, 0, 1, 1), (1.0, 0.85, 0.2)),
        ("ellipse", (0.2, 0.2, 0.8, 0.8), (1.0, 0.97, 0.6))]),
    # ---- clutter
    "box": ("floor", (0.05, 0.08), (0.04, 0.07), 1.0, [("rect", (0, 0, 1, 1), (0.6, 0.5, 0.35))]),
    "ball": ("floor", (0.03, 0.05), (0.03, 0.05), 1.0, [("ellipse", (0, 0, 1, 1), "palette")]),
    "frame": ("wall", (0.06, 0.09), (0.06, 0.09), 1.0, [
        ("rect", (0, 0, 1, 1), (0.3, 0.25, 0.2)), ("rect", (0.15, 0.15, 0.85, 0.85), (0.75, 0.75, 0.7))]),
    "rock": ("floor", (0.05, 0.1), (0.03, 0.06), 1.0, [("ellipse", (0, 0, 1, 1.6), (0.5, 0.5, 0.48))]),
    "bush": ("floor", (0.06, 0.1), (0.04, 0.06), 1.0, [("ellipse", (0, 0, 1, 1.6), (0.25, 0.4, 0.15))]),
    "cloud": ("sky", (0.12, 0.2), (0.04, 0.07), 1.0, [
        ("ellipse", (0, 0.3, 0.6, 1), (0.97, 0.97, 0.98)), ("ellipse", (0.3, 0, 1, 1), (0.97, 0.97, 0.98))]),
}

_SCHEMAS = {
    "kitchen": ("fridge", "stove", "counter"),
    "living_room": ("sofa", "tv", "fireplace", "rug"),
    "small_public": ("bar", "menu_board", "shelf", "cafe_table"),
    "big_public": ("departures", "escalator", "pillar", "luggage"),
    "work_home": ("house", "tower", "factory"),
    "public_entertainment": ("ferris_wheel", "tent", "balloons"),
    "populated": ("people", "umbrella", "boat"),
    "isolated": ("mountain", "pine", "lake", "sun"),
}
_GENERIC = {True: ("door", "window", "chair", "lamp", "plant"), False: ("tree", "car", "bench", "streetlamp")}
_CLUTTER = {True: ("box", "ball", "frame"), False: ("rock", "bush", "cloud")}

# Backgrounds: (upper colour, lower colour, pattern). Indoor = wall / floor, outdoor = sky / ground.
_BACKGROUNDS = {
    "kitchen": ((0.93, 0.9, 0.8), (0.75, 0.72, 0.68), "tiles"),
    "living_room": ((0.85, 0.75, 0.6), (0.55, 0.38, 0.22), "planks"),
    "small_public": ((0.75, 0.82, 0.72), (0.45, 0.42, 0.4), "wainscot"),
    "big_public": ((0.82, 0.83, 0.85), (0.68, 0.68, 0.7), "hall"),
    "work_home": ((0.55, 0.72, 0.92), (0.5, 0.5, 0.5), "road"),
    "public_entertainment": ((0.45, 0.65, 0.95), (0.62, 0.55, 0.5), "paving"),
    "populated": ((0.5, 0.75, 0.95), (0.9, 0.82, 0.6), "beach"),
    "isolated": ((0.6, 0.7, 0.85), (0.45, 0.55, 0.3), "hills"),
}

# Number of objects per role: probabilities of 0, 1, 2, 3 objects.
_COUNT_P = {"distinctive": (0.15, 0.35, 0.3, 0.2), "generic": (0.15, 0.35, 0.3, 0.2), "clutter": (0.3, 0.3, 0.25, 0.15)}
_FOREIGN_P = 0.2


def _check_size(image_size):
    """Sizes outside 16-256 px are refused: smaller maps lose the objects, larger ones are slow to render."""
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)):
        raise ValueError(f"image_size must be an integer between {MIN_SIZE} and {MAX_SIZE}; got {image_size!r}.")
    if not MIN_SIZE <= image_size <= MAX_SIZE:
        raise ValueError(f"image_size must be between {MIN_SIZE} and {MAX_SIZE} px; got {image_size}.")
    return int(image_size)


def _sample_layout(rng, category):
    """Scene layout in normalised coordinates; consumes the same random draws at every resolution."""
    indoor = category in _INDOOR
    horizon = rng.uniform(0.42, 0.62)
    up, low, pattern = _BACKGROUNDS[category]
    background = {
        "horizon": horizon,
        "upper": np.clip(np.array(up) + rng.uniform(-0.06, 0.06, 3), 0, 1).astype(np.float32),
        "lower": np.clip(np.array(low) + rng.uniform(-0.06, 0.06, 3), 0, 1).astype(np.float32),
        "pattern": pattern,
        "light": (rng.uniform(-0.35, 0.35), rng.uniform(-0.2, 0.1)),
        "phase": rng.uniform(0, 1, 4),
    }
    picks = []
    for role, pool in (("distinctive", _SCHEMAS[category]), ("generic", _GENERIC[indoor]), ("clutter", _CLUTTER[indoor])):
        n = rng.choice(4, p=_COUNT_P[role])
        picks += [(pool[i], role) for i in rng.integers(len(pool), size=n)]
    if rng.uniform() < _FOREIGN_P:
        others = [c for c in CATEGORIES if c != category and (c in _INDOOR) == indoor]
        pool = _SCHEMAS[others[rng.integers(len(others))]]
        picks.append((pool[rng.integers(len(pool))], "foreign"))

    objects = []
    for kind, role in picks:
        place, (wl, wh), (hl, hh), wscale, parts = _KINDS[kind]
        w, h = rng.uniform(wl, wh), rng.uniform(hl, hh)
        cx = rng.uniform(0.02, 0.98)
        depth = rng.uniform()
        if place == "floor":
            bottom = horizon + 0.03 + depth * (1.02 - horizon - 0.03)
            scale = 0.55 + 0.9 * (bottom - horizon) / (1 - horizon)
        elif place == "wallbase":
            bottom, scale = horizon + 0.04 * depth, 0.75
        elif place == "horizon":
            bottom, scale = horizon + 0.03 * depth, 1.0
        elif place == "sea":
            bottom, scale = horizon + 0.03 + 0.06 * depth, 0.6
        elif place == "flat":
            bottom = horizon + 0.12 + depth * (0.95 - horizon - 0.12)
            scale = 0.55 + 0.9 * (bottom - horizon) / (1 - horizon)
        else:  # "wall" / "sky": hangs above the horizon
            top_lo, top_hi = 0.04, max(0.05, horizon - 0.04 - h)
            bottom, scale = top_lo + depth * (top_hi - top_lo) + h, 1.0
        w, h = w * scale, h * scale
        colours = [
            _PALETTE[rng.integers(len(_PALETTE))] if c == "palette"
            else np.clip(np.array(c) + rng.uniform(-0.04, 0.04, 3), 0, 1).astype(np.float32)
            for _, _, c in parts
        ]
        weights = tuple(float(wscale * x) if role == "distinctive" else float(x) for x in ROLE_WEIGHTS[role])
        objects.append({
            "kind": kind,
            "role": role,
            "box": (cx - w / 2, bottom - h, cx + w / 2, bottom),
            "weights": weights,
            "place": place,
            "colours": colours,
        })
    # Painter's order: things on the wall / in the sky / at the horizon / lying flat first, then standing
    # objects from far (small bottom y) to near.
    order = {"sky": 0, "wall": 0, "horizon": 1, "sea": 2, "wallbase": 2, "flat": 3, "floor": 4}
    objects.sort(key=lambda o: (order[o["place"]], o["box"][3]))
    return background, objects


def _background(bg, size, X, Y):
    """Wall / floor or sky / ground with a category pattern (tiles, planks, road, beach, hills, ...)."""
    h = np.float32(bg["horizon"])
    up, low, pattern = bg["upper"], bg["lower"], bg["pattern"]
    ph = bg["phase"]
    upper = Y < h
    t_up = np.clip(Y / h, 0, 1)
    t_low = np.clip((Y - h) / (1 - h), 0, 1)
    shade = np.where(upper, 0.88 + 0.12 * t_up, 0.8 + 0.25 * t_low)
    if pattern in ("road", "paving", "beach", "hills"):  # sky brightens towards the horizon
        sky = up[None, None, :] * (1 - 0.4 * t_up[..., None]) + 0.4 * t_up[..., None] * np.array([0.95, 0.95, 0.97])
        img = np.where(upper[..., None], sky, low[None, None, :] * shade[..., None])
    else:
        img = np.where(upper[..., None], up, low)[...] * shade[..., None]
    img = np.broadcast_to(img, (size, size, 3)).copy()
    f = np.ones((size, size), np.float32)
    if pattern == "tiles":
        wall_tiles = ((X * 14 + ph[0]) % 1 < 0.08) | ((Y * 14 + ph[1]) % 1 < 0.08)
        f = np.where(upper & (Y > h - 0.22) & wall_tiles, 0.85, f)
        checker = ((np.floor(X * 8 + ph[2]) + np.floor((Y - h) * 16)) % 2 == 0)
        f = np.where(~upper & checker, 0.88, f)
    elif pattern == "planks":
        f = np.where(~upper & ((Y * 25 + ph[0]) % 1 < 0.12), 0.85, f)
        f = np.where(upper & (Y > h - 0.03), 0.7, f)
    elif pattern == "wainscot":
        f = np.where(upper & (Y > h - 0.16), 0.8, f)
        f = np.where(upper & (Y > h - 0.17) & (Y < h - 0.155), 0.6, f)
    elif pattern == "hall":
        f = np.where(Y < 0.07, 0.55, f)
        f = np.where(~upper & ((X * 6 + ph[0] + (Y - h) * 3 * (X - 0.5)) % 1 < 0.05), 0.85, f)
    elif pattern == "road":
        road = (Y > h + 0.08) & (Y < h + 0.16)
        img[road] = 0.3
        f = np.where(road & (np.abs(Y - h - 0.12) < 0.006) & ((X * 8 + ph[0]) % 1 < 0.5), 3.0, f)
    elif pattern == "paving":
        f = np.where(~upper & (((X * 10 + ph[0]) % 1 < 0.06) | ((Y * 20 + ph[1]) % 1 < 0.08)), 0.85, f)
    elif pattern == "beach":
        sea = ~upper & (Y < h + 0.1)
        img[sea] = np.array([0.15, 0.45, 0.7]) * (0.9 + 0.2 * ((X[sea] * 20 + Y[sea] * 50) % 1 < 0.3))[:, None]
    elif pattern == "hills":
        hills = (Y > h - 0.06 * (0.6 + 0.4 * np.sin(X * 9 + ph[0] * 6))) & upper
        img[hills] = np.array([0.35, 0.45, 0.4])
    return img * f[..., None]


def _part_mask(shape, u, v):
    """Mask of a part in its own unit box coordinates u, v (left-right, top-bottom)."""
    inside = (u >= 0) & (u < 1) & (v >= 0) & (v < 1)
    if shape == "rect":
        return inside
    if shape == "grid":  # rows of windows, text lines, cabinet doors
        return inside & ((u * 4) % 1 > 0.3) & ((v * 5) % 1 > 0.35)
    if shape == "ellipse":
        return (u - 0.5) ** 2 + (v - 0.5) ** 2 < 0.25
    if shape == "ring":
        r = (u - 0.5) ** 2 + (v - 0.5) ** 2
        return (r < 0.25) & (r > 0.16)
    if shape in ("tri", "tri_stripes"):
        return inside & (np.abs(u - 0.5) <= 0.5 * v)
    if shape in ("band", "band_stripes"):
        m = inside & (np.abs(v - (1 - u)) < 0.3)
        if shape == "band_stripes":
            m = m & ((u * 10) % 1 < 0.25)
        return m
    if shape == "dome_stripes":
        return ((u - 0.5) ** 2 + (v - 1) ** 2 < 0.25) & (v < 1)
    if shape == "hull":
        return inside & (np.abs(u - 0.5) <= 0.5 - 0.25 * v)
    raise ValueError(f"Unknown part shape {shape!r}.")


def _render(background, objects, out_size, rng):
    """Rasterise a layout; returns image (S, S, 3) float32 and VMS (S, S, 2) float32.

    Small images are supersampled (rendered at >= SUPERSAMPLE px, then box-filtered) so thin objects do
    not alias and a scene looks and maps the same at every resolution.
    """
    factor = -(-SUPERSAMPLE // out_size)
    size = out_size * factor
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    X, Y = np.meshgrid(c, c)
    img = _background(background, size, X, Y).astype(np.float32)
    owner = np.full((size, size), -1, np.int32)
    for k, obj in enumerate(objects):
        x0, y0, x1, y1 = obj["box"]
        i0, i1 = max(0, int(np.floor(y0 * size))), min(size, int(np.ceil(y1 * size)) + 1)
        j0, j1 = max(0, int(np.floor(x0 * size))), min(size, int(np.ceil(x1 * size)) + 1)
        if i0 >= i1 or j0 >= j1:
            continue
        u = (c[j0:j1][None, :] - x0) / (x1 - x0)
        v = (c[i0:i1][:, None] - y0) / (y1 - y0)
        sub_img, sub_owner = img[i0:i1, j0:j1], owner[i0:i1, j0:j1]
        for (shape, (pu0, pv0, pu1, pv1), _), colour in zip(_KINDS[obj["kind"]][4], obj["colours"]):
            pu, pv = (u - pu0) / (pu1 - pu0), (v - pv0) / (pv1 - pv0)
            m = _part_mask(shape, pu, pv)
            if not m.any():
                continue
            shade = 1.1 - 0.25 * np.clip(pv, 0, 1)
            if shape in ("ellipse", "dome_stripes", "ring"):
                shade = shade + 0.12 * (1 - 4 * ((pu - 0.45) ** 2 + (pv - 0.4) ** 2))
            elif shape in ("tri", "tri_stripes"):
                shade = shade + 0.12 * (0.5 - pu) * np.ones_like(pv)
            col = np.broadcast_to(colour, (*m.shape, 3)) * shade[..., None]
            if shape in ("tri_stripes", "dome_stripes"):
                col = np.where((((pu * 6) % 1) < 0.5)[..., None], col, 0.95 * shade[..., None])
            sub_img[m] = col[m]
            sub_owner[m] = k
    lx, ly = background["light"]
    img *= (1 + lx * (X - 0.5) + ly * (Y - 0.5))[..., None]

    weights = np.zeros((len(objects) + 1, 2), np.float32)  # row -1 is "no object"
    for k, obj in enumerate(objects):
        weights[k] = obj["weights"]
    field = weights[owner]  # visible pixels of each object carry its weights
    if factor > 1:
        img = img.reshape(out_size, factor, out_size, factor, 3).mean(axis=(1, 3))
        field = field.reshape(out_size, factor, out_size, factor, 2).mean(axis=(1, 3))
    img += 0.02 * rng.standard_normal((out_size, out_size, 3), dtype=np.float32)
    np.clip(img, 0, 1, out=img)
    sigma = MAP_SIGMA * out_size
    field = ndimage.gaussian_filter(field, sigma=(sigma, sigma, 0), mode="nearest", truncate=3.0)
    vms = 1.0 - np.exp(-MAP_GAIN * field)
    return img, vms.astype(np.float32)


class SyntheticScenes:
    """The embedded default dataset: procedurally rendered scenes with 2-channel VMS maps and categories.

    Scenes are rendered on demand, so the dataset costs no disk space and any resolution is available.
    """

    def __init__(self, image_size=64, seed=0, num_train=8000, num_test=1000):
        self.image_size = _check_size(image_size)
        self.seed = int(seed)
        if self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer; got {seed}.")
        for name, n in (("num_train", num_train), ("num_test", num_test)):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"{name} must be a positive integer; got {n!r}.")
        self._sizes = {"train": int(num_train), "test": int(num_test)}

    def get_config(self):
        return {"image_size": self.image_size, "seed": self.seed,
                "num_train": self._sizes["train"], "num_test": self._sizes["test"]}

    def split_size(self, split):
        """Number of scenes in ``split`` ("train" or "test")."""
        return self._sizes[self._check_split(split)]

    def _check_split(self, split):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}; got {split!r}.")
        return split

    def _rng(self, index, split):
        self._check_split(split)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise ValueError(f"index must be an integer; got {index!r}.")
        n = self._sizes[split]
        if not 0 <= index < n:
            raise ValueError(f"index {index} is out of range for the {split!r} split of {n} scenes.")
        # Disjoint streams: the split id is part of the seed sequence's entropy.
        return np.random.default_rng([self.seed, SPLITS.index(split), int(index)])

    def layout(self, index, split="train"):
        """The objects of a scene in normalised [0, 1] coordinates (x0, y0, x1, y1): for inspection and tests."""
        rng = self._rng(index, split)
        category = int(index) % len(CATEGORIES)
        background, objects = _sample_layout(rng, CATEGORIES[category])
        return {
            "category": category,
            "horizon": float(background["horizon"]),
            "objects": [{k: o[k] for k in ("kind", "role", "box", "weights")} for o in objects],
        }

    def scene(self, index, split="train"):
        """One scene: image (H, W, 3) float32 in [0, 1], VMS map (H, W, 2) float32 in [0, 1], category."""
        rng = self._rng(index, split)
        category = int(index) % len(CATEGORIES)
        background, objects = _sample_layout(rng, CATEGORIES[category])
        image, vms = _render(background, objects, self.image_size, rng)
        return image, vms, category

    def arrays(self, split="train", num=None, progress=True, workers=None):
        """The first ``num`` scenes of a split (all by default) as numpy arrays, with a progress bar.

        Rendering is pure Python and GIL-bound, so from ``PARALLEL_MIN_SCENES`` scenes on it is split into
        ``os.cpu_count()`` contiguous slices rendered by worker processes; ``workers`` sets that number
        (``workers=1``: render here). Every scene has its own RNG, so the arrays are identical either way.
        """
        total = self.split_size(split)
        num = total if num is None else num
        if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or not 0 < num <= total:
            raise ValueError(f"num must be an integer in [1, {total}] for the {split!r} split; got {num!r}.")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, (int, np.integer))
                                    or workers < 1):
            raise ValueError(f"workers must be None (automatic) or a positive integer; got {workers!r}.")
        if workers is None:
            workers = (os.cpu_count() or 1) if num >= PARALLEL_MIN_SCENES else 1
        workers = min(int(workers), int(num))
        if progress:
            import keras  # only for the progress bar

            bar = keras.utils.Progbar(num, unit_name="scene")
        else:
            bar = None
        if workers > 1:
            return self._arrays_in_workers(split, int(num), workers, bar)
        s = self.image_size
        images = np.empty((num, s, s, 3), np.float32)
        vms = np.empty((num, s, s, 2), np.float32)
        categories = np.empty((num,), np.int32)
        for i in range(num):
            images[i], vms[i], categories[i] = self.scene(i, split)
            if bar is not None and ((i + 1) % 100 == 0 or i + 1 == num):
                bar.update(i + 1)
        return {"images": images, "vms": vms, "categories": categories}

    def _arrays_in_workers(self, split, num, workers, bar):
        """`arrays` rendered by ``workers`` subprocesses, each filling a contiguous slice of .npy files.

        Plain ``python -m`` subprocesses, not multiprocessing: forking a parent that holds framework threads
        can deadlock, and spawn re-imports the caller's ``__main__``. A worker writes a scene's category last,
        so the categories not yet -1 count the scenes done, for the progress bar.
        """
        s = self.image_size
        folder = tempfile.mkdtemp(prefix="vms_zoo_scenes_")
        procs, logs, done = [], [], None
        try:
            open_memmap(os.path.join(folder, "images.npy"), "w+", np.float32, (num, s, s, 3))
            open_memmap(os.path.join(folder, "vms.npy"), "w+", np.float32, (num, s, s, 2))
            done = open_memmap(os.path.join(folder, "categories.npy"), "w+", np.int32, (num,))
            done[:] = -1
            root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
            bounds, shown = np.linspace(0, num, workers + 1).astype(int), 0
            for w in range(workers):
                logs.append(open(os.path.join(folder, f"worker{w}.err"), "w+b"))
                args = [folder, json.dumps(self.get_config()), split, str(bounds[w]), str(bounds[w + 1])]
                procs.append(subprocess.Popen([sys.executable, "-m", _WORKER_MODULE, *args], env=env,
                                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=logs[w]))
            while True:
                codes = [p.poll() for p in procs]
                failed = [w for w, code in enumerate(codes) if code not in (None, 0)]
                if failed:
                    w = failed[0]
                    logs[w].seek(0)
                    tail = logs[w].read().decode(errors="replace")[-2000:].strip()
                    raise RuntimeError(
                        f"Synthetic-scene worker {w} (scenes {bounds[w]}-{bounds[w + 1] - 1} of {split!r}, "
                        f"python -m {_WORKER_MODULE}) exited with code {codes[w]}. End of its stderr:\n{tail}")
                n_done = int(np.count_nonzero(done >= 0))
                if bar is not None and n_done > shown:
                    bar.update(n_done)
                    shown = n_done
                if all(code == 0 for code in codes):
                    break
                time.sleep(0.1)
            return {key: np.load(os.path.join(folder, f"{key}.npy")) for key in ("images", "vms", "categories")}
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                p.wait()
            for log in logs:
                log.close()
            done = None  # unmaps the file, so it can be removed on every OS
            shutil.rmtree(folder, ignore_errors=True)

    def dataset(self, split="train", batch_size=32, shuffle=False, repeat=False, with_categories=False):
        """A tf.data pipeline rendering scenes on the fly, yielding (images, vms) or (images, vms, categories).

        Keras feeds tf.data to every backend, so this serves ``model.fit`` on TensorFlow, JAX and PyTorch.
        With ``shuffle`` the order is reshuffled every epoch (seeded by the dataset seed).
        """
        import tensorflow as tf  # imported lazily: numpy users need not pay for TensorFlow

        n = self.split_size(split)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
        s = self.image_size

        def render(i):
            image, vms, category = self.scene(int(i), split)
            return image, vms, np.int32(category)

        ds = tf.data.Dataset.range(n)
        if shuffle:
            ds = ds.shuffle(n, seed=self.seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        ds = ds.map(
            lambda i: tf.numpy_function(render, [i], (tf.float32, tf.float32, tf.int32), stateful=False),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )

        def fix(image, vms, category):
            image.set_shape((s, s, 3))
            vms.set_shape((s, s, 2))
            category.set_shape(())
            return (image, vms, category) if with_categories else (image, vms)

        ds = ds.map(fix).batch(batch_size)
        return ds.prefetch(tf.data.AUTOTUNE)
