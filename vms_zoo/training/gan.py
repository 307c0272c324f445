"""What training W-MEMGAN and MEMGAN share: the data, the frozen predictors, the pair evaluation, the folder."""

import json
import time

import keras
import numpy as np

from vms_zoo.data.sources import gan_source
from vms_zoo.evaluation import evaluate_pairs, score_images, score_scale, split_settings
from vms_zoo.io import write_text
from vms_zoo.presets import save_preset
from vms_zoo.training.runner import load_or_train
from vms_zoo.training.runs import CSV_LOG, CURVES_FILE
from vms_zoo.visualize import read_csv_log, save_curves

REAL_SAMPLE = 2000  # real images scored (score scale, pair split, summary): the first ones


def training_images(training, image_size):
    """The real images a GAN preset trains on, (N, S, S, 3) float32 in [0, 1], at most "num_images" of them:
    an array of synthetic scenes, or folder / LSUN images decoded batch by batch (`gan_source`)."""
    return gan_source(training["data"], image_size, category=training.get("category"),
                      num_scenes=training.get("num_scenes"), seed=training["seed"], limit=training.get("num_images"))


def predictors(training, output, verbose, smoke=False):
    """(feedback predictor, independent scorer) named by the training settings (see `load_or_train`)."""
    return (load_or_train(training["predictor"], output, "predictor", verbose, smoke),
            load_or_train(training["scorer"], output, "scorer", verbose, smoke))


def prepare(resolved, output, verbose, stream=False):
    """The start of every GAN run: seeds, the real images (first: a data error stops the run before any
    predictor trains), the two predictors and how both score the real images. Returns (config without the
    predictor architecture, training, predictor, scorer, images, record).

    stream: folder and LSUN images stay a `LazyImages` (decoded batch by batch); without it they are decoded
    into one array, for callers that need one (the alpha sweep's keras-tuner search).
    """
    config, training = dict(resolved["config"]), resolved["training"]
    keras.utils.set_random_seed(training["seed"])
    images = training_images(training, config["image_size"])
    images = images if stream else images[:]
    predictor, scorer = predictors(training, output, verbose, resolved.get("smoke", False))
    config.pop("predictor", None)  # the trained feedback predictor replaces the preset's architecture
    summary, scorer_real = real_scores(predictor, scorer, images)
    # scorer_real (not JSON) is popped by `finish`: the pair split sits at a quantile of it.
    record = {"real_scores": summary, "num_images": len(images), "scorer_real_scores": scorer_real}
    return config, training, predictor, scorer, images, record


def standardize_scores(config, training, predictor, images):
    """Set W-MEMGAN's `score_scale` from the feedback predictor's scores of the first `REAL_SAMPLE` real
    images when the settings ask for it (score condition); returns the scale dict (with the low / high pair
    targets as z-scores) or None."""
    if config["condition"] != "score" or not training.get("score_scale"):
        config["score_scale"] = None
        return None
    scale = score_scale(predictor, images[:REAL_SAMPLE], tuple(training["quantiles"]))
    config["score_scale"] = [scale["mean"], scale["std"]]
    return scale


def real_scores(predictor, scorer, images):
    """How both predictors score the first `REAL_SAMPLE` real training images (a collapsed predictor shows
    std 0), and the scorer's scores themselves."""
    sample = images[:REAL_SAMPLE]
    p, s = score_images(predictor, sample), score_images(scorer, sample)
    return {"predictor_mean": float(p.mean()), "predictor_std": float(p.std()), "scorer_mean": float(s.mean()),
            "scorer_std": float(s.std()), "predictor_scorer_corr": float(np.corrcoef(p, s)[0, 1])}, s


def save_log_curves(output, marks=()):
    """Draw output's CSV log into its curves PNG: per epoch, or for MEMGAN's growth log against the images seen,
    with `marks` ((images seen, label) of each phase start). Returns the log ({column: values}), or None without
    one (a run stopped before its first row)."""
    if not (output / CSV_LOG).is_file():
        return None
    history = read_csv_log(output / CSV_LOG)
    if "images_seen" in history:
        shown = {key: values for key, values in history.items() if key not in ("resolution", "fade")}
        save_curves(shown, output / CURVES_FILE, x="images_seen", marks=marks)
    else:
        save_curves(history, output / CURVES_FILE)
    return history


def finish(gan, resolved, output, record, predictor, scorer, low=None, high=None, verbose=1):
    """Score low/high pairs with the independent scorer (and the feedback predictor), write pairs.json and the
    preset folder; returns the record."""
    training = resolved["training"]
    seed = training["seed"] + 100
    start = time.time()
    # The feedback predictor scores the same pairs: how well the generator learned what it was trained on.
    result = evaluate_pairs(gan, scorer, num_pairs=training["pairs"], seed=seed, low=low, high=high,
                            real_scores=record.pop("scorer_real_scores", None), **split_settings(training),
                            also_score={"feedback_predictor": predictor})
    record.update(eval_seconds=round(time.time() - start, 1), pairs=result, backend=keras.backend.backend())
    write_text(output / "pairs.json", json.dumps(record, indent=2, default=float))
    save_preset(gan, output, {
        "description": f"{resolved['class']} trained from preset {resolved['preset']}, alpha = {gan.alpha:g}.",
        "paper": resolved["paper"], "dataset": training["data"].split(":")[0], "resolution": gan.image_size,
        "metrics": {"pairs": {k: v for k, v in result.items() if isinstance(v, (int, float))}},
        "recipe": f"vms-zoo train {resolved['preset']}",
    })
    if verbose:
        print(json.dumps(result, indent=2, default=float), flush=True)
    return record
