# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""JPEG compression artefacts: the ``jpeg5`` and ``jpeg10`` restoration tasks.

Two encoders are offered. The default, ``"torch"``, is the official corruption: the torch JPEG simulation of
I2SB (``corruption/jpeg.py``, from ddrm-jpeg: YCbCr, 4:2:0 decimation, 8x8 DCT, IJG quantisation tables, no clamp
and no uint8 rounding), which the released checkpoints were trained on. It runs on the images' device; its
``torch.round`` passes no gradient, as in the official code. ``"pillow"`` (the ``jpeg5-pillow`` / ``jpeg10-pillow``
tasks) runs a real JPEG encoder (Pillow/libjpeg) per image, which is what JPEG files met in practice look like:
chroma averaged before subsampling and interpolated after, output on the uint8 grid.
"""

from __future__ import annotations

import io
import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .base import Degradation, DegradationOutput, compute_dtype
from .registry import register_degradation


__all__ = [
    "CHROMINANCE_QUANTIZATION_TABLE",
    "LUMINANCE_QUANTIZATION_TABLE",
    "JPEGCompression",
    "JPEGEncoder",
    "jpeg_pil",
    "jpeg_simulate",
    "quantization_table",
]

# JPEG specification (ITU-T T.81), Annex K, Table K.1: luminance quantisation table at quality 50.
LUMINANCE_QUANTIZATION_TABLE = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)

# Annex K, Table K.2: chrominance quantisation table at quality 50.
CHROMINANCE_QUANTIZATION_TABLE = (
    (17, 18, 24, 47, 99, 99, 99, 99),
    (18, 21, 26, 66, 99, 99, 99, 99),
    (24, 26, 56, 99, 99, 99, 99, 99),
    (47, 66, 99, 99, 99, 99, 99, 99),
    (99, 99, 99, 99, 99, 99, 99, 99),
    (99, 99, 99, 99, 99, 99, 99, 99),
    (99, 99, 99, 99, 99, 99, 99, 99),
    (99, 99, 99, 99, 99, 99, 99, 99),
)

# JFIF RGB -> YCbCr on [0, 255]; the +128 chroma offset is added separately.
_RGB_TO_YCBCR = (
    (0.299, 0.587, 0.114),
    (-0.168736, -0.331264, 0.5),
    (0.5, -0.418688, -0.081312),
)
# JFIF YCbCr -> RGB, applied after removing the chroma offset.
_YCBCR_TO_RGB = (
    (1.0, 0.0, 1.402),
    (1.0, -0.344136, -0.714136),
    (1.0, 1.772, 0.0),
)

#: ``"torch"``: the official simulation (:func:`jpeg_simulate`). ``"pillow"``: a real encoder (:func:`jpeg_pil`).
JPEGEncoder = Literal["torch", "pillow"]

_BLOCK = 8
# 4:2:0 halves the chroma planes, whose 8x8 blocks then cover 16x16 pixels.
_MACROBLOCK = 16


def _check_channels(images: torch.Tensor) -> None:
    if images.shape[1] not in (1, 3):
        raise ValueError(f"JPEG needs RGB (C=3) or grayscale (C=1) images, got C={images.shape[1]}.")


def _check_quality(quality: int) -> int:
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise ValueError(f"JPEG `quality` must be an integer in [1, 100], got {quality!r}.")
    return int(quality)


def quantization_table(quality: int, chroma: bool = False) -> torch.Tensor:
    """The IJG quantisation table for ``quality``, as libjpeg scales it.

    Args:
        quality (`int`): JPEG quality factor in ``[1, 100]``.
        chroma (`bool`, *optional*, defaults to `False`): the chrominance table instead of the luminance one.

    Returns:
        `torch.Tensor` of shape `(8, 8)`, float64, entries in ``[1, 255]``.
    """
    quality = _check_quality(quality)
    base = torch.tensor(
        CHROMINANCE_QUANTIZATION_TABLE if chroma else LUMINANCE_QUANTIZATION_TABLE, dtype=torch.float64
    )
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return torch.floor((scale * base + 50) / 100).clamp(1, 255)


def _dct_matrix(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The orthonormal 8-point DCT-II matrix ``D`` (``coefficients = D @ block @ D.T``)."""
    n = torch.arange(_BLOCK, dtype=torch.float64)
    matrix = torch.cos(math.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * _BLOCK)) * math.sqrt(2 / _BLOCK)
    matrix[0] /= math.sqrt(2)
    return matrix.to(device=device, dtype=dtype)


def _quantize_plane(plane: torch.Tensor, table: torch.Tensor, dct: torch.Tensor) -> torch.Tensor:
    """DCT-quantise-dequantise-IDCT one ``(N, h, w)`` plane on [0, 255]; ``h`` and ``w`` are multiples of 8."""
    n, h, w = plane.shape
    blocks = plane.reshape(n, h // _BLOCK, _BLOCK, w // _BLOCK, _BLOCK).transpose(2, 3) - 128
    coefficients = dct @ blocks @ dct.T
    coefficients = torch.round(coefficients / table) * table
    blocks = dct.T @ coefficients @ dct + 128
    return blocks.transpose(2, 3).reshape(n, h, w)


def jpeg_simulate(images: torch.Tensor, quality: int) -> torch.Tensor:
    """Torch simulation of JPEG compression, the official corruption of I2SB (from ddrm-jpeg).

    RGB images go to YCbCr (JFIF); the chroma planes are subsampled 4:2:0 by decimation (every other pixel, no
    averaging); each plane is cut into 8x8 blocks, shifted by -128, transformed with the orthonormal 2-D DCT-II,
    quantised with the IJG tables scaled for ``quality`` (``torch.round``) and transformed back; chroma is
    upsampled by pixel repetition. Grayscale images (``C == 1``) take the luminance path only. Images are padded
    by edge replication to a multiple of 16 and cropped back, so any size works.

    The output is neither clamped nor rounded to the uint8 grid. ``torch.round`` has a zero gradient, so
    gradients through this function vanish almost everywhere, as in the official implementation.

    Args:
        images (`torch.Tensor` of shape `(B, C, H, W)` with `C` in `{1, 3}`):
            Images in ``[-1, 1]``.
        quality (`int`):
            JPEG quality factor in ``[1, 100]``.

    Returns:
        `torch.Tensor` of shape `(B, C, H, W)`: the decompressed images, nominally in ``[-1, 1]``, same dtype.
    """
    quality = _check_quality(quality)
    _check_channels(images)
    channels = images.shape[1]
    dtype = compute_dtype(images.dtype)
    device = images.device
    height, width = images.shape[-2:]

    pixels = (images.to(dtype) + 1) * 127.5
    pad_h, pad_w = -height % _MACROBLOCK, -width % _MACROBLOCK
    if pad_h or pad_w:
        pixels = F.pad(pixels, (0, pad_w, 0, pad_h), mode="replicate")

    dct = _dct_matrix(dtype, device)
    luma_table = quantization_table(quality).to(device=device, dtype=dtype)
    if channels == 1:
        decoded = _quantize_plane(pixels[:, 0], luma_table, dct)[:, None]
    else:
        chroma_table = quantization_table(quality, chroma=True).to(device=device, dtype=dtype)
        ycbcr = torch.einsum("ij,bjhw->bihw", torch.tensor(_RGB_TO_YCBCR, dtype=dtype, device=device), pixels)
        luma = _quantize_plane(ycbcr[:, 0], luma_table, dct)
        chroma = ycbcr[:, 1:, ::2, ::2] + 128
        chroma = chroma.reshape(-1, *chroma.shape[-2:])
        chroma = _quantize_plane(chroma, chroma_table, dct).reshape(-1, 2, *chroma.shape[-2:])
        chroma = chroma.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1) - 128
        ycbcr = torch.cat([luma[:, None], chroma], dim=1)
        decoded = torch.einsum("ij,bjhw->bihw", torch.tensor(_YCBCR_TO_RGB, dtype=dtype, device=device), ycbcr)

    decoded = decoded[..., :height, :width]
    return (decoded / 255 * 2 - 1).to(images.dtype)


def jpeg_pil(images: torch.Tensor, quality: int) -> torch.Tensor:
    """Compress and decompress each image with Pillow's JPEG codec (libjpeg), 4:2:0 chroma subsampling.

    Images are quantised to uint8 first (``round((x + 1) * 127.5)``); grayscale images (``C == 1``) are
    encoded as mode ``"L"``. The result is detached from the autograd graph.

    Args:
        images (`torch.Tensor` of shape `(B, C, H, W)` with `C` in `{1, 3}`):
            Images in ``[-1, 1]``.
        quality (`int`):
            JPEG quality factor in ``[1, 100]``.

    Returns:
        `torch.Tensor` of shape `(B, C, H, W)`: decoded images on the uint8 grid mapped back to ``[-1, 1]``
        (values ``k / 127.5 - 1``), on the input's device and dtype.
    """
    quality = _check_quality(quality)
    _check_channels(images)
    channels = images.shape[1]
    pixels = ((images.detach().float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    pixels = pixels.permute(0, 2, 3, 1).cpu().numpy()

    decoded = []
    for array in pixels:
        # Pillow infers mode "L" from an (H, W) uint8 array and "RGB" from an (H, W, 3) one.
        image = Image.fromarray(np.ascontiguousarray(array[..., 0] if channels == 1 else array))
        options = {} if channels == 1 else {"subsampling": 2}
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality, **options)
        buffer.seek(0)
        with Image.open(buffer) as compressed:
            result = np.asarray(compressed.convert(image.mode), dtype=np.uint8)
        decoded.append(result.reshape(array.shape))

    decoded = torch.from_numpy(np.stack(decoded)).permute(0, 3, 1, 2)
    return (decoded.to(device=images.device, dtype=torch.float64) / 127.5 - 1).to(images.dtype)


@register_degradation("jpeg5", aliases=("jpeg-5",), quality=5)
@register_degradation("jpeg10", aliases=("jpeg-10",), quality=10)
@register_degradation("jpeg5-pillow", quality=5, encoder="pillow")
@register_degradation("jpeg10-pillow", quality=10, encoder="pillow")
class JPEGCompression(Degradation):
    """JPEG compression at a fixed quality factor.

    Registered as ``jpeg5`` (quality 5) and ``jpeg10`` (quality 10) with the official torch simulation, and as
    ``jpeg5-pillow`` / ``jpeg10-pillow`` with the real encoder.

    Args:
        quality (`int`):
            JPEG quality factor in ``[1, 100]``; lower is stronger compression.
        encoder (`str`, *optional*, defaults to `"torch"`):
            ``"torch"``: the official I2SB torch simulation (see :func:`jpeg_simulate`), which runs on the input's
            device and is neither clamped nor rounded to uint8.
            ``"pillow"``: a real encoder round trip with Pillow (see :func:`jpeg_pil`), output on the uint8 grid,
            computed on the CPU and detached.
    """

    def __init__(self, quality: int, encoder: JPEGEncoder = "torch") -> None:
        if encoder not in ("torch", "pillow"):
            raise ValueError(f"Unknown JPEG encoder {encoder!r}; expected 'torch' or 'pillow'.")
        self.quality = _check_quality(quality)
        self.encoder = encoder
        self.name = f"jpeg{self.quality}" + ("-pillow" if encoder == "pillow" else "")

    def check_input(self, images: torch.Tensor) -> None:
        _check_channels(images)

    def apply(self, images: torch.Tensor, generators: list[torch.Generator | None]) -> DegradationOutput:
        # JPEG is deterministic: the generators are not used.
        if self.encoder == "torch":
            return DegradationOutput(degraded=jpeg_simulate(images, self.quality))
        return DegradationOutput(degraded=jpeg_pil(images, self.quality))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(quality={self.quality}, encoder={self.encoder!r})"
