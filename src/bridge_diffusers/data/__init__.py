# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Training and evaluation data for paired image-to-image bridges.

Images are float32 tensors of shape ``(3, H, W)`` with values in ``[-1, 1]``. The default data is a photo folder,
``photos/``, written by ``bash scripts/fetch_photos.sh`` and split by image::

    from bridge_diffusers.data import FixedCropDataset, RandomCropDataset, split_photos

    train_photos, held_out = split_photos("photos", validation_fraction=0.25, seed=0)
    train = RandomCropDataset(train_photos, resolution=256, scale_range=(0.25, 1.0), seed=0)
    val = FixedCropDataset(held_out, resolution=256, crops_per_image=4)
    print(train.source_description)  # e.g. "19 photos (gradio: 3, mate: 9, ...)"

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
    PHOTOS_DIR_ENV,
    PhotoSource,
    describe_sources,
    list_photos,
    load_photo,
    photos_dir,
    split_photos,
)
from .splits import split_by_image, validation_count


__all__ = [
    "DEFAULT_SAMPLES_PER_IMAGE",
    "PHOTOS_DIR_ENV",
    "FixedCropDataset",
    "ImageLike",
    "PairedImageDataset",
    "PhotoSource",
    "RandomCropDataset",
    "describe_sources",
    "list_photos",
    "load_image_dataset",
    "load_photo",
    "photos_dir",
    "split_by_image",
    "split_photos",
    "validation_count",
]
