# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Model cards for trained pipelines: what the method, task, data and run were, and what the model can't do."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

from ..methods import method_of
from ..pipelines import RestorationPipeline


__all__ = ["launch_command", "write_model_card"]


def launch_command(argv: list[str] | None = None) -> str:
    """The command line of this run as a user would retype it (``accelerate launch`` sets ACCELERATE_* variables)."""
    argv = sys.argv if argv is None else argv
    script = argv[0]
    if os.path.basename(os.path.dirname(os.path.abspath(script))) == "training":
        script = os.path.join("training", os.path.basename(script))  # as run from the repository root
    launcher = "accelerate launch" if any(key.startswith("ACCELERATE_") for key in os.environ) else "python"
    return shlex.join([*launcher.split(), script, *argv[1:]])


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
        args: the training flags (task, steps, resolution, the command in ``args.command``).
        pipeline: the trained pipeline; its method comes from the registry.
        data (`str`): where the training images came from.
        batch_size (`int`): the total batch size of an optimiser step.
        metrics (`dict`): the final validation scores.
        details (`dict`): method settings, listed under "Training".
        base_model (`str`, *optional*): the Hub id of the model it was distilled or fine-tuned from.
    """
    method, task = method_of(pipeline), args.task or "paired translation"
    card_data = ModelCardData(
        license="apache-2.0",
        library_name="bridge-diffusers",
        pipeline_tag="image-to-image",
        tags=["diffusers", "diffusion-bridge", "image-restoration", method.name, task],
        base_model=base_model,
    )
    pipeline_class = type(pipeline).__name__
    rows = "".join(f"\n| {name} | {value:.4f} |" for name, value in sorted(metrics.items()))
    table = f"| metric | value |\n|---|---|{rows}" if rows else "No validation was run."
    settings = "".join(f"- **{key}**: {value}\n" for key, value in details.items())
    content = f"""---
{card_data.to_yaml()}
---

# {method.title} for `{task}`

{method.description}

## Use

```python
from bridge_diffusers import {pipeline_class}

pipe = {pipeline_class}.from_pretrained("<this folder or repo id>")  # variant="fp16": half-size weights
restored = pipe(image=degraded_image).images[0]
```

## Training

- **Task**: `{task}`
- **Data**: {data}
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
