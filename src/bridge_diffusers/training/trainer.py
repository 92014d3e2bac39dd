# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The training loop shared by ``training/train_i2sb.py`` and ``training/train_nadb.py``.

One generic :func:`fit` runs an accelerate loop (mixed precision, gradient accumulation, DDP, EMA, crash-safe
checkpoints, resume, logging, periodic validation) over a :class:`Stage`; the methods differ only in the model,
the loss and the validation of their stages. Every random draw of optimiser step ``n`` on process ``r`` comes
from a generator seeded with ``(seed, n, r)`` and every data crop from ``(seed, index)``, so a resumed run
replays the uninterrupted one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from diffusers import UNet2DModel
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..models.bridge_unet import create_bridge_unet, downsample_factor, expand_input_channels
from ..models.mean_net import MeanNetwork
from ..pipelines.endpoint import prepare_bridge_inputs
from ..pipelines.pipeline_i2sb import I2SBPipeline
from ..pipelines.pipeline_nadb import NADBPipeline
from ..schedulers.scheduling_i2sb import I2SBScheduler
from ..schedulers.scheduling_nadb import NADBScheduler
from .checkpoints import find_checkpoint, load_extra_state, save_checkpoint
from .config import parse_args
from .data import TrainingData, TrainingPair, build_training_data, make_pair
from .hub import push_folder_to_hub
from .losses import bridge_matching_loss, mean_network_loss
from .model_card import TrainingReport, launch_command, write_model_card
from .validation import save_validation_grid, score_restorations


__all__ = ["Stage", "fit", "main", "step_generator"]

logger = get_logger(__name__)

LossFn = Callable[[torch.nn.Module, TrainingPair, torch.Generator], torch.Tensor]


@dataclass
class Stage:
    """One model trained by :func:`fit`: NADB's mean network, or a bridge network."""

    name: str
    model: torch.nn.Module
    loss_fn: LossFn
    checkpoint_dir: Path
    max_steps: int
    learning_rate: float
    # (unwrapped model with EMA weights, step) -> (metrics, restored images in [-1, 1])
    validate: Callable[[torch.nn.Module, int], tuple[dict[str, float], torch.Tensor]] | None = None


# ------------------------------------------------------------------------------------------------ set-up
def build_accelerator(args: argparse.Namespace) -> Accelerator:
    project = ProjectConfiguration(
        project_dir=args.output_dir, logging_dir=os.path.join(args.output_dir, args.logging_dir)
    )
    report_to = None if args.report_to == "none" else args.report_to
    accelerator = Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        log_with=report_to,
        project_config=project,
    )
    if args.allow_tf32 and torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return accelerator


def step_generator(seed: int, step: int, process_index: int, device: torch.device) -> torch.Generator:
    """The generator of one training micro-step (bridge times and noise), on ``device``.

    Seeded from ``(seed, step, process)`` alone, so a resumed run draws exactly what the uninterrupted run drew,
    and processes draw different noise. (Data crops and degradations are seeded by their item index.)
    """
    state = np.random.SeedSequence([seed, step, process_index]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator(device=device).manual_seed(int(state >> np.uint64(1)))


def build_unet(args: argparse.Namespace) -> UNet2DModel:
    """The bridge UNet from ``--init_unet`` (with extra ``cond_x1`` input channels), ``--unet_config`` or a preset."""
    if args.init_unet:
        unet = UNet2DModel.from_pretrained(args.init_unet, subfolder=_unet_subfolder(args.init_unet))
        if args.cond_x1 and unet.config.in_channels == unet.config.out_channels:
            # The official I2SB cond_x1 set-up: extra channels for x1 with a fresh (not zero) initialisation.
            unet = expand_input_channels(unet, unet.config.out_channels, zero_init=False)
        return unet
    overrides = dict(args.unet_config or {})
    for key in ("in_channels", "out_channels", "sample_size"):
        overrides.pop(key, None)
    return create_bridge_unet(args.resolution, cond_x1=args.cond_x1, preset=args.model_preset, **overrides)


def _unet_subfolder(path: str) -> str | None:
    return "unet" if os.path.isdir(os.path.join(path, "unet")) else None


def _check_resolution(args: argparse.Namespace, unet: UNet2DModel) -> None:
    factor = downsample_factor(unet)
    if args.resolution % factor:
        raise SystemExit(
            f"--resolution {args.resolution} must be a multiple of the UNet's downsampling factor {factor}."
        )


# ------------------------------------------------------------------------------------------------ the loop
def _make_ema(args: argparse.Namespace, model: torch.nn.Module) -> EMAModel | None:
    if not args.use_ema:
        return None
    return EMAModel(
        model.parameters(),
        decay=args.ema_max_decay,
        use_ema_warmup=True,
        inv_gamma=args.ema_inv_gamma,
        power=args.ema_power,
        model_cls=type(model),
        model_config=model.config,
    )


def _resume_step(args: argparse.Namespace, accelerator: Accelerator, stage: Stage, extra_state: dict) -> int:
    if not args.resume_from_checkpoint:
        return 0
    found = find_checkpoint(stage.checkpoint_dir, args.resume_from_checkpoint)
    if found is None:
        accelerator.print(f"[{stage.name}] no checkpoint in {stage.checkpoint_dir} yet: starting from scratch")
        return 0
    step, path = found
    accelerator.print(f"[{stage.name}] resuming from {path}")
    accelerator.load_state(str(path))
    load_extra_state(path, extra_state)
    return step


def fit(
    args: argparse.Namespace, accelerator: Accelerator, stage: Stage, data: TrainingData
) -> tuple[torch.nn.Module, dict[str, float]]:
    """Trains ``stage.model`` for ``stage.max_steps`` optimiser steps (resuming if asked).

    Returns:
        The unwrapped model carrying its EMA weights (when EMA is on), and the last validation metrics.
    """
    model = stage.model
    model.train()
    if args.gradient_checkpointing:
        getattr(model, "unet", model).enable_gradient_checkpointing()
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=stage.learning_rate,
        betas=(args.adam_beta1, args.adam_beta2),
        weight_decay=args.adam_weight_decay,
        eps=args.adam_epsilon,
    )
    lr_scheduler = get_scheduler(
        args.lr_scheduler,
        optimizer=optimizer,
        num_warmup_steps=args.lr_warmup_steps * accelerator.num_processes,
        num_training_steps=stage.max_steps * accelerator.num_processes,
    )
    loader = DataLoader(
        data.train,
        batch_size=args.train_batch_size,
        shuffle=False,  # every item is already a fresh random crop: order by index keeps resumes exact
        num_workers=args.dataloader_num_workers,
        drop_last=True,
        pin_memory=torch.cuda.is_available(),
    )
    ema = _make_ema(args, model)
    model, optimizer, loader, lr_scheduler = accelerator.prepare(model, optimizer, loader, lr_scheduler)
    extra_state = {}
    if ema is not None:
        ema.to(accelerator.device)
        extra_state["ema"] = ema

    global_step = _resume_step(args, accelerator, stage, extra_state)
    batches = accelerator.skip_first_batches(loader, global_step * args.gradient_accumulation_steps)
    micro_step = global_step * args.gradient_accumulation_steps
    progress = tqdm(
        total=stage.max_steps, initial=global_step, desc=stage.name, disable=not accelerator.is_local_main_process
    )
    metrics: dict[str, float] = {}
    validated_step = None
    while global_step < stage.max_steps:
        for batch in batches:
            generator = step_generator(args.seed, micro_step, accelerator.process_index, accelerator.device)
            pair = make_pair(batch)
            with accelerator.accumulate(model):
                loss = stage.loss_fn(model, pair, generator)
                accelerator.backward(loss)
                if accelerator.sync_gradients and args.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            micro_step += 1
            if not accelerator.sync_gradients:
                continue
            if ema is not None:
                ema.step(model.parameters())
            global_step += 1
            progress.update(1)
            logs = {f"{stage.name}/loss": loss.detach().item(), f"{stage.name}/lr": lr_scheduler.get_last_lr()[0]}
            progress.set_postfix(loss=f"{logs[f'{stage.name}/loss']:.4f}")
            accelerator.log(logs, step=global_step)
            if global_step % args.checkpointing_steps == 0 or global_step == stage.max_steps:
                save_checkpoint(
                    accelerator, stage.checkpoint_dir, global_step, args.checkpoints_total_limit, extra_state
                )
            if stage.validate and (global_step % args.validation_steps == 0 or global_step == stage.max_steps):
                metrics = _validate(args, accelerator, stage, model, ema, global_step, data)
                validated_step = global_step
            if global_step >= stage.max_steps:
                break
        batches = loader  # only reached if the dataset was shorter than the run: go round again
    progress.close()
    # Resumed from the final checkpoint: the card still needs its scores. Decided on the step, which every
    # process knows, not on `metrics`, which only the main process fills (a barrier would be left waiting).
    if stage.validate and validated_step != global_step:
        metrics = _validate(args, accelerator, stage, model, ema, global_step, data)
    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model)
    if ema is not None:
        ema.copy_to(unwrapped.parameters())
    accelerator.free_memory()  # the next stage prepares (and checkpoints) only its own objects
    return unwrapped, metrics


def _validate(args, accelerator, stage, model, ema, step, data) -> dict[str, float]:
    """Scores the EMA weights on the fixed validation pairs (main process) and logs a PNG grid."""
    metrics: dict[str, float] = {}
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        if ema is not None:
            ema.store(unwrapped.parameters())
            ema.copy_to(unwrapped.parameters())
        unwrapped.eval()
        metrics, restored = stage.validate(unwrapped, step)
        unwrapped.train()
        if ema is not None:
            ema.restore(unwrapped.parameters())
        grid_path = Path(args.output_dir) / "validation" / f"{stage.name}-step-{step:07d}.png"
        save_validation_grid(data.validation, restored, grid_path)
        accelerator.log({f"{stage.name}/val_{key}": value for key, value in metrics.items()}, step=step)
        accelerator.print(f"[{stage.name}] step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    accelerator.wait_for_everyone()
    return metrics


# ------------------------------------------------------------------------------------------------ methods
def _make_scheduler(args: argparse.Namespace, method: str):
    if method == "i2sb":
        return I2SBScheduler(beta_max=args.beta_max, ot_ode=args.ot_ode, clip_denoise=args.clip_denoise)
    return NADBScheduler(alpha=args.alpha, k=args.k, threshold=args.threshold, target_scale=args.target_scale)


def _bridge_loss_fn(args, scheduler, mean_net: MeanNetwork | None) -> LossFn:
    def loss_fn(model: torch.nn.Module, pair: TrainingPair, generator: torch.Generator) -> torch.Tensor:
        endpoint, condition = prepare_bridge_inputs(scheduler, pair.degraded, pair.mask, mean_net, generator)
        condition = condition if args.cond_x1 else None
        return bridge_matching_loss(model, scheduler, pair.clean, endpoint, condition, pair.mask, generator)

    return loss_fn


def _pipeline(method: str, unet: UNet2DModel, scheduler, mean_net: MeanNetwork | None):
    if method == "i2sb":
        return I2SBPipeline(unet=unet, scheduler=scheduler)
    return NADBPipeline(unet=unet, scheduler=scheduler, mean_net=mean_net)


def _bridge_validation(args, method, scheduler, mean_net, data: TrainingData):
    def validate(unet: torch.nn.Module, step: int):
        pipe = _pipeline(method, unet, scheduler, mean_net)
        pipe.set_progress_bar_config(disable=True)
        pair = data.validation
        generator = torch.Generator().manual_seed(args.seed)
        restored01 = pipe(
            ((pair.degraded + 1) / 2).clamp(0, 1),  # the mixture's noise-filled holes leave [-1, 1]
            mask=pair.mask,
            num_inference_steps=args.validation_inference_steps,
            generator=generator,
            output_type="pt",
        ).images
        restored = restored01 * 2 - 1
        return score_restorations(restored, pair.clean), restored

    return validate


def _mean_validation(args, data: TrainingData):
    def validate(mean_net: torch.nn.Module, step: int):
        pair = data.validation
        device = next(mean_net.parameters()).device
        with torch.no_grad():
            restored = mean_net(pair.degraded.to(device)).float().cpu().clamp(-1, 1)
        return score_restorations(restored, pair.clean), restored

    return validate


def _train_mean_network(args, accelerator, data: TrainingData) -> tuple[MeanNetwork, dict[str, float]]:
    """NADB stage 1 (paper Sec. 3.1): regress E[X0 | X1]; saved atomically to ``<output_dir>/mean_net`` with its
    validation scores in ``validation_metrics.json``."""
    final_dir = Path(args.output_dir) / "mean_net"
    metrics_file = final_dir / "validation_metrics.json"
    if (final_dir / "config.json").exists():
        accelerator.print(f"[mean] {final_dir} is complete: skipping the mean-network stage")
        metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
        return MeanNetwork.from_pretrained(final_dir), metrics
    unet = build_unet(argparse.Namespace(**{**vars(args), "cond_x1": False}))
    _check_resolution(args, unet)
    mean_net = MeanNetwork.from_unet(unet)
    stage = Stage(
        name="mean",
        model=mean_net,
        loss_fn=lambda model, pair, generator: mean_network_loss(model, pair.clean, pair.degraded),
        checkpoint_dir=Path(args.output_dir) / "mean_checkpoints",
        max_steps=args.mean_max_train_steps,
        learning_rate=args.mean_learning_rate,
        validate=_mean_validation(args, data),
    )
    trained, metrics = fit(args, accelerator, stage, data)
    if accelerator.is_main_process:
        partial = final_dir.with_name("mean_net.partial")
        shutil.rmtree(partial, ignore_errors=True)
        trained.save_pretrained(partial)
        (partial / "validation_metrics.json").write_text(json.dumps(metrics, indent=2))
        os.replace(partial, final_dir)
    accelerator.wait_for_everyone()
    return MeanNetwork.from_pretrained(final_dir), metrics


def _load_frozen_mean_net(args, accelerator) -> MeanNetwork:
    path = args.mean_net_path or os.path.join(args.output_dir, "mean_net")
    if not os.path.isdir(path):
        raise SystemExit(
            f"--stage bridge needs a trained mean network at {path}: run --stage mean first, pass --mean_net_path, "
            "or use --no_mean_net."
        )
    return MeanNetwork.from_pretrained(path)


def _save_pipeline(args, accelerator, method, unet, scheduler, mean_net, data, metrics, steps) -> None:
    if not accelerator.is_main_process:
        return
    pipe = _pipeline(method, unet, scheduler, mean_net)
    pipe.save_pretrained(args.output_dir)
    report = TrainingReport(
        method=method,
        task=args.task or "paired translation",
        data=data.description,
        steps=steps,
        resolution=args.resolution,
        batch_size=args.train_batch_size * args.gradient_accumulation_steps * accelerator.num_processes,
        command=args.command,
        validation_metrics=metrics,
        extra=_method_details(args, method),
    )
    write_model_card(args.output_dir, report)
    if args.push_to_hub:
        repo_id = push_folder_to_hub(
            args.output_dir, args.hub_model_id, token=args.hub_token, private=args.hub_private_repo
        )
        accelerator.print(f"pushed to https://huggingface.co/{repo_id}")


def _method_details(args, method: str) -> dict[str, str]:
    details = {
        "UNet": args.model_preset if not (args.unet_config or args.init_unet) else "custom",
        "cond_x1": str(args.cond_x1),
    }
    if method == "i2sb":
        details.update(beta_max=str(args.beta_max), ot_ode=str(args.ot_ode))
    else:
        details.update(alpha=str(args.alpha), k=str(args.k), mean_network=str(not args.no_mean_net))
        details["mean-network steps"] = str(args.mean_max_train_steps)
    return details


def run(args: argparse.Namespace) -> None:
    """Trains the method named by ``args.method`` end to end and writes the pipeline folder."""
    method = args.method
    accelerator = build_accelerator(args)
    set_seed(args.seed)  # the network initialisation; training draws use step_generators
    os.makedirs(args.output_dir, exist_ok=True)
    samples = (
        args.max_train_steps * args.train_batch_size * args.gradient_accumulation_steps * accelerator.num_processes
    )
    if method == "nadb":
        samples = max(
            samples,
            args.mean_max_train_steps
            * args.train_batch_size
            * args.gradient_accumulation_steps
            * accelerator.num_processes,
        )
    data = build_training_data(args, samples)
    accelerator.print(f"data: {data.description}")
    if accelerator.is_main_process:
        accelerator.init_trackers(
            f"train_{method}", config={k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool))}
        )

    mean_net, metrics_prefix = None, {}
    if method == "nadb" and not args.no_mean_net:
        if args.stage in ("mean", "both"):
            mean_net, mean_metrics = _train_mean_network(args, accelerator, data)
            metrics_prefix = {f"mean network {key}": value for key, value in mean_metrics.items()}
            if args.stage == "mean":
                accelerator.end_training()
                return
        else:
            mean_net = _load_frozen_mean_net(args, accelerator)
        mean_net.requires_grad_(False).eval().to(accelerator.device)

    scheduler = _make_scheduler(args, method)
    unet = build_unet(args)
    _check_resolution(args, unet)
    stage = Stage(
        name="bridge",
        model=unet,
        loss_fn=_bridge_loss_fn(args, scheduler, mean_net),
        checkpoint_dir=Path(args.output_dir),
        max_steps=args.max_train_steps,
        learning_rate=args.learning_rate,
        validate=_bridge_validation(args, method, scheduler, mean_net, data),
    )
    trained, metrics = fit(args, accelerator, stage, data)
    metrics = {**metrics_prefix, **metrics}
    _save_pipeline(args, accelerator, method, trained, scheduler, mean_net, data, metrics, args.max_train_steps)
    accelerator.end_training()


def main(method: str, argv: list[str] | None = None) -> None:
    """Entry point of ``training/train_<method>.py``."""
    args = parse_args(method, argv)
    argv = sys.argv if argv is None else [f"training/train_{method}.py", *argv]
    args.command = launch_command(argv)
    run(args)
