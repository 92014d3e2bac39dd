# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""``DiffusionPipeline`` subclasses of the three bridge methods, on one sampling core."""

import json
import os

from huggingface_hub import hf_hub_download

from .pipeline_bridge_utils import (
    BridgePipeline,
    BridgePipelineOutput,
    BridgeSample,
    PipelineFolderError,
    RestorationPipeline,
    check_pipeline_folder,
    check_pipeline_location,
    images_to_tensor,
    mask_to_tensor,
)
from .pipeline_i2sb import I2SBPipeline
from .pipeline_ibmd import IBMDDegradedInputPipeline, IBMDPipeline
from .pipeline_nadb import NADBPipeline


__all__ = [
    "PIPELINE_CLASSES",
    "BridgePipeline",
    "BridgePipelineOutput",
    "BridgeSample",
    "I2SBPipeline",
    "IBMDDegradedInputPipeline",
    "IBMDPipeline",
    "NADBPipeline",
    "PipelineFolderError",
    "RestorationPipeline",
    "check_pipeline_folder",
    "check_pipeline_location",
    "images_to_tensor",
    "load_pipeline",
    "mask_to_tensor",
]

PIPELINE_CLASSES = {cls.__name__: cls for cls in (I2SBPipeline, NADBPipeline, IBMDPipeline, IBMDDegradedInputPipeline)}


def load_pipeline(path: str | os.PathLike, **kwargs) -> RestorationPipeline:
    """Loads any pipeline of this package from a folder or a Hub repo id, by the class its ``model_index.json``
    names (``DiffusionPipeline.from_pretrained(path, trust_remote_code=True)`` does the same through diffusers)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        index_file = os.path.join(path, "model_index.json")
        if not os.path.isfile(index_file):
            raise PipelineFolderError(f"{path} has no model_index.json: it is not a saved pipeline folder.")
    else:
        check_pipeline_location(path)  # a missing local folder is said so, without a Hub look-up
        try:
            index_file = hf_hub_download(path, "model_index.json")
        except Exception as error:
            raise OSError(
                f"{path!r} is not a local folder, and the Hub could not provide it as a repo id "
                f"({type(error).__name__}: {error})"
            ) from error
    try:
        with open(index_file) as handle:
            class_name = json.load(handle)["_class_name"]
    except (ValueError, KeyError, TypeError) as error:
        raise PipelineFolderError(f"{index_file} is not a pipeline index ({type(error).__name__}: {error})") from None
    class_name = class_name[1] if isinstance(class_name, list) else class_name
    if class_name not in PIPELINE_CLASSES:
        raise ValueError(f"{path} holds a {class_name}, not one of {sorted(PIPELINE_CLASSES)}.")
    return PIPELINE_CLASSES[class_name].from_pretrained(path, **kwargs)
