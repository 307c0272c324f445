"""PNG output for results people look at: VMS maps coloured like the papers' figures, and image grids."""

import numpy as np
from PIL import Image

from vms_zoo.io import write_atomically


def vms_to_rgb(vms):
    """(..., H, W, 2) map -> RGB in [0, 1] with green = true schema and red = false schema, as in the papers."""
    vms = np.clip(np.asarray(vms, np.float32), 0.0, 1.0)
    return np.stack([vms[..., 1], vms[..., 0], np.zeros_like(vms[..., 0])], axis=-1)


def overlay(image, vms, strength=0.6):
    """The scene darkened where nothing is memorable and tinted green/red where its VMS map is strong."""
    rgb = vms_to_rgb(vms)
    weight = strength * np.max(np.clip(vms, 0, 1), axis=-1, keepdims=True)
    return np.clip((1 - weight) * np.asarray(image, np.float32) + weight * rgb, 0.0, 1.0)


def to_uint8(image):
    """Float image in [0, 1] -> uint8 array, clipped."""
    return (np.clip(np.asarray(image, np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def save_png(uint8_image, path):
    """An (H, W, 3) uint8 array written to `path` (a .png) whole (a link at `path` is replaced, not followed)."""
    write_atomically(path, lambda tmp: Image.fromarray(uint8_image).save(tmp))
    return path


def save_grid(rows, path, scale=1, pad=2):
    """Save a grid of equally sized RGB float images in [0, 1]: `rows` is a list of lists of (H, W, 3) arrays."""
    rows = [[np.asarray(im, np.float32) for im in row] for row in rows]
    h, w = rows[0][0].shape[:2]
    n_cols = max(len(r) for r in rows)
    canvas = np.ones((len(rows) * (h + pad) + pad, n_cols * (w + pad) + pad, 3), np.float32)
    for i, row in enumerate(rows):
        for j, im in enumerate(row):
            if im.shape[-1] == 1 or im.ndim == 2:
                im = np.repeat(im.reshape(h, w, 1), 3, axis=-1)
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            canvas[y : y + h, x : x + w] = im
    picture = Image.fromarray(to_uint8(canvas))
    if scale != 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    write_atomically(path, lambda tmp: picture.save(tmp))
    return path


def save_prediction_grid(images, true_vms, pred_vms, path, scale=2):
    """One row per scene: image, ground-truth VMS, predicted VMS, predicted overlay."""
    rows = [
        [img, vms_to_rgb(t), vms_to_rgb(p), overlay(img, p)]
        for img, t, p in zip(images, true_vms, pred_vms)
    ]
    return save_grid(rows, path, scale=scale)
