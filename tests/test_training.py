"""The training scripts end to end on the CPU: tiny UNets, 16 px crops of a small photo folder, a few steps."""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers import UNet2DModel
from safetensors.torch import load_file
from tensorboard.backend.event_processing import event_accumulator

from bridge_diffusers import I2SBPipeline, NADBPipeline, create_bridge_unet
from bridge_diffusers.training import hub as hub_module
from bridge_diffusers.training.checkpoints import find_checkpoint, list_checkpoints, save_checkpoint, step_generator
from bridge_diffusers.training.losses import masked_mse, psnr_loss
from conftest import REPO, launch_two_cpu_processes, subprocess_env, training_script


SCRIPTS = REPO / "training"
FAST = [
    "--resolution", "16",
    "--train_batch_size", "2",
    "--num_validation_images", "2",
    "--validation_inference_steps", "2",
    "--dataloader_num_workers", "0",
    "--report_to", "none",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    """Each in-process run builds its own Accelerator, as a new process would (accelerate keeps singletons)."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    yield


def parse_args(method: str, *flags: str):
    return training_script(method).parse_args(list(flags))


def run_script(method: str, output_dir: Path, photo_dir: Path, *flags: str) -> None:
    args = ["--output_dir", str(output_dir), "--train_data_dir", str(photo_dir), *FAST, *flags]
    training_script(method).main(training_script(method).parse_args(args))


def unet_weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "unet" / "diffusion_pytorch_model.safetensors")


def event_file(folder: Path) -> event_accumulator.EventAccumulator:
    """The TensorBoard events of a run's logging folder, every scalar and image kept."""
    accumulator = event_accumulator.EventAccumulator(
        str(folder), size_guidance={event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0}
    )
    return accumulator.Reload()


# ------------------------------------------------------------------------------------------------- flags
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--task", "jpeg11"], "unknown --task"),
        (["--dataset_name", "a/b", "--train_data_dir", "."], "not both"),
        (["--conditioning_image_column", "source"], "needs --dataset_name or --train_data_dir"),
        (["--task", "none"], "needs paired data"),
        (["--resolution", "0"], "--resolution must be >= 1"),
        (["--train_data_dir", "/no/such/folder"], "is not a folder"),
        (["--unet_config", "/no/such.json"], "not a readable JSON file"),
        (["--validation_fraction", "1.5"], "validation_fraction"),
    ],
)
def test_bad_flags_fail_fast_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit):
        parse_args("i2sb", "--output_dir", "out", *argv)
    assert message in capsys.readouterr().err


# I2SB's scripts/train.sh (reference notes 1.6): the SDE at beta_max 0.3 for JPEG and 4x SR, the OT-ODE at
# beta_max 1.0 for deblurring and inpainting.
OFFICIAL_I2SB_RECIPES = {
    "jpeg5": (0.3, False),
    "jpeg10": (0.3, False),
    "sr4x-pool": (0.3, False),
    "sr4x-bicubic": (0.3, False),
    "blur-uni": (1.0, True),
    "blur-gauss": (1.0, True),
    "inpaint-center": (1.0, True),
    "inpaint-freeform1020": (1.0, True),
    "inpaint-freeform2030": (1.0, True),
}


@pytest.mark.parametrize(("task", "recipe"), OFFICIAL_I2SB_RECIPES.items())
def test_i2sb_flag_defaults_follow_the_official_recipes(task, recipe):
    args = parse_args("i2sb", "--output_dir", "o", "--task", task)
    assert (args.beta_max, args.ot_ode) == recipe
    # every part of a recipe can be overridden
    flipped = parse_args("i2sb", "--output_dir", "o", "--task", task, "--beta_max", "0.5", "--no-ot_ode")
    assert (flipped.beta_max, flipped.ot_ode) == (0.5, False)
    assert parse_args("i2sb", "--output_dir", "o", "--task", task, "--ot_ode").ot_ode is True


def test_flag_defaults_follow_the_official_recipes():
    nadb = parse_args("nadb", "--output_dir", "o", "--max_train_steps", "7")
    assert (nadb.alpha, nadb.k, nadb.stage, nadb.mean_max_train_steps) == (0.4, 0.75, "both", 7)
    assert parse_args("nadb", "--output_dir", "o", "--no_mean_net").stage == "bridge"
    assert parse_args("i2sb", "--output_dir", "o", "--ema_decay", "0.99").ema_max_decay == 0.99  # alias


# ------------------------------------------------------------------------------------------ end to end
def test_i2sb_trains_and_writes_a_loadable_pipeline_with_a_card(tmp_path, photo_dir):
    out = tmp_path / "i2sb"
    run_script("i2sb", out, photo_dir, "--max_train_steps", "4", "--checkpointing_steps", "1",
               "--checkpoints_total_limit", "2", "--validation_steps", "2")  # fmt: skip
    assert [step for step, _ in list_checkpoints(out)] == [3, 4]
    assert not list(out.glob("*.partial"))
    pipe = I2SBPipeline.from_pretrained(out)
    pipe.set_progress_bar_config(disable=True)
    image = np.random.default_rng(0).random((20, 20, 3), dtype=np.float32)
    assert pipe(image, num_inference_steps=2, output_type="np").images.shape == (1, 20, 20, 3)
    card = (out / "README.md").read_text()
    for expected in ("I2SB", "jpeg10", "photo0", "| psnr |", "--max_train_steps 4", "Limitations", "fp16"):
        assert expected in card
    assert sorted(p.name for p in (out / "validation").iterdir()) == [
        "bridge-step-0000002.png",
        "bridge-step-0000004.png",
    ]
    # an fp16 variant beside the float32 weights, the same weights in half precision
    half = I2SBPipeline.from_pretrained(out, variant="fp16", torch_dtype=torch.float16)
    assert half.unet.dtype == torch.float16
    for name, tensor in half.unet.state_dict().items():
        torch.testing.assert_close(tensor, pipe.unet.state_dict()[name].half())


def test_nadb_trains_the_mean_network_then_the_bridge(tmp_path, photo_dir):
    out = tmp_path / "nadb"
    run_script("nadb", out, photo_dir, "--task", "blur-uni", "--cond_x1", "--max_train_steps", "2",
               "--mean_max_train_steps", "2", "--validation_steps", "2")  # fmt: skip
    assert (out / "mean_net" / "config.json").exists()
    assert "psnr" in json.loads((out / "mean_net" / "validation_metrics.json").read_text())
    pipe = NADBPipeline.from_pretrained(out)
    assert pipe.mean_net is not None and pipe.cond_x1
    assert "mean network psnr" in (out / "README.md").read_text()
    assert {"mean_net", "mean_net_ema"} <= {p.name for p in (out / "mean_checkpoints" / "checkpoint-2").iterdir()}
    # a second run finds the finished mean network (the pipeline's own mean_net folder) and does not train it again
    weights = load_file(out / "mean_net" / "diffusion_pytorch_model.safetensors")
    run_script("nadb", out, photo_dir, "--task", "blur-uni", "--cond_x1", "--max_train_steps", "3",
               "--resume_from_checkpoint", "latest", "--validation_steps", "5")  # fmt: skip
    again = load_file(out / "mean_net" / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(again[name], tensor) for name, tensor in weights.items())
    assert [step for step, _ in list_checkpoints(out / "mean_checkpoints")] == [2]
    assert [step for step, _ in list_checkpoints(out)] == [2, 3]


def test_mean_loss_psnr_trains_the_classical_mean_network_on_another_loss(tmp_path, photo_dir):
    weights = {}
    for loss in ("mse", "psnr"):  # same seed, same batch: only the loss differs
        out = tmp_path / loss
        run_script("nadb", out, photo_dir, "--task", "inpaint-center", "--classical_mean_net", "--stage", "mean",
                   "--mean_loss", loss, "--max_train_steps", "1", "--validation_steps", "5")  # fmt: skip
        weights[loss] = load_file(out / "mean_net" / "diffusion_pytorch_model.safetensors")
    assert set(weights["mse"]) == set(weights["psnr"])
    assert any(not torch.equal(weights["mse"][name], weights["psnr"][name]) for name in weights["mse"])


def test_rerunning_a_finished_run_keeps_the_validation_scores_in_the_card(tmp_path, photo_dir):
    out = tmp_path / "i2sb"
    flags = ["--task", "jpeg10", "--max_train_steps", "2", "--validation_steps", "2"]
    run_script("i2sb", out, photo_dir, *flags)
    first = (out / "README.md").read_text()
    run_script("i2sb", out, photo_dir, *flags, "--resume_from_checkpoint", "latest")  # at the last step: no training
    card = (out / "README.md").read_text()
    assert "| psnr |" in first and "| psnr |" in card and "No validation was run" not in card


def test_nadb_bridge_stage_needs_a_mean_network(tmp_path, photo_dir):
    with pytest.raises(SystemExit, match="needs a trained mean network"):
        run_script("nadb", tmp_path / "x", photo_dir, "--stage", "bridge", "--max_train_steps", "1")


def test_inpainting_with_a_masked_loss_and_bf16(tmp_path, photo_dir):
    out = tmp_path / "inpaint"
    run_script("i2sb", out, photo_dir, "--task", "inpaint-center", "--cond_x1", "--max_train_steps", "2",
               "--validation_steps", "2", "--mixed_precision", "bf16")  # fmt: skip
    assert I2SBPipeline.from_pretrained(out).scheduler.config.beta_max == 1.0


def test_paired_image_folder_and_init_unet(tmp_path, photo_dir):
    data = tmp_path / "pairs"
    (data / "clean").mkdir(parents=True)
    (data / "source").mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for i in range(6):
        clean = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
        PIL.Image.fromarray(clean).save(data / "clean" / f"{i}.png")
        PIL.Image.fromarray(255 - clean).save(data / "source" / f"{i}.png")
        lines.append(json.dumps({"file_name": f"clean/{i}.png", "conditioning_image_file_name": f"source/{i}.png"}))
    (data / "metadata.jsonl").write_text("\n".join(lines))
    create_bridge_unet(16).save_pretrained(tmp_path / "init")
    out = tmp_path / "translation"
    run_script("i2sb", out, data, "--task", "none", "--conditioning_image_column", "conditioning_image",
               "--cache_dir", str(tmp_path / "cache"), "--init_unet", str(tmp_path / "init"), "--cond_x1",
               "--max_train_steps", "2", "--validation_steps", "2")  # fmt: skip
    unet = UNet2DModel.from_pretrained(out / "unet")
    assert unet.config.in_channels == 6
    assert "paired data" in (out / "README.md").read_text()


# --------------------------------------------------------------------------------------------- resume
def test_killed_run_resumes_and_matches_the_uninterrupted_run(tmp_path, photo_dir):
    """SIGKILL after the first checkpoint, resume with `latest`: the final weights equal those of a run that was
    never interrupted (CPU, 0 workers; tolerance 1e-6, float32 summation-order noise)."""
    flags = ["--max_train_steps", "30", "--checkpointing_steps", "3", "--validation_steps", "1000"]
    run_script("i2sb", tmp_path / "straight", photo_dir, *flags)

    out = tmp_path / "killed"
    command = [sys.executable, str(SCRIPTS / "train_i2sb.py"), "--output_dir", str(out), "--train_data_dir",
               str(photo_dir), *FAST, *flags]  # fmt: skip
    process = subprocess.Popen(command, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list_checkpoints(out) and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    completed = [step for step, _ in list_checkpoints(out)]
    assert completed and completed[-1] < 30, f"the run was not interrupted mid-way: {completed}"
    assert not (out / "model_index.json").exists()

    run_script("i2sb", out, photo_dir, *flags, "--resume_from_checkpoint", "latest")
    straight, resumed = unet_weights(tmp_path / "straight"), unet_weights(out)
    worst = max((resumed[name] - tensor).abs().max().item() for name, tensor in straight.items())
    assert worst <= 1e-6, f"largest weight difference {worst:.3g}"


def test_resume_from_an_accelerate_checkpoint_restores_the_unet_and_its_ema(tmp_path, photo_dir):
    """A checkpoint is an `accelerator.save_state` folder with the UNet and its EMA as `save_pretrained` folders (no
    pickled EMA); resuming another run from it (`load_state` and the load hook) ends where the first run ended."""
    first = tmp_path / "first"
    run_script("i2sb", first, photo_dir, "--max_train_steps", "3", "--checkpointing_steps", "1")
    checkpoint = first / "checkpoint-1"
    assert {"optimizer.bin", "scheduler.bin", "random_states_0.pkl", "unet", "unet_ema"} <= {
        p.name for p in checkpoint.iterdir()
    }
    assert not list(checkpoint.rglob("*.pt")) and not list(checkpoint.glob("model*.safetensors"))
    ema_config = json.loads((checkpoint / "unet_ema" / "config.json").read_text())
    assert ema_config["optimization_step"] == 1
    assert UNet2DModel.from_pretrained(checkpoint / "unet").config.sample_size == 16

    second = tmp_path / "second"
    run_script("i2sb", second, photo_dir, "--max_train_steps", "3", "--resume_from_checkpoint", str(checkpoint))
    assert (second / "checkpoint-3").is_dir() and not (second / "checkpoint-1").exists()
    expected, resumed = unet_weights(first), unet_weights(second)
    assert all(torch.equal(resumed[name], tensor) for name, tensor in expected.items())


def test_resume_from_a_named_checkpoint_and_bad_names(tmp_path, photo_dir):
    out = tmp_path / "run"
    run_script("i2sb", out, photo_dir, "--max_train_steps", "2", "--checkpointing_steps", "1", "--validation_steps",
               "10")  # fmt: skip
    assert find_checkpoint(out, "checkpoint-1") == (1, out / "checkpoint-1")
    with pytest.raises(ValueError, match="not a complete checkpoint"):
        find_checkpoint(out, "checkpoint-9")
    assert find_checkpoint(tmp_path / "empty", "latest") is None


def test_a_crash_while_saving_never_leaves_a_loadable_looking_checkpoint(tmp_path):
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    model = accelerator.prepare(torch.nn.Linear(2, 2))
    (tmp_path / "checkpoint-7.partial").mkdir()  # debris of an earlier crash
    save_checkpoint(accelerator, tmp_path, 5, None)
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint-5"]

    def crash(directory):
        Path(directory).mkdir(parents=True)
        (Path(directory) / "model.safetensors").write_bytes(b"half a file")
        raise KeyboardInterrupt("killed mid-write")

    accelerator.save_state = crash
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(accelerator, tmp_path, 6, None)
    assert find_checkpoint(tmp_path, "latest")[0] == 5
    del model


# -------------------------------------------------------------------------------------- multi-process
def test_two_cpu_processes_train_and_log_the_loss_averaged_over_processes(tmp_path, photo_dir):
    """DDP over gloo on the CPU: both processes train, sync, validate and finish; one checkpoint is written; the
    logged loss of each step is the mean of the two processes' losses (read from their debug lines)."""
    out = tmp_path / "ddp"
    flags = ["--output_dir", str(out), "--train_data_dir", str(photo_dir), *FAST[:-2], "--max_train_steps", "3",
             "--checkpointing_steps", "3", "--validation_steps", "2", "--report_to", "tensorboard"]  # fmt: skip
    result = launch_two_cpu_processes(SCRIPTS / "train_i2sb.py", *flags, env={"ACCELERATE_LOG_LEVEL": "DEBUG"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert [p.name for p in out.glob("checkpoint-*")] == ["checkpoint-3"]
    assert sorted(p.name for p in (out / "checkpoint-3").glob("random_states_*")) == [
        "random_states_0.pkl",
        "random_states_1.pkl",
    ]
    assert "batch 4" in (out / "README.md").read_text()  # 2 per process x 2 processes
    assert I2SBPipeline.from_pretrained(out) is not None

    losses = {}  # (process, micro-step) -> loss
    for process, step, value in re.findall(r"process (\d) micro-step (\d+) loss (\S+)", result.stderr):
        losses[int(process), int(step)] = float(value)
    logged = {event.step: event.value for event in event_file(out / "logs" / "train_i2sb").Scalars("bridge/loss")}
    assert sorted(logged) == [1, 2, 3]
    for step, value in logged.items():
        own = [losses[process, step - 1] for process in (0, 1)]
        assert abs(own[0] - own[1]) > 1e-4  # the processes see different data and noise
        assert value == pytest.approx(sum(own) / 2, rel=1e-5)


# ------------------------------------------------------------------------------------------ pieces
def test_push_to_hub_creates_the_repo_and_uploads_the_folder(tmp_path, photo_dir, monkeypatch):
    calls = {}

    class Repo:
        repo_id = "me/my-bridge"

    monkeypatch.setattr(hub_module, "create_repo", lambda **kwargs: calls.setdefault("create", kwargs) and Repo())
    monkeypatch.setattr(hub_module, "upload_folder", lambda **kwargs: calls.setdefault("upload", kwargs))
    out = tmp_path / "my-bridge"
    run_script("i2sb", out, photo_dir, "--max_train_steps", "1", "--validation_steps", "1", "--push_to_hub")
    assert calls["create"]["repo_id"] == "my-bridge" and calls["create"]["exist_ok"]
    assert calls["upload"]["repo_id"] == "me/my-bridge"
    assert calls["upload"]["folder_path"] == str(out)
    assert "checkpoint-*" in calls["upload"]["ignore_patterns"]


def test_masked_mse_is_float32_and_restricted_to_the_hole():
    prediction = torch.randn(2, 3, 4, 4, dtype=torch.bfloat16)
    target = torch.randn(2, 3, 4, 4, dtype=torch.bfloat16)
    assert masked_mse(prediction, target).dtype == torch.float32
    mask = torch.zeros(2, 1, 4, 4)
    assert masked_mse(prediction, target, mask) == 0
    mask[..., :2, :] = 1
    expected = ((prediction.float() - target.float()) ** 2 * mask).mean()
    torch.testing.assert_close(masked_mse(prediction, target, mask), expected)


def test_psnr_loss_is_minus_the_mean_psnr_and_weighs_each_image_by_its_relative_error():
    generator = torch.Generator().manual_seed(0)
    target = torch.rand(3, 3, 8, 8, generator=generator) * 2 - 1
    errors = torch.tensor([1e-3, 1e-2, 1e-1]).view(3, 1, 1, 1) * torch.randn(3, 3, 8, 8, generator=generator)
    prediction = (target + errors).requires_grad_(True)
    # PSNR of [-1, 1] images with peak-to-peak 2: 10 log10(4 / mse); minus its mean, less the constant 10 log10 4
    array_errors = errors.double().numpy().reshape(3, -1)
    psnr = 10 * np.log10(4 / (array_errors**2).mean(axis=1))
    expected = -psnr.mean() + 10 * np.log10(4)
    loss = psnr_loss(prediction, target, floor=0)
    assert abs(loss.item() - expected) < 1e-3
    loss.backward()
    # d loss / d prediction_i = (10 / ln 10) * 2 e_i / (N mse_i) / B: each image's gradient over its own error is
    # 1 / mse_i, so the image with 100x smaller errors pulls 100x harder per unit of error
    per_unit = (prediction.grad / errors).flatten(1).mean(dim=1)
    mse = torch.from_numpy((array_errors**2).mean(axis=1)).float()
    torch.testing.assert_close(per_unit, (10 / np.log(10)) * 2 / (mse * 192) / 3, rtol=1e-3, atol=0)
    # in the hole only: the pixels outside it do not change the loss
    mask = torch.zeros(3, 1, 8, 8)
    mask[..., :4] = 1
    outside = prediction.detach() + (1 - mask) * 5
    assert abs(psnr_loss(outside, target, mask).item() - psnr_loss(prediction.detach(), target, mask).item()) < 1e-5


def test_step_generators_depend_only_on_seed_step_and_process():
    seed = step_generator(0, 5, 0, torch.device("cpu")).initial_seed()
    assert seed == step_generator(0, 5, 0, torch.device("cpu")).initial_seed()
    assert seed != step_generator(0, 6, 0, torch.device("cpu")).initial_seed()
    assert seed != step_generator(0, 5, 1, torch.device("cpu")).initial_seed()


def test_degradations_run_in_the_dataset_reproducibly():
    from bridge_diffusers.data import RandomCropDataset
    from bridge_diffusers.degradations import get_degradation
    from bridge_diffusers.training.data import DegradedDataset

    photos = [np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8) for i in range(2)]
    crops = RandomCropDataset(photos, 32, samples_per_epoch=8)
    pairs = DegradedDataset(crops, get_degradation("inpaint-freeform1020"), seed=3)
    first, again, other = pairs[5], pairs[5], pairs[6]
    assert set(first) == {"pixel_values", "conditioning_pixel_values", "mask"}
    torch.testing.assert_close(first["mask"], again["mask"])
    assert not torch.equal(first["mask"], other["mask"])
    hole = first["mask"].bool().expand_as(first["pixel_values"])
    assert torch.all(first["conditioning_pixel_values"][hole] == 1.0)


def test_accumulation_unet_config_and_tensorboard_logs_with_validation_images(tmp_path, photo_dir):
    config = tmp_path / "unet.json"
    config.write_text(json.dumps({"block_out_channels": [16, 32], "norm_num_groups": 4}))
    out = tmp_path / "acc"
    flags = ["--report_to", "tensorboard", "--unet_config", str(config), "--gradient_accumulation_steps", "2",
             "--max_train_steps", "2", "--validation_steps", "1"]  # fmt: skip
    training_script("i2sb").main(parse_args("i2sb", "--output_dir", str(out), "--train_data_dir", str(photo_dir),
                                            *FAST[:-2], *flags))  # fmt: skip
    assert UNet2DModel.from_pretrained(out / "unet").config.block_out_channels == [16, 32]
    assert "batch 4" in (out / "README.md").read_text()  # 2 per step x 2 accumulated
    events = event_file(out / "logs" / "train_i2sb")
    assert {"bridge/loss", "bridge/lr", "bridge/val_psnr", "bridge/val_ssim"} <= set(events.Tags()["scalars"])
    images = events.Images("bridge/validation")
    assert [image.step for image in images] == [1, 2]
    # the grid: one column per validation image, rows degraded / restored / clean
    assert (images[0].width, images[0].height) == (2 * 16, 3 * 16)


def test_validation_crops_are_spread_over_the_held_out_images():
    """The first crops would all come from one photo: the validation pairs take evenly spaced ones instead."""
    from bridge_diffusers.training.data import _spread

    dataset = [{"pixel_values": torch.tensor([float(i)])} for i in range(24)]  # 6 images x 4 crops
    picked = _spread(dataset, 6, "pixel_values").flatten().tolist()
    assert picked == [0.0, 5.0, 9.0, 14.0, 18.0, 23.0]
    assert _spread(dataset, 100, "pixel_values").shape[0] == 24


def test_no_pickled_checkpoints_anywhere_in_the_repository():
    """Nothing unpickles with `torch.load` and `weights_only` switched off: checkpoints are safetensors and JSON."""
    needle = "weights_only=" + "False"
    offenders = []
    for folder in ("src", "training", "scripts", "tests", "benchmarks", "spaces"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix in (".py", ".sh", ".md") and needle in path.read_text(errors="ignore"):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
