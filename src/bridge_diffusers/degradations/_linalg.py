# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Helpers shared by the separable linear operators (blur, bicubic down-sampling)."""

from __future__ import annotations

import torch


__all__ = ["SVD_ZERO_THRESHOLD", "apply_separable", "truncate_singular_values"]

# DDRM represents its linear operators by their SVD and zeroes the singular values below this threshold; the
# official I2SB corruptions inherit that, so the released checkpoints saw the truncated operators.
SVD_ZERO_THRESHOLD = 3e-2


def truncate_singular_values(matrix: torch.Tensor, threshold: float = SVD_ZERO_THRESHOLD) -> torch.Tensor:
    """Rebuild ``matrix`` from its SVD with the singular values below ``threshold`` set to zero.

    Args:
        matrix (`torch.Tensor` of shape `(M, N)`): the operator, best given in float64.
        threshold (`float`, *optional*): singular values strictly below it are dropped.

    Returns:
        `torch.Tensor` of shape `(M, N)`: ``U diag(S') V^T`` in ``matrix``'s dtype.
    """
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    s = torch.where(s < threshold, torch.zeros_like(s), s)
    return (u * s) @ vh


def apply_separable(images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Apply a separable 2-D operator ``rows @ X @ cols.T`` to every channel of every image.

    Args:
        images (`torch.Tensor` of shape `(B, C, H, W)`): any values.
        rows (`torch.Tensor` of shape `(H', H)`): the operator along the height.
        cols (`torch.Tensor` of shape `(W', W)`): the operator along the width.

    Returns:
        `torch.Tensor` of shape `(B, C, H', W')`.
    """
    return rows @ images @ cols.T
