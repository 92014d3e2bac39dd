# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Crash-safe ``accelerate`` checkpoints, ``--resume_from_checkpoint``, and the seeding that makes a resume exact.

A checkpoint is ``accelerator.save_state`` written into ``checkpoint-N.partial`` and renamed to ``checkpoint-N``
once every process has finished writing: a run killed mid-write leaves a ``.partial`` folder that nothing loads
(and the next save removes), never a ``checkpoint-N`` that cannot load. ``latest`` is the complete checkpoint with
the largest N. The scripts' save/load hooks put ``save_pretrained`` folders (``unet``, ``unet_ema``, ...) inside.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator


__all__ = ["find_checkpoint", "list_checkpoints", "load_checkpoint", "save_checkpoint", "step_generator"]

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def step_generator(seed: int, step: int, process_index: int, device: torch.device | str) -> torch.Generator:
    """The generator of one training micro-step (bridge times and noise), seeded from ``(seed, step, process)``
    alone: a resumed run draws what the uninterrupted run drew, and processes draw different noise. (Data crops
    and degradations are seeded by their item index.)"""
    state = np.random.SeedSequence([seed, step, process_index]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator(device=device).manual_seed(int(state >> np.uint64(1)))


def list_checkpoints(directory: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete checkpoints in ``directory`` as ``(step, path)``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted((int(m.group(1)), p) for p in directory.iterdir() if (m := _CHECKPOINT.match(p.name)) and p.is_dir())


def find_checkpoint(directory: str | os.PathLike, which: str) -> tuple[int, Path] | None:
    """Resolves ``--resume_from_checkpoint``: ``"latest"`` (None when there is none yet) or a checkpoint path
    (absolute, or relative to the working directory or to ``directory``).

    Raises:
        ValueError: a path that is not a complete ``checkpoint-N`` folder.
    """
    if which == "latest":
        checkpoints = list_checkpoints(directory)
        return checkpoints[-1] if checkpoints else None
    path = Path(which) if Path(which).exists() else Path(directory) / which
    if not (match := _CHECKPOINT.match(path.name)) or not path.is_dir():
        complete = [p.name for _, p in list_checkpoints(directory)]
        raise ValueError(
            f"--resume_from_checkpoint {which!r} is not a complete checkpoint folder named "
            f"checkpoint-<step> (complete ones in {directory}: {complete}); or pass 'latest'."
        )
    return int(match.group(1)), path


def load_checkpoint(accelerator: Accelerator, directory: str | os.PathLike, which: str | None) -> int:
    """``accelerator.load_state`` of the checkpoint that ``--resume_from_checkpoint`` names; returns its step
    (0 without one: a fresh run)."""
    found = find_checkpoint(directory, which) if which else None
    if found is None:
        if which:
            accelerator.print(f"No checkpoint in {directory} yet: starting a new run.")
        return 0
    accelerator.print(f"Resuming from {found[1]}")
    accelerator.load_state(str(found[1]))
    return found[0]


def save_checkpoint(
    accelerator: Accelerator, directory: str | os.PathLike, step: int, total_limit: int | None
) -> Path:
    """``accelerator.save_state`` into ``directory/checkpoint-<step>``, atomically, then removes the oldest
    complete checkpoints so that at most ``total_limit`` remain. Must be called on every process."""
    directory = Path(directory)
    final, partial = directory / f"checkpoint-{step}", directory / f"checkpoint-{step}.partial"
    if accelerator.is_main_process:
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("checkpoint-*.partial"):
            shutil.rmtree(stale, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        for path in [*partial.rglob("*"), partial]:  # on disk before the rename publishes the checkpoint
            _fsync(path)
        if final.exists():  # the same step saved again (the final save of a resumed run)
            shutil.rmtree(final)
        os.replace(partial, final)
        _fsync(directory)
        for _, old in list_checkpoints(directory)[: -total_limit if total_limit else 0]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
