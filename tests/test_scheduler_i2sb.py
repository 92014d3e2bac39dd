"""I2SBScheduler against the official constants, the paper's equations and Monte Carlo."""

from itertools import pairwise

import numpy as np
import pytest
import torch

import official_reference as official
from bridge_diffusers.schedulers import I2SBScheduler, i2sb_betas, uniform_grid


def oracle_output(scheduler: I2SBScheduler, x0: torch.Tensor, x_t: torch.Tensor, t: int) -> torch.Tensor:
    """The exact eq. (12) target for a known x0: what a perfect network returns."""
    return (x_t - x0) / scheduler.std_fwd[t]


# ---------------------------------------------------------------------------------------------- schedule
@pytest.mark.parametrize(
    ("beta_max", "std_end", "std_sb_max", "beta_mid"),
    [(0.3, 0.37554, 0.18789, 1.8650e-4), (1.0, 0.49692, 0.24868, 4.3266e-4)],
)
def test_official_constants(beta_max, std_end, std_sb_max, beta_mid):
    scheduler = I2SBScheduler(beta_max=beta_max)
    assert scheduler.std_fwd[-1].item() == pytest.approx(std_end, abs=1e-4)
    assert scheduler.std_bwd[0].item() == pytest.approx(std_end, abs=1e-4)
    assert scheduler.std_sb.max().item() == pytest.approx(std_sb_max, abs=1e-4)
    assert scheduler.betas[499].item() == pytest.approx(beta_mid, rel=1e-3)
    # Neither endpoint is noise-free: sqrt(beta_start) = 0.01 (the released quirk).
    assert scheduler.std_fwd[0].item() == pytest.approx(0.01, abs=1e-7)
    assert scheduler.std_bwd[-1].item() == pytest.approx(0.01, abs=1e-7)


def test_betas_are_symmetric_sqrt_linear():
    betas = i2sb_betas(1000, 0.3)
    np.testing.assert_allclose(betas, betas[::-1])
    assert betas[0] == pytest.approx(1e-4)
    # First half: sqrt(beta) is linear with the step of the full-length ramp to beta_max / 1000.
    step = ((0.3 / 1000) ** 0.5 - 1e-2) / 999
    np.testing.assert_allclose(np.diff(np.sqrt(betas[:500])), step, rtol=1e-9)


def test_marginal_coefficients_match_eq_11():
    s = I2SBScheduler()
    var_fwd, var_bwd = s.std_fwd.double() ** 2, s.std_bwd.double() ** 2
    torch.testing.assert_close(s.mu_x0.double(), var_bwd / (var_fwd + var_bwd), atol=1e-6, rtol=0)
    torch.testing.assert_close(s.mu_x1.double(), var_fwd / (var_fwd + var_bwd), atol=1e-6, rtol=0)
    torch.testing.assert_close((s.mu_x0 + s.mu_x1).double(), torch.ones(1000, dtype=torch.float64), atol=1e-6, rtol=0)
    assert s.mu_x1[-1].item() == pytest.approx(0.99929, abs=1e-5)


def test_model_time_is_official_noise_levels():
    s = I2SBScheduler()
    assert s.model_time(torch.tensor(0)).item() == pytest.approx(0.1, abs=1e-5)
    assert s.model_time(torch.tensor(999)).item() == pytest.approx(1000.0, abs=1e-3)
    expected = (1e-4 + 500 * (1 - 1e-4) / 999) * 1000
    assert s.model_time(torch.tensor([500])).item() == pytest.approx(expected, rel=1e-6)


# ------------------------------------------------------------------------------------------------- grids
def test_uniform_grid_matches_official_examples():
    assert uniform_grid(1000, 5) == [0, 250, 500, 749, 999]
    assert uniform_grid(1000, 2) == [0, 999]
    s = I2SBScheduler()
    s.set_timesteps(4)
    assert s.timesteps.tolist() == [999, 749, 500, 250]
    assert [s.previous_timestep(t) for t in s.timesteps] == [749, 500, 250, 0]
    s.set_timesteps(999)
    assert s.timesteps.tolist() == list(range(999, 0, -1))


def test_every_nfe_gives_the_official_grid():
    """All 999 step counts, not a sample: rounding ``i * stride`` instead of accumulating the stride differs from
    the official grid for 278 of them (NFE 20, 22, 30, ...)."""
    s = I2SBScheduler()
    for nfe in range(1, 1000):
        s.set_timesteps(nfe)
        expected = official.space_indices(1000, nfe + 1)
        assert [0, *s.timesteps.flip(0).tolist()] == expected, nfe


def test_quadratic_grid_is_strict_and_denser_near_x0():
    s = I2SBScheduler(timestep_spacing="quadratic")
    for steps in (1, 5, 50, 400, 999):
        s.set_timesteps(steps)
        grid = [0, *s.timesteps.flip(0).tolist()]
        assert grid[-1] == 999 and len(grid) == steps + 1
        assert all(b > a for a, b in pairwise(grid))
    s.set_timesteps(10)
    gaps = np.diff([0, *s.timesteps.flip(0).tolist()])
    assert gaps[0] < gaps[-1]


def test_custom_timesteps_and_bad_grids():
    s = I2SBScheduler()
    s.set_timesteps(timesteps=[999, 500, 10])
    assert [s.previous_timestep(t) for t in s.timesteps] == [500, 10, 0]
    with pytest.raises(ValueError, match="exactly one"):
        s.set_timesteps(4, timesteps=[999, 10])
    with pytest.raises(ValueError, match="start at the endpoint"):
        s.set_timesteps(timesteps=[900, 10])
    with pytest.raises(ValueError, match="strictly descending"):
        s.set_timesteps(timesteps=[999, 10, 500])
    with pytest.raises(ValueError, match=r"\[1, 999\]"):
        s.set_timesteps(1000)
    with pytest.raises(ValueError, match="not on the sampling grid"):
        s.set_timesteps(4)
        s.previous_timestep(600)


# -------------------------------------------------------------------------------------------- training
def test_sample_bridge_and_target_follow_eqs_11_12():
    s = I2SBScheduler()
    x0, x1, noise = torch.randn(3, 4, 3, 8, 8).unbind(0)
    t = torch.tensor([0, 400, 999, 123])
    x_t = s.sample_bridge(x0, x1, t, noise)
    for i, ti in enumerate(t.tolist()):
        expected = s.mu_x0[ti] * x0[i] + s.mu_x1[ti] * x1[i] + s.std_sb[ti] * noise[i]
        torch.testing.assert_close(x_t[i], expected.float())
        torch.testing.assert_close(s.training_target(x0, x1, x_t, t)[i], ((x_t[i] - x0[i]) / s.std_fwd[ti]).float())
    # The x0 reparameterisation inverts the target exactly.
    torch.testing.assert_close(s.pred_original_sample(s.training_target(x0, x1, x_t, t), t, x_t), x0)
    # lambda(t) makes the target loss equal to the weighted x0 loss.
    eps = torch.randn_like(x0)
    lhs = (eps - s.training_target(x0, x1, x_t, t)).pow(2).sum(dim=(1, 2, 3))
    rhs = s.x0_loss_weight(t) * (s.pred_original_sample(eps, t, x_t) - x0).pow(2).sum(dim=(1, 2, 3))
    torch.testing.assert_close(lhs, rhs, rtol=1e-4, atol=1e-4)


def test_target_and_loss_weight_at_index_zero_use_the_official_sigma_0():
    """At index 0 the official label ``(x_t - x0) / std_fwd[0]`` divides by sqrt(1e-4) = 0.01, not by zero."""
    s = I2SBScheduler()
    std_fwd = official.i2sb_std_fwd(1000, 0.3)
    assert std_fwd[0] == pytest.approx(0.01)
    x0, x1, noise = torch.randn(3, 2, 3, 4, 4, dtype=torch.float64).unbind(0)
    steps = torch.tensor([0, 999])
    x_t = s.sample_bridge(x0, x1, steps, noise)
    expected = (x_t - x0) / torch.tensor(std_fwd[[0, 999]]).reshape(2, 1, 1, 1)
    torch.testing.assert_close(s.training_target(x0, x1, x_t, steps), expected)
    torch.testing.assert_close(
        s.x0_loss_weight(steps).double(), torch.tensor(std_fwd[[0, 999]] ** -2), rtol=1e-6, atol=0
    )
    with pytest.raises(ValueError, match=r"\[0, 999\]"):
        s.x0_loss_weight(torch.tensor([1000]))


def test_ot_ode_has_no_noise():
    s = I2SBScheduler(ot_ode=True)
    x0, x1 = torch.randn(2, 2, 3, 4, 4).unbind(0)
    t = torch.tensor([300, 700])
    torch.testing.assert_close(s.sample_bridge(x0, x1, t, torch.randn_like(x0)), s.sample_bridge(x0, x1, t))


def test_sample_timesteps_range_and_determinism():
    s = I2SBScheduler()
    t = s.sample_timesteps(20000, generator=torch.Generator().manual_seed(1))
    assert t.dtype == torch.long and t.min() == 0 and t.max() == 999
    assert torch.equal(t, s.sample_timesteps(20000, generator=torch.Generator().manual_seed(1)))
    with pytest.raises(TypeError, match="integer"):
        s.sample_bridge(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.tensor([0.5]))
    with pytest.raises(ValueError, match=r"\[0, 999\]"):
        s.sample_bridge(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.tensor([1000]))


# -------------------------------------------------------------------------------------------- sampling
def test_posterior_coefficients_are_ddpm_eq_4():
    s = I2SBScheduler()
    c_x0, c_xt, var = s.posterior_coefficients(800, 300)
    sn2, sp2 = s.std_fwd[800].double() ** 2, s.std_fwd[300].double() ** 2
    assert c_x0 == pytest.approx(float((sn2 - sp2) / sn2), rel=1e-6)
    assert c_xt == pytest.approx(float(sp2 / sn2), rel=1e-6)
    assert var == pytest.approx(float(sp2 * (sn2 - sp2) / sn2), rel=1e-6)


@pytest.mark.parametrize("beta_max", [0.3, 1.0])
def test_prop_3_3_posterior_chain_reproduces_marginal(beta_max):
    """Chaining DDPM posteriors from X_N = X1 with the true X0 gives q(X_n | X0, X1) (Prop. 3.3) by Monte Carlo.

    Tolerances: 65,536 samples give a 0.4% standard error on the variance; the official discrete schedule counts
    beta_n in both sigma_n^2 and sigma_bar_n^2, so sigma^2 + sigma_bar^2 is constant only to ~0.3%, the size of
    the allowed bias.
    """
    s = I2SBScheduler(beta_max=beta_max)
    x0 = torch.full((4096, 1, 4, 4), 0.3, dtype=torch.float64)
    x1 = torch.full_like(x0, -0.5)
    s.set_timesteps(10)
    generator = torch.Generator().manual_seed(0)
    sample = x1
    for t in s.timesteps:
        sample = s.step(oracle_output(s, x0, sample, int(t)).double(), t, sample, generator=generator).prev_sample
        prev = s.previous_timestep(t)
        if prev == 0:
            break
        mean = float(s.mu_x0[prev] * 0.3 + s.mu_x1[prev] * -0.5)
        assert sample.mean().item() == pytest.approx(mean, abs=3e-3)
        assert sample.std().item() == pytest.approx(float(s.std_sb[prev]), rel=0.02)


@pytest.mark.parametrize("ot_ode", [False, True])
@pytest.mark.parametrize("steps", [1, 2, 10, 100, 999])
def test_oracle_network_reaches_x0_at_any_nfe(steps, ot_ode):
    """With the exact target the sampler lands on X0. The official last step to index 0 keeps a fraction
    sigma_0^2 / sigma_n^2 (sigma_0 = 0.01) of X_n, hence the small tolerance (largest at NFE 999, n = 1)."""
    s = I2SBScheduler(ot_ode=ot_ode)
    x0 = torch.rand(2, 3, 8, 8) * 2 - 1
    x1 = (x0 + 0.5 * torch.randn_like(x0)).clamp(-1, 1)
    s.set_timesteps(steps)
    sample = x1
    generator = torch.Generator().manual_seed(0)
    for t in s.timesteps:
        sample = s.step(oracle_output(s, x0, sample, int(t)), t, sample, generator=generator).prev_sample
    assert (sample - x0).abs().mean() < 0.01
    assert (sample - x0).abs().max() < 0.06


def fixed_network(x: torch.Tensor, n: int) -> torch.Tensor:
    """A stand-in for a trained network: a fixed nonlinear function of the sample and the step."""
    return torch.tanh(1.3 * x + 0.2 * torch.sin(5 * x)) + 0.1 * (n / 1000) * x


def package_trajectory(s, x1, steps, seed, mask=None):
    s.set_timesteps(steps)
    generator = torch.Generator().manual_seed(seed)
    sample, trajectory = x1, [x1]
    for t in s.timesteps:
        out = s.step(fixed_network(sample, int(t)), t, sample, generator=generator, endpoint=x1, mask=mask)
        sample = out.prev_sample
        trajectory.append(sample)
    return trajectory


@pytest.mark.parametrize(("beta_max", "ot_ode"), [(0.3, False), (1.0, True), (1.0, False)])
@pytest.mark.parametrize("steps", [1, 3, 20, 22])
@pytest.mark.parametrize("inpaint", [False, True])
def test_every_intermediate_sample_matches_the_official_sampler(beta_max, ot_ode, steps, inpaint):
    """Each sample of the chain (not only the last) against a float64 transcription of the official
    ``ddpm_sampling``/``p_posterior`` fed the same network and the same normal draws, in the same order."""
    x1 = torch.rand(2, 3, 8, 8) * 2 - 1
    mask = None
    if inpaint:
        mask = torch.zeros(2, 1, 8, 8)
        mask[..., 2:6, 1:5] = 1
    s = I2SBScheduler(beta_max=beta_max, ot_ode=ot_ode)
    ours = package_trajectory(s, x1, steps, seed=3, mask=mask)
    stream = torch.Generator().manual_seed(3)
    expected = official.i2sb_sample(
        fixed_network, x1, steps, lambda shape: torch.randn(shape, generator=stream), beta_max, ot_ode, mask
    )
    assert len(ours) == len(expected) == steps + 1
    for position, (a, b) in enumerate(zip(ours, expected, strict=True)):
        torch.testing.assert_close(a.double(), b, atol=2e-5, rtol=1e-5, msg=f"sample {position} of {steps}")


def test_last_step_adds_no_noise_and_is_deterministic():
    s = I2SBScheduler()
    s.set_timesteps(1)
    x, out = torch.randn(2, 1, 3, 4, 4).unbind(0)
    a = s.step(out, 999, x, generator=torch.Generator().manual_seed(0)).prev_sample
    b = s.step(out, 999, x, generator=torch.Generator().manual_seed(1)).prev_sample
    torch.testing.assert_close(a, b)


def test_step_output_equivalence_and_clip_denoise():
    s = I2SBScheduler(clip_denoise=True)
    s.set_timesteps(4)
    x, out = torch.randn(2, 2, 3, 4, 4).unbind(0)
    out = out * 10
    as_dict = s.step(out, 999, x, generator=torch.Generator().manual_seed(0))
    as_tuple = s.step(out, 999, x, generator=torch.Generator().manual_seed(0), return_dict=False)
    torch.testing.assert_close(as_dict.prev_sample, as_tuple[0])
    torch.testing.assert_close(as_dict.pred_original_sample, as_tuple[1])
    assert as_dict.pred_original_sample.abs().max() <= 1.0


def test_inpainting_step_redraws_known_region_from_bridge():
    s = I2SBScheduler()
    s.set_timesteps(4)
    endpoint = torch.rand(1, 3, 8, 8) * 2 - 1
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1
    out = s.step(
        torch.randn(1, 3, 8, 8),
        999,
        endpoint,
        generator=torch.Generator().manual_seed(0),
        endpoint=endpoint,
        mask=mask,
    ).prev_sample
    known = (1 - mask).bool().expand_as(out)
    residual = (out - endpoint)[known]
    assert residual.std().item() == pytest.approx(float(s.std_sb[749]), rel=0.25)
    with pytest.raises(ValueError, match="endpoint"):
        s.step(torch.randn(1, 3, 8, 8), 999, endpoint, mask=mask)


def test_add_noise_points_to_sample_bridge():
    with pytest.raises(NotImplementedError, match="sample_bridge"):
        I2SBScheduler().add_noise(torch.zeros(1), torch.zeros(1), torch.zeros(1))


def test_public_api_and_config_round_trip(tmp_path):
    s = I2SBScheduler(beta_max=1.0, ot_ode=True, timestep_spacing="quadratic")
    assert s.order == 1 and s.init_noise_sigma == 1.0 and len(s) == 1000
    x = torch.randn(1, 3, 4, 4)
    assert s.scale_model_input(x, 5) is x
    s.save_pretrained(tmp_path)
    loaded = I2SBScheduler.from_pretrained(tmp_path)
    public = {key for key in s.config if not key.startswith("_")}
    assert {key: loaded.config[key] for key in public} == {key: s.config[key] for key in public}
    torch.testing.assert_close(loaded.std_fwd, s.std_fwd)
    overridden = I2SBScheduler.from_pretrained(tmp_path, beta_max=0.3)
    assert overridden.std_fwd[-1].item() == pytest.approx(0.37554, abs=1e-4)


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="even"):
        I2SBScheduler(num_train_timesteps=999)
    with pytest.raises(ValueError, match="positive"):
        I2SBScheduler(beta_max=0)
    with pytest.raises(ValueError, match="timestep_spacing"):
        I2SBScheduler(timestep_spacing="karras")
