#!/usr/bin/env python
# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Training-step overhead of the bridge loss over a bare UNet2DModel step on the same batch.

    python benchmarks/train_step.py [--preset small --resolution 32 --batch_size 16 --repeats 20]

Both loops do forward + backward + AdamW on one UNet and one batch; the bridge loop adds what the methods add
(time and noise draws, the bridge marginal, the target, the float32 loss). The two are timed interleaved, one
step each in turn, so that machine noise hits both alike; the ratio of medians is reported (target <= 1.05).
NADB's frozen mean-network forward is a second network, reported separately, not counted as overhead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from bridge_diffusers import I2SBScheduler, MeanNetwork, NADBScheduler, create_bridge_unet
from bridge_diffusers.imaging import to_signed_range
from bridge_diffusers.training import bridge_matching_loss


sys.path.insert(0, str(Path(__file__).parent))
from _timing import describe_machine, interleaved_medians


def make_steps(args, device):
    unet = create_bridge_unet(args.resolution, preset=args.preset).to(device)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=1e-4)
    shape = (args.batch_size, 3, args.resolution, args.resolution)
    clean = to_signed_range(torch.rand(shape, device=device))
    degraded = (clean + 0.2 * torch.randn_like(clean)).clamp(-1, 1)
    target = torch.randn_like(clean)
    timesteps = torch.randint(0, 1000, (args.batch_size,), device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)
    mean_net = MeanNetwork.from_unet(create_bridge_unet(args.resolution, preset=args.preset)).to(device).eval()

    def optimise(loss):
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def bare():
        with autocast:
            output = unet(clean, timesteps).sample
        optimise(F.mse_loss(output.float(), target))

    def bridge(scheduler, endpoint_fn=None):
        def step():
            with autocast:
                endpoint = degraded
                if endpoint_fn is not None:
                    with torch.no_grad():
                        endpoint = endpoint_fn(degraded)
                loss = bridge_matching_loss(unet, scheduler, clean, endpoint, generator=generator)
            optimise(loss)

        return step

    return {
        "bare": bare,
        "i2sb": bridge(I2SBScheduler()),
        "nadb": bridge(NADBScheduler()),
        "nadb+mean_net": bridge(NADBScheduler(), mean_net),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bf16", action="store_true", help="autocast to bfloat16 (the loss stays float32)")
    parser.add_argument("--json", type=str, default=None, help="also write the results here")
    args = parser.parse_args()
    device = torch.device(args.device)
    steps = make_steps(args, device)
    medians = interleaved_medians(steps, device, args.repeats, args.warmup)
    result = {
        "machine": describe_machine(device),
        "config": vars(args),
        "median_step_s": medians,
        "ratio_to_bare": {name: medians[name] / medians["bare"] for name in medians},
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
