# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""From the data flags to a dataset of training pairs, a fixed validation batch and the data loader."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..data import (
    FixedCropDataset,
    PairedImageDataset,
    RandomCropDataset,
    load_image_dataset,
    split_by_image,
    split_photos,
)
from ..degradations import Degradation, get_degradation


__all__ = ["DegradedDataset", "TrainingData", "ValidationBatch", "build_training_data", "training_dataloader"]

_VALIDATION_CROPS_PER_IMAGE = 4
# Keeps the degradation's random stream apart from the crop's, which is seeded with (seed, epoch, index) too.
_DEGRADATION_STREAM = 0xDE6


@dataclass
class ValidationBatch:
    """The fixed validation pairs: ``clean`` and ``degraded`` `(B, C, H, W)` in [-1, 1], an inpainting ``mask``
    `(B, 1, H, W)` (1 = missing) or None."""

    clean: torch.Tensor
    degraded: torch.Tensor
    mask: torch.Tensor | None = None


@dataclass
class TrainingData:
    """The training dataset (items ``pixel_values``, ``conditioning_pixel_values`` and, for inpainting, ``mask``),
    the validation batch and a description of where they came from (for the model card)."""

    train: Dataset
    validation: ValidationBatch
    description: str


class DegradedDataset(Dataset):
    """Pairs made from a dataset of clean crops by a degradation, inside the data-loader workers.

    Item ``index`` degrades its crop with a generator seeded by ``(seed, epoch, index)``: reproducible in any
    worker and in a resumed run, and the CPU work (a JPEG encoder, blur matrices, mask drawing) runs in parallel
    with the accelerator. Images are (C, H, W) in [-1, 1] (the mixture's noise-filled holes leave that range).
    """

    def __init__(self, clean: Dataset, degradation: Degradation, seed: int = 0):
        self.clean, self.degradation, self.seed = clean, degradation, seed

    def __len__(self) -> int:
        return len(self.clean)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        clean = self.clean[index]["pixel_values"]
        state = np.random.SeedSequence([self.seed, getattr(self.clean, "epoch", 0), index, _DEGRADATION_STREAM])
        corrupted = self.degradation(
            clean[None], generator=torch.Generator().manual_seed(int(state.generate_state(1)[0]))
        )
        item = {"pixel_values": clean, "conditioning_pixel_values": corrupted.degraded[0]}
        return item if corrupted.mask is None else {**item, "mask": corrupted.mask[0]}


class _RowImage:
    """A picklable loader of one image of a ``datasets.Dataset`` (decoded on first use, in the worker)."""

    def __init__(self, rows: Any, index: int, column: str):
        self.rows, self.index, self.column = rows, index, column

    def __call__(self):
        return self.rows[self.index][self.column].convert("RGB")


def _spread(dataset: Dataset, count: int, key: str) -> torch.Tensor:
    """``count`` items spread evenly over the dataset, so the validation crops come from every held-out image."""
    indices = torch.linspace(0, len(dataset) - 1, min(count, len(dataset))).round().long().unique()
    return torch.stack([dataset[int(i)][key] for i in indices])


def _rows(args: argparse.Namespace, conditioning_image_column: str | None = None) -> tuple[Any, Any]:
    rows = load_image_dataset(
        dataset_name=args.dataset_name,
        train_data_dir=args.train_data_dir,
        image_column=args.image_column,
        conditioning_image_column=conditioning_image_column,
        cache_dir=args.cache_dir,
        dataset_config_name=args.dataset_config_name,
    )
    train, val = split_by_image(rows, args.validation_fraction, seed=args.seed)
    if args.max_train_samples is not None:
        train = train.select(range(min(args.max_train_samples, len(train))))
    return train, val


def build_training_data(args: argparse.Namespace, samples_needed: int) -> TrainingData:
    """The data of the flags, split by image (never by crop) with ``--seed``.

    Clean images (degraded on the fly by ``--task``) come from ``--train_data_dir`` or the default photo folder
    (``bridge_diffusers.data.split_photos``, the split that evaluation uses too) or from ``--dataset_name``; paired
    data from either, with ``--conditioning_image_column`` or ``--side_by_side``.

    Args:
        args: the parsed training flags.
        samples_needed (`int`): crops the run draws (steps x batches per step x batch x processes), so that one
            pass over the training dataset covers the run and every crop is a new one.
    """
    scale_range = tuple(args.scale_range) if args.scale_range else None
    if args.conditioning_image_column or args.side_by_side:
        train_rows, val_rows = _rows(args, args.conditioning_image_column)
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
            scale_range=scale_range,
            samples_per_epoch=samples_needed,
            seed=args.seed,
            **common,
        )
        val = PairedImageDataset(val_rows, args.resolution, random_crop=False, **common)
        validation = ValidationBatch(
            _spread(val, args.num_validation_images, "pixel_values"),
            _spread(val, args.num_validation_images, "conditioning_pixel_values"),
        )
        name = args.dataset_name or args.train_data_dir
        return TrainingData(
            train, validation, f"paired data {name}: {len(train_rows)} training / {len(val_rows)} validation pairs"
        )

    if args.dataset_name:
        train_rows, val_rows = _rows(args)
        train_images = [_RowImage(train_rows, i, args.image_column) for i in range(len(train_rows))]
        val_images = [_RowImage(val_rows, i, args.image_column) for i in range(len(val_rows))]
        description = f"{len(train_images)} training / {len(val_images)} validation images of {args.dataset_name}"
    else:
        train_images, val_images = split_photos(args.train_data_dir, args.validation_fraction, seed=args.seed)
        train_images = train_images[: args.max_train_samples]
        description = f"photos of {args.train_data_dir or 'the default photo folder'}, split by image: training " + (
            f"{[p.name for p in train_images]}, validation {[p.name for p in val_images]}"
        )
    degradation = get_degradation(args.task)
    crops = RandomCropDataset(train_images, args.resolution, samples_needed, args.random_flip, scale_range, args.seed)
    # Validation crops at the geometric middle of the training scale range.
    scale = 1.0 if scale_range is None else (scale_range[0] * scale_range[1]) ** 0.5
    val = FixedCropDataset(val_images, args.resolution, _VALIDATION_CROPS_PER_IMAGE, scale=scale)
    clean = _spread(val, args.num_validation_images, "pixel_values")
    corrupted = degradation(clean, generator=torch.Generator().manual_seed(args.seed))
    validation = ValidationBatch(clean, corrupted.degraded, corrupted.mask)
    return TrainingData(DegradedDataset(crops, degradation, args.seed), validation, description)


def training_dataloader(dataset: Dataset, args: argparse.Namespace) -> DataLoader:
    """Every item is already a fresh random crop: no shuffling, so that a resume by index is exact."""
    return DataLoader(
        dataset,
        batch_size=args.train_batch_size,
        shuffle=False,
        drop_last=True,
        num_workers=args.dataloader_num_workers,
        pin_memory=torch.cuda.is_available(),
    )
