"""Independent transcriptions of the official I2SB and NADB samplers, for the tests to compare against.

Written from the reference notes (shared/reference/bridge-methods.md, sections 1.1, 1.2, 1.5, 1.7 and 2.4) in
float64 numpy/torch, with no import from the package: a test that compares the package with these functions
fails when the package drifts from the official algebra, not when it drifts from itself.

Noise is drawn exactly where the official code draws it, from a caller-supplied ``draw(shape)`` so that a test
can hand both implementations the same stream of normal samples.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


Draw = Callable[[tuple[int, ...]], torch.Tensor]
Network = Callable[[torch.Tensor, int], torch.Tensor]


def space_indices(num_steps: int, count: int) -> list[int]:
    """``util.space_indices``: a float cursor advanced by the fractional stride, rounded at every index."""
    frac_stride = (num_steps - 1) / (count - 1) if count > 1 else 1
    cursor, taken = 0.0, []
    for _ in range(count):
        taken.append(round(cursor))
        cursor += frac_stride
    return taken


def i2sb_std_fwd(interval: int = 1000, beta_max: float = 0.3) -> np.ndarray:
    """``std_fwd`` of ``Runner.__init__`` / ``Diffusion.__init__``: sqrt-linear betas, first half mirrored."""
    betas = np.linspace(1e-4**0.5, (beta_max / interval) ** 0.5, interval, dtype=np.float64) ** 2
    betas = np.concatenate([betas[: interval // 2], np.flip(betas[: interval // 2])])
    return np.sqrt(np.cumsum(betas))


def i2sb_std_sb(interval: int = 1000, beta_max: float = 0.3) -> np.ndarray:
    """``std_sb`` of ``compute_gaussian_product_coef(std_fwd, std_bwd)``."""
    betas = np.linspace(1e-4**0.5, (beta_max / interval) ** 0.5, interval, dtype=np.float64) ** 2
    betas = np.concatenate([betas[: interval // 2], np.flip(betas[: interval // 2])])
    var_fwd, var_bwd = np.cumsum(betas), np.flip(np.cumsum(np.flip(betas)))
    return np.sqrt(var_fwd * var_bwd / (var_fwd + var_bwd))


def i2sb_sample(
    network: Network,
    x1: torch.Tensor,
    nfe: int,
    draw: Draw,
    beta_max: float = 0.3,
    ot_ode: bool = False,
    mask: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """``Diffusion.ddpm_sampling`` with ``p_posterior``: every sample from ``x1`` to the result, in float64.

    ``network(x_n, n)`` returns the net output; ``x0_hat = x_n - std_fwd[n] * out``. Under a mask (1 in the hole),
    the known region of each new sample is ``x1 + std_sb[prev] * eps`` (``x1`` under OT-ODE).
    """
    std_fwd, std_sb = i2sb_std_fwd(1000, beta_max), i2sb_std_sb(1000, beta_max)
    steps = space_indices(1000, nfe + 1)
    x_n = x1.double()
    trajectory = [x_n]
    for prev, n in zip(steps[-2::-1], steps[:0:-1], strict=True):
        x0_hat = x_n - std_fwd[n] * network(x_n, n).double()
        var_n, var_p = std_fwd[n] ** 2, std_fwd[prev] ** 2
        delta = var_n - var_p
        x_n = (delta / var_n) * x0_hat + (var_p / var_n) * x_n
        if prev != 0 and not ot_ode:
            x_n = x_n + np.sqrt(var_p * delta / var_n) * draw(x_n.shape).double()
        if mask is not None:
            known = x1.double() if ot_ode else x1.double() + std_sb[prev] * draw(x_n.shape).double()
            x_n = (1 - mask.double()) * known + mask.double() * x_n
        trajectory.append(x_n)
    return trajectory


def nadb_sample(
    network: Network,
    endpoint: torch.Tensor,
    nfe: int,
    draw: Draw,
    alpha: float = 0.4,
    k: float = 0.75,
    d: float | None = None,
    target_scale: float = 2.0,
) -> list[torch.Tensor]:
    """``Diffusion.ddpm_sampling`` / ``p_posterior`` of NADB's ``Runner``: every sample, in float64.

    Grid ``space_indices(1001, nfe + 1)`` with t = step / 1000; ``D = out / target_scale`` (the runner trains on
    ``2 * label``). For ``s >= d``: ``mean = x_t - (t^a - s^a) D``; below ``d`` the ``A D + B x_t + C X0_hat`` form.
    No noise at ``s = 0``.
    """
    d = (1 - alpha) / (2 - alpha) if d is None else d
    steps = space_indices(1001, nfe + 1)
    x_t = endpoint.double()
    trajectory = [x_t]
    for prev, step in zip(steps[-2::-1], steps[:0:-1], strict=True):
        t, s = step / 1000, prev / 1000
        D = network(x_t, step).double() / target_scale
        if s >= d:
            mean = x_t - (t**alpha - s**alpha) * D
            var = k**2 * (s**2 * (1 - s) ** 2 - t**2 * (1 - t) ** 2 * (s / t) ** (2 * alpha))
        else:
            w = s / t
            a_coef = t**alpha * (s**alpha - 1 + w - w * t**alpha)
            b_coef = 1 - s**alpha + w * t**alpha
            c_coef = s**alpha - w * t**alpha
            mean = a_coef * D + b_coef * x_t + c_coef * endpoint.double()
            var = k**2 * (s**2 * (1 - s) ** 2 - (t * (1 - t) * s / t) ** 2)
        x_t = mean if s == 0 else mean + np.sqrt(max(var, 0.0)) * draw(x_t.shape).double()
        trajectory.append(x_t)
    return trajectory
