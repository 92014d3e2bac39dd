"""Official I2SB / NADB checkpoints -> our pipelines (scripts/convert_*_to_diffusers.py, bridge_diffusers.conversion).

The reference is independent of our code: guided-diffusion's own ``UNetModel`` (the original ADM code, pip
``guided-diffusion-sdk``) for the networks, and the official sampling formulas, recomputed here in float64 from the
notes, for the I2SB sampler. Run folders are written in the official formats with tiny random networks.
"""

import argparse
import importlib.util
import itertools
import math
import os
import pickle
import re
import subprocess
import sys
import warnings
from collections import OrderedDict
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
import torch

from bridge_diffusers import I2SBPipeline, NADBPipeline
from bridge_diffusers.conversion import (
    ConversionError,
    convert_adm_unet,
    convert_i2sb,
    load_official_weights,
    load_options,
)
from conftest import subprocess_env


with warnings.catch_warnings():  # guided-diffusion decorates with the deprecated torch.cuda.amp.custom_fwd
    warnings.simplefilter("ignore", FutureWarning)
    from guided_diffusion.unet import UNetModel

REPO = Path(__file__).resolve().parents[1]
SIZE = 16
HEAD_CHANNELS = 16  # 2 heads at 32 channels, 4 at 64: the head layout of the qkv split matters


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


I2SB_SCRIPT = _load_script("convert_i2sb_to_diffusers")
NADB_SCRIPT = _load_script("convert_nadb_to_diffusers")


# ------------------------------------------------------------------------------------------- official runs
def reference_unet(in_channels: int, seed: int, resblock_updown: bool = True, scale_shift: bool = True) -> UNetModel:
    """A reduced ADM UNet (the official layout at 32 channels) whose every weight is random and distinct.

    guided-diffusion zero-initialises the last convolution of each residual block, the attention output and the
    network output; left so, a wrong mapping of the layers feeding them would go unnoticed.
    """
    net = UNetModel(
        image_size=SIZE,
        in_channels=in_channels,
        model_channels=32,
        out_channels=3,
        num_res_blocks=2,
        attention_resolutions=(2, 4),
        channel_mult=(1, 2, 2),
        num_head_channels=HEAD_CHANNELS,
        use_scale_shift_norm=scale_shift,
        resblock_updown=resblock_updown,
    )
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in net.parameters():
            noise = torch.randn(param.shape, generator=generator)
            if param.ndim > 1:
                param.copy_(noise / math.sqrt(param[0].numel()))
            else:  # norm scales around 1, biases around 0
                param.add_(0.2 * noise)
    return net.eval()


def write_checkpoint(path: Path, raw: UNetModel, ema: UNetModel, prefix: str = "diffusion_model.") -> None:
    """The official latest.pt / x10.pt: Image256Net's state dict and a torch_ema state whose shadow params follow
    ``net.parameters()``."""
    torch.save(
        {
            "net": OrderedDict((prefix + key, value) for key, value in raw.state_dict().items()),
            "ema": {
                "decay": 0.99,
                "num_updates": 7,
                "shadow_params": [param.detach().clone() for param in ema.parameters()],
                "collected_params": None,
            },
            "optimizer": torch.optim.AdamW(raw.parameters(), lr=5e-5).state_dict(),
            "sched": None,
        },
        path,
    )


def official_options(**fields) -> argparse.Namespace:
    """What the official train.py pickles: numbers, strings, booleans, None and pathlib paths."""
    options = argparse.Namespace(
        seed=0, name="jpeg-5", ckpt=None, gpu=None, n_gpu_per_node=1, master_address="localhost", node_rank=0,
        num_proc_node=1, image_size=SIZE, corrupt="jpeg-5", t0=1e-4, T=1.0, interval=1000, beta_max=0.3,
        ot_ode=False, clip_denoise=False, cond_x1=False, add_x1_noise=False, batch_size=256, microbatch=2,
        num_itr=1000000, lr=5e-5, lr_gamma=0.99, lr_step=1000, l2_norm=0.0, ema=0.99, dataset_dir=Path("/dataset"),
        log_dir=Path(".log"), log_writer=None, wandb_api_key=None, wandb_user=None, device="cuda:0",
        distributed=False, use_fp16=False, ckpt_path=Path("results/jpeg-5"), load=None, global_rank=0,
        local_rank=0, global_size=1,
    )  # fmt: skip
    vars(options).update(fields)
    return options


def write_options(path: Path, options: argparse.Namespace) -> None:
    with path.open("wb") as handle:
        pickle.dump(options, handle, protocol=4)  # the default of the official Python 3.8


def i2sb_run(folder: Path, raw: UNetModel, ema: UNetModel, **fields) -> Path:
    folder.mkdir(parents=True)
    write_checkpoint(folder / "latest.pt", raw, ema)
    write_options(folder / "options.pkl", official_options(**fields))
    return folder / "latest.pt"


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return float((ours.double() - reference.double()).norm() / reference.double().norm())


def random_inputs(channels: int, seed: int, levels: torch.Tensor, batch: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, SIZE, SIZE, generator=generator)
    steps = torch.randint(0, len(levels), (batch,), generator=generator)
    return x, levels[steps]


# Official time inputs: I2SB linspace(t0, T, interval) * interval, NADB linspace(t0, T, 1001) * 1000.
I2SB_LEVELS = torch.linspace(1e-4, 1.0, 1000) * 1000
NADB_LEVELS = torch.linspace(1e-4, 1.0, 1001) * 1000


# ---------------------------------------------------------------------------------------------- networks
@pytest.mark.parametrize("cond_x1", [False, True])
def test_i2sb_script_converts_the_ema_network_exactly(tmp_path, cond_x1):
    channels = 6 if cond_x1 else 3
    raw, ema = reference_unet(channels, seed=1), reference_unet(channels, seed=2)
    checkpoint = i2sb_run(tmp_path / "jpeg-5", raw, ema, beta_max=1.0, ot_ode=True, cond_x1=cond_x1)
    dump = tmp_path / "converted"
    argv = ["--checkpoint_path", str(checkpoint), "--dump_path", str(dump), "--num_head_channels", "16"]
    assert I2SB_SCRIPT.main(argv) == 0

    pipe = I2SBPipeline.from_pretrained(dump)
    assert pipe.cond_x1 is cond_x1
    assert pipe.scheduler.config.beta_max == 1.0 and pipe.scheduler.config.ot_ode  # from options.pkl
    assert (dump / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    x, times = random_inputs(channels, seed=3, levels=I2SB_LEVELS)
    with torch.no_grad():
        ours, official, official_raw = pipe.unet(x, times).sample, ema(x, times), raw(x, times)
    assert relative_error(ours, official) <= 1e-4
    assert relative_error(official_raw, official) > 0.1  # so that taking the raw weights would fail

    card = (dump / "README.md").read_text()
    assert "license: other" in card and "license_name: i2sb-checkpoints-cc-by-nc-sa-4.0" in card
    assert "CC-BY-NC-SA-4.0" in card and "NVIDIA Source Code License-NC" in card
    assert "library_name: bridge-diffusers" in card and "pipeline_tag: image-to-image" in card
    assert "https://github.com/NVlabs/I2SB" in card and "latest.pt" in card and "weights: ema" in card


def test_no_use_ema_takes_the_raw_weights_and_ddp_prefixes_are_stripped(tmp_path):
    raw, ema = reference_unet(3, seed=4), reference_unet(3, seed=5)
    run = tmp_path / "run"
    run.mkdir()
    write_checkpoint(run / "latest.pt", raw, ema, prefix="module.diffusion_model.")
    pipe, info = convert_i2sb(run / "latest.pt", use_ema=False, num_head_channels=HEAD_CHANNELS)
    assert not info.use_ema
    x, times = random_inputs(3, seed=6, levels=I2SB_LEVELS)
    with torch.no_grad():
        assert relative_error(pipe.unet(x, times).sample, raw(x, times)) <= 1e-4


def test_bare_keys_load_as_prefixed_ones(tmp_path):
    raw, ema = reference_unet(3, seed=4), reference_unet(3, seed=5)
    write_checkpoint(tmp_path / "bare.pt", raw, ema, prefix="")
    write_checkpoint(tmp_path / "wrapped.pt", raw, ema)
    bare, wrapped = load_official_weights(tmp_path / "bare.pt"), load_official_weights(tmp_path / "wrapped.pt")
    assert list(bare) == list(raw.state_dict()) == list(wrapped)
    assert all(torch.equal(bare[key], value) for key, value in ema.state_dict().items())


def test_convolutional_resampling_and_additive_time_conditioning_convert_exactly():
    reference = reference_unet(3, seed=7, resblock_updown=False, scale_shift=False)
    unet = convert_adm_unet(reference.state_dict(), num_head_channels=HEAD_CHANNELS, sample_size=SIZE)
    assert unet.config.down_block_types[0] == "DownBlock2D" and unet.config.downsample_type == "conv"
    x, times = random_inputs(3, seed=8, levels=I2SB_LEVELS)
    with torch.no_grad():
        assert relative_error(unet(x, times).sample, reference(x, times)) <= 1e-4


def test_unmapped_or_missing_weights_are_refused():
    weights = reference_unet(3, seed=9).state_dict()
    with pytest.raises(ConversionError, match=r"no counterpart in UNet2DModel: \['label_emb.weight'\]"):
        convert_adm_unet({**weights, "label_emb.weight": torch.zeros(10, 128)}, HEAD_CHANNELS, SIZE)
    without_bias = {key: value for key, value in weights.items() if key != "out.2.bias"}
    with pytest.raises(ConversionError, match=r"missing \['conv_out.bias'\]"):
        convert_adm_unet(without_bias, HEAD_CHANNELS, SIZE)
    with pytest.raises(ConversionError, match="num_head_channels=24 does not divide"):
        convert_adm_unet(weights, 24, SIZE)


# ---------------------------------------------------------------------------------------------- sampling
def space_indices(num_steps: int, count: int) -> list[int]:
    """The official grid: a fractional stride accumulated and rounded."""
    steps, current = [], 0.0
    for _ in range(count):
        steps.append(round(current))
        current += (num_steps - 1) / (count - 1)
    return steps


def official_i2sb_sample(net: UNetModel, x1: torch.Tensor, nfe: int, beta_max: float, noises) -> torch.Tensor:
    """The official sampler from X_999 = X1 with DDPM posteriors, its schedule recomputed in float64."""
    n = 1000
    half = np.linspace(1e-4**0.5, (beta_max / n) ** 0.5, n)[: n // 2] ** 2
    std_fwd = np.sqrt(np.cumsum(np.concatenate([half, half[::-1]])))
    steps = space_indices(n, nfe + 1)
    x = x1.double()
    for prev, step in reversed(list(itertools.pairwise(steps))):
        with torch.no_grad():
            out = net(torch.cat([x.float(), x1], dim=1), I2SB_LEVELS[[step] * len(x1)]).double()
        x0 = x - std_fwd[step] * out
        var_n, var_p = std_fwd[step] ** 2, std_fwd[prev] ** 2
        delta = var_n - var_p
        x = delta / var_n * x0 + var_p / var_n * x
        if prev > 0:
            x = x + math.sqrt(var_p * delta / var_n) * next(noises).double()
    return x


def test_i2sb_pipeline_samples_as_the_official_sampler(tmp_path):
    raw, ema = reference_unet(6, seed=10), reference_unet(6, seed=11)
    checkpoint = i2sb_run(tmp_path / "run", raw, ema, beta_max=0.3, cond_x1=True)
    pipe, _ = convert_i2sb(checkpoint, num_head_channels=HEAD_CHANNELS)
    pipe.set_progress_bar_config(disable=True)
    image = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(12))
    nfe, seed = 5, 13
    ours = pipe(image, num_inference_steps=nfe, generator=torch.Generator().manual_seed(seed), output_type="pt")

    # The pipeline draws one standard normal (B, C, H, W) float32 tensor per noisy step from its generator.
    generator = torch.Generator().manual_seed(seed)
    noises = iter(lambda: torch.randn(image.shape, generator=generator), None)
    official = official_i2sb_sample(ema, image * 2.0 - 1.0, nfe, beta_max=0.3, noises=noises)
    official = ((official + 1.0) / 2.0).clamp(0.0, 1.0)
    assert float(((official > 0) & (official < 1)).double().mean()) > 0.2  # mostly unclamped: the values count
    torch.testing.assert_close(ours.images.double(), official, atol=1e-4, rtol=0)


# ---------------------------------------------------------------------------------------------------- NADB
def test_nadb_cli_converts_the_bridge_and_the_mean_network(tmp_path):
    bridge_raw, bridge_ema = reference_unet(6, seed=14), reference_unet(6, seed=15)
    mean_raw, mean_ema = reference_unet(3, seed=16), reference_unet(3, seed=17)
    run = tmp_path / "nadb-jpeg-5"
    run.mkdir()
    write_checkpoint(run / "latest.pt", bridge_raw, bridge_ema)
    write_checkpoint(run / "x10.pt", mean_raw, mean_ema)
    write_options(run / "options.pkl", official_options(interval=1001, alpha=0.3, k=0.5, cond_x1=True))
    dump = tmp_path / "converted"
    command = [sys.executable, str(REPO / "scripts" / "convert_nadb_to_diffusers.py"), "--checkpoint_path",
               str(run / "latest.pt"), "--dump_path", str(dump), "--num_head_channels", "16"]  # fmt: skip
    result = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr

    pipe = NADBPipeline.from_pretrained(dump)
    config = pipe.scheduler.config
    assert config.target_scale == 2.0 and config.alpha == 0.3 and config.k == 0.5
    assert pipe.scheduler.threshold == pytest.approx((1 - 0.3) / (2 - 0.3))  # the official --d smallest
    assert pipe.mean_net.config.model_time == pytest.approx(float(NADB_LEVELS[1]))

    generator = torch.Generator().manual_seed(18)
    x1 = torch.randn(3, 3, SIZE, SIZE, generator=generator)
    x_t = torch.randn(3, 3, SIZE, SIZE, generator=generator)
    steps = torch.tensor([1000, 431, 17])
    with torch.no_grad():
        # The mean network is called at step index 1, the bridge at noise_levels[step] with the raw degraded x1.
        assert relative_error(pipe.mean_net(x1), mean_ema(x1, NADB_LEVELS[[1, 1, 1]])) <= 1e-4
        official_out = bridge_ema(torch.cat([x_t, x1], dim=1), NADB_LEVELS[steps])
        ours = pipe.unet(torch.cat([x_t, x1], dim=1), pipe.scheduler.model_time(steps)).sample
    assert relative_error(ours, official_out) <= 1e-4
    # The official runner trains on 2 * label and samples with out / 2: x0 = x_t - t^a * out / 2.
    t_a = (steps.double() / 1000) ** 0.3
    official_x0 = x_t.double() - t_a.view(-1, 1, 1, 1) * official_out.double() / 2
    assert relative_error(pipe.scheduler.pred_original_sample(ours, steps, x_t), official_x0) <= 1e-4
    card = (dump / "README.md").read_text()
    assert "license_name: nadb-release-terms" in card and "x10.pt" in card and "non-commercial" in card


def test_nadb_needs_the_mean_network_and_the_official_interval(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    write_checkpoint(run / "latest.pt", reference_unet(3, seed=19), reference_unet(3, seed=20))
    dump = str(tmp_path / "out")
    with pytest.raises(SystemExit, match=r"^error: mean network checkpoint .*x10.pt does not exist"):
        NADB_SCRIPT.main(["--checkpoint_path", str(run / "latest.pt"), "--dump_path", dump])
    write_checkpoint(run / "x10.pt", reference_unet(3, seed=21), reference_unet(3, seed=22))
    write_options(run / "options.pkl", official_options(interval=1000))
    with pytest.raises(SystemExit, match=r"^error: options field 'interval' is 1000"):
        NADB_SCRIPT.main(["--checkpoint_path", str(run / "latest.pt"), "--dump_path", dump])


# ---------------------------------------------------------------------------------------------- options.pkl
class _WritesAFile:
    """Unpickling this would create ``target``."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (self.target, "ran"))


class _Ordered(OrderedDict):
    pass


def test_options_round_trip_with_pure_paths(tmp_path):
    write_options(tmp_path / "options.pkl", official_options(gpu_ids={0, 1}))
    options = load_options(tmp_path / "options.pkl")
    assert options.ckpt_path == PurePosixPath("results/jpeg-5") and options.device == "cuda:0"
    assert options.beta_max == 0.3 and options.gpu_ids == {0, 1} and options.load is None


@pytest.mark.parametrize(
    "payload, refused",
    [
        (lambda target: _WritesAFile(target), "pathlib.Path.write_text"),
        (lambda target: os.system, "system"),
        (lambda target: _Ordered(a=1), "_Ordered"),
        (lambda target: OrderedDict(a=1), "collections.OrderedDict"),
    ],
)
def test_options_unpickler_refuses_other_globals_without_running_them(tmp_path, payload, refused):
    target = tmp_path / "ran.txt"
    write_options(tmp_path / "options.pkl", official_options(extra=payload(target)))
    with pytest.raises(ConversionError, match=f"refused to unpickle .*{re.escape(refused)}"):
        load_options(tmp_path / "options.pkl")
    assert not target.exists()


def test_unsafe_options_stop_the_script(tmp_path):
    target = tmp_path / "ran.txt"
    checkpoint = i2sb_run(tmp_path / "run", reference_unet(3, seed=23), reference_unet(3, seed=24))
    write_options(checkpoint.parent / "options.pkl", official_options(extra=_WritesAFile(target)))
    with pytest.raises(SystemExit, match=r"^error: .*options.pkl: refused to unpickle pathlib.Path.write_text"):
        I2SB_SCRIPT.main(["--checkpoint_path", str(checkpoint), "--dump_path", str(tmp_path / "out")])
    assert not target.exists()


# ------------------------------------------------------------------------------------ defaults and errors
def test_missing_options_use_the_official_defaults_and_flags_override_them(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    write_checkpoint(run / "latest.pt", reference_unet(3, seed=25), reference_unet(3, seed=26))
    pipe, info = convert_i2sb(run / "latest.pt", num_head_channels=HEAD_CHANNELS)
    config = pipe.scheduler.config
    assert (config.num_train_timesteps, config.beta_max, config.ot_ode, config.clip_denoise) == (
        1000,
        0.3,
        False,
        False,
    )
    assert info.settings["beta_max"].source == "official default" and "options" not in info.files

    dump = tmp_path / "out"
    argv = ["--checkpoint_path", str(run / "latest.pt"), "--dump_path", str(dump), "--num_head_channels", "16"]
    I2SB_SCRIPT.main([*argv, "--beta_max", "1.0", "--ot_ode", "--clip_denoise", "--interval", "500", "--no-cond_x1"])
    config = I2SBPipeline.from_pretrained(dump).scheduler.config
    assert (config.num_train_timesteps, config.beta_max, config.ot_ode, config.clip_denoise) == (500, 1.0, True, True)
    assert "| `beta_max` | `1.0` | flag |" in (dump / "README.md").read_text()


def test_runs_we_cannot_represent_are_refused_by_field(tmp_path):
    checkpoint = i2sb_run(tmp_path / "run", reference_unet(3, seed=27), reference_unet(3, seed=28), t0=1e-3)
    with pytest.raises(ConversionError, match=r"options field 't0' is 0\.001"):
        convert_i2sb(checkpoint, num_head_channels=HEAD_CHANNELS)
    write_options(checkpoint.parent / "options.pkl", official_options(cond_x1=True))
    with pytest.raises(ConversionError, match=r"cond_x1=True \(options.pkl\) but the network takes 3 input"):
        convert_i2sb(checkpoint, num_head_channels=HEAD_CHANNELS)


def test_damaged_checkpoints_give_one_line_errors(tmp_path):
    path = tmp_path / "latest.pt"
    argv = ["--checkpoint_path", str(path), "--dump_path", str(tmp_path / "out")]
    path.write_bytes(b"\x80\x02 not a checkpoint")
    with pytest.raises(SystemExit, match=r"^error: .*latest.pt is not a readable PyTorch checkpoint") as error:
        I2SB_SCRIPT.main(argv)
    assert "\n" not in str(error.value)
    torch.save({"net": {}, "options": argparse.Namespace(beta_max=0.3)}, path)
    with pytest.raises(SystemExit, match=r"GLOBAL argparse.Namespace was not an allowed global .*weights_only=True"):
        I2SB_SCRIPT.main(argv)
    torch.save({"model": {}}, path)
    with pytest.raises(SystemExit, match=r"has no 'net' state dict \(found \['model'\]\)"):
        I2SB_SCRIPT.main(argv)
    raw = reference_unet(3, seed=29)
    write_checkpoint(path, raw, raw)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["ema"]["shadow_params"].pop()
    torch.save(checkpoint, path)
    with pytest.raises(SystemExit, match=r"the EMA holds \d+ tensors but 'net' has \d+ entries"):
        I2SB_SCRIPT.main(argv)
    with pytest.raises(SystemExit, match=r"checkpoint .*missing.pt does not exist"):
        I2SB_SCRIPT.main(["--checkpoint_path", str(tmp_path / "missing.pt"), "--dump_path", str(tmp_path / "out")])


def test_scripts_answer_help():
    for script in ("convert_i2sb_to_diffusers.py", "convert_nadb_to_diffusers.py"):
        command = [sys.executable, str(REPO / "scripts" / script), "--help"]
        result = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and "--checkpoint_path" in result.stdout and "--no-use_ema" in result.stdout


def test_the_adm256_preset_is_the_layout_of_the_official_network():
    """The full-size official network (built on the meta device: shapes only, no memory) converts to exactly the
    ``adm256`` preset, and its converted weights fill every parameter of a UNet built from the preset."""
    from bridge_diffusers.conversion import infer_adm_architecture
    from bridge_diffusers.models.bridge_unet import UNET_PRESETS, create_bridge_unet

    with torch.device("meta"):
        official = UNetModel(
            image_size=256, in_channels=3, model_channels=256, out_channels=3, num_res_blocks=2,
            attention_resolutions=(8, 16, 32), channel_mult=(1, 1, 2, 2, 4, 4), num_head_channels=64,
            use_scale_shift_norm=True, resblock_updown=True,
        )  # fmt: skip
        preset = create_bridge_unet(256, preset="adm256")
    config = infer_adm_architecture(official.state_dict()).unet_config(num_head_channels=64, sample_size=256)
    for key, value in UNET_PRESETS["adm256"].items():
        assert config[key] == value, key
    expected = {name: tuple(t.shape) for name, t in preset.state_dict().items()}
    assert sum(math.prod(shape) for shape in expected.values()) == sum(p.numel() for p in official.parameters())
