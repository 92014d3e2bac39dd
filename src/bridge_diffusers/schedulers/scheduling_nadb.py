# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""NADB: noise-aligned diffusion bridge (Gao et al., "Resolving Endpoint Underfitting in Diffusion Bridges via
Noise Alignment", CVPR 2026, arXiv 2605.28962).

The bridge runs between the clean image ``X0`` (t = 0) and the mean network's estimate ``X0_hat = M(X1)``
(t = 1, the "endpoint") along the magnitude-aligned interpolant (paper Sec. 3.2)

    X_t = (1 - t^a) X0 + t^a X0_hat + k t (1 - t) Z,       Y_t = (X_t - X0) / t^a,

whose input noise ``k t (1 - t)`` and target noise ``k t^(1-a) (1 - t)`` vanish together at both ends
(Proposition 1). Sampling is the paper's Algorithm 2, as the official code computes it: a standard transition
for ``s >= d`` and an endpoint-conditioned one below the threshold ``d = (1 - a) / (2 - a)``.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from .scheduling_bridge import BridgeInputs, BridgeScheduler, BridgeSchedulerOutput, uniform_grid


__all__ = ["NADBScheduler", "default_threshold"]

# Kept by name at module level: diffusers' loader looks the base classes up in the component's module.
_LOADABLE_BASES = (SchedulerMixin, ConfigMixin)

# A transition variance below this is a rounding error of an exact zero, not a refused grid.
_VARIANCE_ATOL = 1e-12


def default_threshold(alpha: float) -> float:
    """The switching time ``d = (1 - a) / (2 - a)`` of Algorithm 2.

    ``f(x) = x^(1-a) (1 - x)`` increases below ``d`` and decreases above it, so the standard transition's variance
    ``k^2 s^(2a) (f(s)^2 - f(t)^2)`` is non-negative for every ``t > s`` exactly when ``s >= d``.
    """
    return (1.0 - alpha) / (2.0 - alpha)


class NADBScheduler(BridgeScheduler):
    """The NADB bridge between clean images (index 0, t = 0) and the mean network's output (index 1000, t = 1).

    Integer indices ``n`` map to ``t = n / num_train_timesteps``; training draws ``n`` uniformly from
    ``{1, ..., num_train_timesteps}`` (t = 0 is never drawn).

    Args:
        num_train_timesteps (`int`, defaults to 1000):
            Number of discrete times above 0 (the official code hard-codes t = step / 1000).
        alpha (`float`, defaults to 0.4):
            The exponent ``a`` of the interpolant, in (0, 1).
        k (`float`, defaults to 0.75):
            Scale of the bridge noise ``k t (1 - t) Z``.
        threshold (`float`, *optional*):
            The switching time ``d`` of Algorithm 2, in [0, 1]. ``None`` resolves to ``(1 - a) / (2 - a)`` (0.375 for
            a = 0.4, the official ``--d smallest``); ``1`` always uses the endpoint-conditioned transition (the
            official setting for edges-to-images). The resolved value is the float attribute ``threshold``.
        target_scale (`float`, defaults to 1.0):
            The network is trained to output ``target_scale * Y_t``. The paper's target is ``Y_t`` (1.0); the
            official runner with the mean network trains on ``2 * Y_t`` and divides by 2 when sampling (2.0).
    """

    @register_to_config
    def __init__(
        self,
        num_train_timesteps: int = 1000,
        alpha: float = 0.4,
        k: float = 0.75,
        threshold: float | None = None,
        target_scale: float = 1.0,
    ):
        if num_train_timesteps < 1:
            raise ValueError(f"`num_train_timesteps` must be >= 1, got {num_train_timesteps}.")
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"`alpha` must lie in (0, 1), got {alpha}.")
        if k < 0:
            raise ValueError(f"`k` must be >= 0, got {k}.")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"`threshold` must lie in [0, 1] (or be None for (1-a)/(2-a)), got {threshold}.")
        if target_scale == 0:
            raise ValueError("`target_scale` must be non-zero.")
        self.threshold: float = default_threshold(alpha) if threshold is None else float(threshold)
        # Held in float64 and cast to the sample's dtype when gathered, so float64 sampling is exact.
        self.times = torch.arange(num_train_timesteps + 1, dtype=torch.float64) / num_train_timesteps
        self.t_pow_alpha = self.times.pow(alpha)
        # Official time embedding input: linspace(t0=1e-4, T=1, interval=1001) * 1000, i.e. about 1000 t.
        levels = torch.linspace(1e-4, 1.0, num_train_timesteps + 1, dtype=torch.float64)
        self.noise_levels = levels * num_train_timesteps
        self._init_grid()

    @property
    def endpoint_index(self) -> int:
        return self.config.num_train_timesteps

    # ---------------------------------------------------------------------------------------- schedule
    def input_noise_std(self, t: torch.Tensor | float) -> torch.Tensor:
        """``gamma_X(t) = k t (1 - t)``: the noise scale of the network input ``X_t`` (Proposition 1)."""
        t = torch.as_tensor(t, dtype=torch.float64)
        return self.config.k * t * (1.0 - t)

    def target_noise_std(self, t: torch.Tensor | float) -> torch.Tensor:
        """``gamma_Y(t) = k t^(1-a) (1 - t)``: the noise scale of the target ``Y_t`` (Proposition 1)."""
        t = torch.as_tensor(t, dtype=torch.float64)
        return self.config.k * t.pow(1.0 - self.config.alpha) * (1.0 - t)

    def prepare_endpoint(
        self,
        degraded: torch.Tensor,
        mask: torch.Tensor | None = None,
        estimate: torch.Tensor | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
    ) -> BridgeInputs:
        """The mean network's estimate ``X0_hat = M(X1)`` as the endpoint (``X1`` itself without one, the official
        ``runner1``), with the known pixels of ``X1`` written in under a mask so that the bridge is exact there; the
        conditioning image is the **raw** ``X1`` (the official ``cond_x1`` input), never the estimate."""
        endpoint = degraded if estimate is None else estimate
        if mask is not None:
            endpoint = mask * endpoint + (1.0 - mask) * degraded
        return BridgeInputs(endpoint=endpoint, condition=degraded)

    # ---------------------------------------------------------------------------------------- training
    def sample_timesteps(
        self, batch_size: int, device: str | torch.device | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Training indices, uniform over ``{1, ..., num_train_timesteps}`` (Alg. 1; t = 0 is never drawn).

        Returns:
            `torch.LongTensor` of shape `(batch_size,)`.
        """
        gen_device = generator.device if generator is not None else "cpu"
        high = self.config.num_train_timesteps + 1
        return torch.randint(1, high, (batch_size,), generator=generator, device=gen_device).to(device)

    def sample_bridge(
        self,
        x0: torch.Tensor,
        x1: torch.Tensor,
        timesteps: torch.Tensor,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
    ) -> torch.Tensor:
        """A draw of ``X_t = (1 - t^a) X0 + t^a X0_hat + k t (1 - t) Z`` (the magnitude-aligned interpolant).

        Args:
            x0 (`torch.Tensor` of shape `(B, C, H, W)`): clean images in ``[-1, 1]``.
            x1 (`torch.Tensor` of shape `(B, C, H, W)`): the endpoint ``X0_hat`` (the mean network's output, or the
                degraded image for NADB without a mean network).
            timesteps (`torch.LongTensor` of shape `(B,)`): indices in ``[1, num_train_timesteps]``.
            noise (`torch.Tensor` of shape `(B, C, H, W)`, *optional*): standard normal ``Z``; drawn if omitted.
            generator (`torch.Generator`, *optional*): used when ``noise`` is drawn here.
        """
        self._check_timesteps(timesteps, 1, self.endpoint_index)
        if noise is None:
            noise = self._noise_like(x0, generator)
        t = self.gather(self.times, timesteps, x0)
        t_a = self.gather(self.t_pow_alpha, timesteps, x0)
        return (1.0 - t_a) * x0 + t_a * x1 + self.config.k * t * (1.0 - t) * noise

    def training_target(
        self, x0: torch.Tensor, x1: torch.Tensor, x_t: torch.Tensor, timesteps: torch.Tensor
    ) -> torch.Tensor:
        """``target_scale * Y_t`` with ``Y_t = (X_t - X0) / t^a = (X0_hat - X0) + k t^(1-a) (1 - t) Z``.

        Defined for indices ``1 .. num_train_timesteps`` only: at t = 0 the division by ``t^a`` has no value (the
        official code never draws t = 0), so index 0 is refused instead of returning inf/NaN.
        """
        self._check_timesteps(timesteps, 1, self.endpoint_index)
        return self.config.target_scale * (x_t - x0) / self.gather(self.t_pow_alpha, timesteps, x0)

    def x0_loss_weight(self, timesteps: torch.Tensor) -> torch.Tensor:
        """lambda(t) = target_scale^2 / t^(2a): the training loss written on ``x0``-hat (indices ``>= 1``)."""
        self._check_timesteps(timesteps, 1, self.endpoint_index)
        index = torch.as_tensor(timesteps, dtype=torch.long)
        return (self.config.target_scale**2 * self.t_pow_alpha.to(index.device)[index].pow(-2)).float()

    def model_time(self, timesteps: torch.Tensor) -> torch.Tensor:
        """The official time-embedding input ``(1e-4 + n (1 - 1e-4) / N) * N``, about ``1000 t``."""
        index = torch.as_tensor(timesteps, dtype=torch.long)
        return self.noise_levels.to(index.device)[index]

    def pred_original_sample(
        self, model_output: torch.Tensor, timesteps: torch.Tensor | int, sample: torch.Tensor
    ) -> torch.Tensor:
        """``x0``-hat ``= X_t - t^a * D`` with ``D = model_output / target_scale`` (inverting ``Y_t``)."""
        t_a = self.gather(self.t_pow_alpha, timesteps, sample)
        return sample - t_a * model_output / self.config.target_scale

    # ---------------------------------------------------------------------------------------- sampling
    def _build_grid(self, num_inference_steps: int) -> list[int]:
        return uniform_grid(self.endpoint_index + 1, num_inference_steps + 1)

    def transition_coefficients(self, timestep: int, prev_timestep: int) -> tuple[float, float, float, float]:
        """Algorithm 2's transition ``X_s = c_x0 * x0_hat + c_xt * X_t + c_end * X0_hat + std * noise``, t > s.

        * standard (``s >= d``): ``X_s = (s/t)^a X_t + (1 - (s/t)^a) x0_hat``,
          ``std = k sqrt(s^2 (1-s)^2 - t^2 (1-t)^2 (s/t)^(2a))``;
        * endpoint-conditioned (``s < d``), with ``w = s / t``: re-interpolate between ``x0_hat`` and the known
          endpoint and carry the current noise residual over, ``X_s = (1 - s^a) x0_hat + s^a X0_hat
          + w (X_t - (1 - t^a) x0_hat - t^a X0_hat)``, ``std = k s sqrt((1-s)^2 - (1-t)^2)``.

        Both keep the marginal variance ``(k s (1 - s))^2`` when ``x0_hat`` is exact. No noise at ``s = 0``.

        Returns:
            `(c_x0, c_xt, c_end, variance)` as Python floats; the variance may be negative for a refused grid.
        """
        a, k = self.config.alpha, self.config.k
        t = timestep / self.config.num_train_timesteps
        s = prev_timestep / self.config.num_train_timesteps
        if s >= self.threshold:
            ratio = (s / t) ** a
            variance = k**2 * (s**2 * (1 - s) ** 2 - t**2 * (1 - t) ** 2 * ratio**2)
            return 1.0 - ratio, ratio, 0.0, variance
        w = s / t
        t_a, s_a = t**a, s**a
        variance = k**2 * s**2 * ((1 - s) ** 2 - (1 - t) ** 2)
        return (1.0 - s_a) - w * (1.0 - t_a), w, s_a - w * t_a, variance

    def _check_grid(self, grid: list[int]) -> None:
        for prev_timestep, timestep in pairwise(grid):
            variance = self.transition_coefficients(timestep, prev_timestep)[3]
            if variance < -_VARIANCE_ATOL:
                n = self.config.num_train_timesteps
                raise ValueError(
                    f"threshold d={self.threshold:.4g} makes the standard transition t={timestep / n:.4g} -> "
                    f"s={prev_timestep / n:.4g} have a negative variance ({variance:.3g}) on this grid. Use a "
                    f"threshold >= (1-alpha)/(2-alpha) = {default_threshold(self.config.alpha):.4g} "
                    "(threshold=None), for which every grid is valid."
                )

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int | torch.Tensor,
        sample: torch.Tensor,
        generator: torch.Generator | list[torch.Generator] | None = None,
        return_dict: bool = True,
        *,
        endpoint: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> BridgeSchedulerOutput | tuple:
        """One reverse transition of Algorithm 2 from grid index ``timestep`` to the previous grid index.

        Args:
            model_output (`torch.Tensor` of shape `(B, C, H, W)`): the network output (``target_scale * Y_t``-hat).
            timestep (`int`): the current grid index (an element of ``self.timesteps``), t = timestep / 1000.
            sample (`torch.Tensor` of shape `(B, C, H, W)`): ``X_t``.
            generator (`torch.Generator` or list, *optional*): randomness of the transition noise.
            return_dict (`bool`): return a :class:`BridgeSchedulerOutput` (else a tuple).
            endpoint (`torch.Tensor` of shape `(B, C, H, W)`): the bridge endpoint ``X0_hat`` (the mean network's
                output, where sampling started). Required by the endpoint-conditioned transitions (``s < d``).
            mask (`torch.Tensor` of shape `(B, 1, H, W)`, *optional*): inpainting mask, 1 in the hole. Our extension
                (the official NADB has no inpainting sampler): where the pixels are known, ``X0 = X0_hat`` (the
                pipeline writes the known pixels into the endpoint), so the known region of the new sample is
                re-drawn from the interpolant there, ``endpoint + k s (1 - s) noise``, as I2SB does.
        """
        prev_timestep = self.previous_timestep(timestep)
        pred_x0 = self.pred_original_sample(model_output, int(timestep), sample)
        c_x0, c_xt, c_end, variance = self.transition_coefficients(int(timestep), prev_timestep)
        prev_sample = c_x0 * pred_x0 + c_xt * sample
        if c_end != 0.0:
            if endpoint is None:
                raise ValueError(
                    "NADB's endpoint-conditioned transition (s < threshold) needs `endpoint=` the bridge endpoint "
                    "X0_hat (the mean network's output, where sampling started)."
                )
            prev_sample = prev_sample + c_end * endpoint
        if prev_timestep > 0 and variance > 0:
            prev_sample = prev_sample + variance**0.5 * self._noise_like(sample, generator)
        if mask is not None:
            if endpoint is None:
                raise ValueError("Inpainting with `mask` needs the `endpoint` whose known region is kept.")
            s = prev_timestep / self.config.num_train_timesteps
            known = endpoint + self.config.k * s * (1.0 - s) * self._noise_like(sample, generator)
            prev_sample = mask * prev_sample + (1.0 - mask) * known
        return self._output(prev_sample, pred_x0, return_dict)
