"""NADBScheduler against the paper (interpolant, Proposition 1, Algorithm 2) and the official code's algebra."""

import pytest
import torch

import official_reference as official
from bridge_diffusers.schedulers import NADBScheduler, default_threshold


def oracle_output(s: NADBScheduler, x0: torch.Tensor, x_t: torch.Tensor, t: int) -> torch.Tensor:
    """The exact target ``target_scale * (X_t - X0) / t^a`` for a known X0."""
    t_a = (t / s.config.num_train_timesteps) ** s.config.alpha
    return s.config.target_scale * (x_t - x0) / t_a


def run_oracle_sampler(s, x0, endpoint, steps, generator=None):
    s.set_timesteps(steps)
    sample = endpoint
    for t in s.timesteps:
        sample = s.step(oracle_output(s, x0, sample, int(t)), t, sample, generator=generator, endpoint=endpoint)[0]
    return sample


def test_default_threshold_is_official_smallest():
    assert default_threshold(0.4) == pytest.approx(0.375)
    assert NADBScheduler().threshold == pytest.approx(0.375)
    assert NADBScheduler(threshold=1.0).threshold == 1.0
    assert isinstance(NADBScheduler().threshold, float)


def test_proposition_1_noise_vanishes_at_both_ends():
    s = NADBScheduler()
    for fn in (s.input_noise_std, s.target_noise_std):
        assert fn(0.0).item() == 0.0 and fn(1.0).item() == 0.0
        assert fn(0.5).item() > 0
    # Same order of magnitude everywhere: gamma_Y / gamma_X = t^(-a), bounded on [0.01, 1].
    t = torch.linspace(0.01, 0.99, 99, dtype=torch.float64)
    torch.testing.assert_close(s.target_noise_std(t) / s.input_noise_std(t), t.pow(-0.4))
    # I2SB's target noise tends to 1 at t -> 0 while its input noise tends to 0; NADB's both tend to 0.
    assert s.target_noise_std(1e-6).item() < 1e-3


def test_interpolant_and_target_match_the_paper():
    s = NADBScheduler()
    x0, endpoint, z = torch.randn(3, 4, 3, 8, 8).unbind(0)
    n = torch.tensor([1, 250, 999, 1000])
    x_t = s.sample_bridge(x0, endpoint, n, z)
    target = s.training_target(x0, endpoint, x_t, n)
    for i, ni in enumerate(n.tolist()):
        t = ni / 1000
        torch.testing.assert_close(x_t[i], (1 - t**0.4) * x0[i] + t**0.4 * endpoint[i] + 0.75 * t * (1 - t) * z[i])
        # Y_t = (X0_hat - X0) + k t^(1-a) (1-t) Z
        torch.testing.assert_close(
            target[i], (endpoint[i] - x0[i]) + 0.75 * t**0.6 * (1 - t) * z[i], atol=1e-5, rtol=1e-5
        )
    # At t = 1 there is no noise: X_1 = X0_hat.
    torch.testing.assert_close(x_t[3], endpoint[3])
    torch.testing.assert_close(s.pred_original_sample(target, n, x_t), x0, atol=1e-5, rtol=1e-5)


def test_target_scale_two_is_the_official_mean_runner():
    s1, s2 = NADBScheduler(), NADBScheduler(target_scale=2.0)
    x0, endpoint = torch.randn(2, 2, 3, 4, 4).unbind(0)
    n = torch.tensor([100, 700])
    x_t = s1.sample_bridge(x0, endpoint, n, torch.zeros_like(x0))
    torch.testing.assert_close(s2.training_target(x0, endpoint, x_t, n), 2 * s1.training_target(x0, endpoint, x_t, n))
    out = torch.randn_like(x0)
    torch.testing.assert_close(s2.pred_original_sample(2 * out, n, x_t), s1.pred_original_sample(out, n, x_t))
    torch.testing.assert_close(s2.x0_loss_weight(n), 4 * s1.x0_loss_weight(n))


def test_timesteps_and_model_time():
    s = NADBScheduler()
    t = s.sample_timesteps(50000, generator=torch.Generator().manual_seed(0))
    assert t.min() == 1 and t.max() == 1000
    s.set_timesteps(10)
    assert s.timesteps.tolist() == list(range(1000, 0, -100))
    assert s.model_time(torch.tensor(1)).item() == pytest.approx(1.0999, abs=1e-4)
    assert s.model_time(torch.tensor(1000)).item() == pytest.approx(1000.0, abs=1e-3)
    with pytest.raises(ValueError, match=r"\[1, 1000\]"):
        s.sample_bridge(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), torch.tensor([0]))


def test_every_transition_variance_is_non_negative_for_every_nfe():
    s = NADBScheduler()
    for steps in range(1, 1001):
        s.set_timesteps(steps)  # raises on a negative variance
        for t in s.timesteps.tolist():
            assert s.transition_coefficients(t, s.previous_timestep(t))[3] >= -1e-12


def test_bad_threshold_is_refused_at_set_timesteps():
    s = NADBScheduler(threshold=0.1)
    with pytest.raises(ValueError, match=r"negative variance.*0\.375"):
        s.set_timesteps(10)
    s.set_timesteps(1)  # a single step 1 -> 0 has no standard transition below d: valid
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        NADBScheduler(threshold=1.5)
    with pytest.raises(ValueError, match="alpha"):
        NADBScheduler(alpha=1.0)


def test_endpoint_branch_equals_official_abc_form():
    """The official code writes the s < d transition as A*D + B*x_t + C*X0_hat; ours as a combination of
    x0_hat, x_t and X0_hat. They are the same affine map."""
    s = NADBScheduler()
    a = 0.4
    x_t, d_out, endpoint = torch.randn(3, 2, 3, 4, 4, dtype=torch.float64).unbind(0)
    for n, p in [(300, 200), (1000, 100), (370, 10)]:
        t, sp = n / 1000, p / 1000
        w = sp / t
        big_a = t**a * (sp**a - 1 + w - w * t**a)
        official = big_a * d_out + (1 - sp**a + w * t**a) * x_t + (sp**a - w * t**a) * endpoint
        c_x0, c_xt, c_end, _ = s.transition_coefficients(n, p)
        x0_hat = x_t - t**a * d_out
        torch.testing.assert_close(c_x0 * x0_hat + c_xt * x_t + c_end * endpoint, official)
        # and step() applies exactly that map (k = 0 removes the noise)
        s_no_noise = NADBScheduler(k=0.0)
        s_no_noise.set_timesteps(timesteps=[1000, n, p] if n != 1000 else [1000, p])
        torch.testing.assert_close(s_no_noise.step(d_out, n, x_t, endpoint=endpoint).prev_sample, official)


def test_standard_branch_is_x_t_minus_scaled_output():
    s = NADBScheduler(k=0.0)  # no noise: compare means
    s.set_timesteps(timesteps=[1000, 800])
    x_t, d_out = torch.randn(2, 1, 3, 4, 4, dtype=torch.float64).unbind(0)
    out = s.step(d_out, 1000, x_t).prev_sample
    torch.testing.assert_close(out, x_t - (1.0 - 0.8**0.4) * d_out)


@pytest.mark.parametrize("steps", [1, 2, 3, 10, 100, 1000])
@pytest.mark.parametrize("threshold", [None, 1.0])
def test_oracle_network_reaches_x0_exactly_at_any_nfe(steps, threshold):
    s = NADBScheduler(threshold=threshold)
    x0 = torch.rand(2, 3, 8, 8, dtype=torch.float64) * 2 - 1
    endpoint = x0 + 0.3 * torch.randn_like(x0)
    sample = run_oracle_sampler(s, x0, endpoint, steps, torch.Generator().manual_seed(0))
    torch.testing.assert_close(sample, x0, atol=1e-9, rtol=0)


@pytest.mark.parametrize("threshold", [None, 1.0])
def test_chained_transitions_keep_the_interpolant_marginal(threshold):
    """With the exact x0, both transitions keep X_s ~ N((1-s^a) X0 + s^a X0_hat, (k s (1-s))^2) (Monte Carlo,
    65,536 samples: 0.6% standard error on the std, tolerance 3%)."""
    s = NADBScheduler(threshold=threshold)
    x0 = torch.full((4096, 1, 4, 4), 0.2, dtype=torch.float64)
    endpoint = torch.full_like(x0, -0.6)
    s.set_timesteps(8)
    sample, generator = endpoint, torch.Generator().manual_seed(0)
    for t in s.timesteps:
        sample = s.step(oracle_output(s, x0, sample, int(t)), t, sample, generator=generator, endpoint=endpoint)[0]
        sp = s.previous_timestep(t) / 1000
        if sp == 0:
            break
        assert sample.mean().item() == pytest.approx((1 - sp**0.4) * 0.2 + sp**0.4 * -0.6, abs=3e-3)
        assert sample.std().item() == pytest.approx(0.75 * sp * (1 - sp), rel=0.03)


def test_target_and_loss_weight_refuse_index_zero_instead_of_dividing_by_zero():
    """t = 0 is never drawn in training (official ``randint(1, 1001)``); there ``(X_t - X0) / t^a`` is 0/0."""
    s = NADBScheduler(target_scale=2.0)
    x0, endpoint = torch.randn(2, 1, 3, 4, 4).unbind(0)
    with pytest.raises(ValueError, match=r"\[1, 1000\]"):
        s.training_target(x0, endpoint, x0, torch.tensor([0]))
    with pytest.raises(ValueError, match=r"\[1, 1000\]"):
        s.x0_loss_weight(torch.tensor([0, 5]))
    # index 1 (t = 0.001) is the smallest valid time: lambda = 4 / 0.001^0.8, the official label times 2
    assert s.x0_loss_weight(torch.tensor([1])).item() == pytest.approx(4 / 0.001**0.8, rel=1e-6)
    x_t = s.sample_bridge(x0, endpoint, torch.tensor([1]), torch.zeros_like(x0))
    torch.testing.assert_close(s.training_target(x0, endpoint, x_t, torch.tensor([1])), 2 * (endpoint - x0))


def test_every_nfe_gives_the_official_grid():
    """All 1000 step counts against the official ``space_indices(1001, nfe + 1)``; rounding ``i * stride``
    instead of accumulating the stride differs for 50 of them (NFE 48, 96, ...)."""
    s = NADBScheduler()
    for nfe in range(1, 1001):
        s.set_timesteps(nfe)
        assert [0, *s.timesteps.flip(0).tolist()] == official.space_indices(1001, nfe + 1), nfe


def fixed_network(x: torch.Tensor, n: int) -> torch.Tensor:
    """A stand-in for a trained network: a fixed nonlinear function of the sample and the step."""
    return torch.tanh(1.3 * x + 0.2 * torch.sin(5 * x)) + 0.1 * (n / 1000) * x


@pytest.mark.parametrize("steps", [1, 2, 7, 8, 10, 48])
@pytest.mark.parametrize(("threshold", "target_scale"), [(None, 2.0), (1.0, 2.0), (None, 1.0)])
def test_every_intermediate_sample_matches_the_official_sampler(steps, threshold, target_scale):
    """Each sample of the chain (not only the last) against a float64 transcription of the official runner's
    ``p_posterior`` (A D + B x_t + C X0_hat below d), fed the same network and the same normal draws."""
    s = NADBScheduler(threshold=threshold, target_scale=target_scale)
    endpoint = torch.rand(2, 3, 8, 8) * 2 - 1
    s.set_timesteps(steps)
    generator = torch.Generator().manual_seed(5)
    sample, ours = endpoint, [endpoint]
    for t in s.timesteps:
        sample = s.step(fixed_network(sample, int(t)), t, sample, generator=generator, endpoint=endpoint)[0]
        ours.append(sample)
    stream = torch.Generator().manual_seed(5)
    expected = official.nadb_sample(
        fixed_network,
        endpoint,
        steps,
        lambda shape: torch.randn(shape, generator=stream),
        d=threshold,
        target_scale=target_scale,
    )
    assert len(ours) == len(expected) == steps + 1
    for position, (a, b) in enumerate(zip(ours, expected, strict=True)):
        torch.testing.assert_close(a.double(), b, atol=2e-5, rtol=1e-5, msg=f"sample {position} of {steps}")


def test_endpoint_is_required_below_threshold():
    x = torch.randn(1, 3, 4, 4)
    s = NADBScheduler()
    s.set_timesteps(2)
    s.step(x, 1000, x)  # 1 -> 0.5 is a standard transition: no endpoint needed
    s = NADBScheduler(threshold=1.0)
    s.set_timesteps(2)
    with pytest.raises(ValueError, match="endpoint"):
        s.step(x, 1000, x)


def test_inpainting_mask_redraws_known_region_from_interpolant():
    s = NADBScheduler()
    s.set_timesteps(2)
    endpoint = torch.rand(1, 3, 16, 16) * 2 - 1
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., :8, :] = 1
    out = s.step(
        torch.randn(1, 3, 16, 16),
        1000,
        endpoint,
        generator=torch.Generator().manual_seed(0),
        endpoint=endpoint,
        mask=mask,
    ).prev_sample
    residual = (out - endpoint)[..., 8:, :]
    assert residual.std().item() == pytest.approx(0.75 * 0.5 * 0.5, rel=0.2)


def test_config_round_trip(tmp_path):
    s = NADBScheduler(alpha=0.3, k=0.5, threshold=1.0, target_scale=2.0)
    s.save_pretrained(tmp_path)
    loaded = NADBScheduler.from_pretrained(tmp_path)
    assert loaded.threshold == 1.0 and loaded.config.target_scale == 2.0 and loaded.config.alpha == 0.3
    assert NADBScheduler.from_pretrained(tmp_path, threshold=None).threshold == pytest.approx(0.7 / 1.7)
