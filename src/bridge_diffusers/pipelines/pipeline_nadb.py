# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""NADB image-to-image pipeline (Gao et al., CVPR 2026): a mean network's estimate refined by a noise-aligned
bridge, sampled in two stages around the threshold d (paper Algorithm 2)."""

from __future__ import annotations

from typing import ClassVar

from diffusers import UNet2DModel

from ..models.mean_net import MeanNetwork
from ..schedulers.scheduling_nadb import NADBScheduler
from .pipeline_bridge_utils import BridgePipeline, takes_condition


__all__ = ["NADBPipeline"]


class NADBPipeline(BridgePipeline):
    """Restores or translates images with a noise-aligned diffusion bridge.

    Sampling (paper Alg. 2) computes the endpoint ``X0_hat = M(X1)`` once with the frozen mean network and runs the
    bridge from it: ``num_inference_steps`` bridge evaluations plus one mean-network evaluation. With an inpainting
    mask (our extension: the official NADB has none) the known pixels are written into the endpoint and re-drawn
    from the interpolant at every step.

    Args:
        unet (`UNet2DModel`): the bridge network; ``in_channels = 2 * out_channels`` marks a ``cond_x1`` network
            that also sees the raw degraded image.
        scheduler (`NADBScheduler`): the interpolant and the two-branch sampler.
        mean_net (`MeanNetwork`, *optional*): the mean network. Without it the endpoint is the degraded image
            itself ("NADB without mean", the official ``runner1``).
        task (`str`, *optional*): the degradation it was trained on, e.g. ``"sr4x-pool"``; saved in
            ``model_index.json``. A super-resolution task makes ``__call__`` upscale its inputs.
        default_steps (`int`, *optional*): the NFE of a call that does not say (saved in ``model_index.json``);
            None: 10.
    """

    model_cpu_offload_seq = "mean_net->unet"
    _optional_components: ClassVar[list[str]] = ["mean_net"]

    def __init__(
        self,
        unet: UNet2DModel,
        scheduler: NADBScheduler,
        mean_net: MeanNetwork | None = None,
        task: str | None = None,
        default_steps: int | None = None,
    ):
        super().__init__()
        if not isinstance(scheduler, NADBScheduler):
            raise TypeError(f"NADBPipeline needs an NADBScheduler, got {type(scheduler).__name__}.")
        takes_condition(unet)
        if mean_net is not None and mean_net.image_channels != unet.config.out_channels:
            raise ValueError(
                f"The mean network outputs {mean_net.image_channels} channels but the UNet {unet.config.out_channels}."
            )
        self.register_modules(unet=unet, scheduler=scheduler, mean_net=mean_net)
        self.register_task(task)
        self.register_default_steps(default_steps)
