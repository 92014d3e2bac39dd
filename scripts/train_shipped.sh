#!/usr/bin/env bash
# Trains the pipelines shipped under pipelines/ (see pipelines/README.md): for each task, I2SB, NADB (mean
# network, then bridge) and a one-step IBMD student of the NADB teacher, all with the "tiny" UNet (0.64 M
# parameters, 1.3 MB in fp16) on 32 px crops of the photo folder, on CPU. Then
# `python scripts/export_shipped.py` evaluates them and writes the fp16 folders with their model cards.
#
#   bash scripts/fetch_photos.sh                     (once: writes the photo folder photos/)
#   bash scripts/train_shipped.sh [OUT] [TASK...]
#   STEPS=3000 bash scripts/train_shipped.sh runs/shipped blur-uni      (how blur-uni was shipped)
#
# STEPS (default 9000) are the bridge steps (the mean network gets half, the IBMD student IBMD_STEPS=600).
# PHOTOS (default photos) is the training image folder, split by image exactly as `bridge-diffusers evaluate` splits
# it. For the tasks in DEGRADED_STUDENT_TASKS (default blur-uni) a second, degraded-input student (one network call
# per image; `--student_input degraded`) is distilled into <task>/ibmd-degraded for benchmarks/quality.py; it is
# not shipped.
# Measured on 2 CPU cores: about 3 minutes per 3000 bridge steps, 5.5 minutes for the student, so about 13
# minutes a task at STEPS=3000 and 27 to 33 at 9000 (jpeg10, sr4x-pool).
# Re-running resumes each run from its last checkpoint; a finished run is skipped quickly.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/shipped}
shift || true
TASKS=("${@:-jpeg10 sr4x-pool blur-uni}")
read -r -a TASKS <<<"${TASKS[*]}"
PY=${PY:-.venv/bin/python}
PHOTOS=${PHOTOS:-photos}
STEPS=${STEPS:-9000}
IBMD_STEPS=${IBMD_STEPS:-600}
DEGRADED_STUDENT_TASKS=${DEGRADED_STUDENT_TASKS:-blur-uni}
COMMON=(--train_data_dir "$PHOTOS" --resolution 32 --scale_range 0.12 0.5 --train_batch_size 8
        --dataloader_num_workers 1 --checkpointing_steps 500 --checkpoints_total_limit 2 --validation_steps 1000
        --num_validation_images 8 --resume_from_checkpoint latest)
BRIDGE=(--model_preset tiny --validation_inference_steps 10)  # the IBMD student takes its teacher's architecture
for TASK in "${TASKS[@]}"; do
    RUN="$OUT/$TASK"
    "$PY" training/train_i2sb.py "${COMMON[@]}" "${BRIDGE[@]}" --task "$TASK" --output_dir "$RUN/i2sb" \
        --max_train_steps "$STEPS" --learning_rate 3e-4
    "$PY" training/train_nadb.py "${COMMON[@]}" "${BRIDGE[@]}" --task "$TASK" --output_dir "$RUN/nadb" \
        --max_train_steps "$STEPS" --mean_max_train_steps "$((STEPS / 2))" --learning_rate 3e-4
    "$PY" training/train_ibmd.py "${COMMON[@]}" --task "$TASK" --output_dir "$RUN/ibmd" --teacher "$RUN/nadb" \
        --max_train_steps "$IBMD_STEPS" --learning_rate 5e-5 --checkpointing_steps 200
    if [[ " $DEGRADED_STUDENT_TASKS " == *" $TASK "* ]]; then
        "$PY" training/train_ibmd.py "${COMMON[@]}" --task "$TASK" --output_dir "$RUN/ibmd-degraded" \
            --teacher "$RUN/nadb" --student_input degraded --max_train_steps "$IBMD_STEPS" --learning_rate 5e-5 \
            --checkpointing_steps 200
    fi
done
