"""The tests' photos: the repository's photo folder, written by ``bash scripts/fetch_photos.sh`` (``scripts/test.sh``
runs it); a test that needs a photo is skipped without it."""

import os
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from bridge_diffusers.data import PHOTOS_DIR_ENV, load_photo


REPO = Path(__file__).resolve().parents[1]
PHOTOS = Path(os.environ.get(PHOTOS_DIR_ENV) or REPO / "photos")


def photo_path(name: str) -> Path:
    """The file of a photo named as in the folder, e.g. ``"skimage/astronaut"``; skips the test without it."""
    found = sorted(PHOTOS.glob(f"{name}.*"))
    if not found:
        pytest.skip(f"no {name} in {PHOTOS}: run `bash scripts/fetch_photos.sh`")
    return found[0]


def photo_tensor(name: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A photo as a `(3, H, W)` tensor in [0, 1]."""
    array = np.asarray(load_photo(photo_path(name)), dtype=np.float64) / 255.0
    return torch.from_numpy(array.transpose(2, 0, 1)).to(dtype)


def small_photo_folder(root: Path, count: int = 4, size: tuple[int, int] = (48, 64)) -> Path:
    """A folder of ``count`` small synthetic photos (smooth gradients with noise), for tests that only need a folder:
    with the default split, one of four is held out."""
    root.mkdir(parents=True, exist_ok=True)
    rows, cols = np.mgrid[0 : size[0], 0 : size[1]]
    for index in range(count):
        rng = np.random.default_rng(index)
        base = np.stack([np.sin(rows / (5 + c + index)) * np.cos(cols / (7 + c)) for c in range(3)], axis=-1)
        array = np.clip(127.5 + 100 * base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
        PIL.Image.fromarray(array).save(root / f"photo{index}.png")
    return root
