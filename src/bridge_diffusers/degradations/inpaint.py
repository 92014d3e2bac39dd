# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Inpainting tasks: ``inpaint-center``, ``inpaint-freeform1020`` and ``inpaint-freeform2030``.

The erased region is filled with white (``+1``), as in the official I2SB code, and returned as a mask.

The official free-form tasks read fixed Palette mask files, which cannot be obtained offline; here the masks
are drawn procedurally instead, as random brush strokes in the style of the DeepFill / Palette free-form
generators, with the fraction of erased pixels guaranteed to fall inside the task's range.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from PIL import Image, ImageDraw

from .base import Degradation, DegradationOutput, GeneratorType, per_sample_generators, rand
from .registry import register_degradation


__all__ = ["FreeformMask", "Inpainting", "center_mask"]

#: Smallest image side the free-form generator accepts: below it a single brush stroke is a large part of the image.
MIN_FREEFORM_SIZE = 32


def center_mask(height: int, width: int) -> torch.Tensor:
    """The official centre box: rows ``h//4 : h//4 + h//2``, columns ``w//4 : w//4 + w//2``.

    Args:
        height (`int`), width (`int`): the image size.

    Returns:
        `torch.Tensor` of shape `(height, width)`, float32, ``1`` inside the box (a quarter of a 256x256 image).
    """
    mask = torch.zeros(height, width)
    mask[height // 4 : height // 4 + height // 2, width // 4 : width // 4 + width // 2] = 1
    return mask


def _draw_segment(
    height: int, width: int, start: tuple[float, float], end: tuple[float, float], brush: float
) -> np.ndarray:
    """A ``(height, width)`` bool array with a straight brush stroke with round ends from ``start`` to ``end``."""
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    draw.line([start, end], fill=255, width=max(1, round(brush)))
    radius = brush / 2
    for x, y in (start, end):
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=255)
    return np.asarray(canvas) > 0


class FreeformMask:
    """Random free-form masks made of brush strokes, with a guaranteed hole fraction.

    Each stroke is a random-walk polyline: it starts at a uniformly drawn point with a random heading and brush
    width, then takes a few segments of random length, turning by a random angle before each. Strokes are added
    one segment at a time until the hole covers at least ``coverage[0]`` of the image. If a segment would push
    the coverage above ``coverage[1]`` it is trimmed: only its new pixels nearest to its start are kept, as if
    the brush had been lifted early, leaving the coverage mid-range. Every mask therefore lands in the range.
    Brush sizes scale with the image, and one segment covers at most about 4% of it, so trimming only happens
    for ranges narrower than that.

    Args:
        coverage (`tuple[float, float]`, *optional*, defaults to `(0.1, 0.2)`):
            ``(low, high)`` bounds on the fraction of hole pixels, ``0 < low < high < 1``.
        max_vertices (`int`, *optional*, defaults to `8`):
            The most segments per stroke (at least 2 are drawn).
        max_turn (`float`, *optional*, defaults to `math.pi / 3`):
            The largest heading change between consecutive segments, in radians.
    """

    def __init__(
        self,
        coverage: tuple[float, float] = (0.1, 0.2),
        max_vertices: int = 8,
        max_turn: float = math.pi / 3,
    ) -> None:
        if len(coverage) != 2:
            raise ValueError(f"`coverage` must be a (low, high) pair, got {coverage!r}.")
        low, high = (float(value) for value in coverage)
        if not 0 < low < high < 1:
            raise ValueError(f"`coverage` must satisfy 0 < low < high < 1, got ({low}, {high}).")
        if max_vertices < 2:
            raise ValueError(f"`max_vertices` must be at least 2, got {max_vertices}.")
        self.coverage = (low, high)
        self.max_vertices = int(max_vertices)
        self.max_turn = float(max_turn)

    def __call__(
        self,
        batch_size: int,
        height: int,
        width: int,
        generator: GeneratorType = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Draw one mask per batch item.

        Args:
            batch_size (`int`): the number of masks ``B``.
            height (`int`), width (`int`): the mask size, both at least 32.
            generator (`torch.Generator`, `list[torch.Generator]` or `None`, *optional*):
                One generator for all masks, one per mask (mask ``i`` uses ``generator[i]``), or ``None`` for
                torch's global RNG.
            device (`torch.device` or `str`, *optional*), dtype (`torch.dtype`, *optional*): of the result.

        Returns:
            `torch.Tensor` of shape `(B, 1, height, width)`: ``1.0`` in the holes, ``0.0`` elsewhere.
        """
        generators = per_sample_generators(generator, batch_size)
        masks = np.stack([self.sample(height, width, gen) for gen in generators])
        return torch.from_numpy(masks)[:, None].to(device=device, dtype=dtype)

    def check_size(self, height: int, width: int) -> tuple[int, int]:
        """Check that masks of this size can be drawn; return the allowed ``(low, high)`` hole pixel counts."""
        if height < MIN_FREEFORM_SIZE or width < MIN_FREEFORM_SIZE:
            raise ValueError(
                f"Free-form masks need images of at least {MIN_FREEFORM_SIZE}x{MIN_FREEFORM_SIZE} pixels, "
                f"got {height}x{width}."
            )
        pixels = height * width
        low_count, high_count = math.ceil(self.coverage[0] * pixels), math.floor(self.coverage[1] * pixels)
        if low_count > high_count:
            raise ValueError(f"No pixel count of a {height}x{width} image has a coverage in {self.coverage}.")
        return low_count, high_count

    def sample(self, height: int, width: int, generator: torch.Generator | None = None) -> np.ndarray:
        """Draw a single mask.

        Args:
            height (`int`), width (`int`): the mask size, both at least 32.
            generator (`torch.Generator`, *optional*): the random source; ``None`` for torch's global RNG.

        Returns:
            `np.ndarray` of shape `(height, width)`, bool, ``True`` in the hole.
        """
        low_count, high_count = self.check_size(height, width)
        # Brush sizes follow the image so that a mask looks alike at every resolution.
        side = min(height, width)
        min_brush, max_brush = max(3.0, side / 24), max(4.0, side / 10)
        min_length, max_length = side / 16, side / 5

        mask = np.zeros((height, width), dtype=bool)
        count = 0
        while count < low_count:
            x, y, heading, brush_draw, vertices_draw = rand((5,), generator).tolist()
            x, y = x * (width - 1), y * (height - 1)
            heading *= 2 * math.pi
            brush = min_brush + brush_draw * (max_brush - min_brush)
            vertices = 2 + int(vertices_draw * (self.max_vertices - 1))
            for _ in range(vertices):
                turn, length_draw = rand((2,), generator).tolist()
                heading += (2 * turn - 1) * self.max_turn
                length = min_length + length_draw * (max_length - min_length)
                # Clipping keeps the stroke inside the image; it then slides along the border.
                end_x = min(max(x + length * math.cos(heading), 0.0), width - 1.0)
                end_y = min(max(y + length * math.sin(heading), 0.0), height - 1.0)
                new = _draw_segment(height, width, (x, y), (end_x, end_y), brush) & ~mask
                added = int(new.sum())
                if count + added > high_count:
                    new = self._trim(new, (x, y), (end_x, end_y), (low_count + high_count) // 2 - count)
                    added = int(new.sum())
                mask |= new
                count += added
                x, y = end_x, end_y
                if count >= low_count:
                    break
        return mask

    @staticmethod
    def _trim(new: np.ndarray, start: tuple[float, float], end: tuple[float, float], keep: int) -> np.ndarray:
        """Keep the ``keep`` pixels of ``new`` that come first along the segment from ``start`` to ``end``."""
        rows, cols = np.nonzero(new)
        direction = np.array([end[0] - start[0], end[1] - start[1]])
        norm = np.linalg.norm(direction)
        if norm > 0:
            progress = ((cols - start[0]) * direction[0] + (rows - start[1]) * direction[1]) / norm
        else:
            progress = np.hypot(cols - start[0], rows - start[1])
        order = np.argsort(progress, kind="stable")[:keep]
        trimmed = np.zeros_like(new)
        trimmed[rows[order], cols[order]] = True
        return trimmed


def _coverage_tag(coverage: tuple[float, float]) -> str:
    percents = [value * 100 for value in coverage]
    if all(abs(p - round(p)) < 1e-9 for p in percents):
        return "".join(f"{round(p):02d}" for p in percents)
    return "-" + "-".join(f"{value:g}" for value in coverage)


@register_degradation("inpaint-center", mask="center")
@register_degradation("inpaint-freeform1020", aliases=("inpaint-freeform",), mask="freeform", coverage=(0.1, 0.2))
@register_degradation("inpaint-freeform2030", mask="freeform", coverage=(0.2, 0.3))
class Inpainting(Degradation):
    """Erase a region and paint it white: ``degraded = images * (1 - mask) + mask``.

    Args:
        mask (`str`, *optional*, defaults to `"center"`):
            ``"center"``: the official centre box covering a quarter of the image (``inpaint-center``).
            ``"freeform"``: procedural brush strokes from :class:`FreeformMask`, one mask per image.
        coverage (`tuple[float, float]`, *optional*, defaults to `(0.1, 0.2)`):
            For ``"freeform"``: the range of the hole fraction; ``(0.1, 0.2)`` for ``inpaint-freeform1020``,
            ``(0.2, 0.3)`` for ``inpaint-freeform2030``. Ignored for ``"center"``.
    """

    def __init__(
        self, mask: Literal["center", "freeform"] = "center", coverage: tuple[float, float] = (0.1, 0.2)
    ) -> None:
        if mask not in ("center", "freeform"):
            raise ValueError(f"Unknown inpainting mask {mask!r}; expected 'center' or 'freeform'.")
        self.mask = mask
        self.mask_generator = FreeformMask(coverage) if mask == "freeform" else None
        self.name = "inpaint-center" if self.mask_generator is None else f"inpaint-freeform{_coverage_tag(coverage)}"

    def make_masks(
        self, batch_size: int, height: int, width: int, generators: list[torch.Generator | None]
    ) -> torch.Tensor:
        """The ``(B, 1, H, W)`` float32 CPU masks for a batch (``1`` = hole)."""
        if self.mask_generator is None:
            return center_mask(height, width).repeat(batch_size, 1, 1, 1)
        masks = np.stack([self.mask_generator.sample(height, width, gen) for gen in generators])
        return torch.from_numpy(masks)[:, None].float()

    def check_input(self, images: torch.Tensor) -> None:
        if self.mask_generator is not None:
            self.mask_generator.check_size(*images.shape[-2:])

    def apply(self, images: torch.Tensor, generators: list[torch.Generator | None]) -> DegradationOutput:
        batch_size, _, height, width = images.shape
        mask = self.make_masks(batch_size, height, width, generators).to(device=images.device, dtype=images.dtype)
        # A white hole keeps the degraded image in [-1, 1] and marks the region unambiguously.
        degraded = images * (1 - mask) + mask
        return DegradationOutput(degraded=degraded, mask=mask)

    def __repr__(self) -> str:
        coverage = "" if self.mask_generator is None else f", coverage={self.mask_generator.coverage}"
        return f"{type(self).__name__}(mask={self.mask!r}{coverage})"
