# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Evaluates the runs of ``scripts/train_shipped.sh`` and writes the shipped pipelines under ``pipelines/``.

For every ``<runs>/<task>/<method>`` run it scores the float32 pipeline on held-out crops of the photo folder
(``photos/``, split as training splits it), saves it to ``<out>/<method>-<task>`` as float32 weights plus an ``fp16``
variant (``diffusion_pytorch_model.fp16.safetensors``, what ``save_pretrained(variant="fp16")`` writes), reloads
the variant and scores it too. The variant is kept only when it loses less than ``--max_fp16_loss_db`` of PSNR.
Each folder's model card gets an "Evaluation" section with the rows (the degraded input and the task's classical
restoration first), the held-out photos and the exact degradation it was scored on ("degraded by `<name>`", which the
demos read back), the Hub metadata it lacked and a ``model-index`` with the held-out PSNR, SSIM and Fréchet distance
of the pipeline and of the classical baseline (``bridge_diffusers.training.model_card``); ``<out>/README.md`` gets an
index of them.

    python scripts/export_shipped.py [--runs runs/shipped] [--out pipelines]
        [--tasks jpeg10 sr4x-pool inpaint-freeform blur-uni] [--degradations jpeg10=jpeg10-pillow ...]
    python scripts/export_shipped.py --resave pipelines/*-*     (re-save shipped folders in the current format)
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from pathlib import Path
from typing import NamedTuple

import torch
from diffusers.utils import logging as diffusers_logging

from bridge_diffusers.evaluation import (
    FD_COLUMN,
    EvaluationSet,
    best_default_steps,
    evaluate_restorer,
    make_evaluation_set,
    markdown_table,
    mean_network_restorer,
    pipeline_restorer,
    pipeline_steps,
    reference_restorers,
    write_table,
)
from bridge_diffusers.methods import METHODS, method_of
from bridge_diffusers.pipelines import load_pipeline
from bridge_diffusers.training.hub import save_pipeline
from bridge_diffusers.training.model_card import (
    HeldOutEvaluation,
    complete_hub_metadata,
    mean_network_section,
    photo_dataset_name,
    shipped_repo_id,
    write_model_index,
)


def choose_default_steps(pipe, evaluation_set: EvaluationSet, one_call_psnr: float, args) -> list[dict]:
    """Scores a bridge at every NFE of ``--candidate_nfe`` and stores the best as its ``default_steps``: the most
    realistic (lowest Fréchet distance) whose PSNR is within ``--max_psnr_drop_db`` of the one-call estimate
    (``best_default_steps``). Returns the sweep's rows (a student keeps its own steps: no rows)."""
    if method_of(pipe).is_student:
        return []
    pipe.set_progress_bar_config(disable=True)
    name = f"{method_of(pipe).title} (NFE sweep)"
    rows = []
    for nfe in pipeline_steps(pipe, args.candidate_nfe):
        row, _ = evaluate_restorer(name, pipeline_restorer(pipe, nfe, args.seed), evaluation_set, nfe=nfe)
        rows.append(row)
    pipe.register_default_steps(best_default_steps(rows, name, one_call_psnr - args.max_psnr_drop_db))
    return rows


def resave(folder: Path) -> None:
    """Re-saves a shipped folder (its default weights) in the current format and layout, keeping its model card."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    save_pipeline(load_pipeline(str(folder)), partial)
    shutil.copy(folder / "README.md", partial / "README.md")
    shutil.rmtree(folder)
    partial.rename(folder)


def _task_degradation(text: str) -> tuple[str, str]:
    task, equals, degradation = text.partition("=")
    if not (task and equals and degradation):
        raise argparse.ArgumentTypeError(f"expected TASK=DEGRADATION, got {text!r}")
    return task, degradation


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="runs/shipped", help="output folder of scripts/train_shipped.sh")
    parser.add_argument("--out", default="pipelines", help="where the shipped <method>-<task> folders go")
    parser.add_argument("--tasks", nargs="+", default=["jpeg10", "sr4x-pool", "inpaint-freeform", "blur-uni"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS), help="default: all")
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
    parser.add_argument("--scale", type=float, default=1.0, help="photo resize before cropping (as training; "
                        "the tiny pipelines of before issue 13 were trained at 0.245)")  # fmt: skip
    parser.add_argument("--candidate_nfe", type=int, nargs="+", default=[1, 2, 5, 10, 20, 50, 100],
                        help="the NFEs a bridge's default steps are chosen from")  # fmt: skip
    parser.add_argument("--max_psnr_drop_db", type=float, default=2.0,
                        help="how far below the one-call estimate's PSNR a default-NFE sample may fall")  # fmt: skip
    parser.add_argument("--max_fp16_loss_db", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--photo_dir", default=None, help="the photo folder that training split (default: photos/)")
    parser.add_argument(
        "--resave", nargs="+", type=Path, metavar="FOLDER", help="only re-save these shipped folders (current format)"
    )
    args = parser.parse_args(argv)
    args.degradations = dict(args.degradations)
    unknown = sorted(set(args.degradations) - set(args.tasks))
    if unknown:
        parser.error(f"--degradations names tasks that are not in --tasks: {unknown}")
    return args


class References(NamedTuple):  # not a dataclass: the tests load this script without registering it as a module
    """The rows every pipeline of a task is compared with: the degraded input and, when the task has one, its
    classical restoration (named as ``CLASSICAL_METHODS`` names it, as ``bridge-diffusers evaluate`` does)."""

    degraded_input: dict
    classical: dict | None

    @property
    def rows(self) -> list[dict]:
        return [self.degraded_input] if self.classical is None else [self.degraded_input, self.classical]


def score_references(evaluation_set: EvaluationSet) -> References:
    """Scores the degraded input and the task's classical restoration (with the Fréchet distance, as every row)."""
    rows = [evaluate_restorer(name, restorer, evaluation_set)[0]
            for name, restorer in reference_restorers(evaluation_set.task)]  # fmt: skip
    return References(rows[0], rows[1] if len(rows) > 1 else None)


def score_pipeline(pipe, evaluation_set: EvaluationSet, label: str, seed: int) -> dict:
    """The pipeline at its default steps (``default_steps``, a student's own)."""
    nfe = pipe.default_num_inference_steps
    pipe.set_progress_bar_config(disable=True)
    name = f"{method_of(pipe).name} ({label})"
    row, _ = evaluate_restorer(name, pipeline_restorer(pipe, nfe, seed), evaluation_set, nfe=nfe)
    return row


def export_run(
    run: Path, target: Path, task: str, evaluation_set: EvaluationSet, references: References, args
) -> list[dict]:
    """Scores ``run``, writes ``target`` (float32, and the fp16 variant when it keeps quality), returns the rows."""
    pipe = load_pipeline(str(run))
    if pipe.task is None:  # trained before pipelines knew their task: the operator it is evaluated on
        pipe.register_task(evaluation_set.task)
    mean_rows = []
    if method_of(pipe).has_mean_net and pipe.mean_net is not None:
        row, _ = evaluate_restorer("mean network alone", mean_network_restorer(pipe.mean_net), evaluation_set, 16,
                                   nfe=1)  # fmt: skip
        mean_rows.append(row)
    sweep = choose_default_steps(pipe, evaluation_set, _one_call_psnr(mean_rows, pipe, evaluation_set, args), args)
    rows = [score_pipeline(pipe, evaluation_set, "shipped float32", args.seed), *mean_rows, *sweep]
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    save_pipeline(pipe, partial)
    # the variant as a float32 user without a GPU runs it; its loss is the rounding of the weights
    fp16_row = score_pipeline(load_pipeline(str(partial), variant="fp16"), evaluation_set, "fp16 variant", args.seed)
    rows.insert(1, fp16_row)
    fp16_shipped = rows[0]["psnr"] - fp16_row["psnr"] <= args.max_fp16_loss_db
    if fp16_shipped:  # exported in float16: the float32 weights become its lossless upcast (one set of values)
        save_pipeline(load_pipeline(str(partial), variant="fp16"), partial)
    else:
        for file in partial.glob("*/*.fp16.safetensors"):
            file.unlink()
        fp16_row["method"] = fp16_row["method"].replace("fp16 variant", "fp16 variant, not shipped")
    card = partial / "README.md"
    shutil.copy(run / "README.md", card)
    add_evaluation_to_card(card, [*references.rows, *rows], evaluation_set, fp16_shipped)
    finish_card(card, pipe, task, rows[0], references.classical, evaluation_set, args.photo_dir)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return rows


def _one_call_psnr(mean_rows: list[dict], pipe, evaluation_set: EvaluationSet, args) -> float:
    """The PSNR of the pipeline's one-call estimate: its mean network alone, else the bridge at NFE 1."""
    if mean_rows:
        return mean_rows[0]["psnr"]
    if method_of(pipe).is_student:
        return float("nan")  # not used: a student keeps its own steps
    row, _ = evaluate_restorer("one call", pipeline_restorer(pipe, 1, args.seed), evaluation_set, frechet=False)
    return row["psnr"]


def _insert_section(card: Path, section: str, before: str) -> None:
    """Puts ``section`` before the card's heading ``before`` (at the end of a card without it)."""
    text = card.read_text()
    text = text.replace(before, section + before, 1) if before in text else text + "\n" + section
    card.write_text(text)


def add_evaluation_to_card(card: Path, rows: list[dict], evaluation_set: EvaluationSet, fp16_shipped: bool) -> None:
    """Inserts an "Evaluation" section (this script's table and command) before the card's "Limitations"."""
    weights = (
        'float32 safetensors, and an `fp16` variant with half the size: `from_pretrained(folder, variant="fp16", '
        "torch_dtype=torch.float16)` (its row is that variant run in float32)"
        if fp16_shipped
        else "float32 safetensors only (the fp16 variant lost too much PSNR)"
    )
    section = f"""## Evaluation

{evaluation_set.description}, degraded by `{evaluation_set.task}` (seeded). PSNR in dB on [0, 1] images, SSIM,
`{FD_COLUMN}` (Fréchet distance of EfficientNet-Lite0 features, not FID: compare it only within this table, over
`fd_samples` crops) and seconds per image in batches of 16 on {_machine()}:

{markdown_table(rows)}
Weights: {weights}. Produced by:

```bash
{shlex.join(["python", "scripts/export_shipped.py", *sys.argv[1:]])}
```

"""
    _insert_section(card, section, "## Limitations")


def finish_card(
    card: Path,
    pipe,
    task: str,
    pipeline_row: dict,
    classical_row: dict | None,
    evaluation_set: EvaluationSet,
    photo_dir: str | None = None,
) -> None:
    """The Hub side of a shipped card: the metadata a card of an older training script lacks, its "Mean network"
    section, and the ``model-index`` of the pipeline's and the classical baseline's held-out rows.

    Args:
        card: the folder's ``README.md``, with its "Evaluation" section.
        pipe: the shipped pipeline; ``task``: the ``<task>`` of its ``<method>-<task>`` name.
        pipeline_row, classical_row: the rows of the shipped float32 weights and of the task's classical
            restoration (None: the task has none), scored with the Fréchet distance.
        evaluation_set: what they were scored on; ``photo_dir``: its photo folder, which training split too.
    """
    dataset = photo_dataset_name(photo_dir)
    complete_hub_metadata(card, pipe, task, [dataset])
    if "## Mean network" not in card.read_text():
        _insert_section(card, mean_network_section(pipe), "## Use")
    evaluation = HeldOutEvaluation(dataset, evaluation_set.task, evaluation_set.description)
    write_model_index(card, shipped_repo_id(method_of(pipe).name, task), pipeline_row, classical_row, evaluation)


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
    if args.resave:
        for folder in args.resave:
            resave(folder)
            print(f"re-saved {folder}")
        return
    runs, out = Path(args.runs), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    all_rows = []
    for task in args.tasks:
        degradation = args.degradations.get(task, task)
        evaluation_set = make_evaluation_set(
            degradation, args.resolution, args.crops_per_image, seed=args.seed, scale=args.scale, photos=args.photo_dir
        )
        references = score_references(evaluation_set)
        all_rows += [{"task": task, **row} for row in references.rows]
        for method in args.methods:
            run = runs / task / method
            if not (run / "model_index.json").is_file():
                print(f"skipping {run}: no finished run")
                continue
            rows = export_run(run, out / f"{method}-{task}", task, evaluation_set, references, args)
            all_rows += [{"task": task, **row} for row in rows]
            print(markdown_table(rows))
    write_table(all_rows, Path("benchmarks/results/shipped_pipelines"), formats=("md", "json"))
    write_index(out, all_rows, args)
    print(markdown_table(all_rows))


def write_index(out: Path, rows: list[dict], args: argparse.Namespace) -> None:
    """``<out>/README.md``: what each shipped folder is and how it scored (the shipped weights' rows only)."""
    shipped = [row for row in rows if "fp16 variant" not in row["method"]]
    table = markdown_table(shipped, ["task", "method", "nfe", "psnr", "ssim", FD_COLUMN, "seconds_per_image"])
    folders = sorted(p.name for p in out.iterdir() if (p / "model_index.json").is_file())
    text = f"""# Shipped pipelines

`save_pretrained` folders named `<method>-<task>` (float32 weights and an `fp16` variant), found by the catalogue
(`bridge-diffusers restore --task <task> --method <method>`, the showcase, the Space; installed with the package), or
loaded from Python with `load_pipeline("pipelines/<method>-<task>")`. Each has a model card (`README.md`) with its
exact training command, its evaluation and the Hub metadata (licence, tags, training photos as `datasets`, and a
`model-index` with the held-out PSNR, SSIM and FD of the pipeline and of the task's classical restoration). On the
Hub a folder is `{shipped_repo_id("<method>", "<task>")}`; an IBMD student's card names its teacher that way
(`base_model: {shipped_repo_id("nadb", "jpeg10")}`). Folders: {", ".join(folders)}.

Trained by `bash scripts/train_shipped.sh` and exported by:

```bash
{shlex.join(["python", "scripts/export_shipped.py", *sys.argv[1:]])}
```

Held-out crops ({args.resolution} px, {args.crops_per_image} per validation photo, photos resized by {args.scale}),
degraded by each task's operator{_named_degradations(args.degradations)}; PSNR in dB on [0, 1] images, SSIM,
`{FD_COLUMN}` (Fréchet distance of EfficientNet-Lite0 features, not FID), seconds per image on {_machine()}:

{table}"""
    (out / "README.md").write_text(text)


if __name__ == "__main__":
    main()
