#!/usr/bin/env python
# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Distil a trained I2SB/NADB pipeline into a one- or few-step IBMD student:
`accelerate launch training/train_ibmd.py --teacher out/nadb-jpeg10 --task jpeg10 --output_dir out/ibmd [flags]`."""

from bridge_diffusers.training.ibmd_trainer import main


if __name__ == "__main__":
    main()
