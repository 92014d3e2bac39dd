# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Crash-safe ``accelerate`` checkpoints, ``--resume_from_checkpoint``, and the seeding that makes a resume exact.

A checkpoint is ``accelerator.save_state`` written into ``checkpoint-N.partial`` and renamed to ``checkpoint-N``
once every process has finished writing: a run killed mid-write leaves a ``.partial`` folder that nothing loads
(and the next save removes), never a ``checkpoint-N`` that cannot load. ``latest`` is the complete checkpoint with
the largest N. The scripts' save/load hooks put ``save_pretrained`` folders (``unet``, ``unet_ema``, ...) inside.

A checkpoint can still be damaged after it was written (a full disk, a copy cut short, a file overwritten): resuming
from ``latest`` then skips it with a warning that names it and the file at fault, and loads the next newest one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from safetensors import safe_open


__all__ = [
    "damaged_file",
    "find_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "save_checkpoint",
    "step_generator",
]

logger = logging.getLogger(__name__)

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


def damaged_file(checkpoint: str | os.PathLike) -> Path | None:
    """The first file of a checkpoint folder that cannot be read (a truncated or overwritten safetensors file, a
    JSON file that does not parse, an empty file), or None when every file looks whole. Reads headers only."""
    for path in sorted(Path(checkpoint).rglob("*")):
        if not path.is_file():
            continue
        try:
            if path.stat().st_size == 0:
                return path
            if path.suffix == ".safetensors":
                with safe_open(str(path), framework="pt") as handle:
                    handle.keys()
            elif path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
        except Exception:
            return path
    return None


def _try_load(accelerator: Accelerator, path: Path) -> str | None:
    """``accelerator.load_state(path)``; the reason it failed, or None. Every process loads, and the result is
    agreed on by all of them, so that no process goes on from a checkpoint that another could not load."""
    error = None
    bad = damaged_file(path)
    if bad is not None:
        error = f"{bad} is damaged"
    else:
        try:
            accelerator.load_state(str(path))
        except Exception as caught:  # a file the header check let through: any failure of the load
            error = f"{type(caught).__name__}: {' '.join(str(caught).split())}"[:500]
    failed = accelerator.gather(torch.tensor([int(error is not None)], device=accelerator.device)).sum().item() > 0
    if failed and error is None:
        error = "another process could not load it"
    return error


def load_checkpoint(accelerator: Accelerator, directory: str | os.PathLike, which: str | None) -> int:
    """``accelerator.load_state`` of the checkpoint that ``--resume_from_checkpoint`` names; returns its step
    (0 without one: a fresh run).

    With ``latest``, a checkpoint that cannot be loaded (a file truncated or overwritten after it was written) is
    skipped with a warning that names it and the file at fault, and the next newest one is loaded; with none
    loadable the run starts afresh, with a warning. A checkpoint named by its path must load.

    Raises:
        ValueError: ``which`` names a checkpoint that is not a complete folder, or one that cannot be loaded.
    """
    found = find_checkpoint(directory, which) if which else None
    if found is None:
        if which:
            accelerator.print(f"No checkpoint in {directory} yet: starting a new run.")
        return 0
    candidates = list(reversed(list_checkpoints(directory))) if which == "latest" else [found]
    for step, path in candidates:
        accelerator.print(f"Resuming from {path}")
        error = _try_load(accelerator, path)
        if error is None:
            return step
        if which != "latest":
            raise ValueError(f"--resume_from_checkpoint {which}: {path} cannot be loaded ({error})")
        message = f"The checkpoint {path} cannot be loaded ({error}): skipping it for the next newest one."
        accelerator.print(f"WARNING: {message}")
        logger.warning(message)
    message = f"No checkpoint in {directory} can be loaded: starting a new run."
    accelerator.print(f"WARNING: {message}")
    logger.warning(message)
    return 0


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
        # The newest `total_limit` up to this step are kept: a newer one left by an abandoned run (resumed from an
        # older checkpoint) never pushes out the one just written, and is replaced when the run reaches its step.
        kept = [(s, p) for s, p in list_checkpoints(directory) if s <= step]
        for _, old in kept[: -total_limit if total_limit else 0]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
