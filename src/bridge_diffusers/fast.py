# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The fast path of the pipelines: half-precision networks, channels-last memory and ``torch.compile``.

    from bridge_diffusers.fast import optimize_pipeline

    pipe = optimize_pipeline(pipe.to("cuda"), dtype=torch.bfloat16, channels_last=True, compile=True)

Only the networks change (the bridge UNet and, for NADB and IBMD, the mean network); the schedulers are
dtype-agnostic and run in the networks' dtype, as diffusers pipelines do (in bfloat16 the shipped ``jpeg10``
pipelines move by less than 0.01 dB PSNR). Each network is compiled in place (``nn.Module.compile``), so
``pipe.unet`` stays the ``UNet2DModel`` it was (config, ``save_pretrained`` and hooks keep working).

A compiled network is compiled once per input shape. A sampling run calls it with one shape at every step, and
:func:`~bridge_diffusers.tiling.restore_tiled` gives it one shape for every tile of an image (all tiles have the
full tile size; ``pad_batch=True`` also fills the last batch of tiles), so neither a step nor a tile recompiles.
Timesteps reach the network as tensor values, never as Python numbers, so they do not either.
"""

from __future__ import annotations

import torch


__all__ = ["optimize_pipeline", "pipeline_networks", "resolve_dtype"]

_DTYPE_NAMES = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
    "half": torch.float16,
}


def resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    """``None``, a floating ``torch.dtype``, or a name (``"fp32"``, ``"bf16"``, ``"fp16"``, ``"bfloat16"``, ...)."""
    if dtype is None or isinstance(dtype, torch.dtype):
        if dtype is not None and dtype not in set(_DTYPE_NAMES.values()):
            raise ValueError(f"`dtype` must be float32, bfloat16 or float16, got {dtype}.")
        return dtype
    if isinstance(dtype, str) and dtype.lower() in _DTYPE_NAMES:
        return _DTYPE_NAMES[dtype.lower()]
    raise ValueError(f"`dtype` must be None, a torch dtype or one of {sorted(_DTYPE_NAMES)}, got {dtype!r}.")


def pipeline_networks(pipe) -> dict[str, torch.nn.Module]:
    """The networks a pipeline calls while sampling: ``unet`` and, where there is one, ``mean_net``."""
    names = ("unet", "mean_net")
    return {name: getattr(pipe, name) for name in names if isinstance(getattr(pipe, name, None), torch.nn.Module)}


def _compile_options(mode: str | None, freeze: bool, dynamic: bool | None) -> dict:
    """``torch.compile`` keywords: ``mode`` and inductor ``options`` cannot both be given, so a mode is spelled out
    as its options when freezing is added to it."""
    if not freeze:
        return {"mode": mode, "dynamic": dynamic}
    from torch._inductor import list_mode_options

    options = dict(list_mode_options(mode, dynamic)) if mode else {}
    options["freezing"] = True
    return {"options": options, "dynamic": dynamic}


def optimize_pipeline(
    pipe,
    dtype: torch.dtype | str | None = None,
    channels_last: bool = False,
    compile: bool = False,
    *,
    mode: str | None = None,
    freeze: bool | None = None,
    dynamic: bool | None = None,
):
    """Puts a pipeline's networks on the fast path, in place, and returns the pipeline.

    Call it after moving the pipeline to its device (``pipe.to("cuda")``) and use the pipeline for inference only:
    its networks should not be trained afterwards (a frozen compiled network keeps the weights it was compiled
    with).

    Args:
        pipe: a pipeline of this package (``I2SBPipeline``, ``NADBPipeline``, ``IBMDPipeline``, ...).
        dtype (`torch.dtype` or `str`, *optional*): cast the networks, ``torch.bfloat16`` (CPU and GPU) or
            ``torch.float16`` (GPU only: on the CPU it is refused, as float16 kernels there are slow or missing;
            use bfloat16); also ``"bf16"``, ``"fp16"``, ``"fp32"``. ``None`` keeps the networks' dtype.
        channels_last (`bool`, defaults to `False`): store the networks' weights (and so their activations) in
            channels-last memory format, what cuDNN's and oneDNN's fastest convolutions use.
        compile (`bool`, defaults to `False`): ``torch.compile`` each network in place (the UNet and the mean
            network). The first call of each input shape compiles (seconds to minutes); later calls of that
            shape, every step of a run and every tile of :func:`~bridge_diffusers.tiling.restore_tiled`, do not.
        mode (`str`, *optional*): ``torch.compile``'s ``mode`` (``"max-autotune"``, ``"reduce-overhead"``, ...).
        freeze (`bool`, *optional*): let inductor treat the weights as constants (``freezing``: folded and
            pre-packed for oneDNN on the CPU, 2-5x faster there). ``None``: on for a CPU pipeline, off on a GPU.
        dynamic (`bool`, *optional*): ``torch.compile``'s ``dynamic``; ``None`` compiles for the first shape and
            turns dynamic only if another shape comes.

    Returns:
        The same pipeline object.

    Raises:
        ValueError: float16 on the CPU, bfloat16 on a GPU without it, or an unknown dtype.
    """
    networks = pipeline_networks(pipe)
    if "unet" not in networks:
        raise ValueError(f"{type(pipe).__name__} has no `unet` to optimise.")
    dtype = resolve_dtype(dtype)
    device = networks["unet"].device
    if dtype == torch.float16 and device.type == "cpu":
        raise ValueError(
            "float16 on the CPU is refused: its kernels there are slow or missing. Use dtype=torch.bfloat16 on the "
            "CPU, or move the pipeline to a GPU first (`pipe.to('cuda')`) and then call optimize_pipeline."
        )
    if dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"{torch.cuda.get_device_name(device)} has no bfloat16; use dtype=torch.float16.")
    freeze = device.type == "cpu" if freeze is None else freeze
    for network in networks.values():
        if dtype is not None:
            torch.nn.Module.to(network, dtype=dtype)  # (ModelMixin.to logs a warning about float32 modules)
        if channels_last:
            torch.nn.Module.to(network, memory_format=torch.channels_last)
        if compile:
            network.compile(**_compile_options(mode, freeze, dynamic))
    return pipe
