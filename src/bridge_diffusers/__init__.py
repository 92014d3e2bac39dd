# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""bridge-diffusers: diffusion-bridge image restoration and translation (I2SB, NADB, IBMD) for diffusers.

Every component module is imported eagerly: diffusers only loads third-party components (recorded in
``model_index.json`` by their module path) whose modules are already imported.
"""

from . import methods, models, pipelines, schedulers
from .methods import METHODS, BridgeMethod, get_method, method_of
from .models import UNET_PRESETS, MeanNetwork, create_bridge_unet, expand_input_channels, unet_forward
from .pipelines import (
    BridgePipeline,
    BridgePipelineOutput,
    I2SBPipeline,
    IBMDDegradedInputPipeline,
    IBMDPipeline,
    NADBPipeline,
    load_pipeline,
)
from .schedulers import (
    BridgeInputs,
    BridgeScheduler,
    BridgeSchedulerOutput,
    I2SBScheduler,
    IBMDScheduler,
    NADBScheduler,
)


__version__ = "0.1.0.dev0"

__all__ = [
    "METHODS",
    "UNET_PRESETS",
    "BridgeInputs",
    "BridgeMethod",
    "BridgePipeline",
    "BridgePipelineOutput",
    "BridgeScheduler",
    "BridgeSchedulerOutput",
    "I2SBPipeline",
    "I2SBScheduler",
    "IBMDDegradedInputPipeline",
    "IBMDPipeline",
    "IBMDScheduler",
    "MeanNetwork",
    "NADBPipeline",
    "NADBScheduler",
    "__version__",
    "create_bridge_unet",
    "expand_input_channels",
    "get_method",
    "load_pipeline",
    "method_of",
    "methods",
    "models",
    "pipelines",
    "schedulers",
    "unet_forward",
]
