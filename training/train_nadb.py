#!/usr/bin/env python
# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Train an NADB pipeline (Gao et al., "Resolving Endpoint Underfitting in Diffusion Bridges via Noise Alignment",
CVPR 2026) with accelerate: first the mean network M (plain regression to E[X0 | X1], paper Sec. 3.1), then the
noise-aligned bridge from the frozen M(X1) to X0.

    accelerate launch training/train_nadb.py --task jpeg10 --train_data_dir photos/ --output_dir out/nadb-jpeg10

``--stage mean|bridge|both`` (default both; a finished ``output_dir/mean_net`` is not trained again). The mean
network's checkpoints go to ``output_dir/mean_checkpoints/checkpoint-<step>``, the bridge's to
``output_dir/checkpoint-<step>`` (``accelerator.save_state`` folders with the network and its EMA as
``save_pretrained`` folders). ``--output_dir`` becomes an ``NADBPipeline`` folder (float32 and ``fp16`` weights)
with a model card.
"""

import argparse
import json
import logging
import os
import shutil
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from tqdm.auto import tqdm

from bridge_diffusers import MeanNetwork, NADBPipeline, NADBScheduler
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
from bridge_diffusers.training.losses import bridge_matching_loss, masked_mse, psnr_loss
from bridge_diffusers.training.model_card import launch_command, write_model_card
from bridge_diffusers.training.validation import log_validation


logger = get_logger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    add_unet_args(parser)
    group = parser.add_argument_group("NADB")
    add = group.add_argument
    add("--stage", choices=("mean", "bridge", "both"), default="both", help="the mean network, the bridge, or both")
    add("--alpha", type=float, default=0.4, help="the interpolant's exponent a: x_t = (1 - t^a) x0 + t^a x1 + ...")
    add("--k", type=float, default=0.75, help="the bridge noise scale")
    add("--threshold", type=float, default=None, help="the sampler's switch d; default (1 - alpha) / (2 - alpha)")
    add("--target_scale", type=float, default=1.0, help="2.0: the official runner's network predicts 2x the label")
    add("--no_mean_net", action="store_true", help="NADB without a mean network: the bridge starts at X1")
    add("--mean_net_path", default=None, help="a trained MeanNetwork folder (default: <output_dir>/mean_net)")
    add("--mean_max_train_steps", type=int, default=None, help="default: --max_train_steps")
    add("--mean_learning_rate", type=float, default=None, help="default: --learning_rate")
    add(
        "--mean_loss",
        choices=("mse", "psnr"),
        default="mse",
        help="the mean network's loss: mse (the paper's L_MSE), or psnr (minus the mean PSNR of the batch's "
        "images, which weighs flat images as the mean PSNR does; not in the paper)",
    )
    add(
        "--classical_mean_net",
        action="store_true",
        help="the mean network learns a residual on the task's "
        "classical restoration, M(X1) = C(X1) + R([X1, C(X1)]) (not in the paper; default: the paper's M(X1))",
    )
    add_training_args(parser)
    args = parser.parse_args(argv)
    check_args(parser, args)
    if args.no_mean_net and args.stage == "mean":
        parser.error("--stage mean trains the mean network that --no_mean_net leaves out")
    if args.classical_mean_net and (args.no_mean_net or args.task is None):
        parser.error("--classical_mean_net needs a mean network and a --task with a classical restorer")
    args.stage = "bridge" if args.no_mean_net else args.stage
    args.mean_max_train_steps = args.mean_max_train_steps or args.max_train_steps
    args.mean_learning_rate = args.mean_learning_rate or args.learning_rate
    args.command = launch_command(None if argv is None else [__file__, *argv])
    return args


def train(args, accelerator, data, name, model, max_steps, learning_rate, checkpoint_dir, compute_loss, restore):
    """Trains ``model`` (the mean network or the bridge UNet) for ``max_steps`` optimiser steps, resuming from
    ``checkpoint_dir``; returns the unwrapped model carrying its EMA weights and its last validation scores.

    ``compute_loss(model, clean, degraded, mask, generator)`` is the stage's loss; ``restore(model)`` restores the
    validation images (`(B, C, H, W)` in [-1, 1]).
    """
    model_cls, subfolder = type(model), "mean_net" if isinstance(model, MeanNetwork) else "unet"
    if args.gradient_checkpointing:
        getattr(model, "unet", model).enable_gradient_checkpointing()
    ema = None
    if args.use_ema:
        ema = EMAModel(model.parameters(), model_cls=model_cls, model_config=model.config, **ema_options(args))

    # Checkpoints hold the network and its EMA as save_pretrained folders; accelerate saves the rest.
    def save_model_hook(models, weights, output_dir):
        if accelerator.is_main_process:
            if ema is not None:
                ema.save_pretrained(os.path.join(output_dir, f"{subfolder}_ema"))
            for saved in models:
                accelerator.unwrap_model(saved).save_pretrained(os.path.join(output_dir, subfolder))
                weights.pop()

    def load_model_hook(models, input_dir):
        if ema is not None:
            loaded = EMAModel.from_pretrained(os.path.join(input_dir, f"{subfolder}_ema"), model_cls)
            ema.load_state_dict(loaded.state_dict())
            ema.to(accelerator.device)
        while models:
            loaded = model_cls.from_pretrained(input_dir, subfolder=subfolder)
            accelerator.unwrap_model(models.pop()).load_state_dict(loaded.state_dict())

    hooks = [accelerator.register_save_state_pre_hook(save_model_hook)]
    hooks.append(accelerator.register_load_state_pre_hook(load_model_hook))

    adam = dict(betas=(args.adam_beta1, args.adam_beta2), weight_decay=args.adam_weight_decay, eps=args.adam_epsilon)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, **adam)
    warmup, steps = args.lr_warmup_steps * accelerator.num_processes, max_steps * accelerator.num_processes
    lr_scheduler = get_scheduler(args.lr_scheduler, optimizer, num_warmup_steps=warmup, num_training_steps=steps)
    train_dataloader = training_dataloader(data.train, args)
    model, optimizer, train_dataloader, lr_scheduler = accelerator.prepare(
        model, optimizer, train_dataloader, lr_scheduler
    )
    if ema is not None:
        ema.to(accelerator.device)

    def validate(step: int) -> dict[str, float]:
        """Restores the validation batch with the EMA weights (main process), scores and logs it."""
        unwrapped = accelerator.unwrap_model(model)
        if ema is not None:
            ema.store(unwrapped.parameters())
            ema.copy_to(unwrapped.parameters())
        with torch.no_grad():
            restored = restore(unwrapped)
        if ema is not None:
            ema.restore(unwrapped.parameters())
        val = data.validation
        return log_validation(accelerator, name, restored, val.clean, val.degraded, step, args.output_dir)

    # Resume, then train. The times and noise of micro-step n come from a generator seeded by (seed, n, process)
    # and the data by item index, so a resumed run replays the uninterrupted one.
    global_step = load_checkpoint(accelerator, checkpoint_dir, args.resume_from_checkpoint)
    micro_step, train_loss = global_step * args.gradient_accumulation_steps, 0.0
    progress_bar = tqdm(total=max_steps, initial=global_step, desc=name, disable=not accelerator.is_local_main_process)
    model.train()
    for batch in accelerator.skip_first_batches(train_dataloader, micro_step):
        if global_step >= max_steps:
            break
        generator = step_generator(args.seed, micro_step, accelerator.process_index, accelerator.device)
        clean, degraded, mask = batch["pixel_values"], batch["conditioning_pixel_values"], batch.get("mask")
        with accelerator.accumulate(model):
            loss = compute_loss(model, clean, degraded, mask, generator)
            avg_loss = accelerator.gather(loss.detach().repeat(args.train_batch_size)).mean()  # over processes
            train_loss += avg_loss.item() / args.gradient_accumulation_steps
            accelerator.backward(loss)
            if accelerator.sync_gradients and args.max_grad_norm > 0:
                accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
            optimizer.step()
            lr_scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        logger.debug(f"process {accelerator.process_index} micro-step {micro_step} loss {loss.item()!r}",
                     main_process_only=False)  # fmt: skip
        micro_step += 1
        if not accelerator.sync_gradients:
            continue
        if ema is not None:
            ema.step(model.parameters())
        global_step += 1
        progress_bar.update(1)
        progress_bar.set_postfix(loss=train_loss)
        accelerator.log({f"{name}/loss": train_loss, f"{name}/lr": lr_scheduler.get_last_lr()[0]}, step=global_step)
        train_loss = 0.0
        if global_step % args.checkpointing_steps == 0 or global_step == max_steps:
            save_checkpoint(accelerator, checkpoint_dir, global_step, args.checkpoints_total_limit)
        if global_step % args.validation_steps == 0 and global_step < max_steps and accelerator.is_main_process:
            validate(global_step)
    progress_bar.close()

    accelerator.wait_for_everyone()
    metrics = validate(global_step) if accelerator.is_main_process else {}
    model = accelerator.unwrap_model(model)
    if ema is not None:
        ema.copy_to(model.parameters())
    for hook in hooks:
        hook.remove()
    accelerator.free_memory()  # the next stage prepares (and checkpoints) only its own objects
    return model, metrics


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

    # Clean crops degraded on the fly by --task (or paired data): one pass over the dataset covers each stage.
    total_batch_size = args.train_batch_size * accelerator.num_processes * args.gradient_accumulation_steps
    with accelerator.main_process_first():
        data = build_training_data(args, max(args.max_train_steps, args.mean_max_train_steps) * total_batch_size)
    logger.info(f"Data: {data.description}. Total batch size {total_batch_size}.")
    if accelerator.is_main_process:
        accelerator.init_trackers(
            "train_nadb", {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str))}
        )

    # 1. The mean network: regression to E[X0 | X1], saved to output_dir/mean_net with its validation scores.
    mean_net, mean_metrics = None, {}
    mean_dir = Path(args.mean_net_path or os.path.join(args.output_dir, "mean_net"))
    if args.stage != "bridge" and not (mean_dir / "config.json").exists():

        def mean_loss(net, clean, degraded, mask, generator):
            if args.mean_loss == "psnr":
                return psnr_loss(net(degraded, mask), clean, mask)
            return masked_mse(net(degraded, mask), clean)  # L_MSE = E ||M(X1) - X0||^2 (official)

        def mean_restore(net):
            val = data.validation
            mask = None if val.mask is None else val.mask.to(accelerator.device)
            return net(val.degraded.to(accelerator.device), mask).float().cpu()

        classical = args.task if args.classical_mean_net else None  # R sees [X1, C(X1)]: the cond_x1 layout
        mean_net = MeanNetwork.from_unet(build_unet(args, cond_x1=classical is not None), classical=classical)
        steps, checkpoints = args.mean_max_train_steps, Path(args.output_dir) / "mean_checkpoints"
        mean_net, mean_metrics = train(args, accelerator, data, "mean", mean_net, steps, args.mean_learning_rate,
                                       checkpoints, mean_loss, mean_restore)  # fmt: skip
        if accelerator.is_main_process:  # written whole, then renamed: a run killed here trains it again
            partial = mean_dir.with_name("mean_net.partial")
            shutil.rmtree(partial, ignore_errors=True)
            mean_net.save_pretrained(partial)
            (partial / "validation_metrics.json").write_text(json.dumps(mean_metrics, indent=2))
            os.replace(partial, mean_dir)
        accelerator.wait_for_everyone()
    if args.stage == "mean":
        accelerator.end_training()
        return
    if not args.no_mean_net:
        if not (mean_dir / "config.json").exists():
            raise SystemExit(f"--stage bridge needs a trained mean network at {mean_dir}: run --stage mean first, "
                             "pass --mean_net_path, or use --no_mean_net.")  # fmt: skip
        mean_net = MeanNetwork.from_pretrained(mean_dir).requires_grad_(False).eval().to(accelerator.device)
        if (mean_dir / "validation_metrics.json").exists() and not mean_metrics:
            mean_metrics = json.loads((mean_dir / "validation_metrics.json").read_text())

    # 2. The bridge from the frozen M(X1) (known pixels written in under a mask) to X0, built from the pipeline's
    # own endpoint so that training and sampling start from the same image. Seeded again: the same initial weights
    # whether or not this process trained the mean network.
    set_seed(args.seed + 1)
    scheduler = NADBScheduler(alpha=args.alpha, k=args.k, threshold=args.threshold, target_scale=args.target_scale)
    pipeline = NADBPipeline(unet=build_unet(args), scheduler=scheduler, mean_net=mean_net, task=args.task)
    pipeline.set_progress_bar_config(disable=True)

    def bridge_loss(unet, clean, degraded, mask, generator):
        inputs = pipeline.prepare_endpoint(degraded, mask, generator=generator)
        condition = inputs.condition if pipeline.cond_x1 else None  # the raw X1, never M(X1)
        return bridge_matching_loss(unet, scheduler, clean, inputs.endpoint, condition, mask, generator)

    def bridge_restore(unet):
        val, generator = data.validation, torch.Generator().manual_seed(args.seed)
        return pipeline.restore(val.degraded, val.mask, args.validation_inference_steps, generator)

    steps, learning_rate = args.max_train_steps, args.learning_rate
    _, metrics = train(args, accelerator, data, "bridge", pipeline.unet, steps, learning_rate, args.output_dir,
                       bridge_loss, bridge_restore)  # fmt: skip

    # 3. The pipeline with the EMA weights, and a model card with both stages' validation scores.
    if accelerator.is_main_process:
        save_pipeline(pipeline, args.output_dir)
        metrics = {**{f"mean network {key}": value for key, value in mean_metrics.items()}, **metrics}
        unet_name = "custom" if args.unet_config or args.init_unet else args.model_preset
        details = {"UNet": unet_name, "cond_x1": args.cond_x1, "alpha": args.alpha, "k": args.k}
        details.update({"mean network": mean_net is not None, "mean-network steps": args.mean_max_train_steps})
        write_model_card(args, pipeline, data.description, total_batch_size, metrics, details)
        if args.push_to_hub:
            push_to_hub(args.output_dir, args.hub_model_id, token=args.hub_token, private=args.hub_private_repo)
    accelerator.end_training()


if __name__ == "__main__":
    main(parse_args())
