#!/usr/bin/env bash
# The GPU benchmark in one call (at most 8 minutes on one H100/H200): benchmarks/gpu_bench.py, results in $OUT.
#
# The device machine has PyTorch, accelerate, huggingface_hub, safetensors, numpy, pillow and tqdm but no
# diffusers and no network, so the wheels come with the working tree. Once, on a machine with network access:
#
#     pip download --no-deps -d benchmarks/wheels diffusers==0.42.1 importlib_metadata zipp
#
# (benchmarks/wheels/ is git-ignored: name it in the run tool's `carry`). Then, through the run tool:
#
#     run(command="bash benchmarks/gpu.sh", carry=["benchmarks/wheels"], timeout_s=480)
#
# or on any GPU machine: bash benchmarks/gpu.sh [extra gpu_bench.py flags]. Results: $OUT/gpu_bench.json and
# $OUT/gpu_bench.md (OUT defaults to benchmarks/results/gpu), plus nvidia-smi.txt and the pip log.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/results/gpu}"
mkdir -p "$OUT"
PYTHON="${PYTHON:-python3}"
source benchmarks/offline_deps.sh  # the offline install of the carried wheels, shared with train_shipped_gpu.sh
offline_deps "$OUT/pip.log"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 DIFFUSERS_VERBOSITY=error
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true
timeout 450 "$PYTHON" benchmarks/gpu_bench.py --out "$OUT" --deadline 360 "$@"
