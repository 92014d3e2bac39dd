# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""I2SB image-to-image pipeline (Liu et al., ICML 2023): DDPM-posterior sampling from the degraded image."""

from __future__ import annotations

import torch
from diffusers import UNet2DModel

from ..models.bridge_unet import unet_forward
from ..schedulers.scheduling_i2sb import I2SBScheduler
from .endpoint import prepare_bridge_inputs
from .pipeline_bridge_utils import (
    BridgePipeline,
    BridgePipelineOutput,
    ImageInput,
    check_output_type,
    takes_condition,
)


__all__ = ["I2SBPipeline"]

EXAMPLE_DOC_STRING = """
    Examples:
        ```py
        >>> from PIL import Image
        >>> from bridge_diffusers import I2SBPipeline

        >>> pipe = I2SBPipeline.from_pretrained("pipelines/i2sb-jpeg10-small")
        >>> restored = pipe(image=Image.open("degraded.png"), num_inference_steps=10).images[0]
        ```
"""


class I2SBPipeline(BridgePipeline):
    """Restores or translates images with an Image-to-Image Schroedinger Bridge.

    Args:
        unet (`UNet2DModel`): the bridge network ``eps(X_t, t[, X1])``; ``in_channels = 2 * out_channels`` marks a
            ``cond_x1`` network that also sees the degraded image.
        scheduler (`I2SBScheduler`): the bridge schedule and sampler.
    """

    model_cpu_offload_seq = "unet"

    def __init__(self, unet: UNet2DModel, scheduler: I2SBScheduler):
        super().__init__()
        if not isinstance(scheduler, I2SBScheduler):
            raise TypeError(f"I2SBPipeline needs an I2SBScheduler, got {type(scheduler).__name__}.")
        takes_condition(unet)
        self.register_modules(unet=unet, scheduler=scheduler)

    @property
    def cond_x1(self) -> bool:
        return takes_condition(self.unet)

    @torch.no_grad()
    def __call__(
        self,
        image: ImageInput,
        mask: ImageInput | None = None,
        num_inference_steps: int = 10,
        timesteps: list[int] | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        output_trajectory: bool = False,
    ) -> BridgePipelineOutput | tuple:
        """Runs the bridge from the degraded ``image`` (X1) to a restored image (X0).

        Args:
            image: the degraded image(s): PIL, numpy (uint8 or float in [0, 1]) or tensor in [0, 1], one or a batch,
                any size (padded to the UNet's multiple and cropped back); grayscale and RGBA are converted.
            mask: for inpainting, 1 (white) in the hole and 0 where pixels are known; one for all or one per image.
                The hole of X1 is filled with Gaussian noise and the known region is re-drawn from the bridge at
                every step, as the official sampler does.
            num_inference_steps (`int`, defaults to 10): the number of network evaluations (1 to 999).
            timesteps (`list[int]`, *optional*): a custom descending grid of start indices (starting at 999).
            generator (`torch.Generator` or list, *optional*): one generator, or one per image, for reproducibility.
            output_type (`str`, defaults to `"pil"`): `"pil"`, `"np"` (B, H, W, C) or `"pt"` (B, C, H, W), in [0, 1].
            return_dict (`bool`, defaults to `True`): return a :class:`BridgePipelineOutput` instead of a tuple.
            output_trajectory (`bool`, defaults to `False`): also return the sample and ``x0`` estimate of every step.

        Returns:
            :class:`BridgePipelineOutput` (or a tuple whose first element is the images).
        """
        check_output_type(output_type)
        device = self._execution_device
        # 1. Degraded image -> bridge endpoint X1 in [-1, 1]; in the hole, X1 is Gaussian noise (official).
        degraded, mask_t, size = self.prepare_images(image, mask, device)
        x1, condition = prepare_bridge_inputs(self.scheduler, degraded, mask_t, generator=generator)
        condition = condition if self.cond_x1 else None

        # 2. The sampling grid, then DDPM posterior steps from X_N = X1 (Alg. 2).
        self.set_sampling_grid(num_inference_steps, timesteps, device)
        sample = x1
        trajectory, pred_trajectory = ([x1], []) if output_trajectory else (None, None)
        for t in self.progress_bar(self.scheduler.timesteps):
            model_output = unet_forward(self.unet, sample, self.scheduler.model_time(t), condition=condition)
            sample, pred_x0 = self.scheduler.step(
                model_output, t, sample, generator=generator, return_dict=False, endpoint=x1, mask=mask_t
            )
            if output_trajectory:
                trajectory.append(sample)
                pred_trajectory.append(pred_x0)

        # 3. Crop the padding and convert.
        return self.finish(sample, size, output_type, return_dict, trajectory, pred_trajectory)
