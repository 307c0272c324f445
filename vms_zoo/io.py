"""Reading user images: any file Pillow opens, as the RGB float [0, 1] arrays the models take.

People point the CLI at whatever they have: greyscale scans, RGBA screenshots, palette GIFs, 16-bit PNGs or
TIFFs, phone photos with an EXIF rotation. Each becomes (H, W, 3) float32 in [0, 1]; a missing, undecodable
or oversized file raises one clear error naming it.

Memory: a small PNG can hold a huge image (one colour compresses ~1000x), so the size in the header is
checked against `MAX_PIXELS` before any pixel is decoded, and with a target size JPEGs decode at 1/2 to 1/8
scale (`draft`) and other images are box-reduced (`reduce`) before any conversion or float copy.
"""

import glob
import os
import secrets
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 64_000_000  # 64 megapixels: ~200 MB decoded as 8-bit RGB; larger files are refused unread
_REDUCIBLE = ("L", "RGB", "RGBA", "LA", "I", "F", "CMYK")  # modes Image.reduce averages correctly
_ERRORS = (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def expand_images(items):
    """Image paths from files, folders (their image files, sorted, not recursive) and globs (sorted matches);
    a name that is none of these is a one-line error."""
    paths = []
    for item in items:
        if os.path.isdir(item):
            found = sorted(str(p) for p in Path(item).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                raise FileNotFoundError(f"No image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder {item}")
            paths += found
        elif os.path.isfile(item) or not glob.has_magic(item):
            paths.append(item)
        else:
            found = sorted(p for p in glob.glob(os.path.expanduser(item)) if os.path.isfile(p))
            if not found:
                raise FileNotFoundError(f"No image file matches {item}")
            paths += found
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No such image file: {path}")
    return paths


def open_image(path, size=None, fit=None):
    """The decoded Pillow image at `path`, EXIF rotation applied, refused above `MAX_PIXELS`.

    With `size`, it is decoded (JPEG) or reduced to no less than (size, size), so a caller that resizes to
    `size` never holds more; with `fit`, to a longest side no less than `fit`; with both, to no less than
    either asks. Every reader of images and maps goes through here, so they agree.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such image file: {path}")
    for pixels in (size, fit):
        if pixels is not None and pixels < 1:
            raise ValueError(f"Image size must be a positive number of pixels, not {pixels}")
    try:
        with Image.open(path) as im:  # reads the header only
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise ValueError(f"{width}x{height} is {width * height / 1e6:.0f} megapixels, over the limit of "
                                 f"{MAX_PIXELS / 1e6:.0f} (vms_zoo.io.MAX_PIXELS); downscale it first")
            if size is not None or fit is not None:
                need = max(size or 0, fit or 0)
                im.draft("RGB", (need, need))  # JPEG: decode at the smallest scale still >= size
            im.load()  # the one full decode: truncated files fail here
            ImageOps.exif_transpose(im, in_place=True)
        factors = ([min(im.width // size, im.height // size)] if size is not None else []) + (
            [max(im.size) // fit] if fit is not None else [])
        if factors and min(factors) > 1 and im.mode in _REDUCIBLE:
            im = im.reduce(min(factors))  # box-average to no less than asked: cheap, and resize sees only this
    except _ERRORS as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"Cannot read image {path}: {reason}") from None
    return im


def read_rgb(path, size=None):
    """uint8 (H, W, 3) RGB array of the image at `path`, resized to (size, size) when `size` is given."""
    rgb = to_rgb(open_image(path, size))
    if size is not None:
        rgb = rgb.resize((size, size), Image.BILINEAR)
    return np.asarray(rgb)


def read_image(path, size=None):
    """The image at `path` as float32 (H, W, 3) in [0, 1], resized to (size, size) when `size` is given.

    Transparent pixels are composited on white; 16-bit greyscale is scaled from 65535 rather than clipped
    at 255. Images over `MAX_PIXELS` (64 megapixels) are refused before decoding.
    """
    return read_rgb(path, size).astype(np.float32) / 255.0


def read_display(path, longest):
    """The image at `path` as float32 (H, W, 3) in [0, 1] with its longest side at most `longest` (never enlarged).

    Only a bounded copy is converted to float: JPEGs decode at a reduced scale and other images are box-reduced
    first, so drawing an overlay for a 49-megapixel photo holds a few megabytes of floats, not gigabytes."""
    return _unit(_fit(to_rgb(open_image(path, fit=longest)), longest))


def read_views(path, size, longest):
    """The image at `path`, decoded once, as the two float32 [0, 1] arrays a prediction needs: the model's
    (size, size, 3) input and a display copy whose longest side is at most `longest` (as `read_display`).

    One decode serves both, so a command that shows what a model saw reads each file once."""
    rgb = to_rgb(open_image(path, size=size, fit=longest))
    return _unit(rgb.resize((size, size), Image.BILINEAR)), _unit(_fit(rgb, longest))


def _fit(rgb, longest):
    """A Pillow image shrunk to a longest side of `longest`, aspect kept; a smaller one as it is."""
    scale = min(1.0, longest / max(rgb.size))
    if scale < 1.0:
        rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), Image.BILINEAR)
    return rgb


def _unit(rgb):
    return np.asarray(rgb, np.float32) / 255.0


def write_atomically(path, write):
    """write(tmp_path), fsync, then rename over `path`.

    A killed process never leaves a half file at `path`, and a symlink at `path` is replaced by the new file,
    never written through (os.replace renames over the link itself). The temporary file is created afresh
    (O_EXCL) beside `path`, with the final name's suffixes so writers that go by them (Pillow, Keras) agree.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{''.join(path.suffixes)}")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return path


def write_text(path, text):
    """`text` written to `path` whole (see `write_atomically`)."""
    return write_atomically(path, lambda tmp: Path(tmp).write_text(text))


def to_rgb(im):
    """Any Pillow mode -> an 8-bit RGB image."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):  # high bit depth greyscale
        values = np.asarray(im, np.float32)
        if im.mode.startswith("I;16") or values.max() > 255:
            peak = 65535.0
        else:
            peak = 1.0 if im.mode == "F" and values.max() <= 1.0 else 255.0
        im = Image.fromarray(np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", im.size, (255, 255, 255, 255)), im).convert("RGB")
    return im.convert("RGB")
