# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Converts an official NADB run (github.com/gyr02/NADB) into an ``NADBPipeline`` folder.

    python scripts/convert_nadb_to_diffusers.py --checkpoint_path results/jpeg-5/latest.pt --dump_path nadb-jpeg-5

Takes the bridge ``latest.pt``, the mean network ``x10.pt`` (by default beside it) and ``options.pkl`` beside the
checkpoint when there is one (``--alpha`` and ``--k`` override its fields; without the file the official training
defaults apply). The EMA weights of both networks are taken unless ``--no-use_ema``. ``--target_scale`` defaults to
2.0, the official runner's (it trains the bridge on twice the target); ``--threshold`` to the official
``--d smallest``. The model card states that the terms of the NADB release apply (non-commercial use). The
official networks were trained on 256x256 images: the converted pipeline expects images as they saw them.
"""

from __future__ import annotations

import argparse
import sys

from bridge_diffusers.conversion import add_conversion_arguments, convert_nadb, run_conversion


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_conversion_arguments(parser)
    parser.add_argument(
        "--mean_checkpoint_path", default=None, help="the mean network x10.pt (default: the one beside the checkpoint)"
    )
    parser.add_argument("--alpha", type=float, default=None, help="interpolant exponent (official 0.4)")
    parser.add_argument("--k", type=float, default=None, help="bridge noise scale (official 0.75)")
    parser.add_argument("--threshold", type=float, default=None, help="Algorithm 2's d (default (1-alpha)/(2-alpha))")
    parser.add_argument("--target_scale", type=float, default=None, help="network output / target (official 2.0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = {"alpha": args.alpha, "k": args.k, "threshold": args.threshold, "target_scale": args.target_scale}
    return run_conversion(convert_nadb, args, mean_checkpoint_path=args.mean_checkpoint_path, **settings)


if __name__ == "__main__":
    sys.exit(main())
