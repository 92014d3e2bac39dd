# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Converts the official I2SB (NVlabs/I2SB) and NADB (gyr02/NADB) checkpoints into our pipelines.

An official run folder holds ``latest.pt`` (``{"net", "ema", "optimizer", "sched"}``, where ``net`` is the
guided-diffusion ADM UNet wrapped as ``diffusion_model``) and ``options.pkl`` (the pickled training
``argparse.Namespace``); an NADB run also holds its mean network ``x10.pt`` (``{"net", "ema"}``). The ADM UNet maps
exactly onto a diffusers ``UNet2DModel`` and the options onto our schedulers.

Nothing here runs code from the files it reads: checkpoints go through ``torch.load(weights_only=True)`` and
``options.pkl`` through an unpickler that admits only ``argparse.Namespace``, ``pathlib`` paths and builtin values.

The official networks were trained on 256x256 ImageNet images in [-1, 1], degraded by the operator the run names
(``options.corrupt``). A converted pipeline expects images like those: other sizes are padded to a multiple of the
UNet's downsampling factor and run, but they, and other degradations, are outside what the network learned.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Any

import torch
from diffusers import UNet2DModel
from huggingface_hub import ModelCard, ModelCardData

from .methods import get_method
from .models.bridge_unet import adm_unet_config
from .models.mean_net import OFFICIAL_MEAN_NET_TIME, MeanNetwork
from .pipelines.pipeline_i2sb import I2SBPipeline
from .pipelines.pipeline_nadb import NADBPipeline
from .schedulers.scheduling_i2sb import I2SBScheduler
from .schedulers.scheduling_nadb import NADBScheduler


__all__ = [
    "ADMArchitecture",
    "ConversionError",
    "ConversionInfo",
    "Setting",
    "convert_adm_unet",
    "convert_i2sb",
    "convert_nadb",
    "infer_adm_architecture",
    "load_official_weights",
    "load_options",
    "save_converted",
    "write_conversion_card",
]

I2SB_REPOSITORY = "https://github.com/NVlabs/I2SB"
NADB_REPOSITORY = "https://github.com/gyr02/NADB"

# The official training defaults (I2SB train.py; NADB train.py), used for fields an options file lacks.
I2SB_DEFAULTS: dict[str, Any] = {
    "interval": 1000,
    "beta_max": 0.3,
    "t0": 1e-4,
    "T": 1.0,
    "ot_ode": False,
    "clip_denoise": False,
}
NADB_DEFAULTS: dict[str, Any] = {"interval": 1001, "alpha": 0.4, "k": 0.75, "t0": 1e-4, "T": 1.0}
# The official NADB runner with a mean network regresses 2 * target and halves the output when sampling.
NADB_OFFICIAL_TARGET_SCALE = 2.0
OFFICIAL_IMAGE_SIZE = 256


class ConversionError(ValueError):
    """An official file that cannot be read safely or converted exactly; the message says which and why."""


# ---------------------------------------------------------------------------------------------- options.pkl
# What an official options.pkl pickles: train.py's argparse.Namespace of numbers, strings, booleans, None and
# pathlib paths (``opt.device`` is the string 'cuda' or 'cuda:N', not a torch.device). Paths come back as *pure*
# paths: they are only recorded, never opened, and a PosixPath cannot even be instantiated on Windows.
_PATH_CLASSES = {
    "Path": PurePath,
    "PurePath": PurePath,
    "PosixPath": PurePosixPath,
    "PurePosixPath": PurePosixPath,
    "WindowsPath": PureWindowsPath,
    "PureWindowsPath": PureWindowsPath,
}
_ADMITTED_GLOBALS: dict[tuple[str, str], type] = {
    ("argparse", "Namespace"): argparse.Namespace,
    # Pickle protocols below 4 (which has opcodes for sets) name these builtins.
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    # pathlib is a package since Python 3.13, whose pickles name pathlib._local.
    **{(module, name): cls for module in ("pathlib", "pathlib._local") for name, cls in _PATH_CLASSES.items()},
}


class _OptionsUnpickler(pickle.Unpickler):
    """Resolves only the admitted globals: any other reference is refused before anything is called."""

    def find_class(self, module: str, name: str) -> type:
        admitted = _ADMITTED_GLOBALS.get((module, name))
        if admitted is None:
            raise ConversionError(
                f"refused to unpickle {module}.{name}: an official options file holds only an argparse.Namespace "
                "of numbers, strings and pathlib paths (nothing from the file was run)"
            )
        return admitted


def load_options(path: str | os.PathLike) -> argparse.Namespace:
    """Reads an official ``options.pkl`` safely (see ``_ADMITTED_GLOBALS``); paths come back as pure paths.

    Raises:
        ConversionError: a missing or unreadable file, a refused global (named in the message) or a pickle that
            is not an ``argparse.Namespace``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"options file {path} does not exist")
    try:
        with path.open("rb") as handle:
            options = _OptionsUnpickler(handle).load()
    except ConversionError as refused:
        raise ConversionError(f"{path}: {refused}") from None
    except Exception as error:  # a damaged pickle raises whatever the opcode it stops at implies
        raise ConversionError(f"{path} is not a readable options pickle ({type(error).__name__}: {error})") from None
    if not isinstance(options, argparse.Namespace):
        raise ConversionError(f"{path} holds a {type(options).__name__}, not the official argparse.Namespace")
    return options


def _find_options(
    checkpoint_path: Path, options_path: str | os.PathLike | None
) -> tuple[argparse.Namespace | None, Path | None]:
    """The options given, else ``options.pkl`` beside the checkpoint, else none (the official defaults apply)."""
    if options_path is not None:
        return load_options(options_path), Path(options_path)
    beside = checkpoint_path.parent / "options.pkl"
    return (load_options(beside), beside) if beside.is_file() else (None, None)


@dataclass(frozen=True)
class Setting:
    """A conversion setting and where its value came from (``"flag"``, ``"options.pkl"`` or a default)."""

    value: Any
    source: str


def _setting(name: str, override: Any, options: argparse.Namespace | None, default: Any) -> Setting:
    if override is not None:
        return Setting(override, "flag")
    if options is not None and hasattr(options, name):
        return Setting(getattr(options, name), "options.pkl")
    return Setting(default, "official default")


def _check_time_grid(settings: dict[str, Setting]) -> None:
    # Our schedulers feed the network linspace(1e-4, 1, ...) * N, the official grid: a run trained with another
    # t0 or T saw other time inputs, which no setting of ours reproduces.
    for name, official in (("t0", 1e-4), ("T", 1.0)):
        value = settings[name].value
        if not math.isclose(float(value), official, rel_tol=1e-9):
            raise ConversionError(
                f"options field {name!r} is {value} but our schedulers use the official time grid "
                f"(t0=1e-4, T=1): this run cannot be converted exactly"
            )


# ------------------------------------------------------------------------------------------------ checkpoints
def _read_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConversionError(f"checkpoint {path} does not exist")
    try:
        # mmap leaves the optimizer state (twice the weights in latest.pt) on disk; only the zip format maps.
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as error:  # a damaged file raises whatever the byte it stops at implies
        raise ConversionError(f"{path} is not a readable PyTorch checkpoint ({_load_failure(error)})") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("net"), dict):
        found = sorted(map(str, checkpoint)) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ConversionError(
            f"{path} has no 'net' state dict (found {found}): expected an official checkpoint "
            "{'net': ..., 'ema': ...}"
        )
    return checkpoint


def _load_failure(error: Exception) -> str:
    """One line on why ``torch.load`` failed: the refused global for ``weights_only``, else the first line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [""]
    refused = [line for line in lines if line.startswith("WeightsUnpickler error:")]
    if refused:  # torch's own message is a page of advice around this line
        return refused[0].removeprefix("WeightsUnpickler error:").split(". ")[0].strip() + " (weights_only=True)"
    return f"{type(error).__name__}: {lines[0]}"


def _network_weights(checkpoint: dict[str, Any], path: Path, use_ema: bool) -> dict[str, torch.Tensor]:
    net = checkpoint["net"]
    if not use_ema:
        return dict(net)
    ema = checkpoint.get("ema")
    shadow = ema.get("shadow_params") if isinstance(ema, dict) else None
    if shadow is None:
        raise ConversionError(
            f"{path} has no EMA weights (an 'ema' entry with 'shadow_params'); convert the raw weights with "
            "use_ema=False (--no-use_ema)"
        )
    # torch_ema keeps one shadow tensor per net.parameters(), in order. The ADM UNet has no buffers, so that
    # order is the state dict's: the i-th shadow tensor belongs to the i-th key.
    if len(shadow) != len(net):
        raise ConversionError(
            f"{path}: the EMA holds {len(shadow)} tensors but 'net' has {len(net)} entries; they must match one to one"
        )
    for (key, value), average in zip(net.items(), shadow, strict=True):
        if tuple(average.shape) != tuple(value.shape):
            raise ConversionError(
                f"{path}: the EMA tensor for {key} has shape {tuple(average.shape)}, the weight {tuple(value.shape)}"
            )
    return dict(zip(net, shadow, strict=True))


def load_official_weights(path: str | os.PathLike, use_ema: bool = True) -> dict[str, torch.Tensor]:
    """The ADM UNet weights of an official checkpoint (``latest.pt`` or ``x10.pt``), keyed as in guided-diffusion.

    Args:
        path: the checkpoint, a dict with ``"net"`` (an ``Image256Net`` state dict) and ``"ema"`` (a ``torch_ema``
            state dict).
        use_ema (`bool`, defaults to `True`): the EMA ("shadow") weights, the ones the official sampler uses;
            else the raw training weights.

    Returns:
        `dict[str, torch.Tensor]`: the weights keyed as ``guided_diffusion.unet.UNetModel``'s state dict.
    """
    path = Path(path)
    weights = _network_weights(_read_checkpoint(path), path, use_ema)
    # Image256Net holds the UNet as `diffusion_model`; DistributedDataParallel adds `module.`.
    stripped = {key.removeprefix("module.").removeprefix("diffusion_model."): value for key, value in weights.items()}
    if len(stripped) != len(weights):
        raise ConversionError(f"{path}: keys with and without the 'diffusion_model.' prefix name the same weight")
    return stripped


# --------------------------------------------------------------------------------------------- architecture
_LAYOUT_HINT = (
    "the input and output blocks do not form a guided-diffusion UNetModel (a parameter-free resampling layer, "
    "conv_resample=False without resblock_updown, has no counterpart in diffusers' UNet2DModel)"
)


@dataclass(frozen=True)
class ADMArchitecture:
    """The hyper-parameters of a guided-diffusion ``UNetModel`` that its state dict determines.

    ``block_out_channels`` is ``model_channels * channel_mult``; ``attention_levels[i]`` says whether level ``i``
    (downsampling factor ``2**i``) has attention. The number of heads is not in the weights: it comes from
    ``num_head_channels`` (64 in the official networks).
    """

    in_channels: int
    out_channels: int
    block_out_channels: tuple[int, ...]
    num_res_blocks: int
    attention_levels: tuple[bool, ...]
    resblock_updown: bool
    use_scale_shift_norm: bool

    @property
    def cond_x1(self) -> bool:
        """Whether the network also takes the degraded image (``in_channels == 2 * out_channels``)."""
        return self.in_channels == 2 * self.out_channels

    def unet_config(self, num_head_channels: int, sample_size: int) -> dict[str, Any]:
        """The ``UNet2DModel`` config that computes exactly what the ADM UNet computes."""
        return {
            "sample_size": sample_size,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            **adm_unet_config(
                self.block_out_channels,
                self.num_res_blocks,
                self.attention_levels,
                num_head_channels,
                self.resblock_updown,
                self.use_scale_shift_norm,
            ),
        }


def _layer_kind(weights: dict[str, torch.Tensor], prefix: str) -> str:
    if f"{prefix}.in_layers.0.weight" in weights:
        return "resblock"
    if f"{prefix}.qkv.weight" in weights:
        return "attention"
    if f"{prefix}.op.weight" in weights or f"{prefix}.conv.weight" in weights:
        return "resample_conv"
    if f"{prefix}.weight" in weights:
        return "conv"
    raise ConversionError(
        f"unrecognised layer {prefix} (keys {sorted(k for k in weights if k.startswith(prefix))[:4]})"
    )


def _block_kinds(weights: dict[str, torch.Tensor], group: str) -> list[list[str]]:
    """The layer kinds of each block of ``input_blocks`` or ``output_blocks``, block by block."""
    layers: dict[int, set[int]] = {}
    for key in weights:
        parts = key.split(".")
        if parts[0] == group and len(parts) > 3 and parts[1].isdigit() and parts[2].isdigit():
            layers.setdefault(int(parts[1]), set()).add(int(parts[2]))
    if sorted(layers) != list(range(len(layers))):
        raise ConversionError(f"{group} has blocks without weights: {_LAYOUT_HINT}")
    return [
        [_layer_kind(weights, f"{group}.{block}.{layer}") for layer in sorted(layers[block])]
        for block in sorted(layers)
    ]


def _level_structure(down: list[list[str]], up: list[list[str]]) -> tuple[int, int]:
    """``(levels, num_res_blocks)`` from where the output blocks upsample (the last layer of a block)."""
    upsamples = [len(kinds) > 1 and kinds[-1] != "attention" for kinds in up]
    per_level = upsamples.index(True) + 1 if any(upsamples) else len(up)
    levels = len(up) // per_level
    expected = [(i + 1) % per_level == 0 and i + 1 < len(up) for i in range(len(up))]
    if per_level < 2 or levels * per_level != len(up) or upsamples != expected or len(down) != len(up):
        raise ConversionError(_LAYOUT_HINT)
    return levels, per_level - 1


def _level_attention(down: list[list[str]], up: list[list[str]], level: int, levels: int, res_blocks: int) -> bool:
    """Whether a level has attention; diffusers gives it to every block of a level or to none."""
    first_down = 1 + level * (res_blocks + 1)
    first_up = (levels - 1 - level) * (res_blocks + 1)
    blocks = down[first_down : first_down + res_blocks] + up[first_up : first_up + res_blocks + 1]
    flags = {kinds[1:2] == ["attention"] for kinds in blocks}
    if len(flags) > 1:
        raise ConversionError(f"level {level} has attention in some blocks only; UNet2DModel cannot express that")
    return flags.pop()


def _resample_kinds(down: list[list[str]], up: list[list[str]], levels: int, res_blocks: int) -> set[str]:
    down_layers = [down[(level + 1) * (res_blocks + 1)] for level in range(levels - 1)]
    if any(len(kinds) != 1 for kinds in down_layers):
        raise ConversionError(_LAYOUT_HINT)
    up_layers = [up[(u + 1) * (res_blocks + 1) - 1][-1] for u in range(levels - 1)]
    return {kinds[0] for kinds in down_layers} | set(up_layers)


def infer_adm_architecture(weights: dict[str, torch.Tensor]) -> ADMArchitecture:
    """Reads a guided-diffusion ``UNetModel``'s architecture from its state dict (keys without any prefix).

    Raises:
        ConversionError: a layout that ``UNet2DModel`` cannot compute exactly (named in the message).
    """
    down, up = _block_kinds(weights, "input_blocks"), _block_kinds(weights, "output_blocks")
    if not down or not up or down[0] != ["conv"] or any(kinds[0] != "resblock" for kinds in up):
        raise ConversionError(_LAYOUT_HINT)
    levels, res_blocks = _level_structure(down, up)
    resample = _resample_kinds(down, up, levels, res_blocks)
    if len(resample) > 1:
        raise ConversionError(f"the UNet mixes residual and convolutional resampling ({sorted(resample)})")
    middle = [_layer_kind(weights, f"middle_block.{index}") for index in range(3)]
    if middle != ["resblock", "attention", "resblock"] or any(k.startswith("middle_block.3.") for k in weights):
        raise ConversionError(f"the middle block is {middle}, not the ADM resblock-attention-resblock")
    channels = tuple(
        int(weights[f"input_blocks.{1 + level * (res_blocks + 1)}.0.out_layers.3.weight"].shape[0])
        for level in range(levels)
    )
    model_channels = int(weights["time_embed.0.weight"].shape[1])
    # UNet2DModel embeds time at block_out_channels[0] and projects it to 4x that: ADM must agree.
    if weights["input_blocks.0.0.weight"].shape[0] != model_channels or channels[0] != model_channels:
        raise ConversionError(
            f"channel_mult[0] must be 1 (first level {channels[0]} channels, model {model_channels})"
        )
    if weights["time_embed.0.weight"].shape[0] != 4 * model_channels:
        raise ConversionError("the time embedding must have 4 * model_channels features, as in guided-diffusion")
    return ADMArchitecture(
        in_channels=int(weights["input_blocks.0.0.weight"].shape[1]),
        out_channels=int(weights["out.2.weight"].shape[0]),
        block_out_channels=channels,
        num_res_blocks=res_blocks,
        attention_levels=tuple(_level_attention(down, up, level, levels, res_blocks) for level in range(levels)),
        resblock_updown=resample == {"resblock"},
        # scale-shift norm projects the embedding to a scale and a shift, twice the block's channels.
        use_scale_shift_norm=weights["middle_block.0.emb_layers.1.weight"].shape[0] == 2 * channels[-1],
    )


# ------------------------------------------------------------------------------------------------ the mapping
def _module_pairs(arch: ADMArchitecture) -> list[tuple[str, str, str]]:
    """``(kind, UNet2DModel module, ADM module)`` for every module with weights, in forward order."""
    pairs = [
        ("copy", "conv_in", "input_blocks.0.0"),
        ("copy", "time_embedding.linear_1", "time_embed.0"),
        ("copy", "time_embedding.linear_2", "time_embed.2"),
    ]
    levels, blocks = len(arch.block_out_channels), arch.num_res_blocks
    resample_kind = "resnet" if arch.resblock_updown else "copy"
    index = 1
    for level in range(levels):
        for block in range(blocks):
            pairs.append(("resnet", f"down_blocks.{level}.resnets.{block}", f"input_blocks.{index}.0"))
            if arch.attention_levels[level]:
                pairs.append(("attention", f"down_blocks.{level}.attentions.{block}", f"input_blocks.{index}.1"))
            index += 1
        if level < levels - 1:
            source = f"input_blocks.{index}.0" + ("" if arch.resblock_updown else ".op")
            target = f"down_blocks.{level}.downsamplers.0" + ("" if arch.resblock_updown else ".conv")
            pairs.append((resample_kind, target, source))
            index += 1
    pairs += [
        ("resnet", "mid_block.resnets.0", "middle_block.0"),
        ("attention", "mid_block.attentions.0", "middle_block.1"),
        ("resnet", "mid_block.resnets.1", "middle_block.2"),
    ]
    index = 0
    for up_block, level in enumerate(reversed(range(levels))):
        attention = arch.attention_levels[level]
        for block in range(blocks + 1):
            pairs.append(("resnet", f"up_blocks.{up_block}.resnets.{block}", f"output_blocks.{index}.0"))
            if attention:
                pairs.append(("attention", f"up_blocks.{up_block}.attentions.{block}", f"output_blocks.{index}.1"))
            if level > 0 and block == blocks:
                source = f"output_blocks.{index}.{2 if attention else 1}" + ("" if arch.resblock_updown else ".conv")
                target = f"up_blocks.{up_block}.upsamplers.0" + ("" if arch.resblock_updown else ".conv")
                pairs.append((resample_kind, target, source))
            index += 1
    return [*pairs, ("copy", "conv_norm_out", "out.0"), ("copy", "conv_out", "out.2")]


_RESNET_PARTS = (
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("time_emb_proj", "emb_layers.1"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("conv_shortcut", "skip_connection"),
)


class _Converter:
    """Fills a ``UNet2DModel`` state dict from ADM weights, recording which ADM keys it consumed."""

    def __init__(self, weights: dict[str, torch.Tensor], num_head_channels: int):
        self.weights, self.num_head_channels = weights, num_head_channels
        self.used: set[str] = set()
        self.out: dict[str, torch.Tensor] = {}

    def take(self, key: str) -> torch.Tensor:
        if key not in self.weights:
            raise ConversionError(f"the checkpoint lacks {key}")
        self.used.add(key)
        return self.weights[key].to(torch.float32)

    def copy(self, target: str, source: str) -> None:
        for suffix in ("weight", "bias"):
            if f"{source}.{suffix}" in self.weights:
                self.out[f"{target}.{suffix}"] = self.take(f"{source}.{suffix}")

    def resnet(self, target: str, source: str) -> None:
        for ours, theirs in _RESNET_PARTS:
            self.copy(f"{target}.{ours}", f"{source}.{theirs}")

    def attention(self, target: str, source: str) -> None:
        self.copy(f"{target}.group_norm", f"{source}.norm")
        # The 1x1 Conv1d projections become Linear layers: drop the kernel axis.
        qkv_weight = self.take(f"{source}.qkv.weight").flatten(1)
        qkv_bias = self.take(f"{source}.qkv.bias")
        channels = qkv_weight.shape[1]
        heads = channels // self.num_head_channels
        # QKVAttentionLegacy reads the 3C output channels as (head, [q, k, v], head_dim): heads outermost.
        qkv_weight = qkv_weight.reshape(heads, 3, self.num_head_channels, channels)
        qkv_bias = qkv_bias.reshape(heads, 3, self.num_head_channels)
        for part, name in enumerate(("to_q", "to_k", "to_v")):
            self.out[f"{target}.{name}.weight"] = qkv_weight[:, part].reshape(channels, channels).contiguous()
            self.out[f"{target}.{name}.bias"] = qkv_bias[:, part].reshape(channels).contiguous()
        self.out[f"{target}.to_out.0.weight"] = self.take(f"{source}.proj_out.weight").flatten(1)
        self.out[f"{target}.to_out.0.bias"] = self.take(f"{source}.proj_out.bias")


def _check_heads(arch: ADMArchitecture, num_head_channels: int) -> None:
    attended = [c for c, a in zip(arch.block_out_channels, arch.attention_levels, strict=True) if a]
    for channels in [*attended, arch.block_out_channels[-1]]:
        if num_head_channels < 1 or channels % num_head_channels:
            raise ConversionError(
                f"num_head_channels={num_head_channels} does not divide the {channels} channels of an attention "
                "layer (the official networks use 64)"
            )


def _check_state(converted: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    missing = sorted(set(expected) - set(converted))
    extra = sorted(set(converted) - set(expected))
    wrong = [k for k in expected if k in converted and converted[k].shape != expected[k].shape]
    if missing or extra or wrong:
        raise ConversionError(
            f"the converted weights do not fill the UNet2DModel: missing {missing[:5]}, unexpected {extra[:5]}, "
            f"wrong shape {[(k, tuple(converted[k].shape), tuple(expected[k].shape)) for k in wrong[:5]]}"
        )


def convert_adm_unet(
    weights: dict[str, torch.Tensor], num_head_channels: int = 64, sample_size: int = OFFICIAL_IMAGE_SIZE
) -> UNet2DModel:
    """A ``UNet2DModel`` computing exactly what a guided-diffusion ``UNetModel`` with these weights computes.

    Args:
        weights: the ADM state dict, keys without prefix (see :func:`load_official_weights`).
        num_head_channels (`int`, defaults to 64): channels per attention head (not recorded in the weights).
        sample_size (`int`, defaults to 256): the training image size, recorded in the config.

    Returns:
        `UNet2DModel` in eval mode. Its float32 weights that needed no reshaping share memory with ``weights``
        (the official checkpoints hold 552M parameters: no second copy is made).

    Raises:
        ConversionError: a layout ``UNet2DModel`` cannot express, a key with no counterpart, or a weight missing.
    """
    arch = infer_adm_architecture(weights)
    _check_heads(arch, num_head_channels)
    converter = _Converter(weights, num_head_channels)
    for kind, target, source in _module_pairs(arch):
        getattr(converter, kind)(target, source)
    unmapped = sorted(set(weights) - converter.used)
    if unmapped:
        raise ConversionError(f"the checkpoint has weights with no counterpart in UNet2DModel: {unmapped[:8]}")
    # Built without memory and then given the converted tensors: no random initialisation of ~550M weights.
    with torch.device("meta"):
        unet = UNet2DModel(**arch.unet_config(num_head_channels, sample_size))
    _check_state(converter.out, unet.state_dict())
    unet.load_state_dict(converter.out, assign=True)
    return unet.eval()


def _official_unet(
    path: Path, use_ema: bool, num_head_channels: int, sample_size: int
) -> tuple[UNet2DModel, ADMArchitecture]:
    weights = load_official_weights(path, use_ema)
    return convert_adm_unet(weights, num_head_channels, sample_size), infer_adm_architecture(weights)


# ----------------------------------------------------------------------------------------------- pipelines
@dataclass
class ConversionInfo:
    """What a model card says about a conversion: the files, the weights taken and every setting's source."""

    method: str
    files: dict[str, Path]
    use_ema: bool
    num_head_channels: int
    settings: dict[str, Setting]
    architecture: ADMArchitecture
    task: str | None = None


def _check_cond_x1(arch: ADMArchitecture, cond_x1: Setting) -> None:
    """The network's input channels decide ``cond_x1``; the options or a flag that say otherwise are wrong."""
    if cond_x1.value is not None and bool(cond_x1.value) != arch.cond_x1:
        raise ConversionError(
            f"cond_x1={cond_x1.value} ({cond_x1.source}) but the network takes {arch.in_channels} input channels "
            f"for {arch.out_channels} output channels, i.e. cond_x1={arch.cond_x1}"
        )


def _task(options: argparse.Namespace | None) -> str | None:
    task = getattr(options, "corrupt", None) or getattr(options, "name", None)
    return str(task) if task else None


def _sample_size(options: argparse.Namespace | None) -> int:
    return int(getattr(options, "image_size", OFFICIAL_IMAGE_SIZE) or OFFICIAL_IMAGE_SIZE)


def _i2sb_scheduler(settings: dict[str, Setting]) -> I2SBScheduler:
    interval = settings["interval"]
    if int(interval.value) != interval.value or interval.value < 2 or interval.value % 2:
        raise ConversionError(
            f"interval={interval.value} ({interval.source}): the official symmetric schedule needs an even "
            "number of steps >= 2"
        )
    try:
        return I2SBScheduler(
            num_train_timesteps=int(interval.value),
            beta_max=float(settings["beta_max"].value),
            ot_ode=bool(settings["ot_ode"].value),
            clip_denoise=bool(settings["clip_denoise"].value),
        )
    except ValueError as error:
        raise ConversionError(f"the I2SB settings cannot be represented: {error}") from None


def convert_i2sb(
    checkpoint_path: str | os.PathLike,
    *,
    options_path: str | os.PathLike | None = None,
    use_ema: bool = True,
    num_head_channels: int = 64,
    cond_x1: bool | None = None,
    beta_max: float | None = None,
    interval: int | None = None,
    ot_ode: bool | None = None,
    clip_denoise: bool | None = None,
) -> tuple[I2SBPipeline, ConversionInfo]:
    """An ``I2SBPipeline`` from an official I2SB run: ``latest.pt`` and ``options.pkl`` (given, or beside it).

    Each scheduler setting is the keyword when given, else the options file's field, else the official training
    default (``beta_max`` 0.3, ``interval`` 1000, no OT-ODE, no clipping). ``cond_x1`` is only checked against the
    network's input channels, which decide it.

    Raises:
        ConversionError: a missing or unreadable file, or a run the scheduler cannot represent (``t0``, ``T``,
            ``interval``), named in the message.
    """
    checkpoint_path = Path(checkpoint_path)
    options, found_options = _find_options(checkpoint_path, options_path)
    overrides = {"beta_max": beta_max, "interval": interval, "ot_ode": ot_ode, "clip_denoise": clip_denoise}
    settings = {name: _setting(name, overrides.get(name), options, value) for name, value in I2SB_DEFAULTS.items()}
    settings["cond_x1"] = _setting("cond_x1", cond_x1, options, None)
    _check_time_grid(settings)
    scheduler = _i2sb_scheduler(settings)
    unet, arch = _official_unet(checkpoint_path, use_ema, num_head_channels, _sample_size(options))
    _check_cond_x1(arch, settings["cond_x1"])
    files = {"bridge checkpoint": checkpoint_path, **({"options": found_options} if found_options else {})}
    info = ConversionInfo("i2sb", files, use_ema, num_head_channels, settings, arch, _task(options))
    return I2SBPipeline(unet=unet, scheduler=scheduler), info


def _nadb_scheduler(settings: dict[str, Setting]) -> NADBScheduler:
    interval = settings["interval"]
    # NADB hard-codes t = step / 1000 while its time input scales with interval - 1: only 1001 is consistent.
    if interval.value != NADB_DEFAULTS["interval"]:
        raise ConversionError(
            f"options field 'interval' is {interval.value} ({interval.source}); NADB computes t = step / 1000, "
            "which only the official interval 1001 matches"
        )
    try:
        return NADBScheduler(
            num_train_timesteps=int(interval.value) - 1,
            alpha=float(settings["alpha"].value),
            k=float(settings["k"].value),
            threshold=settings["threshold"].value,
            target_scale=float(settings["target_scale"].value),
        )
    except ValueError as error:
        raise ConversionError(f"the NADB settings cannot be represented: {error}") from None


def _mean_network(unet: UNet2DModel, arch: ADMArchitecture, path: Path) -> MeanNetwork:
    if arch.in_channels != arch.out_channels:
        raise ConversionError(
            f"{path}: a mean network maps an image to an image, but this one takes {arch.in_channels} channels "
            f"and returns {arch.out_channels}"
        )
    config = {key: value for key, value in unet.config.items() if not key.startswith("_")}
    # The official mean network is called at step index 1 of linspace(1e-4, 1, 1001) * 1000: time input 1.0999.
    with torch.device("meta"):  # its UNet is replaced at once: skip initialising a throw-away one
        mean_net = MeanNetwork(unet_config=config, model_time=OFFICIAL_MEAN_NET_TIME)
    mean_net.unet = unet
    return mean_net.eval()


def convert_nadb(
    checkpoint_path: str | os.PathLike,
    *,
    mean_checkpoint_path: str | os.PathLike | None = None,
    options_path: str | os.PathLike | None = None,
    use_ema: bool = True,
    num_head_channels: int = 64,
    cond_x1: bool | None = None,
    alpha: float | None = None,
    k: float | None = None,
    threshold: float | None = None,
    target_scale: float | None = None,
) -> tuple[NADBPipeline, ConversionInfo]:
    """An ``NADBPipeline`` from an official NADB run: the bridge ``latest.pt``, the mean network ``x10.pt``
    (given, or beside the bridge) and ``options.pkl`` (given, or beside the bridge).

    ``alpha`` and ``k`` are the keyword when given, else the options', else the official defaults (0.4, 0.75).
    ``threshold`` is not a training option: ``None`` is the official ``--d smallest``, ``(1 - a) / (2 - a)``.
    ``target_scale`` defaults to 2.0, the official runner with a mean network (it regresses twice the target).
    ``use_ema`` applies to both networks.

    Raises:
        ConversionError: a missing or unreadable file, or a run the scheduler cannot represent (``t0``, ``T``,
            ``interval``), named in the message.
    """
    checkpoint_path = Path(checkpoint_path)
    mean_path = Path(mean_checkpoint_path) if mean_checkpoint_path else checkpoint_path.parent / "x10.pt"
    if not mean_path.is_file():
        raise ConversionError(f"mean network checkpoint {mean_path} does not exist; pass mean_checkpoint_path")
    options, found_options = _find_options(checkpoint_path, options_path)
    overrides = {"alpha": alpha, "k": k}
    settings = {name: _setting(name, overrides.get(name), options, value) for name, value in NADB_DEFAULTS.items()}
    official_d = Setting(None, "official --d smallest: (1 - alpha) / (2 - alpha)")
    settings["threshold"] = Setting(threshold, "flag") if threshold is not None else official_d
    settings["target_scale"] = (
        Setting(target_scale, "flag")
        if target_scale is not None
        else Setting(NADB_OFFICIAL_TARGET_SCALE, "official runner")
    )
    settings["cond_x1"] = _setting("cond_x1", cond_x1, options, None)
    _check_time_grid(settings)
    scheduler = _nadb_scheduler(settings)
    size = _sample_size(options)
    unet, arch = _official_unet(checkpoint_path, use_ema, num_head_channels, size)
    _check_cond_x1(arch, settings["cond_x1"])
    mean_unet, mean_arch = _official_unet(mean_path, use_ema, num_head_channels, size)
    files = {"bridge checkpoint": checkpoint_path, "mean network checkpoint": mean_path}
    files |= {"options": found_options} if found_options else {}
    info = ConversionInfo("nadb", files, use_ema, num_head_channels, settings, arch, _task(options))
    pipeline = NADBPipeline(unet=unet, scheduler=scheduler, mean_net=_mean_network(mean_unet, mean_arch, mean_path))
    return pipeline, info


# ------------------------------------------------------------------------------------------------- the card
_LICENCES = {
    "i2sb": {
        "license_name": "i2sb-checkpoints-cc-by-nc-sa-4.0",
        "license_link": "https://creativecommons.org/licenses/by-nc-sa/4.0/legalcode",
        "text": "The weights are the official I2SB checkpoints by NVIDIA, shared under **CC-BY-NC-SA-4.0**: "
        "non-commercial use only, with attribution, and a remix (this conversion included) is distributed under the "
        "same licence. The official code is under the **NVIDIA Source Code License-NC** "
        f"({I2SB_REPOSITORY}/blob/master/LICENSE).",
    },
    "nadb": {
        "license_name": "nadb-release-terms",
        "license_link": NADB_REPOSITORY,
        "text": "The weights come from the official NADB release, a fork of I2SB (code under the NVIDIA Source Code "
        "License-NC) whose networks start from ADM and I2SB weights. **The terms of that release apply to these "
        "weights**: use them for non-commercial purposes only, and read the release for its exact terms.",
    },
}
_REPOSITORIES = {"i2sb": I2SB_REPOSITORY, "nadb": NADB_REPOSITORY}
# What a user of the converted weights must know about the official sampler they came from.
_SAMPLER_NOTES = {
    "nadb": "\nThe official NADB sampler evaluates the bridge with its raw weights (its two EMA context managers are "
    "joined with `and`, which enters only the second). Convert with `--no-use_ema` to reproduce its samples.\n",
}


def _architecture_line(arch: ADMArchitecture, num_head_channels: int) -> str:
    attention = [2**level for level, used in enumerate(arch.attention_levels) if used]
    return (
        f"ADM UNet: {arch.in_channels} -> {arch.out_channels} channels (cond_x1: {arch.cond_x1}), levels "
        f"{list(arch.block_out_channels)}, {arch.num_res_blocks} residual blocks per level, attention at "
        f"downsampling factors {attention} and in the middle ({num_head_channels}-channel heads), "
        f"{'residual' if arch.resblock_updown else 'convolutional'} resampling, "
        f"{'scale-shift' if arch.use_scale_shift_norm else 'additive'} time conditioning."
    )


def _card_text(info: ConversionInfo, data: ModelCardData, size: int) -> str:
    weights = "EMA" if info.use_ema else "raw (non-EMA)"
    files = "\n".join(f"| `{path.name}` | {role} |" for role, path in info.files.items())
    settings = "\n".join(f"| `{name}` | `{s.value}` | {s.source} |" for name, s in info.settings.items())
    task = info.task or "the run's task"
    sampler_note = _SAMPLER_NOTES.get(info.method, "")
    pipeline_class = get_method(info.method).pipeline_class.__name__
    return f"""---
{data.to_yaml()}
---

# {info.method.upper()} `{task}`: the official weights, converted

{get_method(info.method).description}

Converted from the official release ({_REPOSITORIES[info.method]}) with `bridge_diffusers.conversion`: the
`UNet2DModel` computes what the official guided-diffusion UNet computes. Weights taken: **{weights}**.
{sampler_note}
## Source

| file | role |
|---|---|
{files}

| setting | value | from |
|---|---|---|
{settings}

{_architecture_line(info.architecture, info.num_head_channels)}

## Use

```python
from bridge_diffusers import {pipeline_class}

pipe = {pipeline_class}.from_pretrained("<this folder>")
restored = pipe(image=degraded_image, num_inference_steps=10).images[0]
```

```bash
bridge-diffusers restore degraded.png --pipeline <this folder> --steps 10 -o restored/
```

## Inputs

The official network was trained on {size}x{size} images in [-1, 1] for `{task}` (ImageNet, degraded by that
operator, for the restoration tasks). Give it images as it saw them: {size}x{size}, degraded the same way. Other
sizes are padded and run, but they (and other degradations) lie outside what it learned. A generative restorer
can invent plausible detail: do not use its output as evidence of what a scene contained.

## Licence

{_LICENCES[info.method]["text"]}

The bridge-diffusers code that runs these weights is Apache-2.0; that licence does not extend to the weights.
"""


def write_conversion_card(folder: str | os.PathLike, info: ConversionInfo, sample_size: int) -> Path:
    """Writes ``README.md`` (front matter with the original licence and the provenance, then the card)."""
    licence = _LICENCES[info.method]
    data = ModelCardData(
        license="other",
        license_name=licence["license_name"],
        license_link=licence["license_link"],
        library_name="bridge-diffusers",
        pipeline_tag="image-to-image",
        tags=["diffusers", "diffusion-bridge", "image-restoration", info.method, "official-weights"]
        + ([info.task] if info.task else []),
        # The official weights are not on the Hub, so `base_model` (a Hub repo id) cannot name them.
        converted_from={
            "repository": _REPOSITORIES[info.method],
            "checkpoints": {role: path.name for role, path in info.files.items() if role != "options"},
            "weights": "ema" if info.use_ema else "raw",
            "options": info.files["options"].name if "options" in info.files else "official defaults",
        },
    )
    path = Path(folder) / "README.md"
    path.write_text(ModelCard(_card_text(info, data, sample_size)).content)
    return path


def save_converted(
    pipeline: I2SBPipeline | NADBPipeline,
    info: ConversionInfo,
    dump_path: str | os.PathLike,
    safe_serialization: bool = True,
) -> Path:
    """Saves a converted pipeline (``save_pretrained``) and its model card; returns the card's path."""
    pipeline.save_pretrained(dump_path, safe_serialization=safe_serialization)
    return write_conversion_card(dump_path, info, pipeline.unet.config.sample_size)


# ------------------------------------------------------------------------------------------ the two scripts
def add_conversion_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags both ``scripts/convert_*_to_diffusers.py`` share: where to read and write, which weights."""
    parser.add_argument("--checkpoint_path", required=True, help="the official run's (bridge) latest.pt")
    parser.add_argument("--dump_path", required=True, help="the pipeline folder to write")
    parser.add_argument("--options_path", default=None, help="options.pkl (default: the one beside the checkpoint)")
    parser.add_argument(
        "--use_ema", action=argparse.BooleanOptionalAction, default=True, help="EMA weights (default) or raw ones"
    )
    parser.add_argument("--num_head_channels", type=int, default=64, help="channels per attention head (official 64)")
    parser.add_argument(
        "--cond_x1",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="only checked: whether the network also takes the degraded image (its input channels decide)",
    )
    parser.add_argument(
        "--safe_serialization", action=argparse.BooleanOptionalAction, default=True, help="write safetensors"
    )


def run_conversion(convert: Callable[..., tuple[Any, ConversionInfo]], args: argparse.Namespace, **settings) -> int:
    """Runs ``convert`` (:func:`convert_i2sb` or :func:`convert_nadb`) with the shared flags and the method's
    ``settings``, saves the pipeline and its card, and turns a :class:`ConversionError` into one ``error:`` line."""
    try:
        pipeline, info = convert(
            args.checkpoint_path,
            options_path=args.options_path,
            use_ema=args.use_ema,
            num_head_channels=args.num_head_channels,
            cond_x1=args.cond_x1,
            **settings,
        )
        card = save_converted(pipeline, info, args.dump_path, args.safe_serialization)
    except ConversionError as error:
        raise SystemExit(f"error: {error}") from None
    sources = " + ".join(str(path) for path in info.files.values())
    print(f"{sources} ({'EMA' if info.use_ema else 'raw'} weights) -> {args.dump_path}; card: {card}")
    return 0
