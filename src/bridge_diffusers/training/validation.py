# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Validation during training: PSNR/SSIM, and a degraded / restored / clean grid saved and sent to the trackers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import torch
from accelerate import Accelerator

from ..metrics import psnr, ssim


__all__ = ["log_validation"]


def log_validation(
    accelerator: Accelerator,
    name: str,
    restored: torch.Tensor,
    clean: torch.Tensor,
    degraded: torch.Tensor,
    step: int,
    output_dir: str,
) -> dict[str, float]:
    """Scores restorations against the clean images and logs them (main process).

    Writes ``<output_dir>/validation/<name>-step-<step>.png`` (one column per image, rows degraded / restored /
    clean), adds the same grid to TensorBoard (``add_images``) or W&B, and logs ``<name>/val_psnr`` and
    ``<name>/val_ssim``. All images are `(B, C, H, W)` in ``[-1, 1]``.
    """
    rows = [((x.detach().float().cpu() + 1) / 2).clamp(0, 1) for x in (degraded, restored, clean)]
    metrics = {
        "psnr": float(psnr(rows[1], rows[2], reduction="mean")),
        "ssim": float(ssim(rows[1], rows[2], reduction="mean")),
    }
    grid = torch.cat([torch.cat(list(row), dim=-1) for row in rows], dim=-2)  # (C, 3 H, B W)
    path = Path(output_dir) / "validation" / f"{name}-step-{step:07d}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(np.round(grid.permute(1, 2, 0).numpy() * 255).astype(np.uint8).squeeze()).save(path)
    for tracker in accelerator.trackers:
        if tracker.name == "tensorboard":
            tracker.writer.add_images(f"{name}/validation", grid[None], step)
        elif tracker.name == "wandb":
            import wandb

            tracker.log({f"{name}/validation": wandb.Image(str(path))}, step=step)
    accelerator.log({f"{name}/val_{key}": value for key, value in metrics.items()}, step=step)
    accelerator.print(f"[{name}] step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    return metrics
