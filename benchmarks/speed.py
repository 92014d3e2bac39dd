#!/usr/bin/env python
# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Sampling speed of the pipelines, and what they add over their network calls.

    python benchmarks/speed.py nfe [--presets tiny small --variants fp32 bf16 bf16-cl-compile --nfe 1 10]
    python benchmarks/speed.py tiled --pipeline pipelines/nadb-jpeg10 --size 4000x3000 [--variant bf16-cl-compile]

``nfe``: for each UNet preset, method, NFE and variant, the pipeline at NFE = N against N bare UNet forwards on
the same batch, same device, same networks (NADB and IBMD also run their mean network once per call, counted on
both sides), so the ratio isolates the pipeline's own overhead: input checks, padding, the scheduler's math,
the loop, post-processing. All variants of one (preset, method, NFE) alternate repeat by repeat, so the speed-up
of a variant over ``fp32`` (``speedup``, on the bare forwards) is measured within one run as well.

``tiled``: a large image (a photo resized to ``--size``, or a crop of it) restored by ``restore_tiled`` at the
pipeline's default NFE, against the bare network forwards on the same tiles, run batch by batch in between
(the tiled side pays for tiling, blending and the sampler on top of them).

A variant is a dtype (``fp32``, ``bf16``, ``fp16``) with ``-cl`` (channels_last) and ``-compile``
(``torch.compile``; on the CPU with inductor's freezing) appended: ``bf16-cl-compile`` is
``optimize_pipeline(pipe, torch.bfloat16, channels_last=True, compile=True)``. Compilation happens in a first,
separately timed call (``first_call_s``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

import torch

from bridge_diffusers import METHODS, MeanNetwork, create_bridge_unet, load_pipeline
from bridge_diffusers.fast import optimize_pipeline
from bridge_diffusers.models import network_input
from bridge_diffusers.tiling import pipeline_restorer, restore_tiled, tile_positions


sys.path.insert(0, str(Path(__file__).parent))
from _timing import ForeignLoad, describe_machine, interleaved_medians, sync


def parse_variant(name: str) -> dict:
    """``"bf16-cl-compile"`` -> ``optimize_pipeline`` keywords."""
    dtype, *flags = name.split("-")
    unknown = set(flags) - {"cl", "compile"}
    if dtype not in ("fp32", "bf16", "fp16") or unknown:
        raise argparse.ArgumentTypeError(f"a variant is fp32|bf16|fp16 with -cl and/or -compile, got {name!r}")
    return {"dtype": dtype, "channels_last": "cl" in flags, "compile": "compile" in flags}


def variant(name: str) -> str:
    parse_variant(name)
    return name


def build_bridge(method, preset: str, resolution: int):
    """A bridge pipeline of the registry with fresh networks (and a mean network where the method has one)."""
    mean_net = {"mean_net": MeanNetwork.from_unet(create_bridge_unet(resolution, preset=preset))}
    unet = create_bridge_unet(resolution, preset=preset)
    return method.pipeline_class(unet, method.scheduler_class(), **(mean_net if method.has_mean_net else {}))


def build(name: str, preset: str, resolution: int, variant_name: str, device: torch.device):
    torch.manual_seed(0)
    method = METHODS[name]
    if method.is_student:  # distilled from the first bridge of the registry
        teacher = next(m for m in METHODS.values() if not m.is_student)
        pipe = method.pipeline_class.from_teacher(build_bridge(teacher, preset, resolution))
    else:
        pipe = build_bridge(method, preset, resolution)
    return prepare(pipe, variant_name, device)


def prepare(pipe, variant_name: str, device: torch.device):
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    for network in (pipe.unet, getattr(pipe, "mean_net", None)):
        if network is not None:
            network.eval()
    return optimize_pipeline(pipe, **parse_variant(variant_name))


@torch.no_grad()  # as the pipelines run them (with grad on, a compiled network would compile another graph)
def bare_forwards(pipe, degraded: torch.Tensor, nfe: int) -> None:
    """What the pipeline cannot avoid: ``nfe`` UNet forwards (and the mean network's one), on inputs of the
    pipeline's shapes, dtypes and memory layouts (the time input a 0-d value expanded to the batch), as
    ``unet_forward`` passes them: a compiled network then runs the same graph on both sides."""
    x = degraded.to(pipe.unet.device, pipe.unet.dtype)
    if getattr(pipe, "mean_net", None) is not None:
        pipe.mean_net(x)
    extra = pipe.unet.config.in_channels - x.shape[1]
    net_input = torch.cat([x, torch.zeros_like(x[:, :1]).expand(-1, extra, -1, -1)], 1) if extra else x
    net_input = network_input(pipe.unet, net_input)  # the layout unet_forward passes (channels-last or not)
    time_input = torch.tensor(500.0, device=x.device).expand(x.shape[0])
    for _ in range(nfe):
        pipe.unet(net_input, time_input, return_dict=False)


def timed_call(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


# ------------------------------------------------------------------------------------------------ nfe
def measure_nfe(args, preset: str, method: str, nfe: int, device: torch.device) -> list[dict]:
    """Every variant's pipeline and bare sides for one (preset, method, NFE), interleaved."""
    images = torch.rand(args.batch_size, 3, args.resolution, args.resolution, device=device)
    sides, first_call = {}, {}
    for name in args.variants:
        pipe = build(method, preset, args.resolution, name, device)
        nfe = pipe.default_num_inference_steps if METHODS[method].is_student else nfe  # a student: its own steps

        def pipeline(pipe=pipe, nfe=nfe):
            generator = torch.Generator().manual_seed(0)
            return pipe(images, num_inference_steps=nfe, output_type="pt", generator=generator)

        def bare(pipe=pipe, nfe=nfe):
            return bare_forwards(pipe, images * 2 - 1, nfe)

        for side, run in (("pipeline", pipeline), ("bare", bare)):
            with torch.no_grad():
                first_call[f"{name}:{side}"] = timed_call(run)  # compiles a compiled variant
            sides[f"{name}:{side}"] = run
    with torch.no_grad(), ForeignLoad() as foreign:
        medians = interleaved_medians(sides, device, args.repeats, args.warmup)
    reference = medians.get("fp32:bare")
    rows = []
    for name in args.variants:
        pipeline_s, bare_s = medians[f"{name}:pipeline"], medians[f"{name}:bare"]
        rows.append({
            "preset": preset, "method": method, "nfe": nfe, "variant": name, "pipeline_s": pipeline_s,
            "bare_s": bare_s, "ratio": pipeline_s / bare_s, "speedup": reference / bare_s if reference else None,
            "first_call_s": first_call[f"{name}:pipeline"], "foreign_cpu_fraction": foreign.fraction,
        })  # fmt: skip
    return rows


# ---------------------------------------------------------------------------------------------- tiled
def parse_size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    return width, height


def load_image(args) -> tuple[torch.Tensor, torch.Tensor]:
    """The photo resized to ``--size`` (W x H), cropped to ``--crop`` if given: ``(clean, degraded)``, each
    (1, 3, H, W) in [-1, 1]."""
    import numpy as np
    import PIL.Image

    from bridge_diffusers.degradations import get_degradation

    width, height = parse_size(args.size)
    if args.photo and Path(args.photo).exists():
        photo = PIL.Image.open(args.photo).convert("RGB").resize((width, height), PIL.Image.BICUBIC)
        image = torch.from_numpy(np.array(photo)).permute(2, 0, 1)[None].float() / 127.5 - 1
    else:  # no photo folder: a smooth random image of the size
        low = torch.rand(1, 3, max(height // 64, 2), max(width // 64, 2)) * 2 - 1
        image = torch.nn.functional.interpolate(low, size=(height, width), mode="bicubic").clamp(-1, 1)
    if args.crop:
        crop_w, crop_h = parse_size(args.crop)
        image = image[..., :crop_h, :crop_w]
    clean = image.clamp(-1, 1).contiguous()
    if not args.degradation:
        return clean, clean
    degraded = get_degradation(args.degradation)(clean, generator=torch.Generator().manual_seed(0)).degraded
    return clean, degraded.clamp(-1, 1).contiguous()


def psnr(image: torch.Tensor, clean: torch.Tensor) -> float:
    """PSNR in dB on [0, 1] of [-1, 1] tensors."""
    error = ((image.float().clamp(-1, 1) - clean.float()) / 2).pow(2).mean()
    return float(10 * torch.log10(1 / error))


def measure_tiled(args, device: torch.device) -> dict:
    clean, image = load_image(args)
    pipe = prepare(load_pipeline(args.pipeline), args.variant, device)
    nfe = args.steps or pipe.default_num_inference_steps
    compiled = parse_variant(args.variant)["compile"]
    restorer = pipeline_restorer(pipe, nfe)
    bare_s, calls = [0.0], [0]

    def restore_then_bare(tiles, masks, generators):
        """The pipeline on a batch of tiles and the bare forwards on the same tiles, in turn (every other batch
        the bare side first, so that neither side always runs on the caches the other left)."""

        def bare():
            sync(device)
            start = time.perf_counter()
            bare_forwards(pipe, tiles, nfe)
            sync(device)
            bare_s[0] += time.perf_counter() - start

        calls[0] += 1
        if calls[0] % 2 == 0:
            bare()
        restored = restorer(tiles, masks, generators)
        if calls[0] % 2 == 1:
            bare()
        return restored

    height, width = image.shape[-2:]
    positions = tile_positions(height, width, args.tile, args.overlap)
    h, w = min(args.tile, height), min(args.tile, width)
    first = image[..., :h, :w].expand(args.batch_size, -1, -1, -1)
    with torch.no_grad():  # the first call of the tile shape (compiles a compiled variant)
        first_call_s = timed_call(lambda: restore_then_bare(first, None, [torch.Generator()] * args.batch_size))
    calls[0] = 0
    bare_s[0] = 0.0
    sync(device)
    with torch.no_grad(), ForeignLoad() as foreign:
        start = time.perf_counter()
        restored = restore_tiled(
            restore_then_bare, image, args.tile, args.overlap, batch_size=args.batch_size, progress=False, seed=0,
            pad_batch=compiled,
        )  # fmt: skip
        sync(device)
        wall_s = time.perf_counter() - start
    tiled_s = wall_s - bare_s[0]
    assert torch.isfinite(restored).all()
    row = {
        "pipeline": args.pipeline, "variant": args.variant, "nfe": nfe, "size": f"{width}x{height}",
        "megapixels": width * height / 1e6, "tile": args.tile, "overlap": args.overlap, "tiles": len(positions),
        "batch_size": args.batch_size, "tiled_restore_s": tiled_s, "bare_forwards_s": bare_s[0],
        "ratio": tiled_s / bare_s[0], "first_call_s": first_call_s, "foreign_cpu_fraction": foreign.fraction,
        "psnr_restored": psnr(restored, clean), "psnr_degraded": psnr(image, clean),
    }  # fmt: skip
    if args.crop:  # the tiles of the full size cost the same each: scale by the tile counts
        full_w, full_h = parse_size(args.size)
        full_tiles = len(tile_positions(full_h, full_w, args.tile, args.overlap))
        row.update(
            full_size=args.size, full_tiles=full_tiles, extrapolated_full_s=tiled_s * full_tiles / len(positions)
        )
    return row


# ----------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", default=None, help="write the rows here")
    modes = parser.add_subparsers(dest="mode", required=True)
    nfe = modes.add_parser("nfe", help="pipeline vs bare forwards per preset, method, NFE and variant")
    nfe.add_argument("--presets", nargs="+", default=["tiny", "small"])
    nfe.add_argument("--resolution", type=int, default=64)
    nfe.add_argument("--batch_size", type=int, default=4)
    nfe.add_argument("--nfe", type=int, nargs="+", default=[1, 10])
    nfe.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    nfe.add_argument("--variants", nargs="+", type=variant, default=["fp32", "bf16", "bf16-cl-compile"])
    nfe.add_argument("--repeats", type=int, default=10)
    nfe.add_argument("--warmup", type=int, default=2)
    tiled = modes.add_parser("tiled", help="a large image restored tile by tile vs the bare forwards on its tiles")
    tiled.add_argument("--pipeline", default="pipelines/nadb-jpeg10")
    tiled.add_argument("--size", default="4000x3000", help="W x H the photo is resized to")
    tiled.add_argument("--crop", default=None, help="W x H: restore this top-left crop and extrapolate by tiles")
    tiled.add_argument("--photo", default="photos/mate/Wood.jpg", help="a photo (else a smooth random image)")
    tiled.add_argument("--degradation", default="jpeg10-pillow")
    tiled.add_argument("--variant", type=variant, default="fp32")
    tiled.add_argument("--steps", type=int, default=None, help="NFE (default: the pipeline's)")
    tiled.add_argument("--tile", type=int, default=512)
    tiled.add_argument("--overlap", type=int, default=64)
    tiled.add_argument("--batch_size", type=int, default=1)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    load_before = os.getloadavg()
    rows = []
    if args.mode == "nfe":
        for preset in args.presets:
            for method in args.methods:
                for count in [1] if METHODS[method].is_student else args.nfe:
                    for row in measure_nfe(args, preset, method, count, device):
                        rows.append(row)
                        print(json.dumps(row), flush=True)
    else:
        rows.append(measure_tiled(args, device))
        print(json.dumps(rows[-1]), flush=True)
    result = {"date": date.today().isoformat(), "machine": describe_machine(device), "command": sys.argv,
              "config": vars(args), "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
              "rows": rows}  # fmt: skip
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
