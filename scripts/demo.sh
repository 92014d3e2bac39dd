#!/usr/bin/env bash
# The main job, from a fresh clone: set up, then restore held-out photos with every shipped pipeline
# (pipelines/<method>-<task>), write one side-by-side PNG per task and print PSNR / SSIM / seconds per method.
#
#   bash scripts/demo.sh [OUT] [extra `bridge-diffusers showcase` flags]     (about a minute on 2 CPU cores)
#
# The photos come from photos/, the corpus the shipped pipelines were trained on, which scripts/fetch_photos.sh
# writes on the first run; the showcase restores two of its held-out photos.
#
# Environment: PYTHON (default python3), VENV (default .venv, shared with scripts/test.sh), TORCH_SPEC (default
# torch==2.13.0, a CPU wheel on this project's machines).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-showcase}
shift || true
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

if [ ! -x "$VENV/bin/bridge-diffusers" ]; then
    echo "== setting up $VENV ($TORCH_SPEC, then the package)"
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$TORCH_SPEC"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e .
fi
if [ ! -f photos/metadata.jsonl ]; then
    echo "== writing the photo corpus into photos/ (scripts/fetch_photos.sh)"
    PYTHON="$VENV/bin/python" bash scripts/fetch_photos.sh photos \
        || echo "   (incomplete: the held-out photos may differ from those the shipped pipelines' cards list)"
fi
echo "== restoring held-out photos with the shipped pipelines"
HF_HUB_OFFLINE=1 "$VENV/bin/bridge-diffusers" showcase -o "$OUT" "$@"
