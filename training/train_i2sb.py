#!/usr/bin/env python
# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Train an I2SB pipeline (Liu et al., "I2SB: Image-to-Image Schroedinger Bridge", ICML 2023) with accelerate.

    accelerate launch training/train_i2sb.py --task blur-uni --train_data_dir photos/ --output_dir out/i2sb-blur

``--output_dir`` becomes an ``I2SBPipeline`` folder (``save_pretrained``: float32 weights and an ``fp16`` variant)
with a model card. Checkpoints are ``accelerator.save_state`` folders ``checkpoint-<step>`` in it, holding the UNet
and its EMA as ``save_pretrained`` folders; ``--resume_from_checkpoint latest`` continues a run exactly.
"""

import argparse
import logging
import os

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from diffusers import UNet2DModel
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from tqdm.auto import tqdm

from bridge_diffusers import I2SBPipeline, I2SBScheduler
from bridge_diffusers.training.args import (
    add_data_args,
    add_training_args,
    add_unet_args,
    build_unet,
    check_args,
    ema_options,
)
from bridge_diffusers.training.checkpoints import load_checkpoint, save_checkpoint, step_generator
from bridge_diffusers.training.data import build_training_data, training_dataloader
from bridge_diffusers.training.hub import push_to_hub, save_pipeline
from bridge_diffusers.training.losses import bridge_matching_loss
from bridge_diffusers.training.model_card import launch_command, write_model_card
from bridge_diffusers.training.validation import log_validation


logger = get_logger(__name__)

# The official recipes by task family (I2SB's scripts/train.sh): (beta_max, ot_ode). Paired data and the mixture
# get the scheduler's defaults, the SDE at beta_max 0.3.
OFFICIAL_RECIPES = {"jpeg": (0.3, False), "sr4x": (0.3, False), "blur": (1.0, True), "inpaint": (1.0, True)}


def official_recipe(task: str | None) -> tuple[float, bool]:
    """``(beta_max, ot_ode)`` of the official run of ``task``'s family."""
    return next(
        (recipe for family, recipe in OFFICIAL_RECIPES.items() if (task or "").startswith(family)), (0.3, False)
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    add_unet_args(parser)
    group = parser.add_argument_group("I2SB")
    group.add_argument("--beta_max", type=float, default=None, help="default: the official recipe of the task, "
                       "0.3 (JPEG, super-resolution) or 1.0 (blur, inpainting)")  # fmt: skip
    group.add_argument("--ot_ode", action=argparse.BooleanOptionalAction, default=None, help="the OT-ODE limit "
                       "(no bridge noise); default: the official recipe, on for blur and inpainting")  # fmt: skip
    group.add_argument("--clip_denoise", action="store_true", help="clamp x0 estimates to [-1, 1] when sampling")
    add_training_args(parser)
    args = parser.parse_args(argv)
    check_args(parser, args)
    beta_max, ot_ode = official_recipe(args.task)
    args.beta_max = beta_max if args.beta_max is None else args.beta_max
    args.ot_ode = ot_ode if args.ot_ode is None else args.ot_ode
    args.command = launch_command(None if argv is None else [__file__, *argv])
    return args


def main(args: argparse.Namespace) -> None:
    logging_dir = os.path.join(args.output_dir, args.logging_dir)
    accelerator = Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        log_with=None if args.report_to == "none" else args.report_to,
        project_config=ProjectConfiguration(project_dir=args.output_dir, logging_dir=logging_dir),
    )
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    logger.info(accelerator.state, main_process_only=False)
    if args.allow_tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
    set_seed(args.seed)  # the initial weights; every training draw comes from a step_generator
    if accelerator.is_main_process:
        os.makedirs(args.output_dir, exist_ok=True)

    # 1. The network, the bridge, and the pipeline whose endpoint and sampler the loss and validation use.
    unet = build_unet(args)
    scheduler = I2SBScheduler(beta_max=args.beta_max, ot_ode=args.ot_ode, clip_denoise=args.clip_denoise)
    pipeline = I2SBPipeline(unet=unet, scheduler=scheduler, task=args.task)
    pipeline.set_progress_bar_config(disable=True)
    if args.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    ema_unet = None
    if args.use_ema:
        ema_unet = EMAModel(unet.parameters(), model_cls=UNet2DModel, model_config=unet.config, **ema_options(args))

    # 2. Checkpoints hold the UNet and its EMA as save_pretrained folders; accelerate saves the rest.
    def save_model_hook(models, weights, output_dir):
        if accelerator.is_main_process:
            if ema_unet is not None:
                ema_unet.save_pretrained(os.path.join(output_dir, "unet_ema"))
            for model in models:
                accelerator.unwrap_model(model).save_pretrained(os.path.join(output_dir, "unet"))
                weights.pop()

    def load_model_hook(models, input_dir):
        if ema_unet is not None:
            loaded = EMAModel.from_pretrained(os.path.join(input_dir, "unet_ema"), UNet2DModel)
            ema_unet.load_state_dict(loaded.state_dict())
            ema_unet.to(accelerator.device)
        while models:
            model = accelerator.unwrap_model(models.pop())
            loaded = UNet2DModel.from_pretrained(input_dir, subfolder="unet")
            model.load_state_dict(loaded.state_dict())

    accelerator.register_save_state_pre_hook(save_model_hook)
    accelerator.register_load_state_pre_hook(load_model_hook)

    # 3. The optimiser and its learning-rate schedule (accelerate steps a prepared schedule once per process).
    adam = dict(betas=(args.adam_beta1, args.adam_beta2), weight_decay=args.adam_weight_decay, eps=args.adam_epsilon)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=args.learning_rate, **adam)
    warmup, steps = args.lr_warmup_steps * accelerator.num_processes, args.max_train_steps * accelerator.num_processes
    lr_scheduler = get_scheduler(args.lr_scheduler, optimizer, num_warmup_steps=warmup, num_training_steps=steps)

    # 4. Clean crops degraded on the fly by --task (or paired data): one pass over the dataset covers the run.
    total_batch_size = args.train_batch_size * accelerator.num_processes * args.gradient_accumulation_steps
    with accelerator.main_process_first():
        data = build_training_data(args, args.max_train_steps * total_batch_size)
    logger.info(f"Data: {data.description}. Total batch size {total_batch_size}.")
    train_dataloader = training_dataloader(data.train, args)
    unet, optimizer, train_dataloader, lr_scheduler = accelerator.prepare(
        unet, optimizer, train_dataloader, lr_scheduler
    )
    if ema_unet is not None:
        ema_unet.to(accelerator.device)
    if accelerator.is_main_process:
        accelerator.init_trackers(
            "train_i2sb", {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str))}
        )

    def validate(step: int) -> dict[str, float]:
        """Restores the validation batch with the EMA weights (main process), scores and logs it."""
        weights = accelerator.unwrap_model(unet).parameters
        if ema_unet is not None:
            ema_unet.store(weights())
            ema_unet.copy_to(weights())
        val, generator = data.validation, torch.Generator().manual_seed(args.seed)
        restored = pipeline.restore(val.degraded, val.mask, args.validation_inference_steps, generator)
        if ema_unet is not None:
            ema_unet.restore(weights())
        return log_validation(accelerator, "bridge", restored, val.clean, val.degraded, step, args.output_dir)

    # 5. Resume, then train. The times and noise of micro-step n come from a generator seeded by (seed, n, process)
    # and the data by item index, so a resumed run replays the uninterrupted one.
    global_step = load_checkpoint(accelerator, args.output_dir, args.resume_from_checkpoint)
    micro_step, train_loss = global_step * args.gradient_accumulation_steps, 0.0
    progress_bar = tqdm(total=args.max_train_steps, initial=global_step, disable=not accelerator.is_local_main_process)
    unet.train()
    for batch in accelerator.skip_first_batches(train_dataloader, micro_step):
        if global_step >= args.max_train_steps:
            break
        generator = step_generator(args.seed, micro_step, accelerator.process_index, accelerator.device)
        clean, degraded, mask = batch["pixel_values"], batch["conditioning_pixel_values"], batch.get("mask")
        with accelerator.accumulate(unet):
            # Where the pipeline's sampler starts (x1, noise in an inpainting hole) and the cond_x1 input.
            inputs = pipeline.prepare_endpoint(degraded, mask, generator=generator)
            condition = inputs.condition if pipeline.cond_x1 else None
            loss = bridge_matching_loss(unet, scheduler, clean, inputs.endpoint, condition, mask, generator)
            avg_loss = accelerator.gather(loss.detach().repeat(args.train_batch_size)).mean()  # over processes
            train_loss += avg_loss.item() / args.gradient_accumulation_steps
            accelerator.backward(loss)
            if accelerator.sync_gradients and args.max_grad_norm > 0:
                accelerator.clip_grad_norm_(unet.parameters(), args.max_grad_norm)
            optimizer.step()
            lr_scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        logger.debug(f"process {accelerator.process_index} micro-step {micro_step} loss {loss.item()!r}",
                     main_process_only=False)  # fmt: skip
        micro_step += 1
        if not accelerator.sync_gradients:
            continue
        if ema_unet is not None:
            ema_unet.step(unet.parameters())
        global_step += 1
        progress_bar.update(1)
        progress_bar.set_postfix(loss=train_loss)
        accelerator.log({"bridge/loss": train_loss, "bridge/lr": lr_scheduler.get_last_lr()[0]}, step=global_step)
        train_loss = 0.0
        if global_step % args.checkpointing_steps == 0 or global_step == args.max_train_steps:
            save_checkpoint(accelerator, args.output_dir, global_step, args.checkpoints_total_limit)
        if (
            global_step % args.validation_steps == 0
            and global_step < args.max_train_steps
            and accelerator.is_main_process
        ):
            validate(global_step)
    progress_bar.close()

    # 6. The pipeline with the EMA weights, and a model card with its final validation scores.
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        metrics = validate(global_step)
        if ema_unet is not None:
            ema_unet.copy_to(accelerator.unwrap_model(unet).parameters())
        save_pipeline(pipeline, args.output_dir)
        unet_name = "custom" if args.unet_config or args.init_unet else args.model_preset
        details = {"UNet": unet_name, "cond_x1": args.cond_x1, "beta_max": args.beta_max, "ot_ode": args.ot_ode}
        write_model_card(args, pipeline, data.description, total_batch_size, metrics, details)
        if args.push_to_hub:
            push_to_hub(args.output_dir, args.hub_model_id, token=args.hub_token, private=args.hub_private_repo)
    accelerator.end_training()


if __name__ == "__main__":
    main(parse_args())
