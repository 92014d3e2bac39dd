# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Bridge schedulers: all of the bridge math of the package, one method per file."""

from .scheduling_bridge import BridgeInputs, BridgeScheduler, BridgeSchedulerOutput, uniform_grid
from .scheduling_i2sb import I2SBScheduler, i2sb_betas
from .scheduling_ibmd import TEACHER_SCHEDULERS, IBMDScheduler
from .scheduling_nadb import NADBScheduler, default_threshold


__all__ = [
    "TEACHER_SCHEDULERS",
    "BridgeInputs",
    "BridgeScheduler",
    "BridgeSchedulerOutput",
    "I2SBScheduler",
    "IBMDScheduler",
    "NADBScheduler",
    "default_threshold",
    "i2sb_betas",
    "uniform_grid",
]
