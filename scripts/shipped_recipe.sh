# The recipe of the shipped pipelines, sourced by scripts/train_shipped.sh (CPU) and scripts/train_shipped_gpu.sh
# (one GPU), so that both train the same runs, each at its own scale: the flags of every run (COMMON), of the
# bridges (BRIDGE) and of each method. Not a script: `source scripts/shipped_recipe.sh && shipped_recipe`.
# Reads PHOTOS RESOLUTION BATCH WORKERS CHECKPOINT_STEPS PRESET WARMUP.
# shellcheck shell=bash disable=SC2034  # the arrays are read by the scripts that source this file
shipped_recipe() {
    COMMON=(--train_data_dir "$PHOTOS" --resolution "$RESOLUTION" --train_batch_size "$BATCH"
            --dataloader_num_workers "$WORKERS" --checkpointing_steps "$CHECKPOINT_STEPS" --checkpoints_total_limit 2
            --num_validation_images 8 --resume_from_checkpoint latest --report_to none
            --lr_scheduler cosine --ema_max_decay 0.999)
    BRIDGE=(--model_preset "$PRESET" --validation_inference_steps 10 --learning_rate 5e-4
            --lr_warmup_steps "$WARMUP" --validation_steps 500)
    # the mean network learns a residual on the classical restoration, with the PSNR loss that weighs flat crops as
    # the mean PSNR does (with the MSE, the residual costs bicubic 0.6 dB on the flat held-out crops of sr4x-pool)
    NADB=(--classical_mean_net --cond_x1 --mean_loss psnr)
    IBMD=(--learning_rate 5e-5 --validation_steps 100)  # the student takes its teacher's architecture
    I2SB=(--cond_x1)
}
