# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Endpoint-underfitting diagnostics (NADB): how well a bridge network's output tracks its target over time.

NADB observes that a bridge network underfits near the degraded endpoint: there its output collapses toward a
conditional mean, so it varies less across samples than the regression target does, and points less in the
target's direction. Two statistics per time ``t`` make this visible for any model:

* **variance ratio** ``mean_pixels Var_batch(output) / mean_pixels Var_batch(target)``: for every element
  (channel, pixel) the population variance across the samples of the batch, averaged over elements, for the
  output divided by the same for the target. It is a ratio of averaged variances, not an average of per-element
  ratios (those explode where the target barely varies). 1 means the output varies as much as the target,
  values near 0 a collapsed output; it ignores the direction of the output.
* **cosine** ``mean_samples cos(output_i, target_i)``: the cosine similarity of each flattened output with its
  flattened target, averaged over samples. 1 is the exact direction, about 0 an unrelated (or zero) output.

An oracle (output = target) gives (1, 1); ``output = c * target`` gives ``(c^2, 1)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


__all__ = [
    "Diagnostics",
    "bridge_diagnostics",
    "endpoint_diagnostics",
    "endpoint_statistics",
    "plot_endpoint_diagnostics",
]


@dataclass(frozen=True)
class Diagnostics:
    """Endpoint diagnostics on a grid of times, sorted by time. All arrays have shape `(T,)`.

    Args:
        timesteps (`np.ndarray`): the time values as given to the model (integer scheduler indices for
            :func:`bridge_diagnostics`).
        t (`np.ndarray`): the same times mapped to `[0, 1]`, 0 at the clean end and 1 at the degraded endpoint
            (equal to `timesteps` when no range was given).
        variance_ratio (`np.ndarray`): `Var(output) / Var(target)` (see the module docstring), >= 0; NaN where
            the target does not vary across samples.
        cosine (`np.ndarray`): mean per-sample cosine similarity of output and target, in `[-1, 1]`.
        num_samples (`np.ndarray`): number of samples the statistics of each time were computed from.
    """

    timesteps: np.ndarray
    t: np.ndarray
    variance_ratio: np.ndarray
    cosine: np.ndarray
    num_samples: np.ndarray


def _output_tensor(output: Any) -> torch.Tensor:
    """Accepts a tensor, a diffusers output with `.sample`, or a tuple whose first item is the tensor."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(getattr(output, "sample", None), torch.Tensor):
        return output.sample
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise ValueError(f"The model must return a tensor (or an output with `.sample`), got {type(output).__name__}.")


def endpoint_statistics(output: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """Variance ratio and mean cosine similarity of one set of outputs and targets (see the module docstring).

    Args:
        output (`torch.Tensor` of shape `(B, ...)`): model outputs, at least 2 samples.
        target (`torch.Tensor` of the same shape): regression targets.

    Returns:
        `(variance_ratio, cosine)` as floats; the ratio is NaN when the target has zero variance across samples.
    """
    if output.shape != target.shape:
        raise ValueError(
            f"Model output and target must have the same shape, got {tuple(output.shape)} and {tuple(target.shape)}."
        )
    if output.ndim < 1 or output.shape[0] < 2:
        raise ValueError(
            f"Need at least 2 samples along the batch axis to measure variance, got {tuple(output.shape)}."
        )
    flat_output = output.detach().to("cpu", torch.float64).flatten(1)
    flat_target = target.detach().to("cpu", torch.float64).flatten(1)
    if not (torch.isfinite(flat_output).all() and torch.isfinite(flat_target).all()):
        raise ValueError("Model output or target contains NaN or infinite values.")
    output_variance = flat_output.var(dim=0, correction=0).mean()
    target_variance = flat_target.var(dim=0, correction=0).mean()
    ratio = float(output_variance / target_variance) if target_variance > 0 else float("nan")
    # eps keeps an all-zero output at cosine 0 instead of NaN.
    cosine = float(F.cosine_similarity(flat_output, flat_target, dim=1, eps=1e-12).mean())
    return ratio, cosine


def endpoint_diagnostics(
    predict_fn: Callable[[torch.Tensor, torch.Tensor], Any],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor | int | float]],
    time_range: tuple[float, float] | None = None,
) -> Diagnostics:
    """Runs a model on batches of `(x_t, target, timesteps)` and computes the statistics per distinct time.

    Samples sharing a time value are pooled across batches (and a batch may mix times), so the statistics of
    each time use all of its samples. The model runs under `torch.no_grad()`.

    Args:
        predict_fn (`Callable`):
            `predict_fn(x_t, timesteps) -> output` with `output` of the target's shape (a tensor, or an output
            object with `.sample`).
        batches (`Iterable`):
            Tuples `(x_t, target, timesteps)`: `x_t` the model input `(B, ...)`, `target` the regression target
            `(B, ...)`, `timesteps` a `(B,)` tensor or one number for the whole batch; passed to `predict_fn`
            as a `(B,)` tensor.
        time_range (`tuple[float, float]`, *optional*):
            `(clean, endpoint)` values of `timesteps`, used to report `t = (timesteps - clean) / (endpoint -
            clean)`; without it `t` equals `timesteps`.

    Returns:
        [`Diagnostics`] with one entry per distinct time, sorted.
    """
    outputs: dict[float, list[torch.Tensor]] = {}
    targets: dict[float, list[torch.Tensor]] = {}
    for x_t, target, timesteps in batches:
        timesteps = torch.as_tensor(timesteps, device=x_t.device)
        if timesteps.ndim == 0:
            timesteps = timesteps.expand(x_t.shape[0])
        if timesteps.shape != (x_t.shape[0],):
            raise ValueError(
                f"`timesteps` must be a number or have shape ({x_t.shape[0]},), got {tuple(timesteps.shape)}."
            )
        with torch.no_grad():
            output = _output_tensor(predict_fn(x_t, timesteps))
        if output.shape != target.shape:
            raise ValueError(
                f"Model output shape {tuple(output.shape)} differs from the target shape {tuple(target.shape)}."
            )
        for value in timesteps.unique().tolist():
            selected = timesteps == value
            outputs.setdefault(value, []).append(output[selected].detach().cpu())
            targets.setdefault(value, []).append(target[selected].detach().cpu())
    if not outputs:
        raise ValueError("`batches` was empty: nothing to diagnose.")
    return _summarise(outputs, targets, time_range)


def _summarise(
    outputs: dict[float, list[torch.Tensor]],
    targets: dict[float, list[torch.Tensor]],
    time_range: tuple[float, float] | None,
) -> Diagnostics:
    times = sorted(outputs)
    statistics = [endpoint_statistics(torch.cat(outputs[time]), torch.cat(targets[time])) for time in times]
    timesteps = np.asarray(times)
    if time_range is None:
        t = timesteps.astype(np.float64)
    else:
        clean, endpoint = time_range
        if clean == endpoint:
            raise ValueError(f"`time_range` must have two different ends, got {time_range}.")
        t = (timesteps - clean) / (endpoint - clean)
    return Diagnostics(
        timesteps=timesteps,
        t=t,
        variance_ratio=np.asarray([ratio for ratio, _ in statistics], dtype=np.float64),
        cosine=np.asarray([cosine for _, cosine in statistics], dtype=np.float64),
        num_samples=np.asarray([sum(len(chunk) for chunk in outputs[time]) for time in times], dtype=np.int64),
    )


def _scheduler_time_range(scheduler: Any) -> tuple[int, int]:
    """The (clean, endpoint) indices of a bridge scheduler (I2SB: 0 and 999, NADB: 0 and 1000)."""
    clean = getattr(scheduler, "clean_index", 0)
    endpoint = getattr(scheduler, "endpoint_index", None)
    if endpoint is None:
        endpoint = scheduler.config.num_train_timesteps
    return int(clean), int(endpoint)


def bridge_diagnostics(
    scheduler: Any,
    model_fn: Callable[[torch.Tensor, torch.Tensor], Any],
    clean: torch.Tensor,
    endpoint: torch.Tensor,
    timesteps_grid: Sequence[int] | torch.Tensor,
    generator: torch.Generator | None = None,
) -> Diagnostics:
    """Endpoint diagnostics of a bridge model along a scheduler's training marginal.

    For every index `n` of the grid, with `t_batch` = `n` repeated `B` times: ``x_t =
    scheduler.sample_bridge(clean, endpoint, t_batch, generator=generator)``, ``target =
    scheduler.training_target(clean, endpoint, x_t, t_batch)``, ``output = model_fn(x_t, t_batch)``, then the
    statistics of :func:`endpoint_statistics` over the `B` samples.

    Args:
        scheduler:
            A bridge scheduler (I2SB, NADB, ...) with `sample_bridge` and `training_target`; its `clean_index`
            and `endpoint_index` (else `config.num_train_timesteps`) map indices to `t` in `[0, 1]`.
        model_fn (`Callable`):
            `model_fn(x_t, timesteps)` receiving the integer indices `(B,)`; wrap the network to apply
            `scheduler.model_time` if it expects another time value, e.g.
            ``lambda x, n: unet(x, scheduler.model_time(n)).sample``.
        clean (`torch.Tensor` of shape `(B, C, H, W)`):
            Clean images `x0` in the scheduler's range (nominally `[-1, 1]`), `B >= 2`.
        endpoint (`torch.Tensor` of shape `(B, C, H, W)`):
            The matching endpoint `x1` (degraded image for I2SB, mean-network estimate for NADB).
        timesteps_grid (`Sequence[int]` or `torch.Tensor`):
            Training indices to evaluate.
        generator (`torch.Generator`, *optional*):
            Makes the bridge noise reproducible.

    Returns:
        [`Diagnostics`] with `timesteps` the indices and `t` their position between the clean end and endpoint.
    """
    if clean.shape != endpoint.shape:
        raise ValueError(
            f"`clean` and `endpoint` must have the same shape, got {tuple(clean.shape)} and {tuple(endpoint.shape)}."
        )
    grid = torch.as_tensor(timesteps_grid, dtype=torch.long).flatten().tolist()
    if not grid:
        raise ValueError("`timesteps_grid` is empty.")

    def batches() -> Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        for index in grid:
            t_batch = torch.full((clean.shape[0],), index, dtype=torch.long, device=clean.device)
            with torch.no_grad():
                x_t = scheduler.sample_bridge(clean, endpoint, t_batch, generator=generator)
                target = scheduler.training_target(clean, endpoint, x_t, t_batch)
            yield x_t, target, t_batch

    return endpoint_diagnostics(model_fn, batches(), time_range=_scheduler_time_range(scheduler))


def plot_endpoint_diagnostics(results: dict[str, Diagnostics], path: str | Path, title: str | None = None) -> Path:
    """Writes a PNG with two panels, variance ratio and cosine against `t`, one line per method.

    Uses matplotlib's Agg canvas directly (no pyplot, no global backend change), so it works headless.

    Args:
        results (`dict[str, Diagnostics]`): method name (e.g. `"I2SB"`, `"NADB"`) -> its diagnostics.
        path (`str` or `Path`): the PNG to write; parent folders are created.
        title (`str`, *optional*): figure title.

    Returns:
        `Path` of the written file.
    """
    if not results or not all(isinstance(value, Diagnostics) for value in results.values()):
        raise ValueError("`results` must be a non-empty dict mapping method names to Diagnostics.")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("plot_endpoint_diagnostics needs matplotlib: pip install matplotlib") from error

    figure = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(figure)
    ratio_axis, cosine_axis = figure.subplots(1, 2)
    for name, diagnostics in results.items():
        ratio_axis.plot(diagnostics.t, diagnostics.variance_ratio, marker="o", markersize=3, label=name)
        cosine_axis.plot(diagnostics.t, diagnostics.cosine, marker="o", markersize=3, label=name)
    for axis, label in ((ratio_axis, "Var(output) / Var(target)"), (cosine_axis, "cos(output, target)")):
        axis.axhline(1.0, color="gray", linestyle="--", linewidth=0.8)  # the oracle's value
        axis.set_xlabel("t (0 = clean end, 1 = degraded endpoint)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=120)
    return path
