# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""bridge-diffusers: diffusion-bridge image restoration and translation (I2SB, NADB, IBMD) for diffusers.

Every component module is imported eagerly: diffusers only loads third-party components (recorded in
``model_index.json`` by their module path) whose modules are already imported.
"""

from . import models, pipelines, schedulers
from .models import UNET_PRESETS, MeanNetwork, create_bridge_unet, expand_input_channels, unet_forward
from .pipelines import BridgePipelineOutput, I2SBPipeline, IBMDPipeline, NADBPipeline
from .schedulers import BridgeScheduler, BridgeSchedulerOutput, I2SBScheduler, IBMDScheduler, NADBScheduler


__version__ = "0.1.0.dev0"

__all__ = [
    "UNET_PRESETS",
    "BridgePipelineOutput",
    "BridgeScheduler",
    "BridgeSchedulerOutput",
    "I2SBPipeline",
    "I2SBScheduler",
    "IBMDPipeline",
    "IBMDScheduler",
    "MeanNetwork",
    "NADBPipeline",
    "NADBScheduler",
    "__version__",
    "create_bridge_unet",
    "expand_input_channels",
    "models",
    "pipelines",
    "schedulers",
    "unet_forward",
]
