# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""IBMD distillation of a trained I2SB or NADB pipeline into a one- or few-step ``IBMDPipeline`` (paper Alg. 1).

Three networks: the frozen teacher, a trainable fake bridge model and the generator, the latter two initialised
from the teacher (the generator's noise channels start at zero, so it starts as the teacher's ``x0`` prediction at
t = T). Every optimiser step is ``L`` fake-model updates (``--fake_steps_per_generator_step``, 5 by default)
followed by one generator update, each on its own batch. Memory: about three copies of the teacher's weights and
two AdamW states (the teacher has none) plus the activations of the generator's rollout and of the two bridge
networks' forward and backward passes, against one copy, one AdamW state and one forward/backward for teacher
training; ``--mixed_precision bf16`` and ``--gradient_checkpointing`` reduce the activations.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path

import torch
from accelerate.utils import set_seed
from diffusers.utils.torch_utils import randn_tensor
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..models.bridge_unet import unet_forward
from ..pipelines import load_pipeline
from ..pipelines.endpoint import prepare_bridge_inputs
from ..pipelines.pipeline_i2sb import I2SBPipeline
from ..pipelines.pipeline_ibmd import IBMDPipeline
from ..pipelines.pipeline_nadb import NADBPipeline
from .checkpoints import save_checkpoint
from .config import parse_args
from .data import TrainingData, build_training_data, make_pair
from .hub import push_folder_to_hub
from .ibmd import X0Predictor, fake_model_loss, generator_loss
from .model_card import TrainingReport, launch_command, write_model_card
from .trainer import Stage, _make_ema, _resume_step, _validate, build_accelerator, step_generator
from .validation import score_restorations


__all__ = ["load_teacher", "main", "student_x0"]


def load_teacher(path: str) -> I2SBPipeline | NADBPipeline:
    """The teacher pipeline, I2SB or NADB (a folder or a Hub repo id)."""
    teacher = load_pipeline(path)
    if not isinstance(teacher, (I2SBPipeline, NADBPipeline)):
        raise SystemExit(f"--teacher must be an I2SB or NADB pipeline, got a {type(teacher).__name__} at {path}.")
    return teacher


def _noise(like: torch.Tensor, channels: int, generator: torch.Generator) -> torch.Tensor | None:
    if not channels:
        return None
    shape = (like.shape[0], channels, *like.shape[2:])
    return randn_tensor(shape, generator=generator, device=like.device, dtype=like.dtype)


def student_x0(
    student: IBMDPipeline,
    generator_net: torch.nn.Module,
    endpoint: torch.Tensor,
    degraded: torch.Tensor,
    condition: torch.Tensor | None,
    mask: torch.Tensor | None,
    generator: torch.Generator,
) -> torch.Tensor:
    """The student's sample, differentiable in the generator's weights (the rollout of paper Sec. 3.5).

    Args:
        student: the student pipeline (its scheduler and config; ``generator_net`` may be its DDP-wrapped UNet).
        generator_net: the generator network.
        endpoint (`torch.Tensor` of shape `(B, C, H, W)`): the teacher's ``x_T``.
        degraded (`torch.Tensor` of shape `(B, C, H, W)`): the degraded image (input of a degraded-input student).
        condition (`torch.Tensor`, *optional*): the ``cond_x1`` input.
        mask (`torch.Tensor` of shape `(B, 1, H, W)`, *optional*): inpainting hole; known pixels are copied.
        generator (`torch.Generator`): ``z`` and the posterior noise.

    Returns:
        `torch.Tensor` of shape `(B, C, H, W)`: ``x0 = G(...)``.
    """
    config = student.config
    if config.student_input == "degraded":
        x0 = unet_forward(
            generator_net,
            degraded,
            config.degraded_student_time,
            noise=_noise(degraded, config.noise_channels, generator),
        )
        return x0 if mask is None else mask * x0 + (1.0 - mask) * degraded
    scheduler = student.scheduler
    scheduler.set_timesteps(device=endpoint.device)
    sample = endpoint
    for t in scheduler.timesteps:
        z = _noise(sample, config.noise_channels, generator)
        output = unet_forward(generator_net, sample, scheduler.model_time(t), condition=condition, noise=z)
        sample = scheduler.step(output, t, sample, generator=generator, endpoint=endpoint, mask=mask).prev_sample
    return sample


def _x0_predictor(scheduler, network: torch.nn.Module, condition: torch.Tensor | None) -> X0Predictor:
    """A bridge network in the teacher's ``x0`` parameterisation."""

    def predict(x_t: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        output = unet_forward(network, x_t, scheduler.model_time(timesteps), condition=condition)
        return scheduler.pred_original_sample(output, timesteps, x_t)

    return predict


def _with_generator(student: IBMDPipeline, generator_net: torch.nn.Module) -> IBMDPipeline:
    """The student pipeline around (a trained copy of) its generator network."""
    keys = ("noise_channels", "student_input", "degraded_student_time")
    return IBMDPipeline(
        generator_net, student.scheduler, student.mean_net, **{key: student.config[key] for key in keys}
    )


def _student_validation(args, student: IBMDPipeline, data: TrainingData):
    def validate(generator_net: torch.nn.Module, step: int):
        pipe = _with_generator(student, generator_net)
        pipe.set_progress_bar_config(disable=True)
        pair = data.validation
        restored01 = pipe(
            ((pair.degraded + 1) / 2).clamp(0, 1),
            mask=pair.mask,
            generator=torch.Generator().manual_seed(args.seed),
            output_type="pt",
        ).images
        restored = restored01 * 2 - 1
        return score_restorations(restored, pair.clean), restored

    return validate


def distil(args: argparse.Namespace) -> None:
    """Runs IBMD and writes the student pipeline folder with its model card."""
    accelerator = build_accelerator(args)
    set_seed(args.seed)
    os.makedirs(args.output_dir, exist_ok=True)
    teacher = load_teacher(args.teacher)
    method = "i2sb" if isinstance(teacher, I2SBPipeline) else "nadb"
    student = IBMDPipeline.from_teacher(teacher, args.num_student_steps, args.noise_channels, args.student_input)
    device = accelerator.device
    teacher_scheduler = teacher.scheduler
    teacher_unet = teacher.unet.requires_grad_(False).eval().to(device)
    teacher_mean = (
        teacher.mean_net.requires_grad_(False).eval().to(device) if method == "nadb" and teacher.mean_net else None
    )
    if student.mean_net is not None:
        student.mean_net.requires_grad_(False).eval().to(device)
    generator_net, fake_net = student.unet.train(), copy.deepcopy(teacher.unet).requires_grad_(True).train()
    if args.gradient_checkpointing:
        generator_net.enable_gradient_checkpointing()
        fake_net.enable_gradient_checkpointing()

    batches_per_step = args.fake_steps_per_generator_step + 1
    samples = args.max_train_steps * batches_per_step * args.train_batch_size * accelerator.num_processes
    data = build_training_data(args, samples)
    accelerator.print(f"teacher: {method.upper()} from {args.teacher}; data: {data.description}")
    if accelerator.is_main_process:
        accelerator.init_trackers(
            "train_ibmd", config={k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool))}
        )

    adam = dict(betas=(args.adam_beta1, args.adam_beta2), weight_decay=args.adam_weight_decay, eps=args.adam_epsilon)
    generator_optimizer = torch.optim.AdamW(generator_net.parameters(), lr=args.learning_rate, **adam)
    fake_optimizer = torch.optim.AdamW(fake_net.parameters(), lr=args.fake_learning_rate, **adam)
    loader = DataLoader(data.train, batch_size=args.train_batch_size, shuffle=False, drop_last=True,
                        num_workers=args.dataloader_num_workers, pin_memory=torch.cuda.is_available())  # fmt: skip
    ema = _make_ema(args, generator_net)
    generator_net, fake_net, generator_optimizer, fake_optimizer, loader = accelerator.prepare(
        generator_net, fake_net, generator_optimizer, fake_optimizer, loader
    )
    extra_state = {"ema": ema} if ema is not None else {}
    if ema is not None:
        ema.to(device)
    stage = Stage("ibmd", generator_net, None, Path(args.output_dir), args.max_train_steps, args.learning_rate,
                  _student_validation(args, student, data))  # fmt: skip
    global_step = _resume_step(args, accelerator, stage, extra_state)
    batches = accelerator.skip_first_batches(loader, global_step * batches_per_step)
    micro_step = global_step * batches_per_step
    fake_module = accelerator.unwrap_model(fake_net)
    progress = tqdm(
        total=args.max_train_steps, initial=global_step, desc="ibmd", disable=not accelerator.is_local_main_process
    )
    metrics: dict[str, float] = {}
    validated_step = None
    while global_step < args.max_train_steps:
        for batch in batches:
            rng = step_generator(args.seed, micro_step, accelerator.process_index, device)
            pair = make_pair(batch)
            phase = micro_step % batches_per_step
            micro_step += 1
            with accelerator.autocast():
                inputs = prepare_bridge_inputs(teacher_scheduler, pair.degraded, pair.mask, teacher_mean, rng)
                endpoint, condition = inputs.endpoint, inputs.condition if teacher.cond_x1 else None
                if phase < args.fake_steps_per_generator_step:
                    # phi-step: ordinary bridge matching on the generator's own samples.
                    with torch.no_grad():
                        x0 = student_x0(student, generator_net, endpoint, pair.degraded, condition, pair.mask, rng)
                    fake = _x0_predictor(teacher_scheduler, fake_net, condition)
                    loss = fake_model_loss(teacher_scheduler, fake, x0, endpoint, rng, pair.mask, args.weighting)
                    _optimise(accelerator, args, loss, fake_net, fake_optimizer)
                    continue
                # theta-step: teacher error minus fake error on one shared (x0, t, x_t).
                fake_module.requires_grad_(False)
                x0 = student_x0(student, generator_net, endpoint, pair.degraded, condition, pair.mask, rng)
                loss = generator_loss(
                    teacher_scheduler,
                    _x0_predictor(teacher_scheduler, teacher_unet, condition),
                    _x0_predictor(teacher_scheduler, fake_module, condition),
                    x0, endpoint, rng, pair.mask, args.weighting,
                )  # fmt: skip
            _optimise(accelerator, args, loss, generator_net, generator_optimizer)
            fake_module.requires_grad_(True)
            if ema is not None:
                ema.step(generator_net.parameters())
            global_step += 1
            progress.update(1)
            accelerator.log({"ibmd/generator_loss": loss.detach().item()}, step=global_step)
            if global_step % args.checkpointing_steps == 0 or global_step == args.max_train_steps:
                save_checkpoint(
                    accelerator, stage.checkpoint_dir, global_step, args.checkpoints_total_limit, extra_state
                )
            if global_step % args.validation_steps == 0 or global_step == args.max_train_steps:
                metrics = _validate(args, accelerator, stage, generator_net, ema, global_step, data)
                validated_step = global_step
            if global_step >= args.max_train_steps:
                break
        batches = loader
    progress.close()
    # Resumed from the final checkpoint: the card still needs its scores. Decided on the step, which every
    # process knows, not on `metrics`, which only the main process fills (a barrier would be left waiting).
    if validated_step != global_step:
        metrics = _validate(args, accelerator, stage, generator_net, ema, global_step, data)
    accelerator.wait_for_everyone()
    trained = accelerator.unwrap_model(generator_net)
    if ema is not None:
        ema.copy_to(trained.parameters())
    if accelerator.is_main_process:
        _save_student(args, accelerator, student, trained, method, data, metrics)
    accelerator.end_training()


def _optimise(accelerator, args, loss, network, optimizer) -> None:
    accelerator.backward(loss)
    if args.max_grad_norm > 0:
        accelerator.clip_grad_norm_(network.parameters(), args.max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _save_student(args, accelerator, student: IBMDPipeline, generator_net, method, data, metrics) -> None:
    _with_generator(student, generator_net).save_pretrained(args.output_dir)
    report = TrainingReport(
        method="ibmd",
        task=args.task or "paired translation",
        data=data.description,
        steps=args.max_train_steps,
        resolution=args.resolution,
        batch_size=args.train_batch_size * accelerator.num_processes,
        command=args.command,
        validation_metrics=metrics,
        base_model=args.teacher if not os.path.isdir(args.teacher) else None,
        extra={
            "teacher": f"{method.upper()} pipeline {args.teacher}",
            "student steps": str(args.num_student_steps),
            "student input": args.student_input,
            "noise channels": str(args.noise_channels),
            "fake:generator updates": f"{args.fake_steps_per_generator_step}:1",
            "lambda(t)": args.weighting,
        },
    )
    write_model_card(args.output_dir, report)
    if args.push_to_hub:
        push_folder_to_hub(args.output_dir, args.hub_model_id, token=args.hub_token, private=args.hub_private_repo)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``training/train_ibmd.py``."""
    args = parse_args("ibmd", argv)
    args.command = launch_command(sys.argv if argv is None else ["training/train_ibmd.py", *argv])
    distil(args)
