# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""IBMD pipeline (Gushchin et al., ICML 2025): a one- or few-step student distilled from an I2SB or NADB bridge."""

from __future__ import annotations

import copy
from typing import ClassVar

import torch
from diffusers import UNet2DModel
from diffusers.utils.torch_utils import randn_tensor

from ..models.bridge_unet import expand_input_channels, unet_forward
from ..models.mean_net import OFFICIAL_MEAN_NET_TIME, MeanNetwork
from ..schedulers.scheduling_ibmd import IBMDScheduler
from .endpoint import prepare_bridge_inputs
from .pipeline_bridge_utils import (
    BridgePipeline,
    BridgePipelineOutput,
    ImageInput,
    check_output_type,
    takes_condition,
)
from .pipeline_i2sb import I2SBPipeline
from .pipeline_nadb import NADBPipeline


__all__ = ["STUDENT_INPUTS", "IBMDPipeline"]

STUDENT_INPUTS = ("endpoint", "degraded")


class IBMDPipeline(BridgePipeline):
    """Restores images with a distilled generator ``G(x_t, z, t[, x1])`` in one or a few steps.

    With ``student_input="endpoint"`` the sample starts where the teacher's bridge starts: the degraded image for
    an I2SB teacher (Gaussian noise in an inpainting hole), the mean network's output for an NADB teacher; the
    generator's output is read through the teacher's ``x0`` reparameterisation and each step draws a fresh ``z``.
    With ``student_input="degraded"`` (NADB teachers) the generator was initialised from the mean network and
    maps the degraded image and ``z`` straight to the restored image: one network call in all.

    Args:
        unet (`UNet2DModel`): the generator; its input channels are ``[x_t, (x1 if cond_x1), z]``, or ``[x1, z]``
            for a degraded-input student.
        scheduler (`IBMDScheduler`): the student's grid and the teacher's posterior.
        mean_net (`MeanNetwork`, *optional*): the NADB teacher's mean network (for endpoint-input students).
        noise_channels (`int`, defaults to 3): channels of the noise ``z`` (0: a student without noise input).
        student_input (`str`, defaults to `"endpoint"`): `"endpoint"` or `"degraded"` (see above).
        degraded_student_time (`float`, defaults to 1.0999): the fixed time input of a degraded-input student (the
            mean network's, which it starts from).
    """

    model_cpu_offload_seq = "mean_net->unet"
    _optional_components: ClassVar[list[str]] = ["mean_net"]

    def __init__(
        self,
        unet: UNet2DModel,
        scheduler: IBMDScheduler,
        mean_net: MeanNetwork | None = None,
        noise_channels: int = 3,
        student_input: str = "endpoint",
        degraded_student_time: float = OFFICIAL_MEAN_NET_TIME,
    ):
        super().__init__()
        if not isinstance(scheduler, IBMDScheduler):
            raise TypeError(f"IBMDPipeline needs an IBMDScheduler, got {type(scheduler).__name__}.")
        if noise_channels < 0:
            raise ValueError(f"`noise_channels` must be >= 0, got {noise_channels}.")
        if student_input not in STUDENT_INPUTS:
            raise ValueError(f"`student_input` must be one of {STUDENT_INPUTS}, got {student_input!r}.")
        if student_input == "degraded" and takes_condition(unet, noise_channels):
            raise ValueError("A degraded-input student takes [x1, z]: it has no separate condition channels.")
        takes_condition(unet, noise_channels)
        self.register_modules(unet=unet, scheduler=scheduler, mean_net=mean_net)
        self.register_to_config(
            noise_channels=noise_channels, student_input=student_input, degraded_student_time=degraded_student_time
        )

    @classmethod
    def from_teacher(
        cls,
        teacher: I2SBPipeline | NADBPipeline,
        num_student_steps: int = 1,
        noise_channels: int = 3,
        student_input: str = "endpoint",
    ) -> IBMDPipeline:
        """An untrained student initialised from a teacher pipeline (paper App. B).

        The generator is a copy of the teacher's UNet (or, for ``student_input="degraded"``, of the NADB teacher's
        mean network) with ``noise_channels`` extra zero-initialised input channels, so that before training it
        returns exactly the teacher's ``x0`` prediction at t = T (or the mean network's output).
        """
        if student_input == "degraded":
            if not isinstance(teacher, NADBPipeline) or teacher.mean_net is None:
                raise ValueError("A degraded-input student starts from the mean network of an NADB teacher.")
            base, mean_net, time = teacher.mean_net.unet, None, teacher.mean_net.config.model_time
        else:
            base, mean_net, time = teacher.unet, getattr(teacher, "mean_net", None), OFFICIAL_MEAN_NET_TIME
        generator = expand_input_channels(base, noise_channels) if noise_channels else copy.deepcopy(base)
        scheduler = IBMDScheduler.from_teacher(teacher.scheduler, num_student_steps)
        mean_net = copy.deepcopy(mean_net) if mean_net is not None else None
        return cls(generator, scheduler, mean_net, noise_channels, student_input, time)

    @property
    def cond_x1(self) -> bool:
        return takes_condition(self.unet, self.config.noise_channels)

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
        x1, mask_t, size = self.prepare_images(image, mask, device)
        if self.config.student_input == "degraded":
            return self._restore_from_degraded(
                x1, mask_t, size, num_inference_steps, generator, output_type, return_dict
            )
        # 1. The teacher's endpoint x_T, and the conditioning image, exactly as in distillation.
        endpoint, condition = prepare_bridge_inputs(self.scheduler, x1, mask_t, self.mean_net, generator)
        condition = condition if self.cond_x1 else None

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

    def _restore_from_degraded(self, x1, mask, size, num_inference_steps, generator, output_type, return_dict):
        """A degraded-input student: ``x0 = G([x1, z], t_M)`` in a single network call."""
        if num_inference_steps not in (None, 1):
            raise ValueError(
                f"A degraded-input student takes exactly one step, got num_inference_steps={num_inference_steps}."
            )
        z = None
        if self.config.noise_channels:
            z_shape = (x1.shape[0], self.config.noise_channels, *x1.shape[2:])
            z = randn_tensor(z_shape, generator=generator, device=x1.device, dtype=x1.dtype)
        sample = unet_forward(self.unet, x1, self.config.degraded_student_time, noise=z)
        if mask is not None:
            sample = mask * sample + (1.0 - mask) * x1
        return self.finish(sample, size, output_type, return_dict)
