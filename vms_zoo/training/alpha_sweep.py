"""Sweeping alpha, the weight of the memorability feedback, with keras-tuner (W-MEMGAN paper, Fig. 3).

The objective is what alpha is for: the *pairwise separation* of images generated from the same z with a
low and a high target, as scored by an independent predictor (`vms_zoo.evaluation`), here the paired
Cohen's d of the scores. Each trial also records the overall mean memorability (Fig. 3's other panel: large
alpha raises every image) and an image-quality guard: how far the colour statistics of generated images are
from those of the real training images (a feedback weight that wins by breaking the images shows there).

    hypermodel = AlphaHyperModel(gan_factory(WMEMGAN, predictor, image_size=32, latent_dim=64),
                                 scorer=scorer, real_images=images)
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

import importlib.util

import keras
import keras_tuner
import numpy as np

from vms_zoo.evaluation import across_generators, generate_pairs, pair_statistics, score_images

DEFAULT_ALPHAS = (0.0, 10.0, 25.0, 50.0)  # the paper's grid
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


def image_statistics_distance(images, real_images):
    """Distance of per-channel mean and standard deviation (images in [0, 1]): 0 for matching colours."""
    def moments(x):
        x = np.asarray(x, "float64").reshape(-1, np.shape(x)[-1])
        return np.concatenate([x.mean(0), x.std(0)])

    return float(np.sqrt(np.sum((moments(images) - moments(real_images)) ** 2)))


class AlphaHyperModel(keras_tuner.HyperModel):
    """Builds a generator for one alpha, trains it with the tuner's `fit` arguments, returns its scores.

    Args:
        make_model: (alpha, seed) -> compiled model (see `gan_factory`).
        scorer: the independent VMS predictor that grades the pairs (not the feedback predictor).
        real_images: real images in [0, 1] for the quality guard (a few hundred are plenty).
        alphas: the values to try (a `Choice`, so every tuner, GridSearch included, can use it).
        num_pairs, low, high, pair_seed: the pair evaluation, see `vms_zoo.evaluation.generate_pairs`.
        seed: seed of each trial's first generator (execution k uses seed + k), so trials differ by alpha only.
    """

    def __init__(self, make_model, scorer, real_images, alphas=DEFAULT_ALPHAS, num_pairs=200, low=None,
                 high=None, pair_seed=0, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.make_model, self.scorer = make_model, scorer
        self.real_images = np.asarray(real_images, "float32")
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
        """separation (paired Cohen's d, high - low), mean memorability and the quality distance of `model`."""
        low, high = model.low_high(self.low, self.high)
        images_low, images_high = generate_pairs(model, self.num_pairs, self.pair_seed, low, high)
        scores_low, scores_high = score_images(self.scorer, images_low), score_images(self.scorer, images_high)
        stats = pair_statistics(scores_low, scores_high)
        # A scorer that gives every image the same score separates nothing (d would be rounding noise).
        flat = np.ptp(np.concatenate([scores_low, scores_high])) < 1e-6
        return {
            "separation": 0.0 if flat else stats["cohens_d_paired"],
            "mean_difference": stats["mean_difference"],
            "positive_share": stats["positive_share"],
            "mean_low": stats["mean_low"],
            "mean_high": stats["mean_high"],
            "mean_memorability": (stats["mean_low"] + stats["mean_high"]) / 2.0,
            "p_paired_t": stats["p_paired_t"],
            "quality_distance": image_statistics_distance(np.concatenate([images_low, images_high]),
                                                          self.real_images),
        }


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
    if keras.backend.backend() == "tensorflow" and importlib.util.find_spec("tensorboard") is None:
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


def best_alpha(rows, max_quality_distance=None):
    """The alpha with the largest separation among trials whose images pass the quality guard (all trials
    when none passes or no guard is given)."""
    if not rows:
        raise ValueError("No completed trials.")
    passing = [r for r in rows if max_quality_distance is None or r["quality_distance"] <= max_quality_distance]
    return max(passing or rows, key=lambda r: r["separation"])["alpha"]


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
