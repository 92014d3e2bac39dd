# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The bridge-matching loss that I2SB (eq. 12) and NADB (L_NADB) train with."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import UNet2DModel
from diffusers.utils.torch_utils import randn_tensor

from ..models.bridge_unet import unet_forward
from ..schedulers.scheduling_bridge import BridgeScheduler


__all__ = ["bridge_matching_loss", "masked_mse", "psnr_loss"]


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error in float32 (whatever the autocast dtype), over every pixel.

    With an inpainting ``mask`` ((B, 1, H, W), 1 in the hole) both tensors are multiplied by it first, as the
    official I2SB loss does: the mean still runs over every pixel, so the loss scales with the hole's area.
    """
    prediction, target = prediction.float(), target.float()
    if mask is not None:
        prediction, target = prediction * mask, target * mask
    return F.mse_loss(prediction, target)


def psnr_loss(
    prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, floor: float = 1e-8
) -> torch.Tensor:
    """Minus the mean PSNR (dB) of the images of a batch: ``10 log10(mse_i + floor)`` averaged over images ``i``
    (the PSNR loss of NAFNet, Chen et al. 2022), masked as :func:`masked_mse`.

    Why: the mean squared error over a batch is ruled by its textured images, where errors are large, while the
    mean PSNR that restoration is judged by weighs every image alike, so a network trained on the MSE is careless on
    flat images (a 0.001 error costs a flat crop 10 dB and the batch's MSE nothing). The gradient of
    ``log mse_i`` is that of ``mse_i`` divided by ``mse_i``: each image counts by its relative error. ``floor``
    (in [-1, 1] units squared) keeps an exactly restored image from dominating.

    Args:
        prediction (`torch.Tensor`): (B, C, H, W), any range.
        target (`torch.Tensor`): (B, C, H, W), as ``prediction``.
        mask (`torch.Tensor`, *optional*): (B, 1, H, W), 1 in the hole.
    """
    prediction, target = prediction.float(), target.float()
    if mask is not None:
        prediction, target = prediction * mask, target * mask
    per_image = (prediction - target).square().flatten(1).mean(dim=1)
    return 10 * torch.log10(per_image + floor).mean()


def bridge_matching_loss(
    unet: UNet2DModel,
    scheduler: BridgeScheduler,
    clean: torch.Tensor,
    endpoint: torch.Tensor,
    condition: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One bridge-matching loss: draw ``t`` and ``X_t ~ q(X_t | X0, X1)``, regress the scheduler's target.

    Args:
        unet (`UNet2DModel`): the bridge network (possibly wrapped by accelerate).
        scheduler (`BridgeScheduler`): the method's bridge (I2SB: eq. 11-12; NADB: the interpolant and ``Y_t``).
        clean (`torch.Tensor` of shape `(B, C, H, W)`): clean images ``X0`` in [-1, 1].
        endpoint (`torch.Tensor` of shape `(B, C, H, W)`): the bridge endpoint ``X1`` (the degraded image for I2SB,
            the frozen mean network's output for NADB), in [-1, 1], without gradient.
        condition (`torch.Tensor` of shape `(B, C, H, W)`, *optional*): the degraded image, for ``cond_x1`` nets.
        mask (`torch.Tensor` of shape `(B, 1, H, W)`, *optional*): inpainting mask; the loss is restricted to it.
        generator (`torch.Generator`, *optional*): the source of ``t`` and the bridge noise (on the device).

    Returns:
        The scalar float32 loss.
    """
    timesteps = scheduler.sample_timesteps(clean.shape[0], device=clean.device, generator=generator)
    noise = randn_tensor(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
    x_t = scheduler.sample_bridge(clean, endpoint, timesteps, noise)
    target = scheduler.training_target(clean, endpoint, x_t, timesteps)
    prediction = unet_forward(unet, x_t, scheduler.model_time(timesteps), condition=condition)
    return masked_mse(prediction, target, mask)
