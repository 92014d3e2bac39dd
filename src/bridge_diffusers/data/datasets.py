# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""PyTorch datasets of image crops for training and validating paired image-to-image bridges.

Every dataset yields dictionaries of float32 tensors of shape ``(3, resolution, resolution)`` with values in
``[-1, 1]``:

* [`RandomCropDataset`]: random crops of clean images, ``{"pixel_values"}``; the training loop degrades them;
* [`FixedCropDataset`]: the deterministic validation counterpart, fixed crops of each image;
* [`PairedImageDataset`]: aligned crops of (clean, degraded) pairs, ``{"pixel_values",
  "conditioning_pixel_values"}``, from two dataset columns or from pix2pix-style ``A|B`` images.

Randomness never comes from a global RNG: item ``index`` draws from a NumPy generator seeded with
``(seed, epoch, index)``, so an item is the same in any data-loader worker, with any number of workers and in a
resumed run. Images are decoded once per process and kept as ``uint8`` arrays; crops are array slices.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from .photos import PhotoSource, describe_sources, load_photo


__all__ = [
    "DEFAULT_SAMPLES_PER_IMAGE",
    "FixedCropDataset",
    "ImageLike",
    "PairedImageDataset",
    "RandomCropDataset",
    "load_image_dataset",
]

#: Anything the crop datasets accept as an image: decoded images, files, corpus entries or zero-argument loaders.
ImageLike = Image.Image | np.ndarray | PhotoSource | str | os.PathLike | Callable[[], Image.Image]

#: Random crops per image and epoch when ``samples_per_epoch`` is not given: one photo yields many crops.
DEFAULT_SAMPLES_PER_IMAGE = 1000

_BICUBIC = Image.Resampling.BICUBIC


# ----------------------------------------------------------------------------------------------------------------
# Array helpers: images are uint8 arrays of shape (H, W, 3) until the final conversion to a tensor.
# ----------------------------------------------------------------------------------------------------------------


def _pil_to_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def _decode(image: ImageLike) -> np.ndarray:
    """Decode any :data:`ImageLike` into a ``uint8`` array of shape ``(H, W, 3)``."""
    if isinstance(image, PhotoSource):
        return _pil_to_array(load_photo(image))
    if isinstance(image, Image.Image):
        return _pil_to_array(image)
    if isinstance(image, np.ndarray):
        return _check_array(image)
    if isinstance(image, (str, os.PathLike)):
        with Image.open(image) as opened:
            return _pil_to_array(ImageOps.exif_transpose(opened))
    if callable(image):
        return _decode(image())
    raise ValueError(
        f"Cannot read an image from a {type(image).__name__}; expected a PIL image, a uint8 array of shape "
        "(H, W) or (H, W, 3), a PhotoSource, a file path or a function returning a PIL image."
    )


def _check_array(array: np.ndarray) -> np.ndarray:
    if array.dtype != np.uint8:
        raise ValueError(f"Image arrays must have dtype uint8 with values in [0, 255], got {array.dtype}.")
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"Image arrays must have shape (H, W) or (H, W, 3), got {array.shape}.")
    return array


def _resize(array: np.ndarray, width: int, height: int) -> np.ndarray:
    if array.shape[:2] == (height, width):
        return array
    return np.asarray(Image.fromarray(array).resize((width, height), _BICUBIC))


def _fit_shorter_side(array: np.ndarray, resolution: int, scale: float = 1.0) -> np.ndarray:
    """Resize by ``scale``, then enlarge if needed so that the shorter side is at least ``resolution``."""
    height, width = array.shape[:2]
    factor = max(scale, resolution / min(height, width))
    if factor == 1.0:
        return array
    # Ceil keeps the shorter side at >= resolution despite floating-point rounding.
    return _resize(array, max(math.ceil(width * factor - 1e-6), 1), max(math.ceil(height * factor - 1e-6), 1))


def _to_tensor(array: np.ndarray) -> torch.Tensor:
    """``uint8`` array of shape ``(H, W, 3)`` -> float32 tensor of shape ``(3, H, W)`` in ``[-1, 1]``."""
    # NumPy does the arithmetic: torch's multi-threaded element-wise kernels cost milliseconds per small crop
    # when the loading process competes with training for the CPU cores.
    values = np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32)
    values *= np.float32(1 / 127.5)
    values -= np.float32(1.0)
    return torch.from_numpy(values)


def _check_resolution(resolution: int) -> int:
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"`resolution` must be a positive integer (the crop side in pixels), got {resolution!r}.")
    return resolution


def _check_scale_range(scale_range: tuple[float, float] | None) -> tuple[float, float] | None:
    if scale_range is None:
        return None
    try:
        low, high = (float(value) for value in scale_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"`scale_range` must be None or a (low, high) pair of numbers, got {scale_range!r}."
        ) from None
    if not 0 < low <= high:
        raise ValueError(f"`scale_range` must satisfy 0 < low <= high, got {scale_range!r}; e.g. (0.25, 1.0).")
    return low, high


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer, got {seed!r}.")
    return seed


# ----------------------------------------------------------------------------------------------------------------
# Crop geometry
# ----------------------------------------------------------------------------------------------------------------


def _random_box(
    rng: np.random.Generator, height: int, width: int, resolution: int, scale_range: tuple[float, float] | None
) -> tuple[float, float, float]:
    """Draw ``(top, left, side)``: a square window of the source image that becomes the crop.

    Without ``scale_range`` the window is ``resolution`` pixels wide at integer offsets (a plain slice). With
    it, a scale ``s`` is drawn uniformly from the range and raised, if needed, to ``resolution / min(H, W)``,
    the smallest scale at which the crop still fits; the window is ``resolution / s`` pixels wide and is
    resampled to ``resolution`` pixels, as if the image had been resized by ``s`` before cropping.
    """
    if scale_range is None:
        top = int(rng.integers(0, height - resolution + 1))
        left = int(rng.integers(0, width - resolution + 1))
        return float(top), float(left), float(resolution)
    scale = max(rng.uniform(*scale_range), resolution / min(height, width))
    side = min(resolution / scale, float(min(height, width)))
    top = rng.uniform(0.0, height - side)
    left = rng.uniform(0.0, width - side)
    return top, left, side


def _crop(array: np.ndarray, top: float, left: float, side: float, resolution: int) -> np.ndarray:
    """Cut the window ``(top, left, side)`` out of ``array`` and bring it to ``resolution`` pixels."""
    if side == resolution and top.is_integer() and left.is_integer():
        return array[int(top) : int(top) + resolution, int(left) : int(left) + resolution]
    # Resample only a window around the box: converting the whole (possibly multi-megapixel) photo to PIL for
    # every item would dominate the loading time. The margin covers the bicubic kernel's support, two output
    # pixels on each side, so the result matches resizing the whole image.
    height, width = array.shape[:2]
    margin = math.ceil(2 * side / resolution) + 2
    y0, x0 = max(math.floor(top) - margin, 0), max(math.floor(left) - margin, 0)
    y1, x1 = min(math.ceil(top + side) + margin, height), min(math.ceil(left + side) + margin, width)
    window = Image.fromarray(array[y0:y1, x0:x1])
    box = (left - x0, top - y0, left + side - x0, top + side - y0)
    return np.asarray(window.resize((resolution, resolution), _BICUBIC, box=box))


def _grid_positions(height: int, width: int, resolution: int, count: int) -> list[tuple[int, int]]:
    """``count`` crop positions ``(top, left)`` spread evenly over the image, row by row.

    The grid has about as many columns per row as the aspect ratio suggests; the last row may hold fewer
    crops, spread over the full width. One crop is a centre crop. Crops overlap when the image is too small to
    hold ``count`` disjoint ones.
    """
    columns = min(max(round(math.sqrt(count * width / height)), 1), count)
    rows = math.ceil(count / columns)

    def spread(length: int, number: int) -> list[int]:
        if number == 1:
            return [(length - resolution) // 2]
        return [round(value) for value in np.linspace(0, length - resolution, number)]

    positions = []
    for row, top in enumerate(spread(height, rows)):
        in_row = columns if row < rows - 1 else count - columns * (rows - 1)
        positions.extend((top, left) for left in spread(width, in_row))
    return positions


def _item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    # SeedSequence hashes the whole tuple, so neighbouring indices or seeds give unrelated streams.
    return np.random.default_rng([seed, epoch, index])


# ----------------------------------------------------------------------------------------------------------------
# Crop datasets over a list of images
# ----------------------------------------------------------------------------------------------------------------


class _ImageListDataset(Dataset):
    """Shared storage of the crop datasets: images decoded on first use, once per process."""

    def __init__(self, images: Sequence[ImageLike], resolution: int) -> None:
        images = list(images)
        if not images:
            raise ValueError("Expected at least one image, got an empty list.")
        self.resolution = _check_resolution(resolution)
        # PIL images and arrays are already decoded; everything else is decoded lazily in each worker.
        self._sources: list[ImageLike | None] = []
        self._arrays: list[np.ndarray | None] = []
        for image in images:
            eager = isinstance(image, (Image.Image, np.ndarray))
            self._sources.append(None if eager else image)
            self._arrays.append(self._prepare(_decode(image)) if eager else None)
        photos = all(isinstance(image, PhotoSource) for image in images)
        #: Human-readable origin of the images, e.g. ``"6 photos (gradio: 1, ...)"``; log it with the results.
        self.source_description = describe_sources(images) if photos else f"{len(images)} user-provided images"

    def _prepare(self, array: np.ndarray) -> np.ndarray:
        return _fit_shorter_side(array, self.resolution)

    def _image(self, position: int) -> np.ndarray:
        array = self._arrays[position]
        if array is None:
            array = self._arrays[position] = self._prepare(_decode(self._sources[position]))
        return array

    @property
    def num_images(self) -> int:
        """The number of source images."""
        return len(self._arrays)

    def __getstate__(self) -> dict[str, Any]:
        # Pickled copies (spawned workers) re-decode lazy images rather than receive megabytes of pixels.
        state = self.__dict__.copy()
        state["_arrays"] = [
            None if source is not None else array for source, array in zip(self._sources, self._arrays, strict=True)
        ]
        return state

    def _check_index(self, index: int) -> int:
        length = len(self)
        if not -length <= index < length:
            raise IndexError(f"Index {index} is out of range for a dataset of {length} items.")
        return index % length


class RandomCropDataset(_ImageListDataset):
    """Random square crops of a few large images, for training.

    Item ``index`` is a crop of image ``index % num_images``; its position, scale and flip are drawn from a
    generator seeded with ``(seed, epoch, index)``, so the item is reproducible in any worker and in a resumed
    run, and a new epoch (:meth:`set_epoch`) draws new crops.

    Images whose shorter side is below ``resolution`` are first enlarged (bicubic) so that it equals
    ``resolution``.

    Args:
        images (`Sequence[ImageLike]`):
            PIL images, ``uint8`` arrays of shape ``(H, W, 3)``, [`PhotoSource`] entries, file paths or
            zero-argument functions returning a PIL image. Anything but PIL images and arrays is decoded on first
            use, once per process; all are converted to RGB.
        resolution (`int`):
            Side of the square crops in pixels.
        samples_per_epoch (`int`, *optional*):
            The dataset's length. Defaults to ``1000 * len(images)``: a large photo holds many distinct crops.
        random_flip (`bool`, *optional*, defaults to `True`):
            Mirror each crop horizontally with probability 1/2.
        scale_range (`tuple[float, float]`, *optional*):
            ``(low, high)``: before cropping, resize the image by a factor drawn uniformly from this range, e.g.
            ``(0.25, 1.0)``, so that crops of large photos show whole objects rather than texture close-ups. The
            factor is raised where needed so the crop fits. Only the crop's window is resampled, so large factors
            cost no more than small ones. `None` (the default) crops at the native scale.
        seed (`int`, *optional*, defaults to 0):
            Non-negative base seed of every item.

    Each item is ``{"pixel_values": torch.Tensor}`` of shape ``(3, resolution, resolution)``, float32, in
    ``[-1, 1]``.
    """

    def __init__(
        self,
        images: Sequence[ImageLike],
        resolution: int,
        samples_per_epoch: int | None = None,
        random_flip: bool = True,
        scale_range: tuple[float, float] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(images, resolution)
        if samples_per_epoch is None:
            samples_per_epoch = DEFAULT_SAMPLES_PER_IMAGE * self.num_images
        if isinstance(samples_per_epoch, bool) or not isinstance(samples_per_epoch, int) or samples_per_epoch < 1:
            raise ValueError(f"`samples_per_epoch` must be a positive integer, got {samples_per_epoch!r}.")
        self.samples_per_epoch = samples_per_epoch
        self.random_flip = random_flip
        self.scale_range = _check_scale_range(scale_range)
        self.seed = _check_seed(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the crops of another epoch (the same ``(seed, epoch)`` always gives the same crops).

        Workers hold copies of the dataset: call this before the ``DataLoader`` iterator of the epoch is created,
        and do not use ``persistent_workers=True``, whose workers would keep the old epoch.
        """
        self.epoch = _check_seed(epoch)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = self._check_index(index)
        rng = _item_rng(self.seed, self.epoch, index)
        array = self._image(index % self.num_images)
        top, left, side = _random_box(rng, array.shape[0], array.shape[1], self.resolution, self.scale_range)
        crop = _crop(array, top, left, side, self.resolution)
        if self.random_flip and rng.random() < 0.5:
            crop = crop[:, ::-1]
        return {"pixel_values": _to_tensor(crop)}


class FixedCropDataset(_ImageListDataset):
    """Deterministic crops of each image, for validation.

    Every image gives ``crops_per_image`` crops at fixed positions spread evenly over it (a centre crop when
    ``crops_per_image=1``); item ``index`` is crop ``index % crops_per_image`` of image
    ``index // crops_per_image``. Nothing is random, so validation scores are comparable across runs.

    Args:
        images (`Sequence[ImageLike]`):
            As for [`RandomCropDataset`]; use images that training never sees (see [`split_by_image`]).
        resolution (`int`):
            Side of the square crops in pixels.
        crops_per_image (`int`, *optional*, defaults to 1):
            Crops per image, placed on a grid matching the image's aspect ratio; they overlap only when the image
            cannot hold that many disjoint crops.
        scale (`float`, *optional*, defaults to 1.0):
            Resize each image by this factor before cropping, e.g. the middle of the training ``scale_range``
            so that validation crops show content at the scale seen in training. Images are enlarged as needed
            for the crop to fit, as in training.

    Each item is ``{"pixel_values": torch.Tensor}`` of shape ``(3, resolution, resolution)``, float32, in
    ``[-1, 1]``.
    """

    def __init__(
        self,
        images: Sequence[ImageLike],
        resolution: int,
        crops_per_image: int = 1,
        scale: float = 1.0,
    ) -> None:
        if isinstance(crops_per_image, bool) or not isinstance(crops_per_image, int) or crops_per_image < 1:
            raise ValueError(f"`crops_per_image` must be a positive integer, got {crops_per_image!r}.")
        if not isinstance(scale, (int, float)) or not scale > 0:
            raise ValueError(f"`scale` must be a positive number, got {scale!r}.")
        # Set before the parent decodes the eager images with `_prepare`, which needs the scale.
        self.scale = float(scale)
        self.crops_per_image = crops_per_image
        super().__init__(images, resolution)

    def _prepare(self, array: np.ndarray) -> np.ndarray:
        return _fit_shorter_side(array, self.resolution, self.scale)

    def __len__(self) -> int:
        return self.num_images * self.crops_per_image

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = self._check_index(index)
        array = self._image(index // self.crops_per_image)
        positions = _grid_positions(array.shape[0], array.shape[1], self.resolution, self.crops_per_image)
        top, left = positions[index % self.crops_per_image]
        return {"pixel_values": _to_tensor(array[top : top + self.resolution, left : left + self.resolution])}


# ----------------------------------------------------------------------------------------------------------------
# Hugging Face datasets
# ----------------------------------------------------------------------------------------------------------------


def _check_columns(dataset: Any, columns: Sequence[str | None], what: str = "dataset") -> None:
    available = list(dataset.column_names)
    for column in columns:
        if column is not None and column not in available:
            raise ValueError(
                f"Column {column!r} not found in the {what}; available columns: {available}. Set "
                "`image_column` / `conditioning_image_column` to one of them."
            )


def load_image_dataset(
    dataset_name: str | None = None,
    train_data_dir: str | os.PathLike | None = None,
    image_column: str = "image",
    conditioning_image_column: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    dataset_config_name: str | None = None,
) -> Any:
    """Load an image dataset from the Hugging Face Hub or from a local folder, and check its columns.

    Exactly one source must be given:

    * ``dataset_name``: a Hub dataset (``datasets.load_dataset(dataset_name, dataset_config_name, ...)``);
      this downloads unless the dataset is cached and ``HF_DATASETS_OFFLINE=1``.
    * ``train_data_dir``: a local folder read by the ``imagefolder`` builder, offline. Every image becomes a row
      of the ``image`` column. For paired data add a ``metadata.jsonl`` with one line per pair, e.g.
      ``{"file_name": "clean/0001.png", "conditioning_image_file_name": "degraded/0001.png"}``: every
      ``<column>_file_name`` key becomes an image column named ``<column>``.

    Args:
        dataset_name (`str`, *optional*): Hub id, e.g. ``"user/edges2handbags"``.
        train_data_dir (`str` or `os.PathLike`, *optional*): local folder of images.
        image_column (`str`, *optional*, defaults to `"image"`): column of the clean (target) images.
        conditioning_image_column (`str`, *optional*): column of the degraded (source) images, for paired data.
        cache_dir (`str` or `os.PathLike`, *optional*): where ``datasets`` caches the prepared Arrow files.
        dataset_config_name (`str`, *optional*): the Hub dataset's configuration, if it has several.

    Returns:
        `datasets.Dataset`: the ``train`` split; images are decoded to PIL images on access.

    Raises:
        ValueError: if not exactly one source is given, the folder does not exist, or a column is missing
            (the message lists the available columns).
        ImportError: if the ``datasets`` package is not installed.
    """
    if (dataset_name is None) == (train_data_dir is None):
        raise ValueError(
            "Pass exactly one of `dataset_name` (a Hugging Face Hub dataset) and `train_data_dir` (a local image "
            f"folder); got dataset_name={dataset_name!r}, train_data_dir={train_data_dir!r}."
        )
    try:
        import datasets
    except ImportError as error:  # an optional dependency: only training needs it
        raise ImportError(
            "Loading image datasets needs the `datasets` package: `pip install 'bridge-diffusers[train]'`."
        ) from error

    cache_dir = os.fspath(cache_dir) if cache_dir is not None else None
    if dataset_name is not None:
        dataset = datasets.load_dataset(dataset_name, dataset_config_name, split="train", cache_dir=cache_dir)
        what = f"dataset {dataset_name!r}"
    else:
        train_data_dir = os.fspath(train_data_dir)
        if not os.path.isdir(train_data_dir):
            raise ValueError(f"`train_data_dir` {train_data_dir!r} is not an existing folder.")
        dataset = datasets.load_dataset("imagefolder", data_dir=train_data_dir, split="train", cache_dir=cache_dir)
        what = f"image folder {train_data_dir!r}"
    _check_columns(dataset, [image_column, conditioning_image_column], what)
    return dataset


# ----------------------------------------------------------------------------------------------------------------
# Paired data
# ----------------------------------------------------------------------------------------------------------------


class PairedImageDataset(Dataset):
    """Aligned crops of (clean, degraded) image pairs.

    Pairs come either from two columns of a dataset (``image_column`` holds the clean target,
    ``conditioning_image_column`` the degraded source) or, with ``side_by_side=True``, from single pix2pix-style
    ``A|B`` images cut into two halves of equal width. Both images of a pair receive the same crop, scale and
    flip, so they stay pixel-aligned. A source whose size differs from its target's (a low-resolution input of
    super-resolution) is first resized to the target's size with bicubic interpolation; images whose shorter
    side is below ``resolution`` are enlarged to it.

    Item ``index`` uses row ``index % len(dataset)``; with ``random_crop=True`` its crop is drawn from a
    generator seeded with ``(seed, epoch, index)`` (reproducible in any worker), otherwise it is a centre crop.

    Args:
        dataset (`datasets.Dataset` or `Sequence[Mapping]`):
            The rows, e.g. from [`load_image_dataset`]; values are PIL images (or anything
            :data:`ImageLike`).
        resolution (`int`):
            Side of the square crops in pixels.
        image_column (`str`, *optional*, defaults to `"image"`):
            Column of the clean targets, or of the ``A|B`` images when ``side_by_side=True``.
        conditioning_image_column (`str`, *optional*):
            Column of the degraded sources. Required unless ``side_by_side=True``.
        side_by_side (`bool`, *optional*, defaults to `False`):
            Read each pair from one image whose halves are the source and the target. An odd width is an error
            (the halves must match pixel for pixel).
        source_side (`str`, *optional*, defaults to `"left"`):
            ``"left"`` or ``"right"``: which half is the source. pix2pix datasets store ``A|B`` with A on the
            left (the edge map of edges2handbags), so the default translates A into B.
        random_crop (`bool`, *optional*, defaults to `True`):
            Random crops for training; `False` gives centre crops for validation.
        random_flip (`bool`, *optional*, defaults to `True`):
            Mirror both images with probability 1/2; ignored when ``random_crop=False``.
        scale_range (`tuple[float, float]`, *optional*):
            As for [`RandomCropDataset`]; ignored when ``random_crop=False``.
        samples_per_epoch (`int`, *optional*):
            The dataset's length; defaults to one item per row.
        seed (`int`, *optional*, defaults to 0):
            Non-negative base seed of every item.

    Each item is ``{"pixel_values": target, "conditioning_pixel_values": source}``, both float32 tensors of
    shape ``(3, resolution, resolution)`` in ``[-1, 1]``.
    """

    def __init__(
        self,
        dataset: Any,
        resolution: int,
        image_column: str = "image",
        conditioning_image_column: str | None = None,
        side_by_side: bool = False,
        source_side: str = "left",
        random_crop: bool = True,
        random_flip: bool = True,
        scale_range: tuple[float, float] | None = None,
        samples_per_epoch: int | None = None,
        seed: int = 0,
    ) -> None:
        if side_by_side == (conditioning_image_column is not None):
            raise ValueError(
                "Give the source images either as `conditioning_image_column` or as the halves of side-by-side "
                f"images (`side_by_side=True`), not both or neither; got conditioning_image_column="
                f"{conditioning_image_column!r}, side_by_side={side_by_side}."
            )
        if source_side not in ("left", "right"):
            raise ValueError(f"`source_side` must be 'left' or 'right', got {source_side!r}.")
        if len(dataset) == 0:
            raise ValueError("Expected a dataset with at least one row, got an empty one.")
        columns = [image_column] if side_by_side else [image_column, conditioning_image_column]
        if hasattr(dataset, "column_names"):
            _check_columns(dataset, columns)
            # Only the used columns are read: other image columns would be decoded for nothing.
            if hasattr(dataset, "select_columns") and list(dataset.column_names) != columns:
                dataset = dataset.select_columns(columns)
        if samples_per_epoch is None:
            samples_per_epoch = len(dataset)
        if isinstance(samples_per_epoch, bool) or not isinstance(samples_per_epoch, int) or samples_per_epoch < 1:
            raise ValueError(f"`samples_per_epoch` must be a positive integer, got {samples_per_epoch!r}.")

        self.dataset = dataset
        self._columns = columns
        self.resolution = _check_resolution(resolution)
        self.image_column = image_column
        self.conditioning_image_column = conditioning_image_column
        self.side_by_side = side_by_side
        self.source_side = source_side
        self.random_crop = random_crop
        self.random_flip = random_flip
        self.scale_range = _check_scale_range(scale_range)
        self.samples_per_epoch = samples_per_epoch
        self.seed = _check_seed(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the crops of another epoch; see [`RandomCropDataset.set_epoch`]."""
        self.epoch = _check_seed(epoch)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def split_side_by_side(self, array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cut an ``A|B`` image into ``(target, source)`` halves.

        Args:
            array (`np.ndarray` of shape `(H, W, 3)`): the side-by-side image, ``uint8``, ``W`` even.

        Returns:
            `tuple[np.ndarray, np.ndarray]`: ``(target, source)``, each of shape ``(H, W / 2, 3)``.
        """
        height, width = array.shape[:2]
        if width % 2:
            raise ValueError(
                f"A side-by-side A|B image must have an even width (two halves of equal size), got {width}x{height}."
            )
        left, right = array[:, : width // 2], array[:, width // 2 :]
        return (right, left) if self.source_side == "left" else (left, right)

    def _row(self, row: int) -> Mapping[str, Any]:
        record = self.dataset[row]
        if not isinstance(record, Mapping):
            raise ValueError(f"Expected dataset rows to be mappings of column to image, got {type(record).__name__}.")
        for column in self._columns:
            if column not in record:
                raise ValueError(f"Column {column!r} not found in row {row}; available columns: {list(record)}.")
        return record

    def _pair(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        record = self._row(row)
        if self.side_by_side:
            target, source = self.split_side_by_side(_decode(record[self.image_column]))
        else:
            target = _decode(record[self.image_column])
            source = _decode(record[self.conditioning_image_column])
        # One resize brings the source to the (possibly enlarged) target's size: both must match pixel for pixel.
        target = _fit_shorter_side(target, self.resolution)
        source = _resize(source, target.shape[1], target.shape[0])
        return target, source

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        length = len(self)
        if not -length <= index < length:
            raise IndexError(f"Index {index} is out of range for a dataset of {length} items.")
        index %= length
        target, source = self._pair(index % len(self.dataset))
        height, width = target.shape[:2]
        flip = False
        if self.random_crop:
            rng = _item_rng(self.seed, self.epoch, index)
            top, left, side = _random_box(rng, height, width, self.resolution, self.scale_range)
            flip = self.random_flip and rng.random() < 0.5
        else:
            top, left = float((height - self.resolution) // 2), float((width - self.resolution) // 2)
            side = float(self.resolution)
        target = _crop(target, top, left, side, self.resolution)
        source = _crop(source, top, left, side, self.resolution)
        if flip:
            target, source = target[:, ::-1], source[:, ::-1]
        return {"pixel_values": _to_tensor(target), "conditioning_pixel_values": _to_tensor(source)}
