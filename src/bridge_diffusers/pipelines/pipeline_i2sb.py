# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""I2SB image-to-image pipeline (Liu et al., ICML 2023): DDPM-posterior sampling from the degraded image."""

from __future__ import annotations

from diffusers import UNet2DModel

from ..schedulers.scheduling_i2sb import I2SBScheduler
from .pipeline_bridge_utils import BridgePipeline, takes_condition


__all__ = ["I2SBPipeline"]


class I2SBPipeline(BridgePipeline):
    """Restores or translates images with an Image-to-Image Schroedinger Bridge.

    Sampling starts at the degraded image ``X_N = X1`` (Gaussian noise in an inpainting hole) and takes DDPM
    posterior steps ``X_n ~ p(X_n | X0_hat, X_{n+1})`` (Alg. 2); with a mask, the known region is re-drawn from
    the bridge at every step, as the official sampler does.

    Args:
        unet (`UNet2DModel`): the bridge network ``eps(X_t, t[, X1])``; ``in_channels = 2 * out_channels`` marks a
            ``cond_x1`` network that also sees the degraded image.
        scheduler (`I2SBScheduler`): the bridge schedule and sampler.
        task (`str`, *optional*): the degradation it was trained on, e.g. ``"sr4x-pool"``; saved in
            ``model_index.json``. A super-resolution task makes ``__call__`` upscale its inputs.

    Example:
        ```py
        >>> from PIL import Image
        >>> from bridge_diffusers import I2SBPipeline

        >>> pipe = I2SBPipeline.from_pretrained("pipelines/i2sb-jpeg10")
        >>> restored = pipe(image=Image.open("degraded.png"), num_inference_steps=10).images[0]
        ```
    """

    def __init__(
        self, unet: UNet2DModel, scheduler: I2SBScheduler, task: str | None = None, default_steps: int | None = None
    ):
        super().__init__()
        if not isinstance(scheduler, I2SBScheduler):
            raise TypeError(f"I2SBPipeline needs an I2SBScheduler, got {type(scheduler).__name__}.")
        takes_condition(unet)
        self.register_modules(unet=unet, scheduler=scheduler)
        self.register_task(task)
        self.register_default_steps(default_steps)
