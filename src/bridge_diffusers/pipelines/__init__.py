# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""``DiffusionPipeline`` subclasses of the three bridge methods."""

from .pipeline_bridge_utils import BridgePipeline, BridgePipelineOutput, images_to_tensor, mask_to_tensor
from .pipeline_i2sb import I2SBPipeline
from .pipeline_ibmd import IBMDPipeline
from .pipeline_nadb import NADBPipeline


__all__ = [
    "BridgePipeline",
    "BridgePipelineOutput",
    "I2SBPipeline",
    "IBMDPipeline",
    "NADBPipeline",
    "images_to_tensor",
    "mask_to_tensor",
]
