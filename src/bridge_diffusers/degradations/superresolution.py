# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""4x super-resolution tasks: ``sr4x-pool`` and ``sr4x-bicubic``.

Both down-sample by 4 and bring the result back to the input size by nearest-neighbour repetition, so the
degraded image and the clean one share a shape (a bridge needs both ends in one space). A real low-resolution photo
reaches the network the same way: :meth:`SuperResolution.upsample` repeats each pixel ``factor x factor`` times
(what the pipelines do when they upscale), and :meth:`SuperResolution.low_resolution` gives the small image that a
user has.

* ``pool``: exact 4x4 average pooling.
* ``bicubic``: the official DDRM/I2SB operator, a separable 16-tap bicubic filter (Keys, ``a = -0.5``) with
  stride 4 and reflective padding, represented by its SVD with the singular values below ``3e-2`` zeroed.
"""

from __future__ import annotations

import functools
from typing import Literal

import torch
import torch.nn.functional as F

from ._linalg import apply_separable, truncate_singular_values
from .base import Degradation, DegradationOutput, compute_dtype, validate_images
from .registry import register_degradation


__all__ = ["SuperResolution", "bicubic_downsampling_matrix", "bicubic_kernel_taps", "keys_cubic"]

SRFilter = Literal["pool", "bicubic"]


def keys_cubic(x: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    """Keys' cubic convolution kernel, the interpolant behind "bicubic" resizing.

    Args:
        x (`torch.Tensor`): sample positions, any shape.
        a (`float`, *optional*, defaults to `-0.5`): the free parameter.

    Returns:
        `torch.Tensor` of ``x``'s shape: the kernel values (zero for ``|x| >= 2``).
    """
    t = x.abs()
    near = (a + 2) * t**3 - (a + 3) * t**2 + 1
    far = a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return torch.where(t <= 1, near, torch.where(t < 2, far, torch.zeros_like(t)))


def bicubic_kernel_taps(factor: int = 4) -> torch.Tensor:
    """The bicubic anti-aliasing filter for down-sampling by ``factor``, normalised to sum 1.

    ``4 * factor`` taps at positions ``(i - 2 * factor + 0.5) / factor``: the cubic kernel stretched by
    ``factor`` and sampled at pixel centres around the centre of a ``factor``-pixel block.

    Args:
        factor (`int`, *optional*, defaults to `4`): the down-sampling factor.

    Returns:
        `torch.Tensor` of shape `(4 * factor,)`, float64, symmetric.
    """
    positions = (torch.arange(4 * factor, dtype=torch.float64) - 2 * factor + 0.5) / factor
    taps = keys_cubic(positions)
    return taps / taps.sum()


def _reflect(index: int, size: int) -> int:
    """Fold an out-of-range index back into ``[0, size)`` by half-sample reflection (edge pixel repeated)."""
    index %= 2 * size
    return index if index < size else 2 * size - 1 - index


def _bicubic_band_matrix(size: int, factor: int) -> torch.Tensor:
    """The raw ``(size // factor, size)`` strided bicubic filter with reflective padding (float64, rows sum to 1)."""
    taps = bicubic_kernel_taps(factor)
    half = taps.shape[0] // 2
    matrix = torch.zeros(size // factor, size, dtype=torch.float64)
    for row in range(size // factor):
        # Tap k sits at pixel start + k, centring the filter on the block [row * factor, (row + 1) * factor).
        start = row * factor + factor // 2 - half
        for k in range(taps.shape[0]):
            matrix[row, _reflect(start + k, size)] += taps[k]
    return matrix


@functools.lru_cache(maxsize=32)
def _cached_bicubic_matrix(size: int, factor: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    matrix = truncate_singular_values(_bicubic_band_matrix(size, factor))
    return matrix.to(device=device, dtype=dtype)


def bicubic_downsampling_matrix(
    size: int,
    factor: int = 4,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The official 1-D bicubic down-sampling operator (cached per size, factor, device and dtype).

    The strided filter of :func:`bicubic_kernel_taps` with reflective padding, rebuilt from its SVD with the
    singular values below ``3e-2`` set to zero, as in DDRM.

    Args:
        size (`int`): the number of pixels ``N`` along the axis, divisible by ``factor``.
        factor (`int`, *optional*, defaults to `4`): the down-sampling factor.
        device (`torch.device` or `str`, *optional*): defaults to the CPU.
        dtype (`torch.dtype`, *optional*, defaults to `torch.float32`).

    Returns:
        `torch.Tensor` of shape `(N // factor, N)`; shared by all callers, do not modify it in place.
    """
    if size % factor:
        raise ValueError(f"Size {size} is not divisible by the down-sampling factor {factor}.")
    return _cached_bicubic_matrix(size, factor, torch.device(device or "cpu"), dtype)


@register_degradation("sr4x-pool", filter="pool")
@register_degradation("sr4x-bicubic", filter="bicubic")
class SuperResolution(Degradation):
    """Down-sampling by ``factor`` followed by nearest-neighbour up-sampling back to the input size.

    Args:
        factor (`int`, *optional*, defaults to `4`):
            The scale factor; the image height and width must be divisible by it.
        filter (`str`, *optional*, defaults to `"pool"`):
            ``"pool"``: ``factor x factor`` average pooling (``sr4x-pool``). ``"bicubic"``: the official separable
            bicubic operator of DDRM, applied in ``[0, 1]`` space (``sr4x-bicubic``).
    """

    def __init__(self, factor: int = 4, filter: SRFilter = "pool") -> None:
        if filter not in ("pool", "bicubic"):
            raise ValueError(f"Unknown super-resolution filter {filter!r}; expected 'pool' or 'bicubic'.")
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 2:
            raise ValueError(f"`factor` must be an integer >= 2, got {factor!r}.")
        self.factor = factor
        self.filter = filter
        self.name = f"sr{factor}x-{filter}"

    def check_input(self, images: torch.Tensor) -> None:
        height, width = images.shape[-2:]
        if height % self.factor or width % self.factor:
            raise ValueError(
                f"{self.name} needs a height and width divisible by {self.factor}, got {height}x{width}. "
                "Crop or pad the images first."
            )

    def low_resolution(self, images: torch.Tensor) -> torch.Tensor:
        """The low-resolution images themselves, without the repetition back to the input size: what a camera or a
        user has, and what :meth:`upsample` turns into the network's input.

        Args:
            images (`torch.Tensor` of shape `(B, C, H, W)`): clean images in ``[-1, 1]``, H and W divisible by
                :attr:`factor`.

        Returns:
            `torch.Tensor` of shape `(B, C, H // factor, W // factor)` on the input's device and dtype, nominally in
            ``[-1, 1]``; ``upsample(low_resolution(x))`` equals ``self(x).degraded``.

        Raises:
            ValueError: images that :meth:`__call__` refuses (range, shape, sizes not divisible by the factor).
        """
        validate_images(images)
        self.check_input(images)
        return self._downsample(images)

    def upsample(self, low: torch.Tensor) -> torch.Tensor:
        """Brings low-resolution images to the network's size: each pixel repeated over a ``factor x factor`` block
        (nearest neighbour), exactly the up-sampling of the degradation the networks are trained on.

        Args:
            low (`torch.Tensor` of shape `(B, C, h, w)`): images in any range and dtype (repetition is exact), any
                h and w.

        Returns:
            `torch.Tensor` of shape `(B, C, factor * h, factor * w)`, same device and dtype.
        """
        return low.repeat_interleave(self.factor, dim=-2).repeat_interleave(self.factor, dim=-1)

    def _downsample(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, C, H / factor, W / factor)`` in the input's dtype, on checked images."""
        height, width = images.shape[-2:]
        dtype = compute_dtype(images.dtype)
        if self.filter == "pool":
            low = F.avg_pool2d(images.to(dtype), self.factor)
        else:
            rows = bicubic_downsampling_matrix(height, self.factor, images.device, dtype)
            cols = bicubic_downsampling_matrix(width, self.factor, images.device, dtype)
            # The operator acts on [0, 1] images as in the official code (the SVD truncation leaves the
            # row sums slightly off 1, so the two ranges are not exactly equivalent).
            low = apply_separable((images.to(dtype) + 1) / 2, rows, cols) * 2 - 1
        return low.to(images.dtype)

    def apply(self, images: torch.Tensor, generators: list[torch.Generator | None]) -> DegradationOutput:
        # Down-sampling is deterministic: the generators are not used.
        return DegradationOutput(degraded=self.upsample(self._downsample(images)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(factor={self.factor}, filter={self.filter!r})"
