#!/usr/bin/env bash
# CI: a normal (non-editable) install works. Installs the package with `pip install --no-deps --target` into a
# temporary folder (dependencies come from the calling environment), then, from a working directory outside the
# checkout, loads every shipped checkpoint (package data vms_zoo/checkpoints) and smoke-runs the `vms-zoo`
# predict, generate and train commands. Prints "install check: ok" on success; any failure exits non-zero.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

step() { echo "--- install check: $*"; }
fail() { echo "install check: FAILED: $*" >&2; exit 1; }

# Build from a copy of the checkout's source files (tracked and untracked-but-not-ignored, as a fresh clone would
# have them), so a stale build/ in the checkout cannot leak removed modules into the wheel, and the checkout is
# left untouched. Without git, build from the checkout itself.
src="$tmp/src"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  step "copying the checkout's source files to $src"
  mkdir -p "$src"
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard |
     while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
     xargs -0 cp --parents -t "$src")
else
  src="$repo"
fi

# Build with the environment's setuptools when it is recent enough (offline, fast); else pip's isolated build.
isolation=()
if "$python" -c 'import sys, setuptools; sys.exit(int(setuptools.__version__.split(".")[0]) < 64)' 2>/dev/null; then
  isolation=(--no-build-isolation)
fi
step "pip install --no-deps ${isolation[*]} --target $tmp/site ."
(cd "$src" && "$python" -m pip install -q --disable-pip-version-check --no-deps "${isolation[@]}" \
   --target "$tmp/site" .)
[ -x "$tmp/site/bin/vms-zoo" ] || fail "the install has no bin/vms-zoo console script"
[ -d "$tmp/site/vms_zoo/checkpoints" ] || fail "the install has no vms_zoo/checkpoints package data"

work="$tmp/work"
mkdir -p "$work"
cd "$work"
export PYTHONPATH="$tmp/site"
vms_zoo=("$tmp/site/bin/vms-zoo")

step "vms_zoo imports from the install, not the checkout (cwd $work)"
where="$("$python" -c 'import vms_zoo; print(vms_zoo.__file__)')"
echo "$where"
case "$where" in
  "$tmp/site/"*) ;;
  *) fail "vms_zoo was imported from $where, not from $tmp/site" ;;
esac

step "loading every preset whose weights are shipped"
"$python" - <<'EOF'
import vms_zoo
from vms_zoo.presets import checkpoints_dir, list_presets, weights_status

print("checkpoints_dir:", checkpoints_dir())
shipped = [n for n in list_presets() if weights_status(n) == "shipped"]
for name in shipped:
    vms_zoo.load(name)
    print("loaded", name)
assert len(shipped) >= 6, f"only {len(shipped)} shipped presets loaded: {shipped}"
EOF

step "vms-zoo predict (default preset)"
"$python" -c 'import numpy as np; from PIL import Image; Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save("scene.png")'
"${vms_zoo[@]}" predict scene.png --output out_predict
[ -f out_predict/scores.json ] || fail "vms-zoo predict wrote no out_predict/scores.json"

step "vms-zoo generate --pairs 2"
"${vms_zoo[@]}" generate --pairs 2 --output out_gen
[ -f out_gen/grid.png ] || fail "vms-zoo generate wrote no out_gen/grid.png"

step "vms-zoo train vms_vae_synthetic_scorer_32 (1 epoch, 64 scenes)"
"${vms_zoo[@]}" train vms_vae_synthetic_scorer_32 --output out_train --set epochs=1 num_train=64 num_test=32
for f in model.weights.h5 config.json; do
  [ -f "out_train/$f" ] || fail "vms-zoo train wrote no out_train/$f"
done
"$python" -c "import vms_zoo; vms_zoo.load('./out_train'); print('loaded ./out_train')"

step "vms-zoo train memgan_256 --dry-run"
"${vms_zoo[@]}" train memgan_256 --dry-run | tee dry_run.json
"$python" -c 'import json; json.load(open("dry_run.json")); print("dry run: valid JSON")' ||
  fail "vms-zoo train --dry-run did not print JSON"

echo "install check: ok"
