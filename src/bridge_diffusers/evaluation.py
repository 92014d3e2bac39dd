# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Evaluating restorers on held-out photos: PSNR, SSIM, the offline Frechet distance and time per image.

The evaluation set is made of fixed crops of the **held-out** photos of a photo folder (``photos/`` by default, split
by :func:`~bridge_diffusers.data.split_photos` with the training scripts' seed), degraded with a fixed generator, so
that every method and NFE sees the same inputs. A pipeline runs as a restorer through its ``restore`` method.
``fd_effnet_lite0`` is a Frechet distance on EfficientNet-Lite0 features, not FID: compare it only between rows of
one table, and read it with its sample count.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from .data import FixedCropDataset, split_photos
from .degradations import get_degradation
from .imaging import to_unit_range
from .metrics import psnr, ssim


__all__ = [
    "FD_COLUMN",
    "EvaluationSet",
    "best_default_steps",
    "evaluate_pipelines",
    "evaluate_restorer",
    "make_evaluation_set",
    "mean_network_restorer",
    "pipeline_restorer",
    "plot_metric_curves",
    "reference_restorers",
    "save_image_grid",
    "time_restorer",
    "write_table",
]

# (degraded (B, C, H, W) in [-1, 1], mask (B, 1, H, W) or None) -> restored (B, C, H, W) in [-1, 1]
Restorer = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


#: The table column of the Fréchet distance.
FD_COLUMN = "fd_effnet_lite0"


@dataclass
class EvaluationSet:
    """Aligned clean and degraded crops, (N, C, H, W) in [-1, 1], and where they came from."""

    clean: torch.Tensor
    degraded: torch.Tensor
    mask: torch.Tensor | None
    task: str
    description: str

    def __len__(self) -> int:
        return self.clean.shape[0]


def make_evaluation_set(
    task: str,
    resolution: int = 64,
    crops_per_image: int = 16,
    seed: int = 0,
    validation_fraction: float = 0.25,
    scale: float = 1.0,
    photos: str | os.PathLike | None = None,
) -> EvaluationSet:
    """Fixed crops of held-out photos, degraded by ``task`` with a generator seeded by ``seed``.

    Args:
        task (`str`): a degradation name (``jpeg10``, ``blur-uni``, ``sr4x-pool``, ``inpaint-center``, ...).
        resolution (`int`): crop size in pixels.
        crops_per_image (`int`): crops per held-out photo (placed on a grid over the whole photo).
        seed (`int`): the split seed (as ``--seed`` of the training scripts) and the degradation seed.
        validation_fraction (`float`): as ``--validation_fraction`` of the training scripts.
        scale (`float`): resize factor of the photos before cropping (as the training validation crops, the
            geometric middle of ``--scale_range``).
        photos (*optional*): the photo folder that training splits (default ``photos/``, see
            :func:`~bridge_diffusers.data.photos_dir`).

    Returns:
        The set; its description names the held-out photos, so a model card records what was held out.
    """
    _, held_out = split_photos(photos, validation_fraction, seed=seed)
    crops = FixedCropDataset(held_out, resolution, crops_per_image=crops_per_image, scale=scale)
    clean = torch.stack([crops[i]["pixel_values"] for i in range(len(crops))])
    corrupted = get_degradation(task)(clean, generator=torch.Generator().manual_seed(seed))
    names = ", ".join(source.name for source in held_out)
    description = f"{len(clean)} crops of {resolution}x{resolution} px from {len(held_out)} held-out photos ({names})"
    return EvaluationSet(clean, corrupted.degraded, corrupted.mask, task, description)


def time_restorer(restorer: Restorer, evaluation_set: EvaluationSet, batch_size: int = 16):
    """Runs ``restorer`` over the set in batches; returns the restorations and the wall time per image (s)."""
    outputs, elapsed = [], 0.0
    for start in range(0, len(evaluation_set), batch_size):
        degraded = evaluation_set.degraded[start : start + batch_size]
        mask = None if evaluation_set.mask is None else evaluation_set.mask[start : start + batch_size]
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        began = time.perf_counter()
        restored = restorer(degraded, mask)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        elapsed += time.perf_counter() - began
        outputs.append(restored.detach().float().cpu())
    return torch.cat(outputs), elapsed / len(evaluation_set)


def score(
    restored: torch.Tensor, clean: torch.Tensor, frechet: bool = True, device: str | None = None
) -> dict[str, float]:
    """PSNR (dB, mean over images), SSIM and, if asked, ``fd_effnet_lite0`` (Ledoit-Wolf shrinkage, N reported)."""
    restored01, clean01 = to_unit_range(restored), to_unit_range(clean)
    scores = {
        "psnr": float(psnr(restored01, clean01, reduction="mean")),
        "ssim": float(ssim(restored01, clean01, reduction="mean")),
    }
    if frechet:
        from .metrics import FrechetDistance

        distance = FrechetDistance(device=device, shrinkage="ledoit-wolf")
        distance.update(clean01, real=True)
        distance.update(restored01, real=False)
        result = distance.compute()
        scores[FD_COLUMN] = float(result.value)
        scores["fd_samples"] = float(result.num_fake)
    return scores


def evaluate_restorer(
    name: str,
    restorer: Restorer,
    evaluation_set: EvaluationSet,
    batch_size: int = 16,
    frechet: bool = True,
    **extra: float | int | str,
) -> tuple[dict, torch.Tensor]:
    """One table row: the scores and the time per image of ``restorer``, plus its restorations."""
    restored, seconds = time_restorer(restorer, evaluation_set, batch_size)
    row = {"method": name, **extra, **score(restored, evaluation_set.clean, frechet), "seconds_per_image": seconds}
    return row, restored


def pipeline_restorer(pipe, num_inference_steps: int | None, seed: int = 0) -> Restorer:
    """``pipe.restore`` with one seeded generator for the whole set (the inputs clamped to [-1, 1], as an image)."""
    generator = torch.Generator().manual_seed(seed)
    return lambda degraded, mask: pipe.restore(degraded.clamp(-1, 1), mask, num_inference_steps, generator)


def mean_network_restorer(mean_net: torch.nn.Module) -> Restorer:
    """NADB's mean network alone (its estimate of E[X0 | X1]) as a restorer."""

    def restore(degraded: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        parameter = next(mean_net.parameters())
        with torch.no_grad():
            hole = None if mask is None else mask.to(parameter.device, parameter.dtype)  # a classical fill needs it
            restored = mean_net(degraded.to(parameter.device, parameter.dtype), hole).float().cpu().clamp(-1, 1)
        return restored if mask is None else mask * restored + (1 - mask) * degraded

    return restore


def identity_restorer(degraded: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The degraded input itself, the reference row of every table."""
    return degraded.clamp(-1, 1)


def reference_restorers(task: str) -> list[tuple[str, Restorer]]:
    """The rows every comparison starts with, named as the tables name them: the degraded input and, when ``task``
    has one, its classical restoration (named as :data:`~bridge_diffusers.baselines.CLASSICAL_METHODS` names it)."""
    from .baselines import classical_method, classical_restore

    references: list[tuple[str, Restorer]] = [("degraded input", identity_restorer)]
    method = classical_method(task)
    if method is not None:
        references.append((method, lambda degraded, mask: classical_restore(task, degraded, mask=mask)))
    return references


def evaluate_pipelines(
    evaluation_set: EvaluationSet,
    pipelines: Sequence[str | os.PathLike],
    nfes: Sequence[int] = (1, 10, 100),
    student_nfes: Sequence[int] | None = None,
    seed: int = 0,
    batch_size: int = 16,
    frechet: bool = True,
    log: Callable[[str], None] = print,
) -> tuple[list[dict], list[torch.Tensor]]:
    """The whole comparison on one evaluation set: the degraded input, the task's classical restoration (when
    there is one), the mean network alone of the methods that have one (NADB), every bridge at every NFE in
    ``nfes`` and every distilled student at ``student_nfes`` (default: its own number of steps), each NFE within
    what the pipeline accepts (a degraded-input student takes one step only).

    Returns:
        The table rows (see :func:`evaluate_restorer`; pipelines are named ``"<method title> (<folder>)"`` and add
        ``nfe``) and the restorations of every row, (N, C, H, W) in [-1, 1], in the same order.
    """
    from .methods import method_of
    from .pipelines import load_pipeline

    rows, restorations = [], []

    def add(name, restorer, **extra):
        row, restored = evaluate_restorer(name, restorer, evaluation_set, batch_size, frechet, **extra)
        rows.append(row)
        restorations.append(restored)
        log(markdown_table([row]).splitlines()[-1])

    for name, restorer in reference_restorers(evaluation_set.task):
        add(name, restorer)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for path in pipelines:
        pipe = load_pipeline(str(path)).to(device)
        pipe.set_progress_bar_config(disable=True)
        method, folder = method_of(pipe), Path(path).name
        if method.has_mean_net and pipe.mean_net is not None:
            add(f"mean network ({folder})", mean_network_restorer(pipe.mean_net))
        for nfe in pipeline_steps(pipe, student_nfes if method.is_student else nfes):
            add(f"{method.title} ({folder})", pipeline_restorer(pipe, nfe, seed), nfe=nfe)
    return rows, restorations


def best_default_steps(rows: Sequence[dict], method: str, psnr_floor: float, metric: str = FD_COLUMN) -> int:
    """The NFE a pipeline should default to, read from its evaluation rows: the one with the lowest ``metric``
    (the Fréchet distance: the realism a sampler is for) among the NFEs whose PSNR is at least ``psnr_floor``
    (e.g. the one-call estimate's PSNR minus 2 dB: a posterior sample may pay in PSNR, but only so much); the
    best-PSNR NFE when none reaches the floor.

    Args:
        rows: rows of :func:`evaluate_pipelines`; those whose ``method`` is ``method`` and that have an ``nfe``.
        method: the row name of the pipeline, e.g. ``"NADB (nadb-jpeg10)"``.
        psnr_floor: the lowest acceptable PSNR (dB).
        metric: the column to minimise.
    """
    candidates = [row for row in rows if row["method"] == method and row.get("nfe") is not None]
    if not candidates:
        raise ValueError(f"No rows with an NFE for {method!r}; methods: {sorted({row['method'] for row in rows})}.")
    acceptable = [row for row in candidates if row["psnr"] >= psnr_floor]
    if not acceptable:
        return int(max(candidates, key=lambda row: row["psnr"])["nfe"])
    return int(min(acceptable, key=lambda row: (row[metric], row["nfe"]))["nfe"])


def pipeline_steps(pipe, requested: Sequence[int] | None) -> list[int]:
    """The NFEs of ``requested`` (default: the pipeline's own), each brought into ``pipe.step_range``, sorted."""
    low, high = pipe.step_range
    requested = requested or [pipe.default_num_inference_steps]
    return sorted({min(max(int(nfe), low), high) for nfe in requested})


# ------------------------------------------------------------------------------------------------ output


def write_table(
    rows: list[dict], stem: str | os.PathLike, formats: Sequence[str] = ("md", "csv", "json")
) -> list[Path]:
    """Writes the rows as ``<stem>.md`` (a markdown table), ``<stem>.csv`` and ``<stem>.json``."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    columns = _columns(rows)
    written = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        if fmt == "json":
            path.write_text(json.dumps(rows, indent=2))
        elif fmt == "csv":
            with open(path, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=columns)
                writer.writeheader()
                writer.writerows(rows)
        elif fmt == "md":
            path.write_text(markdown_table(rows, columns))
        else:
            raise ValueError(f"Unknown table format {fmt!r}; use md, csv or json.")
        written.append(path)
    return written


def _columns(rows: list[dict]) -> list[str]:
    """Every key of the rows, ``method`` and ``nfe`` first, then in order of first appearance."""
    keys = list(dict.fromkeys(key for row in rows for key in row))
    return [key for key in ("method", "nfe") if key in keys] + [key for key in keys if key not in ("method", "nfe")]


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return "" if value is None else str(value)


def markdown_table(rows: list[dict], columns: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured markdown table of ``rows``."""
    columns = list(columns or _columns(rows))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(column)) for column in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def plot_metric_curves(rows: list[dict], path: str | os.PathLike, metrics=("psnr", "ssim", FD_COLUMN)) -> Path:
    """NFE-versus-metric curves, one line per method (rows with an ``nfe``), one panel per metric, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in metrics if any(m in row for row in rows)]
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    methods = list(dict.fromkeys(row["method"] for row in rows))
    for axis, metric in zip(axes[0], metrics, strict=True):
        for method in methods:
            points = sorted((row["nfe"], row[metric]) for row in rows if row["method"] == method and row.get("nfe"))
            if points:
                axis.plot(*zip(*points, strict=True), marker="o", label=method)
            else:  # a method without NFE (a baseline): a horizontal reference line
                values = [row[metric] for row in rows if row["method"] == method and metric in row]
                if values:
                    axis.axhline(values[0], linestyle="--", linewidth=1, label=method, color="grey")
        axis.set_xscale("log")
        axis.set_xlabel("NFE")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def save_image_grid(rows: Sequence[torch.Tensor], path: str | os.PathLike, max_columns: int = 8) -> Path:
    """A PNG with one row per tensor ((N, C, H, W) in [-1, 1]) and one column per image (first ``max_columns``)."""
    images = [to_unit_range(row[:max_columns].detach().float().cpu()) for row in rows]
    grid = torch.cat([torch.cat(list(row), dim=-1) for row in images], dim=-2)  # (C, rows*H, cols*W)
    array = np.round(grid.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).save(path)
    return path
