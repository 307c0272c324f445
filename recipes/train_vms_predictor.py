"""Train a VMS predictor preset with model.fit and report held-out rho2D / MSE against a baseline.

    python recipes/train_vms_predictor.py                          # CPU preset on the synthetic scenes
    python recipes/train_vms_predictor.py --preset vms_vae_m32 --data vischema_plus --data-dir ~/vischema

Writes to --output a preset folder that `vms_zoo.load(folder)` reads (model.weights.h5, config.json,
metadata.json, README.md card), metrics.json (rho2D and MSE per channel and per category, for the model and
for the category-mean baseline) and predictions.png (image | true VMS | predicted VMS |
overlay; green = true schema, red = false schema). Interrupted runs resume from --output/backup.
"""

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="vms_vae_synthetic_64")
    p.add_argument("--data", default="synthetic", help="synthetic | vischema1 | vischema2 | vischema_plus")
    p.add_argument("--data-dir", default=None, help="folder of a manually downloaded VISCHEMA dataset")
    p.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    p.add_argument("--steps-per-epoch", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--num-train", type=int, default=None, help="synthetic training scenes")
    p.add_argument("--num-test", type=int, default=None, help="synthetic held-out scenes")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--encoder-weights", default=None, help="VGG16 weights: imagenet | none | path")
    p.add_argument("--image-size", type=int, default=None, help="override the preset's (a multiple of 32)")
    p.add_argument("--distribute", action="store_true",
                   help="data-parallel over all local devices (vms_zoo.distribute: MirroredStrategy, or "
                        "MultiWorkerMirroredStrategy from TF_CONFIG, on tensorflow; DataParallel on jax); "
                        "--batch-size stays the global batch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default="runs/vms_predictor")
    p.add_argument("--verbose", type=int, default=1)
    return p.parse_args(argv)


def load_data(args, training, image_size):
    """(train, test, category names): dicts with images, vms, categories as numpy arrays."""
    if args.data == "synthetic":
        from vms_zoo.data.synthetic import CATEGORIES, SyntheticScenes

        scenes = SyntheticScenes(image_size=image_size, seed=args.seed,
                                 num_train=args.num_train or training.get("num_train", 8000),
                                 num_test=args.num_test or training.get("num_test", 1000))
        print(f"Rendering {scenes.split_size('train')} training and {scenes.split_size('test')} test scenes "
              f"at {image_size} px", flush=True)
        return scenes.arrays("train"), scenes.arrays("test"), CATEGORIES
    from vms_zoo.data import vischema

    if args.data_dir is None:
        sys.exit(f"--data {args.data} needs --data-dir (the folder you downloaded VISCHEMA into).")
    train, test = (vischema.load_vischema(args.data_dir, config=args.data, split=split, image_size=image_size,
                                          seed=args.seed) for split in ("train", "test"))
    return train, test, vischema.CATEGORIES


def main(argv=None, callbacks=()):
    args = parse_args(argv)
    import keras

    from vms_zoo.data.augment import JointAugment
    from vms_zoo.distribute import for_recipe
    from vms_zoo.metrics import MSE255, Pearson2D, category_mean_baseline, map_report
    from vms_zoo.models.vae import VMSPredictor
    from vms_zoo.visualize import save_prediction_grid
    from vms_zoo.zoo import get_preset, save_preset

    preset = get_preset(args.preset)
    config = dict(preset["config"])
    if args.encoder_weights is not None:
        config["encoder_weights"] = None if args.encoder_weights.lower() == "none" else args.encoder_weights
    if args.image_size is not None:
        config["image_size"] = args.image_size
    training = dict(preset["training"])
    for key in ("epochs", "steps_per_epoch", "batch_size", "learning_rate", "augment"):
        if getattr(args, key) is not None:
            training[key] = getattr(args, key)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(args.seed)

    start = time.time()
    train, test, category_names = load_data(args, training, config["image_size"])
    data_seconds = time.time() - start

    scope = contextlib.ExitStack()  # --distribute: build, compile and train in the strategy / distribution
    scope.enter_context(for_recipe(args.distribute).scope())
    model = VMSPredictor(**config)
    batch_size = training["batch_size"]
    steps = training["steps_per_epoch"] or len(train["images"]) // batch_size
    learning_rate = training["learning_rate"]
    if training.get("cosine_decay"):  # ends training on small steps: no late jumps in held-out scores
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, training["epochs"] * steps)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        metrics=[Pearson2D(0), Pearson2D(1), MSE255(0), MSE255(1)],
    )
    x_train, x_test = train["images"], test["images"]
    if training["augment"]:
        import tensorflow as tf

        fit_data = (
            tf.data.Dataset.from_tensor_slices((x_train, train["vms"]))
            .shuffle(len(x_train), seed=args.seed)
            .repeat()
            .batch(batch_size, drop_remainder=True)
            .map(JointAugment(seed=args.seed), num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE)
        )
        fit_kwargs = {"steps_per_epoch": steps, "shuffle": False}
    else:
        if model.encoder_frozen:  # nothing touches the images: encode them once, train the rest on features
            print("Caching frozen-encoder features", flush=True)
            x_train, x_test = model.encode(x_train, verbose=args.verbose), model.encode(x_test, verbose=args.verbose)
        fit_data = x_train
        fit_kwargs = {"y": train["vms"], "batch_size": batch_size, "shuffle": True}
        if training["steps_per_epoch"]:
            fit_kwargs["steps_per_epoch"] = training["steps_per_epoch"]

    history = model.fit(
        fit_data,
        epochs=training["epochs"],
        validation_data=(x_test, test["vms"]),
        callbacks=[keras.callbacks.BackupAndRestore(str(out / "backup")), *callbacks],
        verbose=args.verbose,
        **fit_kwargs,
    )
    scope.close()
    train_seconds = time.time() - start - data_seconds

    predicted = model.predict(x_test, batch_size=64, verbose=0)
    baseline = category_mean_baseline(train["vms"], train["categories"], test["categories"])
    metrics = {
        "preset": args.preset,
        "data": args.data,
        "backend": keras.backend.backend(),
        "command": "python " + " ".join([sys.argv[0]] + (argv if argv is not None else sys.argv[1:])),
        "training": training,
        "num_train": len(train["images"]),
        "num_test": len(test["images"]),
        "seconds": {"data": round(data_seconds, 1), "train": round(train_seconds, 1)},
        "model": map_report(test["vms"], predicted, test["categories"], category_names),
        "category_mean_baseline": map_report(test["vms"], baseline, test["categories"], category_names),
        "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
    }
    save_preset(model, out, {
        "description": f"VMS predictor trained by recipes/train_vms_predictor.py from preset {args.preset}.",
        "paper": preset["metadata"].get("paper"),
        "dataset": args.data,
        "resolution": config["image_size"],
        "metrics": {"held_out": metrics["model"]["overall"],
                    "category_mean_baseline": metrics["category_mean_baseline"]["overall"]},
        "recipe": metrics["command"],
    })
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    save_prediction_grid(test["images"][:8], test["vms"][:8], predicted[:8], out / "predictions.png")

    m, b = metrics["model"]["overall"], metrics["category_mean_baseline"]["overall"]
    print(f"held-out rho2D true {m['rho2d_true']:.3f} false {m['rho2d_false']:.3f} | "
          f"baseline true {b['rho2d_true']:.3f} false {b['rho2d_false']:.3f} | "
          f"MSE(0-255) true {m['mse255_true']:.1f} false {m['mse255_false']:.1f} | "
          f"train {train_seconds / 60:.1f} min -> {out}")
    return metrics


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
