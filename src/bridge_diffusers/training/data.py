# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""From the training flags to datasets of clean (and, for paired data, degraded) crops, and to training pairs."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data import (
    FixedCropDataset,
    PairedImageDataset,
    RandomCropDataset,
    load_image_dataset,
    offline_photo_split,
    split_by_image,
)
from ..degradations import Degradation, get_degradation


__all__ = [
    "DegradedDataset",
    "TrainingData",
    "TrainingPair",
    "build_training_data",
    "make_pair",
    "validation_scale",
]

# Validation crops per held-out image of the photo corpus.
_VALIDATION_CROPS_PER_IMAGE = 4
# Keeps the degradation's random stream apart from the crop's, which is seeded with (seed, epoch, index) too.
_DEGRADATION_STREAM = 0xDE6


@dataclass
class TrainingPair:
    """A batch of training or validation pairs on the device.

    Args:
        clean (`torch.Tensor` of shape `(B, C, H, W)`): the targets ``X0`` in [-1, 1].
        degraded (`torch.Tensor` of shape `(B, C, H, W)`): the inputs ``X1`` in [-1, 1].
        mask (`torch.Tensor` of shape `(B, 1, H, W)`, *optional*): inpainting holes (1 = missing).
    """

    clean: torch.Tensor
    degraded: torch.Tensor
    mask: torch.Tensor | None = None


@dataclass
class TrainingData:
    """The training dataset, a fixed validation set and where they came from."""

    train: Dataset
    validation: TrainingPair
    description: str
    degradation: Degradation | None


class DegradedDataset(Dataset):
    """Pairs made from a dataset of clean crops by a degradation, inside the data-loader workers.

    Item ``index`` degrades its crop with a generator seeded by ``(seed, epoch, index)``: reproducible in any
    worker and in a resumed run, and the CPU work (a real JPEG encoder, blur matrices, mask drawing) runs in
    parallel with the accelerator instead of in the training loop.

    Each item is ``{"pixel_values": clean, "conditioning_pixel_values": degraded[, "mask": mask]}`` with images
    (C, H, W) in [-1, 1] (the mixture's noise-filled holes leave that range) and the mask (1, H, W) in {0, 1}.
    """

    def __init__(self, clean: Dataset, degradation: Degradation, seed: int = 0):
        self.clean, self.degradation, self.seed = clean, degradation, seed

    def __len__(self) -> int:
        return len(self.clean)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        clean = self.clean[index]["pixel_values"]
        epoch = getattr(self.clean, "epoch", 0)
        state = np.random.SeedSequence([self.seed, epoch, index, _DEGRADATION_STREAM]).generate_state(1)[0]
        generator = torch.Generator().manual_seed(int(state))
        corrupted = self.degradation(clean[None], generator=generator)
        item = {"pixel_values": clean, "conditioning_pixel_values": corrupted.degraded[0]}
        if corrupted.mask is not None:
            item["mask"] = corrupted.mask[0]
        return item


class _RowImage:
    """A picklable loader of one image of a ``datasets.Dataset`` (decoded on first use, in the worker)."""

    def __init__(self, rows: Any, index: int, column: str):
        self.rows, self.index, self.column = rows, index, column

    def __call__(self):
        return self.rows[self.index][self.column].convert("RGB")


def _clean_images(args: argparse.Namespace) -> tuple[list, list, str]:
    """Training and validation images (split by image) for on-the-fly degradation."""
    if args.dataset_name or args.train_data_dir:
        rows = load_image_dataset(
            dataset_name=args.dataset_name,
            train_data_dir=args.train_data_dir,
            image_column=args.image_column,
            cache_dir=args.cache_dir,
            dataset_config_name=args.dataset_config_name,
        )
        train_rows, val_rows = split_by_image(rows, args.validation_fraction, seed=args.seed)
        if args.max_train_samples is not None:
            train_rows = train_rows.select(range(min(args.max_train_samples, len(train_rows))))
        train = [_RowImage(train_rows, i, args.image_column) for i in range(len(train_rows))]
        val = [_RowImage(val_rows, i, args.image_column) for i in range(len(val_rows))]
        name = args.dataset_name or args.train_data_dir
        return train, val, f"{len(train)} training / {len(val)} validation images of {name}"
    train, val = offline_photo_split(args.validation_fraction, seed=args.seed)
    if args.max_train_samples is not None:
        train = train[: args.max_train_samples]
    description = f"the offline photo corpus, split by image: train {[s.name for s in train]}, "
    description += f"validation {[s.name for s in val]}"
    return train, val, description


def validation_scale(scale_range: tuple[float, float] | None) -> float:
    """The fixed resize factor of validation crops: the geometric middle of the training range (1 without one)."""
    return 1.0 if scale_range is None else (scale_range[0] * scale_range[1]) ** 0.5


def _stack(dataset: Dataset, count: int, key: str) -> torch.Tensor:
    """``count`` items spread evenly over the dataset, so the validation crops come from every held-out image."""
    indices = torch.linspace(0, len(dataset) - 1, min(count, len(dataset))).round().long().unique()
    return torch.stack([dataset[int(i)][key] for i in indices])


def build_training_data(args: argparse.Namespace, samples_needed: int) -> TrainingData:
    """Datasets from the flags: the offline corpus by default, a Hub dataset or an image folder, paired or not.

    Args:
        args: the parsed training flags (``parse_args``).
        samples_needed (`int`): crops the whole run draws (steps x batch x accumulation x processes), so one
            pass over the training dataset covers the run and every crop is a new one.
    """
    degradation = get_degradation(args.task) if args.task else None
    paired = args.conditioning_image_column is not None or args.side_by_side
    if not paired:
        train_images, val_images, description = _clean_images(args)
        scale_range = tuple(args.scale_range) if args.scale_range else None
        crops = RandomCropDataset(
            train_images, args.resolution, samples_needed, args.random_flip, scale_range, seed=args.seed
        )
        train = DegradedDataset(crops, degradation, seed=args.seed)
        val = FixedCropDataset(
            val_images, args.resolution, _VALIDATION_CROPS_PER_IMAGE, scale=validation_scale(scale_range)
        )
        clean = _stack(val, args.num_validation_images, "pixel_values")
        generator = torch.Generator().manual_seed(args.seed)
        corrupted = degradation(clean, generator=generator)
        validation = TrainingPair(clean, corrupted.degraded, corrupted.mask)
        return TrainingData(train, validation, f"{crops.source_description}; {description}", degradation)

    rows = load_image_dataset(
        dataset_name=args.dataset_name,
        train_data_dir=args.train_data_dir,
        image_column=args.image_column,
        conditioning_image_column=args.conditioning_image_column,
        cache_dir=args.cache_dir,
        dataset_config_name=args.dataset_config_name,
    )
    train_rows, val_rows = split_by_image(rows, args.validation_fraction, seed=args.seed)
    if args.max_train_samples is not None:
        train_rows = train_rows.select(range(min(args.max_train_samples, len(train_rows))))
    common = dict(
        image_column=args.image_column,
        conditioning_image_column=args.conditioning_image_column,
        side_by_side=args.side_by_side,
        source_side=args.source_side,
    )
    train = PairedImageDataset(
        train_rows,
        args.resolution,
        random_flip=args.random_flip,
        scale_range=tuple(args.scale_range) if args.scale_range else None,
        samples_per_epoch=samples_needed,
        seed=args.seed,
        **common,
    )
    val = PairedImageDataset(val_rows, args.resolution, random_crop=False, **common)
    validation = TrainingPair(
        _stack(val, args.num_validation_images, "pixel_values"),
        _stack(val, args.num_validation_images, "conditioning_pixel_values"),
    )
    name = args.dataset_name or args.train_data_dir
    description = f"paired data {name}: {len(train_rows)} training / {len(val_rows)} validation pairs"
    return TrainingData(train, validation, description, None)


def make_pair(batch: dict[str, torch.Tensor]) -> TrainingPair:
    """A training pair from a data batch (degraded in the data-loader workers, or paired data)."""
    return TrainingPair(batch["pixel_values"], batch["conditioning_pixel_values"], batch.get("mask"))
