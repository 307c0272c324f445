"""GAN training speed on the current backend, every measure in one run so their ratios share the machine's load.

    KERAS_BACKEND=tensorflow python bench/bench_gan.py [--steps 8] [--repeats 3] [--jit-compile default,true,false]

Measures, in ms per generator step (the median of --repeats timed `fit` calls of --steps steps each, after a
warm-up `fit` that pays for tracing and compilation; the cases of one model are timed in turn within each repeat;
spread = (max - min) / median). A step's time is that of fit's steps, from the first batch's start to the end of
the epoch (`StepClock`); `call_ms` is the whole fit call, which adds what each call costs besides its steps
(TensorFlow: building the data pipeline and its iterator, 50-150 ms here).

- W-MEMGAN, score and map conditions, at 32 and 64 px: the CPU presets' networks (wmemgan_synthetic_score_32 /
  _map_32: filters 128, latent 64, the vms_vae_synthetic_64 feedback predictor with random weights) at the
  settings of docs/performance.md's tables, batch 32 per critic update and n_critic 5 on fresh real batches (the
  presets train with batch 64 and n_critic 4: --batch-size, --n-critic).
- MEMGAN at each phase of memgan_synthetic_32 (4 px; 8, 16 and 32 px mid-fade at fade 0.5 and stable), at the
  preset's batch sizes.
- TensorFlow only: the same W-MEMGAN nets, optimizers and feedback term trained by a hand-written tf.function
  WGAN-GP step in the style of keras.io's WGAN-GP example, and fit's time over its: in each repeat (the two
  timed back to back), their median, and fastest over fastest.
- FLOPs per step (`vms_zoo.flops`), the achieved GFLOP/s, and their ratio to this backend's float32 1024 x 1024
  matmul rate, measured just before each model's cases (under the same load).

Training data are random images: the arithmetic is that of real ones. Results go to --output as JSON.
"""

import argparse
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from common import matmul_gflops, summary, write_json  # noqa: E402
from vms_zoo import losses  # noqa: E402
from vms_zoo.flops import train_step_flops  # noqa: E402
from vms_zoo.models.memgan import MEMGAN  # noqa: E402
from vms_zoo.models.wmemgan import WMEMGAN  # noqa: E402
from vms_zoo.presets import get_preset  # noqa: E402
from vms_zoo.targets import sample_targets  # noqa: E402

BACKEND = keras.backend.backend()
JIT_CHOICES = {"default": None, "true": True, "false": False}


def images(n, size, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, size, size, 3)).astype("float32")


def compiled(gan, jit, **kwargs):
    gan.compile(**kwargs, **({} if jit is None else {"jit_compile": jit}))
    return gan


class StepClock(keras.callbacks.Callback):
    """Seconds from the first batch's start to the epoch's end: a fit's steps without what the call costs around
    them. Reading a loss at the epoch's end waits for the last step (TensorFlow and JAX dispatch asynchronously)."""

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        float(next(iter(logs.values())))
        self.seconds = time.perf_counter() - self.start


def fit_case(gan, x, batch_size, steps, **info):
    """A timed case: one `fit` over x (`steps` generator steps), warmed up by a two-step fit. Its run returns the
    seconds of the steps."""
    per_step, clock = len(x) // steps, StepClock()
    gan.fit(x[:2 * per_step], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)

    def run():
        gan.fit(x, batch_size=batch_size, epochs=1, shuffle=False, verbose=0, callbacks=[clock])
        return clock.seconds

    return {**info, "setup": f"fit, jit_compile={gan.jit_compile}", "run": run}


def handwritten_case(gan, x, batch_size, steps, **info):
    """The same nets trained by a tf.function WGAN-GP step written as keras.io's example writes it (GradientTapes,
    an inner tape for the penalty), with the same feedback term, drift term and noise; `steps` calls per run."""
    import tensorflow as tf

    g, d, k = gan.generator, gan.critic, gan.n_critic
    d_opt, g_opt = gan.default_optimizer(), gan.default_optimizer()
    d_opt.build(d.trainable_variables)
    g_opt.build(g.trainable_variables)

    def noise():
        z = keras.random.normal((batch_size, gan.latent_dim), seed=gan.seed_generator)
        return z, sample_targets(gan.condition, batch_size, gan.seed_generator, gan.map_size, gan.standardized)

    def gradient_penalty(real, fake):
        alpha = keras.random.uniform((batch_size, 1, 1, 1), seed=gan.seed_generator)
        interpolated = alpha * real + (1.0 - alpha) * fake
        with tf.GradientTape() as gp_tape:
            gp_tape.watch(interpolated)
            pred = d(interpolated, training=True)
        grads = gp_tape.gradient(pred, [interpolated])[0]
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-10)
        return tf.reduce_mean((norm - 1.0) ** 2)

    @tf.function(jit_compile=gan.jit_compile)
    def train_step(real):  # (n_critic, batch, S, S, 3) in [-1, 1]
        for i in range(k):
            fake = g(noise(), training=True)
            with tf.GradientTape() as tape:
                real_logits, fake_logits = d(real[i], training=True), d(fake, training=True)
                d_loss = (tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits)
                          + gan.gp_weight * gradient_penalty(real[i], fake)
                          + gan.drift_weight * tf.reduce_mean(tf.square(real_logits)))
            d_opt.apply_gradients(zip(tape.gradient(d_loss, d.trainable_variables), d.trainable_variables))
        z, m = noise()
        with tf.GradientTape() as tape:
            fake = g([z, m], training=True)
            mem = losses.memorability_loss(gan.feedback(fake), m)
            g_loss = -tf.reduce_mean(d(fake, training=True)) + gan.alpha * mem
        g_opt.apply_gradients(zip(tape.gradient(g_loss, g.trainable_variables), g.trainable_variables))
        return d_loss + g_loss

    reals = tf.constant(x.reshape((steps, k, batch_size) + x.shape[1:]) * 2.0 - 1.0)

    def run(count=steps):
        start = time.perf_counter()
        loss = [train_step(reals[i]) for i in range(count)]
        float(loss[-1])  # waits for the last step
        return time.perf_counter() - start

    run(2)
    return {**info, "setup": f"hand-written tf.function, jit_compile={gan.jit_compile}", "run": run}


def attempt(make_case, *args, **info):
    """`make_case(*args, **info)`, or a case holding the error when it fails (torch.compile cannot run the
    gradient penalty's double backward, for one)."""
    try:
        return make_case(*args, **info)
    except Exception as error:  # noqa: BLE001 (a benchmark reports what failed and goes on)
        return {**info, "setup": make_case.__name__, "error": f"{type(error).__name__}: {str(error)[:200]}"}


def measure(cases, steps):
    """Time the cases in turn, --repeats times; one result row each (the runs are dropped from the case), with the
    matmul rate measured just before, under the same load. A case's run returns the seconds of its steps."""
    matmul = matmul_gflops()
    times, calls = [[] for _ in cases], [[] for _ in cases]
    for _ in range(ARGS.repeats):
        for case, t, c in zip(cases, times, calls):
            if "run" in case:
                start = time.perf_counter()
                t.append(case["run"]())
                c.append(time.perf_counter() - start)
    rows = []
    for case, t, c in zip(cases, times, calls):
        row = {key: value for key, value in case.items() if key != "run"}
        rows.append(row)
        if "error" in row:
            print(f"{row['model']:9s} {row['case']:18s} {row['setup']}: {row['error']}", flush=True)
            continue
        row.update(summary(t, per=steps), call_ms=[1000 * seconds for seconds in c])
        row["gflop_per_s"] = row["gflop_per_step"] / row["median_ms"] * 1e3
        row.update(matmul_gflop_per_s=matmul, of_matmul=row["gflop_per_s"] / matmul)
        print(format_row(row), flush=True)
    return rows


def wmemgan_rows(condition, size, jits):
    steps, batch, n_critic = ARGS.steps, ARGS.batch_size, ARGS.n_critic
    x = images(steps * n_critic * batch, size)
    cases = []
    for jit in jits:
        config = {**get_preset(f"wmemgan_synthetic_{condition}_32")["config"], "image_size": size}
        gan = compiled(WMEMGAN(**config), jit, n_critic=n_critic)
        info = {"model": "W-MEMGAN", "case": f"{condition} {size} px", "batch": batch,
                "gflop_per_step": train_step_flops(gan, batch) / 1e9}
        cases.append(attempt(fit_case, gan, x, batch, steps, **info))
        if BACKEND == "tensorflow":
            hand = compiled(WMEMGAN(**config), jit, n_critic=n_critic)
            cases.append(attempt(handwritten_case, hand, x, batch, steps, **info))
    rows = measure(cases, steps)
    if BACKEND == "tensorflow":
        for fit, hand in zip(rows[::2], rows[1::2]):
            if "error" in fit or "error" in hand:
                continue
            ratios = [a / b for a, b in zip(fit["runs_ms"], hand["runs_ms"])]
            fit.update(fit_over_handwritten=ratios, fit_over_handwritten_median=statistics.median(ratios),
                       fit_over_handwritten_best=fit["min_ms"] / hand["min_ms"])
            print(f"  fit / hand-written ({fit['setup']}): median {fit['fit_over_handwritten_median']:.3f}, "
                  f"fastest / fastest {fit['fit_over_handwritten_best']:.3f}; each repeat "
                  + " ".join(f"{r:.3f}" for r in ratios), flush=True)
    return rows


def memgan_rows(jits):
    preset = get_preset("memgan_synthetic_32")
    gans = [compiled(MEMGAN(**preset["config"]), jit) for jit in jits]
    rows = []
    for stage, batch in enumerate(preset["training"]["batch_sizes"]):
        for fade in ((0.5, 1.0) if stage else (1.0,)):
            x = images(ARGS.steps * batch, gans[0].sizes[stage])
            cases = []
            for gan in gans:
                gan.set_growth_state(stage, fade)
                info = {"model": "MEMGAN", "case": f"{gan.sizes[stage]} px" + (" mid-fade" if fade < 1 else ""),
                        "batch": batch, "gflop_per_step": train_step_flops(gan, batch) / 1e9}
                cases.append(attempt(fit_case, gan, x, batch, ARGS.steps, **info))
            rows += measure(cases, ARGS.steps)
    return rows


def format_row(row):
    return (f"{row['model']:9s} {row['case']:18s} {row['batch']:5d} {row['setup']:45s} {row['median_ms']:9.1f} "
            f"{row['spread']:7.2f} {row['gflop_per_step']:9.2f} {row['gflop_per_s']:8.1f} "
            f"{row['matmul_gflop_per_s']:7.1f} {row['of_matmul']:7.3f}")


def main():
    output = ARGS.output or f"bench/results/gan_{BACKEND}.json"
    if os.path.exists(output) and not ARGS.overwrite:
        raise SystemExit(f"{output} exists; pass --overwrite to replace it (or choose another --output).")
    jits = [JIT_CHOICES[j] for j in ARGS.jit_compile.split(",")]
    load = os.getloadavg()[0]
    print(f"{BACKEND}: {os.cpu_count()} CPUs, load average {load:.1f}; matmul: the float32 1024x1024 matmul rate in "
          "GFLOP/s, measured before each model's cases", flush=True)
    print(f"{'model':9s} {'case':18s} {'batch':>5s} {'setup':45s} {'ms/step':>9s} {'spread':>7s} "
          f"{'GFLOP/st':>9s} {'GFLOP/s':>8s} {'matmul':>7s} {'/matmul':>7s}", flush=True)
    rows = []
    for condition in ARGS.conditions:
        for size in ARGS.sizes:
            rows += wmemgan_rows(condition, size, jits)
    if not ARGS.skip_memgan:
        rows += memgan_rows(jits)
    load_after = os.getloadavg()[0]
    print(f"load average after the run {load_after:.1f}", flush=True)
    write_json({"backend": BACKEND, "keras": keras.__version__, "python": sys.version.split()[0],
                "machine": platform.machine(), "cpus": os.cpu_count(), "load_average": [load, load_after],
                "settings": vars(ARGS), "rows": rows},
               output, ARGS.overwrite)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8, help="generator steps per timed fit")
    parser.add_argument("--repeats", type=int, default=3, help="timed fits per case")
    parser.add_argument("--batch-size", type=int, default=32, help="W-MEMGAN: real images per critic update")
    parser.add_argument("--n-critic", type=int, default=5, help="W-MEMGAN: critic updates per generator step")
    parser.add_argument("--conditions", nargs="+", default=["score", "map"], help="W-MEMGAN conditions")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64], help="W-MEMGAN image sizes")
    parser.add_argument("--jit-compile", default="default",
                        help="comma-separated settings timed side by side: default (the model's), true, false")
    parser.add_argument("--skip-memgan", action="store_true")
    parser.add_argument("--output", help="JSON file (default bench/results/gan_<backend>.json)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    ARGS = parser.parse_args()
    keras.utils.set_random_seed(0)
    main()
