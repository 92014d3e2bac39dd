# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The ``mixture`` task: every image gets one corruption drawn at random from the nine official ones.

For the inpainting choices the hole is filled with standard Gaussian noise instead of white and no mask is
returned: a model trained on the mixture has to find the corruption (and the hole) by itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import Degradation, DegradationOutput, randint, randn
from .registry import get_degradation, register_degradation


__all__ = ["MIXTURE_COMPONENTS", "Mixture"]

#: The corruptions the official mixture draws from, each with probability 1/9.
MIXTURE_COMPONENTS = (
    "jpeg5",
    "jpeg10",
    "blur-uni",
    "blur-gauss",
    "sr4x-pool",
    "sr4x-bicubic",
    "inpaint-center",
    "inpaint-freeform1020",
    "inpaint-freeform2030",
)


@register_degradation("mixture")
class Mixture(Degradation):
    """Apply one corruption per image, drawn uniformly at random.

    Each image draws its component with its own generator entry, then the component draws whatever it needs
    from the same entry, then (for inpainting components) the hole noise; with one generator per image, image
    ``i`` thus depends on ``generator[i]`` only. The images must suit every component (with the defaults: RGB or
    grayscale, height and width divisible by 4 and at least 32), whichever is drawn.

    The names of the components used are returned in ``DegradationOutput.info``, one per image; the output has
    no mask.

    Args:
        components (`Sequence[str]`, *optional*):
            Registered names to draw from; defaults to :data:`MIXTURE_COMPONENTS`, the official nine.
    """

    def __init__(self, components: Sequence[str] | None = None) -> None:
        names = tuple(MIXTURE_COMPONENTS if components is None else components)
        if not names:
            raise ValueError("`components` must name at least one degradation.")
        self.components = [get_degradation(name) for name in names]
        self.name = "mixture"

    def check_input(self, images: torch.Tensor) -> None:
        # Every component must accept the batch, or the failure would depend on the random draw.
        for component in self.components:
            component.check_input(images)

    def apply(self, images: torch.Tensor, generators: list[torch.Generator | None]) -> DegradationOutput:
        choices = [randint(len(self.components), generator) for generator in generators]
        degraded = torch.empty_like(images)
        # Samples that drew the same component are corrupted together, in component order, so the generator
        # consumption (and hence the output) is fixed by the seeds alone.
        for index, component in enumerate(self.components):
            members = [i for i, choice in enumerate(choices) if choice == index]
            if not members:
                continue
            clean = images[members]
            output = component.apply(clean, [generators[i] for i in members])
            result = output.degraded
            if output.mask is not None:
                noise = torch.stack([randn(tuple(images.shape[1:]), generators[i]) for i in members])
                noise = noise.to(device=images.device, dtype=images.dtype)
                result = clean * (1 - output.mask) + output.mask * noise
            degraded[members] = result
        return DegradationOutput(degraded=degraded, info=[self.components[choice].name for choice in choices])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(components={[component.name for component in self.components]})"
