#!/usr/bin/env python
# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""What each bridge buys, on held-out photos: the degraded input, the classical restoration, NADB's mean network
alone, I2SB and NADB (same UNet, data and steps) at several NFE, and the IBMD student of the NADB teacher.

    python benchmarks/quality.py --runs runs/shipped [--tasks jpeg10 blur-uni sr4x-pool] [--nfe 1 10 100]
        [--student_nfe 1 2 4] [-o benchmarks/results/quality]

``<runs>/<task>/{i2sb,nadb,ibmd}`` are pipeline folders (the layout of ``scripts/train_shipped.sh``); further
students ``<runs>/<task>/ibmd-*`` (e.g. a degraded-input one) are compared too. Per task it
writes ``quality_<task>.{md,json}``, an NFE plot and a sample grid (small PNGs); then it checks the targets of
the evaluation and IBMD issues on the rows it measured and writes them to ``targets.md``. Time per image is
measured in this run, on this machine, in batches of ``--batch_size``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from bridge_diffusers.evaluation import (
    evaluate_pipelines,
    make_evaluation_set,
    markdown_table,
    plot_metric_curves,
    save_image_grid,
    write_table,
)


sys.path.insert(0, str(Path(__file__).parent))
from _timing import describe_machine


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="runs/shipped")
    parser.add_argument("--tasks", nargs="+", default=["jpeg10", "blur-uni", "sr4x-pool"])
    parser.add_argument("--nfe", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--student_nfe", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--crops_per_image", type=int, default=16)
    parser.add_argument("--scale", type=float, default=0.245, help="photo resize before cropping (as training)")
    parser.add_argument("--photo_dir", default=None, help="the photo folder that training split (default: photos/)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output_dir", default="benchmarks/results/quality")
    return parser.parse_args(argv)


def _find(rows: list[dict], prefix: str, nfe: int | None = None) -> dict | None:
    for row in rows:
        if row["method"].startswith(prefix) and (nfe is None or row.get("nfe") == nfe):
            return row
    return None


def _target(name: str, passed: bool | None, detail: str) -> dict:
    verdict = "not measured" if passed is None else ("met" if passed else "missed")
    return {"target": name, "result": verdict, "measured": detail}


def check_targets(rows_by_task: dict[str, list[dict]]) -> list[dict]:
    """The targets of the evaluation issue (NADB vs I2SB, bridges vs mean network, learned vs classical) and of
    the IBMD issue (1-step student vs teacher), each with the numbers it was judged on."""
    targets = []
    blur = rows_by_task.get("blur-uni", [])
    nadb, i2sb = _find(blur, "NADB", 10), _find(blur, "I2SB", 10)
    if nadb and i2sb:
        gain, fd_nadb, fd_i2sb = nadb["psnr"] - i2sb["psnr"], nadb["fd_effnet_lite0"], i2sb["fd_effnet_lite0"]
        detail = f"PSNR {nadb['psnr']:.2f} vs {i2sb['psnr']:.2f} ({gain:+.2f} dB); FD {fd_nadb:.1f} vs {fd_i2sb:.1f}"
        name = "blur-uni, NFE 10: NADB PSNR >= I2SB + 1 dB and lower FD"
        targets.append(_target(name, gain >= 1 and fd_nadb < fd_i2sb, detail))
    for task, rows in rows_by_task.items():
        targets += _task_targets(task, rows)
    return targets


def _task_targets(task: str, rows: list[dict]) -> list[dict]:
    targets = []
    mean = _find(rows, "mean network")
    for kind in ("I2SB", "NADB"):
        bridge = _find(rows, kind, 10)
        if mean and bridge:
            fd_bridge, fd_mean = bridge["fd_effnet_lite0"], mean["fd_effnet_lite0"]
            name = f"{task}: {kind} (NFE 10) FD < mean network FD"
            targets.append(_target(name, fd_bridge < fd_mean, f"{fd_bridge:.1f} vs {fd_mean:.1f}"))
    classical = next((r for r in rows[1:] if "nfe" not in r and not r["method"].startswith("mean")), None)
    learned = [r for r in rows if r["method"].startswith(("mean", "I2SB", "NADB", "IBMD"))]
    if classical and learned:
        worst = min(learned, key=lambda r: r["psnr"])
        detail = (
            f"worst: {worst['method']} NFE {worst.get('nfe', 1)} {worst['psnr']:.2f} vs {classical['psnr']:.2f} dB"
        )
        name = f"{task}: every learned method beats {classical['method']} (PSNR)"
        targets.append(_target(name, worst["psnr"] > classical["psnr"], detail))
    teacher_100 = _find(rows, "NADB", 100)
    teacher_rows = [r for r in rows if r["method"].startswith("NADB")]
    students = [r for r in rows if r["method"].startswith("IBMD") and r.get("nfe") == 1] if teacher_100 else []
    for student in students:
        best = min(teacher_rows, key=lambda r: r["fd_effnet_lite0"])
        ratio = student["fd_effnet_lite0"] / best["fd_effnet_lite0"]
        speedup = teacher_100["seconds_per_image"] / student["seconds_per_image"]
        detail = (
            f"FD {student['fd_effnet_lite0']:.1f} vs best {best['fd_effnet_lite0']:.1f} (NFE {best['nfe']}): "
            f"x{ratio:.3f}; {speedup:.0f}x less time than NFE 100"
        )
        name = f"{task}: 1-step {student['method']} FD within 5% of the teacher's best, >= 50x faster than NFE 100"
        targets.append(_target(name, ratio <= 1.05 and speedup >= 50, detail))
    return targets


def main(argv=None) -> None:
    args = parse_args(argv)
    out = Path(args.output_dir)
    rows_by_task = {}
    print(f"machine: {describe_machine(torch.device('cuda' if torch.cuda.is_available() else 'cpu'))}")
    for task in args.tasks:
        evaluation_set = make_evaluation_set(
            task, args.resolution, args.crops_per_image, args.seed, scale=args.scale, photos=args.photo_dir
        )
        print(f"\n## {task}: {evaluation_set.description}")
        # the bridges, then every student: ibmd (from the endpoint) and e.g. ibmd-degraded (from X1 itself)
        run = Path(args.runs) / task
        folders = [run / m for m in ("i2sb", "nadb") if (run / m).is_dir()] + sorted(run.glob("ibmd*"))
        rows, restorations = evaluate_pipelines(
            evaluation_set, folders, args.nfe, args.student_nfe, args.seed, args.batch_size, frechet=True
        )
        rows_by_task[task] = rows
        write_table(rows, out / f"quality_{task}", formats=("md", "json"))
        plot_metric_curves(rows, out / f"quality_{task}_nfe.png")
        # clean, degraded, then one row per method at its default NFE (10 for the bridges), 6 crops each
        picks = [0, *(i for i, r in enumerate(rows) if r.get("nfe") in (None, 10) and i > 0), *(
            i for i, r in enumerate(rows) if r["method"].startswith("IBMD") and r.get("nfe") == 1)]  # fmt: skip
        grid = [evaluation_set.clean, *(restorations[i] for i in dict.fromkeys(picks))]
        save_image_grid([g[:: max(1, len(g) // 6)][:6] for g in grid], out / f"quality_{task}_samples.png")
    targets = check_targets(rows_by_task)
    (out / "targets.md").write_text(markdown_table(targets))
    (out / "targets.json").write_text(json.dumps(targets, indent=2))
    print("\n" + markdown_table(targets))


if __name__ == "__main__":
    main()
