# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Small helpers that the training scripts ``training/train_{i2sb,nadb,ibmd}.py`` share, each script writing its own
loop: flag groups (``args``), data (``data``), crash-safe checkpoints and step seeding (``checkpoints``), validation
logging (``validation``), model cards (``model_card``), saving and the Hub upload (``hub``), and the losses
(``losses``: bridge matching; ``ibmd``: the IBMD objective)."""

from .losses import bridge_matching_loss as bridge_matching_loss  # the loss of benchmarks/train_step.py
