# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Interleaved timing for the benchmarks: every side runs once per repeat, in turn, so machine noise hits all."""

from __future__ import annotations

import os
import platform
import resource
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


class ForeignLoad:
    """How much CPU other processes used while a measurement ran (Linux ``/proc/stat``), so that a noisy run can be
    told from a clean one: ``fraction`` is their CPU time over the wall time of every core (0 on a quiet machine).
    """

    def __enter__(self) -> ForeignLoad:
        self.start = self._busy(), self._own(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        busy, own, wall = self._busy(), self._own(), time.perf_counter()
        foreign = (busy - self.start[0]) - (own - self.start[1])
        self.cpu_s = max(foreign, 0.0) if busy >= 0 else float("nan")
        self.fraction = self.cpu_s / ((wall - self.start[2]) * (os.cpu_count() or 1))

    @staticmethod
    def _busy() -> float:
        """CPU seconds all processes spent busy since boot, or -1 where /proc/stat is missing."""
        try:
            with open("/proc/stat") as stat:
                fields = [float(v) for v in stat.readline().split()[1:]]
        except OSError:
            return -1.0
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
