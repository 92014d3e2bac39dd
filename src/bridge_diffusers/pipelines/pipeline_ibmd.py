# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""IBMD pipeline (Gushchin et al., ICML 2025): a one- or few-step student distilled from an I2SB or NADB bridge."""

from __future__ import annotations

from typing import ClassVar

import torch
from diffusers import UNet2DModel
from diffusers.utils.torch_utils import randn_tensor

from ..models.bridge_unet import unet_forward
from ..models.mean_net import MeanNetwork
from ..schedulers.scheduling_ibmd import IBMDScheduler
from ..schedulers.scheduling_nadb import NADBScheduler
from .pipeline_bridge_utils import (
    BridgePipeline,
    BridgePipelineOutput,
    ImageInput,
    check_output_type,
    takes_condition,
)


__all__ = ["IBMDPipeline"]


class IBMDPipeline(BridgePipeline):
    """Restores images with a distilled generator ``G(x_t, z, t[, x1])`` in one or a few steps.

    The sample starts where the teacher's bridge starts: the degraded image for an I2SB teacher (Gaussian noise in
    an inpainting hole), the mean network's output for an NADB teacher. Each step draws a fresh ``z``.

    Args:
        unet (`UNet2DModel`): the generator; its input channels are ``[x_t, (x1 if cond_x1), z]``.
        scheduler (`IBMDScheduler`): the student's grid and the teacher's posterior.
        mean_net (`MeanNetwork`, *optional*): the NADB teacher's mean network (unused for I2SB teachers).
        noise_channels (`int`, defaults to 3): channels of the noise ``z`` (0: a student without noise input).
    """

    model_cpu_offload_seq = "mean_net->unet"
    _optional_components: ClassVar[list[str]] = ["mean_net"]

    def __init__(
        self,
        unet: UNet2DModel,
        scheduler: IBMDScheduler,
        mean_net: MeanNetwork | None = None,
        noise_channels: int = 3,
    ):
        super().__init__()
        if not isinstance(scheduler, IBMDScheduler):
            raise TypeError(f"IBMDPipeline needs an IBMDScheduler, got {type(scheduler).__name__}.")
        if noise_channels < 0:
            raise ValueError(f"`noise_channels` must be >= 0, got {noise_channels}.")
        takes_condition(unet, noise_channels)
        self.register_modules(unet=unet, scheduler=scheduler, mean_net=mean_net)
        self.register_to_config(noise_channels=noise_channels)

    @property
    def cond_x1(self) -> bool:
        return takes_condition(self.unet, self.config.noise_channels)

    def compute_endpoint(
        self,
        x1: torch.Tensor,
        mask: torch.Tensor | None,
        generator: torch.Generator | list[torch.Generator] | None,
    ) -> torch.Tensor:
        """Where the teacher's bridge starts, (B, C, H, W) in [-1, 1]: ``M(x1)`` for an NADB teacher with a mean
        network (known pixels written in under a mask), else ``x1`` with Gaussian noise in the hole (I2SB)."""
        if isinstance(self.scheduler.teacher, NADBScheduler):
            endpoint = self.mean_net(x1) if self.mean_net is not None else x1
            return endpoint if mask is None else mask * endpoint + (1.0 - mask) * x1
        if mask is None:
            return x1
        hole_noise = randn_tensor(x1.shape, generator=generator, device=x1.device, dtype=x1.dtype)
        return (1.0 - mask) * x1 + mask * hole_noise

    @torch.no_grad()
    def __call__(
        self,
        image: ImageInput,
        mask: ImageInput | None = None,
        num_inference_steps: int | None = None,
        timesteps: list[int] | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        output_trajectory: bool = False,
    ) -> BridgePipelineOutput | tuple:
        """Runs the student.

        Args:
            image: the degraded image(s): PIL, numpy (uint8 or float in [0, 1]) or tensor in [0, 1], one or a batch,
                any size (padded to the UNet's multiple and cropped back); grayscale and RGBA are converted.
            mask: for inpainting, 1 (white) in the hole and 0 where pixels are known; the known pixels are copied
                into the result.
            num_inference_steps (`int`, *optional*): student steps; defaults to the number it was distilled for.
            timesteps (`list[int]`, *optional*): a custom descending grid of start indices.
            generator (`torch.Generator` or list, *optional*): one generator, or one per image, for reproducibility.
            output_type (`str`, defaults to `"pil"`): `"pil"`, `"np"` (B, H, W, C) or `"pt"` (B, C, H, W), in [0, 1].
            return_dict (`bool`, defaults to `True`): return a :class:`BridgePipelineOutput` instead of a tuple.
            output_trajectory (`bool`, defaults to `False`): also return the sample and ``x0`` of every step.

        Returns:
            :class:`BridgePipelineOutput` (or a tuple whose first element is the images).
        """
        check_output_type(output_type)
        device = self._execution_device
        # 1. The teacher's endpoint x_T, and the conditioning image.
        x1, mask_t, size = self.prepare_images(image, mask, device)
        endpoint = self.compute_endpoint(x1, mask_t, generator)
        condition = (endpoint if mask_t is not None else x1) if self.cond_x1 else None

        # 2. x0 = G(x_t, z, t), then the teacher's posterior to the next student time (Sec. 3.5).
        if timesteps is None and num_inference_steps is None:
            num_inference_steps = self.scheduler.config.num_student_steps
        self.set_sampling_grid(num_inference_steps, timesteps, device)
        noise_channels = self.config.noise_channels
        sample = endpoint
        trajectory, pred_trajectory = ([endpoint], []) if output_trajectory else (None, None)
        for t in self.progress_bar(self.scheduler.timesteps):
            z = None
            if noise_channels:
                z_shape = (sample.shape[0], noise_channels, *sample.shape[2:])
                z = randn_tensor(z_shape, generator=generator, device=device, dtype=sample.dtype)
            model_output = unet_forward(self.unet, sample, self.scheduler.model_time(t), condition=condition, noise=z)
            sample, pred_x0 = self.scheduler.step(
                model_output, t, sample, generator=generator, return_dict=False, endpoint=endpoint, mask=mask_t
            )
            if output_trajectory:
                trajectory.append(sample)
                pred_trajectory.append(pred_x0)

        # 3. Crop the padding and convert.
        return self.finish(sample, size, output_type, return_dict, trajectory, pred_trajectory)
