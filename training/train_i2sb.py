#!/usr/bin/env python
# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Train an I2SB pipeline: `accelerate launch training/train_i2sb.py --output_dir out/ [flags]` (see --help)."""

from bridge_diffusers.training.trainer import main


if __name__ == "__main__":
    main("i2sb")
