"""Test set-up: everything offline, tiny random networks, no progress bars."""

import os


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
