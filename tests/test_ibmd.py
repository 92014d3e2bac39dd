"""IBMD: the objective on a Gaussian problem with a closed-form teacher, student initialisation, and distillation."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import official_reference as official
from bridge_diffusers import (
    I2SBPipeline,
    I2SBScheduler,
    IBMDDegradedInputPipeline,
    IBMDPipeline,
    MeanNetwork,
    NADBPipeline,
    NADBScheduler,
    create_bridge_unet,
)
from bridge_diffusers.pipelines import load_pipeline
from bridge_diffusers.training import hub as hub_module
from bridge_diffusers.training.checkpoints import list_checkpoints
from bridge_diffusers.training.ibmd import fake_model_loss, generator_loss
from conftest import REPO, launch_two_cpu_processes, training_script


# ------------------------------------------------------------------------------------- Gaussian problem
class TimeLinearFake(torch.nn.Module):
    """A fake bridge model that can represent E[x0 | x_t] of any Gaussian coupling: alpha(t) x_t + beta(t), with
    (alpha, beta) a small MLP of t added to the teacher's coefficients (so that it starts as the teacher)."""

    def __init__(self, alpha: torch.Tensor, beta: torch.Tensor):
        super().__init__()
        self.alpha, self.beta = alpha, beta
        self.net = torch.nn.Sequential(torch.nn.Linear(3, 64), torch.nn.Tanh(), torch.nn.Linear(64, 2))
        torch.nn.init.zeros_(self.net[2].weight)
        torch.nn.init.zeros_(self.net[2].bias)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tau = t.float() / 999
        delta = self.net(torch.stack([tau, tau.sqrt(), tau**2], dim=1))
        alpha = (self.alpha[t] + delta[:, 0]).view(-1, 1, 1, 1)
        return alpha * x_t + (self.beta[t] + delta[:, 1]).view(-1, 1, 1, 1)


def test_one_step_student_learns_the_target_distribution_of_a_gaussian_problem():
    """x0 ~ N(mu, s0^2), x1 = x0 + s N(0, 1), an I2SB teacher that is exactly E[x0 | x_t] (closed form), a
    fake model trained by bridge matching (5 updates per generator update, Alg. 1) and a one-step generator
    G(x1, z) = a x1 + b z + c whose noise weight b starts at zero, as IBMD's zero-initialised channels do.

    The target p(x0 | x1) is N(a* x1 + c*, b*^2). The student starts far from it in every parameter (a = c = 0,
    b = 0: collapsed onto a constant) and must recover the slope, the offset and the conditional spread b*, the
    spread only through the fake-model term. Tolerances: 5% on a*, b* and on the generated std, 0.02 on c* and
    the mean (Monte Carlo error of the final check, 20,000 samples: ~0.5%)."""
    torch.manual_seed(0)
    scheduler = I2SBScheduler()
    mu, s0, s = 0.3, 0.5, 0.4
    a_star, b_star = s0**2 / (s0**2 + s**2), math.sqrt(s0**2 * s**2 / (s0**2 + s**2))
    c_star = mu * (1 - a_star)
    # x_t = x0 + mu_x1 s eta + std_sb eps, so E[x0 | x_t] = mu + s0^2 / (s0^2 + v_t) (x_t - mu)
    v_t = (scheduler.mu_x1**2 * s**2 + scheduler.std_sb**2).float()
    alpha, beta = s0**2 / (s0**2 + v_t), mu * (1 - s0**2 / (s0**2 + v_t))

    def teacher(x_t, t):
        return alpha[t].view(-1, 1, 1, 1) * x_t + beta[t].view(-1, 1, 1, 1)

    fake = TimeLinearFake(alpha, beta)
    a, b, c = (torch.nn.Parameter(torch.tensor(0.0)) for _ in range(3))
    generator_optimizer = torch.optim.Adam([a, b, c], lr=1e-2)
    fake_optimizer = torch.optim.Adam(fake.parameters(), lr=3e-3)
    rng = torch.Generator().manual_seed(0)

    def coupling(n):
        x0 = mu + s0 * torch.randn(n, 1, 1, 1, generator=rng)
        return x0 + s * torch.randn(n, 1, 1, 1, generator=rng)

    def generate(x1):
        return a * x1 + b * torch.randn(x1.shape, generator=rng) + c

    for _ in range(600):
        for _ in range(5):
            x1 = coupling(2048)
            with torch.no_grad():
                x0 = generate(x1)
            loss = fake_model_loss(scheduler, fake, x0, x1, rng)
            fake_optimizer.zero_grad()
            loss.backward()
            fake_optimizer.step()
        x1 = coupling(2048)
        fake.requires_grad_(False)
        loss = generator_loss(scheduler, teacher, fake, generate(x1), x1, rng)
        generator_optimizer.zero_grad()
        loss.backward()
        generator_optimizer.step()
        fake.requires_grad_(True)

    assert a.item() == pytest.approx(a_star, rel=0.05)
    assert abs(b.item()) == pytest.approx(b_star, rel=0.05)
    assert c.item() == pytest.approx(c_star, abs=0.02)
    with torch.no_grad():
        samples = generate(coupling(20000))
    assert samples.mean().item() == pytest.approx(mu, abs=0.02)
    assert samples.std().item() == pytest.approx(s0, rel=0.05)


def test_generator_loss_is_zero_when_the_fake_model_equals_the_teacher():
    scheduler = NADBScheduler()
    x0, endpoint = torch.randn(2, 4, 3, 8, 8).unbind(0)

    def model(x_t, t):
        return 0.5 * x_t

    loss = generator_loss(scheduler, model, model, x0, endpoint, torch.Generator().manual_seed(0))
    assert loss.item() == 0.0


def test_fake_loss_equals_the_teachers_training_loss():
    """With lambda = the teacher's weight, the x0-space fake loss is the teacher's target regression."""
    scheduler = I2SBScheduler()
    x0, endpoint, eps = torch.randn(3, 4, 3, 8, 8).unbind(0)

    def network(x_t, t):
        return eps

    def as_x0(x_t, t):
        return scheduler.pred_original_sample(network(x_t, t), t, x_t)

    loss = fake_model_loss(scheduler, as_x0, x0, endpoint, torch.Generator().manual_seed(1))
    rng = torch.Generator().manual_seed(1)
    t = scheduler.sample_timesteps(4, generator=rng)
    x_t = scheduler.sample_bridge(x0, endpoint, t, torch.randn(x0.shape, generator=rng))
    expected = ((eps - scheduler.training_target(x0, endpoint, x_t, t)) ** 2).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("bridge", ["i2sb", "nadb"])
def test_generator_loss_weights_each_time_by_the_teachers_lambda(bridge):
    """The theta-loss is sum lambda(t) (||x0* - x0||^2 - ||x0^phi - x0||^2) with lambda the teacher's own training
    weight, computed here from the official formulas: 1 / std_fwd[t]^2 for I2SB (label (x_t - x0) / std_fwd) and
    target_scale^2 / t^(2 alpha) for NADB (label target_scale (x_t - x0) / t^alpha). The optimum of IBMD does not
    depend on lambda (the Gaussian test above passes with any positive weight), so this is what pins it down."""
    scheduler = I2SBScheduler() if bridge == "i2sb" else NADBScheduler(target_scale=2.0)
    x0, endpoint = torch.randn(2, 64, 1, 2, 2, dtype=torch.float64).unbind(0)

    def teacher(x_t, t):
        return 0.8 * x_t

    def fake(x_t, t):
        return 0.5 * x_t + 0.1

    loss = generator_loss(scheduler, teacher, fake, x0, endpoint, torch.Generator().manual_seed(2))
    rng = torch.Generator().manual_seed(2)
    t = scheduler.sample_timesteps(64, generator=rng)
    x_t = scheduler.sample_bridge(x0, endpoint, t, torch.randn(x0.shape, generator=rng, dtype=x0.dtype))
    if bridge == "i2sb":
        lam = torch.from_numpy(official.i2sb_std_fwd(1000, 0.3))[t] ** -2
    else:
        lam = 4.0 / (t.double() / 1000) ** 0.8
    per_sample = ((teacher(x_t, t) - x0) ** 2 - (fake(x_t, t) - x0) ** 2).mean(dim=(1, 2, 3))
    torch.testing.assert_close(loss.double(), (lam * per_sample).mean(), rtol=1e-5, atol=0)


# ----------------------------------------------------------------------------------- student pipelines
def quiet(pipe):
    pipe.set_progress_bar_config(disable=True)
    return pipe


def i2sb_teacher():
    return quiet(I2SBPipeline(create_bridge_unet(16, cond_x1=True), I2SBScheduler()))


def nadb_teacher():
    return quiet(NADBPipeline(create_bridge_unet(16), NADBScheduler(), MeanNetwork()))


def image():
    return np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)


def mask_image(mask: torch.Tensor) -> np.ndarray:
    """A (1, 1, H, W) hole as the (H, W) float array the pipelines accept."""
    return mask[0, 0].numpy()


@pytest.mark.parametrize("teacher_factory", [i2sb_teacher, nadb_teacher])
def test_untrained_student_reproduces_the_teachers_prediction_exactly(teacher_factory):
    teacher = teacher_factory()
    student = quiet(IBMDPipeline.from_teacher(teacher))
    out = student(image(), generator=torch.Generator().manual_seed(0), output_type="pt").images
    x1 = torch.from_numpy(image()).permute(2, 0, 1)[None] * 2 - 1
    with torch.no_grad():
        endpoint = teacher.mean_net(x1) if isinstance(teacher, NADBPipeline) else x1
        condition = x1 if teacher.cond_x1 else None
        net_input = endpoint if condition is None else torch.cat([endpoint, condition], dim=1)
        t = teacher.scheduler.endpoint_index
        output = teacher.unet(net_input, teacher.scheduler.model_time(torch.tensor([t])).float()).sample
        expected = teacher.scheduler.pred_original_sample(output, t, endpoint)
    torch.testing.assert_close(out, ((expected + 1) / 2).clamp(0, 1), atol=1e-6, rtol=0)


def test_student_sees_the_inputs_it_was_distilled_on_for_an_nadb_cond_x1_teacher_with_a_mask():
    """NADB with cond_x1 and a hole: the endpoint is M(x1) with the known pixels of x1 written in, and the
    conditioning image is the *raw* x1 (the official ``cond_x1``), both in the pipeline and in distillation."""
    teacher = quiet(NADBPipeline(create_bridge_unet(16, cond_x1=True), NADBScheduler(target_scale=2.0), MeanNetwork()))
    student = quiet(IBMDPipeline.from_teacher(teacher))
    x1 = torch.from_numpy(image()).permute(2, 0, 1)[None] * 2 - 1
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 2:10] = 1
    out = student(image(), mask_image(mask), generator=torch.Generator().manual_seed(0), output_type="pt").images

    with torch.no_grad():
        endpoint = mask * teacher.mean_net(x1) + (1 - mask) * x1
        time = torch.tensor([teacher.scheduler.model_time(torch.tensor(1000)).item()])
        output = teacher.unet(torch.cat([endpoint, x1], dim=1), time).sample
        x0 = endpoint - output / 2.0  # t = 1: t^a = 1, and the network predicts 2 * (x_t - x0) / t^a
        expected = mask * x0 + (1 - mask) * x1
    torch.testing.assert_close(out, ((expected + 1) / 2).clamp(0, 1), atol=1e-5, rtol=0)

    # the distillation rollout (the sampling core on the endpoint the trainer prepares) gives the same sample
    inputs = student.prepare_endpoint(x1, mask)
    torch.testing.assert_close(inputs.condition, x1)
    rollout = student.sample(inputs, mask, generator=torch.Generator(), enable_grad=True).sample
    torch.testing.assert_close(rollout.detach(), expected, atol=1e-5, rtol=0)


def test_degraded_input_student_starts_as_the_mean_network():
    teacher = nadb_teacher()
    student = quiet(IBMDDegradedInputPipeline.from_teacher(teacher))
    assert not hasattr(student, "mean_net") and student.config.noise_channels == 3
    out = student(image(), output_type="pt").images
    x1 = torch.from_numpy(image()).permute(2, 0, 1)[None] * 2 - 1
    with torch.no_grad():
        expected = ((teacher.mean_net(x1) + 1) / 2).clamp(0, 1)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match=r"\[1, 1\]"):
        student(image(), num_inference_steps=2)
    with pytest.raises(ValueError, match="mean network of an NADB teacher"):
        IBMDDegradedInputPipeline.from_teacher(i2sb_teacher())
    classical_teacher = quiet(NADBPipeline(create_bridge_unet(16), NADBScheduler(), MeanNetwork(classical="jpeg10")))
    with pytest.raises(ValueError, match="residual"):
        IBMDDegradedInputPipeline.from_teacher(classical_teacher)


def test_a_student_of_a_classical_mean_network_teacher_starts_at_the_classical_restoration():
    # Before training, the student's endpoint is the teacher's M(X1) = C(X1) (+ R = 0): the decoded JPEG itself.
    teacher = quiet(NADBPipeline(create_bridge_unet(16), NADBScheduler(), MeanNetwork(classical="jpeg10")))
    student = quiet(IBMDPipeline.from_teacher(teacher))
    x1 = torch.rand(1, 3, 16, 16) * 2 - 1
    assert torch.equal(student.prepare_endpoint(x1).endpoint, x1)


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_few_step_students_run_and_round_trip(steps, tmp_path):
    student = quiet(IBMDPipeline.from_teacher(nadb_teacher(), num_student_steps=steps))
    first = student(image(), generator=torch.Generator().manual_seed(3), output_type="np").images
    student.save_pretrained(tmp_path)
    loaded = quiet(IBMDPipeline.from_pretrained(tmp_path))
    assert loaded.scheduler.config.num_student_steps == steps
    np.testing.assert_allclose(loaded(image(), generator=torch.Generator().manual_seed(3), output_type="np").images,
                               first, atol=1e-5)  # fmt: skip


# ----------------------------------------------------------------------------------------- distillation
FAST = ["--resolution", "16", "--train_batch_size", "2", "--num_validation_images", "2", "--dataloader_num_workers",
        "0", "--report_to", "none"]  # fmt: skip


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    yield


def run_script(method: str, *flags: str) -> None:
    script = training_script(method)
    script.main(script.parse_args([*FAST, *flags]))


def distil(teacher: Path, output_dir: Path, photo_dir: Path, *flags: str) -> None:
    run_script("ibmd", "--teacher", str(teacher), "--output_dir", str(output_dir), "--train_data_dir", str(photo_dir),
               *flags)  # fmt: skip


@pytest.fixture(scope="module")
def trained_teachers(tmp_path_factory, photo_dir):
    from accelerate.state import AcceleratorState, GradientState

    root = tmp_path_factory.mktemp("teachers")
    data = ["--train_data_dir", str(photo_dir), "--validation_inference_steps", "2"]
    run_script("i2sb", "--output_dir", str(root / "i2sb"), *data, "--cond_x1", "--max_train_steps", "2")
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    run_script(
        "nadb", "--output_dir", str(root / "nadb"), *data, "--max_train_steps", "2", "--mean_max_train_steps", "2"
    )
    return root


def test_distil_an_i2sb_teacher_into_a_one_step_student(trained_teachers, tmp_path, photo_dir):
    out = tmp_path / "student"
    flags = ["--max_train_steps", "2", "--fake_steps_per_generator_step", "2"]
    distil(trained_teachers / "i2sb", out, photo_dir, *flags, "--checkpointing_steps", "1")
    student = quiet(IBMDPipeline.from_pretrained(out))
    assert student.unet.config.in_channels == 9  # x_t, x1 (cond_x1), z
    assert student(image(), output_type="np").images.shape == (1, 16, 16, 3)
    card = (out / "README.md").read_text()
    assert "IBMD" in card and "I2SB pipeline" in card and "2:1" in card and "| psnr |" in card
    assert [step for step, _ in list_checkpoints(out)] == [1, 2]
    # accelerate's state with the generator, its EMA and the fake model as save_pretrained folders
    checkpoint = {path.name for path in (out / "checkpoint-1").iterdir()}
    assert {"unet", "unet_ema", "fake_unet", "optimizer.bin", "optimizer_1.bin", "scheduler_1.bin"} <= checkpoint
    # resuming from the last checkpoint of a finished run writes the same student again
    distil(trained_teachers / "i2sb", out, photo_dir, *flags, "--resume_from_checkpoint", "latest")
    assert (out / "unet" / "diffusion_pytorch_model.fp16.safetensors").exists()


def test_cosine_learning_rate_schedule_drives_the_generator_and_the_fake_model(trained_teachers, tmp_path, photo_dir):
    """--lr_scheduler goes through diffusers' get_scheduler for both optimisers: half-way through a cosine schedule
    (step 1 of 2; the fake model's update 2 of 4) both learning rates are half their base value."""
    out = tmp_path / "cosine"
    distil(trained_teachers / "nadb", out, photo_dir, "--max_train_steps", "2", "--fake_steps_per_generator_step",
           "2", "--checkpointing_steps", "1", "--lr_scheduler", "cosine", "--learning_rate", "1e-4",
           "--fake_learning_rate", "3e-4")  # fmt: skip
    generator_state = torch.load(out / "checkpoint-1" / "optimizer.bin", weights_only=True)
    fake_state = torch.load(out / "checkpoint-1" / "optimizer_1.bin", weights_only=True)
    assert generator_state["param_groups"][0]["lr"] == pytest.approx(0.5e-4)
    assert fake_state["param_groups"][0]["lr"] == pytest.approx(1.5e-4)


def test_two_cpu_processes_distil_and_write_one_student(trained_teachers, tmp_path, photo_dir):
    """DDP over gloo: both processes alternate fake-model and generator updates, validate and finish together."""
    out = tmp_path / "ddp"
    result = launch_two_cpu_processes(REPO / "training" / "train_ibmd.py", "--teacher", str(trained_teachers / "nadb"),
                                      "--output_dir", str(out), "--train_data_dir", str(photo_dir), *FAST,
                                      "--max_train_steps", "2", "--fake_steps_per_generator_step", "1",
                                      "--checkpointing_steps", "2", "--validation_steps", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert [step for step, _ in list_checkpoints(out)] == [2]
    assert sorted(p.name for p in (out / "checkpoint-2").glob("random_states_*")) == [
        "random_states_0.pkl",
        "random_states_1.pkl",
    ]
    assert "| psnr |" in (out / "README.md").read_text()
    assert np.isfinite(quiet(IBMDPipeline.from_pretrained(out))(image(), output_type="np").images).all()


@pytest.mark.parametrize(("student_input", "steps"), [("endpoint", 2), ("degraded", 1)])
def test_distil_an_nadb_teacher(trained_teachers, tmp_path, photo_dir, student_input, steps):
    out = tmp_path / student_input
    distil(trained_teachers / "nadb", out, photo_dir, "--task", "blur-uni", "--max_train_steps", "1",
           "--fake_steps_per_generator_step", "1", "--student_input", student_input, "--num_student_steps",
           str(steps), "--mixed_precision", "bf16")  # fmt: skip
    student = quiet(load_pipeline(out))
    assert isinstance(student, IBMDDegradedInputPipeline if student_input == "degraded" else IBMDPipeline)
    assert (getattr(student, "mean_net", None) is None) == (student_input == "degraded")
    assert np.isfinite(student(image(), output_type="np").images).all()


def test_push_to_hub_without_a_model_id_names_the_repo_after_the_output_folder(
    trained_teachers, tmp_path, photo_dir, monkeypatch
):
    calls = {}

    class Repo:
        repo_id = "me/ibmd-student"

    monkeypatch.setattr(hub_module, "create_repo", lambda **kwargs: calls.setdefault("create", kwargs) and Repo())
    monkeypatch.setattr(hub_module, "upload_folder", lambda **kwargs: calls.setdefault("upload", kwargs))
    out = tmp_path / "ibmd-student"
    distil(trained_teachers / "i2sb", out, photo_dir, "--max_train_steps", "1", "--fake_steps_per_generator_step",
           "1", "--push_to_hub")  # fmt: skip
    assert calls["create"]["repo_id"] == "ibmd-student"
    assert calls["upload"]["repo_id"] == "me/ibmd-student" and calls["upload"]["folder_path"] == str(out)


def test_distillation_flags_are_checked(capsys):
    parse_args = training_script("ibmd").parse_args
    with pytest.raises(SystemExit):
        parse_args(["--output_dir", "o", "--teacher", "t", "--gradient_accumulation_steps", "2"])
    assert "--gradient_accumulation_steps must be 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--output_dir", "o", "--teacher", "t", "--student_input", "degraded", "--num_student_steps", "2"])
    assert "one-step" in capsys.readouterr().err
    assert parse_args(["--output_dir", "o", "--teacher", "t", "--no_noise"]).noise_channels == 0
