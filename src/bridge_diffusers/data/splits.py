# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Deterministic train/validation splits by image.

Crops of one photo are strongly correlated, so a validation crop taken from a training photo measures
memorisation rather than restoration. Splits are therefore always made over whole images (or dataset rows, or
groups of rows showing the same scene), before any crop is drawn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any


__all__ = ["split_by_image", "validation_count"]


def validation_count(num_groups: int, validation_fraction: float) -> int:
    """How many of ``num_groups`` images (or image groups) go to validation.

    ``round(validation_fraction * num_groups)``, clamped so that both sides keep at least one group whenever
    ``num_groups >= 2`` and ``validation_fraction > 0``. A single group always goes to training, and a fraction
    of ``0`` means no validation set.

    Args:
        num_groups (`int`): the number of images or groups to split, ``>= 0``.
        validation_fraction (`float`): the wanted share of validation groups, in ``[0, 1)``.

    Returns:
        `int`: the number of validation groups, in ``[0, max(num_groups - 1, 0)]``.
    """
    if isinstance(validation_fraction, bool) or not isinstance(validation_fraction, (int, float)):
        raise ValueError(f"`validation_fraction` must be a number in [0, 1), got {validation_fraction!r}.")
    if not 0 <= validation_fraction < 1:
        raise ValueError(
            f"`validation_fraction` must be in [0, 1), got {validation_fraction}; use 0 for no validation set."
        )
    if num_groups < 2 or validation_fraction == 0:
        return 0
    return min(max(round(validation_fraction * num_groups), 1), num_groups - 1)


def _score(key: str, seed: int) -> bytes:
    # A cryptographic hash rather than `hash()`: Python salts string hashes per process, and the split must be
    # identical in every process, on every machine and in every later run.
    return hashlib.sha256(f"{seed}\x00{key}".encode()).digest()


def _is_hf_dataset(items: Any) -> bool:
    return hasattr(items, "select") and hasattr(items, "column_names")


def _default_key(item: Any) -> str:
    # Photo sources split by group (the stereo pair shares one); other objects by their name or text.
    for attribute in ("group", "name"):
        value = getattr(item, attribute, None)
        if isinstance(value, str) and value:
            return value
    return str(item)


def _dataset_keys(dataset: Any, key: str | None) -> list[str]:
    if key is None:
        return [str(row) for row in range(len(dataset))]
    if not isinstance(key, str):
        raise ValueError(
            "For a `datasets.Dataset`, `key` must be None (split by row) or the name of a column holding a group "
            f"id per row, got {type(key).__name__}; a function would have to decode every image."
        )
    if key not in dataset.column_names:
        raise ValueError(f"Column {key!r} not found in the dataset; available columns: {dataset.column_names}.")
    return [str(value) for value in dataset[key]]


def split_by_image(
    items: Sequence[Any] | Any,
    validation_fraction: float = 0.25,
    seed: int = 0,
    key: Callable[[Any], str] | str | None = None,
) -> tuple[Any, Any]:
    """Split images (or dataset rows) into disjoint training and validation sets, deterministically.

    Items are grouped by ``key``; items with the same key (say, crops or views of one scene) stay on the same
    side. Every group gets a score, the SHA-256 of ``(seed, key)``, and the :func:`validation_count` groups with
    the lowest scores form the validation set. The result depends only on the set of keys and the seed: it is
    the same in every process and run, does not depend on the order of ``items``, and adding a group moves at
    most one other group across the split.

    Args:
        items (`Sequence` or `datasets.Dataset`):
            The images to split: any sequence (photo sources, paths, PIL images with a ``key``), or a Hugging
            Face ``datasets.Dataset``, which is split by row.
        validation_fraction (`float`, *optional*, defaults to 0.25):
            The share of groups sent to validation, in ``[0, 1)``; see :func:`validation_count` for the
            rounding and the guarantee of two non-empty sides.
        seed (`int`, *optional*, defaults to 0):
            Changes which groups are drawn for validation.
        key (`Callable[[item], str]` or `str`, *optional*):
            For a sequence: a function giving each item's group id. Defaults to the item's ``group`` or ``name``
            attribute when it has one (such as [`PhotoSource`]), to ``str(item)`` otherwise; items whose text is
            not stable (PIL images) need a ``key``. For a ``datasets.Dataset``: the name of a column holding a
            group id, or `None` to make every row its own group.

    Returns:
        `tuple`: ``(train, validation)``. Lists keeping the input order for a sequence; two
        ``datasets.Dataset`` (``dataset.select(...)``, row order kept) for a dataset.

    Raises:
        ValueError: if ``validation_fraction`` is out of range or ``key`` is unusable.
    """
    if _is_hf_dataset(items):
        keys = _dataset_keys(items, key)
    else:
        items = list(items)
        key_function = _default_key if key is None else key
        if not callable(key_function):
            raise ValueError(f"`key` must be a function of an item for a sequence, got {type(key).__name__}.")
        keys = [str(key_function(item)) for item in items]

    groups = sorted(set(keys))
    num_validation = validation_count(len(groups), validation_fraction)
    validation_groups = set(sorted(groups, key=lambda group: (_score(group, seed), group))[:num_validation])
    train_indices = [index for index, group in enumerate(keys) if group not in validation_groups]
    validation_indices = [index for index, group in enumerate(keys) if group in validation_groups]
    if _is_hf_dataset(items):
        return items.select(train_indices), items.select(validation_indices)
    return [items[index] for index in train_indices], [items[index] for index in validation_indices]
