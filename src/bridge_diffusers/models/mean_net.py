# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""NADB's mean network: a one-shot regressor of the posterior mean ``E[X0 | X1]``.

The paper's Sec. 3.1 trains ``M`` with ``L_MSE = E ||M(X1) - X0||^2`` and freezes it; its output ``X0_hat`` is the
endpoint of the noise-aligned bridge. The official code uses the same UNet as the bridge, called at the
fixed time index 1 (time-embedding input 1.0999).
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import UNet2DModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from .bridge_unet import network_input


__all__ = ["MeanNetwork"]

# NADB's noise_levels[1] = (1e-4 + 0.9999 / 1000) * 1000: the time input of the official mean network.
OFFICIAL_MEAN_NET_TIME = 1.0999


class MeanNetwork(ModelMixin, ConfigMixin):
    """A ``UNet2DModel`` at a fixed time that maps a degraded image to an estimate of the clean one.

    Args:
        unet_config (`dict`, *optional*): the ``UNet2DModel`` config (``in_channels == out_channels``).
            ``None`` builds the ``"tiny"`` preset for 3-channel images.
        model_time (`float`, defaults to 1.0999): the fixed time-embedding input (the official value).
    """

    @register_to_config
    def __init__(self, unet_config: dict[str, Any] | None = None, model_time: float = OFFICIAL_MEAN_NET_TIME):
        super().__init__()
        if unet_config is None:
            from .bridge_unet import UNET_PRESETS

            unet_config = {"in_channels": 3, "out_channels": 3, **UNET_PRESETS["tiny"]}
        if unet_config.get("in_channels", 3) != unet_config.get("out_channels", 3):
            raise ValueError("A mean network maps an image to an image: `in_channels` must equal `out_channels`.")
        self.unet = UNet2DModel.from_config(unet_config)

    @classmethod
    def from_unet(cls, unet: UNet2DModel, model_time: float = OFFICIAL_MEAN_NET_TIME) -> MeanNetwork:
        """Wraps (a copy of the weights of) an existing ``UNet2DModel``, e.g. a pretrained ADM-style UNet."""
        config = {key: value for key, value in unet.config.items() if not key.startswith("_")}
        mean_net = cls(unet_config=config, model_time=model_time)
        mean_net.unet.load_state_dict(unet.state_dict())
        mean_net = mean_net.to(unet.device)
        return mean_net if mean_net.dtype == unet.dtype else mean_net.to(unet.dtype)

    @property
    def image_channels(self) -> int:
        return self.unet.config.out_channels

    def forward(self, degraded: torch.Tensor) -> torch.Tensor:
        """``X0_hat = M(X1)``.

        Args:
            degraded (`torch.Tensor` of shape `(B, C, H, W)`): degraded images ``X1`` in ``[-1, 1]``; H and W
                multiples of the UNet's downsampling factor.

        Returns:
            `torch.Tensor` of shape `(B, C, H, W)`: the estimate of ``E[X0 | X1]``, in the dtype of ``degraded``.
        """
        time = torch.full((degraded.shape[0],), self.config.model_time, device=degraded.device)
        return self.unet(network_input(self.unet, degraded), time, return_dict=False)[0].to(degraded.dtype)
