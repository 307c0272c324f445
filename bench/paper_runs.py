"""What a paper preset's full run costs: FLOPs per step and per run, images per run, GPU-time estimates, and
peak memory at the preset's batch sizes. The README's "Reproducing the papers" tables come from this script.

    python bench/paper_runs.py --output docs/results/paper_runs.json       # every paper preset (TensorFlow)
    python bench/paper_runs.py --presets memgan_256 --output /tmp/memgan.json
    python bench/paper_runs.py --variants-only --overwrite     # add VARIANTS' rows to the existing output

- `VARIANTS` cost other readings of a preset (MEMGAN with the authors' code's schedule) from the same counts.

- FLOPs per step and per image come from `vms_zoo.flops` (layer shapes; multiply-add = 2 FLOPs); images per
  run from the preset's own schedule (`run_images`).
- Time per GPU class is an **estimate**: FLOPs per run over the GPU's dense TF32 tensor-core peak (NVIDIA's data
  sheets; TensorFlow and JAX use TF32 for float32 convolutions and matmuls on Ampere and newer) at an assumed
  `UTILISATION`. No GPU ran these numbers.
- Peak memory is **measured on CPU and scaled**: each (preset, growth stage) runs two train steps in a fresh
  process at two small batches; the growth of peak resident memory with the batch gives the memory per image,
  extrapolated linearly to the preset's batch. The CPU figure includes the framework's own host memory (about
  1 GB after importing TensorFlow, measured as `runtime`), which a GPU run keeps on the host.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Dense TF32 tensor-core peaks in TFLOP/s, from NVIDIA's data sheets (without sparsity); V100 has no TF32, its
# float32 peak is given.
GPU_PEAK_TFLOPS = {"H100 SXM": 494.7, "A100 SXM": 156.0, "L4": 60.0, "V100 SXM2 (float32)": 15.7}
UTILISATION = 0.25  # our assumption: small-batch GAN and VAE steps rarely reach more of a GPU's peak
# Other readings of a preset, costed beside it: row name -> (preset, training overrides). Their memory is the
# preset's (same batches, same nets).
VARIANTS = {"memgan_256 (schedule=authors_code)": ("memgan_256", {"schedule": "authors_code"})}


def paper_presets():
    """Every trainable preset of every family that trains on real data rather than the synthetic scenes."""
    from vms_zoo import registry

    return [name for family in registry.registered().values() if family.trainer
            for name, preset in family.presets.items() if preset["training"]["data"] != "synthetic"]


def _rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def build(preset, stage=None):
    """The preset's model, compiled as its training compiles it (random VGG16 weights: same arithmetic), and a
    function making one train step's input at a batch size."""
    import keras
    import numpy as np

    from vms_zoo.presets import get_preset, model_class
    from vms_zoo.settings import SETTINGS_OF
    from vms_zoo.training import resolve

    resolved = resolve(preset)
    config, training = dict(resolved["config"]), resolved["training"]
    rng = np.random.default_rng(0)
    if model_class(resolved["class"]).task == "predictor":
        model = model_class(resolved["class"])(**{**config, "encoder_weights": None})
        model.compile(optimizer=keras.optimizers.Adam(training["learning_rate"]))
        size = config["image_size"]
        return model, lambda b: (rng.random((b, size, size, 3), "float32"), rng.random((b, size, size, 2), "float32"))
    feedback = get_preset(training["predictor"])
    predictor = model_class(feedback["class"])(**{**feedback["config"], "encoder_weights": None})
    config.pop("predictor", None)
    gan = model_class(resolved["class"])(predictor, **config)
    adam = SETTINGS_OF[resolved["class"]].adam(training)
    kwargs = {"real_batches": training["real_batches"]} if "real_batches" in training else {}
    gan.compile(d_optimizer=keras.optimizers.Adam(**adam), g_optimizer=keras.optimizers.Adam(**adam),
                n_critic=training["n_critic"], gp_weight=training["gp_weight"], **kwargs)
    per_step = training["n_critic"] if training.get("real_batches") == "fresh" else 1
    size = config["image_size"]
    if stage is not None:
        gan.set_growth_state(stage, fade=0.5)  # mid-fade: both blocks of the stage run
        size = gan.sizes[stage]
    return gan, lambda b: (rng.random((b * per_step, size, size, 3), "float32"),)


def measure(preset, stage, batch):
    """Peak resident MiB of two train steps at `batch` (run in a fresh process: peaks never go down)."""
    runtime = _rss_mib()
    import keras  # noqa: F401  (the framework's own memory, before any model)

    runtime = max(runtime, _rss_mib())
    model, make = build(preset, stage)
    inputs = make(batch)
    before = _rss_mib()
    for _ in range(2):  # the first builds the optimizers' slots
        model.train_on_batch(*inputs)
    return {"runtime_mib": runtime, "model_mib": before, "peak_mib": _peak_mib()}


def _measure_in_subprocess(preset, stage, batch):
    command = [sys.executable, __file__, "--measure", preset, str(-1 if stage is None else stage), str(batch)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def stages(preset):
    """[(stage or None, preset batch size, the two small batches to measure at)]."""
    from vms_zoo.training import resolve

    training = resolve(preset)["training"]
    batches = dict(enumerate(training["batch_sizes"])) if "batch_sizes" in training else {None: training["batch_size"]}
    # Up to 8 the preset's own batch runs here; above it, 2 and 8 (a wider span than 1 and 2: allocator noise of
    # ~100 MiB would otherwise be multiplied by the batch).
    return [(s, b, (b // 2, b) if b <= 8 else (2, 8)) for s, b in batches.items()]


def memory(preset):
    """Per stage: measured peaks at the two small batches and the linear extrapolation to the preset's batch."""
    rows = []
    for stage, batch, (b1, b2) in stages(preset):
        m1, m2 = _measure_in_subprocess(preset, stage, b1), _measure_in_subprocess(preset, stage, b2)
        per_image = max(0.0, (m2["peak_mib"] - m1["peak_mib"]) / (b2 - b1)) if b2 > b1 else 0.0
        rows.append({"stage": stage, "batch": batch, "measured": {b1: m1, b2: m2}, "per_image_mib": per_image,
                     "peak_mib_at_batch": m1["peak_mib"] + per_image * (batch - b1),
                     "runtime_mib": m1["runtime_mib"], "scaled": batch not in (b1, b2)})
    return rows


def estimated_hours(flops_per_run):
    """Hours per GPU class at UTILISATION of its peak."""
    return {gpu: flops_per_run / (peak * 1e12 * UTILISATION) / 3600 for gpu, peak in GPU_PEAK_TFLOPS.items()}


def add_variants(results):
    """Cost each VARIANTS row whose preset is in `results` (its memory copied from the preset's row)."""
    from vms_zoo.flops import run_cost

    for name, (preset, overrides) in VARIANTS.items():
        if preset in results["presets"]:
            cost = run_cost(preset, overrides=overrides)
            base = results["presets"][preset]
            results["presets"][name] = {**cost, "overrides": overrides, "estimated_hours": estimated_hours(
                cost["flops_per_run"]), **{k: base[k] for k in ("memory", "peak_mib") if k in base}}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=None, help="default: every paper preset")
    parser.add_argument("--output", default="docs/results/paper_runs.json")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--variants-only", action="store_true",
                        help="recompute only the VARIANTS rows of an existing --output (memory from their preset's row)")
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        preset, stage, batch = args.measure
        print(json.dumps(measure(preset, None if int(stage) < 0 else int(stage), int(batch))))
        return
    out = Path(args.output)
    if out.exists() and not args.overwrite:
        sys.exit(f"{out} exists; pass --overwrite to replace it.")
    if args.variants_only:
        results = json.loads(out.read_text())
        add_variants(results)
        out.write_text(json.dumps(results, indent=2))
        print(markdown(results))
        return
    from vms_zoo.flops import run_cost

    import keras

    results = {"backend": keras.backend.backend(), "utilisation": UTILISATION, "gpu_peak_tflops": GPU_PEAK_TFLOPS,
               "presets": {}}
    for preset in args.presets or paper_presets():
        cost = run_cost(preset)
        mem = memory(preset)
        results["presets"][preset] = {**cost, "estimated_hours": estimated_hours(cost["flops_per_run"]), "memory": mem,
                                      "peak_mib": max(r["peak_mib_at_batch"] for r in mem)}
        print(json.dumps({preset: {k: v for k, v in results["presets"][preset].items() if k != "memory"}}), flush=True)
    add_variants(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(markdown(results))


def markdown(results):
    """The README table."""
    gpus = list(results["gpu_peak_tflops"])
    hours = lambda h: f"{h:,.0f}" if h >= 10 else f"{h:.2g}"
    lines = ["| preset | GFLOP a step (batch) | images a run | PFLOP a run | "
             + " | ".join(f"est. hours, {g}" for g in gpus) + " | peak memory, GiB (CPU, scaled) |",
             "|---|---|---|---|" + "---|" * len(gpus) + "---|"]
    for name, r in results["presets"].items():
        label = f"`{name}`" if name in results["presets"] and "overrides" not in r else f"`{name.split()[0]}` {' '.join(name.split()[1:])}"
        lines.append(f"| {label} | {r['flops_per_step'] / 1e9:,.0f} ({r['batch']}) | {r['images_per_run']:,} | "
                     f"{r['flops_per_run'] / 1e15:,.1f} | "
                     + " | ".join(hours(r["estimated_hours"][g]) for g in gpus) + f" | {r['peak_mib'] / 1024:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
