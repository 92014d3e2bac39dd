#!/usr/bin/env python
# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Distil a trained I2SB or NADB pipeline into a one- or few-step IBMD student (Gushchin et al., "Inverse Bridge
Matching Distillation", ICML 2025, Algorithm 1) with accelerate.

    accelerate launch training/train_ibmd.py --teacher out/nadb-jpeg10 --task jpeg10 --train_data_dir photos/ \\
        --output_dir out/ibmd-jpeg10

Three networks: the frozen teacher, a fake bridge model and the generator, the latter two initialised from the
teacher (the generator's noise channels start at zero, so it starts as the teacher's x0 prediction at t = T). Each
optimiser step is ``--fake_steps_per_generator_step`` fake-model updates (bridge matching on the generator's
samples), then one generator update (teacher error minus fake error on the same x0, t, x_t), each on its own batch.
Memory: about three copies of the teacher's weights and two AdamW states plus the activations of the generator's
rollout and of both bridge networks; ``--mixed_precision bf16`` and ``--gradient_checkpointing`` cut the latter.
``--output_dir`` becomes an ``IBMDPipeline`` folder (``IBMDDegradedInputPipeline`` for ``--student_input
degraded``; float32 and ``fp16`` weights) with a model card; checkpoints are ``accelerator.save_state`` folders
``checkpoint-<step>`` with the generator, its EMA and the fake model as ``save_pretrained`` folders.
"""

import argparse
import copy
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

from bridge_diffusers import I2SBPipeline, IBMDDegradedInputPipeline, IBMDPipeline, NADBPipeline
from bridge_diffusers.methods import method_of
from bridge_diffusers.pipelines import load_pipeline
from bridge_diffusers.training.args import add_data_args, add_training_args, check_args, ema_options
from bridge_diffusers.training.checkpoints import load_checkpoint, save_checkpoint, step_generator
from bridge_diffusers.training.data import build_training_data, training_dataloader
from bridge_diffusers.training.hub import push_to_hub, save_pipeline
from bridge_diffusers.training.ibmd import fake_model_loss, generator_loss, x0_predictor
from bridge_diffusers.training.model_card import launch_command, write_model_card
from bridge_diffusers.training.validation import log_validation


logger = get_logger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_argument_group("distillation (IBMD)")
    add = group.add_argument
    add("--teacher", required=True, help="a trained I2SB or NADB pipeline (folder or Hub repo id)")
    add("--num_student_steps", type=int, default=1, help="1 (one-step) or N (few-step) student")
    add("--noise_channels", type=int, default=3, help="input channels of the generator's noise z")
    add("--no_noise", action="store_true", help="no z input (e.g. inpainting, where the hole is noise)")
    add("--student_input", choices=("endpoint", "degraded"), default="endpoint", help="'degraded' (NADB teachers): "
        "start from the mean network and feed the degraded image itself, one network call per image")  # fmt: skip
    add("--fake_steps_per_generator_step", type=int, default=5, help="L of the paper's L:K = 5:1")
    add("--fake_learning_rate", type=float, default=None, help="default: --learning_rate")
    add("--weighting", choices=("teacher", "uniform"), default="teacher", help="lambda(t): the teacher's or 1")
    add_data_args(parser)
    add_training_args(parser)
    args = parser.parse_args(argv)
    check_args(parser, args)
    if args.gradient_accumulation_steps != 1:
        parser.error("IBMD alternates fake-model and generator updates: --gradient_accumulation_steps must be 1")
    if args.num_student_steps < 1 or args.fake_steps_per_generator_step < 1 or args.noise_channels < 0:
        parser.error("--num_student_steps and --fake_steps_per_generator_step must be >= 1, --noise_channels >= 0")
    if args.student_input == "degraded" and args.num_student_steps != 1:
        parser.error("a --student_input degraded student is one-step: drop --num_student_steps")
    if os.path.sep in args.teacher and not os.path.isdir(args.teacher):
        parser.error(f"--teacher {args.teacher!r} is not a folder (nor a Hub repo id)")
    args.noise_channels = 0 if args.no_noise else args.noise_channels
    args.fake_learning_rate = args.fake_learning_rate or args.learning_rate
    args.command = launch_command(None if argv is None else [__file__, *argv])
    return args


def main(args: argparse.Namespace) -> None:
    logging_dir = os.path.join(args.output_dir, args.logging_dir)
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision,
        log_with=None if args.report_to == "none" else args.report_to,
        project_config=ProjectConfiguration(project_dir=args.output_dir, logging_dir=logging_dir),
    )
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    logger.info(accelerator.state, main_process_only=False)
    if args.allow_tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
    set_seed(args.seed)
    if accelerator.is_main_process:
        os.makedirs(args.output_dir, exist_ok=True)

    # 1. The frozen teacher, the student (its generator a copy of the teacher's network with zero-initialised noise
    # channels) and the fake bridge model (a trainable copy of the teacher's network).
    teacher = load_pipeline(args.teacher)
    if not isinstance(teacher, (I2SBPipeline, NADBPipeline)):
        raise SystemExit(f"--teacher must be an I2SB or NADB pipeline, got a {type(teacher).__name__}.")
    if args.student_input == "degraded":
        student = IBMDDegradedInputPipeline.from_teacher(teacher, args.noise_channels)
    else:
        student = IBMDPipeline.from_teacher(teacher, args.num_student_steps, args.noise_channels)
    if student.task is None:  # a teacher saved before pipelines knew their task
        student.register_task(args.task)
    student.set_progress_bar_config(disable=True)
    for frozen in (teacher.unet, getattr(teacher, "mean_net", None), getattr(student, "mean_net", None)):
        if frozen is not None:
            frozen.requires_grad_(False).eval().to(accelerator.device)
    bridge = teacher.scheduler  # the teacher's bridge: its training times, marginal and lambda(t)
    generator_net, fake_net = student.unet.train(), copy.deepcopy(teacher.unet).requires_grad_(True).train()
    if args.gradient_checkpointing:
        generator_net.enable_gradient_checkpointing()
        fake_net.enable_gradient_checkpointing()
    ema_unet = None
    if args.use_ema:
        ema_unet = EMAModel(generator_net.parameters(), model_cls=UNet2DModel, model_config=generator_net.config,
                            **ema_options(args))  # fmt: skip

    # 2. Checkpoints hold the generator, its EMA and the fake model as save_pretrained folders.
    def save_model_hook(models, weights, output_dir):
        if accelerator.is_main_process:
            if ema_unet is not None:
                ema_unet.save_pretrained(os.path.join(output_dir, "unet_ema"))
            for model in models:
                model = accelerator.unwrap_model(model)
                model.save_pretrained(os.path.join(output_dir, "unet" if model is student.unet else "fake_unet"))
                weights.pop()

    def load_model_hook(models, input_dir):
        if ema_unet is not None:
            loaded = EMAModel.from_pretrained(os.path.join(input_dir, "unet_ema"), UNet2DModel)
            ema_unet.load_state_dict(loaded.state_dict())
            ema_unet.to(accelerator.device)
        while models:
            model = accelerator.unwrap_model(models.pop())
            subfolder = "unet" if model is student.unet else "fake_unet"
            model.load_state_dict(UNet2DModel.from_pretrained(input_dir, subfolder=subfolder).state_dict())

    accelerator.register_save_state_pre_hook(save_model_hook)
    accelerator.register_load_state_pre_hook(load_model_hook)

    # 3. One optimiser and learning-rate schedule per network; the fake model takes L updates per step.
    adam = dict(betas=(args.adam_beta1, args.adam_beta2), weight_decay=args.adam_weight_decay, eps=args.adam_epsilon)
    generator_optimizer = torch.optim.AdamW(generator_net.parameters(), lr=args.learning_rate, **adam)
    fake_optimizer = torch.optim.AdamW(fake_net.parameters(), lr=args.fake_learning_rate, **adam)
    n, fake_steps = accelerator.num_processes, args.fake_steps_per_generator_step
    warmup, steps = args.lr_warmup_steps * n, args.max_train_steps * n
    generator_lr_scheduler = get_scheduler(
        args.lr_scheduler, generator_optimizer, num_warmup_steps=warmup, num_training_steps=steps
    )
    fake_lr_scheduler = get_scheduler(
        args.lr_scheduler, fake_optimizer, num_warmup_steps=warmup * fake_steps, num_training_steps=steps * fake_steps
    )

    # 4. Degraded images only matter (x_T ~ p(x_T)); each update takes its own batch.
    batches_per_step = fake_steps + 1
    with accelerator.main_process_first():
        data = build_training_data(args, args.max_train_steps * batches_per_step * args.train_batch_size * n)
    logger.info(f"Teacher: {method_of(teacher).title} pipeline {args.teacher}. Data: {data.description}.")
    train_dataloader = training_dataloader(data.train, args)
    prepared = accelerator.prepare(generator_net, fake_net, generator_optimizer, fake_optimizer, train_dataloader,
                                   generator_lr_scheduler, fake_lr_scheduler)  # fmt: skip
    generator_net, fake_net, generator_optimizer, fake_optimizer, train_dataloader = prepared[:5]
    generator_lr_scheduler, fake_lr_scheduler = prepared[5:]
    fake_module = accelerator.unwrap_model(fake_net)
    if ema_unet is not None:
        ema_unet.to(accelerator.device)
    if accelerator.is_main_process:
        accelerator.init_trackers(
            "train_ibmd", {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str))}
        )

    def rollout(inputs, degraded, mask, generator, enable_grad):
        """The student's x0, from the generator being trained (differentiable with ``enable_grad``)."""
        if args.student_input == "degraded":
            return student.generate(degraded, mask, generator, network=generator_net, enable_grad=enable_grad)
        return student.sample(inputs, mask, generator=generator, network=generator_net, enable_grad=enable_grad).sample

    def validate(step: int) -> dict[str, float]:
        """Restores the validation batch with the EMA weights (main process), scores and logs it."""
        weights = accelerator.unwrap_model(generator_net).parameters
        if ema_unet is not None:
            ema_unet.store(weights())
            ema_unet.copy_to(weights())
        val = data.validation
        restored = student.restore(val.degraded, val.mask, generator=torch.Generator().manual_seed(args.seed))
        if ema_unet is not None:
            ema_unet.restore(weights())
        return log_validation(accelerator, "ibmd", restored, val.clean, val.degraded, step, args.output_dir)

    # 5. Resume, then distil (Algorithm 1). Every draw of micro-step n comes from a generator seeded by (seed, n,
    # process) and the data by item index, so a resumed run replays the uninterrupted one.
    global_step = load_checkpoint(accelerator, args.output_dir, args.resume_from_checkpoint)
    micro_step, fake_loss = global_step * batches_per_step, 0.0
    progress_bar = tqdm(total=args.max_train_steps, initial=global_step, disable=not accelerator.is_local_main_process)
    for batch in accelerator.skip_first_batches(train_dataloader, micro_step):
        if global_step >= args.max_train_steps:
            break
        generator = step_generator(args.seed, micro_step, accelerator.process_index, accelerator.device)
        degraded, mask = batch["conditioning_pixel_values"], batch.get("mask")
        fake_step = micro_step % batches_per_step < fake_steps
        micro_step += 1
        with accelerator.autocast():  # the forward passes; the backward runs outside autocast
            # The teacher's x_T (and cond_x1 input), where the endpoint student's rollout starts too.
            inputs = teacher.prepare_endpoint(degraded, mask, generator=generator)
            condition = inputs.condition if teacher.cond_x1 else None
            if fake_step:  # phi-step: ordinary bridge matching on the generator's own samples
                x0 = rollout(inputs, degraded, mask, generator, enable_grad=False)
                fake = x0_predictor(bridge, fake_net, condition)
                loss = fake_model_loss(bridge, fake, x0, inputs.endpoint, generator, mask, args.weighting)
            else:  # theta-step: the teacher's error minus the fake model's on one shared (x0, t, x_t)
                fake_module.requires_grad_(False)
                x0 = rollout(inputs, degraded, mask, generator, enable_grad=True)
                teacher_x0 = x0_predictor(bridge, teacher.unet, condition)
                fake = x0_predictor(bridge, fake_module, condition)
                loss = generator_loss(bridge, teacher_x0, fake, x0, inputs.endpoint, generator, mask, args.weighting)
        network, optimizer, lr_scheduler = (
            (fake_net, fake_optimizer, fake_lr_scheduler)
            if fake_step
            else (generator_net, generator_optimizer, generator_lr_scheduler)
        )
        accelerator.backward(loss)
        if args.max_grad_norm > 0:
            accelerator.clip_grad_norm_(network.parameters(), args.max_grad_norm)
        optimizer.step()
        lr_scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        avg_loss = accelerator.gather(loss.detach().repeat(args.train_batch_size)).mean().item()  # over processes
        logger.debug(f"process {accelerator.process_index} micro-step {micro_step - 1} loss {loss.item()!r}",
                     main_process_only=False)  # fmt: skip
        if fake_step:
            fake_loss += avg_loss / fake_steps
            continue
        fake_module.requires_grad_(True)
        if ema_unet is not None:
            ema_unet.step(generator_net.parameters())
        global_step += 1
        progress_bar.update(1)
        progress_bar.set_postfix(loss=avg_loss)
        logs = {"ibmd/generator_loss": avg_loss, "ibmd/fake_loss": fake_loss, "ibmd/lr": lr_scheduler.get_last_lr()[0],
                "ibmd/fake_lr": fake_lr_scheduler.get_last_lr()[0]}  # fmt: skip
        accelerator.log(logs, step=global_step)
        fake_loss = 0.0
        if global_step % args.checkpointing_steps == 0 or global_step == args.max_train_steps:
            save_checkpoint(accelerator, args.output_dir, global_step, args.checkpoints_total_limit)
        if (
            global_step % args.validation_steps == 0
            and global_step < args.max_train_steps
            and accelerator.is_main_process
        ):
            validate(global_step)
    progress_bar.close()

    # 6. The student with the EMA weights, and a model card with its final validation scores.
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        metrics = validate(global_step)
        if ema_unet is not None:
            ema_unet.copy_to(accelerator.unwrap_model(generator_net).parameters())
        save_pipeline(student, args.output_dir)
        details = {"teacher": f"{method_of(teacher).title} pipeline {args.teacher}", "lambda(t)": args.weighting}
        details.update({"student steps": args.num_student_steps, "student input": args.student_input})
        details.update({"noise channels": args.noise_channels, "fake:generator updates": f"{fake_steps}:1"})
        base_model = None if os.path.isdir(args.teacher) else args.teacher
        write_model_card(args, student, data.description, args.train_batch_size * n, metrics, details, base_model)
        if args.push_to_hub:
            push_to_hub(args.output_dir, args.hub_model_id, token=args.hub_token, private=args.hub_private_repo)
    accelerator.end_training()


if __name__ == "__main__":
    main(parse_args())
