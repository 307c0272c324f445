"""Train W-MEMGAN on synthetic scenes, then score low/high target pairs with an independent predictor.

    # 1. the feedback predictor P: the CPU preset (64 px; the GAN's 32 px images are resized for it)
    python recipes/train_vms_predictor.py --preset vms_vae_synthetic_64 --output runs/predictor64
    # 2. the independent scorer (trained here, then reused) and the GAN, with and without feedback
    python recipes/train_wmemgan.py --predictor runs/predictor64 --alpha 10 --out runs/wmemgan_a10
    python recipes/train_wmemgan.py --predictor runs/predictor64 --scorer runs/wmemgan_a10/scorer \
        --alpha 0 --out runs/wmemgan_a0

The evaluation never grades the generator with the network it was trained against: the scorer is another
VMS predictor, with another architecture and input size (32 px), trained on scenes of another data seed.
Both predictors' held-out rho2D (true schema, as the GAN uses them) is measured on the held-out test split.

The single-score condition is standardized by default (`--score-scale`): M is the z-score of P's
memorability on the GAN's real training images, drawn from N(0, 1) in training as the paper's Gaussian M,
and the pairs use the 5th / 95th percentiles of the real scores (as z-scores) as the low / high targets,
so both are memorability levels real scenes reach. Writes: predictor/scorer metrics, wmemgan.weights.h5,
samples/ (grids: z fixed per row, M rising left to right) and pairs.json (the pair statistics).
"""

import argparse
import json
import math
import os
import sys
import time

import keras
import numpy as np

from vms_zoo.data.synthetic import CATEGORIES, SyntheticScenes
from vms_zoo.distribute import for_recipe
from vms_zoo.evaluation import evaluate_pairs, generate_pairs, score_images
from vms_zoo.metrics import pearson_2d
from vms_zoo.models.vae import VMSPredictor
from vms_zoo.models.wgan import SampleGrid, WMEMGAN, predictor_input_size
from vms_zoo.targets import fit_score_scale
from vms_zoo.zoo import save_preset

# The independent scorer: a narrower encoder, a smaller latent, 32 px input (P is the 64 px preset).
SCORER_CONFIG = {"image_size": 32, "encoder": "conv", "encoder_weights": None, "encoder_filters": [32, 64, 128],
                 "dense_units": 64, "latent_dim": 16, "decoder_filters": [128, 64, 32, 16],
                 "reconstruction": "mse", "kl_weight": 0.1, "kl_warmup_steps": 1000, "l2": 0.02}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--condition", choices=("score", "map"), default="score")
    p.add_argument("--alpha", type=float, default=10.0, help="memorability loss weight (0 = plain WGAN-GP)")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--category", default="kitchen", choices=CATEGORIES + ("all",))
    p.add_argument("--num-scenes", type=int, default=24000,
                   help="synthetic training scenes to draw the category from (1 in 8 is a kitchen)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--max-minutes", type=float, default=9.5, help="safety stop of the GAN training")
    p.add_argument("--max-steps", type=int, help="stop after this many generator steps (equal budgets across runs)")
    p.add_argument("--batch-size", type=int, default=64, help="the global batch (split over replicas)")
    p.add_argument("--n-critic", type=int, default=4)
    p.add_argument("--learning-rate", type=float, default=2e-4, help="Adam(lr, beta_1=0, beta_2=0.9), both nets")
    p.add_argument("--gp-weight", type=float, default=10.0)
    p.add_argument("--latent-dim", type=int, default=64)
    p.add_argument("--filters", type=int, default=128)
    p.add_argument("--predictor", help="feedback predictor: a train_vms_predictor.py output folder or a .keras file")
    p.add_argument("--scorer", help="independent scorer: a folder written by this recipe / train_vms_predictor.py, "
                                    "or a .keras file (default: train one)")
    p.add_argument("--predictor-epochs", type=int, default=20, help="when a predictor / the scorer is trained here")
    p.add_argument("--score-scale", action=argparse.BooleanOptionalAction, default=True,
                   help="standardize the score condition on P's real-image scores (condition=score)")
    p.add_argument("--quantiles", type=float, nargs=2, default=(0.05, 0.95),
                   help="real-score quantiles used as the low / high pair targets with --score-scale")
    p.add_argument("--pairs", type=int, default=1000)
    p.add_argument("--low", type=float, help="low target on the condition scale (default: see --quantiles)")
    p.add_argument("--high", type=float, help="high target on the condition scale (default: see --quantiles)")
    p.add_argument("--threshold", type=float, default=0.65, help="split of the pairs, as in the paper")
    p.add_argument("--sample-every", type=int, default=5, help="write a sample grid every N epochs")
    p.add_argument("--seed", type=int, default=0, help="GAN seed and data seed of P's scenes")
    p.add_argument("--distribute", action="store_true",
                   help="data-parallel over all local devices (vms_zoo.distribute: MirroredStrategy, multi-worker "
                        "from TF_CONFIG, or JAX DataParallel)")
    p.add_argument("--stop-after-predictors", action="store_true", help="train / check the predictors only")
    p.add_argument("--out", default="runs/wmemgan")
    return p.parse_args(argv)


def load_predictor(path):
    """A VMS predictor from a .keras file or a folder holding config.json + model.weights.h5."""
    if path.endswith(".keras"):
        return keras.saving.load_model(path)
    with open(os.path.join(path, "config.json")) as f:
        spec = json.load(f)
    model = VMSPredictor.from_config(spec["config"])
    size = model.image_size
    model(np.zeros((1, size, size, 3), "float32"))
    model.load_weights(os.path.join(path, "model.weights.h5"))
    return model


def train_predictor(config, data_seed, epochs, path, num_train=8000):
    """Train a VMSPredictor(**config) on `num_train` synthetic scenes of `data_seed`; save it to folder `path`."""
    size = config["image_size"]
    data = SyntheticScenes(image_size=size, seed=data_seed, num_train=num_train).arrays("train", progress=False)
    model = VMSPredictor(**config)
    steps = epochs * (num_train // 32)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, steps)))
    start = time.time()
    model.fit(data["images"], data["vms"], batch_size=32, epochs=epochs, shuffle=True, verbose=2)
    os.makedirs(path, exist_ok=True)
    model.save_weights(os.path.join(path, "model.weights.h5"))
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump({"class": "VMSPredictor", "config": model.get_config(), "data_seed": data_seed,
                   "num_train": num_train, "epochs": epochs, "train_seconds": round(time.time() - start, 1)}, f,
                  indent=2)
    return model


def held_out_rho2d(model, image_size, num=1000):
    """rho2D of the true schema on the held-out synthetic test split, images shown at `image_size` (as the
    GAN's images are) and resized to the predictor's input, maps compared at the predictor's output size."""
    size = predictor_input_size(model)
    images = SyntheticScenes(image_size=image_size, num_test=num).arrays("test", progress=False)["images"]
    maps = SyntheticScenes(image_size=size, num_test=num).arrays("test", progress=False)["vms"]
    x = keras.ops.image.resize(images, (size, size), interpolation="bilinear") if image_size != size else images
    predicted = keras.ops.convert_to_numpy(model.predict(x, batch_size=64, verbose=0))
    if predicted.shape[1:3] != maps.shape[1:3]:
        maps = keras.ops.convert_to_numpy(keras.ops.image.resize(maps, predicted.shape[1:3], interpolation="area"))
    return {"rho2d_true": float(pearson_2d(maps[..., :1], predicted[..., :1])[0]),
            "rho2d_false": float(pearson_2d(maps[..., 1:], predicted[..., 1:])[0]), "num_test": num}


class StepCounter(keras.callbacks.Callback):
    """Counts generator steps; stops training after `max_seconds` or `max_steps` (None: no step limit)."""

    def __init__(self, max_seconds, max_steps=None):
        super().__init__()
        self.max_seconds, self.max_steps, self.steps, self.start = max_seconds, max_steps, 0, None

    def on_train_begin(self, logs=None):
        self.start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if time.time() - self.start > self.max_seconds or (self.max_steps and self.steps >= self.max_steps):
            self.model.stop_training = True


def main(argv=None):
    args = parse_args(argv)
    # --distribute: everything that holds weights, the frozen predictors included, lives in the scope
    # (JAX cannot mix variables placed on one device with ones spread over the mesh).
    with for_recipe(args.distribute).scope():
        return run(args, argv)


def run(args, argv):
    keras.utils.set_random_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    record = {"args": vars(args), "backend": keras.backend.backend()}

    if args.predictor:
        predictor = load_predictor(args.predictor)
    else:
        from vms_zoo.zoo import get_preset

        print("Training the feedback predictor (preset vms_vae_synthetic_64, shortened)", flush=True)
        predictor = train_predictor(dict(get_preset("vms_vae_synthetic_64")["config"], seed=args.seed), args.seed,
                                    args.predictor_epochs, os.path.join(args.out, "predictor"))
    if args.scorer:
        scorer = load_predictor(args.scorer)
    else:
        print("Training the independent scorer (32 px, other architecture, data seed + 1)", flush=True)
        scorer = train_predictor(dict(SCORER_CONFIG, seed=args.seed + 1), args.seed + 1, args.predictor_epochs,
                                 os.path.join(args.out, "scorer"))
    for name, model in (("predictor", predictor), ("scorer", scorer)):
        record[name] = held_out_rho2d(model, args.image_size)
        print(f"{name}: held-out rho2D true {record[name]['rho2d_true']:.3f} "
              f"false {record[name]['rho2d_false']:.3f} (images at {args.image_size} px)", flush=True)

    scenes = SyntheticScenes(image_size=args.image_size, seed=args.seed, num_train=args.num_scenes)
    data = scenes.arrays("train", progress=False)
    images = data["images"] if args.category == "all" else \
        data["images"][data["categories"] == CATEGORIES.index(args.category)]
    real_p, real_s = score_images(predictor, images), score_images(scorer, images)
    record["real_scores"] = {"predictor_mean": float(real_p.mean()), "predictor_std": float(real_p.std()),
                             "scorer_mean": float(real_s.mean()), "scorer_std": float(real_s.std()),
                             "predictor_scorer_corr": float(np.corrcoef(real_p, real_s)[0, 1])}
    print(f"real {args.category} scenes: {json.dumps(record['real_scores'])}", flush=True)

    score_scale, low, high = None, args.low, args.high
    if args.condition == "score" and args.score_scale:
        scale = fit_score_scale(real_p, args.quantiles)
        record["score_scale"] = scale
        score_scale = (scale["mean"], scale["std"])
        low = scale["low"] if low is None else low
        high = scale["high"] if high is None else high
        print(f"score scale: M = (score - {scale['mean']:.4f}) / {scale['std']:.4f}; pair targets "
              f"{low:.3f} / {high:.3f} (real-score quantiles {args.quantiles})", flush=True)
    if args.stop_after_predictors:
        with open(os.path.join(args.out, "predictors.json"), "w") as f:
            json.dump(record, f, indent=2)
        return record

    print(f"Training W-MEMGAN ({args.condition}, alpha={args.alpha}) on {len(images)} {args.category} scenes",
          flush=True)
    gan = WMEMGAN(predictor, image_size=args.image_size, latent_dim=args.latent_dim, condition=args.condition,
                  filters=args.filters, seed=args.seed, score_scale=score_scale)
    adam = dict(learning_rate=args.learning_rate, beta_1=0.0, beta_2=0.9)
    gan.compile(d_optimizer=keras.optimizers.Adam(**adam), g_optimizer=keras.optimizers.Adam(**adam),
                n_critic=args.n_critic, gp_weight=args.gp_weight, alpha=args.alpha)
    grid_low, grid_high = (low, high) if low is not None and high is not None else (0.0, 1.0)
    grids = SampleGrid(os.path.join(args.out, "samples"), low=grid_low, high=grid_high, seed=args.seed,
                       every=args.sample_every)
    counter = StepCounter(args.max_minutes * 60, args.max_steps)
    start = time.time()
    history = gan.fit(images, batch_size=args.batch_size, epochs=args.epochs, shuffle=True,
                      callbacks=[grids, counter], verbose=2)
    record["gan"] = {"train_seconds": round(time.time() - start, 1), "generator_steps": counter.steps,
                     "num_images": int(len(images)),
                     "history": {k: [float(v) for v in vals] for k, vals in history.history.items()}}
    gan.save_weights(os.path.join(args.out, "wmemgan.weights.h5"))

    start = time.time()
    result = evaluate_pairs(gan, scorer, num_pairs=args.pairs, seed=args.seed + 100, low=low, high=high,
                            threshold=args.threshold)
    # The feedback predictor on the same pairs: how well the generator learned what it was trained on.
    im_low, im_high = generate_pairs(gan, args.pairs, seed=args.seed + 100, low=low, high=high)
    p_low, p_high = score_images(predictor, im_low), score_images(predictor, im_high)
    result["feedback_predictor"] = {"mean_low": float(p_low.mean()), "mean_high": float(p_high.mean()),
                                    "positive_share": float(np.mean(p_high > p_low))}
    record["eval_seconds"] = round(time.time() - start, 1)
    record["pairs"] = result
    with open(os.path.join(args.out, "pairs.json"), "w") as f:
        json.dump(record, f, indent=2)
    # A preset folder for vms_zoo.load / vms-zoo generate (weights only, card with the pair statistics).
    save_preset(gan, os.path.join(args.out, "preset"), {
        "description": f"W-MEMGAN, {args.condition} condition, {args.image_size} px synthetic {args.category}, "
                       f"alpha = {args.alpha}.",
        "dataset": f"synthetic {args.category}", "resolution": args.image_size,
        "metrics": {"pairs": {k: v for k, v in result.items() if isinstance(v, (int, float))}},
        "recipe": "python recipes/train_wmemgan.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    })
    print(json.dumps(result, indent=2))
    return record


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
