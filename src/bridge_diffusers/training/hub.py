# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Writing a trained pipeline (fp32 weights and an ``fp16`` variant) and publishing it on the Hugging Face Hub."""

from __future__ import annotations

import copy
import os

import torch
from diffusers import DiffusionPipeline
from huggingface_hub import create_repo, upload_folder


__all__ = ["push_to_hub", "save_pipeline"]

# Training leftovers that are not part of a published pipeline.
IGNORE_PATTERNS = ["checkpoint-*", "checkpoint-*/**", "mean_checkpoints/**", "logs/**", "validation/**"]


def save_pipeline(pipeline: DiffusionPipeline, output_dir: str | os.PathLike) -> None:
    """``save_pretrained`` in float32, then the ``fp16`` variant beside it (half the size; load it with
    ``from_pretrained(output_dir, variant="fp16", torch_dtype=torch.float16)``). ``pipeline`` is left in float32."""
    pipeline.to(torch.float32).save_pretrained(output_dir)
    copy.deepcopy(pipeline).to(torch.float16).save_pretrained(output_dir, variant="fp16")


def push_to_hub(folder: str, hub_model_id: str | None = None, token: str | None = None, private: bool = False) -> str:
    """Creates the repo (``hub_model_id``, by default the folder's name, as diffusers' examples do) and uploads the
    pipeline folder with its model card. Returns the repo id."""
    name = hub_model_id or os.path.basename(os.path.normpath(folder))
    repo_id = create_repo(repo_id=name, exist_ok=True, token=token, private=private).repo_id
    upload_folder(
        repo_id=repo_id,
        folder_path=os.fspath(folder),
        commit_message="Upload bridge-diffusers pipeline",
        ignore_patterns=IGNORE_PATTERNS,
        token=token,
    )
    return repo_id
