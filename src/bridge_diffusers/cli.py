# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The ``bridge-diffusers`` command line: restore, degrade, evaluate and train.

bridge-diffusers restore photo.png --pipeline out/nadb-jpeg10 --steps 10 -o restored/
bridge-diffusers degrade photo.png --task jpeg10 -o degraded/
bridge-diffusers evaluate --pipeline out/i2sb --pipeline out/nadb --task blur-uni --nfe 1 10 100 -o eval/
bridge-diffusers train nadb --task jpeg10 --output_dir out/nadb      (same flags as training/train_nadb.py)
bridge-diffusers showcase -o showcase/      (held-out photos through every shipped pipeline, side by side)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import PIL.Image
import torch


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


def _to_minus_one_one(image: PIL.Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]


def _save(tensor: torch.Tensor, path: Path) -> None:
    """Saves (1, C, H, W) in [-1, 1] as a lossless PNG."""
    array = np.round(((tensor[0].clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).cpu().numpy()).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).save(path)


# ------------------------------------------------------------------------------------------- commands
def cmd_degrade(args: argparse.Namespace) -> None:
    from .degradations import get_degradation

    degradation = get_degradation(args.task)
    for index, path in enumerate(_expand_inputs(args.inputs)):
        image = _to_minus_one_one(_open_image(path))
        out = degradation(image, generator=torch.Generator().manual_seed(args.seed + index))
        _save(out.degraded, Path(args.output) / f"{path.stem}.png")
        if out.mask is not None:
            _save(out.mask * 2 - 1, Path(args.output) / f"{path.stem}_mask.png")
        print(f"{path} -> {Path(args.output) / f'{path.stem}.png'}")


def default_pipeline_dir() -> Path:
    """Where shipped pipelines live: ``$BRIDGE_DIFFUSERS_PIPELINES_DIR`` or the repository's ``pipelines/``."""
    env = os.environ.get("BRIDGE_DIFFUSERS_PIPELINES_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "pipelines"


def resolve_pipeline(pipeline: str | None, method: str, task: str | None) -> str:
    """``--pipeline`` as given, else the shipped ``<method>-<task>`` pipeline."""
    if pipeline:
        return pipeline
    if not task:
        raise SystemExit("error: pass --pipeline PATH_OR_REPO, or --task (and --method) to use a shipped pipeline")
    folder = default_pipeline_dir() / f"{method}-{task}"
    if not (folder / "model_index.json").is_file():
        shipped = sorted(p.name for p in default_pipeline_dir().glob("*") if (p / "model_index.json").is_file())
        raise SystemExit(f"error: no shipped pipeline {folder.name!r} (shipped: {shipped or 'none'}); pass --pipeline")
    return str(folder)


def cmd_restore(args: argparse.Namespace) -> None:
    from accelerate import PartialState
    from tqdm.auto import tqdm

    from .pipelines import images_to_tensor, load_pipeline
    from .tiling import restore_tiled

    state = PartialState()  # one process, or one per process under `accelerate launch`
    pipe = load_pipeline(resolve_pipeline(args.pipeline, args.method, args.task)).to(state.device)
    pipe.set_progress_bar_config(disable=True)
    mask = PIL.Image.open(args.mask).convert("L") if args.mask else None
    steps = {} if args.steps is None else {"num_inference_steps": args.steps}
    paths = _expand_inputs(args.inputs)
    with state.split_between_processes(list(enumerate(paths))) as mine:
        for index, path in tqdm(mine, desc="restoring", disable=not state.is_local_main_process or len(mine) < 2):
            image = images_to_tensor(_open_image(path))
            seed = args.seed + index

            def restore(tile: torch.Tensor, tile_mask=None, seed=seed) -> torch.Tensor:
                generator = torch.Generator().manual_seed(seed)
                return pipe(tile, mask=tile_mask, generator=generator, output_type="pt", **steps).images

            if max(image.shape[-2:]) > args.tile_size and mask is None:
                restored = restore_tiled(restore, image, args.tile_size, args.tile_overlap)
            else:
                restored = restore(image, mask)
            target = Path(args.output) / f"{path.stem}.png"
            _save(restored * 2 - 1, target)
            print(f"{path} -> {target}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .evaluation import evaluate_pipelines, make_evaluation_set, plot_metric_curves, save_image_grid, write_table

    evaluation_set = make_evaluation_set(
        args.task, args.resolution, args.crops_per_image, seed=args.seed, scale=args.scale
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
    from .metrics import bridge_diagnostics, plot_endpoint_diagnostics
    from .models.bridge_unet import unet_forward
    from .pipelines import NADBPipeline, load_pipeline

    evaluation_set = make_evaluation_set(
        args.task, args.resolution, args.crops_per_image, seed=args.seed, scale=args.scale
    )
    results = {}
    for path in args.pipeline:
        pipe = load_pipeline(path)
        scheduler, unet = pipe.scheduler, pipe.unet.eval()
        degraded = evaluation_set.degraded.clamp(-1, 1)
        with torch.no_grad():
            endpoint = pipe.mean_net(degraded) if isinstance(pipe, NADBPipeline) and pipe.mean_net else degraded
        condition = degraded if pipe.cond_x1 else None
        low, high = scheduler.clean_index, scheduler.endpoint_index
        # dense near the clean end, where underfitting shows, and uniform elsewhere
        grid = sorted({round(float(v)) for v in np.geomspace(max(low, 1), high, args.points)} | {high})

        def model_fn(x_t, timesteps, unet=unet, scheduler=scheduler, condition=condition):
            with torch.no_grad():
                return unet_forward(unet, x_t, scheduler.model_time(timesteps), condition=condition)

        name = f"{type(pipe).__name__.removesuffix('Pipeline')} ({Path(path).name})"
        results[name] = bridge_diagnostics(
            scheduler, model_fn, evaluation_set.clean, endpoint, grid, torch.Generator().manual_seed(args.seed)
        )
    output = Path(args.output)
    plot_endpoint_diagnostics(results, output, title=f"endpoint diagnostics, {args.task}")
    summary = {name: {k: np.asarray(v).tolist() for k, v in vars(d).items()} for name, d in results.items()}
    output.with_suffix(".json").write_text(json.dumps(summary, indent=2))
    print(f"wrote {output} and {output.with_suffix('.json')}")


def cmd_train(args: argparse.Namespace, rest: list[str]) -> None:
    if args.method == "ibmd":
        from .training.ibmd_trainer import main as distil

        distil(rest)
    else:
        from .training.trainer import main as train

        train(args.method, rest)


def cmd_showcase(args: argparse.Namespace) -> None:
    from .evaluation import markdown_table
    from .showcase import SHOWCASE_PHOTOS, load_showcase_photos, run_showcase

    try:
        photos = load_showcase_photos(args.photos or SHOWCASE_PHOTOS, args.scale)
        steps = {method: args.steps for method in ("i2sb", "nadb")} if args.steps else None
        began = time.perf_counter()
        rows = run_showcase(args.output, default_pipeline_dir(), args.tasks, args.methods, photos, steps, args.seed)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    sizes = ", ".join(f"{p.name} {p.image.shape[-1]}x{p.image.shape[-2]}" for p in photos)
    held_out = "" if args.photos else " (held out from the shipped pipelines' training)"
    print(f"\nphotos{held_out}: {sizes}; seconds = restoration time per photo")
    print(markdown_table(rows, ["task", "method", "psnr", "ssim", "seconds"]))
    print(f"side-by-side PNGs in {args.output}/ ({time.perf_counter() - began:.0f} s in all)")


# --------------------------------------------------------------------------------------------- parser
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
    restore.add_argument("--task", default=None, help="with no --pipeline: use the shipped <method>-<task> pipeline")
    restore.add_argument("--method", choices=("nadb", "ibmd", "i2sb"), default="nadb")
    restore.add_argument("--tile_size", type=int, default=512, help="restore larger images tile by tile")
    restore.add_argument("--tile_overlap", type=int, default=64)
    restore.add_argument("--steps", type=int, default=None, help="NFE (default: the pipeline's)")
    restore.add_argument("--mask", default=None, help="inpainting mask image (white = missing)")
    restore.add_argument("-o", "--output", default="restored", help="output folder (PNG)")
    restore.add_argument("--seed", type=int, default=0)

    evaluate = commands.add_parser("evaluate", help="PSNR / SSIM / Frechet distance / time versus NFE")
    evaluate.add_argument("--pipeline", action="append", default=[], help="a pipeline to evaluate (repeatable)")
    evaluate.add_argument("--task", required=True)
    evaluate.add_argument("--nfe", type=int, nargs="+", default=[1, 10, 100])
    evaluate.add_argument("--student_nfe", type=int, nargs="+", default=None, help="for IBMD students")
    evaluate.add_argument("--resolution", type=int, default=64)
    evaluate.add_argument("--crops_per_image", type=int, default=16)
    evaluate.add_argument("--scale", type=float, default=1.0, help="resize factor of the photos before cropping")
    evaluate.add_argument("--batch_size", type=int, default=16)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--no_fd", action="store_true", help="skip the Frechet distance")
    evaluate.add_argument("--formats", nargs="+", default=["md", "csv", "json"], choices=["md", "csv", "json"])
    evaluate.add_argument("-o", "--output_dir", default="eval")

    diagnose = commands.add_parser("diagnose", help="endpoint-underfitting diagnostics (NADB paper), as a PNG")
    diagnose.add_argument("--pipeline", action="append", required=True, help="an I2SB or NADB pipeline (repeatable)")
    diagnose.add_argument("--task", required=True)
    diagnose.add_argument("--points", type=int, default=24, help="times evaluated (log-spaced)")
    diagnose.add_argument("--resolution", type=int, default=64)
    diagnose.add_argument("--crops_per_image", type=int, default=16)
    diagnose.add_argument("--scale", type=float, default=1.0, help="resize factor of the photos before cropping")
    diagnose.add_argument("--seed", type=int, default=0)
    diagnose.add_argument("-o", "--output", default="diagnostics.png")

    showcase = commands.add_parser("showcase", help="restore held-out photos with every shipped pipeline")
    showcase.add_argument("--photos", nargs="+", default=None, help="corpus names or files (default: 2 held out)")
    showcase.add_argument("--tasks", nargs="+", default=None, help="default: every shipped task")
    showcase.add_argument("--methods", nargs="+", default=None, choices=("i2sb", "nadb", "ibmd"))
    showcase.add_argument("--steps", type=int, default=None, help="I2SB/NADB steps (default: the pipeline's)")
    showcase.add_argument("--scale", type=float, default=0.3, help="resize factor of the photos")
    showcase.add_argument("--seed", type=int, default=0)
    showcase.add_argument("-o", "--output", default="showcase", help="output folder (PNG)")

    train = commands.add_parser("train", help="train (i2sb, nadb) or distil (ibmd); see train_<method>.py --help")
    train.add_argument("method", choices=("i2sb", "nadb", "ibmd"))
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv[:1] == ["train"]:
        args, rest = parser.parse_known_args(argv)
        cmd_train(args, rest)
        return
    args = parser.parse_args(argv)
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
