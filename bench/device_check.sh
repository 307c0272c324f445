#!/usr/bin/env bash
# One prepared command for a lent GPU machine (one H100, 16 cores; at most 8 minutes): every paper preset at full
# size on random data, a few hundred train steps in float32 and in mixed bfloat16, recording images/s, peak GPU
# memory and the FLOP estimate each replaces, as JSON under bench/results/ (bench/device_check.py says how).
#
#   bash bench/device_check.sh                  # on the GPU machine, from the repository root
#   bash bench/device_check.sh --cpu-dry-run    # anywhere, tiny sizes, seconds (CI runs this)
#
# Needs a Python with vms_zoo's dependencies (a GPU build of the chosen KERAS_BACKEND; TensorFlow by default).
# Extra arguments go to bench/device_check.py (--presets, --steps, --budget-seconds, --output, --overwrite).
set -euo pipefail
cd "$(dirname "$0")/.."
export KERAS_BACKEND="${KERAS_BACKEND:-tensorflow}" TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [[ " $* " != *" --cpu-dry-run "* ]]; then
  # TensorFlow would take all GPU memory at start: grow it, so the recorded peak is what the steps used.
  export TF_FORCE_GPU_ALLOW_GROWTH=true XLA_PYTHON_CLIENT_PREALLOCATE=false
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
exec timeout 480 python bench/device_check.py "$@"
