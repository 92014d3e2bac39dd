# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Deblurring tasks: ``blur-uni`` (9-tap box) and ``blur-gauss`` (5-tap Gaussian, sigma 10).

The official operators (I2SB, taken from DDRM's ``Deblurring`` ``H_functions``) are built from the SVD of a 1-D
zero-padded convolution matrix, with the singular values below ``3e-2`` zeroed, and carry two quirks:

* **Missing tap.** DDRM's matrix construction stops one tap short: each row holds only the first ``K - 1`` taps
  of the ``K``-tap kernel, so the operator loses brightness (2-D gain 0.790 for the box, 0.643 for the Gaussian).
* **Tiled singular values.** The coefficients of the image in the SVD basis are ordered by sorted position ``q``
  and channel ``c`` (flat index ``3 q + c``), but the singular values they are multiplied by are the ``N^2``
  sorted values written three times one after the other, so coefficient ``(q, c)`` gets the value at position
  ``(3 q + c) mod N^2`` instead of the one at ``q``. The result is not a per-channel separable blur.

Both are reproduced by the registered ``blur-uni`` / ``blur-gauss``, the operators the released checkpoints were
trained on. ``blur-uni-per-channel`` / ``blur-gauss-per-channel`` keep the missing tap but apply the blur as the
separable matrices ``H X H^T`` to every channel (``singular_layout="per_channel"``), what the quirk-free reading
of DDRM gives; ``ddrm_compat=False`` with that layout is a correct, brightness-preserving blur.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import torch

from ._linalg import SVD_ZERO_THRESHOLD, apply_separable, truncate_singular_values
from .base import Degradation, DegradationOutput, compute_dtype
from .registry import register_degradation


__all__ = [
    "GAUSSIAN_SIGMA",
    "Blur",
    "DDRMBlurSVD",
    "SingularLayout",
    "blur_band_matrix",
    "blur_kernel_taps",
    "blur_matrix",
    "ddrm_blur_svd",
]

BlurKernel = Literal["uniform", "gaussian"]
#: How the 2-D singular values meet the channels: DDRM's ``"tiled"`` quirk or the separable ``"per_channel"`` blur.
SingularLayout = Literal["tiled", "per_channel"]

#: Standard deviation of the official Gaussian kernel, in pixels. With only 5 taps it is almost flat.
GAUSSIAN_SIGMA = 10.0
_UNIFORM_TAPS = 9
_GAUSSIAN_TAPS = 5
_KERNEL_SUFFIX = {"uniform": "uni", "gaussian": "gauss"}


def blur_kernel_taps(kernel: BlurKernel, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The official 1-D blur kernel, normalised to sum 1, computed in ``dtype``.

    ``uniform``: ``[1/9] * 9``. ``gaussian``: ``pdf(x) = exp(-0.5 (x / 10)^2)`` at ``x = -2 .. 2``, divided by its
    sum (I2SB ``corruption/blur.py: build_blur``, which evaluates it in float32: pass ``dtype=torch.float32``).

    Args:
        kernel (`str`): ``"uniform"`` (9 taps of 1/9) or ``"gaussian"`` (5 taps, sigma 10).
        dtype (`torch.dtype`, *optional*, defaults to `torch.float64`): the precision of the computation.

    Returns:
        `torch.Tensor` of shape `(K,)` in ``dtype``.
    """
    if kernel == "uniform":
        return torch.full((_UNIFORM_TAPS,), 1 / _UNIFORM_TAPS, dtype=dtype)
    if kernel == "gaussian":
        offsets = torch.arange(_GAUSSIAN_TAPS, dtype=dtype) - _GAUSSIAN_TAPS // 2
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
    """The 1-D blur matrix of the ``per_channel`` layout (cached per size, kernel, device and dtype).

    Built in float64. The ``tiled`` official operator is not separable; see :func:`ddrm_blur_svd`.

    Args:
        size (`int`): the number of pixels ``N`` along the axis.
        kernel (`str`): ``"uniform"`` or ``"gaussian"``.
        ddrm_compat (`bool`, *optional*, defaults to `True`):
            ``True``: DDRM's matrix, the first ``K - 1`` taps rebuilt from an SVD whose singular values below
            ``3e-2`` are zeroed. ``False``: the full kernel, no truncation.
        device (`torch.device` or `str`, *optional*): defaults to the CPU.
        dtype (`torch.dtype`, *optional*, defaults to `torch.float32`).

    Returns:
        `torch.Tensor` of shape `(N, N)`; shared by all callers, do not modify it in place.
    """
    blur_kernel_taps(kernel)  # validates the name before it becomes a cache key
    return _cached_blur_matrix(size, kernel, bool(ddrm_compat), torch.device(device or "cpu"), dtype)


@dataclass(frozen=True)
class DDRMBlurSVD:
    """DDRM's SVD representation of the official blur on ``(C, H, W)`` images in ``[0, 1]``.

    Per channel ``c``: ``H(X)_c = U_rows (S_c ⊙ (V_rows^T X_c V_cols)) U_cols^T``, where
    ``U_rows diag(s_rows) V_rows^T`` and ``U_cols diag(s_cols) V_cols^T`` are the float32 SVDs of the 1-D matrices
    along the height and the width, and ``S_c`` holds the singular value each coefficient of channel ``c`` is
    multiplied by (DDRM ``H_functions.H``: ``U(singulars() * Vt(x))``). All tensors are shared by the callers of
    :func:`ddrm_blur_svd`: do not modify them in place.

    Args:
        u_rows (`torch.Tensor` of shape `(H, H)`): left singular vectors along the height (columns).
        v_rows (`torch.Tensor` of shape `(H, H)`): right singular vectors along the height (columns).
        u_cols (`torch.Tensor` of shape `(W, W)`): left singular vectors along the width.
        v_cols (`torch.Tensor` of shape `(W, W)`): right singular vectors along the width.
        sorted_values (`torch.Tensor` of shape `(H * W,)`):
            ``outer(s_rows, s_cols)`` flattened (index ``p = i * W + j``), sorted in descending order (stable).
        permutation (`torch.Tensor` of shape `(H * W,)`, int64):
            ``sorted_values[q] = outer(s_rows, s_cols).flatten()[permutation[q]]``.
        singular_values (`torch.Tensor` of shape `(C, H, W)`):
            The value that multiplies coefficient ``(c, i, j)``; zero on the operator's null space.
    """

    u_rows: torch.Tensor
    v_rows: torch.Tensor
    u_cols: torch.Tensor
    v_cols: torch.Tensor
    sorted_values: torch.Tensor
    permutation: torch.Tensor
    singular_values: torch.Tensor

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        """``H(X)`` for ``images`` of shape `(B, C, H, W)` (any values, usually ``[0, 1]``); same shape."""
        coefficients = self.v_rows.T @ images @ self.v_cols
        return self.u_rows @ (self.singular_values * coefficients) @ self.u_cols.T

    def adjoint(self, images: torch.Tensor) -> torch.Tensor:
        """``H^T(Y)_c = V_rows (S_c ⊙ (U_rows^T Y_c U_cols)) V_cols^T`` for `(B, C, H, W)` ``images``; same shape."""
        coefficients = self.u_rows.T @ images @ self.u_cols
        return self.v_rows @ (self.singular_values * coefficients) @ self.v_cols.T


@functools.lru_cache(maxsize=32)
def _ddrm_svd_1d(size: int, kernel: BlurKernel) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``U, s, V`` of DDRM's float32 ``H_small`` (``torch.svd(H_small, some=False)``), ``s < 3e-2`` zeroed."""
    matrix = blur_band_matrix(size, blur_kernel_taps(kernel, torch.float32), ddrm_compat=True)
    u, s, vh = torch.linalg.svd(matrix, full_matrices=True)
    return u, torch.where(s < SVD_ZERO_THRESHOLD, torch.zeros_like(s), s), vh.T


@functools.lru_cache(maxsize=8)
def _cached_ddrm_blur_svd(
    height: int, width: int, channels: int, kernel: BlurKernel, device: torch.device, dtype: torch.dtype
) -> DDRMBlurSVD:
    u_rows, s_rows, v_rows = _ddrm_svd_1d(height, kernel)
    u_cols, s_cols, v_cols = _ddrm_svd_1d(width, kernel)
    # DDRM Deblurring.__init__: `outer(s, s).reshape(N * N)` sorted descending. Products s_i s_j = s_j s_i and the
    # zeroed values tie exactly; their order decides which value each coefficient gets below, so the sort must
    # keep tied entries in index order, as CUDA's radix sort did for the released checkpoints.
    products = (s_rows[:, None] * s_cols[None, :]).reshape(-1)
    sorted_values, permutation = torch.sort(products, descending=True, stable=True)
    # DDRM Deblurring.singulars(): `_singulars.repeat(1, 3).reshape(-1)` multiplies the coefficient at flat index
    # C q + c of Vt's (q, c) layout by sorted_values[(C q + c) mod (H W)]; U() then scatters position q back to
    # pixel frequency permutation[q].
    positions = torch.arange(height * width)
    values = torch.empty(channels, height * width, dtype=sorted_values.dtype)
    for channel in range(channels):
        values[channel, permutation] = sorted_values[(channels * positions + channel) % (height * width)]
    factors = (u_rows, v_rows, u_cols, v_cols, sorted_values, permutation, values.reshape(channels, height, width))
    return DDRMBlurSVD(*(f.to(device=device, dtype=dtype) if f.is_floating_point() else f.to(device) for f in factors))


def ddrm_blur_svd(
    height: int,
    width: int,
    kernel: BlurKernel,
    channels: int = 3,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> DDRMBlurSVD:
    """The official ``tiled`` blur operator as its SVD factors (cached per size, channels, kernel, device, dtype).

    DDRM ``Deblurring`` (I2SB ``corruption/blur.py``), in float32 on the CPU whatever ``device``: the 1-D matrix
    ``H_small`` of :func:`blur_band_matrix` with ``ddrm_compat=True`` (``K - 1`` taps), ``U, s, V`` its full SVD,
    ``s < 3e-2`` zeroed; the 2-D values ``outer(s, s)`` sorted descending with a stable sort (``sorted_values``,
    ``permutation``); coefficient ``(q, c)`` of channel ``c`` at sorted position ``q`` multiplied by
    ``sorted_values[(C q + c) mod N^2]``. DDRM only handles square RGB images; for ``H != W`` this uses the SVDs
    of the height and width matrices, ``outer(s_rows, s_cols)`` flattened as ``i * W + j`` and the tiling modulo
    ``H * W``, and for any ``C`` the layout index ``C q + c``. Square RGB images get exactly DDRM's operator
    (up to the SVD of the local LAPACK build, since the tiling reads the singular vectors individually).

    Args:
        height (`int`): image height ``H``.
        width (`int`): image width ``W``.
        kernel (`str`): ``"uniform"`` or ``"gaussian"``.
        channels (`int`, *optional*, defaults to `3`): the number of channels ``C``.
        device (`torch.device` or `str`, *optional*): where the factors are put; defaults to the CPU.
        dtype (`torch.dtype`, *optional*, defaults to `torch.float32`): their dtype (computed in float32).

    Returns:
        [`DDRMBlurSVD`]: the factors, shared by all callers.
    """
    blur_kernel_taps(kernel)  # validates the name before it becomes a cache key
    return _cached_ddrm_blur_svd(height, width, channels, kernel, torch.device(device or "cpu"), dtype)


@register_degradation("blur-uni", kernel="uniform")
@register_degradation("blur-gauss", kernel="gaussian")
@register_degradation("blur-uni-per-channel", kernel="uniform", singular_layout="per_channel")
@register_degradation("blur-gauss-per-channel", kernel="gaussian", singular_layout="per_channel")
class Blur(Degradation):
    """Blur with zero padding, applied in ``[0, 1]`` space: ``y = H((x + 1) / 2) * 2 - 1``, unclamped.

    Because of the zero padding (and, by default, DDRM's missing tap) the output is darker than the input,
    especially near the borders.

    Args:
        kernel (`str`):
            ``"uniform"``: 9-tap box (``blur-uni``). ``"gaussian"``: 5-tap Gaussian with sigma 10 (``blur-gauss``).
        ddrm_compat (`bool`, *optional*, defaults to `True`):
            ``True`` uses DDRM's 1-D matrix, with the off-by-one that keeps only ``K - 1`` taps (interior gain
            0.790 for ``uniform`` and 0.643 for ``gaussian``) and the SVD truncation. ``False`` is the full kernel
            without truncation, a correct, brightness-preserving blur (``per_channel`` layout only); it is a
            distribution shift for the official checkpoints.
        singular_layout (`str`, *optional*, defaults to `"tiled"`):
            ``"tiled"``: the official operator, DDRM's singular values tiled over the channels (see
            :func:`ddrm_blur_svd`). ``"per_channel"``: the separable blur ``H_r X H_c^T`` of every channel
            (``blur-uni-per-channel``, ``blur-gauss-per-channel``; the pipelines shipped in ``pipelines/`` were
            trained on it).
    """

    def __init__(
        self, kernel: BlurKernel, ddrm_compat: bool = True, singular_layout: SingularLayout = "tiled"
    ) -> None:
        blur_kernel_taps(kernel)
        if singular_layout not in ("tiled", "per_channel"):
            raise ValueError(f"Unknown singular_layout {singular_layout!r}; expected 'tiled' or 'per_channel'.")
        if singular_layout == "tiled" and not ddrm_compat:
            raise ValueError(
                "The tiled singular layout is a quirk of DDRM's operator and needs ddrm_compat=True; "
                "pass singular_layout='per_channel' for a correct blur."
            )
        self.kernel = kernel
        self.ddrm_compat = ddrm_compat
        self.singular_layout = singular_layout
        suffix = "" if singular_layout == "tiled" else "-per-channel"
        self.name = f"blur-{_KERNEL_SUFFIX[kernel]}{suffix}"

    def apply(self, images: torch.Tensor, generators: list[torch.Generator | None]) -> DegradationOutput:
        # Blur is deterministic: the generators are not used.
        dtype = compute_dtype(images.dtype)
        channels, height, width = images.shape[-3:]
        # The official operator acts on [0, 1] images; with its gain below 1 that is not the same as acting on
        # [-1, 1] images, so the range is converted around it.
        images01 = (images.to(dtype) + 1) / 2
        if self.singular_layout == "tiled":
            blurred01 = ddrm_blur_svd(height, width, self.kernel, channels, images.device, dtype).apply(images01)
        else:
            rows = blur_matrix(height, self.kernel, self.ddrm_compat, images.device, dtype)
            cols = blur_matrix(width, self.kernel, self.ddrm_compat, images.device, dtype)
            blurred01 = apply_separable(images01, rows, cols)
        return DegradationOutput(degraded=(blurred01 * 2 - 1).to(images.dtype))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(kernel={self.kernel!r}, ddrm_compat={self.ddrm_compat}, "
            f"singular_layout={self.singular_layout!r})"
        )
