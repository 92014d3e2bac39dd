# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The built-in offline photo corpus: real photographs shipped inside installed packages.

Restoration bridges must learn natural-image statistics, yet tests, demos and first experiments should run
without downloading a dataset. A few dozen free photographs already sit on most machines, inside Python
packages and Debian packages; this module lists the ones present, reads them where they are installed (nothing
is copied into this repository) and splits them by image into training and validation sets.

Sources, all optional:

* scikit-image ``skimage/data/``: ``astronaut``, ``chelsea``, ``coffee``, ``rocket``, ``motorcycle_left`` and
  ``motorcycle_right`` (a stereo pair, kept on the same side of every split);
* scikit-learn ``sklearn/datasets/images/``: ``china`` and ``flower`` (the files read by
  ``sklearn.datasets.load_sample_images()``);
* matplotlib ``mpl-data/sample_data/grace_hopper.jpg``;
* gradio ``gradio/media_assets/images/``: ``cheetah``, ``cheetah1``, ``lion`` and ``tower``;
* the Debian ``mate-backgrounds`` nature photographs, from the folder in the ``BRIDGE_DIFFUSERS_MATE_DIR``
  environment variable or ``/usr/share/backgrounds/mate/nature``. Without root rights they can be unpacked
  anywhere with ``apt-get download mate-backgrounds && dpkg -x mate-backgrounds_*.deb ./mate`` and then
  ``export BRIDGE_DIFFUSERS_MATE_DIR=$PWD/mate/usr/share/backgrounds/mate/nature``.

When fewer than two photographs are found, :func:`get_offline_photos` falls back to seeded procedural images
(:func:`synthetic_photo`) and logs a warning; :func:`describe_sources` tells every consumer which corpus it got.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from .splits import split_by_image


__all__ = [
    "DEFAULT_MATE_DIR",
    "MATE_DIR_ENV",
    "PhotoSource",
    "describe_sources",
    "get_offline_photos",
    "list_offline_photos",
    "load_offline_photo",
    "offline_photo_split",
    "synthetic_photo",
    "synthetic_photos",
]

logger = logging.getLogger(__name__)

#: Environment variable naming the folder of the ``mate-backgrounds`` nature photographs.
MATE_DIR_ENV = "BRIDGE_DIFFUSERS_MATE_DIR"
#: Where the Debian ``mate-backgrounds`` package installs its nature photographs.
DEFAULT_MATE_DIR = "/usr/share/backgrounds/mate/nature"
# Where `scripts/fetch_photos.sh` extracts the package without installing it system-wide.
CACHED_MATE_DIR = os.path.join(
    os.path.expanduser("~"), ".cache", "bridge-diffusers", "mate-backgrounds", "usr", "share", "backgrounds", "mate"
)

_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")

# (package to locate, folder inside it, pretty package name, {photo: (file stem, licence)}).
_PACKAGE_PHOTOS: tuple[tuple[str, str, str, dict[str, tuple[str, str]]], ...] = (
    (
        "skimage",
        "data",
        "scikit-image",
        {
            "astronaut": ("astronaut", "public domain (NASA)"),
            "chelsea": ("chelsea", "CC0 (photographer Stefan van der Walt)"),
            "coffee": ("coffee", "CC0 (photographer Rachel Michetti)"),
            "rocket": ("rocket", "public domain (SpaceX)"),
            "motorcycle_left": ("motorcycle_left", "Middlebury 2014 stereo benchmark (cite Scharstein et al.)"),
            "motorcycle_right": ("motorcycle_right", "Middlebury 2014 stereo benchmark (cite Scharstein et al.)"),
        },
    ),
    (
        "sklearn",
        os.path.join("datasets", "images"),
        "scikit-learn",
        {
            "china": ("china", "CC BY 2.0 (danielbuechele on Flickr)"),
            "flower": ("flower", "CC BY 2.0 (vultilion on Flickr)"),
        },
    ),
    (
        "matplotlib",
        os.path.join("mpl-data", "sample_data"),
        "matplotlib",
        {"grace_hopper": ("grace_hopper", "public domain (U.S. Navy)")},
    ),
    (
        "gradio",
        os.path.join("media_assets", "images"),
        "gradio",
        {
            "cheetah": ("cheetah", "shipped with gradio (Apache-2.0 package)"),
            "cheetah1": ("cheetah1", "shipped with gradio (Apache-2.0 package)"),
            "lion": ("lion", "shipped with gradio (Apache-2.0 package)"),
            "tower": ("tower", "shipped with gradio (Apache-2.0 package)"),
        },
    ),
)

# Photos that show the same scene must share a split side, or validation would score near-duplicates of
# training images.
_GROUPS = {"skimage/motorcycle_left": "skimage/motorcycle", "skimage/motorcycle_right": "skimage/motorcycle"}

_MATE_LICENSE = "GPL-2+ (mate-backgrounds; authors in /usr/share/doc/mate-backgrounds/copyright)"
_SYNTHETIC_PACKAGE = "bridge_diffusers (procedural)"


@dataclass(frozen=True)
class PhotoSource:
    """One image of the offline corpus: where it lives and under which terms.

    Args:
        name (`str`): unique identifier, ``"<package>/<photo>"``, e.g. ``"skimage/astronaut"``.
        package (`str`): the distribution the image comes from, e.g. ``"scikit-image"``.
        license (`str`): the image's licence or copyright status, as stated by its package.
        path (`str`, *optional*): the image file. Exactly one of ``path`` and ``loader`` is set.
        loader (`Callable[[], PIL.Image.Image]`, *optional*): builds the image (procedural images); must be
            picklable so that data-loader workers can receive it.
        group (`str`, *optional*): images sharing a group (such as the two views of a stereo pair) always land
            on the same side of a train/validation split. Defaults to ``name``.
    """

    name: str
    package: str
    license: str
    path: str | None = None
    loader: Callable[[], Image.Image] | None = None
    group: str = ""

    def __post_init__(self) -> None:
        if (self.path is None) == (self.loader is None):
            raise ValueError(f"PhotoSource {self.name!r} needs exactly one of `path` and `loader`.")
        if not self.group:
            # A frozen dataclass can only set a derived field through object.__setattr__.
            object.__setattr__(self, "group", self.name)

    @property
    def synthetic(self) -> bool:
        """Whether the image is procedural rather than a photograph."""
        return self.package == _SYNTHETIC_PACKAGE


def _package_dir(package: str) -> str | None:
    # `find_spec` on a top-level name locates the package without importing it: importing gradio or
    # scikit-learn costs seconds, and only their data files are needed.
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(iter(spec.submodule_search_locations))


def _find_image(folder: str, stem: str) -> str | None:
    for extension in _IMAGE_EXTENSIONS:
        path = os.path.join(folder, stem + extension)
        if os.path.isfile(path):
            return path
    return None


def _package_photos() -> list[PhotoSource]:
    sources = []
    for package, subfolder, pretty_name, photos in _PACKAGE_PHOTOS:
        root = _package_dir(package)
        if root is None:
            continue
        folder = os.path.join(root, subfolder)
        for photo, (stem, license_) in photos.items():
            path = _find_image(folder, stem)
            if path is not None:
                name = f"{package}/{photo}"
                sources.append(PhotoSource(name, pretty_name, license_, path=path, group=_GROUPS.get(name, "")))
    return sources


def _mate_photos(mate_dir: str | None) -> list[PhotoSource]:
    folder = mate_dir or os.environ.get(MATE_DIR_ENV)
    if folder is None:
        folder = next((d for d in (DEFAULT_MATE_DIR, CACHED_MATE_DIR) if os.path.isdir(d)), DEFAULT_MATE_DIR)
    # Accept the package's top folder too, but read only `nature/`: the other folders hold artwork, not photos.
    if os.path.isdir(os.path.join(folder, "nature")):
        folder = os.path.join(folder, "nature")
    if not os.path.isdir(folder):
        return []
    sources = []
    for file_name in sorted(os.listdir(folder)):
        stem, extension = os.path.splitext(file_name)
        path = os.path.join(folder, file_name)
        if extension.lower() in _IMAGE_EXTENSIONS and os.path.isfile(path):
            sources.append(PhotoSource(f"mate/{stem}", "mate-backgrounds", _MATE_LICENSE, path=path))
    return sources


def list_offline_photos(mate_dir: str | None = None) -> list[PhotoSource]:
    """List the real photographs of the offline corpus that exist on this machine.

    Nothing is decoded or downloaded: the function only checks which files exist.

    Args:
        mate_dir (`str`, *optional*):
            Folder of the ``mate-backgrounds`` nature photographs. Defaults to the ``BRIDGE_DIFFUSERS_MATE_DIR``
            environment variable, then ``/usr/share/backgrounds/mate/nature``, then the cache folder that
            ``scripts/fetch_photos.sh`` fills (``CACHED_MATE_DIR``); a missing folder is skipped.

    Returns:
        `list[PhotoSource]`: the photographs found, sorted by name; possibly empty.
    """
    return sorted(_package_photos() + _mate_photos(mate_dir), key=lambda source: source.name)


def load_offline_photo(source: PhotoSource) -> Image.Image:
    """Decode one corpus image.

    Args:
        source ([`PhotoSource`]): an entry of :func:`list_offline_photos` or :func:`synthetic_photos`.

    Returns:
        `PIL.Image.Image`: the image in RGB mode, upright (EXIF orientation applied), fully loaded so that no
        file handle stays open.
    """
    if not isinstance(source, PhotoSource):
        raise ValueError(f"Expected a PhotoSource, got {type(source).__name__}.")
    if source.loader is not None:
        image = source.loader()
    else:
        with Image.open(source.path) as opened:
            image = ImageOps.exif_transpose(opened)
            image.load()
    return image.convert("RGB")


# ----------------------------------------------------------------------------------------------------------------
# Procedural fallback
# ----------------------------------------------------------------------------------------------------------------


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    # Bicubic up-sampling of a coarse random grid: smooth, band-limited variations like shading or clouds.
    grid = rng.uniform(0.0, 1.0, size=(cells, cells)).astype(np.float32)
    smooth = np.asarray(Image.fromarray(grid).resize((width, height), Image.Resampling.BICUBIC))
    return np.clip(smooth, 0.0, 1.0)


def _texture(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    # One of three textures in [0, 1], so that crops hold the high frequencies that degradations destroy.
    kind = rng.integers(3)
    if kind == 0:  # stripes at a random angle, periods of about 8 to 80 pixels on a 512-pixel image
        angle, frequency = rng.uniform(0, math.pi), rng.uniform(40, 400)
        return 0.5 + 0.5 * np.sin(frequency * (xx * math.cos(angle) + yy * math.sin(angle)))
    if kind == 1:  # checkerboard
        period = rng.uniform(0.01, 0.06)
        return ((np.floor(xx / period) + np.floor(yy / period)) % 2).astype(np.float32)
    # grain at a random scale, like foliage or gravel
    height, width = xx.shape
    return _smooth_noise(rng, height, width, cells=int(rng.integers(max(min(height, width) // 16, 2), 129)))


def synthetic_photo(seed: int = 0, size: tuple[int, int] = (512, 512)) -> Image.Image:
    """A seeded procedural image with photo-like structure, the fallback when no photographs are installed.

    Layers, back to front: a smooth two-colour gradient, low-frequency shading, soft colour blobs, hard-edged
    textured shapes (stripes, checkerboards or grain) and faint sensor noise. They exercise what restoration
    needs (flat areas, smooth ramps, sharp edges and fine texture) but are no substitute for real photographs
    when judging image quality.

    Args:
        seed (`int`, *optional*, defaults to 0): the same seed always gives the same image.
        size (`tuple[int, int]`, *optional*, defaults to `(512, 512)`): ``(width, height)`` in pixels.

    Returns:
        `PIL.Image.Image`: an RGB image of ``size``.
    """
    width, height = size
    if width < 1 or height < 1:
        raise ValueError(f"`size` must be a (width, height) pair of positive integers, got {size!r}.")
    rng = np.random.default_rng([0x5EED, seed])
    scale = float(max(width, height))
    yy, xx = (np.mgrid[0:height, 0:width].astype(np.float32) + 0.5) / scale

    angle = rng.uniform(0, 2 * math.pi)
    ramp = xx * math.cos(angle) + yy * math.sin(angle)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    start, end = rng.uniform(0.0, 1.0, size=(2, 3)).astype(np.float32)
    image = start + (end - start) * ramp[..., None]
    image *= (0.7 + 0.6 * _smooth_noise(rng, height, width, cells=int(rng.integers(3, 8))))[..., None]

    for _ in range(int(rng.integers(3, 7))):
        centre = rng.uniform(0.0, 1.0, size=2) * (width / scale, height / scale)
        radius = rng.uniform(0.05, 0.3, size=2)
        alpha = 0.8 * np.exp(-(((xx - centre[0]) / radius[0]) ** 2 + ((yy - centre[1]) / radius[1]) ** 2))
        image = image * (1 - alpha[..., None]) + rng.uniform(0.0, 1.0, size=3) * alpha[..., None]

    for _ in range(int(rng.integers(4, 10))):
        mask_image = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(mask_image)
        x0, y0 = rng.uniform(-0.1, 0.9, size=2) * (width, height)
        extent = rng.uniform(0.1, 0.5, size=2) * (width, height)
        if rng.integers(2):
            draw.ellipse([x0, y0, x0 + extent[0], y0 + extent[1]], fill=255)
        else:
            corners = rng.uniform(0.0, 1.0, size=(int(rng.integers(3, 7)), 2)) * extent + (x0, y0)
            draw.polygon([tuple(point) for point in corners], fill=255)
        mask = np.asarray(mask_image, dtype=np.float32)[..., None] / 255.0
        colour = rng.uniform(0.0, 1.0, size=3)
        fill = colour * (0.5 + 0.5 * _texture(rng, yy, xx)[..., None])
        image = image * (1 - mask) + fill * mask

    image = image + rng.normal(0.0, 0.01, size=image.shape)
    return Image.fromarray((np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))


@dataclass(frozen=True)
class _SyntheticLoader:
    # A dataclass rather than a lambda or closure: sources must pickle to reach data-loader workers.
    seed: int
    size: tuple[int, int]

    def __call__(self) -> Image.Image:
        return synthetic_photo(self.seed, self.size)


def synthetic_photos(count: int = 8, size: tuple[int, int] = (512, 512), seed: int = 0) -> list[PhotoSource]:
    """Sources of ``count`` procedural images (see :func:`synthetic_photo`), named ``synthetic/000`` onward.

    Args:
        count (`int`, *optional*, defaults to 8): the number of images, ``>= 1``.
        size (`tuple[int, int]`, *optional*, defaults to `(512, 512)`): ``(width, height)`` of every image.
        seed (`int`, *optional*, defaults to 0): image ``i`` uses seed ``seed + i``.

    Returns:
        `list[PhotoSource]`: sources with a picklable ``loader``, decoded on demand.
    """
    if count < 1:
        raise ValueError(f"`count` must be a positive number of images, got {count}.")
    return [
        PhotoSource(
            f"synthetic/{index:03d}",
            _SYNTHETIC_PACKAGE,
            "generated, no copyright",
            loader=_SyntheticLoader(seed + index, tuple(size)),
        )
        for index in range(count)
    ]


def describe_sources(sources: Sequence[PhotoSource]) -> str:
    """A one-line, human-readable account of where a list of corpus images comes from.

    Args:
        sources (`Sequence[PhotoSource]`): corpus entries.

    Returns:
        `str`: e.g. ``"9 offline photos (scikit-image: 6, scikit-learn: 2, matplotlib: 1)"`` or
        ``"8 synthetic procedural images (no real photos)"``.
    """
    if not sources:
        return "no images"
    real = [source for source in sources if not source.synthetic]
    if not real:
        return f"{len(sources)} synthetic procedural images (no real photos)"
    counts = ", ".join(f"{package}: {count}" for package, count in Counter(s.package for s in real).items())
    description = f"{len(real)} offline photos ({counts})"
    if len(real) < len(sources):
        description += f" and {len(sources) - len(real)} synthetic procedural images"
    return description


def get_offline_photos(
    min_photos: int = 2,
    synthetic_count: int = 8,
    mate_dir: str | None = None,
    allow_synthetic: bool = True,
) -> list[PhotoSource]:
    """The corpus to train on: the installed photographs, or procedural images when too few are installed.

    Args:
        min_photos (`int`, *optional*, defaults to 2):
            The fewest real photographs worth using; two are needed for a split with a training and a
            validation image.
        synthetic_count (`int`, *optional*, defaults to 8):
            How many procedural images replace the photographs.
        mate_dir (`str`, *optional*):
            Folder of the ``mate-backgrounds`` photographs; see :func:`list_offline_photos`.
        allow_synthetic (`bool`, *optional*, defaults to `True`):
            When `False`, too few photographs raise an error instead of falling back.

    Returns:
        `list[PhotoSource]`: real photographs sorted by name, or :func:`synthetic_photos`. A fallback is
        logged as a warning; pass the list to :func:`describe_sources` to report which corpus was used.

    Raises:
        RuntimeError: if fewer than ``min_photos`` photographs exist and ``allow_synthetic`` is `False`.
    """
    photos = list_offline_photos(mate_dir=mate_dir)
    if len(photos) >= max(min_photos, 1):
        logger.info("Offline corpus: %s.", describe_sources(photos))
        return photos
    hint = (
        "install scikit-image, scikit-learn or matplotlib, or point "
        f"{MATE_DIR_ENV} to the mate-backgrounds nature photos"
    )
    if not allow_synthetic:
        raise RuntimeError(f"Found {len(photos)} offline photos, fewer than the {min_photos} required; {hint}.")
    logger.warning(
        "Found %d offline photos, fewer than the %d required: using %d SYNTHETIC procedural images instead, which "
        "are no substitute for photographs when judging quality. To use real photos, %s.",
        len(photos),
        min_photos,
        synthetic_count,
        hint,
    )
    return synthetic_photos(synthetic_count)


def offline_photo_split(
    validation_fraction: float = 0.25,
    seed: int = 0,
    sources: Sequence[PhotoSource] | None = None,
) -> tuple[list[PhotoSource], list[PhotoSource]]:
    """Split the offline corpus into training and validation images, by image (never by crop).

    The split is :func:`~bridge_diffusers.data.split_by_image` over the sources' ``group`` (their name, except
    that the two motorcycle stereo views count as one image): the validation images are those whose SHA-256 of
    ``(seed, group)`` ranks lowest. It is the same in every run for the same available photos, and installing
    more photos moves at most one already available group across the split. Both sides get at least one group
    whenever two or more groups exist and ``validation_fraction > 0``.

    Args:
        validation_fraction (`float`, *optional*, defaults to 0.25):
            Share of the image groups used for validation, in ``[0, 1)``.
        seed (`int`, *optional*, defaults to 0):
            Selects a different validation set.
        sources (`Sequence[PhotoSource]`, *optional*):
            The images to split; defaults to :func:`get_offline_photos` (with its synthetic fallback).

    Returns:
        `tuple[list[PhotoSource], list[PhotoSource]]`: ``(train, validation)``, in the order of ``sources``
        (sorted by name for the default corpus).
    """
    if sources is None:
        sources = get_offline_photos()
    return split_by_image(sources, validation_fraction, seed=seed, key=lambda source: source.group)
