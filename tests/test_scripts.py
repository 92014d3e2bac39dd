"""The shell scripts under `scripts/` pass only flags that the training scripts accept (and that pass their checks)."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, training_script


# Stands in for the interpreter: records each training command (one shell-quoted line) instead of running it.
RECORDER = """#!/usr/bin/env bash
printf '%q ' "$@" >> "$RECORD"
echo >> "$RECORD"
"""


def _recorded_commands(script: str, tmp_path: Path, *script_args: str) -> list[list[str]]:
    recorder = tmp_path / "python"
    recorder.write_text(RECORDER)
    recorder.chmod(0o755)
    record = tmp_path / "commands.txt"
    env = {**os.environ, "PY": str(recorder), "RECORD": str(record), "PHOTOS": str(tmp_path / "photos")}
    (tmp_path / "photos").mkdir()
    subprocess.run(["bash", str(REPO / "scripts" / script), *script_args], check=True, env=env, cwd=REPO)
    return [shlex.split(line) for line in record.read_text().splitlines() if line.strip()]


def _parse(command: list[str]):
    """The training script's own parse_args (argparse and the checks exit on a flag it refuses)."""
    return training_script(Path(command[0]).stem.removeprefix("train_")).parse_args(command[1:])


@pytest.mark.skipif(sys.platform == "win32", reason="bash script")
def test_train_shipped_passes_only_accepted_flags(tmp_path):
    for task in ("jpeg10", "blur-uni"):  # the IBMD teachers: folders by the time the students are distilled
        (tmp_path / "runs" / task / "nadb").mkdir(parents=True)
    commands = _recorded_commands("train_shipped.sh", tmp_path, str(tmp_path / "runs"), "jpeg10", "blur-uni")
    scripts = [Path(command[0]).name for command in commands]
    per_task = ["train_nadb.py", "train_ibmd.py", "train_i2sb.py"]  # the student after its teacher
    assert scripts == [*per_task, *per_task]
    for command in commands:
        args = _parse(command)
        assert args.resume_from_checkpoint == "latest"
        assert args.task in ("jpeg10", "blur-uni")
        assert args.train_data_dir == str(tmp_path / "photos")
        assert args.resolution == 64 and args.scale_range is None  # 64 px crops at the photos' native scale
        assert args.use_ema and args.lr_scheduler == "cosine"
    nadb = [_parse(command) for command in commands if command[0].endswith("train_nadb.py")]
    assert all(
        args.classical_mean_net and args.model_preset == "restore" and args.mean_loss == "psnr" for args in nadb
    )
    ibmd = [_parse(command) for command in commands if command[0].endswith("train_ibmd.py")]
    teachers = [str(tmp_path / "runs" / task / "nadb") for task in ("jpeg10", "blur-uni")]
    assert [args.teacher for args in ibmd] == teachers
    assert (tmp_path / "runs" / "wall_times.tsv").read_text().count("\n") == 6  # one line per run


@pytest.mark.skipif(sys.platform == "win32", reason="bash script")
def test_train_shipped_runs_only_the_methods_asked_for(tmp_path):
    os.environ["METHODS"] = "nadb"
    try:
        commands = _recorded_commands("train_shipped.sh", tmp_path, str(tmp_path / "runs"), "sr4x-pool")
    finally:
        del os.environ["METHODS"]
    assert [Path(command[0]).name for command in commands] == ["train_nadb.py"]


@pytest.mark.skipif(sys.platform == "win32", reason="bash script")
def test_train_cpu_blur_passes_only_accepted_flags(tmp_path):
    (tmp_path / "cpu" / "nadb").mkdir(parents=True)
    commands = _recorded_commands("train_cpu_blur.sh", tmp_path, str(tmp_path / "cpu"))
    assert [Path(command[0]).name for command in commands] == ["train_i2sb.py", "train_nadb.py", "train_ibmd.py"]
    assert all(_parse(command).task == "blur-uni" for command in commands)
