# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Converts an official I2SB run (github.com/NVlabs/I2SB) into an ``I2SBPipeline`` folder.

    python scripts/convert_i2sb_to_diffusers.py --checkpoint_path results/jpeg-5/latest.pt --dump_path i2sb-jpeg-5

Reads ``options.pkl`` beside the checkpoint when there is one (every field below can be overridden by its flag;
without the file the official training defaults apply), takes the EMA weights unless ``--no-use_ema``, and writes
the pipeline (safetensors) with a model card that carries the original licence: the weights are CC-BY-NC-SA-4.0,
the official code NVIDIA Source Code License-NC. The official networks were trained on 256x256 images: the
converted pipeline expects images as they saw them.
"""

from __future__ import annotations

import argparse
import sys

from bridge_diffusers.conversion import add_conversion_arguments, convert_i2sb, run_conversion


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_conversion_arguments(parser)
    parser.add_argument(
        "--beta_max", type=float, default=None, help="schedule scale (official 0.3; 1.0 for blur/inpaint)"
    )
    parser.add_argument("--interval", type=int, default=None, help="number of training steps (official 1000)")
    parser.add_argument("--ot_ode", action=argparse.BooleanOptionalAction, default=None, help="OT-ODE sampling")
    parser.add_argument(
        "--clip_denoise", action=argparse.BooleanOptionalAction, default=None, help="clamp x0-hat to [-1, 1]"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = {"beta_max": args.beta_max, "interval": args.interval, "ot_ode": args.ot_ode}
    return run_conversion(convert_i2sb, args, clip_denoise=args.clip_denoise, **settings)


if __name__ == "__main__":
    sys.exit(main())
