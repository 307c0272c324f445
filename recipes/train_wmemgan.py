"""Train W-MEMGAN on synthetic kitchens, then score low/high target pairs with an independent predictor.

    KERAS_BACKEND=tensorflow python recipes/train_wmemgan.py --condition score --alpha 10 --out runs/wmemgan

Two VMS predictors are trained first (or loaded with --predictor / --scorer): the frozen feedback
predictor P on one half of the synthetic training scenes and the independent scorer on the other half,
with another seed, so the evaluation does not grade the generator with the network it was trained
against. Writes: predictor/scorer .keras files, wmemgan.weights.h5, samples/ (one grid per epoch, z fixed
per row, M rising left to right) and pairs.json (the pair statistics).
"""

import argparse
import json
import os

import keras
import numpy as np

from vms_zoo.data.synthetic import CATEGORIES, SyntheticScenes
from vms_zoo.evaluation import evaluate_pairs
from vms_zoo.models.vae import VMSPredictor
from vms_zoo.models.wgan import SampleGrid, WMEMGAN


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--condition", choices=("score", "map"), default="score")
    p.add_argument("--alpha", type=float, default=10.0, help="memorability loss weight (0 = plain WGAN-GP)")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--category", default="kitchen", choices=CATEGORIES)
    p.add_argument("--num-scenes", type=int, default=4000, help="synthetic training scenes (all categories)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--n-critic", type=int, default=5)
    p.add_argument("--gp-weight", type=float, default=10.0)
    p.add_argument("--latent-dim", type=int, default=64)
    p.add_argument("--filters", type=int, default=128)
    p.add_argument("--predictor", help="a trained VMS predictor (.keras) to use as frozen feedback")
    p.add_argument("--scorer", help="an independent trained VMS predictor (.keras) for the evaluation")
    p.add_argument("--predictor-epochs", type=int, default=15)
    p.add_argument("--kl-weight", type=float, default=1e-3, help="KL weight of the predictors' VAE loss")
    p.add_argument("--pairs", type=int, default=1000)
    p.add_argument("--low", type=float, default=0.0, help="low target (score, or map peak)")
    p.add_argument("--high", type=float, default=1.0, help="high target (score, or map peak)")
    p.add_argument("--threshold", type=float, default=0.65, help="split of the pairs, as in the paper")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/wmemgan")
    return p.parse_args(argv)


def train_predictor(images, vms, size, seed, epochs, path, kl_weight):
    """A small conv-encoder VMS predictor (CPU preset), saved to `path`.

    A small KL weight: at this scale a full-weight KL collapses the posterior and every image gets the
    same (mean) map, which gives the generator no memorability signal.
    """
    predictor = VMSPredictor(image_size=size, encoder="conv", encoder_weights=None, kl_weight=kl_weight, seed=seed)
    predictor.compile(optimizer=keras.optimizers.Adam(1e-3))
    predictor.fit(images, vms, batch_size=32, epochs=epochs, verbose=1)
    predictor.save(path)
    return predictor


def main(argv=None):
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    scenes = SyntheticScenes(image_size=args.image_size, seed=args.seed,
                             num_train=max(args.num_scenes, 8))
    data = scenes.arrays("train", args.num_scenes)
    half = args.num_scenes // 2

    def predictor_from(path, name, part, seed):
        if path:
            return keras.saving.load_model(path)
        print(f"Training the {name} on {len(data['images'][part])} scenes")
        return train_predictor(data["images"][part], data["vms"][part], args.image_size, seed,
                               args.predictor_epochs, os.path.join(args.out, f"{name}.keras"), args.kl_weight)

    predictor = predictor_from(args.predictor, "predictor", slice(0, half), args.seed)
    scorer = predictor_from(args.scorer, "scorer", slice(half, None), args.seed + 1)

    from vms_zoo.evaluation import score_images

    for name, model in (("predictor", predictor), ("scorer", scorer)):
        s = score_images(model, data["images"][:500])
        print(f"{name} scores on real scenes: mean {s.mean():.4f}, std {s.std():.4f} (std 0 = collapsed)")

    kitchens = data["images"][data["categories"] == CATEGORIES.index(args.category)]
    print(f"Training W-MEMGAN ({args.condition}, alpha={args.alpha}) on {len(kitchens)} {args.category} scenes")
    gan = WMEMGAN(predictor, image_size=args.image_size, latent_dim=args.latent_dim, condition=args.condition,
                  filters=args.filters, seed=args.seed)
    gan.compile(n_critic=args.n_critic, gp_weight=args.gp_weight, alpha=args.alpha)
    grids = SampleGrid(os.path.join(args.out, "samples"), low=args.low, high=args.high, seed=args.seed)
    gan.fit(kitchens, batch_size=args.batch_size, epochs=args.epochs, shuffle=True, callbacks=[grids], verbose=1)
    gan.save_weights(os.path.join(args.out, "wmemgan.weights.h5"))

    result = evaluate_pairs(gan, scorer, num_pairs=args.pairs, seed=args.seed + 100, low=args.low,
                            high=args.high, threshold=args.threshold)
    result.update(alpha=args.alpha, epochs=args.epochs, image_size=args.image_size,
                  backend=keras.backend.backend())
    with open(os.path.join(args.out, "pairs.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
