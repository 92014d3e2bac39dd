# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The contract every corruption operator of this package follows.

An operator maps a batch of clean images to degraded ones, the ``x1`` end of an image-restoration bridge.

Conventions shared by all operators:

* images are float tensors of shape ``(B, C, H, W)`` with values in ``[-1, 1]``; the output has the input's
  shape, device and dtype;
* inpainting operators also return a ``(B, 1, H, W)`` mask, ``1`` where the image was erased;
* all random draws go through ``torch.Generator`` objects: one shared by the whole batch, one per sample
  (item ``i`` then depends on ``generator[i]`` only), or ``None`` for torch's global RNG.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import torch


__all__ = [
    "Degradation",
    "DegradationOutput",
    "GeneratorType",
    "compute_dtype",
    "per_sample_generators",
    "rand",
    "randint",
    "randn",
    "validate_images",
]

GeneratorType = torch.Generator | list[torch.Generator] | None

# Images that went through a lossy round trip (uint8, half precision, resizing) can overshoot [-1, 1] a little;
# anything further out is almost surely in another range such as [0, 255].
_RANGE_TOLERANCE = 1e-3


@dataclass
class DegradationOutput:
    """Output of a :class:`Degradation`.

    Args:
        degraded (`torch.Tensor` of shape `(B, C, H, W)`):
            The corrupted images, on the input's device and dtype, nominally in ``[-1, 1]`` (linear operators
            and the JPEG simulation can overshoot slightly; noise-filled holes are unbounded).
        mask (`torch.Tensor` of shape `(B, 1, H, W)`, *optional*):
            For inpainting: ``1.0`` where pixels were erased (the hole to fill), ``0.0`` where they are kept.
            ``None`` for the other operators.
        info (`list[str]`, *optional*):
            Per-sample names of the operators that were applied, for operators that choose at random
            (:class:`~bridge_diffusers.degradations.Mixture`); ``None`` otherwise.
    """

    degraded: torch.Tensor
    mask: torch.Tensor | None = None
    info: list[str] | None = None


def validate_images(images: torch.Tensor) -> None:
    """Check that ``images`` is a non-empty, finite, 4-D float batch in ``[-1, 1]``.

    Args:
        images (`torch.Tensor` of shape `(B, C, H, W)`):
            Floating-point images with values in ``[-1, 1]`` (a tolerance of ``1e-3`` is allowed).

    Raises:
        ValueError: naming the failed check and what is accepted instead.
    """
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"Expected images as a torch.Tensor of shape (B, C, H, W), got {type(images).__name__}.")
    if images.ndim != 4:
        raise ValueError(
            f"Expected a 4-D image batch of shape (B, C, H, W), got a {images.ndim}-D tensor of shape "
            f"{tuple(images.shape)}. Add a batch dimension with `images[None]` for a single image."
        )
    if not images.is_floating_point():
        raise ValueError(
            f"Expected a floating-point tensor with values in [-1, 1], got dtype {images.dtype}. "
            "Convert uint8 images with `images.float() / 127.5 - 1`."
        )
    if images.numel() == 0:
        raise ValueError(f"Expected a non-empty image batch, got shape {tuple(images.shape)}.")
    if not torch.isfinite(images).all():
        raise ValueError("Images contain NaN or infinite values; only finite values in [-1, 1] are accepted.")
    low, high = torch.aminmax(images.detach())
    low, high = low.item(), high.item()
    if low < -1 - _RANGE_TOLERANCE or high > 1 + _RANGE_TOLERANCE:
        raise ValueError(
            f"Expected image values in [-1, 1], got values in [{low:.4g}, {high:.4g}]. "
            "Rescale images in [0, 1] with `x * 2 - 1` and images in [0, 255] with `x / 127.5 - 1`."
        )


def per_sample_generators(generator: GeneratorType, batch_size: int) -> list[torch.Generator | None]:
    """Expand a generator argument into one entry per sample.

    A single generator (or ``None``) is repeated, so it is consumed sample after sample in batch order; a list
    must have exactly one generator per sample.

    Args:
        generator (`torch.Generator`, `list[torch.Generator]` or `None`):
            The caller's random source(s).
        batch_size (`int`):
            The number of samples ``B``.

    Returns:
        `list[torch.Generator | None]`: ``batch_size`` entries; ``None`` means torch's global RNG.
    """
    if isinstance(generator, (list, tuple)):
        if len(generator) != batch_size:
            raise ValueError(
                f"Got a list of {len(generator)} generators for a batch of {batch_size} images; pass exactly one "
                "generator per image, a single generator, or None."
            )
        for item in generator:
            if not isinstance(item, torch.Generator):
                raise ValueError(f"Expected every list entry to be a torch.Generator, got {type(item).__name__}.")
        return list(generator)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(
            f"Expected `generator` to be a torch.Generator, a list of them or None, got {type(generator).__name__}."
        )
    return [generator] * batch_size


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype operators compute in: ``dtype`` promoted to at least float32.

    Half-precision matrix products and SVDs are either unsupported on the CPU or too coarse for JPEG's
    quantisation boundaries, so low-precision inputs are processed in float32 and cast back.
    """
    return torch.promote_types(dtype, torch.float32)


# Random draws are made on the generator's own device (the CPU for the global RNG) so that a CPU generator gives
# the same numbers whatever device the images live on; callers move the result where they need it.
def _draw_device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def rand(shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    """Uniform ``[0, 1)`` float32 samples of ``shape`` drawn from ``generator`` on the generator's device."""
    return torch.rand(shape, generator=generator, device=_draw_device(generator))


def randn(shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    """Standard-normal float32 samples of ``shape`` drawn from ``generator`` on the generator's device."""
    return torch.randn(shape, generator=generator, device=_draw_device(generator))


def randint(high: int, generator: torch.Generator | None) -> int:
    """One integer uniformly drawn from ``0 .. high - 1`` with ``generator``."""
    return int(torch.randint(high, (1,), generator=generator, device=_draw_device(generator)).item())


class Degradation(abc.ABC):
    """Base class of the corruption operators.

    Subclasses set :attr:`name`, implement :meth:`apply` and may add checks in :meth:`check_input`;
    :meth:`__call__` validates the input and expands the generator argument first, so ``apply`` always gets a
    valid batch and one generator entry per sample.
    """

    #: Short identifier of the operator, e.g. ``"jpeg5"``; the registry name for the official settings.
    name: str = "degradation"

    def __call__(self, images: torch.Tensor, generator: GeneratorType = None) -> DegradationOutput:
        """Corrupt a batch of images.

        Args:
            images (`torch.Tensor` of shape `(B, C, H, W)`):
                Clean images, floating point, values in ``[-1, 1]``.
            generator (`torch.Generator`, `list[torch.Generator]` or `None`, *optional*):
                Random source for stochastic operators: one generator for the whole batch, a list with one per
                image (image ``i`` uses ``generator[i]``), or ``None`` for torch's global RNG. Deterministic
                operators ignore it.

        Returns:
            [`DegradationOutput`]: the degraded images on the input's device and dtype, plus the mask for
            inpainting operators.
        """
        validate_images(images)
        self.check_input(images)
        generators = per_sample_generators(generator, images.shape[0])
        return self.apply(images, generators)

    def check_input(self, images: torch.Tensor) -> None:  # noqa: B027 (an optional hook, not an abstract method)
        """Operator-specific checks of a batch that passed :func:`validate_images` (channels, sizes).

        Runs before any random draw, so a batch that cannot be processed fails at once and consistently.
        Raise ``ValueError`` to reject ``images``; the default accepts everything.
        """

    @abc.abstractmethod
    def apply(self, images: torch.Tensor, generators: list[torch.Generator | None]) -> DegradationOutput:
        """Corrupt an already validated batch.

        Args:
            images (`torch.Tensor` of shape `(B, C, H, W)`):
                Clean images in ``[-1, 1]``.
            generators (`list[torch.Generator | None]`):
                ``B`` random sources, entry ``i`` for image ``i`` (entries may be the same object).

        Returns:
            [`DegradationOutput`]
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
