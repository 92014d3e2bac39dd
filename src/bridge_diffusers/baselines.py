# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Classical (non-learned) restorations: the reference rows of the quality benchmark.

Each restoration task of :mod:`bridge_diffusers.degradations` gets the textbook inverse a learned bridge has to
beat, run with the same knowledge of the corruption a classical method would have::

    from bridge_diffusers.baselines import CLASSICAL_METHODS, classical_restore

    restored = classical_restore("blur-uni", degraded)  # (B, C, H, W) in [-1, 1]
    method = CLASSICAL_METHODS["blur-uni"]  # "Wiener (Tikhonov) deconvolution"

* ``blur-uni``, ``blur-gauss`` (and their ``-per-channel`` variants): Wiener deconvolution with a white prior, i.e.
  Tikhonov-regularised least squares, solved exactly in the SVD basis of the operator the degradation applies
  (:func:`wiener_deblur`).
* ``sr4x-pool``, ``sr4x-bicubic``: the low-resolution image is read back from its nearest-neighbour enlargement
  (block means) and enlarged again with bicubic interpolation (:func:`super_resolve`).
* ``jpeg5``, ``jpeg10`` (and their ``-pillow`` variants): no restoration, the decoded JPEG itself.
* ``inpaint-center``, ``inpaint-freeform1020``, ``inpaint-freeform2030``: harmonic fill, the hole is the solution
  of Laplace's equation with the known pixels around it as boundary values (:func:`harmonic_inpaint`).

Images are float tensors of shape ``(B, C, H, W)`` in ``[-1, 1]`` as everywhere in this package. Each function
has the options of its method (the Tikhonov weight of :func:`wiener_deblur`, the cubic kernel of
:func:`super_resolve`); :func:`classical_restore` runs them with the defaults on a task's operator.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from .degradations import (
    Blur,
    Inpainting,
    JPEGCompression,
    SuperResolution,
    blur_matrix,
    center_mask,
    ddrm_blur_svd,
    get_degradation,
)
from .degradations.base import compute_dtype
from .degradations.blur import BlurKernel, SingularLayout
from .degradations.superresolution import keys_cubic
from .imaging import to_signed_range, to_unit_range


__all__ = [
    "BICUBIC_A",
    "CLASSICAL_METHODS",
    "WIENER_REGULARIZATION",
    "WIENER_REGULARIZATION_8BIT",
    "bicubic_upsample",
    "bicubic_upsampling_matrix",
    "classical_method",
    "classical_restore",
    "harmonic_inpaint",
    "super_resolve",
    "wiener_deblur",
    "wiener_deconvolve",
]

#: The method behind :func:`classical_restore` for every supported task, with its default options (for tables).
CLASSICAL_METHODS: dict[str, str] = {
    "jpeg5": "none (decoded JPEG)",
    "jpeg10": "none (decoded JPEG)",
    "blur-uni": "Wiener (Tikhonov) deconvolution",
    "blur-gauss": "Wiener (Tikhonov) deconvolution",
    "sr4x-pool": "bicubic upsampling",
    "sr4x-bicubic": "bicubic upsampling",
    "inpaint-center": "harmonic (Laplace) fill",
    "inpaint-freeform1020": "harmonic (Laplace) fill",
    "inpaint-freeform2030": "harmonic (Laplace) fill",
    # The variants of the operators the shipped jpeg10 / blur-uni pipelines were trained on.
    "jpeg5-pillow": "none (decoded JPEG)",
    "jpeg10-pillow": "none (decoded JPEG)",
    "blur-uni-per-channel": "Wiener (Tikhonov) deconvolution",
    "blur-gauss-per-channel": "Wiener (Tikhonov) deconvolution",
}

#: Default Tikhonov weight ``lambda`` of :func:`wiener_deblur`, for images in ``[0, 1]``. Chosen on 30 crops of
#: 64x64 pixels from five scikit-image photos (astronaut, coffee, chelsea, rocket, motorcycle_left), blurred by the
#: per-channel DDRM operators (``blur-*-per-channel``) in float32 without noise: PSNR grows as ``lambda`` shrinks
#: and stops changing below ``1e-6`` (blur-uni: 32.63 dB at 0 and at 1e-6, 31.90 at 1e-4, 30.54 at 1e-3;
#: blur-gauss: 37.25, 37.25, 36.79, 34.94; the blurred inputs score 18.64 and 16.90; five 256x256 crops give the
#: same plateau: 33.06 and 37.02 dB at 1e-6, 33.08 and 37.02 at 0). ``1e-6`` is the largest value on that plateau,
#: so it loses nothing on the benchmark's noiseless inputs while keeping the smallest retained singular values
#: (about ``0.032 ** 2``) from amplifying float rounding errors without bound. The official tiled operators have
#: the same singular values, given to other coefficients, and the same plateau (on the nine 64x64 crops of
#: ``tests/test_baselines.py``: blur-uni 33.03 dB at 0, 32.99 at 1e-6, 29.68 at 1e-4, 26.32 at 1e-3; blur-gauss
#: 34.20, 34.19, 33.11, 30.21).
WIENER_REGULARIZATION = 1e-6

#: Tikhonov weight for blurred images that were rounded to 8 bits (saved as PNG, for instance). On the crops above
#: quantised to uint8, ``1e-3`` maximises PSNR (blur-uni 29.86 dB, blur-gauss 33.33 dB), whereas the noiseless
#: default :data:`WIENER_REGULARIZATION` amplifies the rounding noise (19.23 dB and 24.69 dB). For the tiled
#: operators on the nine test crops, ``1e-4`` and ``1e-3`` are on a par (blur-uni 26.29 and 26.11 dB, blur-gauss
#: 28.99 and 29.58 dB) and ``1e-6`` is not (18.50 and 23.76 dB).
WIENER_REGULARIZATION_8BIT = 1e-3

#: Default parameter ``a`` of the cubic kernel of :func:`bicubic_upsample`: torch's (and OpenCV's) ``-0.75``,
#: sharper than Keys' ``-0.5``. On the 30 crops above it restores ``sr4x-pool`` to 30.39 dB and ``sr4x-bicubic`` to
#: 30.44 dB, against 30.20 and 30.26 dB with ``a = -0.5`` (the nearest-neighbour inputs: 28.25 and 28.17 dB).
#: Only ``a = -0.5`` reproduces linear ramps exactly; ``-0.75`` leaves a ripple of period ``factor`` and amplitude
#: 0.164 times the ramp's slope per pixel (at ``factor = 4``).
BICUBIC_A = -0.75


def classical_method(task: str) -> str | None:
    """The name of ``task``'s classical restoration in :data:`CLASSICAL_METHODS` (an alias, or a name in any case,
    resolved by the degradation registry), or None for a task without one.

    Raises:
        ValueError: for a name the degradation registry does not know (the message lists the known ones).
    """
    return CLASSICAL_METHODS.get(get_degradation(task).name)


# ------------------------------------------------------------------------------------------------ checks
def _check_images(images: torch.Tensor, name: str = "degraded") -> None:
    """A non-empty, finite, 4-D float batch. The range is not checked: linear operators overshoot ``[-1, 1]``."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"Expected `{name}` as a torch.Tensor of shape (B, C, H, W), got {type(images).__name__}.")
    if images.ndim != 4:
        raise ValueError(
            f"Expected `{name}` of shape (B, C, H, W), got a {images.ndim}-D tensor of shape {tuple(images.shape)}. "
            "Add a batch dimension with `images[None]` for a single image."
        )
    if not images.is_floating_point():
        raise ValueError(f"Expected a floating-point `{name}` with values in [-1, 1], got dtype {images.dtype}.")
    if images.numel() == 0:
        raise ValueError(f"Expected a non-empty `{name}` batch, got shape {tuple(images.shape)}.")
    if not torch.isfinite(images).all():
        raise ValueError(f"`{name}` contains NaN or infinite values.")


def _check_regularization(regularization: float) -> float:
    if isinstance(regularization, bool) or not isinstance(regularization, (int, float)):
        raise ValueError(f"`regularization` must be a number >= 0, got {regularization!r}.")
    if not (math.isfinite(regularization) and regularization >= 0):
        raise ValueError(f"`regularization` must be a finite number >= 0, got {regularization!r}.")
    return float(regularization)


def _check_factor(factor: int) -> int:
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 2:
        raise ValueError(f"`factor` must be an integer >= 2, got {factor!r}.")
    return factor


# ------------------------------------------------------------------------------------------------ deblurring
def _svd_with_rank_cutoff(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Thin SVD ``U diag(S) Vh`` in float64 with the numerically zero singular values set to exactly zero.

    An operator rebuilt from a truncated SVD (as the official ones are) keeps singular values of the order of
    its rounding error where the truncated ones were; with ``lambda = 0`` they would be inverted. The cutoff is
    the usual rank tolerance ``max(S) * max(M, N) * eps`` of the matrix's own dtype.
    """
    u, s, vh = torch.linalg.svd(matrix.to(torch.float64), full_matrices=False)
    tolerance = s.max() * max(matrix.shape) * torch.finfo(matrix.dtype).eps
    return u, torch.where(s > tolerance, s, torch.zeros_like(s)), vh


def _tikhonov_in_svd_basis(
    observed: torch.Tensor,
    u_rows: torch.Tensor,
    u_cols: torch.Tensor,
    v_rows: torch.Tensor,
    v_cols: torch.Tensor,
    singular: torch.Tensor,
    regularization: float,
) -> torch.Tensor:
    """``V_r [F ⊙ (U_r^T Y U_c)] V_c^T`` with ``F = s / (s^2 + lambda)`` per coefficient.

    The Tikhonov minimiser for an operator ``H(X) = U_r (s ⊙ (V_r^T X V_c)) U_c^T`` with orthogonal factors:
    ``observed`` is `(B, C, M, N)`, ``singular`` broadcasts to it (`(M, N)` or `(C, M, N)`), all in one dtype.
    """
    # Zero singular values (the operator's null space) get a zero filter, also when lambda = 0: the pseudo-inverse.
    denominator = singular.square() + regularization
    gain = torch.where(singular > 0, singular / torch.where(denominator > 0, denominator, 1), 0)
    coefficients = u_rows.T @ observed @ u_cols
    return v_rows @ (gain * coefficients) @ v_cols.T


def _tikhonov_from_svd(
    observed: torch.Tensor,
    rows_svd: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    cols_svd: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    regularization: float,
) -> torch.Tensor:
    """Tikhonov inverse of the separable ``rows @ X @ cols.T`` from the thin SVDs ``(U, S, Vh)`` of both matrices,
    whose singular values are ``s_ij = s_r_i s_c_j``."""
    dtype, device = compute_dtype(observed.dtype), observed.device
    u_r, s_r, vh_r = (t.to(device=device, dtype=dtype) for t in rows_svd)
    u_c, s_c, vh_c = (t.to(device=device, dtype=dtype) for t in cols_svd)
    singular = s_r[:, None] * s_c[None, :]
    return _tikhonov_in_svd_basis(observed.to(dtype), u_r, u_c, vh_r.T, vh_c.T, singular, regularization)


def wiener_deconvolve(
    observed: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, regularization: float = WIENER_REGULARIZATION
) -> torch.Tensor:
    """Tikhonov-regularised inverse of a separable linear operator ``Y = rows @ X @ cols.T``, per channel.

    Minimises ``||rows X cols^T - Y||^2 + lambda ||X||^2``, which is Wiener filtering with a white signal prior
    (``lambda`` = noise variance / signal variance). With ``rows = U_r S_r V_r^T`` and ``cols = U_c S_c V_c^T``
    the minimiser is exact and cheap: ``X = V_r [s_ij / (s_ij^2 + lambda) ⊙ (U_r^T Y U_c)] V_c^T`` with
    ``s_ij = s_r_i s_c_j``. With ``lambda = 0`` this is the pseudo-inverse (numerically zero singular values are
    left out). Values are used as given: no range conversion and no clamping.

    Args:
        observed (`torch.Tensor` of shape `(B, C, M, N)`):
            The operator's output, any values.
        rows (`torch.Tensor` of shape `(M, H)`):
            The operator along the height.
        cols (`torch.Tensor` of shape `(N, W)`):
            The operator along the width.
        regularization (`float`, *optional*, defaults to `WIENER_REGULARIZATION` (``1e-6``)):
            ``lambda >= 0``, in the squared units of ``observed``.

    Returns:
        `torch.Tensor` of shape `(B, C, H, W)`: the estimate, unclamped, on ``observed``'s device, in
        ``observed``'s dtype promoted to at least float32.
    """
    _check_images(observed, "observed")
    regularization = _check_regularization(regularization)
    for name, matrix, size in (("rows", rows, observed.shape[-2]), ("cols", cols, observed.shape[-1])):
        if not isinstance(matrix, torch.Tensor) or matrix.ndim != 2 or matrix.shape[0] != size:
            shape = tuple(matrix.shape) if isinstance(matrix, torch.Tensor) else type(matrix).__name__
            raise ValueError(f"`{name}` must be a matrix with {size} rows to match `observed`, got {shape}.")
    return _tikhonov_from_svd(observed, _svd_with_rank_cutoff(rows), _svd_with_rank_cutoff(cols), regularization)


def wiener_deblur(
    degraded: torch.Tensor,
    kernel: BlurKernel,
    regularization: float = WIENER_REGULARIZATION,
    ddrm_compat: bool = True,
    singular_layout: SingularLayout = "tiled",
) -> torch.Tensor:
    """Wiener (Tikhonov) deconvolution of the blur tasks with the true operator.

    The blur acts in ``[0, 1]`` space, ``y = H((x + 1) / 2) * 2 - 1``, so the Tikhonov inverse is applied to
    ``(y + 1) / 2`` and the result is mapped back and clamped. Both layouts are inverted exactly in their SVD basis:

    * ``"tiled"`` (``blur-uni``, ``blur-gauss``): ``H(X)_c = U_rows (S_c ⊙ (V_rows^T X_c V_cols)) U_cols^T`` with
      the factors of :func:`~bridge_diffusers.degradations.ddrm_blur_svd`, so
      ``X_c = V_rows [F_c ⊙ (U_rows^T Y_c U_cols)] V_cols^T`` with ``F_c = S_c / (S_c^2 + lambda)``: each coefficient
      is filtered by the singular value the tiling gave it;
    * ``"per_channel"`` (``-per-channel`` tasks): :func:`wiener_deconvolve` with the matrices of
      :func:`~bridge_diffusers.degradations.blur_matrix`.

    The operator's null space (the singular values below ``3e-2`` are zeroed) cannot be recovered and comes back
    as zero in that basis; everything else is restored up to the regularisation.

    Args:
        degraded (`torch.Tensor` of shape `(B, C, H, W)`):
            Blurred images, nominally in ``[-1, 1]``.
        kernel (`str`):
            ``"uniform"`` (``blur-uni``) or ``"gaussian"`` (``blur-gauss``).
        regularization (`float`, *optional*, defaults to `WIENER_REGULARIZATION` (``1e-6``)):
            The Tikhonov weight ``lambda >= 0`` for images in ``[0, 1]``. The default is the best value for the
            noiseless float inputs of the benchmark; use :data:`WIENER_REGULARIZATION_8BIT` (``1e-3``) for inputs
            rounded to 8 bits, and larger values for noisier ones.
        ddrm_compat (`bool`, *optional*, defaults to `True`):
            The operator setting of :class:`~bridge_diffusers.degradations.Blur` that made ``degraded``.
        singular_layout (`str`, *optional*, defaults to `"tiled"`):
            The other setting of :class:`~bridge_diffusers.degradations.Blur`: ``"tiled"`` (official) or
            ``"per_channel"``.

    Returns:
        `torch.Tensor` of shape `(B, C, H, W)`: the restorations in ``[-1, 1]`` (clamped), ``degraded``'s dtype.
    """
    _check_images(degraded)
    Blur(kernel, ddrm_compat, singular_layout)  # validates the setting
    regularization = _check_regularization(regularization)
    channels, height, width = degraded.shape[-3:]
    observed01 = to_unit_range(degraded, clamp=False)
    if singular_layout == "tiled":
        dtype = compute_dtype(degraded.dtype)
        svd = ddrm_blur_svd(height, width, kernel, channels, degraded.device, dtype)
        restored01 = _tikhonov_in_svd_basis(
            observed01.to(dtype), svd.u_rows, svd.u_cols, svd.v_rows, svd.v_cols, svd.singular_values, regularization
        )
    else:
        # The float64 matrices of the degradation itself, so the baseline inverts exactly the operator applied.
        rows, cols = (blur_matrix(size, kernel, bool(ddrm_compat), dtype=torch.float64) for size in (height, width))
        restored01 = wiener_deconvolve(observed01, rows, cols, regularization)
    return to_signed_range(restored01).clamp(-1, 1).to(degraded.dtype)


# ------------------------------------------------------------------------------------------------ super-resolution
@functools.lru_cache(maxsize=32)
def _cached_upsampling_matrix(size: int, factor: int, a: float) -> torch.Tensor:
    out = size * factor
    # Output pixel o has its centre at (o + 0.5) / factor - 0.5 in low-resolution pixel coordinates, so low pixel
    # i lands on output position factor * i + (factor - 1) / 2: the centre of the block it was pooled from.
    position = (torch.arange(out, dtype=torch.float64) + 0.5) / factor - 0.5
    base = torch.floor(position)
    matrix = torch.zeros(out, size, dtype=torch.float64)
    for offset in (-1, 0, 1, 2):
        source = base + offset
        weight = keys_cubic(position - source, a)
        # Taps outside the image repeat the edge pixel, as torch's bicubic interpolation does.
        index = source.clamp(0, size - 1).long()
        matrix.index_put_((torch.arange(out), index), weight, accumulate=True)
    return matrix


def bicubic_upsampling_matrix(
    size: int,
    factor: int = 4,
    a: float = BICUBIC_A,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The 1-D bicubic enlargement by ``factor`` as a matrix (half-pixel centres, edge pixels repeated).

    Output pixel ``o`` interpolates the low-resolution samples at ``(o + 0.5) / factor - 0.5`` with Keys' cubic
    kernel, the geometry of ``F.interpolate(..., mode="bicubic", align_corners=False)``; with ``a = -0.75`` the
    matrix reproduces torch's interpolation, with ``a = -0.5`` (Keys, PIL, MATLAB) it matches the kernel of the
    ``sr4x-bicubic`` degradation and is the only value that reproduces linear functions exactly. Rows sum to 1.

    Args:
        size (`int`): the number of low-resolution pixels ``n`` along the axis.
        factor (`int`, *optional*, defaults to `4`): the enlargement factor.
        a (`float`, *optional*, defaults to `BICUBIC_A` (``-0.75``)): the free parameter of the cubic kernel.
        device (`torch.device` or `str`, *optional*): defaults to the CPU.
        dtype (`torch.dtype`, *optional*, defaults to `torch.float32`).

    Returns:
        `torch.Tensor` of shape `(n * factor, n)`; may be shared with later callers, do not modify it in place.
    """
    factor = _check_factor(factor)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"`size` must be a positive integer, got {size!r}.")
    return _cached_upsampling_matrix(size, factor, float(a)).to(device=torch.device(device or "cpu"), dtype=dtype)


def bicubic_upsample(low: torch.Tensor, factor: int = 4, a: float = BICUBIC_A) -> torch.Tensor:
    """Enlarge images by ``factor`` with separable bicubic interpolation (see :func:`bicubic_upsampling_matrix`).

    Args:
        low (`torch.Tensor` of shape `(B, C, h, w)`):
            Low-resolution images, any values.
        factor (`int`, *optional*, defaults to `4`):
            The enlargement factor.
        a (`float`, *optional*, defaults to `BICUBIC_A` (``-0.75``)):
            The cubic kernel's parameter (``-0.75``: torch/OpenCV, ``-0.5``: Keys/PIL/MATLAB).

    Returns:
        `torch.Tensor` of shape `(B, C, h * factor, w * factor)`, unclamped (bicubic interpolation overshoots at
        edges), in ``low``'s dtype promoted to at least float32.
    """
    _check_images(low, "low")
    dtype, device = compute_dtype(low.dtype), low.device
    rows = bicubic_upsampling_matrix(low.shape[-2], factor, a, device, dtype)
    cols = bicubic_upsampling_matrix(low.shape[-1], factor, a, device, dtype)
    return rows @ low.to(dtype) @ cols.T


def super_resolve(degraded: torch.Tensor, factor: int = 4, a: float = BICUBIC_A) -> torch.Tensor:
    """Classical restoration of the ``sr4x-pool`` / ``sr4x-bicubic`` tasks: bicubic enlargement of the low-res image.

    The degraded images are low-resolution images enlarged by pixel repetition; the low-resolution image is
    read back as the ``factor x factor`` block means (exact for such inputs, and the least-squares choice if the
    blocks were perturbed afterwards), then enlarged with :func:`bicubic_upsample`, whose sample positions put
    every low pixel at the centre of its block.

    Args:
        degraded (`torch.Tensor` of shape `(B, C, H, W)`):
            Nearest-neighbour enlarged images in ``[-1, 1]``; ``H`` and ``W`` divisible by ``factor``.
        factor (`int`, *optional*, defaults to `4`):
            The scale factor of the task.
        a (`float`, *optional*, defaults to `BICUBIC_A` (``-0.75``)):
            The cubic kernel's parameter.

    Returns:
        `torch.Tensor` of shape `(B, C, H, W)`: the restorations in ``[-1, 1]`` (clamped), ``degraded``'s dtype.
    """
    _check_images(degraded)
    factor = _check_factor(factor)
    height, width = degraded.shape[-2:]
    if height % factor or width % factor:
        raise ValueError(
            f"Super-resolution by {factor} needs a height and width divisible by it, got {height}x{width}."
        )
    low = F.avg_pool2d(degraded.to(compute_dtype(degraded.dtype)), factor)
    return bicubic_upsample(low, factor, a).clamp(-1, 1).to(degraded.dtype)


# ------------------------------------------------------------------------------------------------ inpainting
def _neighbour_sum(planes: torch.Tensor) -> torch.Tensor:
    """Sum of the 4-neighbours of every pixel, those outside the image counting as zero."""
    padded = F.pad(planes, (1, 1, 1, 1))
    return padded[..., :-2, 1:-1] + padded[..., 2:, 1:-1] + padded[..., 1:-1, :-2] + padded[..., 1:-1, 2:]


def harmonic_inpaint(
    degraded: torch.Tensor, mask: torch.Tensor, tolerance: float = 1e-5, max_iterations: int | None = None
) -> torch.Tensor:
    """Fill the hole with the harmonic interpolant of the pixels around it (discrete Laplace equation).

    Every hole pixel becomes the mean of its 4 neighbours (those inside the image), the known pixels being
    fixed: the smoothest fill in the sense of the Dirichlet energy, exact for linear ramps. The sparse
    symmetric positive-definite system is solved by conjugate gradients, independently per image and channel.
    A hole region that touches no known pixel gets the mean of the image's known pixels (the whole image when
    nothing is known: zero, i.e. mid-grey).

    Args:
        degraded (`torch.Tensor` of shape `(B, C, H, W)`):
            Images in ``[-1, 1]``; the values inside the hole are ignored.
        mask (`torch.Tensor` of shape `(B, 1, H, W)`, `(1, 1, H, W)` or `(H, W)`):
            ``1`` where pixels are missing (the hole), ``0`` where they are known, as returned by the inpainting
            degradations; values above ``0.5`` count as hole.
        tolerance (`float`, *optional*, defaults to `1e-5`):
            Stop when the residual norm of every plane is below ``tolerance * max(||b||, 1)``, ``b`` being the
            boundary term of the system.
        max_iterations (`int`, *optional*):
            Upper bound on the conjugate-gradient steps; defaults to ``4 * (H + W)``, several times what a hole
            spanning the image needs.

    Returns:
        `torch.Tensor` of shape `(B, C, H, W)`: the known pixels unchanged and the hole filled, clamped to
        ``[-1, 1]``, in ``degraded``'s dtype.
    """
    _check_images(degraded)
    batch, channels, height, width = degraded.shape
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"`mask` must be a torch.Tensor (1 = hole), got {type(mask).__name__}.")
    if mask.ndim == 2:
        mask = mask[None, None]
    if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[-2:] != (height, width) or mask.shape[0] not in (1, batch):
        raise ValueError(
            f"`mask` must have shape ({batch}, 1, {height}, {width}), (1, 1, {height}, {width}) or "
            f"({height}, {width}) to match `degraded`, got {tuple(mask.shape)}."
        )
    if not (isinstance(tolerance, (int, float)) and tolerance > 0):
        raise ValueError(f"`tolerance` must be a positive number, got {tolerance!r}.")
    if max_iterations is None:
        max_iterations = 4 * (height + width)
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or max_iterations < 0:
        raise ValueError(f"`max_iterations` must be an integer >= 0, got {max_iterations!r}.")

    dtype = compute_dtype(degraded.dtype)
    images = degraded.to(dtype)
    hole = (mask.to(device=degraded.device) > 0.5).to(dtype).expand(batch, channels, height, width)
    known = 1 - hole
    degree = _neighbour_sum(torch.ones(1, 1, height, width, device=degraded.device, dtype=dtype))

    def laplacian(values: torch.Tensor) -> torch.Tensor:
        # The graph Laplacian restricted to the hole (values outside it are zero and stay zero).
        return hole * (degree * values - _neighbour_sum(values * hole))

    def dot(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return (first * second).sum(dim=(-2, -1), keepdim=True)

    # Known neighbours move to the right-hand side: L_hole u = sum of the known neighbours' values.
    rhs = hole * _neighbour_sum(images * known)
    known_count = known.sum(dim=(-2, -1), keepdim=True)
    known_mean = (images * known).sum(dim=(-2, -1), keepdim=True) / known_count.clamp_min(1)
    # Starting from the known mean leaves it in place on hole regions without known neighbours, where the
    # (singular) system does not move a constant.
    solution = hole * known_mean
    residual = rhs - laplacian(solution)
    direction = residual.clone()
    residual_norm2 = dot(residual, residual)
    threshold2 = (tolerance * dot(rhs, rhs).sqrt().clamp_min(1)) ** 2
    for _ in range(max_iterations):
        if bool((residual_norm2 <= threshold2).all()):
            break
        product = laplacian(direction)
        curvature = dot(direction, product)
        # Converged planes have a zero direction and curvature; their step is zero instead of 0 / 0.
        step = torch.where(curvature > 0, residual_norm2 / torch.where(curvature > 0, curvature, 1), 0)
        solution = solution + step * direction
        residual = residual - step * product
        new_norm2 = dot(residual, residual)
        ratio = torch.where(residual_norm2 > 0, new_norm2 / torch.where(residual_norm2 > 0, residual_norm2, 1), 0)
        direction = residual + ratio * direction
        residual_norm2 = new_norm2
    filled = images * known + solution * hole
    return filled.clamp(-1, 1).to(degraded.dtype)


# ------------------------------------------------------------------------------------------------ dispatch
def classical_restore(
    task: str,
    degraded: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Restore a batch degraded by ``task`` with the classical method of :data:`CLASSICAL_METHODS`, with its
    default options and the exact operator of the task.

    Args:
        task (`str`):
            A task of :data:`CLASSICAL_METHODS`, or an alias the degradation registry accepts (``"jpeg-5"``);
            case-insensitive.
        degraded (`torch.Tensor` of shape `(B, C, H, W)`):
            The degraded images, nominally in ``[-1, 1]`` (as the operator of ``get_degradation(task)`` returns).
        mask (`torch.Tensor` of shape `(B, 1, H, W)`, *optional*):
            Inpainting tasks: ``1`` on the hole. Required for the free-form tasks; ``inpaint-center`` defaults to
            the official centre box.

    Returns:
        `torch.Tensor` of shape `(B, C, H, W)`: the restorations in ``[-1, 1]`` (clamped), ``degraded``'s dtype
        and device.

    Raises:
        ValueError: for an unknown or unsupported task (the message lists the supported ones), a malformed batch,
            or a free-form inpainting task without ``mask``.
    """
    supported = ", ".join(CLASSICAL_METHODS)
    if not isinstance(task, str):
        raise ValueError(f"`task` must be a task name, got {type(task).__name__}. Supported tasks: {supported}.")
    try:
        operator = get_degradation(task)
    except ValueError:
        raise ValueError(f"Unknown task {task!r}. Supported tasks: {supported}.") from None
    if operator.name not in CLASSICAL_METHODS:
        raise ValueError(f"No classical restoration for task {operator.name!r}. Supported tasks: {supported}.")
    _check_images(degraded)

    if isinstance(operator, Blur):
        layout = operator.singular_layout
        return wiener_deblur(degraded, operator.kernel, ddrm_compat=operator.ddrm_compat, singular_layout=layout)
    if isinstance(operator, SuperResolution):
        return super_resolve(degraded, operator.factor)
    if isinstance(operator, JPEGCompression):
        # No restoration: the decoded JPEG is the reference a learned method must improve on.
        return degraded.clone()
    if isinstance(operator, Inpainting):
        if mask is None:
            if operator.mask_generator is not None:
                raise ValueError(f"Task {operator.name!r} draws a random hole per image: pass its `mask`.")
            mask = center_mask(*degraded.shape[-2:])
        return harmonic_inpaint(degraded, mask)
    raise ValueError(f"No classical restoration for task {operator.name!r}. Supported tasks: {supported}.")
