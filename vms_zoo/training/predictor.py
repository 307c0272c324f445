"""Training a VMS predictor preset with model.fit; held-out rho2D / MSE against the category-mean baseline."""

import hashlib
import json
import sys
import time

import keras
import numpy as np

from vms_zoo.data.augment import augmented_batches
from vms_zoo.data.sources import EpochBatches, predictor_data
from vms_zoo.io import write_atomically, write_text
from vms_zoo.metrics import MSE255, Pearson2D, category_mean_baseline, map_report
from vms_zoo.models.vms_predictor import VMSPredictor
from vms_zoo.presets import save_preset
from vms_zoo.training.callbacks import Throughput
from vms_zoo.training.runs import CSV_LOG, CURVES_FILE, run_state
from vms_zoo.visualize import read_csv_log, save_curves, save_prediction_grid


def _sha256(arrays):
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def cached_features(model, images, output, split, source, verbose=1):
    """The frozen encoder's features of `images`, kept in output/features_<split>.npy so a rerun or a resumed
    run skips the encoding. The json beside them names what they came from (`source`, the image count and the
    sha256 of the images and of the encoder weights); features whose json does not match are recomputed."""
    key = {**source, "split": split, "num_images": len(images), "images_sha256": _sha256([images]),
           "encoder_weights_sha256": _sha256(model.encoder.get_weights())}
    key = json.loads(json.dumps(key))  # tuples -> lists: compare as stored
    path, info = output / f"features_{split}.npy", output / f"features_{split}.json"
    if path.exists() and info.exists() and json.loads(info.read_text()) == key:
        if verbose:
            print(f"Reusing cached {split} features from {path}", flush=True)
        return np.load(path)
    features = model.encode(images, verbose=verbose)
    info.unlink(missing_ok=True)  # features and json are written together or not at all
    write_atomically(path, lambda tmp: np.save(tmp, features))
    write_text(info, json.dumps(key, indent=2))
    return features


def train_predictor(resolved, output, verbose=1, callbacks=()):
    """Train `resolved` (see `vms_zoo.training.resolve`) and write the preset folder, metrics.json and
    predictions.png (image | true VMS | predicted VMS | overlay) to `output`. Returns the metrics."""
    config, training = resolved["config"], resolved["training"]
    keras.utils.set_random_seed(training["seed"])
    start = time.time()
    train, test, category_names = predictor_data(training["data"], config["image_size"], seed=training["seed"],
                                                 num_train=training.get("num_train"),
                                                 num_test=training.get("num_test"))
    data_seconds = time.time() - start

    model = VMSPredictor(**config)
    initial_epoch = run_state(output).get("continued_from_epoch") or 0
    if initial_epoch:  # a finished run given more epochs: on from its saved weights (a fresh optimizer state)
        model(keras.ops.zeros((1, config["image_size"], config["image_size"], 3)))
        model.load_weights(str(output / "model.weights.h5"))
        if verbose:
            print(f"Continuing the finished run from epoch {initial_epoch} to {training['epochs']}", flush=True)
    batch_size = training["batch_size"]
    steps = training["steps_per_epoch"] or len(train["images"]) // batch_size
    learning_rate = training["learning_rate"]
    if training.get("cosine_decay"):  # ends training on small steps: no late jumps in held-out scores
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, training["epochs"] * steps)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  metrics=[Pearson2D(0), Pearson2D(1), MSE255(0), MSE255(1)])
    x_train, x_test = train["images"], test["images"]
    if training["augment"]:
        fit_data = augmented_batches(x_train, train["vms"], batch_size, seed=training["seed"])
        fit_kwargs = {"steps_per_epoch": steps, "shuffle": False}
    else:
        if model.encoder_frozen:  # nothing touches the images: encode them once, train the rest on features
            if verbose:
                print("Caching frozen-encoder features", flush=True)
            source = {"config": {k: config.get(k) for k in ("image_size", "encoder", "encoder_weights")},
                      "data": training["data"], "seed": training["seed"]}
            x_train, x_test = (cached_features(model, x, output, split, source, verbose)
                               for split, x in (("train", x_train), ("test", x_test)))
        # Each epoch a fresh pass over the batches (no steps_per_epoch: Keras would carry one iterator on).
        fit_data = EpochBatches(x_train, train["vms"], batch_size, training["seed"], training["steps_per_epoch"])
        callbacks = [fit_data.epoch_callback(), *callbacks]
        fit_kwargs = {"shuffle": False}  # the order is EpochBatches' own

    backup = output / ".vms_zoo_backup"  # BackupAndRestore deletes its folder at the end: ours alone
    # The bar (verbose 1) shows images/s and eta_min already: no second line of the same at each epoch's end.
    throughput = Throughput(images_per_step=batch_size, verbose=verbose != 1)
    log = keras.callbacks.CSVLogger(str(output / CSV_LOG), append=True)  # append: a resumed run adds its epochs
    history = model.fit(fit_data, epochs=training["epochs"], initial_epoch=initial_epoch,
                        validation_data=(x_test, test["vms"]),
                        callbacks=[keras.callbacks.BackupAndRestore(str(backup)), log, *callbacks,
                                   *([throughput] if verbose else [])], verbose=verbose,
                        **fit_kwargs)
    train_seconds = time.time() - start - data_seconds

    predicted = model.predict(x_test, batch_size=64, verbose=0)
    baseline = category_mean_baseline(train["vms"], train["categories"], test["categories"])
    metrics = {
        "data": training["data"],
        "backend": keras.backend.backend(),
        "training": training,
        "num_train": len(train["images"]),
        "num_test": len(test["images"]),
        "seconds": {"data": round(data_seconds, 1), "train": round(train_seconds, 1)},
        "model": map_report(test["vms"], predicted, test["categories"], category_names),
        "category_mean_baseline": map_report(test["vms"], baseline, test["categories"], category_names),
        "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
    }
    save_preset(model, output, {
        "description": f"VMS predictor trained from preset {resolved['preset']}.",
        "paper": resolved.get("paper"), "dataset": training["data"].split(":")[0],
        "resolution": config["image_size"],
        "metrics": {"held_out": metrics["model"]["overall"],
                    "category_mean_baseline": metrics["category_mean_baseline"]["overall"]},
        "recipe": f"vms-zoo train {resolved['preset']}",
    })
    write_text(output / "metrics.json", json.dumps(metrics, indent=2))
    save_prediction_grid(test["images"][:8], test["vms"][:8], predicted[:8], output / "predictions.png")
    save_curves(read_csv_log(output / CSV_LOG), output / CURVES_FILE)
    m, b = metrics["model"]["overall"], metrics["category_mean_baseline"]["overall"]
    for warning in below_baseline(m, b):
        print(f"vms-zoo: warning: {warning}", file=sys.stderr, flush=True)
    if verbose:
        print(f"held-out rho2D true {m['rho2d_true']:.3f} false {m['rho2d_false']:.3f} all {m['rho2d_all']:.3f} | "
              f"baseline true {b['rho2d_true']:.3f} false {b['rho2d_false']:.3f} | "
              f"MSE(0-255) true {m['mse255_true']:.1f} false {m['mse255_false']:.1f} | "
              f"train {train_seconds / 60:.1f} min -> {output}", flush=True)
    return metrics


def below_baseline(model, baseline):
    """Warnings for each held-out rho2D (true, false) that ends below the category-mean baseline's: such a model
    has learnt less than the average map of each category (too few epochs, too little data, or a bad setting)."""
    return [f"held-out rho2D {kind} {model[f'rho2d_{kind}']:.3f} is below the category-mean baseline "
            f"{baseline[f'rho2d_{kind}']:.3f}: the model predicts worse than each category's average map (train "
            "longer, or check the data and settings)"
            for kind in ("true", "false") if model[f"rho2d_{kind}"] < baseline[f"rho2d_{kind}"]]
