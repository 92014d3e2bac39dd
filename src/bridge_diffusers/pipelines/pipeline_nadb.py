# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""NADB image-to-image pipeline (Gao et al., CVPR 2026): the mean network once, then the noise-aligned bridge."""

from __future__ import annotations

from typing import ClassVar

import torch
from diffusers import UNet2DModel

from ..models.bridge_unet import unet_forward
from ..models.mean_net import MeanNetwork
from ..schedulers.scheduling_nadb import NADBScheduler
from .endpoint import prepare_bridge_inputs
from .pipeline_bridge_utils import (
    BridgePipeline,
    BridgePipelineOutput,
    ImageInput,
    check_output_type,
    takes_condition,
)


__all__ = ["NADBPipeline"]


class NADBPipeline(BridgePipeline):
    """Restores or translates images with a noise-aligned diffusion bridge.

    Sampling (paper Alg. 2) computes the endpoint ``X0_hat = M(X1)`` once with the frozen mean network and runs the
    bridge from it: ``num_inference_steps`` bridge evaluations plus one mean-network evaluation.

    Args:
        unet (`UNet2DModel`): the bridge network; ``in_channels = 2 * out_channels`` marks a ``cond_x1`` network
            that also sees the raw degraded image.
        scheduler (`NADBScheduler`): the interpolant and the two-branch sampler.
        mean_net (`MeanNetwork`, *optional*): the mean network. Without it the endpoint is the degraded image
            itself ("NADB without mean", the official ``runner1``).
    """

    model_cpu_offload_seq = "mean_net->unet"
    _optional_components: ClassVar[list[str]] = ["mean_net"]

    def __init__(self, unet: UNet2DModel, scheduler: NADBScheduler, mean_net: MeanNetwork | None = None):
        super().__init__()
        if not isinstance(scheduler, NADBScheduler):
            raise TypeError(f"NADBPipeline needs an NADBScheduler, got {type(scheduler).__name__}.")
        takes_condition(unet)
        if mean_net is not None and mean_net.image_channels != unet.config.out_channels:
            raise ValueError(
                f"The mean network outputs {mean_net.image_channels} channels but the UNet {unet.config.out_channels}."
            )
        self.register_modules(unet=unet, scheduler=scheduler, mean_net=mean_net)

    @property
    def cond_x1(self) -> bool:
        return takes_condition(self.unet)

    def compute_endpoint(self, x1: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The bridge endpoint ``X0_hat = M(X1)`` ((B, C, H, W) in [-1, 1]), or ``X1`` without a mean network.

        With an inpainting ``mask`` the known pixels are written into the endpoint, so that the bridge is exact
        there (``X0 = X0_hat``).
        """
        return prepare_bridge_inputs(self.scheduler, x1, mask, self.mean_net).endpoint

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
        """Runs the mean network, then the bridge from its output to a restored image.

        Args:
            image: the degraded image(s): PIL, numpy (uint8 or float in [0, 1]) or tensor in [0, 1], one or a batch,
                any size (padded to the UNet's multiple and cropped back); grayscale and RGBA are converted.
            mask: for inpainting, 1 (white) in the hole and 0 where pixels are known (our extension, see
                ``NADBScheduler.step``).
            num_inference_steps (`int`, defaults to 10): bridge network evaluations (1 to 1000).
            timesteps (`list[int]`, *optional*): a custom descending grid of start indices (starting at 1000).
            generator (`torch.Generator` or list, *optional*): one generator, or one per image, for reproducibility.
            output_type (`str`, defaults to `"pil"`): `"pil"`, `"np"` (B, H, W, C) or `"pt"` (B, C, H, W), in [0, 1].
            return_dict (`bool`, defaults to `True`): return a :class:`BridgePipelineOutput` instead of a tuple.
            output_trajectory (`bool`, defaults to `False`): also return the sample and ``x0`` estimate of every step
                (the trajectory starts at the mean network's output).

        Returns:
            :class:`BridgePipelineOutput` (or a tuple whose first element is the images).
        """
        check_output_type(output_type)
        device = self._execution_device
        # 1. Degraded image X1 -> the bridge endpoint X0_hat = M(X1), computed once (Alg. 2, line 1).
        x1, mask_t, size = self.prepare_images(image, mask, device)
        endpoint, condition = prepare_bridge_inputs(self.scheduler, x1, mask_t, self.mean_net)
        condition = condition if self.cond_x1 else None

        # 2. The uniform grid over t in [0, 1]; standard transitions for s >= d, endpoint-conditioned below.
        self.set_sampling_grid(num_inference_steps, timesteps, device)
        sample = endpoint
        trajectory, pred_trajectory = ([endpoint], []) if output_trajectory else (None, None)
        for t in self.progress_bar(self.scheduler.timesteps):
            model_output = unet_forward(self.unet, sample, self.scheduler.model_time(t), condition=condition)
            sample, pred_x0 = self.scheduler.step(
                model_output, t, sample, generator=generator, return_dict=False, endpoint=endpoint, mask=mask_t
            )
            if output_trajectory:
                trajectory.append(sample)
                pred_trajectory.append(pred_x0)

        # 3. Crop the padding and convert.
        return self.finish(sample, size, output_type, return_dict, trajectory, pred_trajectory)
