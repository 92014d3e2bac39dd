#!/usr/bin/env bash
# A small CPU training campaign on the photo folder (blur-uni, 32 px crops, the "small" UNet):
# I2SB and NADB with the same UNet, data and steps, then a one-step IBMD student of the NADB teacher.
# It feeds the CPU rows of benchmarks/RESULTS.md; real runs belong on a GPU (see README, Training).
#
#   bash scripts/fetch_photos.sh && bash scripts/train_cpu_blur.sh [OUT]    (about half an hour on 2 cores)
#
# Environment: PHOTOS (default photos, the folder fetch_photos.sh writes), STEPS (default 600), PY.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/cpu-blur-uni}
PY=${PY:-.venv/bin/python}
PHOTOS=${PHOTOS:-photos}
STEPS=${STEPS:-600}
COMMON=(--task blur-uni --train_data_dir "$PHOTOS" --resolution 32 --scale_range 0.12 0.5 --train_batch_size 8
        --dataloader_num_workers 1 --checkpointing_steps 100 --validation_steps 200 --num_validation_images 8
        --resume_from_checkpoint latest)
BRIDGE=(--model_preset small --learning_rate 2e-4 --validation_inference_steps 10)
"$PY" training/train_i2sb.py "${COMMON[@]}" "${BRIDGE[@]}" --output_dir "$OUT/i2sb" --max_train_steps "$STEPS"
"$PY" training/train_nadb.py "${COMMON[@]}" "${BRIDGE[@]}" --output_dir "$OUT/nadb" --max_train_steps "$STEPS" \
    --mean_max_train_steps "$((STEPS / 2))"
"$PY" training/train_ibmd.py "${COMMON[@]}" --output_dir "$OUT/ibmd" --teacher "$OUT/nadb" \
    --max_train_steps "$((STEPS / 6))" --learning_rate 5e-5
