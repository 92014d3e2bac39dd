# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Input checks shared by the metrics: every public metric rejects bad input with a ValueError that says why."""

from __future__ import annotations

import torch


__all__ = ["as_batch", "check_data_range", "check_reduction", "check_same_shape", "reduce", "working_dtype"]

REDUCTIONS = ("none", "mean")


def as_batch(images: torch.Tensor, name: str) -> torch.Tensor:
    """Checks one image batch and returns it as `(B, C, H, W)`.

    Args:
        images (`torch.Tensor` of shape `(B, C, H, W)` or `(C, H, W)`): floating-point images.
        name (`str`): the argument's name, used in error messages.

    Returns:
        `torch.Tensor` of shape `(B, C, H, W)`: the same data; a single `(C, H, W)` image gains a batch axis.

    Raises:
        ValueError: if `images` is not a floating-point tensor of 3 or 4 dimensions with finite values.
    """
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"`{name}` must be a torch.Tensor of shape (B, C, H, W), got {type(images).__name__}.")
    if not images.is_floating_point():
        raise ValueError(
            f"`{name}` must be a floating-point tensor with values in [0, data_range], got dtype {images.dtype}; "
            "convert uint8 images with `images.float() / 255`."
        )
    if images.ndim == 3:
        images = images.unsqueeze(0)
    if images.ndim != 4:
        raise ValueError(f"`{name}` must have shape (B, C, H, W) or (C, H, W), got {tuple(images.shape)}.")
    if images.numel() == 0:
        raise ValueError(f"`{name}` is empty (shape {tuple(images.shape)}).")
    if not torch.isfinite(images).all():
        raise ValueError(f"`{name}` contains NaN or infinite values; metrics are only defined for finite images.")
    return images


def check_same_shape(prediction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Checks a prediction/target pair with :func:`as_batch` and that both have the same shape."""
    prediction = as_batch(prediction, "prediction")
    target = as_batch(target, "target")
    if prediction.shape != target.shape:
        raise ValueError(
            f"`prediction` and `target` must have the same shape, got {tuple(prediction.shape)} and "
            f"{tuple(target.shape)}."
        )
    return prediction, target


def check_data_range(data_range: float) -> float:
    """Returns `data_range` as a float after checking it is a positive finite number."""
    value = float(data_range)
    if not (value > 0 and value < float("inf")):
        raise ValueError(
            f"`data_range` must be a positive finite number (1.0 for images in [0, 1]), got {data_range}."
        )
    return value


def check_reduction(reduction: str) -> None:
    """Raises a ValueError unless `reduction` is one of ``"none"`` and ``"mean"``."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"`reduction` must be one of {REDUCTIONS}, got {reduction!r}.")


def reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """Applies a checked `reduction` to per-image values of shape `(B,)`."""
    return values.mean() if reduction == "mean" else values


def working_dtype(device: torch.device) -> torch.dtype:
    """The dtype the metrics compute in: float64 for accuracy, float32 on backends without float64 (MPS)."""
    return torch.float32 if device.type == "mps" else torch.float64
