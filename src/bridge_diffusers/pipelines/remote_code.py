# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The small ``.py`` files that let ``DiffusionPipeline.from_pretrained(folder_or_repo, trust_remote_code=True)``
load a saved bridge pipeline.

diffusers' generic loader only knows its own classes: for a third-party pipeline it needs ``model_index.json``
to name ``[file, class]`` and the file to sit beside it, and the same for every third-party component (see the
conventions note, section 3). Each file written here is a one-line import of the real class from this installed
package, so the folder still needs ``pip install bridge-diffusers`` and the loaded objects are this package's
classes. The concrete classes (``NADBPipeline.from_pretrained``) read those entries as the modules they import
(:func:`without_remote_code`): they load the same folder without running any of its files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


__all__ = ["without_remote_code", "write_remote_code"]

_HEADER = "# Written by bridge-diffusers: lets DiffusionPipeline.from_pretrained(..., trust_remote_code=True) load\n"
# diffusers finds a component's loading methods by looking the base class names up in the component's module.
_BASES = {
    "scheduler": "from diffusers.configuration_utils import ConfigMixin  # noqa: F401\n"
    "from diffusers.schedulers.scheduling_utils import SchedulerMixin  # noqa: F401\n",
    "model": "from diffusers.models.modeling_utils import ModelMixin  # noqa: F401\n",
    "pipeline": "",
}


def _shim_text(module: str, class_name: str, kind: str) -> str:
    where = f"# this folder; the class is {module}.{class_name}.\n"
    return f"{_HEADER}{where}{_BASES[kind]}from {module} import {class_name}  # noqa: F401\n"


def _kind(component) -> str | None:
    from diffusers.models.modeling_utils import ModelMixin
    from diffusers.schedulers.scheduling_utils import SchedulerMixin

    if isinstance(component, SchedulerMixin):
        return "scheduler"
    if isinstance(component, ModelMixin):
        return "model"
    return None


def write_remote_code(folder: str | os.PathLike, pipeline) -> None:
    """Writes the import files of ``pipeline`` (saved in ``folder``) and points ``model_index.json`` at them.

    Components from diffusers itself (the ``UNet2DModel``) keep their entries; each component of this package gets
    ``<component>/<module stem>.py``, and the pipeline ``<module stem>.py`` at the root.
    """
    folder = Path(folder)
    index_path = folder / "model_index.json"
    index = json.loads(index_path.read_text())
    for name, entry in list(index.items()):
        component = getattr(pipeline, name, None)
        if name.startswith("_") or not isinstance(entry, list) or component is None:
            continue
        module = type(component).__module__
        kind = _kind(component)
        if not module.startswith("bridge_diffusers.") or kind is None:
            continue
        stem = module.rsplit(".", 1)[1]
        (folder / name / f"{stem}.py").write_text(_shim_text(module, type(component).__name__, kind))
        index[name] = [stem, type(component).__name__]
    pipeline_module = type(pipeline).__module__
    stem = pipeline_module.rsplit(".", 1)[1]
    (folder / f"{stem}.py").write_text(_shim_text(pipeline_module, type(pipeline).__name__, "pipeline"))
    index["_class_name"] = [stem, type(pipeline).__name__]
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


def without_remote_code(config: dict, known_classes: dict[str, type]) -> dict:
    """``model_index.json`` as this package's concrete classes read it: every entry that names one of
    :func:`write_remote_code`'s files is pointed back at the module of the class it names, so that loading through
    ``NADBPipeline.from_pretrained`` never runs code from the folder (nor needs ``trust_remote_code``).

    Args:
        config (`dict`): the parsed ``model_index.json``.
        known_classes (`dict[str, type]`): this package's pipeline and component classes by name.
    """
    config = dict(config)
    for name, entry in config.items():
        if isinstance(entry, list) and len(entry) == 2 and entry[1] in known_classes:
            module = known_classes[entry[1]].__module__
            if module.rsplit(".", 1)[1] == entry[0]:
                config[name] = entry[1] if name == "_class_name" else [module, entry[1]]
    return config
