# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The ``bridge-diffusers`` command line: degrade, restore, evaluate, diagnose and showcase.

bridge-diffusers degrade photo.png --task jpeg10 -o degraded/
bridge-diffusers restore degraded/ --task jpeg10 --method nadb -o restored/      (a pipeline of the catalogue)
bridge-diffusers restore photo.png --pipeline out/nadb-jpeg10 --steps 10 -o restored/
bridge-diffusers evaluate --pipeline out/i2sb --pipeline out/nadb --task blur-uni --nfe 1 10 100 -o eval/
bridge-diffusers showcase -o showcase/      (held-out photos through every shipped pipeline, side by side)

Training is ``accelerate launch training/train_<method>.py`` (see the README).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from .imaging import signed_to_image, to_signed_range
from .methods import METHODS


__all__ = ["main"]

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def _expand_inputs(inputs: Sequence[str]) -> list[Path]:
    """Files as given, and the images inside given folders (sorted)."""
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            paths += sorted(p for p in path.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        elif path.is_file():
            paths.append(path)
        else:
            raise SystemExit(f"error: input {item!r} does not exist")
    if not paths:
        raise SystemExit("error: no input images found")
    return paths


def _open_image(path: Path) -> PIL.Image.Image:
    try:
        with PIL.Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, PIL.UnidentifiedImageError) as error:
        raise SystemExit(f"error: cannot read {path} as an image: {error}") from None


def _save(image: torch.Tensor, path: Path) -> None:
    """Saves (1, C, H, W) in [-1, 1] as a lossless PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    signed_to_image(image).save(path)


# ------------------------------------------------------------------------------------------- commands
def cmd_degrade(args: argparse.Namespace) -> None:
    from .degradations import get_degradation
    from .pipelines import images_to_tensor

    degradation = get_degradation(args.task)
    for index, path in enumerate(_expand_inputs(args.inputs)):
        image = to_signed_range(images_to_tensor(_open_image(path)))
        out = degradation(image, generator=torch.Generator().manual_seed(args.seed + index))
        _save(out.degraded, Path(args.output) / f"{path.stem}.png")
        if out.mask is not None:
            _save(to_signed_range(out.mask), Path(args.output) / f"{path.stem}_mask.png")
        print(f"{path} -> {Path(args.output) / f'{path.stem}.png'}")


def _pipeline_location(args: argparse.Namespace) -> str:
    """``--pipeline`` as given, else the ``<method>-<task>`` pipeline of the catalogue."""
    from .catalogue import find_pipeline

    if args.pipeline:
        return args.pipeline
    if not args.task:
        raise SystemExit("error: pass --pipeline PATH_OR_REPO, or --task (and --method) to use a shipped pipeline")
    try:
        return find_pipeline(args.method, args.task).location
    except ValueError as error:
        raise SystemExit(f"error: {error}; pass --pipeline") from None


def cmd_restore(args: argparse.Namespace) -> None:
    from accelerate import PartialState
    from tqdm.auto import tqdm

    from .pipelines import images_to_tensor, load_pipeline, mask_to_tensor
    from .tiling import restore_tiled

    state = PartialState()  # one process, or one per process under `accelerate launch`
    pipe = load_pipeline(_pipeline_location(args)).to(state.device)
    pipe.set_progress_bar_config(disable=True)
    paths = _expand_inputs(args.inputs)
    with state.split_between_processes(list(enumerate(paths))) as mine:
        for index, path in tqdm(mine, desc="restoring", disable=not state.is_local_main_process or len(mine) < 2):
            image = to_signed_range(images_to_tensor(_open_image(path)))
            mask = mask_to_tensor(PIL.Image.open(args.mask), 1, image.shape[-2:]) if args.mask else None
            generator = torch.Generator().manual_seed(args.seed + index)  # one stream for all tiles of the image

            def restore(tile, tile_mask, generator=generator):
                return pipe.restore(tile, tile_mask, args.steps, generator)

            restored = restore_tiled(restore, image, args.tile_size, args.tile_overlap, mask)
            target = Path(args.output) / f"{path.stem}.png"
            _save(restored, target)
            print(f"{path} -> {target}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .evaluation import evaluate_pipelines, make_evaluation_set, plot_metric_curves, save_image_grid, write_table

    evaluation_set = make_evaluation_set(
        args.task, args.resolution, args.crops_per_image, seed=args.seed, scale=args.scale, photos=args.photo_dir
    )
    print(f"evaluation set: {evaluation_set.description}, task {args.task}")
    rows, restorations = evaluate_pipelines(
        evaluation_set, args.pipeline, args.nfe, args.student_nfe, args.seed, args.batch_size, not args.no_fd
    )
    grid = [evaluation_set.clean, *restorations]
    stem = Path(args.output_dir) / f"eval_{args.task}"
    for written in write_table(rows, stem, args.formats):
        print(f"wrote {written}")
    print(f"wrote {plot_metric_curves(rows, stem.with_name(stem.name + '_nfe.png'))}")
    print(f"wrote {save_image_grid(grid, stem.with_name(stem.name + '_samples.png'))}")


def cmd_diagnose(args: argparse.Namespace) -> None:
    """NADB's endpoint-underfitting analysis: output-to-target variance ratio and cosine along t, per pipeline."""
    from .evaluation import make_evaluation_set
    from .methods import method_of
    from .metrics import bridge_diagnostics, plot_endpoint_diagnostics
    from .pipelines import load_pipeline

    evaluation_set = make_evaluation_set(
        args.task, args.resolution, args.crops_per_image, seed=args.seed, scale=args.scale, photos=args.photo_dir
    )
    degraded, mask = evaluation_set.degraded.clamp(-1, 1), evaluation_set.mask
    results = {}
    for path in args.pipeline:
        pipe = load_pipeline(path)
        pipe.unet.eval()
        scheduler = pipe.scheduler
        with torch.no_grad():  # where the pipeline starts its bridge, and what its network sees besides x_t
            endpoint, condition = pipe.prepare_endpoint(degraded, mask, torch.Generator().manual_seed(args.seed))
        low, high = scheduler.clean_index, scheduler.endpoint_index
        # dense near the clean end, where underfitting shows, and uniform elsewhere
        grid = sorted({round(float(v)) for v in np.geomspace(max(low, 1), high, args.points)} | {high})

        def model_fn(x_t, timesteps, pipe=pipe, condition=condition):
            with torch.no_grad():
                return pipe.model_output(x_t, timesteps, condition)

        name = f"{method_of(pipe).title} ({Path(path).name})"
        results[name] = bridge_diagnostics(
            scheduler, model_fn, evaluation_set.clean, endpoint, grid, torch.Generator().manual_seed(args.seed)
        )
    output = Path(args.output)
    plot_endpoint_diagnostics(results, output, title=f"endpoint diagnostics, {args.task}")
    summary = {name: {k: np.asarray(v).tolist() for k, v in vars(d).items()} for name, d in results.items()}
    output.with_suffix(".json").write_text(json.dumps(summary, indent=2))
    print(f"wrote {output} and {output.with_suffix('.json')}")


def cmd_showcase(args: argparse.Namespace) -> None:
    from .catalogue import shipped_pipelines_dir
    from .evaluation import markdown_table
    from .showcase import load_showcase_photos, run_showcase

    try:
        photos = load_showcase_photos(args.photos, args.scale, args.photo_dir)
        began = time.perf_counter()
        rows = run_showcase(args.output, shipped_pipelines_dir(), args.tasks, args.methods, photos, args.steps,
                            args.seed)  # fmt: skip
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}") from None
    sizes = ", ".join(f"{p.name} {p.image.shape[-1]}x{p.image.shape[-2]}" for p in photos)
    held_out = "" if args.photos else " (held out from the shipped pipelines' training)"
    print(f"\nphotos{held_out}: {sizes}; seconds = restoration time per photo")
    print(markdown_table(rows, ["task", "method", "psnr", "ssim", "seconds"]))
    print(f"side-by-side PNGs in {args.output}/ ({time.perf_counter() - began:.0f} s in all)")


# --------------------------------------------------------------------------------------------- parser
PHOTO_DIR_HELP = (
    "photo folder split into training and held-out photos (default: $BRIDGE_DIFFUSERS_PHOTOS_DIR or photos)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bridge-diffusers", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    degrade = commands.add_parser("degrade", help="make degraded test inputs")
    degrade.add_argument("inputs", nargs="+", help="image files or folders")
    degrade.add_argument("--task", required=True, help="a degradation name, e.g. jpeg10, blur-uni, sr4x-pool")
    degrade.add_argument("-o", "--output", default="degraded", help="output folder (PNG)")
    degrade.add_argument("--seed", type=int, default=0)

    restore = commands.add_parser("restore", help="restore images with a pipeline")
    restore.add_argument("inputs", nargs="+", help="image files or folders")
    restore.add_argument("--pipeline", default=None, help="a saved pipeline folder or a Hub repo id")
    restore.add_argument("--task", default=None, help="with no --pipeline: the catalogue's <method>-<task> pipeline")
    restore.add_argument("--method", choices=list(METHODS), default="nadb")
    restore.add_argument("--tile_size", type=int, default=512, help="restore larger images tile by tile")
    restore.add_argument("--tile_overlap", type=int, default=64)
    restore.add_argument("--steps", type=int, default=None, help="NFE (default: the pipeline's)")
    restore.add_argument("--mask", default=None, help="inpainting mask image (white = missing), for every input")
    restore.add_argument("-o", "--output", default="restored", help="output folder (PNG)")
    restore.add_argument("--seed", type=int, default=0)

    evaluate = commands.add_parser("evaluate", help="PSNR / SSIM / Frechet distance / time versus NFE")
    evaluate.add_argument("--pipeline", action="append", default=[], help="a pipeline to evaluate (repeatable)")
    evaluate.add_argument("--task", required=True)
    evaluate.add_argument("--nfe", type=int, nargs="+", default=[1, 10, 100])
    evaluate.add_argument("--student_nfe", type=int, nargs="+", default=None, help="for distilled students")
    evaluate.add_argument("--resolution", type=int, default=64)
    evaluate.add_argument("--crops_per_image", type=int, default=16)
    evaluate.add_argument("--scale", type=float, default=1.0, help="resize factor of the photos before cropping")
    evaluate.add_argument("--photo_dir", default=None, help=PHOTO_DIR_HELP)
    evaluate.add_argument("--batch_size", type=int, default=16)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--no_fd", action="store_true", help="skip the Frechet distance")
    evaluate.add_argument("--formats", nargs="+", default=["md", "csv", "json"], choices=["md", "csv", "json"])
    evaluate.add_argument("-o", "--output_dir", default="eval")

    diagnose = commands.add_parser("diagnose", help="endpoint-underfitting diagnostics (NADB paper), as a PNG")
    diagnose.add_argument("--pipeline", action="append", required=True, help="a bridge pipeline (repeatable)")
    diagnose.add_argument("--task", required=True)
    diagnose.add_argument("--points", type=int, default=24, help="times evaluated (log-spaced)")
    diagnose.add_argument("--resolution", type=int, default=64)
    diagnose.add_argument("--crops_per_image", type=int, default=16)
    diagnose.add_argument("--scale", type=float, default=1.0, help="resize factor of the photos before cropping")
    diagnose.add_argument("--photo_dir", default=None, help=PHOTO_DIR_HELP)
    diagnose.add_argument("--seed", type=int, default=0)
    diagnose.add_argument("-o", "--output", default="diagnostics.png")

    showcase = commands.add_parser("showcase", help="restore held-out photos with every shipped pipeline")
    showcase.add_argument("--photos", nargs="+", default=None, help="photo names or files (default: 2 held out)")
    showcase.add_argument("--photo_dir", default=None, help=PHOTO_DIR_HELP)
    showcase.add_argument("--tasks", nargs="+", default=None, help="default: every shipped task")
    showcase.add_argument("--methods", nargs="+", default=None, choices=list(METHODS))
    showcase.add_argument("--steps", type=int, default=None, help="bridge steps (default: the pipeline's)")
    showcase.add_argument("--scale", type=float, default=0.3, help="resize factor of the photos")
    showcase.add_argument("--seed", type=int, default=0)
    showcase.add_argument("-o", "--output", default="showcase", help="output folder (PNG)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    commands = {
        "degrade": cmd_degrade,
        "restore": cmd_restore,
        "evaluate": cmd_evaluate,
        "diagnose": cmd_diagnose,
        "showcase": cmd_showcase,
    }
    commands[args.command](args)


if __name__ == "__main__":
    main()
