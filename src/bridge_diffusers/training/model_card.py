# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Model cards for trained pipelines: what the method, task, data and run were, and what the model can't do."""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData


__all__ = ["TrainingReport", "write_model_card"]

METHOD_DESCRIPTIONS = {
    "i2sb": "I2SB (Image-to-Image Schroedinger Bridge, Liu et al., ICML 2023): a tractable Schroedinger bridge "
    "from the degraded to the clean image, sampled with DDPM posteriors.",
    "nadb": "NADB (noise-aligned diffusion bridge, Gao et al., CVPR 2026): a frozen mean network estimates the "
    "clean image, and a noise-aligned bridge refines it, sampled in two stages around the threshold d.",
    "ibmd": "IBMD (Inverse Bridge Matching Distillation, Gushchin et al., ICML 2025): a one- or few-step "
    "generator distilled from a trained bridge.",
}


@dataclass
class TrainingReport:
    """What a model card states about a training run."""

    method: str
    task: str
    data: str
    steps: int
    resolution: int
    batch_size: int
    command: str = field(default_factory=lambda: launch_command())
    validation_metrics: dict[str, float] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    license: str = "apache-2.0"
    base_model: str | None = None


def launch_command(argv: list[str] | None = None) -> str:
    """The command line of this run as a user would retype it (``accelerate launch`` sets ACCELERATE_* variables)."""
    argv = sys.argv if argv is None else argv
    script = argv[0]
    if os.path.basename(os.path.dirname(os.path.abspath(script))) == "training":
        script = os.path.join("training", os.path.basename(script))  # as run from the repository root
    launcher = "accelerate launch" if any(key.startswith("ACCELERATE_") for key in os.environ) else "python"
    return shlex.join([*launcher.split(), script, *argv[1:]])


def _metrics_table(metrics: dict[str, float]) -> str:
    if not metrics:
        return "No validation was run."
    rows = "\n".join(f"| {name} | {value:.4f} |" for name, value in sorted(metrics.items()))
    return f"| metric | value |\n|---|---|\n{rows}"


def write_model_card(folder: str | os.PathLike, report: TrainingReport) -> Path:
    """Writes ``README.md`` (YAML front matter + a card) into a saved pipeline folder and returns its path."""
    data = ModelCardData(
        license=report.license,
        library_name="bridge-diffusers",
        pipeline_tag="image-to-image",
        tags=["diffusers", "diffusion-bridge", "image-restoration", report.method, report.task],
        base_model=report.base_model,
    )
    pipeline_class = {"i2sb": "I2SBPipeline", "nadb": "NADBPipeline", "ibmd": "IBMDPipeline"}[report.method]
    extra = "\n".join(f"- **{key}**: {value}" for key, value in report.extra.items())
    content = f"""---
{data.to_yaml()}
---

# {report.method.upper()} for `{report.task}`

{METHOD_DESCRIPTIONS[report.method]}

## Use

```python
from bridge_diffusers import {pipeline_class}

pipe = {pipeline_class}.from_pretrained("<this folder or repo id>")
restored = pipe(image=degraded_image).images[0]
```

## Training

- **Task**: `{report.task}`
- **Data**: {report.data}
- **Steps**: {report.steps} optimiser steps, batch {report.batch_size}, {report.resolution}x{report.resolution} crops
{extra}

Command:

```bash
{report.command}
```

## Validation

{_metrics_table(report.validation_metrics)}

## Limitations

- Trained for `{report.task}` only, on the data above: other degradations or image statistics are out of
  distribution, and a short run on a small corpus is far from the papers' ImageNet models.
- A generative restorer can invent plausible detail that was not in the original: do not use its output as
  evidence of what a scene contained.

## Licence

{report.license}. Code: bridge-diffusers (Apache-2.0).
"""
    path = Path(folder) / "README.md"
    path.write_text(ModelCard(content).content)
    return path
