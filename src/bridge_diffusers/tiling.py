# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Restoring images larger than memory allows: overlapping tiles, restored in batches, blended with feathered weights.

Bridge networks are convolutional, so a tile restores like the same region of the whole image except near its
border, where the network lacks context. Tiles overlap by at least ``overlap`` pixels and are blended with weights
that ramp linearly to zero at each interior tile edge, which hides the seams; the image border keeps full weight.

Every tile of an image has the same shape, ``min(tile, H) x min(tile, W)``: the last tile of a row or column is
shifted back to end at the image border (it overlaps its neighbour by more) instead of being cut short or padded,
so a compiled network sees one shape for all tiles and the edge tiles see real pixels. An image no larger than a
tile is one tile, restored exactly as without tiling.

Randomness: with ``seed``, tile ``(top, left)`` gets its own generator seeded from ``(seed, top, left)``, so a
tile's restoration does not depend on ``batch_size`` nor on which tiles share its batch (batched and one-by-one
tiling agree up to the floating-point rounding of batched kernels). Without ``seed`` the restorer draws from
whatever generator it holds, and the result depends on the order and grouping of the calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch


__all__ = ["pipeline_restorer", "restore_tiled", "tile_generators", "tile_positions", "tile_seed", "tile_starts"]

TileRestorer = Callable[..., torch.Tensor]


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``0 .. length`` with at least ``overlap`` px of overlap.

    The last tile ends at ``length`` (it overlaps its neighbour by ``overlap`` px or more); a length no larger
    than a tile is one tile at 0.
    """
    if tile <= overlap:
        raise ValueError(f"The tile size ({tile}) must exceed the overlap ({overlap}).")
    if overlap < 0:
        raise ValueError(f"The overlap must be >= 0, got {overlap}.")
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    return [*starts, length - tile]


def tile_positions(height: int, width: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """``(top, left)`` of every tile of an ``height x width`` image, row by row."""
    return [(top, left) for top in tile_starts(height, tile, overlap) for left in tile_starts(width, tile, overlap)]


def tile_seed(seed: int, top: int, left: int) -> int:
    """The seed of the tile at ``(top, left)``: a hash of the three (NumPy's ``SeedSequence``), in [0, 2**63)."""
    if seed < 0:
        raise ValueError(f"`seed` must be >= 0, got {seed}.")
    state = np.random.SeedSequence([seed, top, left]).generate_state(1, np.uint64)[0]
    return int(state) & (2**63 - 1)


def tile_generators(
    seed: int, positions: Sequence[tuple[int, int]], device: str | torch.device = "cpu"
) -> list[torch.Generator]:
    """One ``torch.Generator`` per tile position, seeded by :func:`tile_seed`."""
    return [torch.Generator(device).manual_seed(tile_seed(seed, top, left)) for top, left in positions]


def pipeline_restorer(pipe, num_inference_steps: int | None = None) -> TileRestorer:
    """A restorer for :func:`restore_tiled` from a pipeline: ``pipe.restore`` on a batch of tiles in ``[-1, 1]``,
    with one generator per tile when :func:`restore_tiled` is given a ``seed``."""

    def restore(tiles: torch.Tensor, masks: torch.Tensor | None, generators=None) -> torch.Tensor:
        return pipe.restore(tiles, masks, num_inference_steps, generators)

    return restore


def _ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> torch.Tensor:
    """1-D blending weights: a linear ramp over ``overlap`` px at each interior edge, 1 elsewhere."""
    weight = torch.ones(length)
    ramp = torch.linspace(0, 1, overlap + 2)[1:-1] if overlap else torch.ones(0)
    if not at_start and overlap:
        weight[:overlap] = ramp
    if not at_end and overlap:
        weight[length - overlap :] = ramp.flip(0)
    return weight


def _progress_bar(progress, total: int):
    """``(bar, owned)``: the caller's tqdm-like object, an internal tqdm (``None``), or nothing (``False``)."""
    if progress is False:
        return None, False
    if progress is None:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc="tiles", unit="tile", leave=False, disable=total < 2), True
    if not callable(getattr(progress, "update", None)):
        raise TypeError(f"`progress` must be None, False or have an `update(n)` method, got {type(progress)}.")
    return progress, False


def restore_tiled(
    restore: TileRestorer,
    image: torch.Tensor,
    tile: int = 512,
    overlap: int = 64,
    mask: torch.Tensor | None = None,
    batch_size: int = 1,
    progress=None,
    *,
    seed: int | None = None,
    pad_batch: bool = False,
) -> torch.Tensor:
    """Applies ``restore`` to overlapping tiles of ``image`` (and of its inpainting ``mask``), ``batch_size`` tiles
    per call, and blends the results.

    Args:
        restore: ``restore(tiles, masks)`` maps `(N, C, h, w)` tiles (and their `(N, 1, h, w)` masks, or None) to
            their restorations, same shape, e.g. a pipeline's ``restore`` on [-1, 1] tensors
            (:func:`pipeline_restorer`). With ``seed`` it is called as ``restore(tiles, masks, generators)`` with
            one ``torch.Generator`` per tile.
        image (`torch.Tensor` of shape `(1, C, H, W)`): the image, in the range ``restore`` takes.
        tile (`int`): tile side in pixels; every tile is ``min(tile, H) x min(tile, W)``.
        overlap (`int`): the least overlap between neighbouring tiles in pixels, blended linearly.
        mask (`torch.Tensor` of shape `(1, 1, H, W)`, *optional*): the inpainting hole, cut into the same tiles.
        batch_size (`int`, defaults to 1): tiles per ``restore`` call.
        progress: a tqdm-like object whose ``update(n)`` is called with the tiles done, ``None`` for an internal
            tqdm bar (shown when there are two tiles or more), or ``False`` for none.
        seed (`int`, *optional*): seed the tiles' generators from ``(seed, top, left)`` (see the module's note).
        pad_batch (`bool`, defaults to `False`): fill the last batch up to ``batch_size`` with copies of its last
            tile (their results are dropped), so that a compiled network sees one batch shape; costs up to
            ``batch_size - 1`` extra tiles per image.

    Returns:
        `torch.Tensor` of shape `(1, C, H, W)`, float32 on the image's device: the blended restoration.
    """
    if image.ndim != 4 or image.shape[0] != 1:
        raise ValueError(f"`image` must have shape (1, C, H, W), got {tuple(image.shape)}.")
    if mask is not None and (mask.ndim != 4 or mask.shape[:2] != (1, 1) or mask.shape[-2:] != image.shape[-2:]):
        raise ValueError(
            f"`mask` must have shape (1, 1, H, W) = {(1, 1, *image.shape[-2:])}, got {tuple(mask.shape)}."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    height, width = image.shape[-2:]
    h, w = min(tile, height), min(tile, width)
    positions = tile_positions(height, width, tile, overlap)
    total = torch.zeros(image.shape, dtype=torch.float32, device=image.device)
    weights = torch.zeros(1, 1, height, width, device=image.device)
    bar, owned = _progress_bar(progress, len(positions))
    try:
        for start in range(0, len(positions), batch_size):
            chunk = positions[start : start + batch_size]
            called = chunk + [chunk[-1]] * (batch_size - len(chunk) if pad_batch else 0)
            tiles = torch.cat([image[..., top : top + h, left : left + w] for top, left in called])
            masks = None if mask is None else torch.cat([mask[..., y : y + h, x : x + w] for y, x in called])
            extra = () if seed is None else (tile_generators(seed, called),)
            restored = restore(tiles, masks, *extra)
            if tuple(restored.shape) != tuple(tiles.shape):
                raise ValueError(f"`restore` returned shape {tuple(restored.shape)} for tiles {tuple(tiles.shape)}.")
            restored = restored[: len(chunk)].to(image.device, torch.float32)
            for (top, left), patch in zip(chunk, restored, strict=True):
                weight = torch.outer(
                    _ramp(h, overlap, top == 0, top + h == height), _ramp(w, overlap, left == 0, left + w == width)
                ).to(image.device)
                total[..., top : top + h, left : left + w] += patch * weight
                weights[..., top : top + h, left : left + w] += weight
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if owned:
            bar.close()
    return total / weights
