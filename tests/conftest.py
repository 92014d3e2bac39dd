"""Test set-up: everything offline, tiny random networks, no progress bars."""

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path


# Set before any Hugging Face import so that no test can reach a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    yield


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def subprocess_env() -> dict[str, str]:
    """The environment of a child Python process: this checkout's `src` importable, every hub offline."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    return env


REPO = Path(__file__).resolve().parents[1]
_SCRIPTS = {}


def training_script(method: str):
    """``training/train_<method>.py`` imported as a module (its ``parse_args`` and ``main``), once per session."""
    if method not in _SCRIPTS:
        spec = importlib.util.spec_from_file_location(f"train_{method}", REPO / "training" / f"train_{method}.py")
        _SCRIPTS[method] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_SCRIPTS[method])
    return _SCRIPTS[method]


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory) -> Path:
    """An image folder of 8 small synthetic photos (6 for training, 2 held out): the training scripts' data."""
    from photo_folder import small_photo_folder

    return small_photo_folder(tmp_path_factory.mktemp("photos"), count=8)


def launch_two_cpu_processes(
    script: Path, *flags: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Runs a training script under `accelerate launch` as two CPU processes (DDP over gloo), offline.

    In accelerate 1.15 `launch --cpu --num_processes 2` starts ONE process (its simple launcher); two CPU processes
    need the torchrun launcher of `--multi_gpu` with ACCELERATE_USE_CPU=1.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**subprocess_env(), "ACCELERATE_USE_CPU": "1", **(env or {})}
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port),
        str(script), *flags,
    ]  # fmt: skip
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
