# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Evaluation metrics and diagnostics for diffusion-bridge restoration.

Images given to the metrics are float tensors of shape ``(B, C, H, W)`` with values in ``[0, 1]`` (map the
``[-1, 1]`` outputs of the pipelines with :func:`bridge_diffusers.imaging.to_unit_range`).

* :func:`psnr`, :func:`ssim`: per-image full-reference fidelity (SSIM matches scikit-image's Gaussian variant).
* :func:`fd_effnet_lite0`, :class:`FrechetDistance`: an offline Fréchet distance on EfficientNet-Lite0
  features (not FID), with optional covariance shrinkage.
* :func:`endpoint_diagnostics`, :func:`bridge_diagnostics`, :func:`plot_endpoint_diagnostics`: NADB's
  endpoint-underfitting statistics (variance ratio and cosine of network output vs. target over time).
* :func:`evaluate_module_path`: the bundled ``evaluate`` modules ``psnr`` and ``ssim``.

Importing this package needs only torch and numpy: EfficientNet, evaluate and matplotlib are imported inside the
functions that use them. FID and LPIPS need weights that cannot be fetched offline: use torchmetrics or
pytorch-fid with your own weights on the restorations of :mod:`bridge_diffusers.evaluation`.
"""

from .diagnostics import (
    Diagnostics,
    bridge_diagnostics,
    endpoint_diagnostics,
    endpoint_statistics,
    plot_endpoint_diagnostics,
)
from .evaluate_modules import evaluate_module_path, image_to_tensor
from .fidelity import gaussian_window, psnr, ssim
from .frechet import (
    EfficientNetLite0Features,
    FrechetDistance,
    FrechetResult,
    GaussianStatistics,
    fd_effnet_lite0,
    feature_statistics,
    gaussian_frechet_distance,
    ledoit_wolf_shrinkage,
    load_effnet_lite0,
)


__all__ = [
    "Diagnostics",
    "EfficientNetLite0Features",
    "FrechetDistance",
    "FrechetResult",
    "GaussianStatistics",
    "bridge_diagnostics",
    "endpoint_diagnostics",
    "endpoint_statistics",
    "evaluate_module_path",
    "fd_effnet_lite0",
    "feature_statistics",
    "gaussian_frechet_distance",
    "gaussian_window",
    "image_to_tensor",
    "ledoit_wolf_shrinkage",
    "load_effnet_lite0",
    "plot_endpoint_diagnostics",
    "psnr",
    "ssim",
]
