# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The catalogue of restoration pipelines by ``<method>-<task>``, used by ``bridge-diffusers restore --task``, the
showcase and the Space.

A catalogue is read from one folder:

* every sub-folder named ``<method>-<task>`` that holds a ``model_index.json`` (a ``save_pretrained`` folder), with
  ``method`` a name of :data:`bridge_diffusers.methods.METHODS` and ``task`` what it restores (a degradation name
  such as ``jpeg10``);
* and, optionally, ``catalogue.json`` in it, ``{"<method>-<task>": "<Hub repo id or folder>"}``, for pipelines that
  live elsewhere (a Space can list Hub repos instead of holding the weights).

The default folder holds the shipped pipelines: ``$BRIDGE_DIFFUSERS_PIPELINES_DIR`` if set, else the package data of
an installed wheel (``bridge_diffusers/shipped``), else ``pipelines/`` of a source checkout.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .methods import METHODS, BridgeMethod
from .pipelines import RestorationPipeline, load_pipeline


__all__ = [
    "PIPELINES_DIR_ENV",
    "CatalogueEntry",
    "card_degradation",
    "find_pipeline",
    "read_catalogue",
    "shipped_pipelines_dir",
]

#: Environment variable naming the catalogue folder (default: the shipped pipelines).
PIPELINES_DIR_ENV = "BRIDGE_DIFFUSERS_PIPELINES_DIR"
_NAME = re.compile(r"^(?P<method>[a-z0-9]+)-(?P<task>[a-z0-9][a-z0-9._-]*)$")
# How scripts/export_shipped.py names the evaluation's degradation in a model card.
_CARD_DEGRADATION = re.compile(r"degraded by `([^`]+)`")


@dataclass(frozen=True)
class CatalogueEntry:
    """One pipeline of the catalogue.

    Args:
        method (`BridgeMethod`): its entry of the method registry.
        task (`str`): what it restores, e.g. ``"jpeg10"``.
        location (`str`): a ``save_pretrained`` folder or a Hub repo id.
    """

    method: BridgeMethod
    task: str
    location: str

    @property
    def name(self) -> str:
        return f"{self.method.name}-{self.task}"

    def load(self, **kwargs) -> RestorationPipeline:
        """The pipeline (``load_pipeline``; keywords such as ``torch_dtype`` or ``variant`` pass through)."""
        return load_pipeline(self.location, **kwargs)

    def degradation(self) -> str:
        """The operator to degrade test inputs with: the one its model card says it was evaluated on, else the task.

        The shipped ``jpeg10`` / ``blur-uni`` pipelines were trained before those names meant the official operators
        and need ``jpeg10-pillow`` / ``blur-uni-per-channel``; their cards say so.
        """
        return card_degradation(self.location) or self.task


def card_degradation(location: str | os.PathLike) -> str | None:
    """The degradation a saved pipeline was evaluated on, as its model card (``README.md``) names it.

    ``scripts/export_shipped.py`` writes "degraded by `<name>`" in the card's Evaluation section. Returns ``None`` for
    a folder without a card, a card that names no degradation, or a Hub repo id (cards are only read locally).
    """
    card = Path(location) / "README.md"
    match = _CARD_DEGRADATION.search(card.read_text(encoding="utf-8")) if card.is_file() else None
    return match[1] if match else None


def shipped_pipelines_dir() -> Path:
    """``$BRIDGE_DIFFUSERS_PIPELINES_DIR``, else the shipped pipelines (installed wheel, else source checkout)."""
    configured = os.environ.get(PIPELINES_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    installed = Path(__file__).resolve().parent / "shipped"  # package data of a wheel (pyproject.toml)
    return installed if installed.is_dir() else Path(__file__).resolve().parents[2] / "pipelines"


def read_catalogue(root: str | os.PathLike | None = None) -> dict[str, CatalogueEntry]:
    """The pipelines of ``root`` (default :func:`shipped_pipelines_dir`) by ``<method>-<task>``, sorted by task and
    then in the registry's method order. Reads names and ``catalogue.json`` only: no weights are loaded, and a
    missing folder gives an empty catalogue. Folders of other names, or without ``model_index.json``, are skipped.
    """
    root = Path(root) if root is not None else shipped_pipelines_dir()
    locations = {}
    if root.is_dir():
        locations = {p.name: str(p) for p in root.iterdir() if (p / "model_index.json").is_file()}
        if (root / "catalogue.json").is_file():
            listed = json.loads((root / "catalogue.json").read_text(encoding="utf-8"))
            # a relative folder is relative to the catalogue; anything else is a Hub repo id
            locations.update({name: str(root / ref) if (root / ref).is_dir() else ref for name, ref in listed.items()})
    entries = []
    for name, location in locations.items():
        match = _NAME.match(name.lower())
        if match and match["method"] in METHODS:
            entries.append(CatalogueEntry(METHODS[match["method"]], match["task"], location))
    order = list(METHODS)
    entries.sort(key=lambda entry: (entry.task, order.index(entry.method.name)))
    return {entry.name: entry for entry in entries}


def find_pipeline(method: str, task: str, root: str | os.PathLike | None = None) -> CatalogueEntry:
    """The ``<method>-<task>`` entry of the catalogue of ``root``.

    Raises:
        ValueError: no such pipeline, with the ones there are.
    """
    catalogue = read_catalogue(root)
    name = f"{method}-{task}".lower()
    if name not in catalogue:
        where = root if root is not None else shipped_pipelines_dir()
        raise ValueError(f"no pipeline {name!r} in {where} (there are: {', '.join(catalogue) or 'none'})")
    return catalogue[name]
