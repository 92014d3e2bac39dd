# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Where a bridge starts and what its network sees besides ``x_t``: one definition for sampling and training.

The pipelines, the bridge trainer and the IBMD distillation all start the bridge from the same endpoint and
feed a ``cond_x1`` network the same conditioning image; building both here keeps the three in step (a student
distilled on one input and run on another is a silent distribution shift).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from diffusers.utils.torch_utils import randn_tensor

from ..models.mean_net import MeanNetwork
from ..schedulers.scheduling_bridge import BridgeScheduler
from ..schedulers.scheduling_nadb import NADBScheduler


__all__ = ["BridgeInputs", "prepare_bridge_inputs"]


class BridgeInputs(NamedTuple):
    """The start of a bridge and its conditioning image, both `(B, C, H, W)` in ``[-1, 1]``.

    Attributes:
        endpoint: ``x_T``, where sampling starts and what the training marginal interpolates towards.
        condition: the image a ``cond_x1`` network receives concatenated to ``x_t`` (ignored by other networks).
    """

    endpoint: torch.Tensor
    condition: torch.Tensor


def prepare_bridge_inputs(
    scheduler: BridgeScheduler,
    degraded: torch.Tensor,
    mask: torch.Tensor | None = None,
    mean_net: MeanNetwork | None = None,
    generator: torch.Generator | list[torch.Generator] | None = None,
) -> BridgeInputs:
    """The endpoint and conditioning image of the bridge that ``scheduler`` describes, from degraded images.

    * **I2SB** (official ``Runner``): the endpoint is ``x1`` with fresh N(0, 1) noise in an inpainting hole, and the
      conditioning image is that same noisy ``x1`` (the official ``cond = x1`` is taken after the hole is filled).
    * **NADB** (official ``Runner`` with ``--use-mean``): the endpoint is the frozen mean network's estimate
      ``X0_hat = M(x1)`` (``x1`` itself without a mean network, the official ``runner1``); under a mask the known
      pixels of ``x1`` are written into it, so the bridge is exact there. The conditioning image is the **raw**
      ``x1`` (the official ``cond_x1`` input), never the estimate.

    An IBMD scheduler prepares its teacher's inputs. The mean network runs without gradients: it is frozen
    wherever a bridge uses it.

    Args:
        scheduler (`BridgeScheduler`): the bridge (``I2SBScheduler``, ``NADBScheduler``, or an ``IBMDScheduler``).
        degraded (`torch.Tensor` of shape `(B, C, H, W)`): the degraded images ``x1`` in ``[-1, 1]``.
        mask (`torch.Tensor` of shape `(B, 1, H, W)`, *optional*): inpainting hole, 1 where pixels are missing.
        mean_net (`MeanNetwork`, *optional*): NADB's mean network.
        generator (`torch.Generator` or list, *optional*): randomness of the I2SB hole noise.
    """
    bridge = getattr(scheduler, "teacher", scheduler)
    if isinstance(bridge, NADBScheduler):
        endpoint = degraded
        if mean_net is not None:
            with torch.no_grad():
                endpoint = mean_net(degraded)
        if mask is not None:
            endpoint = mask * endpoint + (1.0 - mask) * degraded
        return BridgeInputs(endpoint=endpoint, condition=degraded)
    if mask is None:
        return BridgeInputs(endpoint=degraded, condition=degraded)
    hole_noise = randn_tensor(degraded.shape, generator=generator, device=degraded.device, dtype=degraded.dtype)
    noisy = (1.0 - mask) * degraded + mask * hole_noise
    return BridgeInputs(endpoint=noisy, condition=noisy)
