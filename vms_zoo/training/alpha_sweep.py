"""Sweeping alpha, the weight of the memorability feedback, with keras-tuner (W-MEMGAN paper, Fig. 3).

The objective is what alpha is for: the *pairwise separation* of images generated from the same z with a
low and a high target, as scored by an independent predictor (`vms_zoo.evaluation`), here the paired
Cohen's d of the scores. The scorer is a VMS predictor or a scalar scorer (ResMem). Each trial also records
the overall mean memorability (Fig. 3's other panel: large alpha raises every image) and, given a feature
extractor (`vms_zoo.quality`), an image-quality guard: FID and KID of the generated images against the real
training images (a feedback weight that wins by breaking the images shows there).

    extractor, _ = vms_zoo.quality.feature_extractor("resmem")
    hypermodel = AlphaHyperModel(gan_factory(WMEMGAN, predictor, image_size=32, latent_dim=64),
                                 scorer=scorer, real_images=images, extractor=extractor)
    tuner = make_tuner(hypermodel, "grid", directory="runs/tune", dist=vms_zoo.distribute.setup())
    tuner.search(images, epochs=5, batch_size=64, verbose=0)
    rows = trial_table(tuner); alpha = best_alpha(rows); model = best_model(tuner)

Several generators per alpha: pass keras-tuner's own `executions_per_trial=K` to the tuner. Execution k of a
trial builds and trains its generator with seed `seed + k` (weights, training noise, data order); the trial's
metrics are the means over its K generators (keras-tuner averages them, so the objective is the expected
separation), and each generator's own values stay in the trial as `<metric>_seed<s>`. `trial_table` then
tests the effect with the *generator* as the unit (`vms_zoo.evaluation.across_generators`): that is how
"alpha = 0 has no effect" can be tested at all. Without feedback the condition M is one more latent input, so
any single generator's pairs differ by the effect of an arbitrary latent direction, significant over 1000
pairs but of random sign from one training run to the next.

Any model plugs in through `make_model(alpha, seed) -> compiled model` that has `generate(z, m)`,
`latent_dim`, `condition`, `map_size` and a frozen `predictor`: `gan_factory(WMEMGAN or MEMGAN, ...)` gives one.
"""

import contextlib
import csv
import importlib.util
import json
import os
import time
from pathlib import Path

import keras
import keras_tuner
import numpy as np

from vms_zoo import backend
from vms_zoo import distribute as dist_lib
from vms_zoo import quality
from vms_zoo.evaluation import across_generators, generate_pairs, pair_statistics, score_images
from vms_zoo.io import write_atomically, write_text
from vms_zoo.presets import model_class
from vms_zoo.settings import WMEMGANTraining
from vms_zoo.training.runs import run_folder
from vms_zoo.training.resolving import resolve
from vms_zoo.training.gan import prepare, standardize_scores

DEFAULT_ALPHAS = (0.0, 10.0, 25.0, 50.0)  # the paper's grid
REAL_IMAGES = 1000  # real images the quality guard compares with (our choice: KID's subset size)
OBJECTIVE = keras_tuner.Objective("separation", direction="max")
# Per-generator values kept in each trial (as `<name>_seed<s>`) for the across-generator statistics.
PER_GENERATOR = ("separation", "mean_difference", "mean_memorability", "p_paired_t")
TUNERS = {"grid": keras_tuner.GridSearch, "random": keras_tuner.RandomSearch,
          "bayesian": keras_tuner.BayesianOptimization, "hyperband": keras_tuner.Hyperband}


def gan_factory(model_class, predictor, optimizer=None, compile_kwargs=None, growth_state=None, **config):
    """`make_model(alpha, seed)`: model_class(predictor, alpha=alpha, seed=seed, **config), compiled.

    `model_class` is WMEMGAN or MEMGAN. `optimizer` is a zero-argument callable giving a fresh optimizer
    (called for the critic and for the generator of every trial: optimizer instances must not be shared
    between trials); None keeps the model's defaults. `compile_kwargs` go to `compile` (n_critic, gp_weight,
    ...). For MEMGAN the tuner's `fit` trains the stage the model is at (4x4 when new): `growth_state=(stage,
    fade)` sets it, e.g. `(len(model.sizes) - 1, 1.0)` to sweep alpha at the final resolution.
    """

    def make_model(alpha, seed):
        model = model_class(predictor, alpha=float(alpha), seed=seed, **config)
        optimizers = {"d_optimizer": optimizer(), "g_optimizer": optimizer()} if optimizer else {}
        model.compile(**optimizers, **(compile_kwargs or {}))
        if growth_state is not None:
            model.set_growth_state(*growth_state)
        return model

    return make_model


class AlphaHyperModel(keras_tuner.HyperModel):
    """Builds a generator for one alpha, trains it with the tuner's `fit` arguments, returns its scores.

    Args:
        make_model: (alpha, seed) -> compiled model (see `gan_factory`).
        scorer: the independent scorer that grades the pairs (a VMS predictor or a scalar scorer; not the
            feedback predictor).
        real_images: real images in [0, 1] for the quality guard (a few hundred or more).
        extractor: a `vms_zoo.quality.Extractor` for the guard (FID, KID of each trial's low and high images
            against `real_images`); None records no image quality.
        alphas: the values to try (a `Choice`, so every tuner, GridSearch included, can use it).
        num_pairs, low, high, pair_seed: the pair evaluation, see `vms_zoo.evaluation.generate_pairs`.
        seed: seed of each trial's first generator (execution k uses seed + k), so trials differ by alpha only.
    """

    def __init__(self, make_model, scorer, real_images, alphas=DEFAULT_ALPHAS, num_pairs=200, low=None,
                 high=None, pair_seed=0, seed=0, extractor=None, **kwargs):
        super().__init__(**kwargs)
        self.make_model, self.scorer, self.extractor = make_model, scorer, extractor
        self.real_features = None if extractor is None else extractor(np.asarray(real_images, "float32"))
        self.alphas = [float(a) for a in alphas]
        self.num_pairs, self.low, self.high, self.pair_seed, self.seed = num_pairs, low, high, pair_seed, seed
        self.executions = {}  # hyperparameter values -> generators trained for them in this process

    @staticmethod
    def _key(hp):
        return tuple(sorted(hp.values.items()))

    def _generator_seed(self, hp):
        """Seed of the generator being built / trained for `hp`: seed + executions already finished."""
        return self.seed + self.executions.get(self._key(hp), 0)

    def build(self, hp):
        alpha = hp.Choice("alpha", self.alphas, ordered=True)
        seed = self._generator_seed(hp)
        keras.utils.set_random_seed(seed)
        return self.make_model(alpha, seed)

    def fit(self, hp, model, *args, **kwargs):
        """Train with the arguments given to `tuner.search`, then return the metrics dict (objective included)."""
        seed = self._generator_seed(hp)
        history = model.fit(*args, **kwargs)
        self.executions[self._key(hp)] = seed - self.seed + 1
        metrics = self.evaluate(model)
        metrics.update({f"final_{k}": float(v[-1]) for k, v in history.history.items() if v})
        metrics.update({f"{name}_seed{seed}": metrics[name] for name in PER_GENERATOR})
        return metrics

    def evaluate(self, model):
        """separation (paired Cohen's d, high - low), mean memorability and, with an extractor, FID and KID of
        `model`'s low and high images against the real images."""
        low, high = model.low_high(self.low, self.high)
        images_low, images_high = generate_pairs(model, self.num_pairs, self.pair_seed, low, high)
        scores_low, scores_high = score_images(self.scorer, images_low), score_images(self.scorer, images_high)
        stats = pair_statistics(scores_low, scores_high)
        # A scorer that gives every image the same score separates nothing (d would be rounding noise).
        flat = np.ptp(np.concatenate([scores_low, scores_high])) < 1e-6
        metrics = {
            "separation": 0.0 if flat else stats["cohens_d_paired"],
            "mean_difference": stats["mean_difference"],
            "positive_share": stats["positive_share"],
            "mean_low": stats["mean_low"],
            "mean_high": stats["mean_high"],
            "mean_memorability": (stats["mean_low"] + stats["mean_high"]) / 2.0,
            "p_paired_t": stats["p_paired_t"],
        }
        if self.extractor is not None:
            images = np.concatenate([images_low, images_high])
            report = quality.compare(self.extractor(images), self.real_features, self.extractor.name)
            metrics.update(fid=report["fid"], kid=report["kid"])
        return metrics


def make_tuner(hypermodel, kind="grid", dist=None, max_trials=None, **kwargs):
    """A keras-tuner tuner maximising `separation`; `dist` (vms_zoo.distribute.setup()) wires TensorFlow's
    `distribution_strategy`. On JAX run `tuner.search` inside `dist.scope()` instead."""
    if kind not in TUNERS:
        raise ValueError(f"Unknown tuner {kind!r}; expected one of {sorted(TUNERS)}.")
    kwargs = {**(dist.tuner_kwargs() if dist is not None else {}), **kwargs}
    if kind == "hyperband":  # trains in epoch budgets rather than a number of trials
        kwargs.setdefault("max_epochs", 3)
    elif max_trials is not None or kind != "grid":
        kwargs["max_trials"] = max_trials or len(hypermodel.alphas)
    kwargs.setdefault("max_consecutive_failed_trials", 1)  # a broken trial raises instead of being skipped
    tuner = TUNERS[kind](hypermodel, objective=OBJECTIVE, **kwargs)
    if backend.tuner_imports_tensorboard() and importlib.util.find_spec("tensorboard") is None:
        # keras-tuner imports tensorboard in every TensorFlow trial, to patch TensorBoard callbacks we have none of.
        tuner._configure_tensorboard_dir = lambda *args, **kwargs: None
    return tuner


def trial_table(tuner):
    """One row per completed trial, sorted by alpha: alpha, the metrics (means over the trial's generators),
    and with several generators per trial the across-generator test of their mean differences
    (`across_generators`: generators, generators_positive, t_across / p_across, ci_low / ci_high, ...).
    Each row's "per_generator" list holds one dict per generator: its seed and its own PER_GENERATOR values."""
    rows = []
    for trial in tuner.oracle.trials.values():
        if trial.status != "COMPLETED":
            continue
        metrics = {name: float(m.get_last_value()) for name, m in trial.metrics.metrics.items()}
        per_seed = {}
        for name, value in metrics.items():
            base, _, seed = name.rpartition("_seed")
            if base in PER_GENERATOR and seed.isdigit():
                per_seed.setdefault(int(seed), {"seed": int(seed)})[base] = value
        row = {"trial": trial.trial_id, "alpha": float(trial.hyperparameters.get("alpha"))}
        row.update({k: v for k, v in metrics.items() if "_seed" not in k})
        row["per_generator"] = [per_seed[s] for s in sorted(per_seed)]
        if len(row["per_generator"]) > 1:
            row.update(across_generators([g["mean_difference"] for g in row["per_generator"]]))
        rows.append(row)
    return sorted(rows, key=lambda r: (r["alpha"], r["trial"]))


MAX_FID_RATIO = 1.5  # our choice: the guard's default, see `best_alpha`


def best_alpha(rows, max_fid_ratio=None):
    """The alpha with the largest separation among trials whose images pass the quality guard: an FID at most
    `max_fid_ratio` times the sweep's best (lowest) FID. A ratio, because an FID's scale depends on the
    extractor and the sample sizes, which every trial shares. No guard without a ratio or without FIDs."""
    if not rows:
        raise ValueError("No completed trials.")
    fids = [r["fid"] for r in rows if r.get("fid") is not None]
    if max_fid_ratio is None or len(fids) < len(rows):
        return max(rows, key=lambda r: r["separation"])["alpha"]
    passing = [r for r in rows if r["fid"] <= max_fid_ratio * min(fids)]
    return max(passing, key=lambda r: r["separation"])["alpha"]


def best_model(tuner):
    """The best trial's model rebuilt from its hyperparameters with the weights the tuner saved for it
    (with several executions per trial, those of its last generator).

    Rebuilt rather than `tuner.get_best_models()`: that path restores a build config a subclassed GAN
    does not have; our models are built in their constructors, so the saved weights load directly.
    """
    trial = tuner.oracle.get_best_trials(1)[0]
    model = tuner.hypermodel.build(trial.hyperparameters)
    model.load_weights(tuner._get_checkpoint_fname(trial.trial_id))
    return model



COLUMNS = ("alpha", "separation", "mean_difference", "positive_share", "mean_low", "mean_high",
           "mean_memorability", "fid", "kid", "generators", "generators_positive", "p_across", "ci_low",
           "ci_high", "final_d_loss", "final_g_loss", "final_mem_loss", "trial")
GENERATOR_COLUMNS = ("alpha", "seed", "separation", "mean_difference", "mean_memorability", "p_paired_t")


def save_table(record, path):
    """<path>.json (everything), <path>.csv (a row per alpha), <path>_generators.csv (a row per generator)."""
    generators = [{"alpha": r["alpha"], **g} for r in record["trials"] for g in r["per_generator"]]
    tables = ((".csv", COLUMNS, record["trials"]), ("_generators.csv", GENERATOR_COLUMNS, generators))
    for name, columns, rows in tables:
        def write(tmp, columns=columns, rows=rows):
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, columns, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)

        write_atomically(path + name, write)
    write_text(path + ".json", json.dumps(record, indent=2))


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
    write_atomically(path, image.save)


# --- the sweep as a run: `python recipes/tune_alpha.py` ---------------------------------------------------

def sweep(output, preset="wmemgan_synthetic_score_32", alphas=DEFAULT_ALPHAS, tuner="grid", trials=None, seeds=1,
          pairs=500, data=None, overrides=None, features="auto", max_fid_ratio=MAX_FID_RATIO, overwrite=False,
          distribute=False, verbose=1):
    """Sweep the memorability weight of a W-MEMGAN preset with keras-tuner and write the paper's Fig. 3.

    Each trial trains the preset's generator with one alpha (its training settings: data, epochs, optimiser,
    feedback predictor and scorer), `seeds` generators per alpha. Writes to `output`: alpha_sweep.csv / .json
    (a row per alpha, the best alpha), alpha_sweep_generators.csv (a row per generator) and alpha_sweep.png.
    `features` names the quality guard's extractor (`vms_zoo.quality.feature_extractor`: "auto", "resmem",
    "inception", "inception:PATH", "none"); the guard keeps trials whose FID is within `max_fid_ratio` of the
    best (`best_alpha`).
    Rerunning the same sweep resumes it (finished trials are kept); other settings are refused unless
    `overwrite`. Returns the record.
    """
    resolved = resolve(preset, overrides, data)
    if resolved["class"] != "WMEMGAN":
        raise ValueError(f"The alpha sweep trains W-MEMGAN presets; {preset} is a {resolved['class']} "
                         "(sweep MEMGAN from Python with gan_factory(MEMGAN, ...)).")
    quality.check_spec(features)  # a bad extractor name stops the sweep before its folder is made
    settings = {**resolved, "alphas": [float(a) for a in alphas], "tuner": tuner, "trials": trials, "seeds": seeds,
                "pairs": pairs, "features": features, "max_fid_ratio": max_fid_ratio, "verbose": verbose,
                "distribute": distribute}
    output = Path(output)
    with run_folder(output, settings, overwrite) as resume:
        resume = resume and (output / "tuner" / "oracle.json").exists()
        start = time.time()
        dist = dist_lib.setup() if distribute else None
        # TensorFlow: keras-tuner enters the strategy for each trial. JAX: DataParallel is read when variables are
        # made and models trained, and the predictors' variables must be spread over the mesh like the GANs'.
        jax_scope = dist.scope() if dist is not None and dist.strategy is None else contextlib.nullcontext()
        with jax_scope:
            extractor, quality_note = quality.feature_extractor(features)  # before training: a missing one stops here
            if quality_note and verbose:
                print(quality_note, flush=True)
            config, training, predictor, scorer, images, _ = prepare(resolved, output, verbose)
            config.pop("alpha", None)
            scale = standardize_scores(config, training, predictor, images)
            low, high = (scale["low"], scale["high"]) if scale else (None, None)
            adam = WMEMGANTraining.adam(training)
            make = gan_factory(model_class(resolved["class"]), predictor,
                               optimizer=lambda: keras.optimizers.Adam(**adam),
                               compile_kwargs={"n_critic": training["n_critic"], "gp_weight": training["gp_weight"],
                                               "real_batches": WMEMGANTraining.real_batches_of(training)},
                               **{k: v for k, v in config.items() if k != "seed"})
            hypermodel = AlphaHyperModel(make, scorer, images[:REAL_IMAGES], alphas=alphas, num_pairs=pairs, low=low,
                                         high=high, pair_seed=training["seed"] + 100, seed=training["seed"],
                                         extractor=extractor)
            search = make_tuner(hypermodel, tuner, dist=dist, max_trials=trials, directory=str(output),
                                project_name="tuner", overwrite=not resume, seed=training["seed"],
                                executions_per_trial=seeds)
            if resume and verbose:
                done = sum(t.status == "COMPLETED" for t in search.oracle.trials.values())
                print(f"Resuming the sweep in {output}: {done} trial(s) finished", flush=True)
            search.search(images, epochs=training["epochs"], batch_size=training["batch_size"], shuffle=True,
                          verbose=verbose)

        rows = trial_table(search)
        best = best_alpha(rows, max_fid_ratio)
        record = {"best_alpha": best, "trials": rows, "num_images": int(len(images)), "backend": keras.backend.backend(),
                  "quality_extractor": None if extractor is None else extractor.name, "quality_note": quality_note,
                  "distribute": repr(dist), "seconds": round(time.time() - start, 1), "resumed": resume,
                  "settings": json.loads(json.dumps(settings, default=str))}
        save_table(record, os.path.join(output, "alpha_sweep"))
        plot(rows, os.path.join(output, "alpha_sweep.png"))
        if verbose:
            for r in rows:
                guard = "" if r.get("fid") is None else f"  FID {r['fid']:.2f}, KID {r['kid']:.4f}"
                print(f"alpha {r['alpha']:5g}: separation {r['separation']:+.3f}  mean memorability "
                      f"{r['mean_memorability']:.4f} (low {r['mean_low']:.4f}, high {r['mean_high']:.4f}){guard}",
                      flush=True)
                if "p_across" in r:
                    print(f"    {r['generators']} generators, {r['generators_positive']} with high > low; mean difference "
                          f"{r['mean_difference_across']:+.4f} (95% CI {r['ci_low']:+.4f} .. {r['ci_high']:+.4f}), "
                          f"across-generator p = {r['p_across']:.3g}", flush=True)
            print(f"best alpha {best:g} -> {output}/alpha_sweep.{{csv,json,png}}", flush=True)
        return record
