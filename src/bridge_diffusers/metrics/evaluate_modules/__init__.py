# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Hugging Face ``evaluate`` metric scripts (``psnr``, ``ssim``) shipped inside the package.

Load one offline with::

    import evaluate
    from bridge_diffusers.metrics import evaluate_module_path

    metric = evaluate.load(evaluate_module_path("psnr"))
    metric.add_batch(predictions=restored_images, references=clean_images)  # PIL images or uint8 HWC arrays
    metric.compute()  # {"psnr": mean of per-image PSNRs}

The script folders are packages only so that they are installed with the wheel; ``evaluate`` copies and imports
the script files itself. This module holds what the scripts share.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch


__all__ = ["EVALUATE_MODULES", "evaluate_module_path", "image_to_tensor", "mean_over_image_pairs"]

EVALUATE_MODULES = ("psnr", "ssim")

# Integer pixel types and the value that maps to 1.0.
_INTEGER_PEAKS = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def evaluate_module_path(name: str) -> str:
    """Absolute path of a bundled ``evaluate`` module folder, to pass to ``evaluate.load``.

    Args:
        name (`str`): `"psnr"` or `"ssim"`.

    Returns:
        `str`: the folder holding `<name>.py`; works from a source checkout and from an installed wheel.
    """
    if name not in EVALUATE_MODULES:
        raise ValueError(f"Unknown evaluate module {name!r}; bundled modules are {EVALUATE_MODULES}.")
    return str(Path(__file__).resolve().parent / name)


def image_to_tensor(image: Any) -> torch.Tensor:
    """Converts one image to a float64 tensor of shape `(1, C, H, W)` with values in `[0, 1]`.

    Args:
        image (`PIL.Image.Image` or `np.ndarray`):
            A PIL image (modes `L`, `RGB`, `I;16`, `F` are kept, others converted to `RGB`) or an array of shape
            `(H, W)` or `(H, W, C)`: `uint8` (divided by 255), `uint16` (by 65535) or float (taken as `[0, 1]`).

    Returns:
        `torch.Tensor` of shape `(1, C, H, W)`, float64.
    """
    if hasattr(image, "mode") and hasattr(image, "convert"):  # a PIL image, without importing PIL here
        if image.mode not in ("L", "RGB", "I;16", "F"):
            image = image.convert("RGB")
        array = np.asarray(image)
    else:
        array = np.asarray(image)
    if array.dtype in _INTEGER_PEAKS:
        array = array.astype(np.float64) / _INTEGER_PEAKS[array.dtype]
    elif np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    else:
        raise ValueError(f"Images must be uint8, uint16 or float, got dtype {array.dtype}.")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ValueError(f"Images must have shape (H, W) or (H, W, C), got {array.shape}.")
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).unsqueeze(0)


def mean_over_image_pairs(
    metric: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], predictions: Sequence[Any], references: Sequence[Any]
) -> float:
    """Applies a per-image metric to every (prediction, reference) pair and averages the values.

    Pairs may differ in size from each other; each prediction must match its reference.
    """
    if len(predictions) != len(references):
        raise ValueError(f"Got {len(predictions)} predictions but {len(references)} references.")
    if not predictions:
        raise ValueError("No images to evaluate.")
    values = [
        metric(image_to_tensor(prediction), image_to_tensor(reference))
        for prediction, reference in zip(predictions, references, strict=True)
    ]
    return float(torch.cat(values).mean())
