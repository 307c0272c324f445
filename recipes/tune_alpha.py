"""Sweep W-MEMGAN's memorability weight alpha with keras-tuner on synthetic scenes (the paper's Fig. 3).

    python recipes/tune_alpha.py --out runs/tune_alpha                      # grid {0, 10, 25, 50}, CPU
    python recipes/tune_alpha.py --seeds 4 --pairs 1000 --epochs 20         # 4 generators per alpha
    python recipes/tune_alpha.py --predictor runs/predictor --scorer runs/scorer --tuner bayesian --trials 6
    python recipes/tune_alpha.py --distribute ...                           # all local devices (tf / jax)

Each trial trains a W-MEMGAN with one alpha, then generates pairs from the same z with a low and a high
target; the independent scorer (another VMS predictor, other architecture and data seed) grades them. The
objective is their separation (paired Cohen's d); the mean memorability of all pair images and a colour-
statistics distance to the real images (quality guard) are recorded too. With --seeds K every alpha trains
K generators (keras-tuner's executions_per_trial, seeds seed .. seed + K - 1): a trial's values are their
means, and the across-generator t-test says whether the effect of the target is a property of that alpha
or of one training run (`vms_zoo.evaluation.across_generators`). Writes to --out: alpha_sweep.csv /
alpha_sweep.json (one row per alpha, the best alpha), alpha_sweep_generators.csv (one row per generator)
and alpha_sweep.png (alpha against separation, each generator a dot, and against mean low / high / overall
memorability). Predictors are trained here unless given as folders holding config.json + model.weights.h5
(what train_vms_predictor.py writes). Rerunning the same command resumes: finished trials are kept and the
interrupted one starts again (--overwrite starts afresh; other settings on an existing --out are refused).
"""

import argparse
import contextlib
import csv
import json
import os
import time


# The feedback predictor P and the independent scorer: different widths, latents and data seeds.
PREDICTOR_CONFIG = {"image_size": 32, "encoder": "conv", "encoder_weights": None, "encoder_filters": [32, 64, 128],
                    "dense_units": 64, "latent_dim": 16, "decoder_filters": [128, 64, 32, 16], "kl_weight": 0.1,
                    "kl_warmup_steps": 500, "l2": 0.02}
SCORER_CONFIG = {**PREDICTOR_CONFIG, "encoder_filters": [16, 32, 64, 64], "dense_units": 32, "latent_dim": 8,
                 "decoder_filters": [64, 32, 16, 16]}
TINY = {"encoder_filters": [8, 16], "dense_units": 16, "latent_dim": 4, "decoder_filters": [16, 8, 8, 8],
        "kl_warmup_steps": 0}
COLUMNS = ("alpha", "separation", "mean_difference", "positive_share", "mean_low", "mean_high",
           "mean_memorability", "quality_distance", "generators", "generators_positive", "p_across", "ci_low",
           "ci_high", "final_d_loss", "final_g_loss", "final_mem_loss", "trial")
GENERATOR_COLUMNS = ("alpha", "seed", "separation", "mean_difference", "mean_memorability", "p_paired_t")
# Arguments that may change when an interrupted sweep is resumed; every other one defines the sweep.
SESSION_ARGS = ("verbose", "out", "overwrite", "distribute")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--alphas", type=float, nargs="+", default=[0.0, 10.0, 25.0, 50.0])
    p.add_argument("--tuner", default="grid", choices=("grid", "random", "bayesian", "hyperband"))
    p.add_argument("--trials", type=int, default=None, help="max trials (default: one per alpha)")
    p.add_argument("--seeds", type=int, default=1, help="generators trained per alpha (executions per trial)")
    p.add_argument("--condition", choices=("score", "map"), default="score")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--category", default="kitchen", help="a synthetic scene category, or 'all'")
    p.add_argument("--num-scenes", type=int, default=8000, help="scenes to draw the category from (1 in 8)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64, help="the global batch (split over replicas)")
    p.add_argument("--n-critic", type=int, default=4)
    p.add_argument("--learning-rate", type=float, default=2e-4)
    p.add_argument("--latent-dim", type=int, default=64)
    p.add_argument("--filters", type=int, default=128)
    p.add_argument("--predictor", help="feedback predictor folder (default: train one)")
    p.add_argument("--scorer", help="independent scorer folder (default: train one)")
    p.add_argument("--predictor-epochs", type=int, default=5, help="0: untrained (smoke tests)")
    p.add_argument("--predictor-scenes", type=int, default=4000)
    p.add_argument("--tiny", action="store_true", help="tiny predictors (tests and smoke runs)")
    p.add_argument("--score-scale", action=argparse.BooleanOptionalAction, default=True,
                   help="standardize the score condition on P's real-image scores (as train_wmemgan.py)")
    p.add_argument("--pairs", type=int, default=500)
    p.add_argument("--max-quality-distance", type=float, default=0.15,
                   help="quality guard: best alpha only among trials whose colour statistics are this close")
    p.add_argument("--distribute", action="store_true", help="data-parallel over all local devices")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", type=int, default=1, help="keras-tuner / fit verbosity (0, 1 or 2)")
    p.add_argument("--out", default="runs/tune_alpha")
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming the sweep in --out")
    return p.parse_args(argv)


def predictor_from(path, config, data_seed, epochs, num_scenes):
    """A VMSPredictor from a folder (config.json + model.weights.h5), or trained here and saved to `path`."""
    import keras

    from vms_zoo.data.synthetic import SyntheticScenes
    from vms_zoo.models.vae import VMSPredictor

    config_file, weights_file = os.path.join(path, "config.json"), os.path.join(path, "model.weights.h5")
    if os.path.exists(weights_file):
        with open(config_file) as f:
            model = VMSPredictor.from_config(json.load(f)["config"])
        model.load_weights(weights_file)
        return model
    model = VMSPredictor(**config, seed=data_seed)
    if epochs:  # 0: an untrained predictor, for smoke tests of the plumbing
        data = SyntheticScenes(image_size=config["image_size"], seed=data_seed, num_train=num_scenes).arrays(
            "train", progress=False)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(data["images"], data["vms"], batch_size=32, epochs=epochs, shuffle=True, verbose=0)
    os.makedirs(path, exist_ok=True)
    model.save_weights(weights_file)
    with open(config_file, "w") as f:
        json.dump({"class": "VMSPredictor", "config": model.get_config(), "data_seed": data_seed}, f, indent=2)
    return model


def resuming(args):
    """Whether --out holds a sweep with these settings to resume; refuses a sweep with other settings."""
    path = os.path.join(args.out, "sweep_args.json")
    settings = json.loads(json.dumps({k: v for k, v in vars(args).items() if k not in SESSION_ARGS}))
    started = os.path.exists(os.path.join(args.out, "tuner", "oracle.json")) and os.path.exists(path)
    if started and not args.overwrite:
        with open(path) as f:
            saved = json.load(f)
        changed = sorted(k for k in saved.keys() | settings.keys() if saved.get(k) != settings.get(k))
        if changed:
            raise SystemExit(f"{args.out} holds a sweep with other settings ({', '.join(f'--{k}' for k in changed)}"
                             f"); rerun with the same ones to resume, or pass --overwrite or another --out")
        return True
    with open(path, "w") as f:
        json.dump(settings, f, indent=2)
    return False


def save_table(record, path):
    """<path>.json (everything), <path>.csv (a row per alpha), <path>_generators.csv (a row per generator)."""
    generators = [{"alpha": r["alpha"], **g} for r in record["trials"] for g in r["per_generator"]]
    tables = ((".csv", COLUMNS, record["trials"]), ("_generators.csv", GENERATOR_COLUMNS, generators))
    for name, columns, rows in tables:
        with open(path + name, "w", newline="") as f:
            writer = csv.DictWriter(f, columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    with open(path + ".json", "w") as f:
        json.dump(record, f, indent=2)


def plot(rows, path, size=(360, 260)):
    """Two panels drawn with PIL: alpha vs separation; alpha vs mean low / high / overall memorability."""
    from PIL import Image, ImageDraw

    alphas = [r["alpha"] for r in rows]
    panels = [("separation (paired d)", [("separation", (40, 40, 200))]),
              ("memorability", [("mean_low", (200, 60, 40)), ("mean_high", (40, 150, 40)),
                                ("mean_memorability", (90, 90, 90))])]
    w, h = size
    image = Image.new("RGB", (w * len(panels), h), "white")
    draw = ImageDraw.Draw(image)
    for i, (title, series) in enumerate(panels):
        x0, y0, x1, y1 = i * w + 50, 25, i * w + w - 15, h - 35
        dots = [(r["alpha"], g[key]) for key, _ in series for r in rows for g in r["per_generator"] if key in g]
        values = [r[key] for key, _ in series for r in rows] + [v for _, v in dots]
        lo, hi = min(values), max(values)
        lo, hi = (lo - 0.5, hi + 0.5) if hi - lo < 1e-9 else (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
        a_lo, a_hi = min(alphas), max(alphas) if max(alphas) > min(alphas) else min(alphas) + 1

        def xy(a, v):
            return x0 + (a - a_lo) / (a_hi - a_lo) * (x1 - x0), y1 - (v - lo) / (hi - lo) * (y1 - y0)

        draw.rectangle([x0, y0, x1, y1], outline="black")
        draw.text((x0, 5), title, fill="black")
        draw.text((x1 - 30, y1 + 18), "alpha", fill="black")
        for a in sorted(set(alphas)):
            draw.text((xy(a, lo)[0] - 6, y1 + 4), f"{a:g}", fill="black")
        for v in (lo, (lo + hi) / 2, hi):
            draw.text((i * w + 2, xy(a_lo, v)[1] - 5), f"{v:.4g}", fill="black")
        for a, v in dots:  # each generator of a trial, behind the trial means
            x, y = xy(a, v)
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], outline=(150, 150, 210))
        for key, colour in series:
            points = [xy(r["alpha"], r[key]) for r in rows]
            if len(points) > 1:
                draw.line(points, fill=colour, width=2)
            for x, y in points:
                draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
        for j, (key, colour) in enumerate(series if len(series) > 1 else []):  # legend in the title row
            draw.text((x0 + 90 + 60 * j, 5), key.replace("mean_", "").replace("memorability", "overall"),
                      fill=colour)
    image.save(path)


def main(argv=None):
    args = parse_args(argv)
    import keras

    from vms_zoo import distribute, tuning
    from vms_zoo.data.synthetic import CATEGORIES, SyntheticScenes
    from vms_zoo.evaluation import score_images
    from vms_zoo.targets import fit_score_scale

    os.makedirs(args.out, exist_ok=True)
    resume = resuming(args)
    keras.utils.set_random_seed(args.seed)
    start = time.time()
    dist = distribute.setup() if args.distribute else None
    # TensorFlow: keras-tuner enters the strategy for each trial. JAX: DataParallel is read when variables are
    # made and models trained, and the predictors' variables must be spread over the mesh like the GANs'.
    jax_scope = dist.scope() if dist is not None and dist.strategy is None else contextlib.nullcontext()
    with jax_scope:
        predictor_config, scorer_config = ((dict(c, **TINY) for c in (PREDICTOR_CONFIG, SCORER_CONFIG)) if args.tiny
                                           else (PREDICTOR_CONFIG, SCORER_CONFIG))
        predictor = predictor_from(args.predictor or os.path.join(args.out, "predictor"), predictor_config, args.seed,
                                   args.predictor_epochs, args.predictor_scenes if not args.tiny else 64)
        scorer = predictor_from(args.scorer or os.path.join(args.out, "scorer"), scorer_config, args.seed + 1,
                                args.predictor_epochs, args.predictor_scenes if not args.tiny else 64)

        data = SyntheticScenes(image_size=args.image_size, seed=args.seed, num_train=args.num_scenes).arrays(
            "train", progress=False)
        images = data["images"] if args.category == "all" else \
            data["images"][data["categories"] == CATEGORIES.index(args.category)]
        score_scale, low, high = None, None, None
        if args.condition == "score" and args.score_scale:
            scale = fit_score_scale(score_images(predictor, images))
            score_scale, low, high = (scale["mean"], scale["std"]), scale["low"], scale["high"]

        adam = dict(learning_rate=args.learning_rate, beta_1=0.0, beta_2=0.9)
        make = tuning.wmemgan_factory(
            predictor, optimizer=lambda: keras.optimizers.Adam(**adam), compile_kwargs={"n_critic": args.n_critic},
            image_size=args.image_size, latent_dim=args.latent_dim, condition=args.condition, filters=args.filters,
            score_scale=score_scale)
        hypermodel = tuning.AlphaHyperModel(make, scorer, images[:500], alphas=args.alphas, num_pairs=args.pairs,
                                            low=low, high=high, pair_seed=args.seed + 100, seed=args.seed)
        tuner = tuning.make_tuner(hypermodel, args.tuner, dist=dist, max_trials=args.trials, directory=args.out,
                                  project_name="tuner", overwrite=not resume, seed=args.seed,
                                  executions_per_trial=args.seeds)
        if resume:
            done = sum(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
            print(f"Resuming the sweep in {args.out}: {done} trial(s) finished, "
                  f"{len(tuner.oracle.trials) - done} to run again", flush=True)
        tuner.search(images, epochs=args.epochs, batch_size=args.batch_size, shuffle=True, verbose=args.verbose)

    rows = tuning.trial_table(tuner)
    best = tuning.best_alpha(rows, args.max_quality_distance)
    record = {"best_alpha": best, "trials": rows, "num_images": int(len(images)), "backend": keras.backend.backend(),
              "distribute": repr(dist), "seconds": round(time.time() - start, 1), "resumed": resume, "args": vars(args)}
    save_table(record, os.path.join(args.out, "alpha_sweep"))
    plot(rows, os.path.join(args.out, "alpha_sweep.png"))
    for r in rows:
        print(f"alpha {r['alpha']:5g}: separation {r['separation']:+.3f}  mean memorability "
              f"{r['mean_memorability']:.4f} (low {r['mean_low']:.4f}, high {r['mean_high']:.4f})  "
              f"quality distance {r['quality_distance']:.3f}", flush=True)
        if "p_across" in r:
            print(f"    {r['generators']} generators, {r['generators_positive']} with high > low; mean difference "
                  f"{r['mean_difference_across']:+.4f} (95% CI {r['ci_low']:+.4f} .. {r['ci_high']:+.4f}), "
                  f"across-generator p = {r['p_across']:.3g}", flush=True)
    print(f"best alpha {best:g} -> {args.out}/alpha_sweep.{{csv,json,png}}", flush=True)
    return record


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
