# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The flags that the training scripts share, named as in diffusers' training examples, and their checks."""

from __future__ import annotations

import argparse
import json
import os

from diffusers import UNet2DModel

from ..degradations import get_degradation, list_degradations
from ..models.bridge_unet import UNET_PRESETS, create_bridge_unet, downsample_factor, expand_input_channels


__all__ = ["add_data_args", "add_training_args", "add_unet_args", "build_unet", "check_args", "ema_options"]


_POSITIVE = ("resolution", "train_batch_size", "max_train_steps", "gradient_accumulation_steps", "checkpointing_steps",
             "validation_steps", "num_validation_images", "validation_inference_steps")  # fmt: skip


def add_data_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    add = group.add_argument
    add("--task", default="jpeg10", help=f"degradation made on the fly: {', '.join(list_degradations())}, or none")
    add("--train_data_dir", default=None, help="an image folder, e.g. photos/ of scripts/fetch_photos.sh (default)")
    add("--dataset_name", default=None, help="a Hugging Face dataset, instead of --train_data_dir")
    add("--dataset_config_name", default=None)
    add("--cache_dir", default=None)
    add("--image_column", default="image", help="the clean (target) image column")
    add("--conditioning_image_column", default=None, help="paired data: the degraded (source) image column")
    add("--side_by_side", action="store_true", help="paired data as A|B images side by side (pix2pix)")
    add("--source_side", choices=("left", "right"), default="left", help="the source half of an A|B image")
    add("--resolution", type=int, default=64, help="training crop size")
    add(
        "--scale_range",
        type=float,
        nargs=2,
        default=None,
        metavar=("LOW", "HIGH"),
        help="resize by a random "
        "factor in [LOW, HIGH] before cropping (validation: the geometric mean); default: native scale",
    )
    add("--no_random_flip", dest="random_flip", action="store_false")
    add("--validation_fraction", type=float, default=0.25, help="images (never crops) held out for validation")
    add("--max_train_samples", type=int, default=None, help="use only this many training images")
    add("--dataloader_num_workers", type=int, default=2)


def add_unet_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("network")
    add = group.add_argument
    add("--model_preset", choices=sorted(UNET_PRESETS), default="tiny")
    add("--unet_config", default=None, help="a JSON file of UNet2DModel arguments")
    add("--init_unet", default=None, help="a UNet2DModel folder or repo id to start from")
    add("--cond_x1", action="store_true", help="also feed the degraded image to the network")
    add("--validation_inference_steps", type=int, default=10)


def add_training_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training")
    add = group.add_argument
    add("--output_dir", required=True)
    add("--seed", type=int, default=0)
    add("--train_batch_size", type=int, default=16, help="per device")
    add("--max_train_steps", type=int, default=1000, help="optimiser steps")
    add("--gradient_accumulation_steps", type=int, default=1)
    add("--gradient_checkpointing", action="store_true")
    add("--learning_rate", type=float, default=1e-4)
    add("--lr_scheduler", default="constant", help="diffusers' get_scheduler: constant, linear, cosine, ...")
    add("--lr_warmup_steps", type=int, default=0)
    add("--adam_beta1", type=float, default=0.9)
    add("--adam_beta2", type=float, default=0.999)
    add("--adam_weight_decay", type=float, default=0.0)
    add("--adam_epsilon", type=float, default=1e-8)
    add("--max_grad_norm", type=float, default=1.0)
    add("--use_ema", action=argparse.BooleanOptionalAction, default=True)
    add("--ema_max_decay", "--ema_decay", dest="ema_max_decay", type=float, default=0.9999)
    add("--ema_inv_gamma", type=float, default=1.0)
    add("--ema_power", type=float, default=3 / 4)
    add("--mixed_precision", choices=("no", "fp16", "bf16"), default=None, help="default: accelerate's config")
    add("--allow_tf32", action="store_true")
    add("--checkpointing_steps", type=int, default=500)
    add("--checkpoints_total_limit", type=int, default=None)
    add("--resume_from_checkpoint", default=None, help='a checkpoint folder or "latest"')
    add("--validation_steps", type=int, default=500)
    add("--num_validation_images", type=int, default=8)
    add("--report_to", default="tensorboard", help='"tensorboard", "wandb", "all" or "none"')
    add("--logging_dir", default="logs", help="relative to --output_dir")
    add("--push_to_hub", action="store_true")
    add("--hub_model_id", default=None, help="default: the name of --output_dir")
    add("--hub_token", default=None)
    add("--hub_private_repo", action="store_true")


def ema_options(args: argparse.Namespace) -> dict:
    """``EMAModel`` keyword arguments of the EMA flags (diffusers' warm-up schedule up to ``--ema_max_decay``)."""
    return dict(decay=args.ema_max_decay, use_ema_warmup=True, inv_gamma=args.ema_inv_gamma, power=args.ema_power)


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The checks every script makes; a bad flag exits with a message saying why."""
    paired = args.conditioning_image_column is not None or args.side_by_side
    if args.dataset_name and args.train_data_dir:
        parser.error("pass --dataset_name or --train_data_dir, not both")
    if paired and not (args.dataset_name or args.train_data_dir):
        parser.error(
            "paired data (--conditioning_image_column / --side_by_side) needs --dataset_name or --train_data_dir"
        )
    if args.conditioning_image_column and args.side_by_side:
        parser.error("--conditioning_image_column and --side_by_side are two ways to give pairs: pick one")
    args.task = None if args.task == "none" else args.task
    if args.task is None and not paired:
        parser.error("--task none needs paired data (--conditioning_image_column or --side_by_side)")
    if args.task is not None and paired:
        parser.error(f"paired data already holds the degraded images: pass --task none, not --task {args.task}")
    if args.task is not None:
        try:
            get_degradation(args.task)
        except ValueError as error:
            parser.error(f"unknown --task {args.task!r}: {error}")
    if args.train_data_dir and not os.path.isdir(args.train_data_dir):
        parser.error(f"--train_data_dir {args.train_data_dir!r} is not a folder")
    for name in _POSITIVE:
        if getattr(args, name, 1) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.learning_rate <= 0:
        parser.error(f"--learning_rate must be > 0, got {args.learning_rate}")
    if args.scale_range is not None and not 0 < args.scale_range[0] <= args.scale_range[1]:
        parser.error(f"--scale_range needs 0 < LOW <= HIGH, got {args.scale_range}")
    if not 0 < args.validation_fraction < 1:
        parser.error(f"--validation_fraction must lie in (0, 1), got {args.validation_fraction}")
    if args.checkpoints_total_limit is not None and args.checkpoints_total_limit < 1:
        parser.error("--checkpoints_total_limit must be >= 1")
    if getattr(args, "unet_config", None):
        if args.init_unet:
            parser.error("--unet_config builds a fresh UNet and --init_unet loads one: pick one")
        try:
            with open(args.unet_config) as handle:
                args.unet_config = json.load(handle)
        except (OSError, json.JSONDecodeError) as error:
            parser.error(f"--unet_config {args.unet_config!r} is not a readable JSON file: {error}")


def build_unet(args: argparse.Namespace, cond_x1: bool | None = None) -> UNet2DModel:
    """The bridge UNet of ``--init_unet`` (official I2SB ``cond_x1`` set-up: extra input channels with a fresh
    initialisation), ``--unet_config`` or ``--model_preset``; ``cond_x1`` overrides ``--cond_x1``."""
    cond_x1 = args.cond_x1 if cond_x1 is None else cond_x1
    if args.init_unet:
        subfolder = "unet" if os.path.isdir(os.path.join(args.init_unet, "unet")) else None
        unet = UNet2DModel.from_pretrained(args.init_unet, subfolder=subfolder)
        if cond_x1 and unet.config.in_channels == unet.config.out_channels:
            unet = expand_input_channels(unet, unet.config.out_channels, zero_init=False)
    else:
        overrides = {k: v for k, v in (args.unet_config or {}).items() if k not in ("in_channels", "out_channels")}
        overrides.pop("sample_size", None)
        unet = create_bridge_unet(args.resolution, cond_x1=cond_x1, preset=args.model_preset, **overrides)
    if args.resolution % downsample_factor(unet):
        raise SystemExit(
            f"--resolution {args.resolution} must be a multiple of the UNet's downsampling factor "
            f"{downsample_factor(unet)}."
        )
    return unet
