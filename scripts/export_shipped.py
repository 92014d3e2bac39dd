# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Evaluates the runs of ``scripts/train_shipped.sh`` and writes the shipped pipelines under ``pipelines/``.

For every ``<runs>/<task>/<method>`` run it scores the float32 pipeline on held-out crops of the offline photo
corpus, casts the weights to float16, saves them to ``<out>/<method>-<task>``, reloads that folder (as users will,
in float32) and scores it again. The fp16 copy is kept only when it loses less than ``--max_fp16_loss_db`` of PSNR;
otherwise the float32 weights are shipped. Each folder's model card gets an "Evaluation" section with both rows
and the exact degradation it was scored on ("degraded by `<name>`", which the demos read back), and
``<out>/README.md`` an index of all of them.

    python scripts/export_shipped.py [--runs runs/shipped] [--out pipelines] [--tasks jpeg10 sr4x-pool blur-uni]
        [--degradations jpeg10=jpeg10-pillow ...]
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from pathlib import Path

import torch
from diffusers.utils import logging as diffusers_logging

from bridge_diffusers.evaluation import (
    EvaluationSet,
    evaluate_restorer,
    identity_restorer,
    make_evaluation_set,
    markdown_table,
    mean_network_restorer,
    pipeline_restorer,
    write_table,
)
from bridge_diffusers.pipelines import load_pipeline


METHODS = ("nadb", "ibmd", "i2sb")
DEFAULT_STEPS = {"i2sb": 10, "nadb": 10, "ibmd": None}  # None: the student's own number of steps


def _task_degradation(text: str) -> tuple[str, str]:
    task, equals, degradation = text.partition("=")
    if not (task and equals and degradation):
        raise argparse.ArgumentTypeError(f"expected TASK=DEGRADATION, got {text!r}")
    return task, degradation


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="runs/shipped", help="output folder of scripts/train_shipped.sh")
    parser.add_argument("--out", default="pipelines", help="where the shipped <method>-<task> folders go")
    parser.add_argument("--tasks", nargs="+", default=["jpeg10", "sr4x-pool", "blur-uni"])
    parser.add_argument(
        "--degradations",
        nargs="+",
        type=_task_degradation,
        default=[],
        metavar="TASK=DEGRADATION",
        help="score TASK's runs on another registered degradation than TASK itself, the one they were trained on "
        "(e.g. jpeg10=jpeg10-pillow for runs made when jpeg10 meant the Pillow encoder); the cards name it",
    )
    parser.add_argument("--resolution", type=int, default=64, help="evaluation crop size (px)")
    parser.add_argument("--crops_per_image", type=int, default=8)
    parser.add_argument("--scale", type=float, default=0.245, help="photo resize before cropping (as training)")
    parser.add_argument("--max_fp16_loss_db", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.degradations = dict(args.degradations)
    unknown = sorted(set(args.degradations) - set(args.tasks))
    if unknown:
        parser.error(f"--degradations names tasks that are not in --tasks: {unknown}")
    return args


def score_pipeline(pipe, method: str, evaluation_set: EvaluationSet, label: str, seed: int) -> dict:
    steps = DEFAULT_STEPS[method]
    nfe = steps if steps is not None else pipe.scheduler.num_student_steps
    pipe.set_progress_bar_config(disable=True)
    row, _ = evaluate_restorer(
        f"{method} ({label})", pipeline_restorer(pipe, steps, seed), evaluation_set, frechet=False, nfe=nfe
    )
    return row


def export_run(
    run: Path, target: Path, method: str, evaluation_set: EvaluationSet, baseline: dict, args
) -> list[dict]:
    """Scores ``run`` in fp32, writes ``target`` (fp16 when that keeps quality), returns the table rows."""
    pipe = load_pipeline(str(run))
    rows = [score_pipeline(pipe, method, evaluation_set, "float32", args.seed)]
    if getattr(pipe, "mean_net", None) is not None and method == "nadb":
        row, _ = evaluate_restorer("mean network alone", mean_network_restorer(pipe.mean_net), evaluation_set, 16,
                                   frechet=False, nfe=1)  # fmt: skip
        rows.append(row)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    pipe.to(torch.float16).save_pretrained(partial)
    fp16_row = score_pipeline(load_pipeline(str(partial)), method, evaluation_set, "shipped float16", args.seed)
    rows.insert(1, fp16_row)
    if rows[0]["psnr"] - fp16_row["psnr"] > args.max_fp16_loss_db:
        shutil.rmtree(partial)
        load_pipeline(str(run)).save_pretrained(partial)
        fp16_row["method"] = f"{method} (float16, not shipped)"
        rows[0]["method"] = f"{method} (shipped float32)"
    shutil.copy(run / "README.md", partial / "README.md")
    fp16_shipped = "not shipped" not in fp16_row["method"]
    add_evaluation_to_card(partial / "README.md", [baseline, *rows], evaluation_set, fp16_shipped)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return rows


def add_evaluation_to_card(card: Path, rows: list[dict], evaluation_set: EvaluationSet, fp16_shipped: bool) -> None:
    """Inserts an "Evaluation" section (this script's table and command) before the card's "Limitations"."""
    weights = (
        "float16 safetensors (loaded as float32 unless you pass `torch_dtype`)"
        if fp16_shipped
        else "float32 safetensors (float16 lost too much PSNR)"
    )
    section = f"""## Evaluation

{evaluation_set.description}, degraded by `{evaluation_set.task}` (seeded). PSNR in dB on [0, 1] images, SSIM,
and seconds per image in batches of 16 on {_machine()}:

{markdown_table(rows)}
Weights: {weights}. Produced by:

```bash
{shlex.join(["python", "scripts/export_shipped.py", *sys.argv[1:]])}
```

"""
    text = card.read_text()
    marker = "## Limitations"
    text = text.replace(marker, section + marker, 1) if marker in text else text + "\n" + section
    card.write_text(text)


def _named_degradations(degradations: dict[str, str]) -> str:
    """`` (jpeg10 by jpeg10-pillow, ...)`` for the tasks of ``--degradations``, else nothing."""
    named = ", ".join(f"`{task}` by `{name}`" for task, name in degradations.items())
    return f" ({named})" if named else ""


def _machine() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"CPU ({torch.get_num_threads()} threads)"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    diffusers_logging.set_verbosity_error()  # the fp16 cast's advice is about GPU inference; we reload in fp32
    runs, out = Path(args.runs), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    all_rows = []
    for task in args.tasks:
        degradation = args.degradations.get(task, task)
        evaluation_set = make_evaluation_set(
            degradation, args.resolution, args.crops_per_image, seed=args.seed, scale=args.scale
        )
        baseline, _ = evaluate_restorer("degraded input", identity_restorer, evaluation_set, frechet=False)
        all_rows.append({"task": task, **baseline})
        for method in METHODS:
            run = runs / task / method
            if not (run / "model_index.json").is_file():
                print(f"skipping {run}: no finished run")
                continue
            rows = export_run(run, out / f"{method}-{task}", method, evaluation_set, baseline, args)
            all_rows += [{"task": task, **row} for row in rows]
            print(markdown_table(rows))
    write_table(all_rows, Path("benchmarks/results/shipped_pipelines"), formats=("md", "json"))
    write_index(out, all_rows, args)
    print(markdown_table(all_rows))


def write_index(out: Path, rows: list[dict], args: argparse.Namespace) -> None:
    """``<out>/README.md``: what each shipped folder is and how it scored (the shipped weights' rows only)."""
    shipped = [row for row in rows if not row["method"].endswith(("(float32)", "not shipped)"))]
    table = markdown_table(shipped, ["task", "method", "nfe", "psnr", "ssim", "seconds_per_image"])
    folders = sorted(p.name for p in out.iterdir() if (p / "model_index.json").is_file())
    text = f"""# Shipped pipelines

`save_pretrained` folders named `<method>-<task>`, loaded by `bridge-diffusers restore --task <task> --method
<method>`, the showcase and the Space, or from Python with `load_pipeline("pipelines/<method>-<task>")`. Each has a
model card (`README.md`) with its exact training command and its evaluation. Folders: {", ".join(folders)}.

Trained by `bash scripts/train_shipped.sh` and exported by:

```bash
{shlex.join(["python", "scripts/export_shipped.py", *sys.argv[1:]])}
```

Held-out crops ({args.resolution} px, {args.crops_per_image} per validation photo, photos resized by {args.scale}),
degraded by each task's operator{_named_degradations(args.degradations)}; PSNR in dB on [0, 1] images, SSIM, seconds
per image on {_machine()}:

{table}"""
    (out / "README.md").write_text(text)


if __name__ == "__main__":
    main()
