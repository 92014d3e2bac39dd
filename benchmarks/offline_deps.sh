# shellcheck shell=bash
# Sourced (not run) by benchmarks/gpu.sh and scripts/train_shipped_gpu.sh: makes diffusers importable for $PYTHON
# on the lent GPU machine, which has no network and no diffusers but already has a CUDA build of PyTorch (and
# accelerate, huggingface_hub, safetensors, numpy, pillow, tqdm) in its python3. So torch is never carried: only
# the pure-Python wheels that the image lacks, downloaded once on a machine with network access into the
# git-ignored folder beside this file, which the run tool then carries along:
#
#     pip download --no-deps -d benchmarks/wheels diffusers==0.42.1 importlib_metadata zipp
#
#   source benchmarks/offline_deps.sh
#   offline_deps LOG        (PYTHON must be set; pip's output goes to LOG)

# The wheels folder, found from this file so that callers in any folder agree on it.
OFFLINE_WHEELS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/wheels"

offline_deps() {
    local log=$1 site="${TMPDIR:-/tmp}/bridge_diffusers_site"
    if "$PYTHON" -c "import diffusers" 2>/dev/null; then
        return 0  # a machine that has it (or a local venv): nothing to install
    fi
    if ! ls "$OFFLINE_WHEELS"/diffusers-*.whl >/dev/null 2>&1; then
        echo "diffusers is not installed and $OFFLINE_WHEELS has no wheel: run, where there is network access," >&2
        echo "    pip download --no-deps -d benchmarks/wheels diffusers==0.42.1 importlib_metadata zipp" >&2
        return 2
    fi
    # --target keeps the image's own site-packages untouched; --no-deps because the rest is already there, and
    # pip could not fetch anything anyway. --upgrade: a warm machine may still hold the folder from a last call.
    "$PYTHON" -m pip install --no-index --no-deps --upgrade --target "$site" "$OFFLINE_WHEELS"/*.whl >"$log" 2>&1
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
}
