# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The photo folder: the default training and evaluation images, and its split into training and held-out photos.

``bash scripts/fetch_photos.sh [DIR]`` writes the default corpus into an image folder (``photos/`` by default): the
sample photos of scikit-image, scikit-learn, matplotlib and gradio and the nature photos of Debian's
mate-backgrounds, with a ``metadata.jsonl`` (the Hugging Face ``imagefolder`` format) and a README listing every
photo's licence. Any folder of images works the same way::

    from bridge_diffusers.data import split_photos

    train, held_out = split_photos("photos", validation_fraction=0.25, seed=0)

Training (``--train_data_dir photos``), ``bridge-diffusers evaluate`` and the showcase all split the folder with
:func:`split_photos` and the same seed, so the held-out photos stay held out.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from .splits import split_by_image


__all__ = [
    "PHOTOS_DIR_ENV",
    "PhotoSource",
    "describe_sources",
    "list_photos",
    "load_photo",
    "photos_dir",
    "split_photos",
]

#: Environment variable naming the default photo folder (else ``photos`` in the working directory).
PHOTOS_DIR_ENV = "BRIDGE_DIFFUSERS_PHOTOS_DIR"
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class PhotoSource:
    """One image of a photo folder.

    Args:
        name (`str`): its path inside the folder without the suffix, e.g. ``"skimage/astronaut"``.
        path (`str`): the image file.
        source (`str`): where it comes from (``metadata.jsonl``'s ``source``), e.g. ``"scikit-image 0.26.0"``.
        license (`str`): its licence, from ``metadata.jsonl``.
        group (`str`): images sharing a group (the two views of a stereo pair) land on the same side of a split;
            defaults to ``name``.
    """

    name: str
    path: str
    source: str = ""
    license: str = ""
    group: str = ""

    def __post_init__(self) -> None:
        if not self.group:
            object.__setattr__(self, "group", self.name)  # a frozen dataclass sets a derived field this way


def photos_dir(folder: str | os.PathLike | None = None) -> Path:
    """``folder``, else ``$BRIDGE_DIFFUSERS_PHOTOS_DIR``, else ``photos`` in the working directory."""
    return Path(folder if folder is not None else os.environ.get(PHOTOS_DIR_ENV) or "photos")


def list_photos(folder: str | os.PathLike | None = None) -> list[PhotoSource]:
    """The images of a folder (and its sub-folders), sorted by name, with what its ``metadata.jsonl`` says of them.

    Args:
        folder: the photo folder; see :func:`photos_dir`.

    Raises:
        FileNotFoundError: the folder holds no image, with the command that writes the default one.
    """
    root = photos_dir(folder)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(
            f"No images in {str(root)!r}: write the default photo corpus there with `bash scripts/fetch_photos.sh "
            f"{root}`, or pass a folder of your own images."
        )
    metadata = {}
    if (root / "metadata.jsonl").is_file():
        with open(root / "metadata.jsonl", encoding="utf-8") as handle:
            metadata = {row["file_name"]: row for row in map(json.loads, filter(str.strip, handle))}
    sources = []
    for path in files:
        relative = path.relative_to(root).as_posix()
        row = metadata.get(relative, {})
        name = row.get("name") or relative.rsplit(".", 1)[0]
        details = {key: row.get(key, "") for key in ("source", "license", "group")}
        sources.append(PhotoSource(name, str(path), **details))
    return sorted(sources, key=lambda source: source.name)


def load_photo(source: PhotoSource | str | os.PathLike) -> Image.Image:
    """Decodes a photo as an upright (EXIF orientation applied) RGB image, fully loaded."""
    path = source.path if isinstance(source, PhotoSource) else source
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened)
        image.load()
    return image.convert("RGB")


def split_photos(
    folder: str | os.PathLike | Sequence[PhotoSource] | None = None, validation_fraction: float = 0.25, seed: int = 0
) -> tuple[list[PhotoSource], list[PhotoSource]]:
    """Splits a photo folder into training and held-out photos, by image (never by crop).

    :func:`~bridge_diffusers.data.split_by_image` over the photos' ``group``: the held-out photos are those whose
    SHA-256 of ``(seed, group)`` ranks lowest. It depends only on the names in the folder and the seed, so training,
    evaluation and the showcase agree on it, and adding photos moves at most one group across the split.

    Args:
        folder: a photo folder (see :func:`photos_dir`) or its :func:`list_photos`.
        validation_fraction (`float`): share of the groups held out, in ``[0, 1)``.
        seed (`int`): selects another held-out set (``--seed`` of the training scripts).

    Returns:
        ``(train, held_out)``, each sorted by name.
    """
    sources = list(folder) if isinstance(folder, Sequence) and not isinstance(folder, str) else list_photos(folder)
    sources.sort(key=lambda source: source.name)
    return split_by_image(sources, validation_fraction, seed=seed, key=lambda source: source.group)


def describe_sources(sources: Sequence[PhotoSource]) -> str:
    """One line on where photos come from, e.g. ``"6 photos (gradio: 1, mate: 3, skimage: 1, sklearn: 1)"``."""
    counts = Counter(source.name.split("/")[0] if "/" in source.name else "." for source in sources)
    return f"{len(sources)} photos ({', '.join(f'{group}: {count}' for group, count in counts.items())})"
