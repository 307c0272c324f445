"""Predictor throughput, measured side by side in one run so the ratios mean something on a noisy machine.

    KERAS_BACKEND=tensorflow python bench/bench_vms_predictor.py [--image-size 64] [--steps 20] [--only cached]

Training (images/s): on cached frozen-VGG16 features, on images without augmentation (the encoder runs every
step), and fully end to end (tf.data + joint augmentation + encoder). Inference (images/s): the whole
predictor against the encoder alone. The feature cache's speed-up (cached over uncached training) is also given
as a share of its FLOP cap, (encoder + head) / head FLOPs per step (`vms_zoo.flops`). VGG16 runs with random
weights: the arithmetic is that of ImageNet's.
`--keras-conv-transpose` times the decoder with Keras' own Conv2DTranspose.call, to compare with the form
`vms_zoo.layers.Conv2DTranspose` computes on JAX in the same session.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import vms_zoo.layers  # noqa: E402
from vms_zoo.data.augment import JointAugment  # noqa: E402
from vms_zoo.data.synthetic import SyntheticScenes  # noqa: E402
from vms_zoo.models.vms_predictor.flops import predictor_step_flops  # noqa: E402
from vms_zoo.models.vms_predictor import VMSPredictor  # noqa: E402


MEASURES = ("cached", "uncached", "end_to_end", "predict")


def best_rate(run, items):
    """Items/s of the fastest of --repeats runs: the least disturbed by whatever else the machine is doing."""
    times = []
    for _ in range(ARGS.repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return items / min(times)


def timed_fit(model, data, steps, **kwargs):
    """Images/s of `steps` training steps, after a warm-up fit that pays for tracing and compilation."""
    model.fit(data, epochs=1, steps_per_epoch=2, verbose=0, shuffle=False, **kwargs)
    return best_rate(lambda: model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False, **kwargs),
                     steps * ARGS.batch_size)


def timed_predict(predict, x):
    predict(x[: ARGS.batch_size])
    return best_rate(lambda: predict(x), len(x))


def main():
    size, batch, steps = ARGS.image_size, ARGS.batch_size, ARGS.steps
    n = batch * steps
    data = SyntheticScenes(image_size=size, num_train=n).arrays("train", progress=False)
    x, y = data["images"], data["vms"]
    config = dict(image_size=size, encoder="vgg16", encoder_weights=None, dense_units=64, latent_dim=8, seed=0)

    def fresh():
        model = VMSPredictor(**config)
        model.compile(optimizer=keras.optimizers.Adam(1e-4))
        return model

    model = fresh()
    start = time.perf_counter()
    features = model.encode(x, batch_size=batch, verbose=0)
    cache_seconds = time.perf_counter() - start

    results = {"backend": keras.backend.backend(), "image_size": size, "batch_size": batch, "steps": steps}
    if "cached" in ARGS.only:
        results["train_cached_img_s"] = timed_fit(model, features, steps, y=y, batch_size=batch)
    if "uncached" in ARGS.only:
        results["train_uncached_img_s"] = timed_fit(fresh(), x, steps, y=y, batch_size=batch)
    if "end_to_end" in ARGS.only:
        pipeline = (
            tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(batch)
            .map(JointAugment(seed=0), num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
        )
        results["train_end_to_end_img_s"] = timed_fit(fresh(), pipeline, steps)
    results["cache_build_seconds"] = cache_seconds
    if "predict" in ARGS.only:
        results["predict_img_s"] = timed_predict(lambda a: model.predict(a, batch_size=batch, verbose=0), x)
        results["encoder_only_img_s"] = timed_predict(
            lambda a: model.encoder.predict(a, batch_size=batch, verbose=0), x)
        results["ratio_predict_over_encoder"] = results["predict_img_s"] / results["encoder_only_img_s"]
    if "train_uncached_img_s" in results:
        uncached = results["train_uncached_img_s"]
        if "train_end_to_end_img_s" in results:
            results["ratio_end_to_end_over_uncached"] = results["train_end_to_end_img_s"] / uncached
        if "train_cached_img_s" in results:
            results["ratio_cached_over_uncached"] = results["train_cached_img_s"] / uncached
            # The most caching can gain: a step's FLOPs on images (frozen encoder forward + head) over on features.
            cap = predictor_step_flops(model, batch) / predictor_step_flops(model, batch, cached=True)
            results["feature_cache_flop_cap"] = cap
            results["cached_speedup_share_of_cap"] = results["ratio_cached_over_uncached"] / cap
            # Epochs after which caching has paid for its one-off encoding pass.
            saving = n / uncached - n / results["train_cached_img_s"]
            results["cache_breakeven_epochs"] = cache_seconds / saving if saving > 0 else float("inf")

    for key, value in results.items():
        print(f"{key:32s} {value:.3f}" if isinstance(value, float) else f"{key:32s} {value}")
    if ARGS.json:
        with open(ARGS.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--only", default=",".join(MEASURES), type=lambda v: v.split(","),
                        help=f"comma-separated subset of {','.join(MEASURES)}")
    parser.add_argument("--keras-conv-transpose", action="store_true",
                        help="decoder with Keras' Conv2DTranspose.call instead of vms_zoo's JAX form")
    ARGS = parser.parse_args()
    if unknown := set(ARGS.only) - set(MEASURES):
        parser.error(f"unknown measures {sorted(unknown)}; choose from {','.join(MEASURES)}")
    if ARGS.keras_conv_transpose:
        vms_zoo.layers.Conv2DTranspose.call = keras.layers.Conv2DTranspose.call
    keras.utils.set_random_seed(0)
    np.set_printoptions(precision=3)
    main()
