# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Validation during training: fidelity scores and a sample grid."""

from __future__ import annotations

from pathlib import Path

import torch

from ..evaluation import save_image_grid, score
from .data import TrainingPair


__all__ = ["save_validation_grid", "score_restorations"]


def score_restorations(restored: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM of restorations against the clean images, both (B, C, H, W) in [-1, 1]."""
    return score(restored.detach().float().cpu(), clean.float().cpu(), frechet=False)


def save_validation_grid(pair: TrainingPair, restored: torch.Tensor, path: str | Path) -> Path:
    """Writes a PNG with one column per validation image and the rows degraded / restored / clean."""
    return save_image_grid([pair.degraded.clamp(-1, 1), restored, pair.clean], path, max_columns=len(restored))
