#!/usr/bin/env bash
# Here, before a session calls the device tool's `run` with bench/device/run.sh (the call is in
# bench/device/README.md): put what the GPU machine lacks into folders git ignores, and check
# that they and the working tree fit what travels (64 MiB). Idempotent; needs PyPI, no GPU.
#   .whl/        wheels of the packages glpsearch and datasets need that the machine's image
#                lacks (.library/device/KINDS.md lists what it has), at the versions of $PYTHON
#   .benchdata/  SST-2 from $DATA (GLUE's TSVs, 3.7 MiB) and MiniLM-L6 with its weights halved
#                to float16 (bench/device/minilm.py says why)
# PYTHON: a python with glpsearch and the embedded model (default .venv/bin/python);
# WHEEL_PYTHON: the machine's python version (3.12); DATA: the benchmark data (../shared/data).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
PYTHON=${PYTHON:-.venv/bin/python}
WHEEL_PYTHON=${WHEEL_PYTHON:-3.12}
WHEELS=${WHEELS:-.whl}
DATA=${DATA:-../shared/data}
BENCH=.benchdata
LIMIT=$((64 * 1024 * 1024))

# the image has pyarrow, pandas, xxhash, fsspec, huggingface-hub, accelerate, ...: not these
missing="datasets dill multiprocess diskcache"
pins=$("$PYTHON" -c 'import importlib.metadata as m, sys
print(" ".join(f"{n}=={m.version(n)}" for n in sys.argv[1:]))' $missing)
rm -rf "$WHEELS"
mkdir -p "$WHEELS"
# shellcheck disable=SC2086  # $pins: one word per package
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$WHEEL_PYTHON" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$WHEELS" $pins
echo "wheels: $(cd "$WHEELS" && ls | tr '\n' ' ')"

mkdir -p "$BENCH"
rm -rf "$BENCH/SST-2"
cp -r "$DATA/glue/SST-2" "$BENCH/SST-2"
chmod -R u+w "$BENCH/SST-2"  # the shared copy is read-only; ours is rewritten next time
minilm=$("$PYTHON" -c 'from glpsearch import models; print(models.resolve(None))')
rm -rf "$BENCH/minilm-fp16"
"$PYTHON" bench/device/minilm.py half "$minilm" "$BENCH/minilm-fp16"

# what travels: tracked and untracked-not-ignored files, and the two carried folders
tree=$(git ls-files -z --cached --others --exclude-standard |
    du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
carried=$(du -cb "$WHEELS" "$BENCH" | tail -1 | cut -f1)
total=$((tree + carried))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "travels: tree $(mib "$tree") + $WHEELS and $BENCH $(mib "$carried") = $(mib "$total")" \
    "of $(mib "$LIMIT")"
if ((total > LIMIT)); then
    echo "too big for the device tool: ignore or remove untracked files" >&2
    exit 1
fi
