# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""IBMD pipelines (Gushchin et al., ICML 2025): one- or few-step students distilled from an I2SB or NADB bridge.

* :class:`IBMDPipeline`: the paper's generator ``G(x_t, z, t[, x1])``, started where its teacher's bridge starts
  and read through the teacher's ``x0`` reparameterisation; it runs on the shared sampling core.
* :class:`IBMDDegradedInputPipeline`: our variant for NADB teachers, initialised from the mean network and fed the
  degraded image itself, ``x0 = G([x1, z], t_M)``: one network call per image in all, no bridge to step.
"""

from __future__ import annotations

import copy
from typing import ClassVar

import torch
from diffusers import UNet2DModel
from diffusers.utils.torch_utils import randn_tensor

from ..models.bridge_unet import expand_input_channels, unet_forward
from ..models.mean_net import OFFICIAL_MEAN_NET_TIME, MeanNetwork
from ..schedulers.scheduling_ibmd import IBMDScheduler
from .pipeline_bridge_utils import (
    BridgePipeline,
    BridgePipelineOutput,
    ImageInput,
    RestorationPipeline,
    takes_condition,
)
from .pipeline_i2sb import I2SBPipeline
from .pipeline_nadb import NADBPipeline


__all__ = ["IBMDDegradedInputPipeline", "IBMDPipeline"]


def _generator_noise(
    like: torch.Tensor, channels: int, generator: torch.Generator | list[torch.Generator] | None
) -> torch.Tensor | None:
    """IBMD's generator noise ``z`` (B, channels, H, W), or None for a student without noise input."""
    if not channels:
        return None
    shape = (like.shape[0], channels, *like.shape[2:])
    return randn_tensor(shape, generator=generator, device=like.device, dtype=like.dtype)


def _student_network(base: UNet2DModel, noise_channels: int) -> UNet2DModel:
    """A copy of ``base`` with ``noise_channels`` zero-initialised input channels for ``z`` (paper App. B), so that
    the untrained student computes exactly what ``base`` computes."""
    return expand_input_channels(base, noise_channels) if noise_channels else copy.deepcopy(base)


class IBMDPipeline(BridgePipeline):
    """Restores images with a distilled generator ``G(x_t, z, t[, x1])`` in one or a few steps.

    The sample starts where the teacher's bridge starts (the degraded image for an I2SB teacher, Gaussian noise in
    an inpainting hole; the mean network's output for an NADB teacher); each step draws a fresh ``z``, reads the
    generator's output through the teacher's ``x0`` reparameterisation and takes the teacher's posterior to the
    next student time (Sec. 3.5); the last step returns ``x0``.

    Args:
        unet (`UNet2DModel`): the generator; its input channels are ``[x_t, (x1 if cond_x1), z]``.
        scheduler (`IBMDScheduler`): the student's grid and the teacher's posterior.
        mean_net (`MeanNetwork`, *optional*): the NADB teacher's mean network.
        noise_channels (`int`, defaults to 3): channels of the noise ``z`` (0: a student without noise input).
        task (`str`, *optional*): the degradation it was trained on, e.g. ``"sr4x-pool"``; saved in
            ``model_index.json``. A super-resolution task makes ``__call__`` upscale its inputs.
    """

    model_cpu_offload_seq = "mean_net->unet"
    _optional_components: ClassVar[list[str]] = ["mean_net"]

    def __init__(
        self,
        unet: UNet2DModel,
        scheduler: IBMDScheduler,
        mean_net: MeanNetwork | None = None,
        noise_channels: int = 3,
        task: str | None = None,
    ):
        super().__init__()
        if not isinstance(scheduler, IBMDScheduler):
            raise TypeError(f"IBMDPipeline needs an IBMDScheduler, got {type(scheduler).__name__}.")
        if noise_channels < 0:
            raise ValueError(f"`noise_channels` must be >= 0, got {noise_channels}.")
        takes_condition(unet, noise_channels)
        self.register_modules(unet=unet, scheduler=scheduler, mean_net=mean_net)
        self.register_to_config(noise_channels=noise_channels)
        self.register_task(task)

    @classmethod
    def from_teacher(
        cls, teacher: I2SBPipeline | NADBPipeline, num_student_steps: int = 1, noise_channels: int = 3
    ) -> IBMDPipeline:
        """An untrained student initialised from a teacher pipeline (paper App. B): a copy of the teacher's UNet
        with ``noise_channels`` zero-initialised input channels, so that before training it returns exactly the
        teacher's ``x0`` prediction at t = T. The student restores the teacher's task."""
        mean_net = getattr(teacher, "mean_net", None)
        return cls(
            _student_network(teacher.unet, noise_channels),
            IBMDScheduler.from_teacher(teacher.scheduler, num_student_steps),
            copy.deepcopy(mean_net) if mean_net is not None else None,
            noise_channels,
            teacher.task,
        )

    @property
    def noise_channels(self) -> int:
        return self.config.noise_channels

    @property
    def default_num_inference_steps(self) -> int:
        """The number of steps the student was distilled for."""
        return self.scheduler.config.num_student_steps

    @property
    def step_range(self) -> tuple[int, int]:
        """From one step to the number the student was distilled for (more are refused, see the scheduler)."""
        return 1, self.scheduler.config.num_student_steps

    def model_output(self, sample, timestep, condition, generator=None, network=None) -> torch.Tensor:
        """``G(x_t, z, t[, x1])`` with a fresh ``z`` per step."""
        return unet_forward(
            network or self.unet,
            sample,
            self.scheduler.model_time(timestep),
            condition=condition if self.cond_x1 else None,
            noise=_generator_noise(sample, self.noise_channels, generator),
        )


class IBMDDegradedInputPipeline(RestorationPipeline):
    """A one-call student ``x0 = G([x1, z], t_M)`` distilled from an NADB teacher, starting from its mean network.

    Args:
        unet (`UNet2DModel`): the generator; input channels ``[x1, z]``.
        noise_channels (`int`, defaults to 3): channels of the noise ``z`` (0: none).
        model_time (`float`, defaults to 1.0999): the fixed time input (the mean network's, which it starts from).
        task (`str`, *optional*): the degradation it was trained on, e.g. ``"sr4x-pool"``; saved in
            ``model_index.json``. A super-resolution task makes ``__call__`` upscale its inputs.
    """

    model_cpu_offload_seq = "unet"
    default_num_inference_steps = 1

    def __init__(
        self,
        unet: UNet2DModel,
        noise_channels: int = 3,
        model_time: float = OFFICIAL_MEAN_NET_TIME,
        task: str | None = None,
    ):
        super().__init__()
        if unet.config.in_channels != unet.config.out_channels + noise_channels:
            raise ValueError(
                f"A degraded-input student takes [x1, z]: {unet.config.out_channels} + {noise_channels} input "
                f"channels, got {unet.config.in_channels}."
            )
        self.register_modules(unet=unet)
        self.register_to_config(noise_channels=noise_channels, model_time=model_time)
        self.register_task(task)

    @classmethod
    def from_teacher(cls, teacher: NADBPipeline, noise_channels: int = 3) -> IBMDDegradedInputPipeline:
        """An untrained student: the NADB teacher's mean network with zero-initialised noise channels; it restores
        the teacher's task."""
        if not isinstance(teacher, NADBPipeline) or teacher.mean_net is None:
            raise ValueError("A degraded-input student starts from the mean network of an NADB teacher.")
        if teacher.mean_net.config.classical is not None:
            raise ValueError(
                "A degraded-input student starts from the mean network's UNet, but this one only learns a residual "
                "on the classical restoration (`classical` is set): distil an `IBMDPipeline` instead."
            )
        network = _student_network(teacher.mean_net.unet, noise_channels)
        return cls(network, noise_channels, teacher.mean_net.config.model_time, teacher.task)

    def generate(
        self,
        degraded: torch.Tensor,
        mask: torch.Tensor | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        *,
        network: torch.nn.Module | None = None,
        enable_grad: bool = False,
    ) -> torch.Tensor:
        """``x0 = G([x1, z], t_M)`` on `(B, C, H, W)` images in ``[-1, 1]`` (H, W multiples of the network's);
        the known pixels of ``x1`` are copied under a mask."""
        with torch.set_grad_enabled(enable_grad):
            z = _generator_noise(degraded, self.noise_channels, generator)
            x0 = unet_forward(network or self.unet, degraded, self.model_time, noise=z)
        return x0 if mask is None else mask * x0 + (1.0 - mask) * degraded

    @property
    def noise_channels(self) -> int:
        return self.config.noise_channels

    @property
    def model_time(self) -> float:
        """The fixed time input of the generator."""
        return self.config.model_time

    @property
    def step_range(self) -> tuple[int, int]:
        """One network call: a degraded-input student has no bridge to step along."""
        return 1, 1

    def restore_padded(self, degraded, mask, num_inference_steps, generator) -> torch.Tensor:
        """One network call (see :meth:`restore`; ``num_inference_steps`` may only be 1)."""
        return self.generate(degraded, mask, generator)

    @torch.no_grad()
    def __call__(
        self,
        image: ImageInput,
        mask_image: ImageInput | None = None,
        num_inference_steps: int | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        mask: ImageInput | None = None,
        upscale: bool | None = None,
    ) -> BridgePipelineOutput | tuple:
        """Restores images in one network call; the arguments are those of the bridge pipelines'
        ``__call__`` (``num_inference_steps`` may only be 1).

        Args:
            image: the degraded image(s), PIL, numpy or tensors in [0, 1] (see :meth:`BridgePipeline.__call__`);
                for a super-resolution pipeline, the low-resolution images `(h, w)`.
            upscale (`bool`, *optional*): None: upscale to `(factor * h, factor * w)` when the task is
                super-resolution; False: restore at the input's size; True: upscale, a ValueError for other tasks.
        """
        mask_image = self._resolve_mask(mask_image, mask)
        degraded, mask_t = self.preprocess(image, mask_image, upscale)
        self.check_inputs(degraded.shape[0], output_type, generator, num_inference_steps)
        images = self.postprocess(self.restore(degraded, mask_t, num_inference_steps, generator), output_type)
        self.maybe_free_model_hooks()
        return BridgePipelineOutput(images=images) if return_dict else (images,)
