#!/usr/bin/env bash
# The project's test command (README, CI): from a fresh clone on a bare machine, it creates a virtual
# environment, installs the package with its test extras and runs ruff and the test suite, offline.
#
#   bash scripts/test.sh [extra pytest arguments]
#
# Environment: PYTHON (interpreter for the venv, default python3), VENV (default .venv),
# TORCH_SPEC (default torch==2.13.0: a CPU wheel that lies on this project's machines; elsewhere pip
# downloads it, or set TORCH_SPEC to the build you want).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"

echo "== installing ($TORCH_SPEC first, so no other torch build is pulled in)"
"$PY" -m pip install -q --disable-pip-version-check --upgrade pip
"$PY" -m pip install -q --disable-pip-version-check "$TORCH_SPEC"
"$PY" -m pip install -q --disable-pip-version-check -e ".[test,train,metrics,demo]"

echo "== the photo folder (photos/: package photos + Debian mate-backgrounds), used by the data and card tests"
PYTHON="$PY" bash scripts/fetch_photos.sh photos || echo "   (incomplete: tests that need the missing photos skip)"

echo "== optional headless Chromium (Debian's chromium), used by the Space's browser test when present"
bash scripts/install_chromium.sh || echo "   (skipped: the browser test is skipped without it)"

echo "== ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .

echo "== pytest"
# One thread per process: the suite runs small models, and CI machines have 2 cores.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
"$PY" -m pytest -q "$@"
