# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""NADB's mean network: a one-shot regressor of the posterior mean ``E[X0 | X1]``.

The paper's Sec. 3.1 trains ``M`` with ``L_MSE = E ||M(X1) - X0||^2`` and freezes it; its output ``X0_hat`` is the
endpoint of the noise-aligned bridge. The official code uses the same UNet as the bridge, called at the
fixed time index 1 (time-embedding input 1.0999).

Our option ``classical=<task>`` (not in the paper) starts the estimate at the task's closed-form restoration, the
VDSR idea of learning only a residual: ``M(X1) = C(X1) + R([X1, C(X1)])``, with ``C`` the classical restorer of
:func:`~bridge_diffusers.baselines.classical_restore` (Wiener deconvolution for blur, bicubic for super-resolution,
the decoded JPEG, the harmonic fill for inpainting) and ``R`` a UNet whose output layer starts at zero. Before
training ``M`` *is* the classical method, so the bridge's endpoint never starts worse than it.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import UNet2DModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from ..baselines import CLASSICAL_METHODS, classical_method, classical_restore
from .bridge_unet import network_input


__all__ = ["MeanNetwork"]

# NADB's noise_levels[1] = (1e-4 + 0.9999 / 1000) * 1000: the time input of the official mean network.
OFFICIAL_MEAN_NET_TIME = 1.0999


class MeanNetwork(ModelMixin, ConfigMixin):
    """A ``UNet2DModel`` at a fixed time that maps a degraded image to an estimate of the clean one.

    Args:
        unet_config (`dict`, *optional*): the ``UNet2DModel`` config: ``in_channels == out_channels``, or twice
            ``out_channels`` with ``classical`` (the UNet sees ``[X1, C(X1)]``). ``None`` builds the ``"tiny"``
            preset for 3-channel images.
        model_time (`float`, defaults to 1.0999): the fixed time-embedding input (the official value).
        classical (`str`, *optional*): a task of :data:`~bridge_diffusers.baselines.CLASSICAL_METHODS`: the
            network learns a residual on that task's classical restoration (see the module docstring). ``None``
            (the paper's, and the official, mean network): the UNet's output is the estimate.
    """

    @register_to_config
    def __init__(
        self,
        unet_config: dict[str, Any] | None = None,
        model_time: float = OFFICIAL_MEAN_NET_TIME,
        classical: str | None = None,
    ):
        super().__init__()
        if unet_config is None:
            from .bridge_unet import UNET_PRESETS

            channels = 6 if classical else 3
            unet_config = {"in_channels": channels, "out_channels": 3, **UNET_PRESETS["tiny"]}
        in_channels, out_channels = unet_config.get("in_channels", 3), unet_config.get("out_channels", 3)
        expected = 2 * out_channels if classical else out_channels
        if in_channels != expected:
            needed = "`in_channels` must be twice `out_channels` ([X1, C(X1)])" if classical else (
                "`in_channels` must equal `out_channels`")  # fmt: skip
            raise ValueError(f"A mean network maps an image to an image: {needed}, got {in_channels} and "
                             f"{out_channels}.")  # fmt: skip
        if classical is not None:
            _check_classical_task(classical)
        self.unet = UNet2DModel.from_config(unet_config)
        if classical is not None:  # R = 0 at the start: M begins as the classical restorer
            torch.nn.init.zeros_(self.unet.conv_out.weight)
            torch.nn.init.zeros_(self.unet.conv_out.bias)

    @classmethod
    def from_unet(
        cls, unet: UNet2DModel, model_time: float = OFFICIAL_MEAN_NET_TIME, classical: str | None = None
    ) -> MeanNetwork:
        """Wraps (a copy of the weights of) an existing ``UNet2DModel``, e.g. a pretrained ADM-style UNet. With
        ``classical``, its output layer is zeroed so that the new mean network starts as the classical restorer."""
        config = {key: value for key, value in unet.config.items() if not key.startswith("_")}
        mean_net = cls(unet_config=config, model_time=model_time, classical=classical)
        state = unet.state_dict()
        if classical is not None:
            state = {key: value for key, value in state.items() if not key.startswith("conv_out.")}
        mean_net.unet.load_state_dict(state, strict=classical is None)
        mean_net = mean_net.to(unet.device)
        return mean_net if mean_net.dtype == unet.dtype else mean_net.to(unet.dtype)

    @property
    def image_channels(self) -> int:
        return self.unet.config.out_channels

    def forward(self, degraded: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``X0_hat = M(X1)``.

        Args:
            degraded (`torch.Tensor` of shape `(B, C, H, W)`): degraded images ``X1`` in ``[-1, 1]``; H and W
                multiples of the UNet's downsampling factor.
            mask (`torch.Tensor` of shape `(B, 1, H, W)`, *optional*): the inpainting hole (1 = missing), which the
                classical fill of an inpainting task needs; ignored otherwise.

        Returns:
            `torch.Tensor` of shape `(B, C, H, W)`: the estimate of ``E[X0 | X1]``, in the dtype of ``degraded``.
        """
        time = torch.full((degraded.shape[0],), self.config.model_time, device=degraded.device)
        if self.config.classical is None:
            return self.unet(network_input(self.unet, degraded), time, return_dict=False)[0].to(degraded.dtype)
        start = self.classical_estimate(degraded, mask)
        residual = self.unet(network_input(self.unet, torch.cat([degraded, start], 1)), time, return_dict=False)[0]
        return (start + residual.to(start.dtype)).to(degraded.dtype)

    def classical_estimate(self, degraded: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``C(X1)``: the classical restoration the residual starts from, computed in float32 (a Wiener filter's
        small singular values and the harmonic fill's iterations need it), returned in ``degraded``'s dtype.

        Args:
            degraded (`torch.Tensor` of shape `(B, C, H, W)`): ``X1`` in ``[-1, 1]``.
            mask (`torch.Tensor` of shape `(B, 1, H, W)`, *optional*): the inpainting hole, 1 = missing.
        """
        if self.config.classical is None:
            raise ValueError("This mean network has no classical start (`classical=None`).")
        mask = None if mask is None else mask.float()
        return classical_restore(self.config.classical, degraded.float(), mask=mask).to(degraded.dtype)


def _check_classical_task(task: str) -> None:
    try:
        method = classical_method(task)
    except ValueError:
        method = None
    if method is None:
        raise ValueError(f"`classical` must be a task with a classical restorer ({', '.join(CLASSICAL_METHODS)}), "
                         f"got {task!r}.")  # fmt: skip
