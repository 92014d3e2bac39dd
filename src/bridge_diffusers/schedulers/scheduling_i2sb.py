# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""I2SB: Image-to-Image Schroedinger Bridge (Liu et al., ICML 2023, arXiv 2302.05872).

Equation numbers refer to the I2SB paper. The schedule constants reproduce the official release exactly
(``std_fwd[999]`` = 0.37554 for ``beta_max`` 0.3 and 0.49692 for 1.0), so that its checkpoints load and sample
as they were trained.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from .scheduling_bridge import BridgeInputs, BridgeScheduler, BridgeSchedulerOutput, uniform_grid


__all__ = ["I2SBScheduler", "i2sb_betas"]

# Re-exported so that diffusers' loader finds the base class by name in this module (see the conventions note).
_LOADABLE_BASES = (SchedulerMixin, ConfigMixin)


def i2sb_betas(num_train_timesteps: int, beta_max: float, beta_start: float = 1e-4) -> np.ndarray:
    """The official symmetric "sqrt-linear" beta schedule, in float64.

    ``sqrt(beta)`` is linear from ``sqrt(beta_start)`` to ``sqrt(beta_max / num_train_timesteps)`` over the full
    range; only its first half is kept and mirrored, so the betas rise to the middle and fall back. Note that
    ``beta_start`` is **not** divided by ``num_train_timesteps`` while ``beta_max`` is: that asymmetry is in the
    released code (NVlabs/I2SB#11) and the checkpoints depend on it.
    """
    sqrt_betas = np.linspace(beta_start**0.5, (beta_max / num_train_timesteps) ** 0.5, num_train_timesteps)
    half = (sqrt_betas**2)[: num_train_timesteps // 2]
    return np.concatenate([half, half[::-1]])


class I2SBScheduler(BridgeScheduler):
    """The I2SB bridge between clean images ``x0`` (index 0) and degraded images ``x1`` (index 999).

    Training draws ``X_t ~ q(X_t | X0, X1)`` (eq. 11) and regresses ``(X_t - X0) / sigma_t`` (eq. 12). Sampling
    starts at ``X_N = X1`` and takes DDPM posterior steps ``X_n ~ p(X_n | X0_hat, X_{n+1})`` (eq. 4, Prop. 3.3).

    Args:
        num_train_timesteps (`int`, defaults to 1000):
            Number of discrete training steps ("interval" in the official code).
        beta_max (`float`, defaults to 0.3):
            Scale of the beta schedule; the official recipes use 0.3 for JPEG and 4x super-resolution and 1.0 for
            deblurring and inpainting.
        beta_start (`float`, defaults to 1e-4):
            ``beta`` at both ends of the symmetric schedule (not divided by ``num_train_timesteps``, as released).
        ot_ode (`bool`, defaults to `False`):
            The optimal-transport ODE limit (Prop. 3.4): no noise in the training marginal nor in sampling.
        clip_denoise (`bool`, defaults to `False`):
            Clamp ``x0``-hat to ``[-1, 1]`` in :meth:`pred_original_sample` (the official ``--clip-denoise``).
        timestep_spacing (`"uniform"` or `"quadratic"`, defaults to `"uniform"`):
            The sampling grid. ``"uniform"`` is the official one; ``"quadratic"`` (our addition, not in the official
            code) puts more steps near the clean end.
    """

    @register_to_config
    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_max: float = 0.3,
        beta_start: float = 1e-4,
        ot_ode: bool = False,
        clip_denoise: bool = False,
        timestep_spacing: Literal["uniform", "quadratic"] = "uniform",
    ):
        if num_train_timesteps < 2 or num_train_timesteps % 2:
            raise ValueError(f"`num_train_timesteps` must be an even integer >= 2, got {num_train_timesteps}.")
        if beta_start <= 0 or beta_max <= 0:
            raise ValueError(f"`beta_start` and `beta_max` must be positive, got {beta_start} and {beta_max}.")
        if timestep_spacing not in ("uniform", "quadratic"):
            raise ValueError(f"`timestep_spacing` must be 'uniform' or 'quadratic', got {timestep_spacing!r}.")

        betas = i2sb_betas(num_train_timesteps, beta_max, beta_start)
        # sigma_n^2 = sum_{m<=n} beta_m and sigma_bar_n^2 = sum_{m>=n} beta_m: the variances of the forward and
        # backward Brownian motions of eq. (9), whose product of Gaussians gives eq. (11).
        var_fwd = np.cumsum(betas)
        var_bwd = np.cumsum(betas[::-1])[::-1]
        var_total = var_fwd + var_bwd
        # Held in float64 and cast to the sample's dtype when gathered.
        self.betas = torch.from_numpy(betas)
        self.std_fwd = torch.from_numpy(np.sqrt(var_fwd))
        self.std_bwd = torch.from_numpy(np.sqrt(var_bwd))
        # eq. (11): mu_t = sigma_bar^2/(sigma^2+sigma_bar^2) X0 + sigma^2/(sigma^2+sigma_bar^2) X1,
        #           Sigma_t = sigma^2 sigma_bar^2/(sigma^2+sigma_bar^2) I.
        self.mu_x0 = torch.from_numpy(var_bwd / var_total)
        self.mu_x1 = torch.from_numpy(var_fwd / var_total)
        self.std_sb = torch.from_numpy(np.sqrt(var_fwd * var_bwd / var_total))
        # Official time embedding input: linspace(t0=1e-4, T=1, interval) * interval.
        levels = torch.linspace(1e-4, 1.0, num_train_timesteps, dtype=torch.float64)
        self.noise_levels = levels * num_train_timesteps
        self._init_grid()

    @property
    def endpoint_index(self) -> int:
        return self.config.num_train_timesteps - 1

    def prepare_endpoint(
        self,
        degraded: torch.Tensor,
        mask: torch.Tensor | None = None,
        estimate: torch.Tensor | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
    ) -> BridgeInputs:
        """``X1`` itself, with fresh N(0, 1) noise in an inpainting hole (official ``Runner``), as both the endpoint
        and the conditioning image (the official ``cond = x1`` is taken after the hole is filled). ``estimate`` is
        unused: I2SB starts from the degraded image."""
        if mask is None:
            return BridgeInputs(endpoint=degraded, condition=degraded)
        hole_noise = self._noise_like(degraded, generator)
        noisy = (1.0 - mask) * degraded + mask * hole_noise
        return BridgeInputs(endpoint=noisy, condition=noisy)

    # ------------------------------------------------------------------------------------------ training
    def sample_timesteps(
        self, batch_size: int, device: str | torch.device | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Training indices, uniform over ``{0, ..., num_train_timesteps - 1}`` (Alg. 1, line 3).

        Returns:
            `torch.LongTensor` of shape `(batch_size,)`.
        """
        gen_device = generator.device if generator is not None else "cpu"
        steps = torch.randint(
            0, self.config.num_train_timesteps, (batch_size,), generator=generator, device=gen_device
        )
        return steps.to(device)

    def sample_bridge(
        self,
        x0: torch.Tensor,
        x1: torch.Tensor,
        timesteps: torch.Tensor,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
    ) -> torch.Tensor:
        """A draw of ``X_t ~ q(X_t | X0, X1)`` (eq. 11); the mean only under OT-ODE (Prop. 3.4).

        Args:
            x0 (`torch.Tensor` of shape `(B, C, H, W)`): clean images in ``[-1, 1]``.
            x1 (`torch.Tensor` of shape `(B, C, H, W)`): endpoints (degraded images) in ``[-1, 1]``.
            timesteps (`torch.LongTensor` of shape `(B,)`): training indices.
            noise (`torch.Tensor` of shape `(B, C, H, W)`, *optional*): standard normal noise; drawn if omitted.
            generator (`torch.Generator`, *optional*): used when ``noise`` is drawn here.
        """
        self._check_timesteps(timesteps, 0, self.endpoint_index)
        x_t = self.gather(self.mu_x0, timesteps, x0) * x0 + self.gather(self.mu_x1, timesteps, x0) * x1
        if self.config.ot_ode:
            return x_t
        if noise is None:
            noise = self._noise_like(x0, generator)
        return x_t + self.gather(self.std_sb, timesteps, x0) * noise

    def training_target(
        self, x0: torch.Tensor, x1: torch.Tensor, x_t: torch.Tensor, timesteps: torch.Tensor
    ) -> torch.Tensor:
        """The regression target ``(X_t - X0) / sigma_t`` (eq. 12). ``x1`` is unused (kept for the contract).

        Finite at every index: ``sigma_0 = sqrt(beta_start) = 0.01``, not 0, in the released schedule.
        """
        self._check_timesteps(timesteps, 0, self.endpoint_index)
        return (x_t - x0) / self.gather(self.std_fwd, timesteps, x0)

    def x0_loss_weight(self, timesteps: torch.Tensor) -> torch.Tensor:
        """lambda(t) = 1 / sigma_t^2, eq. (12) on ``x0``-hat: ``||eps - target||^2 = ||x0_hat - x0||^2 / sigma_t^2``.

        Returns:
            `torch.Tensor` of the shape of ``timesteps``, float32.
        """
        self._check_timesteps(timesteps, 0, self.endpoint_index)
        index = torch.as_tensor(timesteps, dtype=torch.long)
        return self.std_fwd.to(index.device)[index].pow(-2).float()

    def model_time(self, timesteps: torch.Tensor) -> torch.Tensor:
        """The official time-embedding input ``noise_levels[t]`` (0.1 ... 1000), float, same shape as ``timesteps``."""
        index = torch.as_tensor(timesteps, dtype=torch.long)
        return self.noise_levels.to(index.device)[index]

    def pred_original_sample(
        self, model_output: torch.Tensor, timesteps: torch.Tensor | int, sample: torch.Tensor
    ) -> torch.Tensor:
        """``x0``-hat ``= X_t - sigma_t * eps(X_t, t)``, inverting eq. (12); clamped to [-1, 1] if ``clip_denoise``."""
        x0 = sample - self.gather(self.std_fwd, timesteps, sample) * model_output
        return x0.clamp(-1.0, 1.0) if self.config.clip_denoise else x0

    # ------------------------------------------------------------------------------------------ sampling
    def _build_grid(self, num_inference_steps: int) -> list[int]:
        last = self.endpoint_index
        if self.config.timestep_spacing == "uniform":
            return uniform_grid(last + 1, num_inference_steps + 1)
        grid = [round(last * (i / num_inference_steps) ** 2) for i in range(num_inference_steps + 1)]
        # Near the clean end the squares round to the same index: push duplicates up to keep the grid strict.
        for i in range(1, len(grid)):
            grid[i] = max(grid[i], grid[i - 1] + 1)
        return grid

    def posterior_coefficients(self, timestep: int, prev_timestep: int) -> tuple[float, float, float]:
        """Coefficients of the DDPM posterior ``p(X_p | X0, X_n)`` of eq. (4) between grid indices ``n > p``.

        With ``sigma_n = std_fwd[n]``, ``sigma_p = std_fwd[p]`` and ``delta^2 = sigma_n^2 - sigma_p^2``:
        mean ``= delta^2/sigma_n^2 X0 + sigma_p^2/sigma_n^2 X_n`` and variance ``sigma_p^2 delta^2 / sigma_n^2``.

        Returns:
            `(coef_x0, coef_xt, variance)` as Python floats.
        """
        var_n = float(self.std_fwd[timestep].double() ** 2)
        var_p = float(self.std_fwd[prev_timestep].double() ** 2)
        delta = var_n - var_p
        return delta / var_n, var_p / var_n, var_p * delta / var_n

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
        """One DDPM-posterior transition from grid index ``timestep`` to the previous grid index (Alg. 2, line 4).

        Args:
            model_output (`torch.Tensor` of shape `(B, C, H, W)`): the network output ``eps(X_t, t)``.
            timestep (`int`): the current grid index (an element of ``self.timesteps``).
            sample (`torch.Tensor` of shape `(B, C, H, W)`): ``X_t``.
            generator (`torch.Generator` or list, *optional*): randomness of the posterior noise.
            return_dict (`bool`): return a :class:`BridgeSchedulerOutput` (else a tuple).
            endpoint (`torch.Tensor` of shape `(B, C, H, W)`, *optional*): for inpainting, the endpoint ``X1``
                whose known region (``mask == 0``) is exact.
            mask (`torch.Tensor` of shape `(B, 1, H, W)`, *optional*): for inpainting, 1 in the hole and 0 where
                the pixels are known. The known region of the new sample is replaced by a fresh draw of the bridge
                marginal there, ``X1 + std_sb[prev] * noise`` (the mean only under OT-ODE), as the official sampler
                does.

        No noise is added on the last transition (to index 0) nor under OT-ODE.
        """
        prev_timestep = self.previous_timestep(timestep)
        pred_x0 = self.pred_original_sample(model_output, int(timestep), sample)
        coef_x0, coef_xt, variance = self.posterior_coefficients(int(timestep), prev_timestep)
        prev_sample = coef_x0 * pred_x0 + coef_xt * sample
        if prev_timestep > 0 and not self.config.ot_ode:
            prev_sample = prev_sample + variance**0.5 * self._noise_like(sample, generator)
        if mask is not None:
            if endpoint is None:
                raise ValueError("Inpainting with `mask` needs the `endpoint` whose known region is kept.")
            known = endpoint
            if not self.config.ot_ode:
                known = endpoint + float(self.std_sb[prev_timestep]) * self._noise_like(sample, generator)
            prev_sample = mask * prev_sample + (1.0 - mask) * known
        return self._output(prev_sample, pred_x0, return_dict)
