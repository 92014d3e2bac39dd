"""Super-resolution pipelines upscale: the operator's up-sampling, the pipelines' ``upscale`` argument and the
command line's degrade -> restore round trip at the original size."""

import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from bridge_diffusers import (
    I2SBPipeline,
    I2SBScheduler,
    IBMDDegradedInputPipeline,
    IBMDPipeline,
    IBMDScheduler,
    MeanNetwork,
    NADBPipeline,
    NADBScheduler,
    create_bridge_unet,
    expand_input_channels,
)
from bridge_diffusers.catalogue import card_degradation
from bridge_diffusers.cli import main
from bridge_diffusers.degradations import get_degradation
from bridge_diffusers.pipelines import load_pipeline


SHIPPED = Path(__file__).resolve().parents[1] / "pipelines"


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def _quiet(pipe):
    pipe.set_progress_bar_config(disable=True)
    return pipe


def low_photo(height=5, width=7, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def repeated(photo: np.ndarray, factor: int = 4) -> torch.Tensor:
    """The network's input computed independently: ``[-1, 1]``, each pixel repeated over a factor x factor block."""
    signed = torch.from_numpy(photo).permute(2, 0, 1)[None].double() / 127.5 - 1
    return signed.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3).float()


def identity_i2sb(task: str | None = "sr4x-pool") -> I2SBPipeline:
    """A zero network under OT-ODE returns its input exactly (see test_pipelines): what it restores is what it saw."""
    pipe = I2SBPipeline(create_bridge_unet(16), I2SBScheduler(ot_ode=True), task=task)
    for parameter in pipe.unet.conv_out.parameters():
        torch.nn.init.zeros_(parameter)
    return _quiet(pipe)


# ------------------------------------------------------------------------------------------- the operator
@pytest.mark.parametrize("name", ["sr4x-pool", "sr4x-bicubic"])
def test_the_degradation_is_its_low_resolution_image_upsampled(name):
    operator = get_degradation(name)
    images = torch.rand(2, 3, 16, 24) * 2 - 1
    low = operator.low_resolution(images)
    assert low.shape == (2, 3, 4, 6)
    torch.testing.assert_close(operator.upsample(low), operator(images).degraded, atol=0, rtol=0)
    expected = low[:, :, torch.arange(16) // 4][..., torch.arange(24) // 4]  # pixel (y, x) is low (y // 4, x // 4)
    torch.testing.assert_close(operator.upsample(low), expected, atol=0, rtol=0)
    with pytest.raises(ValueError, match="divisible by 4"):
        operator.low_resolution(images[..., :15, :])


# ------------------------------------------------------------------------------------------ the pipelines
def _i2sb_cond():
    return I2SBPipeline(create_bridge_unet(16, cond_x1=True), I2SBScheduler(), task="sr4x-pool")


def _nadb():
    return NADBPipeline(create_bridge_unet(16, cond_x1=True), NADBScheduler(), MeanNetwork(), task="sr4x-pool")


def _ibmd():
    student = expand_input_channels(create_bridge_unet(16, cond_x1=True), 3)
    return IBMDPipeline(student, IBMDScheduler.from_teacher(I2SBScheduler(), 1), noise_channels=3, task="sr4x-pool")


def _degraded_input():
    return IBMDDegradedInputPipeline.from_teacher(_nadb())


# (factory, the module whose first input holds the degraded image, its channels there)
SPIES = {
    "i2sb": (_i2sb_cond, lambda pipe: pipe.unet, slice(3, 6)),  # [x_t, x1]
    "nadb": (_nadb, lambda pipe: pipe.mean_net, slice(0, 3)),  # M(x1)
    "ibmd": (_ibmd, lambda pipe: pipe.unet, slice(3, 6)),  # [x_t, x1, z]
    "ibmd-degraded": (_degraded_input, lambda pipe: pipe.unet, slice(0, 3)),  # [x1, z]
}


def _first_inputs(module: torch.nn.Module) -> list[torch.Tensor]:
    seen = []
    module.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach().clone()))
    return seen


@pytest.mark.parametrize("name", SPIES)
def test_an_sr_pipeline_upscales_and_its_network_sees_the_repeated_input(name):
    factory, where, channels = SPIES[name]
    pipe = _quiet(factory())
    seen = _first_inputs(where(pipe))
    photo = low_photo()
    out = pipe(photo, generator=seeded(), output_type="np").images
    assert out.shape == (1, 20, 28, 3)
    torch.testing.assert_close(seen[0][:, channels, :20, :28], repeated(photo), atol=1e-6, rtol=0)

    seen.clear()  # upscale=False: an input already up-sampled is restored at its size, as it is
    blocky = np.repeat(np.repeat(photo, 4, axis=0), 4, axis=1)
    out = pipe(blocky, generator=seeded(), output_type="np", upscale=False).images
    assert out.shape == (1, 20, 28, 3)
    torch.testing.assert_close(seen[0][:, channels, :20, :28], repeated(photo), atol=1e-6, rtol=0)
    assert pipe(photo, output_type="pt", upscale=False).images.shape == (1, 3, 5, 7)


def test_upscaled_results_are_the_same_size_restoration_of_the_blocky_image():
    pipe = identity_i2sb()
    photo = low_photo()
    upscaled = pipe(photo, num_inference_steps=3, output_type="pt", upscale=True).images
    torch.testing.assert_close(upscaled * 2 - 1, repeated(photo), atol=1e-5, rtol=0)
    blocky = np.repeat(np.repeat(photo, 4, axis=0), 4, axis=1)
    same = pipe(blocky, num_inference_steps=3, output_type="pt", upscale=False).images
    torch.testing.assert_close(upscaled, same, atol=1e-6, rtol=0)


def test_upscaling_is_refused_where_it_has_no_meaning():
    jpeg = identity_i2sb(task="jpeg10-pillow")
    with pytest.raises(ValueError, match=r"`upscale=True` needs a super-resolution pipeline.*'jpeg10-pillow'"):
        jpeg(low_photo(), upscale=True)
    with pytest.raises(ValueError, match="has no task"):
        identity_i2sb(task=None)(low_photo(), upscale=True)
    assert jpeg(low_photo(), output_type="np").images.shape == (1, 5, 7, 3)  # None: the task decides, no upscaling
    sr = identity_i2sb()
    with pytest.raises(ValueError, match="True, False or None"):
        sr(low_photo(), upscale="yes")
    mask = np.zeros((5, 7), dtype=np.float32)
    with pytest.raises(ValueError, match="mask cannot be combined with upscaling"):
        sr(low_photo(), mask_image=mask)
    blocky_mask = np.zeros((20, 28), dtype=np.float32)
    assert sr(low_photo(20, 28), mask_image=blocky_mask, upscale=False, output_type="np").images.shape[1:3] == (20, 28)
    with pytest.raises(ValueError, match="is not a degradation"):
        I2SBPipeline(create_bridge_unet(16), I2SBScheduler(), task="sr4xpool")


def test_the_shipped_pipelines_know_the_operator_they_were_trained_on():
    folders = sorted(path.parent for path in SHIPPED.glob("*/model_index.json"))
    assert len(folders) == 9
    for folder in folders:
        assert json.loads((folder / "model_index.json").read_text())["task"] == card_degradation(folder), folder
    pipe = _quiet(load_pipeline(SHIPPED / "ibmd-sr4x-pool"))
    assert pipe.task == "sr4x-pool"
    assert pipe(low_photo(), output_type="np").images.shape == (1, 20, 28, 3)


# ---------------------------------------------------------------------------------------- the command line
@pytest.fixture
def sr_pipeline(tmp_path) -> Path:
    identity_i2sb().save_pretrained(tmp_path / "i2sb-sr4x-pool")
    return tmp_path / "i2sb-sr4x-pool"


def _png(path: Path) -> np.ndarray:
    with PIL.Image.open(path) as image:
        return np.asarray(image)


def test_degrade_then_restore_gives_back_the_original_size(sr_pipeline, tmp_path):
    photo = np.random.default_rng(2).integers(0, 256, (36, 44, 3), dtype=np.uint8)
    PIL.Image.fromarray(photo).save(tmp_path / "photo.png")
    main(["degrade", str(tmp_path / "photo.png"), "--task", "sr4x-pool", "-o", str(tmp_path / "low")])
    low = _png(tmp_path / "low" / "photo.png")
    expected_low = photo.reshape(9, 4, 11, 4, 3).astype(np.float64).mean(axis=(1, 3))
    assert low.shape == (9, 11, 3) and np.abs(low - expected_low).max() <= 0.5 + 1e-6
    blocky_folder = str(tmp_path / "blocky")
    main(["degrade", str(tmp_path / "photo.png"), "--task", "sr4x-pool", "--same_size", "-o", blocky_folder])
    blocky = _png(tmp_path / "blocky" / "photo.png")
    np.testing.assert_array_equal(blocky, np.repeat(np.repeat(low, 4, axis=0), 4, axis=1))

    # Tiled restore: the whole image is upscaled first and tiled at the large size (16 px tiles of a 36x44 image);
    # the identity network gives back exactly what it saw.
    main(["restore", str(tmp_path / "low" / "photo.png"), "--pipeline", str(sr_pipeline), "--steps", "2",
          "--tile_size", "16", "--tile_overlap", "4", "-o", str(tmp_path / "restored")])  # fmt: skip
    np.testing.assert_array_equal(_png(tmp_path / "restored" / "photo.png"), blocky)
    main(["restore", str(tmp_path / "blocky" / "photo.png"), "--pipeline", str(sr_pipeline), "--steps", "2",
          "--same_size", "-o", str(tmp_path / "same")])  # fmt: skip
    np.testing.assert_array_equal(_png(tmp_path / "same" / "photo.png"), blocky)


def test_restore_upscales_the_alpha_channel_and_refuses_a_mask(sr_pipeline, tmp_path):
    rgba = np.dstack([low_photo(6, 8), np.full((6, 8), 128, dtype=np.uint8)])
    PIL.Image.fromarray(rgba).save(tmp_path / "clear.png")
    main(["restore", str(tmp_path / "clear.png"), "--pipeline", str(sr_pipeline), "--steps", "1", "--alpha", "keep",
          "-o", str(tmp_path / "out")])  # fmt: skip
    restored = _png(tmp_path / "out" / "clear.png")
    assert restored.shape == (24, 32, 4) and (restored[..., 3] == 128).all()
    PIL.Image.fromarray(np.zeros((6, 8), dtype=np.uint8)).save(tmp_path / "mask.png")
    with pytest.raises(SystemExit, match=r"^error: --mask cannot be used when the sr4x-pool pipeline upscales"):
        main(["restore", str(tmp_path / "clear.png"), "--pipeline", str(sr_pipeline), "--mask",
              str(tmp_path / "mask.png"), "-o", str(tmp_path / "masked")])  # fmt: skip
