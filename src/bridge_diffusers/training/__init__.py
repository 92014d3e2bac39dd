# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""What the training scripts share: flags, data, losses, the accelerate loop, checkpoints, cards and Hub upload."""

from .checkpoints import find_checkpoint, list_checkpoints, load_extra_state, save_checkpoint
from .config import I2SBRecipe, build_parser, official_i2sb_recipe, parse_args
from .losses import bridge_matching_loss, masked_mse, mean_network_loss
from .model_card import TrainingReport, write_model_card


__all__ = [
    "I2SBRecipe",
    "TrainingReport",
    "bridge_matching_loss",
    "build_parser",
    "find_checkpoint",
    "list_checkpoints",
    "load_extra_state",
    "masked_mse",
    "mean_network_loss",
    "official_i2sb_recipe",
    "parse_args",
    "save_checkpoint",
    "write_model_card",
]
