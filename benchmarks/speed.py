#!/usr/bin/env python
# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Sampling overhead of the pipelines: pipeline time at NFE = N against N bare UNet forwards on the same batch.

    python benchmarks/speed.py [--preset small --resolution 64 --batch_size 4 --nfe 1 10 --dtype fp32 bf16]

Both sides run under torch.no_grad on the same device and dtype; the pipeline side includes everything a user
pays for with tensor input and ``output_type="pt"`` (input checks, padding, the scheduler's math, the loop,
post-processing). NADB also runs its mean network once per call; that forward is counted on the bare side
too (N bridge forwards + 1 mean forward), so the ratio isolates the pipeline's own overhead (target <= 1.05).
The two sides alternate, repeat by repeat, and the ratio of medians is reported.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from bridge_diffusers import METHODS, MeanNetwork, create_bridge_unet
from bridge_diffusers.imaging import to_signed_range


sys.path.insert(0, str(Path(__file__).parent))
from _timing import describe_machine, interleaved_medians


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def build_bridge(method, args):
    """A bridge pipeline of the registry with a fresh UNet (and a mean network where the method has one)."""
    mean_net = {"mean_net": MeanNetwork.from_unet(create_bridge_unet(args.resolution, preset=args.preset))}
    unet = create_bridge_unet(args.resolution, preset=args.preset)
    return method.pipeline_class(unet, method.scheduler_class(), **(mean_net if method.has_mean_net else {}))


def build(name: str, args, device, dtype):
    method = METHODS[name]
    if method.is_student:  # distilled from the first bridge of the registry
        teacher = next(m for m in METHODS.values() if not m.is_student)
        pipe = method.pipeline_class.from_teacher(build_bridge(teacher, args))
    else:
        pipe = build_bridge(method, args)
    pipe = pipe.to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    if args.compile:
        pipe.unet = torch.compile(pipe.unet)
    return pipe


def bare_forwards(pipe, images: torch.Tensor, nfe: int, dtype) -> None:
    """What the pipeline cannot avoid: ``nfe`` UNet forwards (and NADB's one mean-network forward)."""
    x = to_signed_range(images.to(dtype))
    if getattr(pipe, "mean_net", None) is not None:
        pipe.mean_net(x)
    extra = pipe.unet.config.in_channels - x.shape[1]
    net_input = torch.cat([x, torch.zeros_like(x[:, :1]).expand(-1, extra, -1, -1)], 1) if extra else x
    time_input = torch.full((x.shape[0],), 500.0, device=x.device)
    for _ in range(nfe):
        pipe.unet(net_input, time_input, return_dict=False)


def measure(args, method: str, nfe: int, dtype_name: str, device: torch.device) -> dict:
    dtype = DTYPES[dtype_name]
    pipe = build(method, args, device, dtype)
    images = torch.rand(args.batch_size, 3, args.resolution, args.resolution, device=device)
    nfe = pipe.default_num_inference_steps if METHODS[method].is_student else nfe  # a student runs its own steps
    sides = {
        "pipeline": lambda: pipe(
            images, num_inference_steps=nfe, output_type="pt", generator=torch.Generator().manual_seed(0)
        ),
        "bare": lambda: bare_forwards(pipe, images, nfe, dtype),
    }
    with torch.no_grad():
        medians = interleaved_medians(sides, device, args.repeats, args.warmup)
    pipeline_s, bare_s = medians["pipeline"], medians["bare"]
    return {"method": method, "nfe": nfe, "dtype": dtype_name, "compile": args.compile,
            "pipeline_s": pipeline_s, "bare_s": bare_s, "ratio": pipeline_s / bare_s}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--nfe", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--dtype", nargs="+", default=["fp32"], choices=sorted(DTYPES))
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNet (GPU)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    rows = []
    for dtype_name in args.dtype:
        for method in args.methods:
            for nfe in [1] if METHODS[method].is_student else args.nfe:
                rows.append(measure(args, method, nfe, dtype_name, device))
                print(json.dumps(rows[-1]))
    result = {"machine": describe_machine(device), "config": vars(args), "rows": rows}
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
