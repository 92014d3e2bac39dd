# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The IBMD objective (Gushchin et al., ICML 2025, Thm. 3.4 and Alg. 1) over any x0-parameterised bridge teacher.

    min_theta  E[ lambda(t) ||x0*(x_t, t) - x0||^2 ]  -  min_phi E[ lambda(t) ||x0^phi(x_t, t) - x0||^2 ],
    x0 = G_theta(x_T, z),  t ~ teacher's training times,  x_t ~ q(x_t | x0, x_T) (the teacher's bridge).

The "fake" bridge model phi is fitted to the generator's own coupling by ordinary bridge matching
(:func:`fake_model_loss`); the generator follows the teacher-minus-fake difference on the same
``(x0, t, x_t)`` (:func:`generator_loss`), whose gradient reaches ``theta`` through ``x0`` and through the
reparameterised ``x_t``. The losses take plain callables (:func:`x0_predictor` makes one of a bridge network), so
they serve ``training/train_ibmd.py`` and closed-form tests alike.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers.utils.torch_utils import randn_tensor

from ..models.bridge_unet import unet_forward
from ..schedulers.scheduling_bridge import BridgeScheduler


__all__ = ["X0Predictor", "bridge_draw", "fake_model_loss", "generator_loss", "loss_weights", "x0_predictor"]

# (x_t (B, C, H, W), integer timesteps (B,)) -> x0 estimate (B, C, H, W)
X0Predictor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def x0_predictor(scheduler: BridgeScheduler, network: torch.nn.Module, condition: torch.Tensor | None) -> X0Predictor:
    """A bridge network (the teacher or the fake model, possibly DDP-wrapped) in the teacher's ``x0``
    parameterisation; ``condition`` is the ``cond_x1`` input, or None for a network without one."""

    def predict(x_t: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        output = unet_forward(network, x_t, scheduler.model_time(timesteps), condition=condition)
        return scheduler.pred_original_sample(output, timesteps, x_t)

    return predict


def bridge_draw(
    scheduler: BridgeScheduler, x0: torch.Tensor, endpoint: torch.Tensor, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(timesteps, x_t)``: the teacher's training times and a reparameterised draw of its bridge between the
    generator's ``x0`` and the endpoint (gradients flow from ``x_t`` back into ``x0``)."""
    timesteps = scheduler.sample_timesteps(x0.shape[0], device=x0.device, generator=generator)
    noise = randn_tensor(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    return timesteps, scheduler.sample_bridge(x0, endpoint, timesteps, noise)


def loss_weights(scheduler: BridgeScheduler, timesteps: torch.Tensor, weighting: str, like: torch.Tensor):
    """lambda(t) broadcast over ``like``: the teacher's training weight (``"teacher"``) or 1 (``"uniform"``)."""
    if weighting == "uniform":
        return torch.ones(like.shape[0], 1, 1, 1, device=like.device, dtype=torch.float32)
    if weighting != "teacher":
        raise ValueError(f"`weighting` must be 'teacher' or 'uniform', got {weighting!r}.")
    return scheduler.x0_loss_weight(timesteps).to(like.device, torch.float32).reshape(-1, 1, 1, 1)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return (values * mask).mean() if mask is not None else values.mean()


def fake_model_loss(
    scheduler: BridgeScheduler,
    fake_x0: X0Predictor,
    x0: torch.Tensor,
    endpoint: torch.Tensor,
    generator: torch.Generator | None = None,
    mask: torch.Tensor | None = None,
    weighting: str = "teacher",
) -> torch.Tensor:
    """``L_phi = E lambda(t) ||x0^phi(x_t, t) - x0||^2`` on the generator's samples (no gradient to ``x0``).

    With the teacher's weighting this is exactly the teacher's own training loss (its target regression written on
    ``x0``), so the fake model is trained as the teacher was.

    Args:
        scheduler: the teacher's bridge scheduler.
        fake_x0: the fake bridge model in ``x0`` parameterisation.
        x0 (`torch.Tensor` of shape `(B, C, H, W)`): generator samples in [-1, 1] (detached here).
        endpoint (`torch.Tensor` of shape `(B, C, H, W)`): the teacher's endpoint ``x_T``.
        generator (`torch.Generator`, *optional*): times and bridge noise.
        mask (`torch.Tensor` of shape `(B, 1, H, W)`, *optional*): inpainting hole; the loss is restricted to it.
        weighting (`str`): lambda(t), ``"teacher"`` (default) or ``"uniform"``.
    """
    x0 = x0.detach()
    timesteps, x_t = bridge_draw(scheduler, x0, endpoint, generator)
    weight = loss_weights(scheduler, timesteps, weighting, x0)
    return _masked_mean(weight * (fake_x0(x_t, timesteps).float() - x0.float()) ** 2, mask)


def generator_loss(
    scheduler: BridgeScheduler,
    teacher_x0: X0Predictor,
    fake_x0: X0Predictor,
    x0: torch.Tensor,
    endpoint: torch.Tensor,
    generator: torch.Generator | None = None,
    mask: torch.Tensor | None = None,
    weighting: str = "teacher",
) -> torch.Tensor:
    """``L_theta = E lambda(t) (||x0*(x_t, t) - x0||^2 - ||x0^phi(x_t, t) - x0||^2)`` on one shared draw.

    ``x0`` must carry the generator's graph; the teacher's and the fake model's parameters should not require
    gradients (only ``x_t`` does). The subtracted term is the fake model's estimate of the variance of
    ``p_theta(x0 | x_t)``: it rewards diversity and prevents collapse onto the teacher's mean.
    """
    timesteps, x_t = bridge_draw(scheduler, x0, endpoint, generator)
    weight = loss_weights(scheduler, timesteps, weighting, x0)
    x0_float = x0.float()
    teacher_error = (teacher_x0(x_t, timesteps).float() - x0_float) ** 2
    fake_error = (fake_x0(x_t, timesteps).float() - x0_float) ** 2
    return _masked_mean(weight * (teacher_error - fake_error), mask)
