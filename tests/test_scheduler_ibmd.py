"""IBMDScheduler: one-step and N-step students read through their teacher's bridge."""

import pytest
import torch

from bridge_diffusers.schedulers import I2SBScheduler, IBMDScheduler, NADBScheduler


def test_from_teacher_copies_the_teacher_config():
    teacher = I2SBScheduler(beta_max=1.0, ot_ode=True)
    student = IBMDScheduler.from_teacher(teacher, num_student_steps=4)
    assert isinstance(student.teacher, I2SBScheduler)
    assert student.teacher.config.beta_max == 1.0 and student.teacher.config.ot_ode
    torch.testing.assert_close(student.teacher.std_fwd, teacher.std_fwd)
    assert student.timesteps.tolist() == [999, 749, 500, 250]
    with pytest.raises(TypeError, match="I2SB or NADB"):
        IBMDScheduler.from_teacher(student)
    with pytest.raises(ValueError, match="teacher_class"):
        IBMDScheduler(teacher_class="DDPMScheduler")


@pytest.mark.parametrize("teacher", [I2SBScheduler(), NADBScheduler()])
def test_one_step_returns_the_generators_x0(teacher):
    student = IBMDScheduler.from_teacher(teacher)
    student.set_timesteps()
    (t,) = student.timesteps.tolist()
    assert t == teacher.endpoint_index
    x_t, out = torch.randn(2, 2, 3, 8, 8).unbind(0)
    result = student.step(out, t, x_t, endpoint=x_t)
    expected = teacher.pred_original_sample(out, t, x_t)
    torch.testing.assert_close(result.prev_sample, expected)
    torch.testing.assert_close(result.pred_original_sample, expected)


def test_n_step_uses_the_teacher_posterior():
    teacher = I2SBScheduler()
    student = IBMDScheduler.from_teacher(teacher, num_student_steps=2)
    teacher.set_timesteps(2)
    x_t, out = torch.randn(2, 2, 3, 8, 8).unbind(0)
    first = student.step(out, 999, x_t, generator=torch.Generator().manual_seed(3)).prev_sample
    reference = teacher.step(out, 999, x_t, generator=torch.Generator().manual_seed(3)).prev_sample
    torch.testing.assert_close(first, reference)
    last = student.step(out, int(student.timesteps[-1]), first).prev_sample
    torch.testing.assert_close(last, teacher.pred_original_sample(out, int(student.timesteps[-1]), first))


def test_nadb_teacher_needs_endpoint_below_threshold_and_oracle_is_exact():
    teacher = NADBScheduler()
    student = IBMDScheduler.from_teacher(teacher, num_student_steps=4)
    x0 = torch.rand(1, 3, 8, 8, dtype=torch.float64) * 2 - 1
    endpoint = x0 + 0.2 * torch.randn_like(x0)
    sample = endpoint
    for t in student.timesteps:
        t_a = (int(t) / 1000) ** 0.4
        sample = student.step((sample - x0) / t_a, t, sample, endpoint=endpoint).prev_sample
    torch.testing.assert_close(sample, x0, atol=1e-9, rtol=0)


def test_inpainting_copies_known_pixels_on_the_last_step():
    student = IBMDScheduler.from_teacher(I2SBScheduler())
    x_t, out = torch.randn(2, 1, 3, 8, 8).unbind(0)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4, :] = 1
    result = student.step(out, 999, x_t, endpoint=x_t, mask=mask).prev_sample
    torch.testing.assert_close(result[..., 4:, :], x_t[..., 4:, :])
    nadb_student = IBMDScheduler.from_teacher(NADBScheduler(), num_student_steps=2)
    assert nadb_student.step(out, 1000, x_t, endpoint=x_t, mask=mask).prev_sample.shape == x_t.shape


def test_more_steps_than_distilled_are_refused_and_fewer_warn(monkeypatch):
    from bridge_diffusers.schedulers import scheduling_ibmd

    warnings = []
    monkeypatch.setattr(scheduling_ibmd.logger, "warning", warnings.append)
    student = IBMDScheduler.from_teacher(I2SBScheduler())
    student.set_timesteps()
    assert warnings == [] and student.timesteps.tolist() == [999]
    with pytest.raises(ValueError, match=r"distilled for 1 step\(s\) and cannot take 3"):
        student.set_timesteps(3)
    with pytest.raises(ValueError, match="cannot take 2"):
        student.set_timesteps(timesteps=[999, 500])
    two_step = IBMDScheduler.from_teacher(NADBScheduler(), num_student_steps=2)
    two_step.set_timesteps(1)
    assert two_step.timesteps.tolist() == [1000]
    assert "distilled for 2 steps" in warnings[0]


def test_training_members_delegate_to_the_teacher():
    teacher = NADBScheduler(target_scale=2.0)
    student = IBMDScheduler.from_teacher(teacher)
    t = torch.tensor([10, 500])
    x0, x1, noise = torch.randn(3, 2, 3, 4, 4).unbind(0)
    torch.testing.assert_close(student.sample_bridge(x0, x1, t, noise), teacher.sample_bridge(x0, x1, t, noise))
    torch.testing.assert_close(student.x0_loss_weight(t), teacher.x0_loss_weight(t))
    torch.testing.assert_close(student.model_time(t), teacher.model_time(t))
    assert len(student) == len(teacher) == 1000


def test_config_round_trip(tmp_path):
    student = IBMDScheduler.from_teacher(NADBScheduler(alpha=0.3, threshold=1.0), num_student_steps=2)
    student.save_pretrained(tmp_path)
    loaded = IBMDScheduler.from_pretrained(tmp_path)
    assert isinstance(loaded.teacher, NADBScheduler)
    assert loaded.teacher.threshold == 1.0 and loaded.teacher.config.alpha == 0.3
    assert loaded.timesteps.tolist() == [1000, 500]
