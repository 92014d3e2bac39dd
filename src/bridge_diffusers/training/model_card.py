# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Model cards for trained pipelines: what the method, task, data and run were, and what the model can't do.

Every card starts with the Hub metadata a user filters by (YAML front matter, built with ``huggingface_hub``'s
``ModelCardData`` and ``EvalResult``):

* ``license: apache-2.0``, ``library_name: bridge-diffusers``, ``pipeline_tag: image-to-image`` and the tags
  ``diffusers``, ``diffusion-bridge``, ``image-restoration``, the method and the task;
* ``datasets``: the training images: the Hub id of ``--dataset_name``; for the photo corpus of
  ``scripts/fetch_photos.sh``, which is not on the Hub, its local name :data:`PHOTO_CORPUS`; for another image
  folder, ``"<folder name> (local image folder)"``;
* ``base_model``: a distilled student names its teacher (a bridge trained from scratch has none): the Hub id it was
  distilled from, or for a local teacher folder the id that teacher is published under. Shipped pipelines are
  ``<method>-<task>`` folders (``pipelines/README.md``), published as ``bridge-diffusers/<method>-<task>``
  (:func:`shipped_repo_id`), so the IBMD student of ``runs/shipped/jpeg10/nadb`` names
  ``bridge-diffusers/nadb-jpeg10``. Its ``base_model_relation`` is ``finetune``: the student is the teacher's
  network trained further (the Hub has no "distillation" relation);
* ``model-index``: the held-out PSNR, SSIM and Fréchet distance of the pipeline and, as a separate result entry, of
  the task's classical restoration, written by ``scripts/export_shipped.py`` (:func:`write_model_index`); a training
  run's card has none, its validation crops being no held-out evaluation with a baseline.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData, metadata_load, metadata_save
from huggingface_hub.repocard_data import eval_results_to_model_index

from ..baselines import classical_method
from ..data import photos_dir
from ..evaluation import FD_COLUMN
from ..methods import BridgeMethod, get_method, method_of
from ..pipelines import RestorationPipeline


__all__ = [
    "MEAN_NETWORK_FORMULA",
    "PHOTO_CORPUS",
    "SHIPPED_NAMESPACE",
    "HeldOutEvaluation",
    "complete_hub_metadata",
    "hub_metadata",
    "launch_command",
    "mean_network_section",
    "photo_dataset_name",
    "shipped_repo_id",
    "teacher_method",
    "write_model_card",
    "write_model_index",
]

#: The Hub namespace the shipped ``<method>-<task>`` pipelines are published under.
SHIPPED_NAMESPACE = "bridge-diffusers"
#: The ``datasets`` name of the photo corpus that ``scripts/fetch_photos.sh`` writes (no Hub dataset holds it).
PHOTO_CORPUS = "bridge-diffusers-photos"
#: A mean network with a classical start (``MeanNetwork(classical=<task>)``), as its card states it.
MEAN_NETWORK_FORMULA = "M(X1) = C(X1) + R([X1, C(X1)])"
# The first line of the README that scripts/fetch_photos.sh writes into the corpus folder: how we recognise it.
_CORPUS_README_TITLE = "# Photo corpus"
# The student starts as the teacher's network and is trained further; "finetune" is the Hub relation closest to that.
_STUDENT_RELATION = "finetune"
# (row key, metric type, display name) of each model-index metric.
_METRICS = (
    ("psnr", "psnr", "PSNR (dB)"),
    ("ssim", "ssim", "SSIM"),
    (FD_COLUMN, FD_COLUMN, "FD (Fréchet distance of EfficientNet-Lite0 features, not FID)"),
)


def launch_command(argv: list[str] | None = None) -> str:
    """The command line of this run as a user would retype it (``accelerate launch`` sets ACCELERATE_* variables)."""
    argv = sys.argv if argv is None else argv
    script = argv[0]
    if os.path.basename(os.path.dirname(os.path.abspath(script))) == "training":
        script = os.path.join("training", os.path.basename(script))  # as run from the repository root
    launcher = "accelerate launch" if any(key.startswith("ACCELERATE_") for key in os.environ) else "python"
    return shlex.join([*launcher.split(), script, *argv[1:]])


# ------------------------------------------------------------------------------------------------ metadata
def shipped_repo_id(method: str, task: str) -> str:
    """The Hub id a shipped ``<method>-<task>`` pipeline is published as, e.g. ``bridge-diffusers/nadb-jpeg10``."""
    return f"{SHIPPED_NAMESPACE}/{method}-{task}"


def teacher_method(student: RestorationPipeline) -> BridgeMethod:
    """The method of the bridge a distilled student was distilled from, as the student itself records it."""
    teacher = getattr(getattr(student, "scheduler", None), "teacher", None)  # IBMDScheduler keeps its teacher's
    # A degraded-input student has no scheduler: it is only ever distilled from an NADB teacher's mean network.
    return method_of(teacher) if teacher is not None else get_method("nadb")


def photo_dataset_name(folder: str | os.PathLike | None = None) -> str:
    """The ``datasets`` entry of a photo folder (default: the default photo folder): :data:`PHOTO_CORPUS` for the
    corpus of ``scripts/fetch_photos.sh``, else ``"<folder name> (local image folder)"``."""
    root = photos_dir(folder)
    readme = root / "README.md"
    if readme.is_file() and readme.read_text(encoding="utf-8").startswith(_CORPUS_README_TITLE):
        return PHOTO_CORPUS
    return f"{root.resolve().name} (local image folder)"


def _training_datasets(args: argparse.Namespace) -> list[str]:
    """The ``datasets`` of a training run: its Hub dataset, else its image folder."""
    hub_dataset = getattr(args, "dataset_name", None)
    return [hub_dataset] if hub_dataset else [photo_dataset_name(getattr(args, "train_data_dir", None))]


def hub_metadata(
    pipeline: RestorationPipeline, task: str, datasets: list[str], base_model: str | None = None
) -> ModelCardData:
    """The front matter of a pipeline's card (see the module docstring).

    Args:
        pipeline: the trained pipeline; its method comes from the registry.
        task (`str`): the task it restores, as in its ``<method>-<task>`` name.
        datasets (`list[str]`): the training images (Hub ids or local names).
        base_model (`str`, *optional*): the teacher's Hub id; a student without one names the shipped teacher of
            ``task`` (:func:`shipped_repo_id`). Ignored for a bridge trained from scratch.
    """
    method, task = method_of(pipeline), task.replace(" ", "-")  # "paired translation" has no task name of its own
    teacher = None
    if method.is_student:
        teacher = base_model or shipped_repo_id(teacher_method(pipeline).name, task)
    return ModelCardData(
        license="apache-2.0",
        library_name="bridge-diffusers",
        pipeline_tag="image-to-image",
        tags=["diffusers", "diffusion-bridge", "image-restoration", method.name, task],
        datasets=datasets,
        base_model=teacher,
        base_model_relation=_STUDENT_RELATION if teacher else None,
    )


def complete_hub_metadata(
    card: str | os.PathLike, pipeline: RestorationPipeline, task: str, datasets: list[str]
) -> None:
    """Adds to ``card``'s front matter the fields of :func:`hub_metadata` it lacks (a card written before they
    existed); the fields it has (a teacher's Hub id, say) stay, and the tags are merged."""
    present = metadata_load(card) or {}
    fresh = hub_metadata(pipeline, task, datasets).to_dict()
    tags = list(dict.fromkeys([*present.get("tags", []), *fresh["tags"]]))
    metadata_save(card, {**fresh, **present, "tags": tags})


# ------------------------------------------------------------------------------------------------ mean network
def mean_network_section(pipeline: RestorationPipeline) -> str:
    """The card's "Mean network" section (a markdown section ending in a blank line), or ``""`` without one."""
    mean_net = getattr(pipeline, "mean_net", None)
    if mean_net is None:
        return ""
    classical = mean_net.config.classical
    if classical is None:
        body = "`M(X1)` is a UNet's estimate of `E[X0 | X1]` from the degraded image `X1` (the paper's mean network)."
    else:
        restorer = classical_method(classical)
        body = (
            f"`{MEAN_NETWORK_FORMULA}`: `C` is the classical restoration of `{classical}` ({restorer}, "
            "`bridge_diffusers.baselines.classical_restore`) and `R` a UNet trained on the residual, whose output "
            "layer started at zero, so that the mean network started as the classical method."
        )
    return f"## Mean network\n\n{body}\n\n"


# ------------------------------------------------------------------------------------------------ the card
def write_model_card(
    args: argparse.Namespace,
    pipeline: RestorationPipeline,
    data: str,
    batch_size: int,
    metrics: dict[str, float],
    details: dict[str, object],
    base_model: str | None = None,
) -> Path:
    """Writes ``README.md`` (YAML front matter + card) into ``args.output_dir``, where ``pipeline`` was saved.

    Args:
        args: the training flags (task, steps, resolution, data, the command in ``args.command``).
        pipeline: the trained pipeline; its method comes from the registry.
        data (`str`): where the training images came from.
        batch_size (`int`): the total batch size of an optimiser step.
        metrics (`dict`): the final validation scores.
        details (`dict`): method settings, listed under "Training".
        base_model (`str`, *optional*): the Hub id of the model it was distilled or fine-tuned from; a student
            distilled from a local folder names the shipped teacher of its task instead.
    """
    method, task = method_of(pipeline), args.task or "paired translation"
    card_data = hub_metadata(pipeline, task, _training_datasets(args), base_model)
    pipeline_class = type(pipeline).__name__
    rows = "".join(f"\n| {name} | {value:.4f} |" for name, value in sorted(metrics.items()))
    table = f"| metric | value |\n|---|---|{rows}" if rows else "No validation was run."
    settings = "".join(f"- **{key}**: {value}\n" for key, value in details.items())
    content = f"""---
{card_data.to_yaml()}
---

# {method.title} for `{task}`

{method.description}

{mean_network_section(pipeline)}## Use

```python
from bridge_diffusers import {pipeline_class}

pipe = {pipeline_class}.from_pretrained("<this folder or repo id>")  # variant="fp16": half-size weights
restored = pipe(image=degraded_image).images[0]
```

## Training

- **Task**: `{task}`
- **Data**: {data} (`datasets`: {", ".join(card_data.datasets)})
- **Steps**: {args.max_train_steps} optimiser steps, batch {batch_size}, {args.resolution}x{args.resolution} crops
{settings}
Command:

```bash
{args.command}
```

## Validation

{table}

## Limitations

- Trained for `{task}` only, on the data above: other degradations or image statistics are out of
  distribution, and a short run on a small corpus is far from the papers' ImageNet models.
- A generative restorer can invent plausible detail that was not in the original: do not use its output as
  evidence of what a scene contained.

## Licence

apache-2.0. Code: bridge-diffusers (Apache-2.0).
"""
    path = Path(args.output_dir) / "README.md"
    path.write_text(ModelCard(content).content)
    return path


# ------------------------------------------------------------------------------------------------ model-index
@dataclass(frozen=True)
class HeldOutEvaluation:
    """What the model-index results were measured on.

    Args:
        dataset (`str`): the photos' ``datasets`` name (:func:`photo_dataset_name`).
        degradation (`str`): the registered degradation the held-out crops went through, e.g. ``"jpeg10-pillow"``.
        description (`str`): the crops, e.g. ``EvaluationSet.description``.
    """

    dataset: str
    degradation: str
    description: str


def _results(restorer: str, row: Mapping[str, float], evaluation: HeldOutEvaluation) -> list[EvalResult]:
    """One model-index result entry: the scores of ``row`` (PSNR, SSIM, FD), each named after ``restorer`` so that a
    metric read on its own still says whose it is."""
    missing = [key for key, _, _ in _METRICS if key not in row]
    if missing:
        raise ValueError(f"the row of {restorer!r} lacks {missing} (score it with frechet=True)")
    return [
        EvalResult(
            task_type="image-to-image",
            task_name=f"{evaluation.degradation} restoration: {restorer}",
            dataset_type=evaluation.dataset,
            dataset_name=f"{evaluation.dataset}: {evaluation.description}, degraded by {evaluation.degradation}",
            dataset_config=evaluation.degradation,
            dataset_split="validation",  # the held-out photos of split_photos (--validation_fraction)
            metric_type=metric_type,
            metric_name=f"{name}, {restorer}",
            metric_value=round(float(row[key]), 4),
        )
        for key, metric_type, name in _METRICS
    ]


def write_model_index(
    card: str | os.PathLike,
    model_name: str,
    pipeline_row: Mapping[str, float],
    classical_row: Mapping[str, float] | None,
    evaluation: HeldOutEvaluation,
) -> None:
    """Writes ``card``'s ``model-index`` (replacing any): the pipeline's held-out scores and, as a result entry of its
    own named "classical baseline: <method>", those of the task's classical restoration.

    Args:
        card: the ``README.md`` to update; its text stays as it is.
        model_name (`str`): the pipeline's name, e.g. its Hub id.
        pipeline_row, classical_row: evaluation rows with ``psnr``, ``ssim`` and ``fd_effnet_lite0``
            (:func:`~bridge_diffusers.evaluation.evaluate_restorer` with ``frechet=True``); no classical row for a
            task without a classical restorer.
        evaluation: what the rows were measured on.
    """
    entries = [_results(model_name, pipeline_row, evaluation)]
    if classical_row is not None:
        method = classical_method(evaluation.degradation)
        entries.append(_results(f"classical baseline: {method}", classical_row, evaluation))
    # huggingface_hub merges the results of one task and dataset into one entry; the baseline keeps its own.
    results = [result for entry in entries for result in eval_results_to_model_index(model_name, entry)[0]["results"]]
    metadata = {**(metadata_load(card) or {}), "model-index": [{"name": model_name, "results": results}]}
    metadata_save(card, metadata)
