"""The shell scripts under `scripts/` pass only flags that the training scripts accept."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from bridge_diffusers.training import build_parser


REPO = Path(__file__).resolve().parents[1]

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
    env = {**os.environ, "PY": str(recorder), "RECORD": str(record)}
    subprocess.run(["bash", str(REPO / "scripts" / script), *script_args], check=True, env=env, cwd=REPO)
    return [shlex.split(line) for line in record.read_text().splitlines() if line.strip()]


@pytest.mark.skipif(sys.platform == "win32", reason="bash script")
def test_train_shipped_passes_only_accepted_flags(tmp_path):
    commands = _recorded_commands("train_shipped.sh", tmp_path, str(tmp_path / "runs"), "jpeg10", "blur-uni")
    scripts = [Path(command[0]).name for command in commands]
    per_task = ["train_i2sb.py", "train_nadb.py", "train_ibmd.py"]
    assert scripts == [*per_task, *per_task, "train_ibmd.py"]  # blur-uni also gets a degraded-input student
    assert commands[-1][commands[-1].index("--student_input") + 1] == "degraded"
    for command in commands:
        method = Path(command[0]).stem.removeprefix("train_")
        # argparse exits (SystemExit) on a flag the script does not define
        args = build_parser(method).parse_args(command[1:])
        assert args.resume_from_checkpoint == "latest"
        assert args.task in ("jpeg10", "blur-uni")
