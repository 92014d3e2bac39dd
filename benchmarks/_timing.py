# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Interleaved timing for the benchmarks: every side runs once per repeat, in turn, so machine noise hits all."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_medians(
    sides: dict[str, Callable[[], object]], device: torch.device, repeats: int, warmup: int
) -> dict[str, float]:
    """Median wall time (s) of each side over ``repeats`` rounds after ``warmup`` rounds."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for repeat in range(warmup + repeats):
        for name, run in sides.items():
            sync(device)
            start = time.perf_counter()
            run()
            sync(device)
            if repeat >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def describe_machine(device: torch.device) -> str:
    machine = f"{platform.machine()}, torch {torch.__version__}, {device}"
    if device.type == "cuda":
        return f"{machine} ({torch.cuda.get_device_name(device)})"
    return f"{machine}, {torch.get_num_threads()} threads"
