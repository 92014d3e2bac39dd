# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The README's main job: restore held-out photos with the shipped pipelines, side by side, with metrics.

``bridge-diffusers showcase`` (or ``bash scripts/demo.sh`` from a fresh clone) degrades a few photos with each
shipped task, restores them with every shipped method of that task, writes one side-by-side PNG per task
(clean | degraded | one column per method) and prints PSNR, SSIM and seconds per photo.
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

from .data import load_offline_photo
from .data.photos import list_offline_photos
from .degradations import get_degradation
from .evaluation import pipeline_degradation
from .metrics import psnr, ssim
from .pipelines import load_pipeline


__all__ = ["SHOWCASE_PHOTOS", "ShowcasePhoto", "load_showcase_photos", "run_showcase", "shipped_pipelines"]

# Held out from the training of the shipped pipelines (see their model cards): restoring them is a fair test.
SHOWCASE_PHOTOS = ("skimage/rocket", "sklearn/china")
METHOD_ORDER = ("i2sb", "nadb", "ibmd")
_MULTIPLE = 8  # sides are cropped to a multiple of this, so every degradation (4x pooling) applies exactly


@dataclass
class ShowcasePhoto:
    """A photo ready to degrade: ``image`` is (1, 3, H, W) in [-1, 1] with H and W multiples of 8."""

    name: str
    image: torch.Tensor


def shipped_pipelines(pipelines_dir: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """The saved pipelines of a folder laid out as ``<method>-<task>/``, as ``{task: {method: folder}}``."""
    found: dict[str, dict[str, Path]] = {}
    for folder in sorted(Path(pipelines_dir).glob("*")):
        method, _, task = folder.name.partition("-")
        if method in METHOD_ORDER and task and (folder / "model_index.json").is_file():
            found.setdefault(task, {})[method] = folder
    return {task: dict(sorted(m.items(), key=lambda kv: METHOD_ORDER.index(kv[0]))) for task, m in found.items()}


def _to_tensor(image: PIL.Image.Image, scale: float) -> torch.Tensor:
    width, height = image.size
    if scale != 1.0:
        width, height = max(round(width * scale), _MULTIPLE), max(round(height * scale), _MULTIPLE)
        image = image.resize((width, height), PIL.Image.Resampling.BICUBIC)
    array = np.asarray(image.convert("RGB"), dtype=np.float32)[: height // _MULTIPLE * _MULTIPLE]
    array = array[:, : width // _MULTIPLE * _MULTIPLE]
    return torch.from_numpy(array / 127.5 - 1.0).permute(2, 0, 1)[None]


def load_showcase_photos(photos: Sequence[str] = SHOWCASE_PHOTOS, scale: float = 0.3) -> list[ShowcasePhoto]:
    """Photos by corpus name (``"skimage/rocket"``) or file path, resized by ``scale`` (bicubic).

    The shipped pipelines were trained on photos resized by 0.12-0.5 before cropping, so ``scale`` near 0.3
    shows them content of the kind they learnt.

    Raises:
        ValueError: a name that is neither an image file nor an installed corpus photo, with the installed names.
    """
    corpus = {source.name: source for source in list_offline_photos()}
    loaded = []
    for photo in photos:
        if os.path.isfile(photo):
            with PIL.Image.open(photo) as image:
                loaded.append(ShowcasePhoto(Path(photo).stem, _to_tensor(image.convert("RGB"), scale)))
        elif photo in corpus:
            loaded.append(ShowcasePhoto(photo.replace("/", "-"), _to_tensor(load_offline_photo(corpus[photo]), scale)))
        else:
            raise ValueError(
                f"{photo!r} is neither an image file nor an installed corpus photo (installed: {sorted(corpus)}). "
                "The default photos come from scikit-image and scikit-learn: pip install 'bridge-diffusers[photos]'."
            )
    return loaded


def _restore(pipe, degraded: torch.Tensor, mask: torch.Tensor | None, steps: int | None, seed: int):
    kwargs = {} if steps is None else {"num_inference_steps": steps}
    began = time.perf_counter()
    images01 = pipe(((degraded + 1) / 2).clamp(0, 1), mask=mask, generator=torch.Generator().manual_seed(seed),
                    output_type="pt", **kwargs).images  # fmt: skip
    return images01, time.perf_counter() - began


def _score(restored01: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
    clean01 = ((clean + 1) / 2).clamp(0, 1)
    return {"psnr": float(psnr(restored01, clean01)), "ssim": float(ssim(restored01, clean01))}


def _labelled_grid(columns: Sequence[str], rows: Sequence[Sequence[torch.Tensor]]) -> PIL.Image.Image:
    """One row per photo, one column per image ((1, 3, H, W) in [0, 1]), the column names on a header strip."""
    tiles = [torch.cat([image[0] for image in row], dim=-1) for row in rows]
    array = np.round(torch.cat(tiles, dim=-2).clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    header, width = 14, rows[0][0].shape[-1]
    canvas = PIL.Image.new("RGB", (array.shape[1], array.shape[0] + header), "white")
    canvas.paste(PIL.Image.fromarray(array), (0, header))
    draw, font = PIL.ImageDraw.Draw(canvas), PIL.ImageFont.load_default()
    for index, name in enumerate(columns):
        draw.text((index * width + 3, 1), name, fill="black", font=font)
    return canvas


def run_showcase(
    output_dir: str | os.PathLike,
    pipelines_dir: str | os.PathLike,
    tasks: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    photos: Sequence[ShowcasePhoto] | None = None,
    steps: dict[str, int] | None = None,
    seed: int = 0,
    log=print,
) -> list[dict]:
    """Degrades, restores and scores every photo for every shipped (task, method); writes ``<task>.png`` grids.

    Args:
        output_dir: where the side-by-side PNGs go (created).
        pipelines_dir: a folder of ``<method>-<task>`` pipelines (the repository's ``pipelines/``).
        tasks, methods: restrict to these (default: all shipped).
        photos: the photos (default: :func:`load_showcase_photos`).
        steps: sampling steps per method (default: each pipeline's own default).
        seed: seeds the degradation (per photo) and the sampler.
        log: called with each progress line.

    Returns:
        One dict per (task, method) with the mean ``psnr``, ``ssim`` and ``seconds`` per photo; the degraded
        input of each task is a row with method ``"degraded input"``.
    """
    shipped = shipped_pipelines(pipelines_dir)
    selected = {t: m for t, m in shipped.items() if tasks is None or t in tasks}
    missing = sorted(set(tasks or []) - set(selected))
    if missing or not selected:
        raise ValueError(
            f"no shipped pipelines for {missing or 'any task'} in {pipelines_dir} (found: {sorted(shipped)})"
        )
    photos = list(photos) if photos is not None else load_showcase_photos()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for task, folders in selected.items():
        chosen = {m: f for m, f in folders.items() if methods is None or m in methods}
        rows += _showcase_task(task, chosen, photos, output_dir, steps or {}, seed, log)
    return rows


def _showcase_task(task, folders, photos, output_dir, steps, seed, log) -> list[dict]:
    # The photos go through the operator the pipelines were trained on, which their cards name (the shipped
    # jpeg10 / blur-uni pipelines predate the official operators and need jpeg10-pillow / blur-uni-per-channel).
    names = {pipeline_degradation(folder) or task for folder in folders.values()} or {task}
    if len(names) > 1:
        raise ValueError(f"the {task} pipelines were trained on different degradations {sorted(names)}: pick methods")
    (degradation_name,) = names
    degradation = get_degradation(degradation_name)
    corrupted = [degradation(p.image, generator=torch.Generator().manual_seed(seed + i)) for i, p in enumerate(photos)]
    columns = {"degraded input": [((c.degraded + 1) / 2).clamp(0, 1) for c in corrupted]}
    seconds = {"degraded input": [0.0] * len(photos)}
    for method, folder in folders.items():
        pipe = load_pipeline(str(folder))
        pipe.set_progress_bar_config(disable=True)
        results = [_restore(pipe, c.degraded, c.mask, steps.get(method), seed) for c in corrupted]
        columns[method], seconds[method] = [image for image, _ in results], [time for _, time in results]
        log(f"{task:>12} {method:<5} done ({sum(seconds[method]):.1f} s)")
    clean01 = [(p.image + 1) / 2 for p in photos]
    grid_rows = [list(row) for row in zip(clean01, *columns.values(), strict=True)]
    _labelled_grid(["clean", f"degraded ({degradation_name})", *folders], grid_rows).save(output_dir / f"{task}.png")
    rows = []
    for name, images in columns.items():
        scores = [_score(image, photo.image) for image, photo in zip(images, photos, strict=True)]
        means = {key: float(np.mean([score[key] for score in scores])) for key in ("psnr", "ssim")}
        rows.append({"task": task, "method": name, **means, "seconds": float(np.mean(seconds[name]))})
    return rows
