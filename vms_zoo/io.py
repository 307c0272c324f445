"""Reading user images: any file Pillow opens, as the RGB float [0, 1] arrays the models take.

People point the CLI at whatever they have: greyscale scans, RGBA screenshots, palette GIFs, 16-bit PNGs or
TIFFs, phone photos with an EXIF rotation. Each becomes (H, W, 3) float32 in [0, 1]; a missing or
undecodable file raises one clear error naming it.
"""

import os

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError


def read_image(path, size=None):
    """The image at `path` as float32 (H, W, 3) in [0, 1], resized to (size, size) when `size` is given.

    Transparent pixels are composited on white; 16-bit greyscale is scaled from 65535 rather than clipped at 255.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such image file: {path}")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)  # also decodes the whole file: truncated files fail here
            rgb = _to_rgb(im)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"Cannot read image {path}: {e}") from None
    if size is not None:
        rgb = rgb.resize((size, size), Image.BILINEAR)
    return np.asarray(rgb, np.float32) / 255.0


def _to_rgb(im):
    """Any Pillow mode -> an 8-bit RGB image."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):  # high bit depth greyscale
        values = np.asarray(im, np.float64)
        if im.mode.startswith("I;16") or values.max() > 255:
            peak = 65535.0
        else:
            peak = 1.0 if im.mode == "F" and values.max() <= 1.0 else 255.0
        im = Image.fromarray(np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", im.size, (255, 255, 255, 255)), im).convert("RGB")
    return im.convert("RGB")
