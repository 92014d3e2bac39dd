# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The method registry: one frozen record per bridge method, and the only place that knows the method names.

Code that differs by method asks this registry (or calls a method on the pipeline or scheduler class it names)
instead of comparing method strings. Adding a bridge = one scheduler file, one pipeline class and one entry here.
What the bridge does lives in its scheduler (``prepare_endpoint``, ``sample_bridge``, ``training_target``,
``step``) and pipeline (``model_output``); the record says what everything around them needs to know.
"""

from __future__ import annotations

from dataclasses import dataclass

from .pipelines import (
    I2SBPipeline,
    IBMDDegradedInputPipeline,
    IBMDPipeline,
    NADBPipeline,
    RestorationPipeline,
)
from .schedulers import BridgeScheduler, I2SBScheduler, IBMDScheduler, NADBScheduler


__all__ = ["METHODS", "BridgeMethod", "get_method", "method_of"]


@dataclass(frozen=True)
class BridgeMethod:
    """A bridge method as the rest of the package sees it.

    Args:
        name (`str`): the short name (``"nadb"``): CLI flags, ``<method>-<task>`` pipeline names, model-card tags.
        title (`str`): the display name (``"NADB"``).
        description (`str`): one paragraph for model cards and help texts, with the paper.
        pipeline_classes (`tuple[type, ...]`): the pipeline classes that run it, the main one first.
        scheduler_class (`type`): its bridge scheduler.
        default_steps (`int`): the network evaluations of a call that does not say (a student's are its own).
        has_mean_net (`bool`): whether its pipelines may hold a mean network whose estimate is worth reporting.
        is_student (`bool`): whether it is distilled from a teacher bridge rather than trained on data.
    """

    name: str
    title: str
    description: str
    pipeline_classes: tuple[type[RestorationPipeline], ...]
    scheduler_class: type[BridgeScheduler]
    default_steps: int
    has_mean_net: bool = False
    is_student: bool = False

    @property
    def pipeline_class(self) -> type[RestorationPipeline]:
        """The main pipeline class (what ``<method>-<task>`` folders and the training script write)."""
        return self.pipeline_classes[0]


METHODS: dict[str, BridgeMethod] = {
    method.name: method
    for method in (
        BridgeMethod(
            name="i2sb",
            title="I2SB",
            description="I2SB (Image-to-Image Schroedinger Bridge, Liu et al., ICML 2023): a tractable Schroedinger "
            "bridge from the degraded to the clean image, sampled with DDPM posteriors.",
            pipeline_classes=(I2SBPipeline,),
            scheduler_class=I2SBScheduler,
            default_steps=I2SBPipeline.DEFAULT_STEPS,
        ),
        BridgeMethod(
            name="nadb",
            title="NADB",
            description="NADB (noise-aligned diffusion bridge, Gao et al., CVPR 2026): a frozen mean network "
            "estimates the clean image, and a noise-aligned bridge refines it, sampled in two stages around the "
            "threshold d.",
            pipeline_classes=(NADBPipeline,),
            scheduler_class=NADBScheduler,
            default_steps=NADBPipeline.DEFAULT_STEPS,
            has_mean_net=True,
        ),
        BridgeMethod(
            name="ibmd",
            title="IBMD",
            description="IBMD (Inverse Bridge Matching Distillation, Gushchin et al., ICML 2025): a one- or few-step "
            "generator distilled from a trained bridge.",
            pipeline_classes=(IBMDPipeline, IBMDDegradedInputPipeline),
            scheduler_class=IBMDScheduler,
            default_steps=1,
            is_student=True,
        ),
    )
}


def get_method(name: str) -> BridgeMethod:
    """The registered method called ``name`` (case-insensitive), or a ValueError listing the known ones."""
    method = METHODS.get(str(name).lower())
    if method is None:
        raise ValueError(f"Unknown bridge method {name!r}; choose one of {sorted(METHODS)}.")
    return method


def method_of(component: RestorationPipeline | BridgeScheduler | type) -> BridgeMethod:
    """The method a pipeline or scheduler (instance or class) belongs to."""
    cls = component if isinstance(component, type) else type(component)
    for method in METHODS.values():
        if issubclass(cls, (*method.pipeline_classes, method.scheduler_class)):
            return method
    raise ValueError(f"{cls.__name__} belongs to no registered bridge method ({sorted(METHODS)}).")
