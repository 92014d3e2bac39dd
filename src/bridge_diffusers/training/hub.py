# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Publishing a trained pipeline folder to the Hugging Face Hub."""

from __future__ import annotations

import os

from huggingface_hub import create_repo, upload_folder


__all__ = ["push_folder_to_hub"]

# Training leftovers that are not part of a published pipeline.
IGNORE_PATTERNS = ["checkpoint-*", "checkpoint-*/**", "mean_checkpoints/**", "logs/**", "validation/**"]


def push_folder_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    commit_message: str = "Upload bridge-diffusers pipeline",
) -> str:
    """Creates ``repo_id`` if needed and uploads the pipeline folder (model card included). Returns the repo id."""
    repo_id = create_repo(repo_id=repo_id, exist_ok=True, token=token, private=private).repo_id
    upload_folder(
        repo_id=repo_id,
        folder_path=os.fspath(folder),
        commit_message=commit_message,
        ignore_patterns=IGNORE_PATTERNS,
        token=token,
    )
    return repo_id
