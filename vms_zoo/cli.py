"""`vms-zoo`: predict VMS maps, generate scenes at a chosen memorability, train, evaluate, list presets.

    vms-zoo list
    vms-zoo predict photo.jpg more/*.png --preset vms_vae_synthetic_64 --output out/
    vms-zoo generate --preset wmemgan_synthetic_score_32 --memorability low high --pairs 8 --output gen/
    vms-zoo train vms_predictor --epochs 2 --output runs/quick
    vms-zoo evaluate --preset wmemgan_synthetic_score_32 --scorer vms_vae_synthetic_scorer_32 --pairs 200

--preset takes a preset name or a preset folder (e.g. a recipe's --output folder). Maps are coloured as in
the papers: green = true schema (what makes people remember a scene), red = false schema. Errors are one
line on stderr and a non-zero exit code.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

DISPLAY_SIZE = 512  # longest side of written maps and overlays, at most the image's own size
LOW_HIGH = ("low", "high")


def build_parser():
    parser = argparse.ArgumentParser(prog="vms-zoo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("list", help="the presets, with their data, resolution and weights")
    p.set_defaults(run=cmd_list)

    p = commands.add_parser("predict", help="VMS maps, overlays and memorability scores for images")
    p.add_argument("images", nargs="+", help="image files (anything Pillow reads)")
    p.add_argument("--preset", required=True, help="VMS predictor preset name or preset folder")
    p.add_argument("--output", required=True, help="folder for <image>_vms.png, <image>_overlay.png, scores.json")
    p.add_argument("--batch-size", type=int, default=32)
    p.set_defaults(run=cmd_predict)

    p = commands.add_parser("generate", help="scenes from a memorability-conditioned generator")
    p.add_argument("--preset", required=True, help="generator preset name or preset folder")
    p.add_argument("--memorability", nargs="+", default=list(LOW_HIGH),
                   help="low | high | a score in [0, 1] | a target map image (green = true schema); several "
                        "values render every z at each of them (default: low high, i.e. pairs)")
    p.add_argument("--pairs", type=int, default=8, help="number of latent codes z (rows of the grid)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", required=True, help="folder for z<i>_<memorability>.png and grid.png")
    p.set_defaults(run=cmd_generate)

    p = commands.add_parser("train", help="run recipes/<recipe>.py with the remaining arguments")
    p.add_argument("recipe", help="e.g. vms_predictor or train_wmemgan")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the recipe")
    p.set_defaults(run=cmd_train)

    p = commands.add_parser("evaluate", help="low/high pair evaluation of a generator by an independent predictor")
    p.add_argument("--preset", required=True, help="generator preset name or folder")
    p.add_argument("--scorer", required=True, help="independent VMS predictor preset name or folder")
    p.add_argument("--pairs", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--low", type=float, default=None, help="low target on the generator's condition scale")
    p.add_argument("--high", type=float, default=None, help="high target on the generator's condition scale")
    p.add_argument("--threshold", type=float, default=0.65)
    p.add_argument("--output", default=None, help="JSON file for the statistics")
    p.set_defaults(run=cmd_evaluate)
    return parser


def main(argv=None):
    """Entry point of the `vms-zoo` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print("vms-zoo: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, TypeError, KeyError) as e:  # user errors: one line, no traceback
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"vms-zoo: error: {message}", file=sys.stderr)
        return 1


# --- commands ---------------------------------------------------------------------------------------------


def cmd_list(args):
    from vms_zoo import zoo

    print(f"{'preset':28} {'class':13} {'size':>5}  {'dataset':17} weights")
    for name in zoo.list_presets():
        preset = zoo.PRESETS[name]
        weights = preset.get("weights")
        if not weights:
            status = "not published"
        elif (zoo.CHECKPOINTS / name / weights.get("file", zoo.WEIGHTS_FILE)).exists():
            status = "shipped"
        else:
            status = "download" if weights.get("url") else "missing from checkpoints/"
        meta = preset["metadata"]
        print(f"{name:28} {preset['class']:13} {meta['resolution']:>5}  {meta['dataset']:17} {status}")


def cmd_predict(args):
    import keras

    from vms_zoo import zoo
    from vms_zoo.io import read_image
    from vms_zoo.visualize import overlay, to_uint8, vms_to_rgb

    _check_files(args.images)  # before the model loads: a typo fails at once
    model = zoo.load(args.preset)
    size = getattr(model, "image_size", None)
    if size is None or hasattr(model, "generate"):
        raise ValueError(f"Preset {args.preset!r} is not a VMS predictor (for generators: vms-zoo generate).")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    stems = _unique_stems(args.images)
    progress = keras.utils.Progbar(len(args.images), unit_name="image")
    results = []
    for start in range(0, len(args.images), args.batch_size):
        paths = args.images[start:start + args.batch_size]
        maps = model.predict(np.stack([read_image(p, size) for p in paths]), verbose=0)
        for path, vms, stem in zip(paths, maps, stems[start:start + args.batch_size]):
            image = read_image(path)
            image = _fit(image, DISPLAY_SIZE)
            shown = _resize(vms, image.shape[:2])
            _save(to_uint8(vms_to_rgb(shown)), out / f"{stem}_vms.png")
            _save(to_uint8(overlay(image, shown)), out / f"{stem}_overlay.png")
            results.append({"image": path, "true": float(vms[..., 0].mean()), "false": float(vms[..., 1].mean()),
                            "vms": f"{stem}_vms.png", "overlay": f"{stem}_overlay.png"})
        progress.add(len(paths))
    report = {"preset": args.preset, "images": results,
              "about": "true / false = mean of the true / false schema map: memorable / falsely remembered regions"}
    (out / "scores.json").write_text(json.dumps(report, indent=2))
    print(f"Wrote {len(results)} maps and overlays and scores.json to {out}")


def cmd_generate(args):
    import keras

    from vms_zoo import zoo
    from vms_zoo.visualize import save_grid, to_uint8

    values = [parse_memorability(v) for v in args.memorability]  # before the model loads
    if args.pairs < 1:
        raise ValueError(f"--pairs must be at least 1, got {args.pairs}.")
    model = zoo.load(args.preset)
    if not (hasattr(model, "generate") and hasattr(model, "latent_dim")):
        raise ValueError(f"Preset {args.preset!r} is not a generator (it has no generate(z, m)).")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    z = np.random.default_rng(args.seed).normal(size=(args.pairs, model.latent_dim)).astype("float32")
    progress = keras.utils.Progbar(len(values), unit_name="memorability")
    columns = []
    for value in values:
        columns.append(model.generate(z, conditions(model, value, args.pairs, args.seed)))
        progress.add(1)
    labels = [_label(v) for v in values]
    for i in range(args.pairs):
        for label, images in zip(labels, columns):
            _save(to_uint8(images[i]), out / f"z{i:03d}_{label}.png")
    save_grid([[images[i] for images in columns] for i in range(args.pairs)], out / "grid.png", scale=2)
    print(f"Wrote {args.pairs * len(values)} images ({', '.join(labels)} per z) and grid.png to {out}")


def cmd_train(args):
    from vms_zoo import zoo

    recipes = zoo.CHECKPOINTS.parent / "recipes"
    name = args.recipe.removesuffix(".py")
    candidates = [recipes / f"{name}.py", recipes / f"train_{name}.py"]
    script = next((c for c in candidates if c.exists()), None)
    if script is None:
        known = sorted(p.stem for p in recipes.glob("*.py")) if recipes.is_dir() else []
        raise ValueError(f"Unknown recipe {args.recipe!r}; recipes in {recipes}: {', '.join(known) or 'none'}.")
    return subprocess.run([sys.executable, str(script), *args.args]).returncode


def cmd_evaluate(args):
    from vms_zoo import zoo
    from vms_zoo.evaluation import evaluate_pairs

    if args.pairs < 2:
        raise ValueError(f"--pairs must be at least 2, got {args.pairs}.")
    model, scorer = zoo.load(args.preset), zoo.load(args.scorer)
    result = evaluate_pairs(model, scorer, num_pairs=args.pairs, seed=args.seed, low=args.low, high=args.high,
                            threshold=args.threshold)
    result.update(preset=args.preset, scorer=args.scorer)
    text = json.dumps(result, indent=2)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
    print(text)


# --- memorability targets ---------------------------------------------------------------------------------


def parse_memorability(text):
    """"low", "high", a float in [0, 1] or the path of a target map image; anything else is a ValueError."""
    if text in LOW_HIGH:
        return text
    try:
        value = float(text)
    except ValueError:
        if os.path.isfile(text):
            return text
        raise ValueError(f"--memorability must be low, high, a number in [0, 1] or a map image file; "
                         f"got {text!r}.") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"--memorability must be in [0, 1]; got {value}.")
    return value


def conditions(model, value, n, seed):
    """The generator's condition M for `n` samples at one parsed --memorability value.

    "low"/"high" are the model's own pair targets; numbers and map images are raw predictor scale ([0, 1],
    green channel of a map = true schema), converted with the model's `to_condition` where it has one.
    """
    from keras import ops

    from vms_zoo.evaluation import default_low_high
    from vms_zoo.io import read_image
    from vms_zoo.models.wgan import area_matrix
    from vms_zoo.targets import sample_target_maps, scale_to_level

    if model.condition == "map":
        if isinstance(value, str) and value not in LOW_HIGH:
            green = read_image(value)[..., 1]  # the true schema
            m = area_matrix(green.shape[0], model.map_size) @ green @ area_matrix(green.shape[1], model.map_size).T
            return np.repeat(m[None, :, :, None], n, axis=0).astype("float32")
        level = default_low_high(model)[LOW_HIGH.index(value)] if value in LOW_HIGH else value
        layouts = ops.convert_to_numpy(sample_target_maps(n, seed=seed, size=model.map_size))
        return scale_to_level(layouts, np.full(n, level))
    if value in LOW_HIGH:
        return np.full((n, 1), default_low_high(model)[LOW_HIGH.index(value)], "float32")
    score = float(read_image(value)[..., 1].mean()) if isinstance(value, str) else value
    raw = np.full((n, 1), score, "float32")
    return model.to_condition(raw) if hasattr(model, "to_condition") else raw


def _label(value):
    if isinstance(value, str):
        return value if value in LOW_HIGH else "map-" + Path(value).stem
    return f"{value:g}"


# --- files ------------------------------------------------------------------------------------------------


def _check_files(paths):
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No such image file: {path}")


def _unique_stems(paths):
    """Output name stems: the file names, numbered when two inputs share one (a/x.jpg, b/x.jpg)."""
    stems, seen = [], {}
    for path in paths:
        stem = Path(path).stem
        seen[stem] = seen.get(stem, 0) + 1
        stems.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return stems


def _fit(image, longest):
    """Shrink an (H, W, C) float image so its longest side is at most `longest`."""
    h, w = image.shape[:2]
    scale = min(1.0, longest / max(h, w))
    return image if scale == 1.0 else _resize(image, (max(1, round(h * scale)), max(1, round(w * scale))))


def _resize(array, shape):
    """Bilinear resize of an (H, W, C) float array to shape (H', W'), channel by channel."""
    from PIL import Image

    if array.shape[:2] == tuple(shape):
        return array
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(array[..., c]), "F")
                                .resize((shape[1], shape[0]), Image.BILINEAR)) for c in range(array.shape[-1])], -1)


def _save(uint8_image, path):
    from PIL import Image

    Image.fromarray(uint8_image).save(path)


if __name__ == "__main__":
    sys.exit(main())
