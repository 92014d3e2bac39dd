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
