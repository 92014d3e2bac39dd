# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The README's main job: restore held-out photos with the shipped pipelines, side by side, with metrics.

``bridge-diffusers showcase`` (or ``bash scripts/demo.sh`` from a fresh clone) degrades a few photos with each
shipped task, restores them with the task's classical method (:func:`~bridge_diffusers.baselines.classical_restore`,
the reference a learned method has to beat) and with every shipped method of that task, writes one side-by-side PNG
per task (clean | degraded | classical | one column per method) and prints PSNR, SSIM and seconds per photo.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont
import torch

from .baselines import classical_method, classical_restore
from .catalogue import CatalogueEntry, read_catalogue
from .data import list_photos, load_photo, split_photos
from .degradations import DegradationOutput, get_degradation
from .imaging import to_signed_range, to_unit_range
from .metrics import psnr, ssim
from .pipelines import images_to_tensor


__all__ = ["SHOWCASE_PHOTOS", "ShowcasePhoto", "load_showcase_photos", "run_showcase", "shipped_pipelines"]

# Two of the held-out photos of the default corpus (see the shipped pipelines' cards), shown when they are held out.
SHOWCASE_PHOTOS = ("skimage/rocket", "sklearn/china")
_MULTIPLE = 8  # sides are cropped to a multiple of this, so every degradation (4x pooling) applies exactly
_LINE_HEIGHT = 12  # pixels per line of a column name in the grid's header


@dataclass
class ShowcasePhoto:
    """A photo ready to degrade: ``image`` is (1, 3, H, W) in [-1, 1] with H and W multiples of 8."""

    name: str
    image: torch.Tensor


def shipped_pipelines(pipelines_dir: str | os.PathLike | None = None) -> dict[str, dict[str, CatalogueEntry]]:
    """The catalogue of ``pipelines_dir`` (default: the shipped pipelines) as ``{task: {method: entry}}``."""
    grouped: dict[str, dict[str, CatalogueEntry]] = {}
    for entry in read_catalogue(pipelines_dir).values():
        grouped.setdefault(entry.task, {})[entry.method.name] = entry
    return grouped


def _to_tensor(image: PIL.Image.Image, scale: float) -> torch.Tensor:
    width, height = image.size
    if scale != 1.0:
        width, height = max(round(width * scale), _MULTIPLE), max(round(height * scale), _MULTIPLE)
        image = image.resize((width, height), PIL.Image.Resampling.BICUBIC)
    images = to_signed_range(images_to_tensor(image.convert("RGB")))
    return images[..., : height // _MULTIPLE * _MULTIPLE, : width // _MULTIPLE * _MULTIPLE]


def load_showcase_photos(
    photos: Sequence[str] | None = None, scale: float = 0.3, photo_dir: str | os.PathLike | None = None
) -> list[ShowcasePhoto]:
    """Photos by name in the photo folder (``"skimage/rocket"``) or by file path, resized by ``scale`` (bicubic).

    Without ``photos``: the held-out photos of the folder (:func:`~bridge_diffusers.data.split_photos`, the split
    of training), those of :data:`SHOWCASE_PHOTOS` if they are held out, else the first two. The shipped pipelines
    were trained on photos resized by 0.12-0.5 before cropping, so ``scale`` near 0.3 shows them content of the kind
    they learnt.

    Raises:
        ValueError: a name that is neither an image file nor a photo of the folder, with the folder's names.
        FileNotFoundError: the photo folder is needed and missing (with the command that writes it).
    """
    if photos is None:
        held_out = split_photos(photo_dir)[1]
        chosen = [source for source in held_out if source.name in SHOWCASE_PHOTOS] or held_out[:2]
        return [ShowcasePhoto(s.name.replace("/", "-"), _to_tensor(load_photo(s), scale)) for s in chosen]
    loaded, folder = [], None
    for photo in photos:
        if os.path.isfile(photo):
            loaded.append(ShowcasePhoto(Path(photo).stem, _to_tensor(load_photo(photo), scale)))
            continue
        folder = folder or {source.name: source for source in list_photos(photo_dir)}
        if photo not in folder:
            raise ValueError(f"{photo!r} is neither an image file nor a photo of the folder ({sorted(folder)})")
        loaded.append(ShowcasePhoto(photo.replace("/", "-"), _to_tensor(load_photo(folder[photo]), scale)))
    return loaded


def _restore(pipe, degraded: torch.Tensor, mask: torch.Tensor | None, steps: int | None, seed: int):
    began = time.perf_counter()
    restored = pipe.restore(degraded.clamp(-1, 1), mask, steps, torch.Generator().manual_seed(seed))
    return to_unit_range(restored.float().cpu()), time.perf_counter() - began


def _classical(
    degradation: str, corrupted: Sequence[DegradationOutput]
) -> tuple[str, list[torch.Tensor], list[float]] | None:
    """The classical restoration of every degraded photo with the operator that degraded it, as in
    ``bridge-diffusers evaluate``: its name (:data:`~bridge_diffusers.baselines.CLASSICAL_METHODS`), the images in
    [0, 1] and the seconds per photo; None for a degradation without a classical method."""
    method = classical_method(degradation)
    if method is None:
        return None
    images, seconds = [], []
    for c in corrupted:
        began = time.perf_counter()
        images.append(to_unit_range(classical_restore(degradation, c.degraded, mask=c.mask)))
        seconds.append(time.perf_counter() - began)
    return method, images, seconds


def _score(restored01: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
    clean01 = to_unit_range(clean)
    return {"psnr": float(psnr(restored01, clean01)), "ssim": float(ssim(restored01, clean01))}


def _wrap(text: str, width: float, font: PIL.ImageFont.ImageFont | PIL.ImageFont.FreeTypeFont) -> list[str]:
    """``text`` in lines of at most ``width`` pixels, broken between words (a longer word gets its own line)."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines or [""]


def _labelled_grid(columns: Sequence[str], rows: Sequence[Sequence[torch.Tensor]]) -> PIL.Image.Image:
    """One row per photo, one column per image ((1, 3, H, W) in [0, 1]), the column names on a header strip (wrapped
    to the column's width: a classical method's name is longer than a narrow photo)."""
    tiles = [torch.cat([image[0] for image in row], dim=-1) for row in rows]
    array = np.round(torch.cat(tiles, dim=-2).clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    width, font = rows[0][0].shape[-1], PIL.ImageFont.load_default()
    labels = [_wrap(name, width - 6, font) for name in columns]
    header = 2 + _LINE_HEIGHT * max(len(lines) for lines in labels)
    canvas = PIL.Image.new("RGB", (array.shape[1], array.shape[0] + header), "white")
    canvas.paste(PIL.Image.fromarray(array), (0, header))
    draw = PIL.ImageDraw.Draw(canvas)
    for index, lines in enumerate(labels):
        for line_index, line in enumerate(lines):
            draw.text((index * width + 3, 1 + line_index * _LINE_HEIGHT), line, fill="black", font=font)
    return canvas


def run_showcase(
    output_dir: str | os.PathLike,
    pipelines_dir: str | os.PathLike | None = None,
    tasks: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    photos: Sequence[ShowcasePhoto] | None = None,
    steps: int | None = None,
    seed: int = 0,
    log=print,
) -> list[dict]:
    """Degrades, restores and scores every photo for every catalogued (task, method); writes ``<task>.png`` grids.

    Args:
        output_dir: where the side-by-side PNGs go (created).
        pipelines_dir: a catalogue folder of ``<method>-<task>`` pipelines (default: the shipped pipelines).
        tasks, methods: restrict to these (default: all).
        photos: the photos (default: :func:`load_showcase_photos`).
        steps: sampling steps of the bridges (default: each pipeline's own); distilled students run their own.
        seed: seeds the degradation (per photo) and the sampler.
        log: called with each progress line.

    Returns:
        One dict per (task, method) with the mean ``psnr``, ``ssim`` and ``seconds`` per photo; each task starts
        with the degraded input (method ``"degraded input"``) and its classical restoration (method: its
        :data:`~bridge_diffusers.baselines.CLASSICAL_METHODS` name, e.g. ``"bicubic upsampling"``), when it has one.
    """
    shipped = shipped_pipelines(pipelines_dir)
    selected = {t: m for t, m in shipped.items() if tasks is None or t in tasks}
    missing = sorted(set(tasks or []) - set(selected))
    if missing or not selected:
        where = pipelines_dir or "the shipped pipelines"
        raise ValueError(f"no shipped pipelines for {missing or 'any task'} in {where} (found: {sorted(shipped)})")
    photos = list(photos) if photos is not None else load_showcase_photos()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for task, entries in selected.items():
        chosen = {m: e for m, e in entries.items() if methods is None or m in methods}
        groups = _by_degradation(task, chosen)
        for degradation_name, group in groups.items():
            # one grid per operator: <task>.png, or <degradation>.png when a task's pipelines differ
            stem = task if len(groups) == 1 else degradation_name
            rows += _showcase_task(task, degradation_name, group, photos, output_dir / f"{stem}.png", steps, seed, log)
    return rows


def _by_degradation(task: str, entries: dict) -> dict[str, dict]:
    """The entries grouped by the operator they were trained on, which their cards name: the photos go through
    it (the tiny jpeg10 / blur-uni pipelines predate the official operators: jpeg10-pillow / blur-uni-per-channel)."""
    groups: dict[str, dict] = {}
    for method, entry in entries.items():
        groups.setdefault(entry.degradation(), {})[method] = entry
    return groups or {task: {}}


def _showcase_task(task, degradation_name, entries, photos, grid_path, steps, seed, log) -> list[dict]:
    degradation = get_degradation(degradation_name)
    corrupted = [degradation(p.image, generator=torch.Generator().manual_seed(seed + i)) for i, p in enumerate(photos)]
    columns = {"degraded input": [to_unit_range(c.degraded) for c in corrupted]}
    seconds = {"degraded input": [0.0] * len(photos)}
    classical = _classical(degradation_name, corrupted)
    if classical is not None:  # beside the degraded input: the reference every learned method has to beat
        name, columns[name], seconds[name] = classical
    for method, entry in entries.items():
        pipe = entry.load()
        pipe.set_progress_bar_config(disable=True)
        method_steps = None if entry.method.is_student else steps
        results = [_restore(pipe, c.degraded, c.mask, method_steps, seed) for c in corrupted]
        columns[method], seconds[method] = [image for image, _ in results], [time for _, time in results]
        log(f"{task:>12} {method:<5} done ({sum(seconds[method]):.1f} s)")
    clean01 = [to_unit_range(p.image) for p in photos]
    grid_rows = [list(row) for row in zip(clean01, *columns.values(), strict=True)]
    labels = ["clean", f"degraded ({degradation_name})", *list(columns)[1:]]
    _labelled_grid(labels, grid_rows).save(grid_path)
    rows = []
    for name, images in columns.items():
        scores = [_score(image, photo.image) for image, photo in zip(images, photos, strict=True)]
        means = {key: float(np.mean([score[key] for score in scores])) for key in ("psnr", "ssim")}
        row = {"task": task, "degradation": degradation_name, "method": name, **means}
        rows.append({**row, "seconds": float(np.mean(seconds[name]))})
    return rows
