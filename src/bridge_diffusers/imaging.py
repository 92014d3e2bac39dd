# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Image ranges in one place: the models work on ``[-1, 1]`` (diffusers' convention), metrics and files on ``[0, 1]``
and 8 bits.

Reading any image format into ``[0, 1]`` is :func:`bridge_diffusers.pipelines.images_to_tensor`; these helpers do
the rest.
"""

from __future__ import annotations

import numpy as np
import PIL.Image
import torch


__all__ = ["signed_to_image", "to_signed_range", "to_unit_range"]


def to_unit_range(images: torch.Tensor, clamp: bool = True) -> torch.Tensor:
    """``[-1, 1]`` -> ``[0, 1]``, clamped as diffusers' ``VaeImageProcessor.denormalize`` does unless ``clamp=False``
    (linear algebra on values that may overshoot, such as an operator's output)."""
    images = (images + 1) / 2
    return images.clamp(0, 1) if clamp else images


def to_signed_range(images: torch.Tensor) -> torch.Tensor:
    """``[0, 1]`` -> ``[-1, 1]`` (diffusers' ``VaeImageProcessor.normalize``)."""
    return images * 2 - 1


def signed_to_image(image: torch.Tensor) -> PIL.Image.Image:
    """One image, `(C, H, W)` or `(1, C, H, W)` in ``[-1, 1]``, as an 8-bit PIL image (``L`` for one channel)."""
    array = to_unit_range(image.detach().float().cpu().reshape(-1, *image.shape[-2:])).permute(1, 2, 0).numpy()
    array = np.round(array * 255).astype(np.uint8)
    return PIL.Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
