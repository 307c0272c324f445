"""PNG output for results people look at: VMS maps coloured like the papers' figures, and image grids."""

import re

import numpy as np
from PIL import Image, ImageDraw, ImageFont

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


def resize_map(vms, shape):
    """An (H, W, C) map resized to shape (H', W') bicubically, channel by channel, clipped to [0, 1]: smooth,
    with no block seams, however much a small map is enlarged to a photo."""
    vms = np.asarray(vms, np.float32)
    if vms.shape[:2] == tuple(shape):
        return vms
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(vms[..., c]), "F")
                           .resize((shape[1], shape[0]), Image.BICUBIC)) for c in range(vms.shape[-1])]
    return np.clip(np.stack(channels, -1), 0.0, 1.0)


CONTOUR_LEVELS = (0.25, 0.5, 0.75)
TRUE_COLOUR, FALSE_COLOUR = (0.1, 1.0, 0.1), (1.0, 0.15, 0.85)  # contour cores: green; magenta reads on red too


def contour_overlay(image, vms, levels=CONTOUR_LEVELS):
    """The photo with the true (green) and false (magenta) schema maps drawn as contour lines at `levels`.

    Each line has a white halo inside a dark one, so it stays visible on red, dark and bright regions alike
    (a tint vanishes on red and dark ones); where a map is weak the photo is left as it is."""
    out = np.array(image, np.float32)
    width = max(1, round(max(out.shape[:2]) / 320))
    for channel, colour in ((1, FALSE_COLOUR), (0, TRUE_COLOUR)):
        for level in levels:
            inside = np.asarray(vms)[..., channel] >= level
            edge = inside & ~_erode(inside)
            if not edge.any():
                continue
            core = _dilate(edge, width - 1)
            halo = _dilate(core, width)
            out[halo & ~core] = 0.0
            out[core] = colour
    return out


def _dilate(mask, radius):
    if radius < 1:
        return mask
    padded = np.pad(mask, radius)
    h, w = mask.shape
    out = np.zeros_like(mask)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out |= padded[dy:dy + h, dx:dx + w]
    return out


def _erode(mask):
    return ~_dilate(~mask, 1)


def font(size):
    """Pillow's bundled font at `size` px (its small bitmap font where FreeType is missing)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def with_titles(picture, titles, column_width, pad=0, size=None):
    """`picture` (a PIL image) under a white header row naming each column, centred over it."""
    size = size or max(10, min(18, column_width // 6))
    header = size + 8
    titled = Image.new("RGB", (picture.width, picture.height + header), "white")
    titled.paste(picture, (0, header))
    draw = ImageDraw.Draw(titled)
    for j, title in enumerate(titles):
        centre = pad + j * (column_width + pad) + column_width / 2
        draw.text((centre, header / 2), title, fill="black", font=font(size), anchor="mm")
    return titled


def save_grid(rows, path, scale=1, pad=2, titles=None):
    """Save a grid of equally sized RGB float images in [0, 1]: `rows` is a list of lists of (H, W, 3) arrays;
    `titles` names the columns in a header row."""
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
    if titles:
        picture = with_titles(picture, titles, w * scale, pad * scale)
    write_atomically(path, lambda tmp: picture.save(tmp))
    return path


PREDICTION_TITLES = ("image", "true", "predicted", "overlay")


def save_prediction_grid(images, true_vms, pred_vms, path, scale=2):
    """One row per scene: image, ground-truth VMS, predicted VMS, predicted overlay, under titled columns."""
    rows = [
        [img, vms_to_rgb(t), vms_to_rgb(p), overlay(img, p)]
        for img, t, p in zip(images, true_vms, pred_vms)
    ]
    return save_grid(rows, path, scale=scale, titles=PREDICTION_TITLES)


PANEL_TITLES = ("photo", "true schema", "false schema", "overlay")
PANEL_LEGEND = "contours at 0.25 / 0.5 / 0.75: green = true, magenta = false"
PANEL_HEIGHT = 256  # height of each picture in a panel


def prediction_panel(image, vms, caption=None, height=PANEL_HEIGHT, pad=6):
    """One labelled PNG-ready uint8 picture: photo | true map | false map | contour overlay, and a colour bar.

    `image` is the (display-sized) photo in [0, 1]; `vms` its (H, W, 2) map at any size, enlarged smoothly."""
    image = np.asarray(image, np.float32)
    h = min(height, image.shape[0])
    w = max(1, round(image.shape[1] * h / image.shape[0]))
    photo = np.asarray(Image.fromarray(to_uint8(image)).resize((w, h), Image.BILINEAR), np.float32) / 255
    vms = resize_map(vms, (h, w))
    zeros = np.zeros_like(vms[..., :1])
    pictures = [photo, vms_to_rgb(np.concatenate([vms[..., :1], zeros], -1)),
                vms_to_rgb(np.concatenate([zeros, vms[..., 1:]], -1)), contour_overlay(photo, vms)]
    size = 14
    bar_width, labels = 2 * max(8, h // 24), 3 * size
    caption = "   ".join(filter(None, [caption, PANEL_LEGEND]))
    header, footer = size + 10, size + 8
    panel = Image.new("RGB", (4 * (w + pad) + pad + bar_width + labels, header + h + pad + footer), "white")
    for j, picture in enumerate(pictures):
        panel.paste(Image.fromarray(to_uint8(picture)), (pad + j * (w + pad), header))
    ramp = np.linspace(1.0, 0.0, h, dtype=np.float32)[:, None, None] * np.ones((1, bar_width // 2, 1), np.float32)
    bar = np.concatenate([vms_to_rgb(np.concatenate([ramp, 0 * ramp], -1)),
                          vms_to_rgb(np.concatenate([0 * ramp, ramp], -1))], axis=1)
    x_bar = pad + 4 * (w + pad)
    panel.paste(Image.fromarray(to_uint8(bar)), (x_bar, header))
    draw = ImageDraw.Draw(panel)
    small = font(size)
    for j, title in enumerate(PANEL_TITLES):
        draw.text((pad + j * (w + pad) + w / 2, header / 2), title, fill="black", font=small, anchor="mm")
    draw.text((x_bar + bar_width / 2, header / 2), "T F", fill="black", font=small, anchor="mm")
    for value in (0.0, 0.5, 1.0):
        y = header + (1 - value) * (h - 1)
        draw.line([(x_bar + bar_width, y), (x_bar + bar_width + 3, y)], fill="black")
        draw.text((x_bar + bar_width + 5, y), f"{value:g}", fill="black", font=small, anchor="lm")
    draw.text((pad, header + h + pad + footer / 2), caption, fill="black", font=small, anchor="lm")
    return np.asarray(panel)


def read_csv_log(path):
    """{column: [float, ...]} of a Keras CSVLogger file (empty cells and non-numbers read as nan)."""
    import csv

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {}
    for row in rows:
        for key, value in row.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = float("nan")
            columns.setdefault(key, []).append(number)
    return columns


def save_curves(history, path, width=360, height=220, x=None, marks=()):
    """A PNG of training curves: one chart per metric, the training values in blue and the held-out (val_)
    values in orange, against the epoch. `history` is {name: [value per epoch]} (Keras History or CSV log).
    `x` names a column to plot against instead of the epoch (e.g. "images_seen"); `marks` are (x value, label)
    pairs drawn as grey vertical lines (e.g. where each growth phase starts)."""
    names = [k for k in history if k not in ("epoch", x) and not k.startswith("val_")]
    names += [k[4:] for k in history if k.startswith("val_") and k[4:] not in names]
    charts = []
    for name in names:
        chart = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(chart)
        series = [(history.get(name), (31, 119, 180), "train"), (history.get(f"val_{name}"), (255, 127, 14), "held out")]
        values = np.array([v for s, _, _ in series if s for v in s], np.float64)
        values = values[np.isfinite(values)]
        draw.text((8, 4), name, fill="black", font=font(13))
        left, top, right, bottom = 52, 24, width - 10, height - 26
        draw.rectangle([left, top, right, bottom], outline=(160, 160, 160))
        if values.size:
            lo, hi = float(values.min()), float(values.max())
            span = (hi - lo) or max(abs(hi), 1.0) * 1e-3
            n = max(len(s) for s, _, _ in series if s)
            xs = np.asarray(history[x], np.float64) if x else np.arange(n, dtype=np.float64)
            x_lo, x_hi = (min([xs.min(), *(m for m, _ in marks)]), xs.max()) if x else (0.0, n - 1.0)
            x_span = (x_hi - x_lo) or 1.0
            to_xy = lambda i, v: (left + (right - left) * (xs[i] - x_lo) / x_span, bottom - (bottom - top) * (v - lo) / span)  # noqa: E731
            for value in (lo, hi):
                draw.text((left - 4, to_xy(0, value)[1]), f"{value:.3g}", fill="black", font=font(10), anchor="rm")
            axis = f"{x.replace('_', ' ')} {x_lo:.0f} .. {x_hi:.0f}" if x else f"epoch 1 .. {n}"
            draw.text(((left + right) / 2, bottom + 14), axis, fill="black", font=font(10), anchor="mm")
            for position, label in marks:
                mark_x = left + (right - left) * (position - x_lo) / x_span
                draw.line([(mark_x, top), (mark_x, bottom)], fill=(200, 200, 200), width=1)
                draw.text((mark_x + 2, bottom - 2), label, fill=(120, 120, 120), font=font(9), anchor="ld")
            for k, (s, colour, label) in enumerate(series):
                if not s:
                    continue
                points = [to_xy(i, v) for i, v in enumerate(s) if np.isfinite(v)]
                if len(points) > 1:
                    draw.line(points, fill=colour, width=2)
                for px, py in points:
                    draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=colour)
                draw.text((right - 4, top + 4 + 12 * k), label, fill=colour, font=font(10), anchor="ra")
        charts.append(chart)
    columns = min(3, max(1, len(charts)))
    sheet = Image.new("RGB", (columns * width, max(1, -(-len(charts) // columns)) * height), "white")
    for i, chart in enumerate(charts):
        sheet.paste(chart, ((i % columns) * width, (i // columns) * height))
    write_atomically(path, lambda tmp: sheet.save(tmp, format="PNG"))
    return path


def predict_file(model, path, longest=512):
    """(photo, map) for the image file at `path`: the photo as float32 in [0, 1] with its longest side at most
    `longest`, and the predictor's (H, W, 2) VMS map enlarged smoothly to the photo's size. The model sees the
    image resized to its own `image_size`, as `vms-zoo predict` does; `prediction_panel(photo, map)` draws both."""
    photo, vms = next(predict_files(model, [path], longest))
    return photo, resize_map(vms, photo.shape[:2])


def predict_files(model, paths, longest=512, batch_size=32):
    """(photo, map) per image file, in order: the display copy (`vms_zoo.io.read_views`, longest side at most
    `longest`) and the predictor's own (S, S, 2) map. Each file is decoded once and the model runs on
    `batch_size` images at a time; `vms-zoo predict` and `predict_file` both read images here."""
    from vms_zoo.io import read_views

    for start in range(0, len(paths), batch_size):
        views = [read_views(path, model.image_size, longest) for path in paths[start:start + batch_size]]
        maps = model.predict(np.stack([inputs for inputs, _ in views]), verbose=0)
        yield from zip((photo for _, photo in views), maps)


def save_pair_summary(low, high, path, title, rows=(), threshold=None, size=(300, 260)):
    """A PNG of a pair evaluation: the summary `rows` ((label, value) pairs), each pair's scores joined from its low to its high
    image (green where high > low, red otherwise), and the two score histograms, with the split `threshold`."""
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    width, height = size
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_width = max([measure.textlength(r[0], font=font(11)) for r in rows] + [0]) + 12
    text_width = int(16 + max([label_width + measure.textlength(r[1], font=font(11)) for r in rows]
                              + [measure.textlength(title, font=font(13))]))
    height = max(height, 40 + 15 * len(rows))
    sheet = Image.new("RGB", (text_width + 2 * width, height), "white")
    draw = ImageDraw.Draw(sheet, "RGBA")
    draw.text((8, 6), title, fill="black", font=font(13))
    for k, (label, value) in enumerate(rows):
        draw.text((8, 30 + 15 * k), label, fill="black", font=font(11))
        draw.text((8 + label_width, 30 + 15 * k), value, fill="black", font=font(11))
    scores = np.concatenate([low, high])
    lo, hi = float(scores.min()), float(scores.max())
    lo, hi = (lo - 0.05 * (hi - lo or 1), hi + 0.05 * (hi - lo or 1))
    top, bottom = 28, height - 30
    to_y = lambda v: bottom - (bottom - top) * (v - lo) / (hi - lo)  # noqa: E731
    # pairs: low image on the left, high image on the right
    left, right = text_width + 50, text_width + width - 20
    draw.rectangle([left, top, right, bottom], outline=(160, 160, 160))
    alpha = int(np.clip(2000 / max(len(low), 1), 24, 200))
    for a, b in zip(low, high):
        colour = (0, 150, 0, alpha) if b > a else (200, 0, 0, alpha)
        draw.line([(left + 6, to_y(a)), (right - 6, to_y(b))], fill=colour, width=1)
    for value in (lo, hi):
        draw.text((left - 4, to_y(value)), f"{value:.3g}", fill="black", font=font(10), anchor="rm")
    draw.text((left, bottom + 14), "low", fill="black", font=font(11), anchor="lm")
    draw.text((right, bottom + 14), "high", fill="black", font=font(11), anchor="rm")
    draw.text((left, 8), "scores of each pair (same z)", fill="black", font=font(12))
    # histograms, scores on the horizontal axis
    left, right = text_width + width + 20, text_width + 2 * width - 12
    draw.rectangle([left, top, right, bottom], outline=(160, 160, 160))
    edges = np.linspace(lo, hi, 31)
    counts = [np.histogram(s, edges)[0] for s in (low, high)]
    peak = max(int(c.max()) for c in counts) or 1
    to_x = lambda v: left + (right - left) * (v - lo) / (hi - lo)  # noqa: E731
    for c, colour, name, k in ((counts[0], (31, 119, 180, 140), "low", 0), (counts[1], (255, 127, 14, 140), "high", 1)):
        for n, x0, x1 in zip(c, edges[:-1], edges[1:]):
            if n:
                draw.rectangle([to_x(x0), bottom - (bottom - top) * n / peak, to_x(x1), bottom], fill=colour)
        draw.text((right - 4, top + 4 + 12 * k), name, fill=colour[:3], font=font(10), anchor="ra")
    if threshold is not None and lo <= threshold <= hi:
        draw.line([(to_x(threshold), top), (to_x(threshold), bottom)], fill=(0, 0, 0), width=1)
        draw.text((to_x(threshold) + 3, top + 4), "split", fill="black", font=font(10))
    for value in (lo, hi):
        draw.text((to_x(value), bottom + 14), f"{value:.3g}", fill="black", font=font(10), anchor="mm")
    draw.text((left, 8), "score histograms", fill="black", font=font(12))
    write_atomically(path, lambda tmp: sheet.save(tmp, format="PNG"))
    return path
