#!/usr/bin/env bash
# On a lent GPU machine, through the device tool's `run` (the call is in bench/device/README.md;
# it carries .whl and .benchdata, made here by prepare.sh): install what the image lacks into
# $SITE, widen MiniLM back to float32, and run bench/gpu_step.py for one PART, teeing its table
# to $OUT/gpu_step-PART.txt. Each PART is sized to end inside one command's 10 minutes.
#   minilm (default)  MiniLM-L6, SST-2 at 8000 examples (the issue's setting), all 6 candidates
#   bert              a 12-layer bert-base shape (random weights), the same data, 4 candidates
#   smoke             CPU, tiny data (gpu_step.py --smoke) through everything else: proves this
#                     script on a machine without a GPU (PYTHON, SITE, WHEELS, OUT to point it)
set -euo pipefail
PART=${1:-minilm}
PYTHON=${PYTHON:-python3}
SITE=${SITE:-/tmp/site}
WHEELS=${WHEELS:-.whl}
OUT=${OUT:?set OUT to the folder whose files come back}
MINILM=${MINILM:-/tmp/minilm}
COMPILE=${COMPILE:-reduce-overhead}  # torch.compile's mode; `default` if CUDA graphs fail
case "$PART" in
minilm) part=(--models minilm --jobs 1,2,4,6 --tuned-jobs 6,1) ;;
bert) part=(--models bert-base --candidates 4 --jobs 1,4 --tuned-jobs 4,1) ;;
smoke) part=(--models minilm --smoke) ;;
*)
    echo "run.sh: PART is minilm, bert or smoke, not $PART" >&2
    exit 2
    ;;
esac
export PYTHONUNBUFFERED=1
# each compiling worker starts a pool of this many compile processes (default: one per core)
export TORCHINDUCTOR_COMPILE_THREADS=${TORCHINDUCTOR_COMPILE_THREADS:-4}
{
    start=$SECONDS
    "$PYTHON" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" "$WHEELS"/*.whl
    # glpsearch itself, laid out as pyproject's package-dir installs it (strategies/ and store/
    # inside glpsearch/): copied, not built, so the image's setuptools version cannot matter
    rm -rf "$SITE/glpsearch"
    cp -r glpsearch "$SITE/glpsearch"
    cp -r strategies "$SITE/glpsearch/strategies"
    cp -r store "$SITE/glpsearch/store"
    export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
    "$PYTHON" - <<'PY'
import importlib.metadata as m
names = "torch transformers accelerate datasets pyarrow fsspec huggingface-hub".split()
def version(name):
    try:
        return m.version(name)
    except m.PackageNotFoundError:
        return "ABSENT"
print("versions:", ", ".join(f"{n} {version(n)}" for n in names))
import datasets, glpsearch.model.evaluator  # fails here, early, if the image's versions do not fit
print("glpsearch from", glpsearch.model.evaluator.__file__)
PY
    "$PYTHON" bench/device/minilm.py float .benchdata/minilm-fp16 "$MINILM"
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv
    fi
    echo "set up in $((SECONDS - start)) s"
    # --deadline: no row starts after 360 s, so the last (a cold compile, the longest) still
    # ends inside `timeout`, which ends inside the device tool's 600 s
    timeout 540 "$PYTHON" bench/gpu_step.py --task .benchdata/SST-2 --minilm "$MINILM" \
        --train-limit 8000 --buckets 32,64,128 --compile "$COMPILE" --deadline 360 \
        "${part[@]}"
} 2>&1 | tee "$OUT/gpu_step-$PART.txt"
