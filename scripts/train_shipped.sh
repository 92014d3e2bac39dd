#!/usr/bin/env bash
# Trains the pipelines shipped under pipelines/ (see pipelines/README.md) on the CPU: for each task, NADB (a mean
# network that learns a residual on the task's classical restoration, then the bridge), a one-step IBMD student of
# that NADB teacher, and I2SB, all with the "restore" UNet (4.3 M parameters, attention at 1/8 resolution) on
# 64 px crops of the photo folder at native scale, with EMA and a cosine learning-rate schedule.
# Then `python scripts/export_shipped.py` evaluates them and writes the folders with their model cards.
#
#   bash scripts/fetch_photos.sh                     (once: writes the photo folder photos/)
#   bash scripts/train_shipped.sh [OUT] [TASK...]    (default: runs/shipped, jpeg10 sr4x-pool inpaint-freeform blur-uni)
#
# METHODS (default "nadb ibmd i2sb") selects the runs (an IBMD student needs its NADB teacher's run).
# Steps (environment): MEAN_STEPS (default 2000) for the mean network, STEPS (1500) for each bridge, IBMD_STEPS (300)
# generator steps of the student (each with 5 steps of its auxiliary network). PHOTOS (default photos) is the
# training image folder, split by image exactly as `bridge-diffusers evaluate` splits it.
# Re-running resumes each run from its last checkpoint (a killed run loses at most CHECKPOINT_STEPS steps); a
# finished run is skipped quickly. The wall time of every run is appended to OUT/wall_times.tsv.
# A GPU trains the same folders at a larger preset in one call: scripts/train_shipped_gpu.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/shipped}
shift || true
TASKS=("${@:-jpeg10 sr4x-pool inpaint-freeform blur-uni}")
read -r -a TASKS <<<"${TASKS[*]}"
PY=${PY:-.venv/bin/python}
PHOTOS=${PHOTOS:-photos}
PRESET=${PRESET:-restore}
RESOLUTION=${RESOLUTION:-64}
BATCH=${BATCH:-8}
MEAN_STEPS=${MEAN_STEPS:-2000}
STEPS=${STEPS:-1500}
IBMD_STEPS=${IBMD_STEPS:-300}
CHECKPOINT_STEPS=${CHECKPOINT_STEPS:-250}
METHODS=" ${METHODS:-nadb ibmd i2sb} "
read -r -a LAUNCH <<<"${LAUNCH:-$PY}"  # e.g. LAUNCH="accelerate launch --mixed_precision bf16" on a GPU
WORKERS=1
WARMUP=100
source scripts/shipped_recipe.sh
shipped_recipe  # COMMON, BRIDGE, NADB, IBMD, I2SB

timed() {  # timed NAME COMMAND...: runs COMMAND and appends its wall time to OUT/wall_times.tsv
    local name=$1 start
    shift
    start=$(date +%s)
    "$@"
    printf '%s\t%s\t%s\n' "$name" "$(($(date +%s) - start))" "$(date -u +%FT%TZ)" >>"$OUT/wall_times.tsv"
}

wanted() { [[ $METHODS == *" $1 "* ]]; }

mkdir -p "$OUT"
for TASK in "${TASKS[@]}"; do
    RUN="$OUT/$TASK"
    if wanted nadb; then
        timed "$TASK/nadb" "${LAUNCH[@]}" training/train_nadb.py "${COMMON[@]}" "${BRIDGE[@]}" --task "$TASK" \
            --output_dir "$RUN/nadb" "${NADB[@]}" --max_train_steps "$STEPS" \
            --mean_max_train_steps "$MEAN_STEPS"
    fi
    if wanted ibmd; then
        timed "$TASK/ibmd" "${LAUNCH[@]}" training/train_ibmd.py "${COMMON[@]}" --task "$TASK" \
            --output_dir "$RUN/ibmd" --teacher "$RUN/nadb" --max_train_steps "$IBMD_STEPS" "${IBMD[@]}" \
            --checkpointing_steps 50
    fi
    if wanted i2sb; then
        timed "$TASK/i2sb" "${LAUNCH[@]}" training/train_i2sb.py "${COMMON[@]}" "${BRIDGE[@]}" --task "$TASK" \
            --output_dir "$RUN/i2sb" "${I2SB[@]}" --max_train_steps "$STEPS"
    fi
done
