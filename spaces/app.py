# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Gradio demo of bridge-diffusers: restore a photo with an I2SB, NADB or IBMD pipeline.

The pipelines are those of the catalogue (:mod:`bridge_diffusers.catalogue`): the folder
``$BRIDGE_DIFFUSERS_PIPELINES_DIR`` (default: the shipped pipelines of the installed package), whose sub-folders
are saved pipelines named ``<method>-<task>`` (and whose optional ``catalogue.json`` lists Hub repo ids):

    pipelines/
        nadb-jpeg10/      model_index.json, unet/, scheduler/, mean_net/
        ibmd-jpeg10/      ...
        i2sb-blur-uni/    ...

``method`` is a method of the registry (:data:`bridge_diffusers.methods.METHODS`) and ``task`` a degradation name
of :func:`bridge_diffusers.degradations.list_degradations` (``jpeg10``, ``blur-uni``, ``sr4x-bicubic``, ...); other
tasks are skipped with a log message. Each pipeline is loaded the first time it is used, then kept. The example
photos are the held-out photos of ``$BRIDGE_DIFFUSERS_PHOTOS_DIR`` (default ``photos/``), when there is one.

Super-resolution tasks (``sr4x-pool``, ``sr4x-bicubic``) upscale: the degraded image is the low-resolution one (the
photo down-sampled 4x, or the upload itself) and the restoration is 4 times larger, the low-resolution image
repeated over 4x4 blocks as in training before the network sees it.

Other settings: ``BRIDGE_DIFFUSERS_MAX_SIDE`` (default 1024: larger uploads are downscaled to this long side),
``BRIDGE_DIFFUSERS_CONCURRENCY`` (default 2: restorations that run at the same time) and
``BRIDGE_DIFFUSERS_TORCH_THREADS`` (default: the CPUs divided by the concurrency; set when run as a script).

Run locally with ``python spaces/app.py``; :func:`restore` is the whole computation and needs no server.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import PIL.Image
import PIL.ImageOps
import torch

from bridge_diffusers.baselines import classical_method, classical_restore
from bridge_diffusers.catalogue import CatalogueEntry, read_catalogue, shipped_pipelines_dir
from bridge_diffusers.data import split_photos
from bridge_diffusers.degradations import SuperResolution, get_degradation, list_degradations
from bridge_diffusers.degradations.inpaint import Inpainting, center_mask
from bridge_diffusers.image_io import ImageReadError, read_image
from bridge_diffusers.imaging import signed_to_image, to_signed_range
from bridge_diffusers.methods import METHODS
from bridge_diffusers.metrics import psnr, ssim
from bridge_diffusers.pipelines import images_to_tensor


__all__ = [
    "build_demo",
    "discover_pipelines",
    "example_photos",
    "get_pipeline",
    "pipelines_dir",
    "prepare_image",
    "restore",
]

logger = logging.getLogger("bridge_diffusers.space")

DEFAULT_STEPS = 10
MAX_STEPS = 100
DEFAULT_MAX_SIDE = 1024
DEFAULT_CONCURRENCY = 2
MAX_SEED = 2**63 - 1


# --------------------------------------------------------------------------------------------- settings
def _int_env(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        logger.warning("Ignoring %s=%r: not an integer; using %d.", name, raw, default)
        return default
    return max(minimum, value)


def pipelines_dir() -> Path:
    """The catalogue folder: ``$BRIDGE_DIFFUSERS_PIPELINES_DIR``, else the shipped pipelines."""
    return shipped_pipelines_dir().resolve()


def concurrency_limit() -> int:
    """Restorations that run at the same time (``$BRIDGE_DIFFUSERS_CONCURRENCY``, default 2)."""
    return _int_env("BRIDGE_DIFFUSERS_CONCURRENCY", DEFAULT_CONCURRENCY)


def torch_threads() -> int:
    """CPU threads per restoration: ``$BRIDGE_DIFFUSERS_TORCH_THREADS``, else the CPUs shared by the concurrent
    restorations. Oversubscribed OpenMP threads wait on each other: on 2 busy cores, 2 threads per request ran a
    small UNet about 50 times slower than 1."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return _int_env("BRIDGE_DIFFUSERS_TORCH_THREADS", max(1, cpus // concurrency_limit()))


def max_side_limit() -> int:
    """The longest image side processed; larger images are downscaled (``$BRIDGE_DIFFUSERS_MAX_SIDE``)."""
    return _int_env("BRIDGE_DIFFUSERS_MAX_SIDE", DEFAULT_MAX_SIDE, minimum=16)


# ------------------------------------------------------------------------------------------- discovery
def discover_pipelines(root: str | os.PathLike | None = None) -> dict[tuple[str, str], CatalogueEntry]:
    """The catalogue of ``root`` (default :func:`pipelines_dir`) keyed by ``(task, method)``, for the tasks the app
    can degrade a photo with (registered degradations; others are skipped with a log message). Reads folder names
    and small JSON files only: no weights are loaded. A missing ``root`` gives an empty catalogue."""
    found = {}
    for entry in read_catalogue(root if root is not None else pipelines_dir()).values():
        try:
            get_degradation(entry.task)
        except ValueError:
            logger.warning("Skipping %s: %r is not a degradation (%s).", entry.location, entry.task,
                           ", ".join(list_degradations()))  # fmt: skip
            continue
        found[(entry.task, entry.method.name)] = entry
    return found


def _tasks(catalogue: dict[tuple[str, str], CatalogueEntry]) -> list[str]:
    return sorted({task for task, _ in catalogue})


def _methods(catalogue: dict[tuple[str, str], CatalogueEntry], task: str | None) -> list[str]:
    return [method for method in METHODS if (task, method) in catalogue]


def _default_method(methods: list[str]) -> str | None:
    """The method picked first: the fewest network calls (the fastest on a CPU Space), the newer one on a tie."""
    return min(reversed(methods), key=lambda method: METHODS[method].default_steps, default=None)


# ---------------------------------------------------------------------------------------------- loading
_PIPELINES: dict[str, Any] = {}
_LOAD_LOCK = threading.Lock()


def get_pipeline(entry: CatalogueEntry):
    """The pipeline of a catalogue entry, loaded on first use and cached; safe to call from several threads.

    A request for a pipeline that is already cached never waits for another one to load.
    """
    key = entry.location
    pipe = _PIPELINES.get(key)
    if pipe is not None:
        return pipe
    with _LOAD_LOCK:
        pipe = _PIPELINES.get(key)
        if pipe is None:
            started = time.perf_counter()
            pipe = entry.load()
            pipe.set_progress_bar_config(disable=True)
            _PIPELINES[key] = pipe
            logger.info("Loaded %s from %s in %.1f s.", entry.name, key, time.perf_counter() - started)
    return pipe


def _request_view(pipe):
    """A per-request view of a cached pipeline that shares its networks but owns a copy of its scheduler.

    The networks are only read during sampling, but ``scheduler.set_timesteps`` rewrites the scheduler's grid:
    two requests with different step counts must not share one scheduler.
    """
    view = copy.copy(pipe)
    view.__dict__["scheduler"] = copy.deepcopy(pipe.scheduler)
    return view


# ----------------------------------------------------------------------------------------------- images
def _describe(image: PIL.Image.Image) -> str:
    return f"{image.width}×{image.height} px"


def _read_upload(path: Path) -> tuple[PIL.Image.Image, list[str]]:
    """An uploaded file through the library's reader (EXIF orientation, 16-bit precision, transparency composited
    onto white, the first frame of an animation) as an 8-bit RGB image, with the reader's notes.

    Raises:
        gr.Error: a readable message for an empty, truncated, huge or non-image file.
    """
    try:
        read = read_image(path, alpha="white")
    except ImageReadError as error:  # the upload's temporary folder says nothing to the user
        reason = str(error).replace(f"{path.parent}{os.sep}", "")
        raise gr.Error(f"This file could not be read as an image ({reason}).") from None
    notes = [note.replace(path.name, "The image", 1) if note.startswith(path.name) else note for note in read.notes]
    pixels = read.pixels
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
        notes.append("The image is grayscale: it was converted to RGB (the models restore colour images).")
    if read.bits > 8:
        notes.append(f"The image has {read.bits}-bit samples: the demo restores it at 8 bits.")
    return PIL.Image.fromarray(np.round(pixels * 255).astype(np.uint8)), notes


def prepare_image(image: Any, max_side: int | None = None) -> tuple[PIL.Image.Image, list[str]]:
    """Turns an upload into an RGB PIL image no larger than ``max_side`` on its long side.

    Accepts a PIL image, a numpy array (uint8, or float in [0, 1]) or a path to an image file. Transparency is
    flattened onto white, grayscale and other modes are converted to RGB, and the EXIF orientation is applied.

    Returns:
        The image and the notes to show the user about what was changed.

    Raises:
        gr.Error: with a readable message when the input is not a usable image.
    """
    notes: list[str] = []
    if image is None:
        raise gr.Error("No image: upload a photo or pick one of the examples first.")
    if isinstance(image, (str, os.PathLike)):
        image, notes = _read_upload(Path(image))
    elif isinstance(image, np.ndarray):
        try:
            tensor = images_to_tensor(image, channels=3)
        except (ValueError, TypeError) as error:
            raise gr.Error(f"This array is not a usable image: {error}") from error
        if tensor.shape[0] != 1:
            raise gr.Error(f"Expected one image, got a batch of {tensor.shape[0]}.")
        image = signed_to_image(to_signed_range(tensor[0]))
    if not isinstance(image, PIL.Image.Image):
        raise gr.Error(f"Expected an image, got {type(image).__name__}.")
    if image.width < 1 or image.height < 1:
        raise gr.Error(f"The image is empty ({_describe(image)}).")

    try:
        image = PIL.ImageOps.exif_transpose(image) or image
    except Exception:  # a broken EXIF block: keep the pixels as stored
        logger.info("Ignoring an unreadable EXIF orientation.")
    try:
        mode = image.mode
        if mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
            background = PIL.Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = PIL.Image.alpha_composite(background, image.convert("RGBA")).convert("RGB")
            notes.append("The image had transparency: it was flattened onto a white background.")
        elif image.mode in ("1", "L", "I", "I;16", "I;16B", "I;16L", "F"):
            image = signed_to_image(to_signed_range(images_to_tensor(image, channels=3)))
            notes.append("The image is grayscale: it was converted to RGB (the models restore colour images).")
        elif image.mode != "RGB":
            image = image.convert("RGB")
            notes.append(f"The image was converted from {mode} to RGB.")
    except (OSError, ValueError) as error:
        raise gr.Error(f"This image could not be converted to RGB ({error}).") from error

    limit = max_side if max_side is not None else max_side_limit()
    if max(image.size) > limit:
        original = _describe(image)
        scale = limit / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, PIL.Image.Resampling.LANCZOS)
        notes.append(
            f"The image ({original}) was downscaled to {_describe(image)}: the limit is {limit} px on the long side."
        )
    return image, notes


def _inpainting_mask(entry: CatalogueEntry, degraded: PIL.Image.Image) -> tuple[torch.Tensor | None, str | None]:
    """The hole of an upload that is already degraded: the fixed hole of a centre-box operator, the pure white pixels
    of a free-form one (the operators fill holes with white), no mask for the other tasks."""
    operator = get_degradation(entry.degradation())
    if not isinstance(operator, Inpainting):
        return None, None
    if operator.mask_generator is None:
        return center_mask(degraded.height, degraded.width)[None, None], None
    white = (np.asarray(degraded) >= 255).all(axis=-1)
    note = (
        f"The hole was taken to be the pure white pixels ({white.mean():.1%} of the image): free-form masks "
        "cannot be recovered otherwise."
    )
    return torch.from_numpy(white.astype(np.float32))[None, None], note


def _super_resolution(entry: CatalogueEntry) -> SuperResolution | None:
    """The operator of a super-resolution pipeline, whose results are larger than its inputs; None for the others."""
    try:
        operator = get_degradation(entry.degradation())
    except ValueError as error:  # a model card that names an unknown operator
        raise gr.Error(f"The pipeline {entry.name} names an unknown degradation: {error}") from None
    return operator if isinstance(operator, SuperResolution) else None


def _crop_to_factor(image: PIL.Image.Image, factor: int) -> tuple[PIL.Image.Image, str | None]:
    """The photo cropped at the right and bottom to a multiple of ``factor`` (the down-sampling needs one)."""
    width, height = image.width - image.width % factor, image.height - image.height % factor
    if (width, height) == image.size:
        return image, None
    if not width or not height:
        raise gr.Error(f"The image ({_describe(image)}) is smaller than the {factor}x down-sampling allows.")
    note = f"The image ({_describe(image)}) was cropped to {width}×{height} px, a multiple of {factor}."
    return image.crop((0, 0, width, height)), note


def _degraded_input(
    entry: CatalogueEntry, sr: SuperResolution | None, clean: PIL.Image.Image, seed: int, degrade_first: bool
) -> tuple[PIL.Image.Image, torch.Tensor | None, str | None]:
    """The degraded image to show and restore, its inpainting mask and a note: the photo through the task's operator
    (the low-resolution photo for super-resolution) or, without ``degrade_first``, the upload itself."""
    if not degrade_first:
        return (clean, *_inpainting_mask(entry, clean))
    signed = to_signed_range(images_to_tensor(clean))
    with torch.no_grad():
        if sr is not None:
            return signed_to_image(sr.low_resolution(signed)), None, None
        # The operator the pipeline was trained on, as its model card names it (e.g. jpeg10-pillow for the
        # shipped jpeg10 pipelines), else the task's.
        output = get_degradation(entry.degradation())(signed, generator=torch.Generator().manual_seed(seed))
    return signed_to_image(output.degraded), output.mask, None


def _metrics(prediction: PIL.Image.Image, target: PIL.Image.Image) -> dict[str, float | None]:
    """PSNR (dB; ``None`` for identical images, whose PSNR is infinite) and SSIM of two images."""
    prediction, target = images_to_tensor(prediction), images_to_tensor(target)
    values: dict[str, float | None] = {}
    value = float(psnr(prediction, target, reduction="mean"))
    values["psnr_db"] = round(value, 3) if math.isfinite(value) else None
    try:
        values["ssim"] = round(float(ssim(prediction, target, reduction="mean")), 4)
    except (ValueError, RuntimeError) as error:  # e.g. an image smaller than the SSIM window
        logger.info("SSIM skipped: %s", error)
    return values


# ---------------------------------------------------------------------------------------------- restore
def restore(
    image: Any,
    task: str,
    method: str,
    steps: int | float | None = None,
    seed: int | float | None = 0,
    degrade_first: bool = True,
    *,
    max_side: int | None = None,
    pipelines_root: str | os.PathLike | None = None,
) -> tuple[PIL.Image.Image, PIL.Image.Image, dict[str, Any]]:
    """Restores one image with the ``<method>-<task>`` pipeline.

    Args:
        image: the photo: a PIL image, a numpy array or a file path; converted to RGB and downscaled to
            ``max_side`` (see :func:`prepare_image`). For a super-resolution task taken as already degraded, the
            low-resolution photo, downscaled to ``max_side / 4`` so that the result stays within ``max_side``.
        task (`str`): the degradation, e.g. ``"jpeg10"``.
        method (`str`): ``"i2sb"``, ``"nadb"`` or ``"ibmd"``.
        steps (`int`, *optional*): sampling steps of I2SB and NADB (default: the pipeline's own, which
            ``model_index.json`` may set); IBMD runs the steps it was distilled for.
        seed (`int`): seeds the degradation and the sampler (each request has its own generators).
        degrade_first (`bool`): degrade the (clean) photo with the task's operator first, so the result can be
            compared with it (PSNR, SSIM); otherwise the photo is taken as already degraded and no metric is given.
        max_side (`int`, *optional*): defaults to ``$BRIDGE_DIFFUSERS_MAX_SIDE`` or 1024.
        pipelines_root (*optional*): the pipelines folder, defaults to :func:`pipelines_dir`.

    Returns:
        ``(degraded, classical, restored, info)``: RGB PIL images of the processed size (lossless to save as PNG;
        for super-resolution the degraded one is the low-resolution image and the others 4 times larger; the
        classical restoration of the task, what a learned method has to beat, is None for a task without one) and a
        JSON-ready dict: task, method, pipeline, steps, seed, sizes, timings, ``psnr_db``/``ssim`` of the result,
        of the degraded input (repeated to the result's size) and of the classical restoration (``_classical``)
        against the photo (only with ``degrade_first``), ``classical_method`` and ``notes``.

    Raises:
        gr.Error: a readable message for unusable images, unknown task/method pairs and failed runs.
    """
    started = time.perf_counter()
    catalogue = discover_pipelines(pipelines_root)
    if not catalogue:
        root = Path(pipelines_root) if pipelines_root is not None else pipelines_dir()
        raise gr.Error(f"No pipelines found in {root}: add folders named <method>-<task>, e.g. nadb-jpeg10.")
    task = str(task or "").strip().lower()
    method = str(method or "").strip().lower()
    entry = catalogue.get((task, method))
    if entry is None:
        available = ", ".join(f"{m}-{t}" for t, m in sorted(catalogue))
        raise gr.Error(f"No {method or '?'} pipeline for the task {task or '?'}. Available: {available}.")
    try:
        seed = 0 if seed is None else int(seed)
    except (TypeError, ValueError) as error:
        raise gr.Error(f"The seed must be a whole number, got {seed!r}.") from error
    if not 0 <= seed <= MAX_SEED:
        raise gr.Error(f"The seed must lie in [0, 2^63 - 1], got {seed}.")

    sr = _super_resolution(entry)
    if sr is not None and not degrade_first:  # the upload is the small image: the result is 4 times larger
        max_side = max(1, (max_side if max_side is not None else max_side_limit()) // sr.factor)
    clean, notes = prepare_image(image, max_side)
    if sr is not None and degrade_first:
        clean, note = _crop_to_factor(clean, sr.factor)
        notes += [note] if note else []
    info: dict[str, Any] = {
        "task": task,
        "method": method,
        "pipeline": entry.name,
        "seed": seed,
        "size": [clean.width, clean.height],
        "degrade_first": bool(degrade_first),
    }

    # 1. The degraded input: the photo through the task's operator, or the upload itself.
    try:
        degraded, mask, note = _degraded_input(entry, sr, clean, seed, degrade_first)
    except ValueError as error:
        raise gr.Error(f"The {task} degradation cannot be applied to this image: {error}") from error
    notes += [note] if note else []
    # The network's input, from the 8-bit degraded image that is shown (what you see is what the model got);
    # a low-resolution image is repeated to the network's size as in training.
    network_input = to_signed_range(images_to_tensor(degraded))
    network_input = network_input if sr is None else sr.upsample(network_input)

    # 2. The restoration.
    try:
        cached = entry.location in _PIPELINES
        load_started = time.perf_counter()
        pipe = get_pipeline(entry)
        load_seconds = None if cached else time.perf_counter() - load_started
    except Exception as error:  # a corrupt or incompatible folder: say which one, keep the app alive
        logger.exception("Loading %s failed.", entry.location)
        raise gr.Error(f"The pipeline {entry.name} could not be loaded: {error}") from error
    if entry.method.is_student:  # a distilled student runs the steps it was distilled for
        if steps is not None and steps != entry.method.default_steps:
            notes.append(f"{entry.method.title} runs the step(s) it was distilled for; the steps setting is ignored.")
        steps = None
    else:
        low, high = pipe.step_range
        try:
            steps = pipe.default_num_inference_steps if steps is None else int(steps)
        except (TypeError, ValueError) as error:
            raise gr.Error(f"The number of steps must be a whole number, got {steps!r}.") from error
        if not low <= steps <= high:
            raise gr.Error(f"The number of steps must lie in [{low}, {high}], got {steps}.")
    classical, classical_name = _classical_baseline(entry, network_input, mask)
    run_started = time.perf_counter()
    try:
        restored = _request_view(pipe).restore(network_input, mask, steps, torch.Generator().manual_seed(seed))
    except ValueError as error:
        raise gr.Error(f"The image could not be restored: {error}") from error
    restored = signed_to_image(restored)
    info["restored_size"] = [restored.width, restored.height]
    info["steps"] = steps or pipe.default_num_inference_steps
    info["seconds_restore"] = round(time.perf_counter() - run_started, 3)

    # 3. Metrics against the photo, when there is one.
    if degrade_first:
        info.update(_metrics(restored, clean))
        # the degraded image as the network saw it, at the photo's size (the same image but for super-resolution)
        shown = signed_to_image(network_input)
        info.update({f"{key}_degraded": value for key, value in _metrics(shown, clean).items()})
        if classical is not None:  # what the learned method has to beat
            info.update({f"{key}_classical": value for key, value in _metrics(classical, clean).items()})
    if load_seconds is not None:  # this request loaded the pipeline
        info["seconds_load"] = round(load_seconds, 3)
    info["seconds_total"] = round(time.perf_counter() - started, 3)
    info["classical_method"] = classical_name
    info["notes"] = notes
    return degraded, classical, restored, info


def _classical_baseline(
    entry: CatalogueEntry, network_input: torch.Tensor, mask: torch.Tensor | None
) -> tuple[PIL.Image.Image | None, str | None]:
    """The task's classical restoration of the network's input (`(1, 3, H, W)` in [-1, 1]; Wiener deconvolution,
    bicubic upsampling, the decoded JPEG, the harmonic fill), with the method's name; ``(None, None)`` for a task
    without one."""
    degradation = entry.degradation()
    method = classical_method(degradation)
    if method is None:
        return None, None
    restored = classical_restore(degradation, network_input.float(), mask=None if mask is None else mask.float())
    return signed_to_image(restored), method


# ------------------------------------------------------------------------------------------------- UI
def _upload_as_path(component: gr.Image) -> gr.Image:
    """Makes an image input hand its upload to the handler as a file path, not decoded.

    ``gr.Image`` opens the file with PIL before any handler runs, so a non-image or empty upload ended in gradio's
    generic "upstream app raised an exception"; with the path, :func:`prepare_image` reads the file with the
    library's reader and says what is wrong. (The instance's ``preprocess`` is replaced rather than subclassing
    ``gr.Image``: gradio writes a ``.pyi`` stub beside the module of every component subclass.)
    """
    decode = component.preprocess

    def preprocess(payload):
        if payload is None:
            return None
        if payload.path is not None and not (payload.url or "").startswith("data:"):
            return str(payload.path)
        try:  # pasted data (a data: URL): gradio decodes it
            return decode(payload)
        except Exception as error:
            raise gr.Error(f"This upload could not be read as an image ({type(error).__name__}: {error}).") from None

    component.preprocess = preprocess
    return component


def example_photos() -> list[str]:
    """The held-out photos of the photo folder (``$BRIDGE_DIFFUSERS_PHOTOS_DIR`` or ``photos/``), if there is one."""
    try:
        return [source.path for source in split_photos()[1]]
    except FileNotFoundError:
        return []


def _method_choices(methods: list[str]) -> list[tuple[str, str]]:
    labels = {name: f"{m.title} (distilled, few steps)" if m.is_student else m.title for name, m in METHODS.items()}
    return [(labels[method], method) for method in methods]


def _default_steps(entry: CatalogueEntry | None) -> int | None:
    """The ``default_steps`` a bridge pipeline's ``model_index.json`` sets (read without loading it), else None."""
    if entry is None:
        return None
    try:
        steps = json.loads((Path(entry.location) / "model_index.json").read_text()).get("default_steps")
    except (OSError, ValueError):
        return None
    return steps if isinstance(steps, int) and 1 <= steps <= MAX_STEPS else None


def _steps_update(entry: CatalogueEntry | None, current: Any = None) -> dict[str, Any]:
    if entry is not None and entry.method.is_student:
        title = entry.method.title
        return gr.update(value=entry.method.default_steps, interactive=False, label=f"Steps ({title} runs its own)")
    value = _default_steps(entry)  # a new pipeline starts at the steps it defaults to (chosen on validation photos)
    value = value if value is not None else (current if isinstance(current, (int, float)) and 1 <= current <= MAX_STEPS
                                             else DEFAULT_STEPS)  # fmt: skip
    return gr.update(value=value, interactive=True, label="Steps")


def _tag(image: PIL.Image.Image, role: str, info: dict[str, Any], request_id: str) -> PIL.Image.Image:
    """Writes the provenance of a result, with a per-request id, into the PNG text metadata gradio saves.

    Gradio stores a returned PIL image at a path named by the hash of its PNG bytes and rewrites that file in
    place, so two requests with byte-identical outputs (the same photo through the deterministic JPEG operator, say)
    would rewrite a file while it is being downloaded; the id makes every request's files distinct.
    """
    tagged = image.copy()
    keys = ("task", "method", "steps", "seed", "degrade_first")
    tagged.info["bridge-diffusers"] = json.dumps({"image": role, **{key: info.get(key) for key in keys}})
    tagged.info["request"] = request_id
    return tagged


INTRO = """
# Diffusion-bridge image restoration

Restores a degraded photo with a diffusion bridge of the `bridge-diffusers` library (built on diffusers):
**I2SB** (image-to-image Schrödinger bridge), **NADB** (a noise-aligned bridge that starts from a mean network's
estimate) and **IBMD** (a bridge distilled into a one- or few-step generator). Upload a clean photo and keep
*Degrade my image first* on to see the degraded input, the restoration and their PSNR/SSIM against your photo;
turn it off to restore a photo that is already degraded. Super-resolution tasks upscale: the degraded input is the
photo 4 times smaller (or your small photo) and the restoration 4 times larger. On a CPU, large photos and many
steps take a while.
"""


def build_demo(pipelines_root: str | os.PathLike | None = None) -> gr.Blocks:
    """The Gradio app; no pipeline is loaded until the first restoration."""
    root = Path(pipelines_root) if pipelines_root is not None else pipelines_dir()
    catalogue = discover_pipelines(root)
    tasks = _tasks(catalogue)
    task0 = tasks[0] if tasks else None
    method0 = _default_method(_methods(catalogue, task0))
    ready = bool(catalogue)
    max_side = max_side_limit()
    concurrency = concurrency_limit()

    def on_task(task: str, method: str, steps: Any):
        methods = _methods(catalogue, task)
        chosen = method if method in methods else _default_method(methods)
        return (
            gr.update(choices=_method_choices(methods), value=chosen),
            _steps_update(catalogue.get((task, chosen)), steps),
        )

    def on_method(task: str, method: str, steps: Any):
        return _steps_update(catalogue.get((task, method)), steps)

    def on_restore(image, task, method, steps, seed, degrade_first):
        try:
            degraded, classical, restored, info = restore(
                image, task, method, steps, seed, degrade_first, max_side=max_side, pipelines_root=root
            )
        except gr.Error:
            raise
        except Exception as error:  # anything unexpected: a readable message in the UI, the trace in the log
            logger.exception("Restoration failed.")
            raise gr.Error(f"The restoration failed ({type(error).__name__}: {error}).") from error
        for note in info["notes"]:
            gr.Warning(note)
        request_id = uuid.uuid4().hex
        roles = ((degraded, "degraded"), (classical, "classical"), (restored, "restored"))
        tagged = [None if image is None else _tag(image, role, info, request_id) for image, role in roles]
        return (*tagged, info)

    # Results are unique per request (see _tag): the cache is pruned of files older than an hour, every hour.
    with gr.Blocks(title="bridge-diffusers: image restoration", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        if not ready:
            gr.Markdown(
                f"### ⚠️ No pipelines found\n\nThe demo looks for saved pipelines in `{root}` (set "
                "`BRIDGE_DIFFUSERS_PIPELINES_DIR` to change it), in sub-folders named `<method>-<task>` such as "
                "`nadb-jpeg10`, `ibmd-jpeg10` or `i2sb-blur-uni`, each holding a `model_index.json` written by "
                "`save_pretrained`. Add some and restart the app.",
                elem_id="no-pipelines",
            )
        with gr.Row():
            with gr.Column(scale=1):
                image_in = gr.Image(
                    type="filepath",
                    image_mode=None,
                    format="png",
                    sources=["upload", "clipboard"],
                    label=f"Your photo (downscaled to {max_side} px if larger)",
                    elem_id="input-image",
                )
                _upload_as_path(image_in)
                task_in = gr.Dropdown(
                    choices=tasks, value=task0, label="Task (degradation)", interactive=ready, elem_id="task"
                )
                # Every method of the catalogue is a valid value (API callers never change the task dropdown);
                # the page narrows the list to the selected task's methods when it loads and on each task change.
                all_methods = [method for method in METHODS if method in {m for _, m in catalogue}]
                method_in = gr.Dropdown(
                    choices=_method_choices(all_methods), value=method0, label="Method", interactive=ready
                )
                steps0 = _steps_update(catalogue.get((task0, method0)))
                steps_in = gr.Slider(
                    1,
                    MAX_STEPS,
                    value=steps0["value"],
                    step=1,
                    label=steps0["label"],
                    interactive=ready and steps0["interactive"],
                    elem_id="steps",
                )
                seed_in = gr.Number(value=0, precision=0, minimum=0, label="Seed", interactive=ready)
                degrade_in = gr.Checkbox(
                    value=True,
                    label="Degrade my image first",
                    info="On: your photo is degraded with the task's operator, then restored and compared with "
                    "it. Off: your photo is taken as already degraded (no metrics).",
                    interactive=ready,
                )
                button = gr.Button("Restore", variant="primary", interactive=ready, elem_id="restore-button")
                photos = example_photos()
                if photos:
                    gr.Examples(examples=[[path] for path in photos], inputs=[image_in], label="Example photos")
            with gr.Column(scale=2):
                with gr.Row():
                    degraded_out = gr.Image(
                        type="pil", format="png", label="Degraded input", interactive=False, elem_id="degraded-image"
                    )
                    classical_out = gr.Image(
                        type="pil",
                        format="png",
                        label="Classical restoration (the method: classical_method below)",
                        interactive=False,
                        elem_id="classical-image",
                    )
                    restored_out = gr.Image(
                        type="pil", format="png", label="Restored", interactive=False, elem_id="restored-image"
                    )
                info_out = gr.JSON(label="PSNR / SSIM (against your photo) and timings", elem_id="info")

        task_in.change(on_task, [task_in, method_in, steps_in], [method_in, steps_in], api_name=False)
        method_in.change(on_method, [task_in, method_in, steps_in], [steps_in], api_name=False)
        if ready:
            demo.load(on_task, [task_in, method_in, steps_in], [method_in, steps_in], api_name=False)
        button.click(
            on_restore,
            [image_in, task_in, method_in, steps_in, seed_in, degrade_in],
            [degraded_out, classical_out, restored_out, info_out],
            api_name="restore",
            concurrency_limit=concurrency,
        )
    return demo


demo = build_demo()

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    torch.set_num_threads(torch_threads())  # process-wide, so only when run as the app, not on import
    demo.queue(max_size=32).launch(max_file_size="25mb")
