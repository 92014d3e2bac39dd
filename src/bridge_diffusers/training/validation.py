# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Validation during training: fidelity scores and a sample grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import torch

from ..metrics import psnr, ssim
from .data import TrainingPair


__all__ = ["save_validation_grid", "score_restorations"]


def _to_unit(images: torch.Tensor) -> torch.Tensor:
    return ((images.detach().float().cpu() + 1) / 2).clamp(0, 1)


def score_restorations(restored: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM of restorations against the clean images, both (B, C, H, W) in [-1, 1]."""
    restored01, clean01 = _to_unit(restored), _to_unit(clean)
    return {
        "psnr": float(psnr(restored01, clean01, reduction="mean")),
        "ssim": float(ssim(restored01, clean01, reduction="mean")),
    }


def save_validation_grid(pair: TrainingPair, restored: torch.Tensor, path: str | Path) -> Path:
    """Writes a PNG with one column per validation image and the rows degraded / restored / clean."""
    rows = [_to_unit(pair.degraded), _to_unit(restored), _to_unit(pair.clean)]
    grid = torch.cat([torch.cat(list(row), dim=-1) for row in rows], dim=-2)  # (C, 3H, B*W)
    array = np.round(grid.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).save(path)
    return path
