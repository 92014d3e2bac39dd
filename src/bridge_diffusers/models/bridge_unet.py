# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Bridge networks are plain diffusers ``UNet2DModel``s; this module builds them and calls them.

Conditioning is by channel concatenation, in the order ``[x_t, condition, noise]``:

* ``x_t`` (``image_channels``): the bridge state;
* ``condition`` (``image_channels``, optional): the degraded image ``x1`` for I2SB/NADB's ``cond_x1`` variant;
* ``noise`` (``noise_channels``, optional): IBMD's generator noise ``z``, entering through input weights that
  start at zero so that an untrained student equals its teacher.

Keeping the network a bare ``UNet2DModel`` keeps every diffusers tool (EMA, ``torch.compile``, offloading,
``from_pretrained`` of any published UNet) working on it.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import UNet2DModel


__all__ = [
    "UNET_PRESETS",
    "adm_unet_config",
    "compute_dtype",
    "create_bridge_unet",
    "downsample_factor",
    "expand_input_channels",
    "network_input",
    "unet_forward",
]

_ATTN_DOWN, _DOWN, _ATTN_UP, _UP = "AttnDownBlock2D", "DownBlock2D", "AttnUpBlock2D", "UpBlock2D"

UNET_PRESETS: dict[str, dict[str, Any]] = {
    # About 0.6 M parameters: CPU tests and smoke runs.
    "tiny": dict(
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=(_DOWN, _DOWN),
        up_block_types=(_UP, _UP),
        norm_num_groups=8,
        add_attention=False,
    ),
    # About 6.5 M parameters: CPU overfitting checks, 32-64 px experiments.
    "small": dict(
        block_out_channels=(64, 128, 128),
        layers_per_block=2,
        down_block_types=(_DOWN, _DOWN, _ATTN_DOWN),
        up_block_types=(_ATTN_UP, _UP, _UP),
        attention_head_dim=32,
    ),
    # About 4.3 M parameters: the shipped restoration networks. Four levels give a receptive field of well over
    # 64 px (a 9 px blur, a 4x4 pooling, 8x8 JPEG blocks); attention only at 1/8 resolution, so a 512x512 tile
    # costs about 1.6 s per call in float32 on 2 CPU cores (NFE 10 within 20 s).
    "restore": dict(
        block_out_channels=(32, 64, 128, 128),
        layers_per_block=1,
        down_block_types=(_DOWN, _DOWN, _DOWN, _ATTN_DOWN),
        up_block_types=(_ATTN_UP, _UP, _UP, _UP),
        norm_num_groups=8,
        attention_head_dim=32,
        # GroupNorm divides by the features' spread: with diffusers' eps of 1e-5 it blows the 8-bit rounding noise
        # of a flat crop up to the size of real texture (at initialisation the output varies as much on a flat
        # crop as on uniform noise), and a network that should leave a flat region alone paints on it. An eps of
        # the order of the features' own variance keeps a feature's size: tiny input variations stay tiny.
        norm_eps=1.0,
    ),
    # About 40 M parameters: single-GPU runs on 64-128 px crops.
    "base": dict(
        block_out_channels=(128, 256, 256, 256),
        layers_per_block=2,
        down_block_types=(_DOWN, _DOWN, _ATTN_DOWN, _ATTN_DOWN),
        up_block_types=(_ATTN_UP, _ATTN_UP, _UP, _UP),
        attention_head_dim=64,
        resnet_time_scale_shift="scale_shift",
    ),
}


def adm_unet_config(
    block_out_channels: tuple[int, ...],
    num_res_blocks: int,
    attention_levels: tuple[bool, ...],
    num_head_channels: int = 64,
    resblock_updown: bool = True,
    use_scale_shift_norm: bool = True,
) -> dict[str, Any]:
    """The ``UNet2DModel`` arguments that compute exactly what a guided-diffusion (ADM) ``UNetModel`` computes.

    Args:
        block_out_channels (`tuple[int, ...]`): ``model_channels * channel_mult``, one entry per level.
        num_res_blocks (`int`): residual blocks per level on the way down (one more on the way up).
        attention_levels (`tuple[bool, ...]`): whether each level (downsampling factor ``2**i``) has attention.
        num_head_channels (`int`, defaults to 64): channels per attention head (the official networks' 64).
        resblock_updown (`bool`, defaults to `True`): resample with residual blocks (ADM's ``resblock_updown``).
        use_scale_shift_norm (`bool`, defaults to `True`): FiLM-style time conditioning after the second norm.
    """
    plain_down, plain_up = ("DownBlock2D", "UpBlock2D")
    if resblock_updown:  # only these diffusers blocks resample with a residual block when they have no attention
        plain_down, plain_up = ("ResnetDownsampleBlock2D", "ResnetUpsampleBlock2D")
    resample = "resnet" if resblock_updown else "conv"
    return {
        "block_out_channels": tuple(block_out_channels),
        "layers_per_block": num_res_blocks,
        "down_block_types": tuple(_ATTN_DOWN if attention else plain_down for attention in attention_levels),
        "up_block_types": tuple(_ATTN_UP if attention else plain_up for attention in reversed(attention_levels)),
        "downsample_type": resample,
        "upsample_type": resample,
        "downsample_padding": 1,
        # ADM's timestep_embedding is [cos, sin] with frequencies exp(-ln(10000) i / half).
        "time_embedding_type": "positional",
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "resnet_time_scale_shift": "scale_shift" if use_scale_shift_norm else "default",
        "attention_head_dim": num_head_channels,
        # guided-diffusion normalises with GroupNorm32 (32 groups, eps 1e-5) everywhere. The mid block's attention
        # needs the groups spelled out: under scale_shift diffusers would otherwise drop its norm.
        "norm_num_groups": 32,
        "attn_norm_num_groups": 32,
        "norm_eps": 1e-5,
        "act_fn": "silu",
        "add_attention": True,
    }


# The ADM 256x256 unconditional architecture used by I2SB and NADB (256 channels, multipliers 1,1,2,2,4,4, two res
# blocks, attention at 32/16/8 px, 64-channel heads, scale-shift norm, residual up/down): the layout of the
# official checkpoints, which scripts/convert_*_to_diffusers.py load into it.
UNET_PRESETS["adm256"] = adm_unet_config(
    block_out_channels=(256, 256, 512, 512, 1024, 1024),
    num_res_blocks=2,
    attention_levels=(False, False, False, True, True, True),
)


def create_bridge_unet(
    sample_size: int,
    image_channels: int = 3,
    cond_x1: bool = False,
    noise_channels: int = 0,
    preset: str = "tiny",
    **overrides: Any,
) -> UNet2DModel:
    """A freshly initialised bridge UNet.

    Args:
        sample_size (`int`): the training crop size (the network runs on any multiple of its downsampling factor).
        image_channels (`int`, defaults to 3): channels of ``x_t`` and of the output.
        cond_x1 (`bool`, defaults to `False`): add ``image_channels`` input channels for the degraded image.
        noise_channels (`int`, defaults to 0): add input channels for IBMD's noise ``z``.
        preset (`str`, defaults to `"tiny"`): one of ``UNET_PRESETS``.
        overrides: any ``UNet2DModel`` argument, replacing the preset's value.
    """
    if preset not in UNET_PRESETS:
        raise ValueError(f"Unknown UNet preset {preset!r}; choose one of {sorted(UNET_PRESETS)}.")
    if noise_channels < 0:
        raise ValueError(f"`noise_channels` must be >= 0, got {noise_channels}.")
    config = {**UNET_PRESETS[preset], **overrides}
    in_channels = image_channels * (2 if cond_x1 else 1) + noise_channels
    return UNet2DModel(sample_size=sample_size, in_channels=in_channels, out_channels=image_channels, **config)


def downsample_factor(unet: UNet2DModel) -> int:
    """The multiple that the UNet's input height and width must have (``2 ** (levels - 1)``)."""
    return 2 ** (len(unet.config.block_out_channels) - 1)


def expand_input_channels(unet: UNet2DModel, extra_channels: int, zero_init: bool = True) -> UNet2DModel:
    """A copy of ``unet`` with ``extra_channels`` more input channels appended after the existing ones.

    With ``zero_init`` (IBMD's noise input, paper App. B) the new input weights are zero, so the copy computes
    exactly what ``unet`` computes whatever the new channels hold. Without it they keep a fresh initialisation
    (the official I2SB ``cond_x1`` set-up from an unconditional checkpoint).
    """
    if extra_channels < 1:
        raise ValueError(f"`extra_channels` must be >= 1, got {extra_channels}.")
    config = {key: value for key, value in unet.config.items() if not key.startswith("_")}
    config["in_channels"] = unet.config.in_channels + extra_channels
    expanded = UNet2DModel.from_config(config).to(unet.device)
    state = unet.state_dict()
    old_weight = state["conv_in.weight"]
    new_weight = expanded.conv_in.weight.detach().clone()
    new_weight[:, : old_weight.shape[1]] = old_weight
    if zero_init:
        new_weight[:, old_weight.shape[1] :] = 0.0
    state["conv_in.weight"] = new_weight
    expanded.load_state_dict(state)
    return expanded if unet.dtype == expanded.dtype else expanded.to(unet.dtype)


def unet_forward(
    unet: UNet2DModel,
    sample: torch.Tensor,
    model_time: torch.Tensor | float,
    condition: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Calls a bridge UNet on ``[sample, condition, noise]`` concatenated along channels.

    Args:
        unet (`UNet2DModel`): the network, possibly wrapped for distributed training.
        sample (`torch.Tensor` of shape `(B, C, H, W)`): the bridge state ``x_t``; H and W multiples of
            :func:`downsample_factor`.
        model_time (`torch.Tensor` of shape `(B,)` or a scalar): the time-embedding input (the scheduler's
            ``model_time``).
        condition (`torch.Tensor` of shape `(B, C, H, W)`, *optional*): the degraded image, for ``cond_x1`` nets.
        noise (`torch.Tensor` of shape `(B, Z, H, W)`, *optional*): IBMD's generator noise.

    Returns:
        `torch.Tensor` of shape `(B, C, H, W)`: the network output, in the dtype of ``sample``.
    """
    base = getattr(unet, "module", unet)  # DistributedDataParallel (accelerate) hides the UNet's config
    parts = [sample] + [part for part in (condition, noise) if part is not None]
    net_input = torch.cat(parts, dim=1) if len(parts) > 1 else sample
    expected = base.config.in_channels
    if net_input.shape[1] != expected:
        raise ValueError(
            f"The UNet takes {expected} input channels but got {net_input.shape[1]} "
            f"(x_t {sample.shape[1]}, condition {0 if condition is None else condition.shape[1]}, "
            f"noise {0 if noise is None else noise.shape[1]})."
        )
    time = torch.as_tensor(model_time, device=sample.device, dtype=torch.float32)
    time = time.expand(sample.shape[0]) if time.ndim == 0 else time
    output = unet(network_input(base, net_input), time, return_dict=False)[0]
    return output.to(sample.dtype)


def network_input(unet: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """``images`` as ``unet`` computes best: in its :func:`compute_dtype`, and in channels-last memory when its
    weights are (``optimize_pipeline(..., channels_last=True)``). Every call then passes one layout, whatever the
    scheduler's arithmetic left, so a compiled network sees one input layout (strides are part of its guards)."""
    images = images.to(compute_dtype(unet))
    weight = getattr(getattr(unet, "conv_in", None), "weight", None)
    channels_last = (
        isinstance(weight, torch.Tensor)
        and weight.ndim == 4
        and not weight.is_contiguous()
        and weight.is_contiguous(memory_format=torch.channels_last)
    )
    return images.contiguous(memory_format=torch.channels_last) if channels_last else images


def compute_dtype(unet: torch.nn.Module) -> torch.dtype:
    """The dtype a UNet computes in, read from its input convolution: ``ModelMixin.dtype`` walks every submodule
    (about 0.4 ms for a small UNet, paid at every sampling step). Falls back to it for weights stored in 8 bits
    (diffusers' layerwise casting computes in another dtype than it stores) or a network without ``conv_in``."""
    weight = getattr(getattr(unet, "conv_in", None), "weight", None)
    if isinstance(weight, torch.Tensor) and weight.is_floating_point() and weight.element_size() >= 2:
        return weight.dtype
    return unet.dtype
