"""What a paper preset's train step really does on a GPU, beside the FLOP estimate it replaces.

    bash bench/device_check.sh                       # on a lent GPU: every paper preset, float32 and bfloat16
    bash bench/device_check.sh --cpu-dry-run         # anywhere: the same code at tiny sizes, in seconds

For each paper preset, at its full size (image side, widths, batch; MEMGAN at its last, 256 px stage) on random
data, train steps under the float32 and the mixed_bfloat16 dtype policy: images per second over the timed steps
(after `--warmup` steps that compile), peak device memory, and the estimate from `vms_zoo.flops` at
bench/paper_runs.py's assumed utilisation of the GPU's peak (`--gpu`), with the whole run's hours both ways.
Presets whose networks and step equal another's (`SAME_STEP`) are not run twice. Each preset runs in a process of
its own (device memory peaks start afresh), within a time budget shared by all (`--budget-seconds`): a run that
would overrun it stops at the steps it has, and says so. Output: JSON under bench/results/.

The dry run (`--cpu-dry-run`) shrinks every preset (32 px predictors, a 32 px W-MEMGAN, an 8 px MEMGAN, 8-wide
layers), runs 2 timed steps of each eagerly (no tracing: seconds) in this process, and writes to
bench/results/device_check_dry_run.json unless told. Its numbers mean nothing; that it runs end to end does.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paper_runs import GPU_PEAK_TFLOPS, UTILISATION, paper_presets  # noqa: E402

POLICIES = ("float32", "mixed_bfloat16")
# Presets with the same networks, batch and step as another (the loss or alpha differs): measured once.
SAME_STEP = {"vms_vae_m8_l1": "vms_vae_m8", "vms_vae_m32_vischema_plus": "vms_vae_m32",
             "memgan_foil_256": "memgan_256"}
DRY_RUN = {"VMSPredictor": {"image_size": 32, "dense_units": 8, "latent_dim": 4, "decoder_filters": [8, 8, 8, 8]},
           "WMEMGAN": {"image_size": 32, "filters": 8, "latent_dim": 8}, "MEMGAN": {"image_size": 8, "latent_dim": 8}}


def device_memory():
    """(reset, peak bytes) functions for the backend's first accelerator; (None, None) on CPU."""
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            return None, None
        return (lambda: tf.config.experimental.reset_memory_stats("GPU:0"),
                lambda: tf.config.experimental.get_memory_info("GPU:0")["peak"])
    if backend == "torch":
        import torch

        if not torch.cuda.is_available():
            return None, None
        return torch.cuda.reset_peak_memory_stats, torch.cuda.max_memory_allocated
    import jax

    device = jax.devices()[0]
    if device.platform == "cpu":
        return None, None
    return (lambda: None), (lambda: device.memory_stats().get("peak_bytes_in_use"))  # JAX: since the process began


def build(preset, dry_run):
    """(model, a train step's inputs, batch, images per step, FLOPs per step) for the preset, compiled as its
    training compiles it, with random weights (no download) and random data."""
    import keras
    import numpy as np

    from vms_zoo import flops
    from vms_zoo.presets import build as build_model
    from vms_zoo.presets import get_preset, without_downloads
    from vms_zoo.training import resolve

    resolved = resolve(preset)
    cls, config, training = resolved["class"], without_downloads(dict(resolved["config"])), resolved["training"]
    rng = np.random.default_rng(0)
    if dry_run:
        config.update(DRY_RUN[cls])
        if cls == "MEMGAN":
            config["filters"] = [8, 8]
    if cls == "VMSPredictor":
        if dry_run:
            config["encoder"], config["encoder_filters"] = "conv", [8, 8, 8, 8]
        model = build_model(cls, config)
        model.compile(optimizer=keras.optimizers.Adam(training["learning_rate"]), run_eagerly=dry_run)
        batch, side = (2 if dry_run else training["batch_size"]), config["image_size"]
        inputs = (rng.random((batch, side, side, 3), "float32"), rng.random((batch, side, side, 2), "float32"))
        return model, inputs, batch, batch, flops.train_step_flops(model, batch)
    predictor_config = without_downloads(dict(get_preset(training["predictor"])["config"]))
    if dry_run:
        predictor_config.update(DRY_RUN["VMSPredictor"], encoder="conv", encoder_filters=[8, 8, 8, 8])
    config["predictor"] = build_model("VMSPredictor", predictor_config)
    model = build_model(cls, config)
    beta_2 = 0.99 if cls == "MEMGAN" else 0.9
    adam = dict(learning_rate=training["learning_rate"], beta_1=0.0, beta_2=beta_2)
    model.compile(d_optimizer=keras.optimizers.Adam(**adam), g_optimizer=keras.optimizers.Adam(**adam),
                  n_critic=training["n_critic"], gp_weight=training["gp_weight"], run_eagerly=dry_run,
                  **({"real_batches": training["real_batches"]} if "real_batches" in training else {}))
    if cls == "MEMGAN":
        stage = len(model.sizes) - 1
        batch = 2 if dry_run else training["batch_sizes"][stage]
        model.set_growth_state(stage, fade=1.0)  # the last stage at full weight: the costliest step
        side = model.sizes[stage]
        step_flops = flops.train_step_flops(model, batch, stage=stage, fading=False)
    else:
        batch, side = (2 if dry_run else training["batch_size"]), config["image_size"]
        step_flops = flops.train_step_flops(model, batch)
    per_step = batch * (training["n_critic"] if training.get("real_batches") == "fresh" else 1)
    return model, (rng.random((per_step, side, side, 3), "float32"),), batch, per_step, step_flops


def measure(preset, policy, steps, warmup, seconds, dry_run, gpu):
    """One (preset, policy) run in this process: a dict of what was measured and estimated."""
    import keras

    from vms_zoo.flops import run_cost
    from vms_zoo.training import dtype_policy

    reset, peak = device_memory()
    with dtype_policy(policy):
        model, inputs, batch, images_per_step, step_flops = build(preset, dry_run)
        if reset:
            reset()
        for _ in range(warmup):
            logs = model.train_on_batch(*inputs, return_dict=True)  # compiles; the values sync the device
        start, done = time.perf_counter(), 0
        while done < steps and (done == 0 or time.perf_counter() - start < seconds):
            logs = model.train_on_batch(*inputs, return_dict=True)
            done += 1
        elapsed = time.perf_counter() - start
    measured = images_per_step * done / elapsed
    peak_flops = GPU_PEAK_TFLOPS[gpu] * 1e12 * UTILISATION
    estimated = images_per_step * peak_flops / step_flops
    result = {"policy": policy, "backend": keras.backend.backend(), "batch": batch, "images_per_step": images_per_step,
              "steps_timed": done, "steps_asked": steps, "cut_by_time": done < steps, "seconds": elapsed,
              "images_per_s": measured, "peak_device_memory_bytes": peak() if peak else None,
              "flops_per_step": step_flops, "estimated_images_per_s": estimated,
              "measured_over_estimated": measured / estimated,
              "losses_finite": all(abs(float(v)) < float("inf") for v in logs.values())}
    if not dry_run:
        images = run_cost(preset)["images_per_run"]
        result.update(images_per_run=images, estimated_hours=images / estimated / 3600,
                      measured_hours_at_this_step=images / measured / 3600)
    return result


def run_preset(preset, args, in_process):
    """Both policies of one preset: here, or in a fresh process (device memory peaks start afresh)."""
    if in_process:
        out = {}
        for policy in POLICIES:
            try:
                out[policy] = measure(preset, policy, args.steps, args.warmup, args.seconds, args.cpu_dry_run, args.gpu)
            except Exception as error:  # a run that fails is recorded, the others still run
                out[policy] = {"error": f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"}
        return out
    command = [sys.executable, __file__, "--one", preset, "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--seconds", str(args.seconds), "--gpu", args.gpu]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.seconds * 2 + 240)
    except subprocess.TimeoutExpired:
        return {policy: {"error": "timed out"} for policy in POLICIES}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {policy: {"error": f"exit {done.returncode}: {tail}"} for policy in POLICIES}
    return json.loads(lines[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-dry-run", action="store_true", help="tiny sizes, 2 steps, this process: seconds")
    parser.add_argument("--presets", nargs="+", default=None, help="default: every paper preset")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per run (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compiling)")
    parser.add_argument("--budget-seconds", type=float, default=420.0, help="for all runs together")
    parser.add_argument("--gpu", default="H100 SXM", choices=list(GPU_PEAK_TFLOPS), help="the estimate's peak")
    parser.add_argument("--output", default=None)
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # a child process: one preset, both policies, one JSON line
        print(json.dumps(run_preset(args.one, args, in_process=True)))
        return
    if args.cpu_dry_run:
        args.steps, args.warmup = 2, 1
    out = Path(args.output or f"bench/results/device_check{'_dry_run' if args.cpu_dry_run else ''}.json")
    if out.exists() and not args.overwrite:
        sys.exit(f"{out} exists; pass --overwrite to replace it.")
    known = paper_presets()
    args.presets = args.presets or known
    unknown = sorted(set(args.presets) - set(known))
    if unknown:
        sys.exit(f"Not paper presets: {', '.join(unknown)}; choose from {', '.join(known)}.")
    start = time.perf_counter()
    results = {"mode": "cpu-dry-run" if args.cpu_dry_run else "device", "gpu_for_estimate": args.gpu,
               "utilisation_assumed": UTILISATION, "steps": args.steps, "budget_seconds": args.budget_seconds,
               "presets": {}}
    to_run = [p for p in args.presets if SAME_STEP.get(p) not in args.presets]
    for i, preset in enumerate(to_run):
        left = args.budget_seconds - (time.perf_counter() - start)
        if left <= 0:
            results["presets"][preset] = {"skipped": "time budget spent"}
            continue
        # Each of the remaining runs (2 per preset) gets an equal share of what is left, less start-up and compiles.
        args.seconds = max(1.0, (left / (len(to_run) - i) - 60.0) / len(POLICIES))
        results["presets"][preset] = run_preset(preset, args, in_process=args.cpu_dry_run)
        print(json.dumps({preset: results["presets"][preset]}), flush=True)
    for preset, same in SAME_STEP.items():
        if preset in args.presets and same in results["presets"]:
            results["presets"][preset] = {"same_step_as": same}
    results["wall_seconds"] = time.perf_counter() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out} ({results['wall_seconds']:.0f} s)")
    failed = [f"{preset} ({policy}): {run['error']}" for preset, runs in results["presets"].items()
              for policy, run in runs.items() if isinstance(run, dict) and "error" in run]
    if failed:  # written all the same, so the runs that worked are kept; the exit status says some did not
        sys.exit("Failed: " + "; ".join(failed))


if __name__ == "__main__":
    main()
