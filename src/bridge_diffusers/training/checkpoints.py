# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Crash-safe training checkpoints on top of ``accelerate``'s ``save_state`` / ``load_state``.

A checkpoint is written into ``checkpoint-N.partial`` and renamed to ``checkpoint-N`` only once every process has
finished writing: a run killed mid-write leaves a ``.partial`` folder that nothing ever loads (and the next save
removes), never a ``checkpoint-N`` that cannot load. ``latest`` is the complete checkpoint with the largest N.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger


__all__ = ["find_checkpoint", "list_checkpoints", "load_extra_state", "save_checkpoint"]

logger = get_logger(__name__)

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
_PARTIAL_SUFFIX = ".partial"


def list_checkpoints(directory: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete checkpoints in ``directory`` as ``(step, path)``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for entry in directory.iterdir():
        match = _CHECKPOINT.match(entry.name)
        if match and entry.is_dir():
            found.append((int(match.group(1)), entry))
    return sorted(found)


def find_checkpoint(directory: str | os.PathLike, which: str) -> tuple[int, Path] | None:
    """Resolves ``--resume_from_checkpoint``: ``"latest"`` (None when there is none yet) or a checkpoint path.

    Raises:
        ValueError: a path that is not a complete ``checkpoint-N`` folder.
    """
    if which == "latest":
        checkpoints = list_checkpoints(directory)
        return checkpoints[-1] if checkpoints else None
    path = Path(which)
    if not path.is_absolute() and not path.exists():
        path = Path(directory) / which
    match = _CHECKPOINT.match(path.name)
    if not match or not path.is_dir():
        raise ValueError(
            f"--resume_from_checkpoint {which!r} is not a complete checkpoint folder named checkpoint-<step> "
            f"(complete ones in {directory}: {[p.name for _, p in list_checkpoints(directory)]}); "
            "or pass 'latest'."
        )
    return int(match.group(1)), path


def save_checkpoint(
    accelerator: Accelerator,
    directory: str | os.PathLike,
    step: int,
    total_limit: int | None = None,
    extra_state: dict[str, Any] | None = None,
) -> Path:
    """Saves the full training state (models, optimizers, schedulers, RNG states) atomically.

    Must be called on every process. ``extra_state`` maps names to objects with a ``state_dict`` (the EMA
    weights), written by the main process as ``<name>.pt`` inside the checkpoint; they are kept out of
    accelerate's ``register_for_checkpointing`` list, which cannot be cleared between the two NADB stages. With
    ``total_limit``, the oldest complete checkpoints are removed (after the new one is complete) so that at
    most ``total_limit`` remain.
    """
    directory = Path(directory)
    final = directory / f"checkpoint-{step}"
    partial = directory / f"checkpoint-{step}{_PARTIAL_SUFFIX}"
    if accelerator.is_main_process:
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob(f"checkpoint-*{_PARTIAL_SUFFIX}"):
            shutil.rmtree(stale, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        for name, obj in (extra_state or {}).items():
            torch.save(obj.state_dict(), partial / f"{name}.pt")
        _fsync_tree(partial)
        if final.exists():  # the same step saved again (e.g. the final save of a resumed run)
            shutil.rmtree(final)
        os.replace(partial, final)
        _fsync_dir(directory)
        if total_limit is not None:
            for _, old in list_checkpoints(directory)[:-total_limit]:
                logger.info(f"removing old checkpoint {old}")
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_extra_state(checkpoint: str | os.PathLike, extra_state: dict[str, Any]) -> None:
    """Restores the objects saved by ``save_checkpoint(..., extra_state=...)`` from a checkpoint folder."""
    for name, obj in extra_state.items():
        path = Path(checkpoint) / f"{name}.pt"
        if not path.is_file():
            raise FileNotFoundError(f"The checkpoint {checkpoint} has no {name}.pt: it was saved without {name}.")
        obj.load_state_dict(torch.load(path, map_location="cpu", weights_only=False))


def _fsync_tree(root: Path) -> None:
    """Flushes every file of a finished checkpoint to disk before it is published by the rename."""
    for path in root.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(root)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
