# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Networks: bridge UNets (plain ``UNet2DModel``) and NADB's mean network."""

from .bridge_unet import (
    UNET_PRESETS,
    compute_dtype,
    create_bridge_unet,
    downsample_factor,
    expand_input_channels,
    network_input,
    unet_forward,
)
from .mean_net import MeanNetwork


__all__ = [
    "UNET_PRESETS",
    "MeanNetwork",
    "compute_dtype",
    "create_bridge_unet",
    "downsample_factor",
    "expand_input_channels",
    "network_input",
    "unet_forward",
]
