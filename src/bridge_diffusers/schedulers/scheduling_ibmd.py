# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""IBMD: Inverse Bridge Matching Distillation (Gushchin et al., ICML 2025, arXiv 2502.01362).

A distilled generator ``G(x_t, z, t)`` is read through its teacher's ``x0`` reparameterisation. One-step
students map the endpoint straight to the sample; N-step students (paper Sec. 3.5) alternate
``x0 = G(x_{t_n}, z, t_n)`` with posterior sampling ``x_{t_{n-1}} ~ q(x_{t_{n-1}} | x0, x_{t_n})`` of the
teacher's own bridge, on the teacher's grid of N transitions. The last step returns the generator's ``x0``.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import logging

from .scheduling_bridge import BridgeInputs, BridgeScheduler, BridgeSchedulerOutput
from .scheduling_i2sb import I2SBScheduler
from .scheduling_nadb import NADBScheduler


__all__ = ["TEACHER_SCHEDULERS", "IBMDScheduler"]

logger = logging.get_logger(__name__)

# Kept by name at module level: diffusers' loader looks the base classes up in the component's module.
_LOADABLE_BASES = (SchedulerMixin, ConfigMixin)

TEACHER_SCHEDULERS: dict[str, type[BridgeScheduler]] = {
    "I2SBScheduler": I2SBScheduler,
    "NADBScheduler": NADBScheduler,
}


def _plain_config(scheduler: BridgeScheduler) -> dict[str, Any]:
    return {key: value for key, value in scheduler.config.items() if not key.startswith("_")}


class IBMDScheduler(BridgeScheduler):
    """Sampler of a one- or few-step IBMD student, configured from its teacher's bridge scheduler.

    Args:
        teacher_class (`str`, defaults to `"I2SBScheduler"`):
            Class name of the teacher's scheduler, one of ``TEACHER_SCHEDULERS``.
        teacher_config (`dict`, *optional*):
            The teacher scheduler's config (its ``scheduler_config.json`` without the ``_``-keys). ``None`` uses
            the teacher class's defaults.
        num_student_steps (`int`, defaults to 1):
            The number of steps the student was distilled for; the default of ``set_timesteps()``.

    Build it from a teacher with :meth:`from_teacher`. The teacher's own scheduler is ``self.teacher``.
    """

    @register_to_config
    def __init__(
        self,
        teacher_class: str = "I2SBScheduler",
        teacher_config: dict[str, Any] | None = None,
        num_student_steps: int = 1,
    ):
        if teacher_class not in TEACHER_SCHEDULERS:
            raise ValueError(f"`teacher_class` must be one of {sorted(TEACHER_SCHEDULERS)}, got {teacher_class!r}.")
        self.teacher: BridgeScheduler = TEACHER_SCHEDULERS[teacher_class].from_config(teacher_config or {})
        max_steps = self.teacher.endpoint_index - self.teacher.clean_index
        if not 1 <= num_student_steps <= max_steps:
            raise ValueError(f"`num_student_steps` must be in [1, {max_steps}], got {num_student_steps}.")
        self.clean_index = self.teacher.clean_index
        self._init_grid()
        self.set_timesteps(num_student_steps)

    @classmethod
    def from_teacher(cls, teacher_scheduler: BridgeScheduler, num_student_steps: int = 1) -> IBMDScheduler:
        """The student sampler of ``teacher_scheduler`` (an :class:`I2SBScheduler` or :class:`NADBScheduler`)."""
        name = type(teacher_scheduler).__name__
        if name not in TEACHER_SCHEDULERS:
            raise TypeError(f"IBMD distils I2SB or NADB teachers, got a {name}.")
        return cls(
            teacher_class=name, teacher_config=_plain_config(teacher_scheduler), num_student_steps=num_student_steps
        )

    @property
    def endpoint_index(self) -> int:
        return self.teacher.endpoint_index

    def __len__(self) -> int:
        return len(self.teacher)

    def prepare_endpoint(self, degraded, mask=None, estimate=None, generator=None) -> BridgeInputs:
        """The teacher's endpoint and conditioning image: the student starts where its teacher starts."""
        return self.teacher.prepare_endpoint(degraded, mask, estimate, generator)

    # ------------------------------------------------- the teacher's bridge (used to train the fake model)
    def sample_timesteps(self, batch_size: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """The teacher's training times (the fake bridge model is trained exactly as the teacher was)."""
        return self.teacher.sample_timesteps(batch_size, device=device, generator=generator)

    def sample_bridge(self, x0, x1, timesteps, noise=None, generator=None) -> torch.Tensor:
        """The teacher's training marginal ``q(x_t | x0, x_T)``; see the teacher's ``sample_bridge``."""
        return self.teacher.sample_bridge(x0, x1, timesteps, noise=noise, generator=generator)

    def training_target(self, x0, x1, x_t, timesteps) -> torch.Tensor:
        """The teacher's regression target; see the teacher's ``training_target``."""
        return self.teacher.training_target(x0, x1, x_t, timesteps)

    def x0_loss_weight(self, timesteps: torch.Tensor) -> torch.Tensor:
        """lambda(t) of the IBMD objective (Thm. 3.4): the teacher's training weight by default."""
        return self.teacher.x0_loss_weight(timesteps)

    def model_time(self, timesteps: torch.Tensor) -> torch.Tensor:
        """The teacher's time-embedding input (the student starts as a copy of the teacher)."""
        return self.teacher.model_time(timesteps)

    def pred_original_sample(self, model_output, timesteps, sample) -> torch.Tensor:
        """The generator's ``x0``, read through the teacher's ``x0`` reparameterisation."""
        return self.teacher.pred_original_sample(model_output, timesteps, sample)

    # ------------------------------------------------------------------------------------------ sampling
    def set_timesteps(
        self,
        num_inference_steps: int | None = None,
        device: str | torch.device | None = None,
        timesteps: list[int] | None = None,
    ) -> None:
        """The student's grid: the teacher's grid of ``num_inference_steps`` transitions (default: as distilled).

        More steps than ``num_student_steps`` are refused: a student's generator is trained only at its own times,
        and the shipped one-step students score worse on 2 or 4 steps than on 1 (benchmarks/RESULTS.md). Fewer steps
        run, with a warning.
        """
        if num_inference_steps is None and timesteps is None:
            num_inference_steps = self.config.num_student_steps
        requested = len(timesteps) if timesteps is not None else num_inference_steps
        distilled = self.config.num_student_steps
        if requested > distilled:
            raise ValueError(
                f"This IBMD student was distilled for {distilled} step(s) and cannot take {requested}: its generator "
                f"was trained only at its own {distilled} time(s), and more steps make samples worse. Pass "
                f"num_inference_steps <= {distilled} (or distil a student with --num_student_steps {requested})."
            )
        if requested < distilled:
            logger.warning(
                f"This IBMD student was distilled for {distilled} steps; sampling with {requested} uses it outside "
                "its training."
            )
        # The student steps on its teacher's grid, and each posterior step below is the teacher's: set the teacher's
        # grid through its own API and mirror it, so that both agree on every transition.
        self.teacher.set_timesteps(num_inference_steps=num_inference_steps, device=device, timesteps=timesteps)
        super().set_timesteps(timesteps=self.teacher.timesteps.tolist(), device=device)

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int | torch.Tensor,
        sample: torch.Tensor,
        generator: torch.Generator | list[torch.Generator] | None = None,
        return_dict: bool = True,
        *,
        endpoint: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> BridgeSchedulerOutput | tuple:
        """One student step: ``x0 = G(...)`` through the teacher's reparameterisation, then the teacher's
        posterior to the previous grid time; the last step returns ``x0`` itself.

        Args:
            model_output (`torch.Tensor` of shape `(B, C, H, W)`): the generator's output.
            timestep (`int`): the current grid index (an element of ``self.timesteps``).
            sample (`torch.Tensor` of shape `(B, C, H, W)`): ``x_t`` (the endpoint on the first step).
            generator (`torch.Generator` or list, *optional*): randomness of the posterior noise.
            return_dict (`bool`): return a :class:`BridgeSchedulerOutput` (else a tuple).
            endpoint (`torch.Tensor` of shape `(B, C, H, W)`, *optional*): the bridge endpoint, for teachers whose
                transitions need it (NADB) and for inpainting.
            mask (`torch.Tensor` of shape `(B, 1, H, W)`, *optional*): inpainting mask, 1 in the hole; the known
                region of the result is copied from ``endpoint`` (paper App. B).
        """
        prev_timestep = self.previous_timestep(timestep)
        if prev_timestep == self.clean_index:
            pred_x0 = self.pred_original_sample(model_output, int(timestep), sample)
            prev_sample = pred_x0
            if mask is not None:
                if endpoint is None:
                    raise ValueError("Inpainting with `mask` needs the `endpoint` whose known region is kept.")
                prev_sample = mask * pred_x0 + (1.0 - mask) * endpoint
        else:
            teacher_kwargs: dict[str, Any] = {"endpoint": endpoint}
            if mask is not None:
                if "mask" not in inspect.signature(self.teacher.step).parameters:
                    raise ValueError(f"A {type(self.teacher).__name__} teacher does not support inpainting masks.")
                teacher_kwargs["mask"] = mask
            prev_sample, pred_x0 = self.teacher.step(
                model_output, timestep, sample, generator=generator, return_dict=False, **teacher_kwargs
            )
        return self._output(prev_sample, pred_x0, return_dict)
