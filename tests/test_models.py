"""Bridge UNet helpers and the mean network."""

import pytest
import torch
from diffusers import UNet2DModel

from bridge_diffusers.models import (
    UNET_PRESETS,
    MeanNetwork,
    create_bridge_unet,
    downsample_factor,
    expand_input_channels,
    unet_forward,
)


def test_presets_build_with_the_right_channels():
    unet = create_bridge_unet(16, cond_x1=True, noise_channels=3)
    assert (unet.config.in_channels, unet.config.out_channels) == (9, 3)
    assert downsample_factor(unet) == 2
    assert set(UNET_PRESETS) >= {"tiny", "small", "base", "adm256"}
    assert create_bridge_unet(32, image_channels=1, preset="small").config.in_channels == 1
    with pytest.raises(ValueError, match="Unknown UNet preset"):
        create_bridge_unet(16, preset="huge")


def test_the_restore_preset_keeps_the_rounding_noise_of_a_flat_crop_small():
    """GroupNorm with a tiny eps rescales every feature to unit spread, so 8-bit rounding noise on a flat crop would
    come out as large as real texture; the restore preset's eps keeps it small (at initialisation, output weights
    random so that the output is not zero)."""
    generator = torch.Generator().manual_seed(0)
    flat = 0.3 + torch.randint(-1, 2, (2, 6, 64, 64), generator=generator) * (2 / 255)  # one 8-bit step of noise
    texture = torch.rand(2, 6, 64, 64, generator=generator) * 2 - 1

    def output_spread(norm_eps):
        torch.manual_seed(0)
        unet = create_bridge_unet(64, cond_x1=True, preset="restore", **norm_eps).eval()
        with torch.no_grad():
            return [unet(images, 0).sample.std(dim=(2, 3)).mean().item() for images in (flat, texture)]

    flat_spread, texture_spread = output_spread({})
    assert flat_spread < 0.4 * texture_spread
    flat_spread, texture_spread = output_spread({"norm_eps": 1e-5})  # diffusers' default: noise becomes texture
    assert flat_spread > 0.8 * texture_spread


def test_adm256_preset_matches_the_adm_architecture():
    config = UNET_PRESETS["adm256"]
    assert config["block_out_channels"] == (256, 256, 512, 512, 1024, 1024)
    # attention at 32, 16 and 8 px of a 256 px input: the last three of six levels
    assert config["down_block_types"][3:] == ("AttnDownBlock2D",) * 3
    assert config["resnet_time_scale_shift"] == "scale_shift"
    # residual resampling everywhere (DownBlock2D would resample with a convolution) and 64-channel heads
    assert config["down_block_types"][:3] == ("ResnetDownsampleBlock2D",) * 3
    assert config["up_block_types"][3:] == ("ResnetUpsampleBlock2D",) * 3
    assert config["attention_head_dim"] == 64 and config["attn_norm_num_groups"] == 32


def test_zero_initialised_noise_channels_leave_the_output_unchanged():
    unet = create_bridge_unet(16, cond_x1=True)
    student = expand_input_channels(unet, 3)
    x, cond = torch.randn(2, 2, 3, 16, 16).unbind(0)
    time = torch.tensor([10.0, 900.0])
    with torch.no_grad():
        expected = unet_forward(unet, x, time, condition=cond)
        got = unet_forward(student, x, time, condition=cond, noise=torch.randn(2, 3, 16, 16))
    torch.testing.assert_close(got, expected)
    assert student.conv_in.weight[:, 6:].abs().sum() == 0
    fresh = expand_input_channels(unet, 3, zero_init=False)
    assert fresh.conv_in.weight[:, 6:].abs().sum() > 0
    torch.testing.assert_close(fresh.conv_in.weight[:, :6], unet.conv_in.weight)


def test_unet_forward_checks_channels_and_accepts_scalar_time():
    unet = create_bridge_unet(16)
    x = torch.randn(2, 3, 16, 16)
    assert unet_forward(unet, x, 5.0).shape == x.shape
    with pytest.raises(ValueError, match="takes 3 input channels but got 6"):
        unet_forward(unet, x, 5.0, condition=x)


def test_mean_network_round_trip_and_from_unet(tmp_path):
    mean_net = MeanNetwork()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    mean_net.save_pretrained(tmp_path)
    loaded = MeanNetwork.from_pretrained(tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), mean_net(x))
    assert loaded.config.model_time == pytest.approx(1.0999)
    unet = create_bridge_unet(16)
    wrapped = MeanNetwork.from_unet(unet, model_time=0.0)
    with torch.no_grad():
        torch.testing.assert_close(wrapped(x), unet(x, torch.zeros(2)).sample)
    with pytest.raises(ValueError, match="in_channels"):
        MeanNetwork(unet_config={"in_channels": 6, "out_channels": 3})


def test_mean_network_from_a_pretrained_unet_folder(tmp_path):
    unet = create_bridge_unet(16)
    unet.save_pretrained(tmp_path / "unet")
    wrapped = MeanNetwork.from_unet(UNet2DModel.from_pretrained(tmp_path / "unet"))
    assert wrapped.image_channels == 3


def _pooled_then_nearest(clean: torch.Tensor) -> torch.Tensor:
    """sr4x-pool written out: 4x4 average pooling, then each value repeated over its 4x4 block."""
    low = clean.unflatten(2, (-1, 4)).unflatten(4, (-1, 4)).mean(dim=(3, 5))
    return low.repeat_interleave(4, 2).repeat_interleave(4, 3)


def test_classical_mean_network_starts_as_the_classical_restorer():
    torch.manual_seed(0)
    degraded = torch.rand(2, 3, 16, 16) * 2 - 1
    # JPEG: the classical restorer is the decoded image itself, so an untrained network returns its input.
    jpeg = MeanNetwork(classical="jpeg10")
    assert jpeg.unet.config.in_channels == 6
    with torch.no_grad():
        torch.testing.assert_close(jpeg(degraded), degraded)
    # SR: a smooth image (a plane) pooled and repeated; bicubic upsampling brings the plane back away from the
    # border, which the repeated blocks do not.
    rows, cols = torch.meshgrid(torch.linspace(-0.5, 0.5, 32), torch.linspace(-0.4, 0.6, 32), indexing="ij")
    plane = (rows + cols).expand(1, 3, 32, 32) * 0.8
    blocky = _pooled_then_nearest(plane)
    with torch.no_grad():
        restored = MeanNetwork(classical="sr4x-pool")(blocky)
    inner = (..., slice(6, -6), slice(6, -6))
    assert (restored - plane)[inner].abs().max() < 0.02 < (blocky - plane)[inner].abs().max()


def test_classical_mean_network_adds_the_learned_residual_and_round_trips(tmp_path):
    mean_net = MeanNetwork(classical="jpeg10")
    torch.nn.init.constant_(mean_net.unet.conv_out.bias, 0.25)  # R = 0.25 everywhere
    degraded = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(mean_net(degraded), degraded + 0.25)
    mean_net.save_pretrained(tmp_path)
    loaded = MeanNetwork.from_pretrained(tmp_path)
    assert loaded.config.classical == "jpeg10"
    with torch.no_grad():
        torch.testing.assert_close(loaded(degraded), degraded + 0.25)


def test_classical_mean_network_fills_an_inpainting_hole_from_its_mask():
    # A constant image with a hole filled in white: the harmonic fill of a constant border is that constant.
    degraded = torch.full((1, 3, 16, 16), -0.3)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 5:11, 4:12] = 1
    degraded = torch.where(mask.bool(), torch.ones_like(degraded), degraded)
    with torch.no_grad():
        filled = MeanNetwork(classical="inpaint-freeform")(degraded, mask)
    torch.testing.assert_close(filled, torch.full_like(filled, -0.3), atol=1e-4, rtol=0)


def test_classical_mean_network_refuses_bad_settings():
    with pytest.raises(ValueError, match="twice"):
        MeanNetwork(unet_config={"in_channels": 3, "out_channels": 3}, classical="jpeg10")
    with pytest.raises(ValueError, match="classical restorer"):
        MeanNetwork(classical="not-a-task")
    unet = create_bridge_unet(16, cond_x1=True)
    torch.nn.init.constant_(unet.conv_out.weight, 1.0)
    wrapped = MeanNetwork.from_unet(unet, classical="jpeg10")  # the output layer is zeroed: M starts at C
    assert wrapped.unet.conv_out.weight.abs().sum() == 0
    assert torch.equal(wrapped.unet.conv_in.weight, unet.conv_in.weight)
