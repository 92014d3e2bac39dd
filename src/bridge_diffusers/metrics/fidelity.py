# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Full-reference fidelity metrics: PSNR and SSIM.

Both take float images of shape ``(B, C, H, W)`` (a single ``(C, H, W)`` image is accepted too) with values in
``[0, data_range]`` (``[0, 1]`` by default; map ``[-1, 1]`` model outputs with ``to_unit_range`` first). Values
are not clipped: clip predictions yourself if the protocol you follow does. Every image of the batch gets its
own value; ``reduction="mean"`` averages those per-image values, which is how the NADB evaluation reports PSNR
(the mean of per-image PSNRs, not the PSNR of the pooled MSE). Computation runs in float64 (float32 on MPS).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._validation import check_data_range, check_reduction, check_same_shape, reduce, working_dtype


__all__ = ["gaussian_window", "psnr", "ssim"]


def psnr(
    prediction: torch.Tensor, target: torch.Tensor, data_range: float = 1.0, reduction: str = "none"
) -> torch.Tensor:
    """Peak signal-to-noise ratio ``10 log10(data_range^2 / MSE)`` of every image, in dB.

    The MSE is taken per image over all of its channels and pixels. An image identical to its target has
    ``MSE = 0`` and its PSNR is returned as ``+inf`` on purpose (not a huge finite number); with
    ``reduction="mean"`` one such image makes the mean ``+inf``, so filter with ``torch.isfinite`` if needed.

    Args:
        prediction (`torch.Tensor` of shape `(B, C, H, W)` or `(C, H, W)`):
            Restored images with values in `[0, data_range]`. Any number of channels (1 for grayscale).
        target (`torch.Tensor` of the same shape):
            Reference images with values in `[0, data_range]`.
        data_range (`float`, defaults to 1.0):
            The peak value of the images' range (1.0 for `[0, 1]`, 255.0 for `[0, 255]`).
        reduction (`str`, defaults to `"none"`):
            `"none"` returns one value per image, `"mean"` their average.

    Returns:
        `torch.Tensor`: of shape `(B,)` for `reduction="none"`, a scalar for `"mean"`; float64 (float32 on MPS).

    Raises:
        ValueError: on non-tensor, non-float, NaN/inf or mismatched inputs, or a bad `data_range`/`reduction`.
    """
    prediction, target = check_same_shape(prediction, target)
    peak = check_data_range(data_range)
    check_reduction(reduction)
    dtype = working_dtype(prediction.device)
    mse = (prediction.to(dtype) - target.to(dtype)).square().flatten(1).mean(dim=1)
    # A zero MSE is a perfect reconstruction: report +inf explicitly instead of relying on a division by zero.
    finite = 10.0 * torch.log10(peak**2 / mse.clamp_min(torch.finfo(dtype).tiny))
    values = torch.where(mse > 0, finite, torch.full_like(mse, float("inf")))
    return reduce(values, reduction)


def gaussian_window(
    size: int = 11, sigma: float = 1.5, dtype: torch.dtype = torch.float64, device: torch.device | None = None
) -> torch.Tensor:
    """The normalised 1-D Gaussian ``exp(-x^2 / (2 sigma^2))`` on ``x = -(size // 2), ..., size // 2``.

    The 2-D SSIM window is the outer product of this vector with itself, applied as two 1-D convolutions.

    Returns:
        `torch.Tensor` of shape `(size,)`, non-negative, summing to 1.
    """
    if not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise ValueError(f"`window_size` must be a positive odd integer, got {size!r}.")
    if not sigma > 0:
        raise ValueError(f"`sigma` must be positive, got {sigma}.")
    offsets = torch.arange(size, dtype=dtype, device=device) - size // 2
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def _valid_gaussian_blur(images: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filtering of every channel without padding: `(B, C, H, W) -> (B, C, H-k+1, W-k+1)`."""
    channels, size = images.shape[1], window.numel()
    horizontal = window.view(1, 1, 1, size).expand(channels, 1, 1, size)
    vertical = window.view(1, 1, size, 1).expand(channels, 1, size, 1)
    blurred = F.conv2d(images, horizontal, groups=channels)
    return F.conv2d(blurred, vertical, groups=channels)


def ssim(
    prediction: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    reduction: str = "none",
) -> torch.Tensor:
    """Structural similarity (Wang et al., 2004) of every image, with a Gaussian window.

    Local means, variances and the covariance are Gaussian-weighted averages over a `window_size` x
    `window_size` window (population statistics, no ``N / (N - 1)`` correction). Only windows that lie fully
    inside the image are used ("valid" filtering, no padding); the SSIM map is averaged over those positions and
    over channels. With the defaults this equals ``skimage.metrics.structural_similarity(..., data_range=1.0,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=...)``.

    Args:
        prediction (`torch.Tensor` of shape `(B, C, H, W)` or `(C, H, W)`):
            Restored images with values in `[0, data_range]`; `H` and `W` must be at least `window_size`.
        target (`torch.Tensor` of the same shape):
            Reference images with values in `[0, data_range]`.
        data_range (`float`, defaults to 1.0):
            The width of the images' value range; sets the stabilisers ``C1 = (k1 R)^2`` and ``C2 = (k2 R)^2``.
        window_size (`int`, defaults to 11):
            Side of the Gaussian window (odd).
        sigma (`float`, defaults to 1.5):
            Standard deviation of the Gaussian window, in pixels.
        k1 (`float`, defaults to 0.01):
            Luminance stabiliser constant.
        k2 (`float`, defaults to 0.03):
            Contrast stabiliser constant.
        reduction (`str`, defaults to `"none"`):
            `"none"` returns one value per image, `"mean"` their average.

    Returns:
        `torch.Tensor`: of shape `(B,)` for `reduction="none"`, a scalar for `"mean"`; values in `[-1, 1]`,
        1 for identical images; float64 (float32 on MPS).

    Raises:
        ValueError: on invalid inputs (see :func:`psnr`) or images smaller than the window.
    """
    prediction, target = check_same_shape(prediction, target)
    peak = check_data_range(data_range)
    check_reduction(reduction)
    dtype = working_dtype(prediction.device)
    window = gaussian_window(window_size, sigma, dtype=dtype, device=prediction.device)
    height, width = prediction.shape[-2:]
    if height < window_size or width < window_size:
        raise ValueError(
            f"SSIM needs images of at least {window_size}x{window_size} pixels (the window size), got "
            f"{height}x{width}; pass a smaller odd `window_size` for tiny images."
        )

    x, y = prediction.to(dtype), target.to(dtype)
    # One grouped convolution filters all five moment maps at once.
    moments = _valid_gaussian_blur(torch.cat([x, y, x * x, y * y, x * y], dim=1), window)
    mean_x, mean_y, mean_xx, mean_yy, mean_xy = moments.chunk(5, dim=1)
    var_x = mean_xx - mean_x.square()
    var_y = mean_yy - mean_y.square()
    covariance = mean_xy - mean_x * mean_y

    c1, c2 = (k1 * peak) ** 2, (k2 * peak) ** 2
    luminance = (2 * mean_x * mean_y + c1) / (mean_x.square() + mean_y.square() + c1)
    structure = (2 * covariance + c2) / (var_x + var_y + c2)
    # Every channel's map has the same size, so the mean over (C, H', W') is the mean of per-channel SSIMs.
    values = (luminance * structure).flatten(1).mean(dim=1)
    return reduce(values, reduction)
