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

from bridge_diffusers import (
    I2SBPipeline,
    I2SBScheduler,
    IBMDPipeline,
    IBMDScheduler,
    MeanNetwork,
    NADBPipeline,
    NADBScheduler,
    create_bridge_unet,
    expand_input_channels,
)


sys.path.insert(0, str(Path(__file__).parent))
from _timing import describe_machine, interleaved_medians


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def build(method: str, args, device, dtype):
    unet = create_bridge_unet(args.resolution, preset=args.preset)
    if method == "i2sb":
        pipe = I2SBPipeline(unet, I2SBScheduler())
    elif method == "nadb":
        mean_net = MeanNetwork.from_unet(create_bridge_unet(args.resolution, preset=args.preset))
        pipe = NADBPipeline(unet, NADBScheduler(), mean_net)
    else:
        pipe = IBMDPipeline(expand_input_channels(unet, 3), IBMDScheduler.from_teacher(I2SBScheduler()))
    pipe = pipe.to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    if args.compile:
        pipe.unet = torch.compile(pipe.unet)
    return pipe


def bare_forwards(pipe, images: torch.Tensor, nfe: int, dtype) -> None:
    """What the pipeline cannot avoid: ``nfe`` UNet forwards (and NADB's one mean-network forward)."""
    x = images.to(dtype) * 2 - 1
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
    steps = {} if method == "ibmd" else {"num_inference_steps": nfe}
    nfe = 1 if method == "ibmd" else nfe
    sides = {
        "pipeline": lambda: pipe(images, output_type="pt", generator=torch.Generator().manual_seed(0), **steps),
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
    parser.add_argument("--methods", nargs="+", default=["i2sb", "nadb", "ibmd"])
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
            for nfe in args.nfe if method != "ibmd" else [1]:
                rows.append(measure(args, method, nfe, dtype_name, device))
                print(json.dumps(rows[-1]))
    result = {"machine": describe_machine(device), "config": vars(args), "rows": rows}
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
