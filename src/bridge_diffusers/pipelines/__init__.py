# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""``DiffusionPipeline`` subclasses of the three bridge methods."""

from .pipeline_bridge_utils import BridgePipeline, BridgePipelineOutput, images_to_tensor, mask_to_tensor
from .pipeline_i2sb import I2SBPipeline
from .pipeline_ibmd import IBMDPipeline
from .pipeline_nadb import NADBPipeline


__all__ = [
    "PIPELINE_CLASSES",
    "BridgePipeline",
    "BridgePipelineOutput",
    "I2SBPipeline",
    "IBMDPipeline",
    "NADBPipeline",
    "images_to_tensor",
    "load_pipeline",
    "mask_to_tensor",
]

PIPELINE_CLASSES = {cls.__name__: cls for cls in (I2SBPipeline, NADBPipeline, IBMDPipeline)}


def load_pipeline(path: str, **kwargs) -> BridgePipeline:
    """Loads any bridge pipeline (I2SB, NADB or IBMD) from a folder or a Hub repo id, by its ``model_index.json``."""
    import json
    import os

    from huggingface_hub import hf_hub_download

    if os.path.isdir(path):
        index_file = os.path.join(path, "model_index.json")
        if not os.path.isfile(index_file):
            raise ValueError(f"{path} has no model_index.json: it is not a saved pipeline folder.")
    else:
        index_file = hf_hub_download(path, "model_index.json")
    with open(index_file) as handle:
        class_name = json.load(handle)["_class_name"]
    if class_name not in PIPELINE_CLASSES:
        raise ValueError(f"{path} holds a {class_name}, not one of {sorted(PIPELINE_CLASSES)}.")
    return PIPELINE_CLASSES[class_name].from_pretrained(path, **kwargs)
