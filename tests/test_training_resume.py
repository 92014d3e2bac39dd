"""Resuming training from damaged checkpoints: `--resume_from_checkpoint latest` falls back to the newest checkpoint
that loads, with a warning naming the damaged one; checkpoints stay atomic and pruning never drops the one just
written."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bridge_diffusers.training.checkpoints import list_checkpoints, load_checkpoint, save_checkpoint
from conftest import training_script


FAST = [
    "--resolution", "16",
    "--train_batch_size", "2",
    "--num_validation_images", "2",
    "--validation_inference_steps", "2",
    "--dataloader_num_workers", "0",
    "--report_to", "none",
    "--validation_steps", "1000",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    """Each in-process run builds its own Accelerator, as a new process would (accelerate keeps singletons)."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    yield


def run_i2sb(output_dir: Path, photo_dir: Path, *flags: str) -> None:
    script = training_script("i2sb")
    args = ["--output_dir", str(output_dir), "--train_data_dir", str(photo_dir), *FAST, *flags]
    script.main(script.parse_args(args))


def unet_weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "unet" / "diffusion_pytorch_model.safetensors")


def truncate(file: Path) -> None:
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])


@pytest.fixture(scope="module")
def trained(tmp_path_factory, photo_dir):
    """A 3-step I2SB run with a checkpoint at every step, and its final weights: copied by each test."""
    out = tmp_path_factory.mktemp("run") / "run"
    run_i2sb(out, photo_dir, "--max_train_steps", "3", "--checkpointing_steps", "1")
    assert [step for step, _ in list_checkpoints(out)] == [1, 2, 3]
    return out, unet_weights(out)


def _copy(trained, tmp_path) -> Path:
    import shutil

    out = tmp_path / "run"
    shutil.copytree(trained[0], out)
    return out


@pytest.mark.parametrize(
    "damage",
    ["unet/diffusion_pytorch_model.safetensors", "unet_ema/config.json", "optimizer.bin", "scheduler.bin"],
)
def test_latest_falls_back_to_the_newest_loadable_checkpoint(trained, tmp_path, photo_dir, capsys, damage):
    """The newest checkpoint's file is cut in half: the resume warns, names it, loads checkpoint-2 and replays
    step 3, which ends where the uninterrupted run ended (the resume is exact)."""
    out = _copy(trained, tmp_path)
    truncate(out / "checkpoint-3" / damage)
    run_i2sb(out, photo_dir, "--max_train_steps", "3", "--checkpointing_steps", "1", "--resume_from_checkpoint",
             "latest")  # fmt: skip
    printed = capsys.readouterr().out
    assert f"checkpoint {out / 'checkpoint-3'} cannot be loaded" in printed
    assert f"Resuming from {out / 'checkpoint-2'}" in printed
    if damage.endswith((".safetensors", ".json")):  # found by the header check: the file is named
        assert str(out / "checkpoint-3" / damage) in printed
    from bridge_diffusers.training.checkpoints import damaged_file

    resumed = unet_weights(out)
    assert all(torch.allclose(resumed[name], tensor, atol=1e-6) for name, tensor in trained[1].items())
    assert damaged_file(out / "checkpoint-3") is None  # step 3 was saved again, whole


def test_no_loadable_checkpoint_starts_afresh_with_a_warning(trained, tmp_path, photo_dir, capsys):
    out = _copy(trained, tmp_path)
    for step in (1, 2, 3):
        truncate(out / f"checkpoint-{step}" / "unet" / "diffusion_pytorch_model.safetensors")
    run_i2sb(out, photo_dir, "--max_train_steps", "1", "--resume_from_checkpoint", "latest")
    assert "can be loaded: starting a new run" in capsys.readouterr().out


def test_a_named_damaged_checkpoint_is_refused_naming_the_file(trained, tmp_path, photo_dir):
    out = _copy(trained, tmp_path)
    bad = out / "checkpoint-2" / "unet" / "diffusion_pytorch_model.safetensors"
    truncate(bad)
    with pytest.raises(ValueError, match=rf"checkpoint-2 cannot be loaded \({bad} is damaged"):
        run_i2sb(out, photo_dir, "--max_train_steps", "3", "--resume_from_checkpoint", "checkpoint-2")


def test_load_checkpoint_skips_a_checkpoint_that_fails_to_load(tmp_path, capsys):
    """Whatever `load_state` raises (not only what the header check finds) sends the resume to the next newest."""
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    model = accelerator.prepare(torch.nn.Linear(2, 2))
    save_checkpoint(accelerator, tmp_path, 1, None)
    save_checkpoint(accelerator, tmp_path, 2, None)
    loaded = []
    real_load = accelerator.load_state

    def load_state(path):
        if path.endswith("checkpoint-2"):
            raise RuntimeError("unpickling stack underflow")
        loaded.append(path)
        return real_load(path)

    accelerator.load_state = load_state
    assert load_checkpoint(accelerator, tmp_path, "latest") == 1
    assert loaded == [str(tmp_path / "checkpoint-1")]
    assert "unpickling stack underflow" in capsys.readouterr().out
    del model


def test_pruning_keeps_the_checkpoint_just_written(tmp_path):
    """A run resumed from checkpoint-1 while a newer (damaged, abandoned) checkpoint-5 exists: with
    `--checkpoints_total_limit 1` the checkpoint of step 2 must survive, not be pruned in favour of checkpoint-5."""
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    model = accelerator.prepare(torch.nn.Linear(2, 2))
    save_checkpoint(accelerator, tmp_path, 5, None)
    save_checkpoint(accelerator, tmp_path, 1, None)
    save_checkpoint(accelerator, tmp_path, 2, 1)
    assert [step for step, _ in list_checkpoints(tmp_path)] == [2, 5]
    assert not list(tmp_path.glob("*.partial"))  # written to a temporary name and renamed
    del model


def test_damaged_file_names_the_file(tmp_path):
    from accelerate import Accelerator

    from bridge_diffusers.training.checkpoints import damaged_file

    accelerator = Accelerator(cpu=True)
    model = accelerator.prepare(torch.nn.Linear(2, 2))
    folder = save_checkpoint(accelerator, tmp_path, 1, None)
    assert damaged_file(folder) is None
    weights = next(folder.glob("*.safetensors"))
    truncate(weights)
    assert damaged_file(folder) == weights
    del model
