# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Deblurring tasks: ``blur-uni`` (9-tap box) and ``blur-gauss`` (5-tap Gaussian, sigma 10).

The official operators (I2SB, taken from DDRM) are separable matrices with zero padding, represented by their
SVD with the small singular values zeroed. DDRM's matrix construction stops one tap short: each row holds only
the first ``K - 1`` taps of the ``K``-tap kernel, so the operator loses brightness (2-D gain 0.790 for the box,
0.643 for the Gaussian). The released checkpoints were trained on that, so it is reproduced by default.
"""

from __future__ import annotations

import functools
from typing import Literal

import torch

from ._linalg import apply_separable, truncate_singular_values
from .base import Degradation, DegradationOutput, compute_dtype
from .registry import register_degradation


__all__ = ["GAUSSIAN_SIGMA", "Blur", "blur_band_matrix", "blur_kernel_taps", "blur_matrix"]

BlurKernel = Literal["uniform", "gaussian"]

#: Standard deviation of the official Gaussian kernel, in pixels. With only 5 taps it is almost flat.
GAUSSIAN_SIGMA = 10.0
_UNIFORM_TAPS = 9
_GAUSSIAN_TAPS = 5


def blur_kernel_taps(kernel: BlurKernel) -> torch.Tensor:
    """The official 1-D blur kernel, normalised to sum 1.

    Args:
        kernel (`str`): ``"uniform"`` (9 taps of 1/9) or ``"gaussian"`` (5 taps, sigma 10).

    Returns:
        `torch.Tensor` of shape `(K,)`, float64.
    """
    if kernel == "uniform":
        return torch.full((_UNIFORM_TAPS,), 1 / _UNIFORM_TAPS, dtype=torch.float64)
    if kernel == "gaussian":
        offsets = torch.arange(_GAUSSIAN_TAPS, dtype=torch.float64) - _GAUSSIAN_TAPS // 2
        taps = torch.exp(-(offsets**2) / (2 * GAUSSIAN_SIGMA**2))
        return taps / taps.sum()
    raise ValueError(f"Unknown blur kernel {kernel!r}; expected 'uniform' or 'gaussian'.")


def blur_band_matrix(size: int, taps: torch.Tensor, ddrm_compat: bool = True) -> torch.Tensor:
    """The 1-D convolution matrix of ``taps`` over ``size`` pixels, zero padding, before any SVD truncation.

    Row ``i`` has weight ``taps[j - i + K // 2]`` at column ``j``. With ``ddrm_compat`` only the offsets
    ``j - i`` in ``[-K // 2, K // 2)`` are filled, i.e. the first ``K - 1`` taps, as in DDRM; otherwise all ``K``.

    Args:
        size (`int`): the number of pixels ``N`` along the axis.
        taps (`torch.Tensor` of shape `(K,)`): the kernel, ``K`` odd.
        ddrm_compat (`bool`, *optional*, defaults to `True`): drop the last tap as DDRM does.

    Returns:
        `torch.Tensor` of shape `(N, N)` in ``taps``' dtype.
    """
    half = taps.shape[0] // 2
    last_offset = half - 1 if ddrm_compat else half
    matrix = torch.zeros(size, size, dtype=taps.dtype)
    for offset in range(-half, last_offset + 1):
        if abs(offset) < size:
            matrix += torch.diag(taps[offset + half].expand(size - abs(offset)), diagonal=offset)
    return matrix


@functools.lru_cache(maxsize=32)
def _cached_blur_matrix(
    size: int, kernel: BlurKernel, ddrm_compat: bool, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    matrix = blur_band_matrix(size, blur_kernel_taps(kernel), ddrm_compat)
    if ddrm_compat:
        matrix = truncate_singular_values(matrix)
    return matrix.to(device=device, dtype=dtype)


def blur_matrix(
    size: int,
    kernel: BlurKernel,
    ddrm_compat: bool = True,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The 1-D blur operator applied along one image axis (cached per size, kernel, device and dtype).

    Args:
        size (`int`): the number of pixels ``N`` along the axis.
        kernel (`str`): ``"uniform"`` or ``"gaussian"``.
        ddrm_compat (`bool`, *optional*, defaults to `True`):
            ``True``: the official operator, the first ``K - 1`` taps rebuilt from an SVD whose singular values
            below ``3e-2`` are zeroed. ``False``: the full kernel, no truncation.
        device (`torch.device` or `str`, *optional*): defaults to the CPU.
        dtype (`torch.dtype`, *optional*, defaults to `torch.float32`).

    Returns:
        `torch.Tensor` of shape `(N, N)`; shared by all callers, do not modify it in place.
    """
    blur_kernel_taps(kernel)  # validates the name before it becomes a cache key
    return _cached_blur_matrix(size, kernel, bool(ddrm_compat), torch.device(device or "cpu"), dtype)


@register_degradation("blur-uni", kernel="uniform")
@register_degradation("blur-gauss", kernel="gaussian")
class Blur(Degradation):
    """Separable blur with zero padding, applied in ``[0, 1]`` space: ``y = H((x + 1) / 2) * 2 - 1``.

    Because of the zero padding (and, by default, DDRM's missing tap) the output is darker than the input,
    especially near the borders.

    Args:
        kernel (`str`):
            ``"uniform"``: 9-tap box (``blur-uni``). ``"gaussian"``: 5-tap Gaussian with sigma 10 (``blur-gauss``).
        ddrm_compat (`bool`, *optional*, defaults to `True`):
            ``True`` reproduces the official operator, including DDRM's off-by-one that keeps only ``K - 1`` taps
            (interior gain 0.790 for ``uniform`` and 0.643 for ``gaussian``) and the SVD truncation. ``False`` is a
            correct, brightness-preserving blur; it is a distribution shift for the official checkpoints.
    """

    def __init__(self, kernel: BlurKernel, ddrm_compat: bool = True) -> None:
        blur_kernel_taps(kernel)
        self.kernel = kernel
        self.ddrm_compat = ddrm_compat
        self.name = "blur-uni" if kernel == "uniform" else "blur-gauss"

    def apply(self, images: torch.Tensor, generators: list[torch.Generator | None]) -> DegradationOutput:
        # Blur is deterministic: the generators are not used.
        dtype = compute_dtype(images.dtype)
        height, width = images.shape[-2:]
        rows = blur_matrix(height, self.kernel, self.ddrm_compat, images.device, dtype)
        cols = blur_matrix(width, self.kernel, self.ddrm_compat, images.device, dtype)
        # The official operator acts on [0, 1] images; with its gain below 1 that is not the same as acting on
        # [-1, 1] images, so the range is converted around it.
        blurred = apply_separable((images.to(dtype) + 1) / 2, rows, cols) * 2 - 1
        return DegradationOutput(degraded=blurred.to(images.dtype))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kernel={self.kernel!r}, ddrm_compat={self.ddrm_compat})"
