"""Data made at test time from the real photographs in tests/data/photos/ (see its README): an image folder in
the awkward forms people have, and the same photos with made-up maps in the VISCHEMA layout of
`vms_zoo.data.vischema` (README "Real data")."""

from pathlib import Path

import numpy as np
from PIL import Image

PHOTOS = sorted((Path(__file__).parent / "data" / "photos").glob("*.jpg"))


def variants():
    """(relative path, Pillow image) of every photo in several forms: the JPEG as it is, an odd size, greyscale
    ('L'), RGBA with a varying alpha, and a 16-bit greyscale PNG ('I;16'), in nested subfolders."""
    out = []
    for k, path in enumerate(PHOTOS):
        photo = Image.open(path).convert("RGB")
        grey = photo.convert("L")
        alpha = Image.fromarray(np.linspace(64, 255, photo.width, dtype=np.uint8)[None].repeat(photo.height, 0))
        deep = Image.fromarray(np.asarray(grey, np.uint16) * 257)
        assert deep.mode == "I;16"
        out += [(f"{path.stem}.jpg", photo),
                (f"odd/{path.stem}_odd.png", photo.resize((photo.width - 2 * k - 3, photo.height // 2 + k))),
                (f"nested/grey/{path.stem}_grey.png", grey),
                (f"nested/alpha/{path.stem}_rgba.png", Image.merge("RGBA", (*photo.split(), alpha))),
                (f"nested/deep/16bit/{path.stem}_16bit.png", deep)]
    return out


def image_folder(root):
    """A folder of every variant (20 files: JPEG and PNG, odd sizes, L, RGBA, I;16, nested); returns it."""
    root = Path(root)
    for rel, image in variants():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        image.save(root / rel, quality=90)  # PNG ignores the quality
    return root


def made_up_map(height, width, k):
    """An (H, W, 2) map in [0, 1]: a blob of memorable (true) and one of falsely remembered (false) regions."""
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    true = np.exp(-((x - 0.3 - 0.05 * k) ** 2 + (y - 0.4) ** 2) / 0.02)
    false = 0.6 * np.exp(-((x - 0.7) ** 2 + (y - 0.6 + 0.03 * k) ** 2) / 0.03)
    return np.stack([true, false], -1).astype(np.float32)


def vischema_root(root):
    """A VISCHEMA root with vischema1/ and vischema2/, each 5 kitchens and 5 living rooms made of the photo
    variants, with maps of their displayed size in the three map formats (green/red PNG, _true/_false PNGs,
    .npy); returns the root."""
    root = Path(root)
    images = variants()
    for part, offset in (("vischema1", 0), ("vischema2", 10)):
        for i in range(10):
            rel, image = images[(i + offset) % len(images)]
            category = ("kitchen", "living_room")[i % 2]
            image_dir, vms_dir = (root / part / sub / category for sub in ("images", "vms"))
            image_dir.mkdir(parents=True, exist_ok=True)
            vms_dir.mkdir(parents=True, exist_ok=True)
            stem = f"img{i}"
            image.save(image_dir / f"{stem}{Path(rel).suffix}", quality=90)
            vms = made_up_map(image.height, image.width, i)
            as_8bit = (vms * 255).round().astype(np.uint8)
            if i % 3 == 0:
                Image.fromarray(np.dstack([as_8bit[..., 1], as_8bit[..., 0], 0 * as_8bit[..., 0]])).save(
                    vms_dir / f"{stem}.png")  # red = false, green = true
            elif i % 3 == 1:
                Image.fromarray(as_8bit[..., 0]).save(vms_dir / f"{stem}_true.png")
                Image.fromarray(as_8bit[..., 1]).save(vms_dir / f"{stem}_false.png")
            else:
                np.save(vms_dir / f"{stem}.npy", vms)
    return root
