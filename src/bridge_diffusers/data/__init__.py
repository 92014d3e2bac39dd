# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Training and validation data for paired image-to-image bridges.

Images are float32 tensors of shape ``(3, H, W)`` with values in ``[-1, 1]``. The default data is the offline
photo corpus: photographs shipped inside installed packages, split by image::

    from bridge_diffusers.data import FixedCropDataset, RandomCropDataset, offline_photo_split

    train_sources, val_sources = offline_photo_split(validation_fraction=0.25, seed=0)
    train = RandomCropDataset(train_sources, resolution=256, scale_range=(0.25, 1.0), seed=0)
    val = FixedCropDataset(val_sources, resolution=256, crops_per_image=4)
    print(train.source_description)  # which corpus was found: real photos or the synthetic fallback

Paired data (clean target, degraded source) comes from Hugging Face datasets or local folders::

    from bridge_diffusers.data import PairedImageDataset, load_image_dataset, split_by_image

    rows = load_image_dataset(train_data_dir="pairs/", conditioning_image_column="conditioning_image")
    train_rows, val_rows = split_by_image(rows, validation_fraction=0.05)
    train = PairedImageDataset(train_rows, 256, conditioning_image_column="conditioning_image")
"""

from .datasets import (
    DEFAULT_SAMPLES_PER_IMAGE,
    FixedCropDataset,
    ImageLike,
    PairedImageDataset,
    RandomCropDataset,
    load_image_dataset,
)
from .photos import (
    DEFAULT_MATE_DIR,
    MATE_DIR_ENV,
    PhotoSource,
    describe_sources,
    get_offline_photos,
    list_offline_photos,
    load_offline_photo,
    offline_photo_split,
    synthetic_photo,
    synthetic_photos,
)
from .splits import split_by_image, validation_count


__all__ = [
    "DEFAULT_MATE_DIR",
    "DEFAULT_SAMPLES_PER_IMAGE",
    "MATE_DIR_ENV",
    "FixedCropDataset",
    "ImageLike",
    "PairedImageDataset",
    "PhotoSource",
    "RandomCropDataset",
    "describe_sources",
    "get_offline_photos",
    "list_offline_photos",
    "load_image_dataset",
    "load_offline_photo",
    "offline_photo_split",
    "split_by_image",
    "synthetic_photo",
    "synthetic_photos",
    "validation_count",
]
