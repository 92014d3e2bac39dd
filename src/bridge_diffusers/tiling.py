# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Restoring images larger than memory allows: overlapping tiles blended with feathered weights.

Bridge networks are convolutional, so a tile restores like the same region of the whole image except near its
border, where the network lacks context. Tiles overlap by ``overlap`` pixels and are blended with weights that
ramp linearly to zero at each interior tile edge, which hides the seams; the image border keeps full weight.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


__all__ = ["restore_tiled", "tile_starts"]


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``0 .. length`` with at least ``overlap`` px of overlap."""
    if tile <= overlap:
        raise ValueError(f"The tile size ({tile}) must exceed the overlap ({overlap}).")
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    return [*starts, length - tile]


def _ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> torch.Tensor:
    """1-D blending weights: a linear ramp over ``overlap`` px at each interior edge, 1 elsewhere."""
    weight = torch.ones(length)
    ramp = torch.linspace(0, 1, overlap + 2)[1:-1] if overlap else torch.ones(0)
    if not at_start and overlap:
        weight[:overlap] = ramp
    if not at_end and overlap:
        weight[length - overlap :] = ramp.flip(0)
    return weight


def restore_tiled(
    restore: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
    image: torch.Tensor,
    tile: int = 512,
    overlap: int = 64,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Applies ``restore`` to overlapping tiles of ``image`` (and of its inpainting ``mask``) and blends the results.

    Args:
        restore: ``restore(tile, tile_mask)`` maps a (1, C, h, w) tile (and its (1, 1, h, w) mask or None) to its
            restoration, same shape, e.g. a pipeline's ``restore`` on [-1, 1] tensors.
        image (`torch.Tensor` of shape `(1, C, H, W)`): the image, in the range ``restore`` takes.
        tile (`int`): tile side in pixels (tiles are clipped to the image); an image no larger is one tile.
        overlap (`int`): overlap between neighbouring tiles in pixels.
        mask (`torch.Tensor` of shape `(1, 1, H, W)`, *optional*): the inpainting hole, cut into the same tiles.

    Returns:
        `torch.Tensor` of shape `(1, C, H, W)`: the blended restoration.
    """
    if image.ndim != 4 or image.shape[0] != 1:
        raise ValueError(f"`image` must have shape (1, C, H, W), got {tuple(image.shape)}.")
    height, width = image.shape[-2:]
    total = torch.zeros_like(image, dtype=torch.float32)
    weights = torch.zeros(1, 1, height, width)
    rows, cols = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    for top in rows:
        for left in cols:
            h, w = min(tile, height), min(tile, width)
            window = (..., slice(top, top + h), slice(left, left + w))
            patch = restore(image[window], None if mask is None else mask[window]).float().cpu()
            weight = torch.outer(
                _ramp(h, overlap, top == 0, top + h == height), _ramp(w, overlap, left == 0, left + w == width)
            )
            total[..., top : top + h, left : left + w] += patch * weight
            weights[..., top : top + h, left : left + w] += weight
    return total / weights
