"""Train MEMGAN (progressive growing with memorability feedback), then score low/high target pairs.

CPU preset (default): grows 4 -> 32 px on synthetic kitchens in minutes:

    KERAS_BACKEND=tensorflow python recipes/train_memgan.py --out runs/memgan

Paper presets (GPU, days; configs in vms_zoo/zoo.py): 256 px, ProGAN widths, 128/256 blocks halved), 2.4M images per
fade and per stabilise phase. `memgan_foil_256` is the same model without memorability feedback (alpha 0),
which the paper trained for the foil images. They need real scenes: a uint8 (N, 256, 256, 3) .npy file (it
is memory-mapped), e.g. LSUN kitchens written with `vms_zoo.data.images`:

    KERAS_BACKEND=jax python recipes/train_memgan.py --preset memgan_256 --images kitchens256.npy \
        --predictor vms_vae_m8.keras --scorer scorer.keras --out runs/memgan_256

`--distribute` trains data-parallel over all local devices (MirroredStrategy, multi-worker from TF_CONFIG,
or JAX DataParallel); the preset's batch sizes are then global batches, split over the replicas.

Interrupt it at any time (Ctrl-C, a killed job) and run the same command again: it reloads the predictors
and `memgan.weights.h5` from --out and continues at the saved stage, fade alpha and image count. Writes the
feedback predictor and the independent scorer (.keras, unless given), samples/ (a PNG grid per phase: rows
share z, columns raise the target map), memgan.weights.h5 (moving-average generator included) and pairs.json.
"""

import argparse
import json
import os
import sys

import keras
import numpy as np

from vms_zoo.data.synthetic import CATEGORIES, SyntheticScenes
from vms_zoo.distribute import for_recipe
from vms_zoo.evaluation import evaluate_pairs, score_images
from vms_zoo.models.progan import MEMGAN, Checkpoint, GrowthSchedule, StageSamples, train
from vms_zoo.models.vae import VMSPredictor
from vms_zoo.zoo import get_preset, list_presets, save_preset

MEMGAN_PRESETS = sorted(name for name in list_presets() if get_preset(name)["class"] == "MEMGAN")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=MEMGAN_PRESETS, default="memgan_synthetic_32")
    p.add_argument("--images", help="uint8 (N, S, S, 3) .npy of real scenes (default: synthetic kitchens)")
    p.add_argument("--category", default="kitchen", choices=CATEGORIES)
    p.add_argument("--num-scenes", type=int, default=4000, help="synthetic scenes rendered (all categories)")
    p.add_argument("--predictor", help="trained VMS predictor (.keras) used as the frozen feedback")
    p.add_argument("--scorer", help="independent trained VMS predictor (.keras) for the evaluation")
    p.add_argument("--predictor-epochs", type=int, default=15)
    p.add_argument("--checkpoint-every", type=int, default=25, help="batches between checkpoints")
    p.add_argument("--pairs", type=int, default=1000)
    p.add_argument("--low", type=float, default=0.1, help="low target-map peak")
    p.add_argument("--high", type=float, default=0.9, help="high target-map peak")
    p.add_argument("--phase-images", type=int, help="images per fade and per stabilise phase, overriding the "
                                                     "preset's (short smoke runs)")
    p.add_argument("--distribute", action="store_true", help="data-parallel over all local devices")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/memgan")
    return p.parse_args(argv)


def predictor_from(path, saved, images, vms, seed, epochs):
    """The given predictor, else the one saved by an earlier run in --out, else a new small one (CPU).

    Reusing the saved one keeps a resumed run's feedback identical. A small KL weight keeps the posterior
    from collapsing at this scale (see train_wmemgan.py).
    """
    for candidate in (path, saved):
        if candidate and os.path.exists(candidate):
            return keras.saving.load_model(candidate)
    predictor = VMSPredictor(image_size=images.shape[1], encoder="conv", encoder_weights=None, kl_weight=1e-3,
                             seed=seed)
    predictor.compile(optimizer=keras.optimizers.Adam(1e-3))
    predictor.fit(images, vms, batch_size=32, epochs=epochs, verbose=1)
    predictor.save(saved)
    return predictor


def main(argv=None):
    args = parse_args(argv)
    # --distribute: everything that holds weights, the frozen predictors included, lives in the scope
    # (JAX cannot mix variables placed on one device with ones spread over the mesh).
    with for_recipe(args.distribute).scope():
        return run(args, argv)


def run(args, argv):
    preset = get_preset(args.preset)
    # The preset names its feedback predictor's architecture; the recipe trains (or loads) that predictor itself.
    config = {k: v for k, v in preset["config"].items() if k != "predictor"}
    training = dict(preset["training"])
    if args.phase_images is not None:
        training.update(fade_images=args.phase_images, stabilise_images=args.phase_images)
    keras.utils.set_random_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    size = config["image_size"]

    if args.images:
        images = np.load(args.images, mmap_mode="r")
        if args.predictor is None or args.scorer is None:
            raise SystemExit("With --images give --predictor and --scorer (trained VMS predictors).")
        predictor, scorer = keras.saving.load_model(args.predictor), keras.saving.load_model(args.scorer)
    else:
        scenes = SyntheticScenes(image_size=size, seed=args.seed, num_train=max(args.num_scenes, 8))
        data = scenes.arrays("train", args.num_scenes)
        half = args.num_scenes // 2
        # Feedback predictor and scorer learn from disjoint halves with different seeds: independent judges.
        predictor = predictor_from(args.predictor, os.path.join(args.out, "predictor.keras"),
                                   data["images"][:half], data["vms"][:half], args.seed, args.predictor_epochs)
        scorer = predictor_from(args.scorer, os.path.join(args.out, "scorer.keras"), data["images"][half:],
                                data["vms"][half:], args.seed + 1, args.predictor_epochs)
        images = data["images"][data["categories"] == CATEGORIES.index(args.category)]
        for name, model in (("predictor", predictor), ("scorer", scorer)):
            s = score_images(model, data["images"][:500])
            print(f"{name} scores on real scenes: mean {s.mean():.4f}, std {s.std():.4f} (std 0 = collapsed)")

    gan = MEMGAN(predictor, **config)
    adam = dict(learning_rate=training["learning_rate"], beta_1=0.0, beta_2=0.99, epsilon=1e-8)
    gan.compile(d_optimizer=keras.optimizers.Adam(**adam), g_optimizer=keras.optimizers.Adam(**adam),
                n_critic=training["n_critic"], gp_weight=training["gp_weight"], drift_weight=training["drift_weight"])
    checkpoint = os.path.join(args.out, "memgan.weights.h5")
    if os.path.exists(checkpoint):
        gan.load_weights(checkpoint)
        stage, alpha, seen = gan.growth_state()
        print(f"Resuming at stage {stage} ({gan.sizes[stage]}px), alpha {alpha:.3f}, {seen} images seen")
    schedule = GrowthSchedule(len(gan.sizes), training["fade_images"], training["stabilise_images"],
                              training["batch_sizes"])
    print(f"MEMGAN {args.preset}: alpha={config['alpha']}, {len(images)} training images, "
          f"{schedule.total_images} images in the schedule")
    train(gan, images, schedule, seed=args.seed, verbose=1, callbacks=[
        Checkpoint(checkpoint, every=args.checkpoint_every),
        StageSamples(os.path.join(args.out, "samples"), low=args.low, high=args.high, seed=args.seed),
    ])

    result = evaluate_pairs(gan, scorer, num_pairs=args.pairs, seed=args.seed + 100, low=args.low, high=args.high)
    result.update(preset=args.preset, alpha=config["alpha"], images_seen=gan.growth_state()[2],
                  resolution=gan.resolution, backend=keras.backend.backend())
    with open(os.path.join(args.out, "pairs.json"), "w") as f:
        json.dump(result, f, indent=2)
    # A preset folder for vms_zoo.load / vms-zoo generate (weights only, card with the pair statistics).
    save_preset(gan, os.path.join(args.out, "preset"), {
        "description": f"MEMGAN {args.preset}, alpha = {config['alpha']}.", "dataset": args.images or "synthetic",
        "resolution": config["image_size"],
        "metrics": {"pairs": {k: v for k, v in result.items() if isinstance(v, (int, float))}},
        "recipe": "python recipes/train_memgan.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    })
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
