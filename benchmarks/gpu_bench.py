#!/usr/bin/env python
# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The GPU numbers in one run: the ADM-256 UNet against its FLOP floor, the pipelines' overhead, training speed.

    python benchmarks/gpu_bench.py --out DIR [--batch_size 16 --deadline 420]   # what benchmarks/gpu.sh runs
    python benchmarks/gpu_bench.py --smoke --out DIR                            # the same code, tiny, on the CPU

1. ``unet``: ``UNET_PRESETS["adm256"]`` (the converted official I2SB/NADB network, 3 channels, 256x256) forward in
   ms per image, for each variant (``fp32``, ``bf16``, ``bf16-cl-compile`` as in ``benchmarks/speed.py``), in
   one module cast step by step, timed with CUDA events (median of ``--iters`` batches after ``--warmup``). The
   FLOPs of one forward are counted by ``torch.utils.flop_counter.FlopCounterMode``; the FLOP floor is
   FLOPs / peak, with the peak both from the datasheet (``PEAK_BF16_DENSE_TFLOPS``, by device name) and from
   an 8192^3 bfloat16 matrix product measured here.
2. ``pipelines``: I2SB and NADB (without a mean network: its one forward would sit on both sides) at NFE 1 and
   10 on the last variant's UNet, as ``pipe.restore`` on [-1, 1] device tensors and as ``pipe(...)`` with
   ``output_type="pt"``, against the bare forwards (interleaved repeats, ratio of medians).
3. ``training``: images per second of I2SB bridge-matching steps (forward, backward, AdamW) on a fresh ADM-256
   UNet in bfloat16 autocast, eager.

The results go to ``DIR/gpu_bench.json`` (rewritten after every section, so a run cut short keeps what it
measured) and ``DIR/gpu_bench.md``. A section that would start after ``--deadline`` seconds is skipped and
recorded as skipped.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import torch


sys.path.insert(0, str(Path(__file__).parent))
from _timing import describe_machine, interleaved_medians, sync
from speed import bare_forwards, parse_variant, variant

from bridge_diffusers import I2SBPipeline, I2SBScheduler, NADBPipeline, NADBScheduler, create_bridge_unet
from bridge_diffusers.fast import optimize_pipeline


# Dense (no sparsity) bfloat16 tensor-core peaks in TFLOP/s, from NVIDIA's datasheets (the sparse figure halved);
# matched against torch.cuda.get_device_name, longest name first. SXM parts unless the name says otherwise.
PEAK_BF16_DENSE_TFLOPS = {
    "B200": 2250.0,
    "H200 NVL": 835.5,
    "H200": 989.4,
    "GH200": 989.4,
    "H100 NVL": 835.5,
    "H100 PCIe": 756.0,
    "H100": 989.4,
    "A100": 312.0,
    "L40S": 362.05,
    "L4": 121.0,
    "RTX 4090": 165.2,
}


def datasheet_peak(device_name: str) -> tuple[str | None, float | None]:
    for key in sorted(PEAK_BF16_DENSE_TFLOPS, key=len, reverse=True):
        if key.lower() in device_name.lower():
            return key, PEAK_BF16_DENSE_TFLOPS[key] * 1e12
    return None, None


def event_median(function, device: torch.device, iters: int, warmup: int) -> float:
    """Median seconds of ``function`` (CUDA events on a GPU, the wall clock elsewhere)."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(iters):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            function()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1000)
        else:
            begin = time.perf_counter()
            function()
            times.append(time.perf_counter() - begin)
    return statistics.median(times)


def measured_matmul_peak(device: torch.device, size: int) -> float:
    """FLOP/s of a size^3 bfloat16 matrix product (mean of 10 after 3 warm-ups)."""
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    sync(device)
    return 10 * 2 * size**3 / (time.perf_counter() - start)


def forward_flops(unet, resolution: int, device: torch.device) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(1, unet.config.in_channels, resolution, resolution, device=device, dtype=unet.dtype)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        unet(x, torch.tensor(500.0, device=device).expand(1), return_dict=False)
    return counter.get_total_flops()


def section_unet(args, device, result, pipes) -> None:
    unet = pipes["i2sb"].unet
    flops = forward_flops(unet, args.resolution, device)
    x = torch.randn(args.batch_size, unet.config.in_channels, args.resolution, args.resolution, device=device)
    time_input = torch.tensor(500.0, device=device).expand(args.batch_size)
    rows = []
    for name in args.variants:
        options = parse_variant(name)
        for pipe in pipes.values():  # the pipelines share the one UNet: it is cast and compiled once
            pipe.unet.eval()
        began = time.perf_counter()
        optimize_pipeline(pipes["i2sb"], **options)
        net_input = x.to(unet.dtype)

        def forward(net_input=net_input):
            with torch.no_grad():
                unet(net_input, time_input, return_dict=False)

        forward()  # the first call (compiles a compiled variant)
        sync(device)
        first_call_s = time.perf_counter() - began
        seconds = event_median(forward, device, args.iters, args.warmup)
        ms_per_image = 1000 * seconds / args.batch_size
        row = {"variant": name, "ms_per_image": ms_per_image, "batch_size": args.batch_size,
               "first_call_s": first_call_s, "achieved_tflops": flops / (ms_per_image / 1000) / 1e12}  # fmt: skip
        for label, peak in (("datasheet", result["peak_flops"]), ("matmul", result["matmul_flops"])):
            if peak:
                floor_ms = 1000 * flops / peak
                row[f"floor_ms_{label}"] = floor_ms
                row[f"x_floor_{label}"] = ms_per_image / floor_ms
        rows.append(row)
        print(json.dumps(row), flush=True)
    result["unet"] = {"preset": args.preset, "resolution": args.resolution, "flops_per_image": flops, "rows": rows}


def section_pipelines(args, device, result, pipes) -> None:
    images = torch.rand(args.batch_size, 3, args.resolution, args.resolution, device=device)
    signed = (images * 2 - 1).to(pipes["i2sb"].unet.dtype)
    rows = []
    for method, pipe in pipes.items():
        for nfe in args.nfe:

            def restore(pipe=pipe, nfe=nfe):
                return pipe.restore(signed, None, nfe, torch.Generator(device).manual_seed(0))

            def call(pipe=pipe, nfe=nfe):
                return pipe(images, num_inference_steps=nfe, output_type="pt", generator=torch.Generator(device))

            def bare(pipe=pipe, nfe=nfe):
                bare_forwards(pipe, signed, nfe)

            sides = {"restore": restore, "call": call, "bare": bare}
            with torch.no_grad():
                medians = interleaved_medians(sides, device, args.repeats, args.warmup)
            row = {"method": method, "nfe": nfe, "variant": args.variants[-1],
                   **{f"{side}_s": seconds for side, seconds in medians.items()},
                   "restore_ratio": medians["restore"] / medians["bare"],
                   "call_ratio": medians["call"] / medians["bare"]}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    result["pipelines"] = {"batch_size": args.batch_size, "rows": rows}


def section_training(args, device, result) -> None:
    from bridge_diffusers.training import bridge_matching_loss

    torch.manual_seed(0)
    unet = create_bridge_unet(args.resolution, preset=args.preset).to(device).train()
    optimizer = torch.optim.AdamW(unet.parameters(), lr=1e-4)
    scheduler = I2SBScheduler()
    shape = (args.train_batch_size, 3, args.resolution, args.resolution)
    clean = torch.rand(shape, device=device) * 2 - 1
    degraded = (clean + 0.2 * torch.randn_like(clean)).clamp(-1, 1)
    generator = torch.Generator(device).manual_seed(0)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = bridge_matching_loss(unet, scheduler, clean, degraded, generator=generator)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    seconds = event_median(step, device, args.iters, args.warmup)
    row = {"method": "i2sb", "precision": "bf16 autocast", "batch_size": args.train_batch_size,
           "step_s": seconds, "images_per_s": args.train_batch_size / seconds}  # fmt: skip
    if device.type == "cuda":
        row["max_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    print(json.dumps(row), flush=True)
    result["training"] = row


def write(result: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_bench.json").write_text(json.dumps(result, indent=2))
    lines = [f"# GPU benchmark ({result['date']}, {result['machine']})", ""]
    if "unet" in result:
        unet = result["unet"]
        lines += [f"UNet `{unet['preset']}` at {unet['resolution']} px: {unet['flops_per_image'] / 1e9:.1f} GFLOP per "
                  "image (FlopCounterMode)", "", "| variant | ms/img | x floor (datasheet) | x floor (matmul) | "
                  "first call (s) |", "|---|---|---|---|---|"]  # fmt: skip
        for row in unet["rows"]:
            lines.append(f"| {row['variant']} | {row['ms_per_image']:.3f} | {row.get('x_floor_datasheet', 0):.2f} | "
                         f"{row.get('x_floor_matmul', 0):.2f} | {row['first_call_s']:.1f} |")  # fmt: skip
    if "pipelines" in result:
        lines += ["", "| method | NFE | restore / bare | pipe() / bare |", "|---|---|---|---|"]
        for row in result["pipelines"]["rows"]:
            lines.append(f"| {row['method']} | {row['nfe']} | {row['restore_ratio']:.3f} | {row['call_ratio']:.3f} |")
    if "training" in result:
        lines += ["", f"Training: {result['training']['images_per_s']:.1f} images/s (batch "
                  f"{result['training']['batch_size']}, {result['training']['precision']})"]  # fmt: skip
    if result["skipped"]:
        lines += ["", f"Skipped (deadline): {', '.join(result['skipped'])}"]
    (out / "gpu_bench.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/gpu")
    parser.add_argument("--smoke", action="store_true", help="tiny UNet, few iterations: a check of this script")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--preset", default="adm256")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--train_batch_size", type=int, default=16)
    parser.add_argument("--variants", nargs="+", type=variant, default=["fp32", "bf16", "bf16-cl-compile"])
    parser.add_argument("--nfe", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats of the pipeline section")
    parser.add_argument("--matmul_size", type=int, default=8192)
    parser.add_argument("--deadline", type=float, default=420.0, help="seconds after which no section starts")
    args = parser.parse_args(argv)
    if args.smoke:
        args.preset, args.resolution, args.batch_size, args.train_batch_size = "tiny", 32, 2, 2
        args.iters, args.warmup, args.repeats, args.matmul_size, args.nfe = 2, 1, 2, 256, [1, 2]
    started = time.perf_counter()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak_key, peak = datasheet_peak(name) if device.type == "cuda" else (None, None)
    result = {
        "date": date.today().isoformat(), "machine": describe_machine(device), "device_name": name,
        "torch": torch.__version__, "command": sys.argv, "config": vars(args), "peak_key": peak_key,
        "peak_flops": peak, "matmul_flops": measured_matmul_peak(device, args.matmul_size),
        "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32, "skipped": [],
    }  # fmt: skip
    out = Path(args.out)
    torch.manual_seed(0)
    unet = create_bridge_unet(args.resolution, preset=args.preset).to(device)
    pipes = {"i2sb": I2SBPipeline(unet, I2SBScheduler()), "nadb": NADBPipeline(unet, NADBScheduler())}
    for pipe in pipes.values():
        pipe.set_progress_bar_config(disable=True)
    sections = [
        ("unet", lambda: section_unet(args, device, result, pipes)),
        ("pipelines", lambda: section_pipelines(args, device, result, pipes)),
        ("training", lambda: section_training(args, device, result)),
    ]
    for section, run in sections:
        if time.perf_counter() - started > args.deadline:
            result["skipped"].append(section)
        else:
            run()
        result["elapsed_s"] = time.perf_counter() - started
        write(result, out)
    return result


if __name__ == "__main__":
    main()
