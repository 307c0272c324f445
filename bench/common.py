"""What the benchmarks share: timing repeated runs, the backend's matmul rate, and writing the results file."""

import json
import statistics
import time
from pathlib import Path

import keras
from keras import ops


def seconds(run):
    """Wall seconds of one call of `run`."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def summary(times, per=1):
    """Median and spread of repeated timings (seconds), as milliseconds per `per` items: the median, min and
    max, and the spread (max - min) / median."""
    ms = [1000 * t / per for t in times]
    median = statistics.median(ms)
    return {"median_ms": median, "min_ms": min(ms), "max_ms": max(ms), "spread": (max(ms) - min(ms)) / median,
            "runs_ms": ms}


def matmul_gflops(n=1024, repeats=20):
    """This backend's float32 n x n matmul rate in GFLOP/s (2 n^3 FLOPs each): the fastest of `repeats`, the
    least disturbed by whatever else the machine is doing."""
    a = keras.random.normal((n, n), seed=0)
    b = keras.random.normal((n, n), seed=1)

    def run():
        c = ops.matmul(a, b)
        getattr(c, "block_until_ready", lambda: None)()  # JAX dispatches asynchronously

    run()
    return 2 * n**3 / min(seconds(run) for _ in range(repeats)) / 1e9


def write_json(results, path, overwrite=False):
    """Write `results` to `path` (its folder created); an existing file is refused unless `overwrite`."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise SystemExit(f"{path} exists; pass --overwrite to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")
