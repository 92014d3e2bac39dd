# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The contract every diffusion-bridge scheduler of this package follows.

A bridge scheduler is pure tensor math between two image distributions: the clean images ``x0`` and an
endpoint ``x1`` (the degraded image for I2SB, the mean network's estimate for NADB). It knows how the method
draws training times and bridge samples, what the network is regressed on, how a network output becomes an
estimate of ``x0`` and how one reverse transition is taken. It holds no network and touches no file.

Conventions shared by all subclasses:

* ``timesteps`` are integer training indices (``torch.long``); ``self.timesteps`` after ``set_timesteps`` is
  the descending list of indices each reverse transition **starts** from. The index each transition ends at
  is ``previous_timestep(t)``; the last transition ends at the method's clean end.
* images are float tensors of shape ``(B, C, H, W)``, nominally in ``[-1, 1]``.
* per-sample coefficients are gathered with :meth:`BridgeScheduler.gather`, which moves them to the
  sample's device and dtype and broadcasts them over ``(C, H, W)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import ClassVar, NamedTuple

import torch
from diffusers.configuration_utils import ConfigMixin
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor


__all__ = ["BridgeInputs", "BridgeScheduler", "BridgeSchedulerOutput", "uniform_grid"]


@dataclass
class BridgeSchedulerOutput(BaseOutput):
    """Output of a bridge scheduler's ``step``.

    Args:
        prev_sample (`torch.Tensor` of shape `(B, C, H, W)`):
            The sample at the previous (cleaner) time, to be fed to the next step.
        pred_original_sample (`torch.Tensor` of shape `(B, C, H, W)`):
            The estimate of the clean image ``x0`` made from the network output at this step.
    """

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor | None = None


class BridgeInputs(NamedTuple):
    """Where a bridge starts and what its network sees besides ``x_t``, both `(B, C, H, W)` in ``[-1, 1]``.

    Attributes:
        endpoint: ``x_T``, where sampling starts and what the training marginal interpolates towards.
        condition: the image a ``cond_x1`` network receives concatenated to ``x_t`` (other networks ignore it).
    """

    endpoint: torch.Tensor
    condition: torch.Tensor


def uniform_grid(num_indices: int, count: int) -> list[int]:
    """``count`` integer indices spread uniformly over ``0 .. num_indices - 1``, both ends included.

    The official I2SB/NADB grid (``space_indices``): a running float position that is advanced by the fractional
    stride ``(num_indices - 1) / (count - 1)`` and rounded with Python's ``round`` (ties to even) at every index.
    Accumulating the stride is not the same as rounding ``i * stride``: the float sums drift, and the two differ
    for 278 of the 999 I2SB step counts (e.g. NFE 20), so the accumulation is kept as released. For example
    ``uniform_grid(1000, 5) == [0, 250, 500, 749, 999]``.
    """
    if count < 2 or count > num_indices:
        raise ValueError(f"`count` must be in [2, {num_indices}], got {count}.")
    stride = (num_indices - 1) / (count - 1)
    grid, position = [], 0.0
    for _ in range(count):
        grid.append(round(position))
        position += stride
    return grid


class BridgeScheduler(SchedulerMixin, ConfigMixin):
    """Base class of the bridge schedulers (I2SB, NADB, IBMD).

    Subclasses implement the method's math; this class holds the grid bookkeeping and the diffusers-facing
    API that generic pipeline code probes for (``order``, ``init_noise_sigma``, ``scale_model_input``,
    ``__len__``). Members a subclass must provide:

    ========================================  ===================================================================
    ``prepare_endpoint(x1, mask, ...)``       where the bridge starts and what a ``cond_x1`` network sees
    ``sample_timesteps(batch_size, ...)``     training times, drawn as the method draws them
    ``sample_bridge(x0, x1, timesteps, ...)`` a draw of ``X_t`` from the training marginal
    ``training_target(x0, x1, x_t, t)``       the regression target of the network
    ``model_time(timesteps)``                 the value fed to the network's time embedding
    ``pred_original_sample(out, t, x_t)``     ``x0``-hat from a network output
    ``x0_loss_weight(timesteps)``             lambda(t) with ``loss = lambda(t) * ||x0_hat - x0||^2``
    ``_build_grid(num_inference_steps)``      the ascending sampling grid, clean end first
    ``step(...)``                             one reverse transition
    ========================================  ===================================================================
    """

    _compatibles: ClassVar[list] = []
    order = 1
    init_noise_sigma = 1.0
    # Index of the clean end of the bridge (I2SB: 0, NADB: 0 = t 0.0) and of the endpoint (I2SB: 999, NADB: 1000).
    clean_index: int = 0

    def _init_grid(self) -> None:
        self.num_inference_steps: int | None = None
        self._grid: list[int] = list(range(self.clean_index, self.endpoint_index + 1))
        self.timesteps = torch.arange(self.endpoint_index, self.clean_index, -1, dtype=torch.long)

    @property
    def endpoint_index(self) -> int:
        """The training index of the endpoint ``x1`` (where sampling starts)."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------ endpoint
    def prepare_endpoint(
        self,
        degraded: torch.Tensor,
        mask: torch.Tensor | None = None,
        estimate: torch.Tensor | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
    ) -> BridgeInputs:
        """The bridge's start and conditioning image from degraded images: the one definition that sampling,
        training and distillation share, so that a network always sees the inputs it was trained on.

        Args:
            degraded (`torch.Tensor` of shape `(B, C, H, W)`): the degraded images ``x1`` in ``[-1, 1]``.
            mask (`torch.Tensor` of shape `(B, 1, H, W)`, *optional*): inpainting hole, 1 where pixels are missing.
            estimate (`torch.Tensor` of shape `(B, C, H, W)`, *optional*): a mean network's estimate ``M(x1)``, for
                bridges that start from one (NADB).
            generator (`torch.Generator` or list, *optional*): randomness the endpoint needs (I2SB's hole noise).
        """
        raise NotImplementedError

    # ----------------------------------------------------------------------------------------------- grid
    def set_timesteps(
        self,
        num_inference_steps: int | None = None,
        device: str | torch.device | None = None,
        timesteps: list[int] | None = None,
    ) -> None:
        """Sets the sampling grid. Call it before every sampling run.

        Args:
            num_inference_steps (`int`, *optional*):
                Number of reverse transitions (= network evaluations of the bridge).
            device (`str` or `torch.device`, *optional*):
                Device of ``self.timesteps``.
            timesteps (`list[int]`, *optional*):
                A custom descending list of start indices (each > the clean index and <= the endpoint index,
                the first equal to the endpoint index). Mutually exclusive with ``num_inference_steps``.
        """
        if (num_inference_steps is None) == (timesteps is None):
            raise ValueError("Pass exactly one of `num_inference_steps` or `timesteps`.")
        if timesteps is not None:
            grid = self._grid_from_custom_timesteps(timesteps)
        else:
            if not isinstance(num_inference_steps, int) or isinstance(num_inference_steps, bool):
                raise TypeError(f"`num_inference_steps` must be an int, got {type(num_inference_steps).__name__}.")
            max_steps = self.endpoint_index - self.clean_index
            if not 1 <= num_inference_steps <= max_steps:
                raise ValueError(f"`num_inference_steps` must be in [1, {max_steps}], got {num_inference_steps}.")
            grid = self._build_grid(num_inference_steps)
        self._check_grid(grid)
        self._grid = grid
        self.num_inference_steps = len(grid) - 1
        self.timesteps = torch.tensor(grid[:0:-1], dtype=torch.long, device=device)

    def _build_grid(self, num_inference_steps: int) -> list[int]:
        raise NotImplementedError

    def _check_grid(self, grid: list[int]) -> None:
        """Hook for subclasses that must refuse some grids (NADB's variance check)."""

    def _grid_from_custom_timesteps(self, timesteps: list[int]) -> list[int]:
        steps = [int(t) for t in timesteps]
        if steps[0] != self.endpoint_index:
            raise ValueError(
                f"Custom `timesteps` must start at the endpoint index {self.endpoint_index}, got {steps}."
            )
        if any(a <= b for a, b in pairwise(steps)) or steps[-1] <= self.clean_index:
            raise ValueError(
                f"Custom `timesteps` must be strictly descending and above {self.clean_index}, got {steps}."
            )
        return [self.clean_index, *reversed(steps)]

    def previous_timestep(self, timestep: int | torch.Tensor) -> int:
        """The grid index the transition starting at ``timestep`` ends at."""
        value = int(timestep)
        try:
            position = self._grid.index(value)
        except ValueError:
            raise ValueError(
                f"Timestep {value} is not on the sampling grid {self._grid[::-1]}; call `set_timesteps` first."
            ) from None
        if position == 0:
            raise ValueError(f"Timestep {value} is the clean end of the bridge: there is no transition from it.")
        return self._grid[position - 1]

    # ------------------------------------------------------------------------------------------ helpers
    @staticmethod
    def gather(values: torch.Tensor, timesteps: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
        """Per-sample coefficients ``values[timesteps]`` shaped to broadcast against ``like`` (B, C, H, W)."""
        index = torch.as_tensor(timesteps, device=values.device, dtype=torch.long).reshape(-1)
        picked = values[index].to(device=like.device, dtype=like.dtype)
        return picked.reshape(-1, *([1] * (like.ndim - 1)))

    @staticmethod
    def _check_timesteps(timesteps: torch.Tensor | int, low: int, high: int) -> None:
        t = torch.as_tensor(timesteps)
        if t.dtype.is_floating_point or t.dtype == torch.bool:
            raise TypeError(f"`timesteps` must be integer training indices, got dtype {t.dtype}.")
        if t.numel() and (int(t.min()) < low or int(t.max()) > high):
            raise ValueError(
                f"`timesteps` must lie in [{low}, {high}], got values in [{int(t.min())}, {int(t.max())}]."
            )

    @staticmethod
    def _noise_like(
        reference: torch.Tensor, generator: torch.Generator | list[torch.Generator] | None
    ) -> torch.Tensor:
        return randn_tensor(reference.shape, generator=generator, device=reference.device, dtype=reference.dtype)

    @staticmethod
    def _output(prev_sample: torch.Tensor, pred_x0: torch.Tensor, return_dict: bool) -> BridgeSchedulerOutput | tuple:
        """``step``'s return value: the output dataclass, or ``(prev_sample, pred_original_sample)``."""
        if not return_dict:
            return (prev_sample, pred_x0)
        return BridgeSchedulerOutput(prev_sample=prev_sample, pred_original_sample=pred_x0)

    def scale_model_input(self, sample: torch.Tensor, timestep: int | torch.Tensor | None = None) -> torch.Tensor:
        """Identity: bridge networks take ``X_t`` as it is (kept for diffusers pipeline compatibility)."""
        return sample

    def add_noise(self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """Not defined for a bridge: the marginal needs both endpoints. Use :meth:`sample_bridge` instead."""
        raise NotImplementedError(
            f"{type(self).__name__} is a bridge: X_t depends on both x0 and the endpoint x1. "
            "Call `sample_bridge(x0, x1, timesteps, noise)` instead of `add_noise`."
        )

    def __len__(self) -> int:
        return self.config.num_train_timesteps
