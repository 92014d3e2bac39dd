# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Command-line flags of the training scripts, named as in diffusers' training examples, and their checks."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from ..degradations import list_degradations
from ..models.bridge_unet import UNET_PRESETS


__all__ = ["METHODS", "I2SBRecipe", "official_i2sb_recipe", "parse_args"]

METHODS = ("i2sb", "nadb", "ibmd")


@dataclass(frozen=True)
class I2SBRecipe:
    """The bridge settings of an official I2SB run (``scripts/train.sh``)."""

    beta_max: float
    ot_ode: bool


# The official recipes by task family: the SDE with beta_max 0.3 for JPEG and 4x super-resolution, the OT-ODE with
# beta_max 1.0 for deblurring and inpainting (shared/reference/bridge-methods.md, sections 1.6 and 1.11).
_OFFICIAL_I2SB_RECIPES = {
    "jpeg": I2SBRecipe(beta_max=0.3, ot_ode=False),
    "sr4x": I2SBRecipe(beta_max=0.3, ot_ode=False),
    "blur": I2SBRecipe(beta_max=1.0, ot_ode=True),
    "inpaint": I2SBRecipe(beta_max=1.0, ot_ode=True),
    "mixture": I2SBRecipe(beta_max=0.3, ot_ode=False),
}
# Paired data (``--task none``) and unknown families: the scheduler's defaults, the SDE at beta_max 0.3.
_DEFAULT_I2SB_RECIPE = I2SBRecipe(beta_max=0.3, ot_ode=False)


def official_i2sb_recipe(task: str | None) -> I2SBRecipe:
    """I2SB's ``beta_max`` and OT-ODE setting for a task, as the official ``scripts/train.sh`` sets them."""
    for family, recipe in _OFFICIAL_I2SB_RECIPES.items():
        if task and task.startswith(family):
            return recipe
    return _DEFAULT_I2SB_RECIPE


def _add_data_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--task",
        type=str,
        default="jpeg10",
        help=f"degradation applied on the fly to clean images, one of {list_degradations()}; "
        "'none' with paired data (--conditioning_image_column or --side_by_side)",
    )
    group.add_argument("--dataset_name", type=str, default=None, help="a Hugging Face dataset on the Hub")
    group.add_argument("--dataset_config_name", type=str, default=None)
    group.add_argument("--train_data_dir", type=str, default=None, help="a local image folder (imagefolder)")
    group.add_argument("--cache_dir", type=str, default=None)
    group.add_argument("--image_column", type=str, default="image", help="the clean/target image column")
    group.add_argument(
        "--conditioning_image_column",
        type=str,
        default=None,
        help="the source/degraded image column, for paired translation data",
    )
    group.add_argument("--side_by_side", action="store_true", help="images are A|B pairs side by side (pix2pix)")
    group.add_argument(
        "--source_side",
        choices=("left", "right"),
        default="left",
        help="which half of a side-by-side image is the source",
    )
    group.add_argument("--resolution", type=int, default=64, help="training crop size")
    group.add_argument(
        "--scale_range",
        type=float,
        nargs=2,
        default=None,
        metavar=("LOW", "HIGH"),
        help="resize each photo by a random factor in [LOW, HIGH] before cropping, so that small crops of large "
        "photos show objects, not texture (validation crops use the geometric mean); default: native scale",
    )
    group.add_argument(
        "--no_random_flip", dest="random_flip", action="store_false", help="disable random horizontal flips"
    )
    group.add_argument(
        "--validation_fraction",
        type=float,
        default=0.25,
        help="fraction of images (never crops) held out for validation",
    )
    group.add_argument("--max_train_samples", type=int, default=None, help="use only this many training images")
    group.add_argument("--dataloader_num_workers", type=int, default=2)


def _add_model_args(parser: argparse.ArgumentParser, method: str) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model_preset", choices=sorted(UNET_PRESETS), default="tiny")
    group.add_argument("--unet_config", type=str, default=None, help="JSON file of UNet2DModel arguments")
    group.add_argument(
        "--init_unet",
        type=str,
        default=None,
        help="a UNet2DModel folder (or repo id) to start from; extra cond_x1 channels are added",
    )
    group.add_argument("--cond_x1", action="store_true", help="also feed the degraded image to the network")
    group.add_argument("--gradient_checkpointing", action="store_true")
    if method == "i2sb":
        group.add_argument(
            "--beta_max",
            type=float,
            default=None,
            help="default: the official recipe, 0.3 (JPEG, SR), 1.0 (blur, inpaint)",
        )
        group.add_argument(
            "--ot_ode",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="the OT-ODE limit (no bridge noise); default: the official recipe, on for blur and inpainting",
        )
        group.add_argument("--clip_denoise", action="store_true")
    else:
        group.add_argument(
            "--stage",
            choices=("mean", "bridge", "both"),
            default="both",
            help="train the mean network, the bridge (with a frozen mean network) or both in order",
        )
        group.add_argument("--alpha", type=float, default=0.4)
        group.add_argument("--k", type=float, default=0.75)
        group.add_argument("--threshold", type=float, default=None, help="default (1-alpha)/(2-alpha)")
        group.add_argument("--target_scale", type=float, default=1.0, help="2.0 = the official mean runner")
        group.add_argument("--no_mean_net", action="store_true", help="NADB without a mean network (endpoint = X1)")
        group.add_argument(
            "--mean_net_path",
            type=str,
            default=None,
            help="a trained MeanNetwork folder (default: <output_dir>/mean_net)",
        )
        group.add_argument("--mean_max_train_steps", type=int, default=None, help="default: --max_train_steps")
        group.add_argument("--mean_learning_rate", type=float, default=None, help="default: --learning_rate")


def _add_distillation_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("distillation (IBMD)")
    group.add_argument(
        "--teacher", type=str, required=True, help="a trained I2SB or NADB pipeline (folder or repo id)"
    )
    group.add_argument("--num_student_steps", type=int, default=1, help="1 (one-step) or N (few-step) student")
    group.add_argument("--noise_channels", type=int, default=3, help="input channels of the generator noise z")
    group.add_argument("--no_noise", action="store_true", help="no z input (e.g. inpainting: the hole is noise)")
    group.add_argument(
        "--student_input",
        choices=("endpoint", "degraded"),
        default="endpoint",
        help="'degraded' (NADB teachers): start from the mean network and take the degraded image itself",
    )
    group.add_argument("--fake_steps_per_generator_step", type=int, default=5, help="L of the paper's L:K")
    group.add_argument("--fake_learning_rate", type=float, default=None, help="default: --learning_rate")
    group.add_argument("--weighting", choices=("teacher", "uniform"), default="teacher", help="lambda(t)")
    group.add_argument("--gradient_checkpointing", action="store_true")


def _add_optimisation_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("optimisation")
    group.add_argument("--train_batch_size", type=int, default=16, help="per device")
    group.add_argument("--max_train_steps", type=int, default=1000, help="optimiser steps")
    group.add_argument("--gradient_accumulation_steps", type=int, default=1)
    group.add_argument("--learning_rate", type=float, default=1e-4)
    group.add_argument(
        "--lr_scheduler",
        type=str,
        default="constant",
        help='diffusers.optimization.get_scheduler name ("constant", "cosine", "linear", ...)',
    )
    group.add_argument("--lr_warmup_steps", type=int, default=0)
    group.add_argument("--adam_beta1", type=float, default=0.9)
    group.add_argument("--adam_beta2", type=float, default=0.999)
    group.add_argument("--adam_weight_decay", type=float, default=0.0)
    group.add_argument("--adam_epsilon", type=float, default=1e-8)
    group.add_argument("--max_grad_norm", type=float, default=1.0)
    group.add_argument("--use_ema", action=argparse.BooleanOptionalAction, default=True)
    group.add_argument("--ema_max_decay", type=float, default=0.9999)
    group.add_argument("--ema_inv_gamma", type=float, default=1.0)
    group.add_argument("--ema_power", type=float, default=3 / 4)
    group.add_argument(
        "--mixed_precision", choices=("no", "fp16", "bf16"), default=None, help="default: accelerate's config"
    )
    group.add_argument("--allow_tf32", action="store_true")
    group.add_argument("--seed", type=int, default=0)


def _add_run_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("run")
    group.add_argument("--output_dir", type=str, required=True)
    group.add_argument("--checkpointing_steps", type=int, default=500)
    group.add_argument("--checkpoints_total_limit", type=int, default=None)
    group.add_argument("--resume_from_checkpoint", type=str, default=None, help='a checkpoint folder or "latest"')
    group.add_argument("--validation_steps", type=int, default=500, help="validate every N optimiser steps")
    group.add_argument("--num_validation_images", type=int, default=8)
    group.add_argument("--validation_inference_steps", type=int, default=10)
    group.add_argument("--report_to", type=str, default="tensorboard", help='"tensorboard", "wandb", "all" or "none"')
    group.add_argument("--logging_dir", type=str, default="logs", help="relative to --output_dir")
    group.add_argument("--push_to_hub", action="store_true")
    group.add_argument("--hub_model_id", type=str, default=None)
    group.add_argument("--hub_token", type=str, default=None)
    group.add_argument("--hub_private_repo", action="store_true")


def build_parser(method: str) -> argparse.ArgumentParser:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    parser = argparse.ArgumentParser(
        prog=f"train_{method}.py",
        description=f"Train a {method.upper()} bridge pipeline with accelerate.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _add_data_args(parser)
    if method == "ibmd":
        _add_distillation_args(parser)
    else:
        _add_model_args(parser, method)
    _add_optimisation_args(parser)
    _add_run_args(parser)
    return parser


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace, method: str) -> None:
    paired = args.conditioning_image_column is not None or args.side_by_side
    if args.dataset_name and args.train_data_dir:
        parser.error("pass --dataset_name or --train_data_dir, not both")
    if paired and not (args.dataset_name or args.train_data_dir):
        parser.error(
            "paired data (--conditioning_image_column / --side_by_side) needs --dataset_name or --train_data_dir"
        )
    if args.conditioning_image_column and args.side_by_side:
        parser.error("--conditioning_image_column and --side_by_side are two ways to give pairs: pick one")
    if args.task == "none":
        args.task = None
    if args.task is None and not paired:
        parser.error("--task none needs paired data (--conditioning_image_column or --side_by_side)")
    if args.task is not None and paired:
        parser.error(f"paired data already holds the degraded images: pass --task none, not --task {args.task}")
    if args.task is not None and args.task not in list_degradations() and args.task not in ("jpeg-5", "jpeg-10"):
        parser.error(f"unknown --task {args.task!r}; choose one of {list_degradations()} or 'none'")
    if args.train_data_dir and not os.path.isdir(args.train_data_dir):
        parser.error(f"--train_data_dir {args.train_data_dir!r} is not a folder")
    positive = [
        "resolution",
        "train_batch_size",
        "max_train_steps",
        "gradient_accumulation_steps",
        "checkpointing_steps",
        "validation_steps",
        "num_validation_images",
        "validation_inference_steps",
    ]
    for name in positive:
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.learning_rate <= 0:
        parser.error(f"--learning_rate must be > 0, got {args.learning_rate}")
    if args.scale_range is not None and not 0 < args.scale_range[0] <= args.scale_range[1]:
        parser.error(f"--scale_range needs 0 < LOW <= HIGH, got {args.scale_range}")
    if not 0 < args.validation_fraction < 1:
        parser.error(f"--validation_fraction must lie in (0, 1), got {args.validation_fraction}")
    if args.checkpoints_total_limit is not None and args.checkpoints_total_limit < 1:
        parser.error("--checkpoints_total_limit must be >= 1")
    if method == "ibmd":
        _check_distillation(parser, args)
        return
    if args.unet_config and args.init_unet:
        parser.error("--unet_config builds a fresh UNet and --init_unet loads one: pick one")
    if args.unet_config:
        try:
            with open(args.unet_config) as handle:
                args.unet_config = json.load(handle)
        except (OSError, json.JSONDecodeError) as error:
            parser.error(f"--unet_config {args.unet_config!r} is not a readable JSON file: {error}")
    if args.push_to_hub and not args.hub_model_id:
        args.hub_model_id = os.path.basename(os.path.normpath(args.output_dir))
    if method == "i2sb":
        recipe = official_i2sb_recipe(args.task)
        args.beta_max = recipe.beta_max if args.beta_max is None else args.beta_max
        args.ot_ode = recipe.ot_ode if args.ot_ode is None else args.ot_ode
    if method == "nadb":
        if args.no_mean_net and args.stage == "mean":
            parser.error("--stage mean trains the mean network that --no_mean_net leaves out")
        if args.no_mean_net:
            args.stage = "bridge"
        args.mean_max_train_steps = args.mean_max_train_steps or args.max_train_steps
        args.mean_learning_rate = args.mean_learning_rate or args.learning_rate


def _check_distillation(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.gradient_accumulation_steps != 1:
        parser.error("IBMD alternates fake-model and generator updates: --gradient_accumulation_steps must be 1")
    if args.num_student_steps < 1 or args.fake_steps_per_generator_step < 1:
        parser.error("--num_student_steps and --fake_steps_per_generator_step must be >= 1")
    if args.noise_channels < 0:
        parser.error("--noise_channels must be >= 0")
    if args.no_noise:
        args.noise_channels = 0
    if args.student_input == "degraded" and args.num_student_steps != 1:
        parser.error("a --student_input degraded student is one-step: drop --num_student_steps")
    args.fake_learning_rate = args.fake_learning_rate or args.learning_rate
    if os.path.sep in args.teacher and not os.path.isdir(args.teacher):
        parser.error(f"--teacher {args.teacher!r} is not a folder (nor a Hub repo id)")


def parse_args(method: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses and checks the flags of ``train_<method>.py``; a bad flag exits with a message saying why."""
    parser = build_parser(method)
    args = parser.parse_args(argv)
    _check(parser, args, method)
    args.method = method
    return args
