# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The ``bridge-diffusers`` command line: degrade, restore, evaluate, diagnose and showcase.

bridge-diffusers degrade photo.png --task jpeg10 -o degraded/
bridge-diffusers restore degraded/ --task jpeg10 --method nadb -o restored/      (a pipeline of the catalogue)
bridge-diffusers restore small.png --task sr4x-pool -o restored/      (super-resolution: 4x larger)
bridge-diffusers restore photo.png --pipeline out/nadb-jpeg10 --steps 10 -o restored/
bridge-diffusers evaluate --pipeline out/i2sb --pipeline out/nadb --task blur-uni --nfe 1 10 100 -o eval/
bridge-diffusers showcase -o showcase/      (held-out photos through every shipped pipeline, side by side)

Training is ``accelerate launch training/train_<method>.py`` (see the README).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .image_io import IMAGE_SUFFIXES, ImageReadError, ReadImage, content_seed, image_size, read_image, write_png
from .imaging import to_signed_range
from .methods import METHODS


if TYPE_CHECKING:  # imported where they are used, so that `--help` stays quick
    from .degradations import Degradation, DegradationOutput
    from .pipelines import RestorationPipeline


__all__ = ["CliError", "main"]

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class CliError(Exception):
    """A user error: printed as one ``error: ...`` line (the traceback only with ``--debug``)."""


# ---------------------------------------------------------------------------------------------- inputs
def _expand_inputs(inputs: Sequence[str]) -> list[Path]:
    """Files as given, and the images inside given folders (sorted; hidden files skipped); each file once."""
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                and p.suffix.lower() in IMAGE_SUFFIXES
            )  # fmt: skip
            if not found:
                raise CliError(f"no images in the folder {item} (looked for {', '.join(IMAGE_SUFFIXES)})")
            paths += found
        elif path.is_file():
            paths.append(path)
        else:
            raise CliError(f"input {item!r} does not exist")
    unique = {os.path.realpath(path): path for path in reversed(paths)}  # the first mention wins
    return [path for path in paths if unique.get(os.path.realpath(path)) is path]


def _input_sizes(paths: Sequence[Path]) -> dict[Path, tuple[int, int]]:
    """Every input's (width, height) as it will be read (EXIF orientation applied), from the headers only: an
    unreadable input stops the command before any model is loaded."""
    try:
        return {path: image_size(path) for path in paths}
    except ImageReadError as error:
        raise CliError(str(error)) from None


@dataclass
class Job:
    """One input and where its result goes."""

    source: Path
    target: Path
    mask_target: Path | None = None  # degrade: the inpainting hole


def _is_png_name(path: Path) -> bool:
    return path.suffix.lower() == ".png"


def _output_targets(paths: Sequence[Path], output: Path) -> list[Path]:
    """Where each input's PNG goes: ``-o file.png`` for a single input, else ``<output>/<stem>.png``; inputs whose
    stems coincide (``a.png`` and ``a.jpg``) keep their suffix in the name (``a.png``, ``a.jpg.png``)."""
    if output.is_file() or (not output.is_dir() and output.suffix.lower() in IMAGE_SUFFIXES):
        if len(paths) > 1:
            what = "an existing file" if output.is_file() else "a file name"
            raise CliError(f"-o {output} is {what}, but there are {len(paths)} inputs: pass a folder")
        if not _is_png_name(output):
            raise CliError(f"-o {output}: results are written as PNG, name the file .png (or pass a folder)")
        return [output]
    by_stem: dict[str, list[Path]] = {}
    for path in paths:
        by_stem.setdefault(os.path.normcase(path.stem), []).append(path)
    targets = []
    for path in paths:
        shared = len(by_stem[os.path.normcase(path.stem)]) > 1
        name = f"{path.name}.png" if shared and not _is_png_name(path) else f"{path.stem}.png"
        targets.append(output / name)
    return targets


def _plan(
    paths: Sequence[Path], output: str, overwrite: bool, skip_existing: bool, mask_targets: bool = False
) -> tuple[list[Job], list[Job]]:
    """The jobs to run and those skipped (``--skip_existing``); refuses, before any work, a result that would
    replace an input, two results with one name, and (without ``--overwrite``) a result that exists."""
    targets = _output_targets(paths, Path(output))
    jobs = [
        Job(path, target, target.with_name(f"{target.stem}_mask.png") if mask_targets else None)
        for path, target in zip(paths, targets, strict=True)
    ]
    inputs = {os.path.normcase(os.path.realpath(path)): path for path in paths}
    written: dict[str, Job] = {}
    for job in jobs:
        for target in filter(None, (job.target, job.mask_target)):
            key = os.path.normcase(os.path.realpath(target))
            if key in inputs:
                raise CliError(
                    f"the result of {job.source} would replace the input {inputs[key]}: inputs are never "
                    "overwritten, pass another -o"
                )
            if key in written:
                other = written[key].source
                raise CliError(
                    f"{other} and {job.source} would both be written to {target}: restore them into different folders"
                )
            written[key] = job
    existing = [job for job in jobs if job.target.exists() or (job.mask_target and job.mask_target.exists())]
    if existing and skip_existing:
        return [job for job in jobs if job not in existing], existing
    if existing and not overwrite:
        names = ", ".join(str(job.target) for job in existing[:3]) + (", ..." if len(existing) > 3 else "")
        raise CliError(
            f"{len(existing)} result(s) exist already ({names}): pass --overwrite to replace them or "
            "--skip_existing to skip their inputs"
        )
    return jobs, []


def _print(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stdout)


# ------------------------------------------------------------------------------------------- commands
def _degrade(degradation: Degradation, image: torch.Tensor, seed: int, same_size: bool) -> DegradationOutput:
    """One `(1, C, H, W)` image in ``[-1, 1]`` through the task's operator. A super-resolution task gives the
    low-resolution image, what a user has (``restore`` upscales it back to the original size); with ``same_size``
    it gives the blocky full-size image the networks see, as every other task keeps the size."""
    from .degradations import DegradationOutput, SuperResolution

    if isinstance(degradation, SuperResolution) and not same_size:
        return DegradationOutput(degraded=degradation.low_resolution(image))
    return degradation(image, generator=torch.Generator().manual_seed(seed))


def cmd_degrade(args: argparse.Namespace) -> None:
    from .degradations import get_degradation
    from .pipelines import images_to_tensor

    try:
        degradation = get_degradation(args.task)
    except ValueError as error:
        raise CliError(str(error)) from None
    paths = _expand_inputs(args.inputs)
    _input_sizes(paths)
    jobs, skipped = _plan(paths, args.output, args.overwrite, args.skip_existing, mask_targets=True)
    for job in skipped:
        _print(f"{job.source}: skipped, {job.target} exists")
    for job in jobs:
        read = read_image(job.source)
        for note in read.notes:
            _print(f"note: {note}")
        image = to_signed_range(images_to_tensor(read.pixels))
        try:
            out = _degrade(degradation, image, content_seed(job.source, args.seed), args.same_size)
        except ValueError as error:
            raise CliError(f"{job.source}: {error}") from None
        write_png(job.target, out.degraded)
        if out.mask is not None:
            write_png(job.mask_target, to_signed_range(out.mask))
        _print(f"{job.source} -> {job.target}")


def _pipeline_location(args: argparse.Namespace) -> str:
    """``--pipeline`` as given, else the ``<method>-<task>`` pipeline of the catalogue."""
    from .catalogue import find_pipeline

    if args.pipeline:
        return args.pipeline
    if not args.task:
        raise CliError("pass --pipeline PATH_OR_REPO, or --task (and --method) to use a shipped pipeline")
    try:
        return find_pipeline(args.method, args.task).location
    except ValueError as error:
        raise CliError(f"{error}; pass --pipeline") from None


def _step_range(location: str) -> tuple[int, int] | None:
    """The steps a local pipeline folder accepts, read from its index and scheduler config without loading any
    network (None when that cannot be told cheaply: a Hub repo id; the loaded pipeline says it then)."""
    from types import SimpleNamespace

    from .pipelines import PIPELINE_CLASSES, check_pipeline_folder, check_pipeline_location
    from .pipelines.pipeline_bridge_utils import _package_classes

    check_pipeline_location(location)  # a missing local folder is said so at once, without a Hub look-up
    if not os.path.isdir(location):
        return None
    check_pipeline_folder(location)  # a damaged folder is named by its file, before anything loads
    index = json.loads((Path(location) / "model_index.json").read_text(encoding="utf-8"))
    name = index.get("_class_name")
    cls = PIPELINE_CLASSES.get(name[1] if isinstance(name, list) else name)
    entry = index.get("scheduler")
    try:
        scheduler = None
        if isinstance(entry, list) and entry[1]:
            scheduler_cls = _package_classes()[entry[1]]
            scheduler = scheduler_cls.from_config(scheduler_cls.load_config(Path(location) / "scheduler"))
        return cls.step_range.fget(SimpleNamespace(scheduler=scheduler))
    except Exception:  # an unusual pipeline: the loaded one checks
        return None


def _check_steps(steps: int | None, step_range: tuple[int, int] | None, location: str) -> None:
    if steps is not None and step_range is not None and not step_range[0] <= steps <= step_range[1]:
        raise CliError(f"--steps {steps}: the pipeline {location} takes {step_range[0]} to {step_range[1]} steps")


def _check_restore_flags(args: argparse.Namespace, device: torch.device) -> None:
    if args.tile_overlap is None:
        args.tile_overlap = min(64, args.tile_size // 4)
    if args.tile_overlap >= args.tile_size:
        raise CliError(f"--tile_overlap {args.tile_overlap} must be smaller than --tile_size {args.tile_size}")
    if args.dtype == "fp16" and device.type == "cpu":
        raise CliError("--dtype fp16 needs a GPU (float16 kernels on the CPU are slow or missing): use bf16")


def _read_mask(path: str, sizes: dict[Path, tuple[int, int]]) -> torch.Tensor:
    """``--mask`` as a (1, 1, H, W) hole (white = missing), checked against the size of every input."""
    from .pipelines import mask_to_tensor

    try:
        mask = read_image(path, alpha="ignore")
    except ImageReadError as error:
        raise CliError(f"--mask: {error}") from None
    for source, size in sizes.items():
        if size != mask.size:
            raise CliError(
                f"--mask {path} is {mask.size[0]}x{mask.size[1]} px but {source} is {size[0]}x{size[1]}: the mask "
                "must have the size of every input"
            )
    return mask_to_tensor(mask.pixels, 1, mask.pixels.shape[:2])


def _optimize(pipe, args: argparse.Namespace, device: torch.device):
    """``--dtype`` and ``--compile`` through :func:`bridge_diffusers.fast.optimize_pipeline` (channels-last on a
    GPU, where cuDNN's fastest convolutions want it)."""
    if args.dtype == "fp32" and not args.compile:
        return pipe
    from .fast import optimize_pipeline

    return optimize_pipeline(pipe, dtype=DTYPES[args.dtype], channels_last=device.type == "cuda", compile=args.compile)


def _process_state():
    """accelerate's ``PartialState``: one process, or one per process under ``accelerate launch``. Processes on the
    CPU (``ACCELERATE_USE_CPU=1``, or launched on a machine without an accelerator) join one gloo group: without
    ``cpu=True`` every one of them would think it is alone and restore every image."""
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
    has_accelerator = torch.accelerator.is_available() if hasattr(torch, "accelerator") else torch.cuda.is_available()
    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU") or (launched and not has_accelerator))


def _check_upscaling(pipe: RestorationPipeline, upscale: bool | None, mask: torch.Tensor | None) -> None:
    """Refuses ``--mask`` with a super-resolution pipeline that upscales (the pipelines refuse it too)."""
    if mask is not None and pipe.upscaler(upscale) is not None:
        raise CliError(
            f"--mask cannot be used when the {pipe.task} pipeline upscales its inputs: pass --same_size with inputs "
            "already up-sampled to the output size, and a mask of that size"
        )


def _network_input(
    pipe: RestorationPipeline, read: ReadImage, upscale: bool | None
) -> tuple[torch.Tensor, np.ndarray | None]:
    """A read image as the pipeline's network takes it, `(1, C, H, W)` in ``[-1, 1]``, and its alpha channel at that
    size. A super-resolution pipeline's input is upscaled whole here, which is cheap, so that the tiles are cut at
    the size the network works at."""
    from .pipelines import images_to_tensor

    image = to_signed_range(images_to_tensor(read.pixels, channels=pipe.image_channels))
    alpha = read.alpha
    if alpha is not None:
        alpha = pipe.to_network_size(torch.from_numpy(alpha)[None, None], upscale)[0, 0].numpy()
    return pipe.to_network_size(image, upscale), alpha


def cmd_restore(args: argparse.Namespace) -> None:
    from tqdm.auto import tqdm

    from .pipelines import load_pipeline
    from .tiling import pipeline_restorer, restore_tiled, tile_positions

    # 1. Everything the user gave, checked before any model is loaded.
    state = _process_state()
    _check_restore_flags(args, state.device)
    location = _pipeline_location(args)
    _check_steps(args.steps, _step_range(location), location)
    paths = _expand_inputs(args.inputs)
    sizes = _input_sizes(paths)
    mask = _read_mask(args.mask, sizes) if args.mask else None
    jobs, skipped = _plan(paths, args.output, args.overwrite, args.skip_existing)
    show = state.is_local_main_process
    if skipped and show:
        _print(f"skipping {len(skipped)} input(s) whose result exists (--skip_existing)")
    if not jobs:
        if show:
            _print("nothing to restore")
        return

    # 2. The pipeline, on this process's device.
    pipe = load_pipeline(location).to(state.device)
    _check_steps(args.steps, pipe.step_range, location)
    upscale = False if args.same_size else None  # None: a super-resolution pipeline upscales
    _check_upscaling(pipe, upscale, mask)
    pipe = _optimize(pipe, args, state.device)
    pipe.set_progress_bar_config(disable=True)
    restorer = pipeline_restorer(pipe, args.steps)
    state.wait_for_everyone()  # every process has checked the outputs before any process writes one

    # 3. Each process restores its share; every result is written (atomically) before the next image begins.
    failures = []
    with state.split_between_processes(jobs) as mine:
        images_bar = tqdm(total=len(mine), desc="images", unit="image", disable=not show or len(mine) < 2)
        for job in mine:
            try:
                read = read_image(job.source, alpha=args.alpha)
            except ImageReadError as error:
                failures.append(str(error))
                _print(f"error: {error}")
                images_bar.update(1)
                continue
            for note in read.notes:
                _print(f"note: {note}")
            image, alpha = _network_input(pipe, read, upscale)
            tiles = len(tile_positions(*image.shape[-2:], args.tile_size, args.tile_overlap))
            with tqdm(total=tiles, desc=job.source.name, unit="tile", leave=False,
                      disable=not show or tiles < 2) as tiles_bar:  # fmt: skip
                # The seed comes from the file's content (each tile's from it and the tile's place), so a photo
                # restores the same wherever it sits in a folder, whichever process and batch size restore it.
                restored = restore_tiled(
                    restorer, image, args.tile_size, args.tile_overlap, mask=mask, batch_size=args.batch_size,
                    progress=tiles_bar, seed=content_seed(job.source, args.seed), pad_batch=args.compile,
                )  # fmt: skip
            write_png(job.target, restored, alpha=alpha)
            images_bar.update(1)
            _print(f"{job.source} -> {job.target}")
        images_bar.close()
    if failures:
        raise CliError(f"{len(failures)} input(s) could not be read ({failures[0]}); the others were restored")


def _check_task(task: str) -> None:
    from .degradations import get_degradation

    try:
        get_degradation(task)
    except ValueError as error:
        raise CliError(str(error)) from None


def _check_pipelines(locations: Sequence[str]) -> None:
    for location in locations:
        _step_range(location)  # a missing folder, or a damaged one (named by its file), is reported now


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .evaluation import evaluate_pipelines, make_evaluation_set, plot_metric_curves, save_image_grid, write_table

    _check_task(args.task)
    _check_pipelines(args.pipeline)
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

    _check_task(args.task)
    _check_pipelines(args.pipeline)
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
        raise CliError(str(error)) from None
    sizes = ", ".join(f"{p.name} {p.image.shape[-1]}x{p.image.shape[-2]}" for p in photos)
    held_out = "" if args.photos else " (held out from the shipped pipelines' training)"
    print(f"\nphotos{held_out}: {sizes}; seconds = restoration time per photo")
    print(markdown_table(rows, ["task", "degradation", "method", "psnr", "ssim", "seconds"]))
    print(f"side-by-side PNGs in {args.output}/ ({time.perf_counter() - began:.0f} s in all)")


# --------------------------------------------------------------------------------------------- parser
PHOTO_DIR_HELP = (
    "photo folder split into training and held-out photos (default: $BRIDGE_DIFFUSERS_PHOTOS_DIR or photos)"
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line ``error: ...`` (and where to read the usage) instead of the usage block."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def _overwrite_flags(command: argparse.ArgumentParser) -> None:
    group = command.add_mutually_exclusive_group()
    group.add_argument("--overwrite", action="store_true", help="replace results that exist (never an input)")
    group.add_argument("--skip_existing", action="store_true", help="skip inputs whose result exists (reruns)")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the traceback of an error")
    parser = _Parser(prog="bridge-diffusers", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    degrade = commands.add_parser("degrade", help="make degraded test inputs", parents=[common])
    degrade.add_argument("inputs", nargs="+", help="image files or folders")
    degrade.add_argument("--task", required=True, help="a degradation name, e.g. jpeg10, blur-uni, sr4x-pool")
    degrade.add_argument("-o", "--output", default="degraded", help="output folder, or a .png file for one input")
    degrade.add_argument("--seed", type=int, default=0, help="mixed with each file's content into its seed")
    degrade.add_argument("--same_size", action="store_true",
                         help="sr4x tasks: write the blocky image of the input's size (the networks' input) instead "
                         "of the low-resolution one")  # fmt: skip
    _overwrite_flags(degrade)

    restore = commands.add_parser("restore", help="restore images with a pipeline", parents=[common])
    restore.add_argument("inputs", nargs="+", help="image files or folders")
    restore.add_argument("--pipeline", default=None, help="a saved pipeline folder or a Hub repo id")
    restore.add_argument("--task", default=None, help="with no --pipeline: the catalogue's <method>-<task> pipeline")
    restore.add_argument("--method", choices=list(METHODS), default="nadb")
    restore.add_argument("--tile_size", type=_positive_int, default=512, help="restore larger images tile by tile")
    restore.add_argument(
        "--tile_overlap",
        type=_non_negative_int,
        default=None,
        help="overlap of neighbouring tiles in px (default: 64, at most a quarter of the tile)",
    )
    restore.add_argument("--batch_size", type=_positive_int, default=1, help="tiles restored at once")
    restore.add_argument("--steps", type=_positive_int, default=None, help="NFE (default: the pipeline's)")
    restore.add_argument("--mask", default=None, help="inpainting mask image (white = missing), for every input")
    restore.add_argument("--alpha", choices=["white", "keep"], default="white",
                         help="transparent inputs: composite onto white (default), or keep the alpha channel and "
                         "re-attach it to the result")  # fmt: skip
    restore.add_argument("-o", "--output", default="restored", help="output folder, or a .png file for one input")
    restore.add_argument("--seed", type=int, default=0, help="mixed with each file's content into its seed")
    restore.add_argument("--dtype", choices=list(DTYPES), default="fp32", help="the networks' precision")
    restore.add_argument("--compile", action="store_true", help="torch.compile the networks")
    restore.add_argument("--same_size", action="store_true",
                         help="super-resolution pipelines: the inputs are already up-sampled (blocky, of the output "
                         "size); restore them at their size instead of upscaling them")  # fmt: skip
    _overwrite_flags(restore)

    evaluate = commands.add_parser("evaluate", help="PSNR / SSIM / Frechet distance / time versus NFE",
                                   parents=[common])  # fmt: skip
    evaluate.add_argument("--pipeline", action="append", default=[], help="a pipeline to evaluate (repeatable)")
    evaluate.add_argument("--task", required=True)
    evaluate.add_argument("--nfe", type=_positive_int, nargs="+", default=[1, 10, 100])
    evaluate.add_argument("--student_nfe", type=_positive_int, nargs="+", default=None, help="for distilled students")
    evaluate.add_argument("--resolution", type=_positive_int, default=64)
    evaluate.add_argument("--crops_per_image", type=_positive_int, default=16)
    evaluate.add_argument("--scale", type=_positive_float, default=1.0,
                          help="resize factor of the photos before cropping")  # fmt: skip
    evaluate.add_argument("--photo_dir", default=None, help=PHOTO_DIR_HELP)
    evaluate.add_argument("--batch_size", type=_positive_int, default=16)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--no_fd", action="store_true", help="skip the Frechet distance")
    evaluate.add_argument("--formats", nargs="+", default=["md", "csv", "json"], choices=["md", "csv", "json"])
    evaluate.add_argument("-o", "--output_dir", default="eval")

    diagnose = commands.add_parser("diagnose", help="endpoint-underfitting diagnostics (NADB paper), as a PNG",
                                   parents=[common])  # fmt: skip
    diagnose.add_argument("--pipeline", action="append", required=True, help="a bridge pipeline (repeatable)")
    diagnose.add_argument("--task", required=True)
    diagnose.add_argument("--points", type=_positive_int, default=24, help="times evaluated (log-spaced)")
    diagnose.add_argument("--resolution", type=_positive_int, default=64)
    diagnose.add_argument("--crops_per_image", type=_positive_int, default=16)
    diagnose.add_argument("--scale", type=_positive_float, default=1.0,
                          help="resize factor of the photos before cropping")  # fmt: skip
    diagnose.add_argument("--photo_dir", default=None, help=PHOTO_DIR_HELP)
    diagnose.add_argument("--seed", type=int, default=0)
    diagnose.add_argument("-o", "--output", default="diagnostics.png")

    showcase = commands.add_parser("showcase", help="restore held-out photos with every shipped pipeline",
                                   parents=[common])  # fmt: skip
    showcase.add_argument("--photos", nargs="+", default=None, help="photo names or files (default: 2 held out)")
    showcase.add_argument("--photo_dir", default=None, help=PHOTO_DIR_HELP)
    showcase.add_argument("--tasks", nargs="+", default=None, help="default: every shipped task")
    showcase.add_argument("--methods", nargs="+", default=None, choices=list(METHODS))
    showcase.add_argument("--steps", type=_positive_int, default=None, help="bridge steps (default: the pipeline's)")
    showcase.add_argument("--scale", type=_positive_float, default=0.3, help="resize factor of the photos")
    showcase.add_argument("--seed", type=int, default=0)
    showcase.add_argument("-o", "--output", default="showcase", help="output folder (PNG)")
    return parser


def _message(error: BaseException) -> str:
    """One line for an error: the message of a user error, the type too for anything unexpected."""
    from .pipelines import PipelineFolderError

    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, (CliError, ImageReadError, PipelineFolderError)):
        return text
    if isinstance(error, (ValueError, OSError)):  # refused inputs, missing files, loading failures
        return f"{text} ({type(error).__name__})"
    return f"{type(error).__name__}: {text} (rerun with --debug for the traceback)"


def main(argv: Sequence[str] | None = None) -> None:
    """The ``bridge-diffusers`` command. A user error ends it with one ``error: ...`` line on stderr and exit
    code 1 (2 for a bad flag); ``--debug`` shows the traceback instead."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    commands = {
        "degrade": cmd_degrade,
        "restore": cmd_restore,
        "evaluate": cmd_evaluate,
        "diagnose": cmd_diagnose,
        "showcase": cmd_showcase,
    }
    try:
        commands[args.command](args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        raise SystemExit("interrupted (the results written so far are complete; --skip_existing resumes)") from None
    except Exception as error:
        if args.debug:
            raise
        raise SystemExit(f"error: {_message(error)}") from None


if __name__ == "__main__":
    main()
