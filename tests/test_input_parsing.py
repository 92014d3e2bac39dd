"""What the pipelines accept as images and masks: unambiguous layouts only, every bit depth at its value, and
refusals that name the accepted layouts."""

import numpy as np
import PIL.Image
import pytest
import torch

from bridge_diffusers.pipelines import images_to_tensor, mask_to_tensor


@pytest.mark.parametrize(
    ("shape", "what"),
    [
        ((3, 32, 32), "channels first, read as 3 grayscale images"),
        ((32, 32, 5), "5 channels, read as 32 images of 32x5"),
        ((1, 3, 32, 32), "a channels-first batch"),
        ((2, 32, 32, 2), "two channels"),
    ],
)
def test_an_array_without_a_readable_layout_is_refused_naming_the_layouts(shape, what):
    with pytest.raises(ValueError, match=r"Accepted numpy layouts: \(H, W\), \(H, W, C\) and \(B, H, W, C\)") as error:
        images_to_tensor(np.zeros(shape, dtype=np.float32))
    assert str(shape) in str(error.value) and "np.moveaxis" in str(error.value), what


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((32, 24), (1, 3, 32, 24)),
        ((32, 24, 1), (1, 3, 32, 24)),
        ((32, 24, 3), (1, 3, 32, 24)),
        ((32, 24, 4), (1, 3, 32, 24)),
        ((2, 32, 24, 3), (2, 3, 32, 24)),
        ((2, 32, 24, 1), (2, 3, 32, 24)),
        ((1, 1, 3), (1, 3, 1, 1)),  # a one-pixel RGB image is still (H, W, C)
    ],
)
def test_the_accepted_numpy_layouts(shape, expected):
    array = np.random.default_rng(0).random(shape, dtype=np.float32)
    tensor = images_to_tensor(array)
    assert tuple(tensor.shape) == expected
    channels_last = array if array.ndim == 4 else array[None] if array.ndim == 3 else array[None, ..., None]
    torch.testing.assert_close(tensor[:, 0], torch.from_numpy(channels_last[..., 0]))


def test_a_channels_last_tensor_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"looks channels last.*permute\(2, 0, 1\)"):
        images_to_tensor(torch.rand(32, 24, 3))
    with pytest.raises(ValueError, match=r"Accepted tensor layouts"):
        images_to_tensor(torch.rand(32, 24))
    assert images_to_tensor(torch.rand(3, 32, 24)).shape == (1, 3, 32, 24)


def test_sixteen_bit_images_keep_their_values():
    dark = np.full((8, 8), 200, dtype=np.uint16)  # 200 / 65535: nearly black, whatever its largest value
    image = PIL.Image.fromarray(dark)
    assert image.mode == "I;16"
    torch.testing.assert_close(images_to_tensor(image), torch.full((1, 3, 8, 8), 200 / 65535))
    bright = np.full((8, 8), 60000, dtype=np.uint16)
    torch.testing.assert_close(images_to_tensor(PIL.Image.fromarray(bright)), torch.full((1, 3, 8, 8), 60000 / 65535))
    torch.testing.assert_close(images_to_tensor(dark), torch.full((1, 3, 8, 8), 200 / 65535))  # numpy uint16


def test_a_float_pil_image_in_unit_range_is_taken_as_it_is():
    image = PIL.Image.fromarray(np.full((8, 8), 0.5, dtype=np.float32))
    assert image.mode == "F"
    torch.testing.assert_close(images_to_tensor(image), torch.full((1, 3, 8, 8), 0.5))


def test_boolean_masks_are_accepted():
    hole = np.zeros((8, 8), dtype=bool)
    hole[2:5, 3:6] = True
    mask = mask_to_tensor(hole, 2, (8, 8))
    assert mask.shape == (2, 1, 8, 8) and mask.sum() == 2 * 9
    torch.testing.assert_close(mask_to_tensor(torch.from_numpy(hole)[None], 1, (8, 8)), mask[:1])
