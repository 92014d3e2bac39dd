# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Tests of the classical restorations in ``bridge_diffusers.baselines``.

The quality claims are checked on real photographs: 64x64 crops of three scikit-image photos of the photo folder
(``bash scripts/fetch_photos.sh``), degraded by the official operators (or the named variants) without noise. The
PSNR margins asserted below sit well under the values measured on these crops (quoted next to each test), so they
guard against regressions without being fragile.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bridge_diffusers.baselines import (
    BICUBIC_A,
    CLASSICAL_METHODS,
    WIENER_REGULARIZATION,
    WIENER_REGULARIZATION_8BIT,
    bicubic_upsample,
    bicubic_upsampling_matrix,
    classical_method,
    classical_restore,
    harmonic_inpaint,
    super_resolve,
    wiener_deblur,
    wiener_deconvolve,
)
from bridge_diffusers.degradations import blur_matrix, center_mask, ddrm_blur_svd, get_degradation, list_degradations
from photo_folder import photo_tensor


PHOTOS = ("skimage/astronaut", "skimage/coffee", "skimage/chelsea")
# Top-left corners of the crops, as fractions of the free range of positions.
CROP_POSITIONS = ((0.25, 0.25), (0.5, 0.6), (0.7, 0.3))
BLUR_KERNELS = {"blur-uni": "uniform", "blur-gauss": "gaussian"}


def _seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _psnr(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """Mean PSNR in dB of images in [-1, 1] (peak-to-peak range 2)."""
    mse = (prediction.double() - target.double()).square().flatten(1).mean(dim=1)
    return float((10 * torch.log10(4 / mse)).mean())


@pytest.fixture(scope="module")
def photo_crops() -> torch.Tensor:
    """Nine 64x64 crops of three photos of the photo folder, float32 (9, 3, 64, 64) in [-1, 1]."""
    crops = []
    for name in PHOTOS:
        photo = photo_tensor(name) * 2 - 1
        height, width = photo.shape[-2:]
        for top, left in CROP_POSITIONS:
            row, col = int(top * (height - 64)), int(left * (width - 64))
            crops.append(photo[:, row : row + 64, col : col + 64])
    return torch.stack(crops)


def _smooth_image(height: int, width: int, channels: int = 3) -> torch.Tensor:
    """A (1, C, H, W) float64 image in [-0.8, 0.8]: a different plane and cosine wave per channel."""
    rows = torch.linspace(0, 1, height, dtype=torch.float64)[:, None]
    cols = torch.linspace(0, 1, width, dtype=torch.float64)[None, :]
    planes = [0.4 * (rows - cols * c / 3) + 0.3 * torch.cos(3 * rows + 2 * cols + c) for c in range(channels)]
    return torch.stack(planes)[None].clamp(-0.8, 0.8)


# ------------------------------------------------------------------------------------------------ registry / dispatch
def test_methods_cover_every_registered_task_but_the_mixture():
    assert set(CLASSICAL_METHODS) == set(list_degradations()) - {"mixture"}
    assert CLASSICAL_METHODS["blur-uni"] == "Wiener (Tikhonov) deconvolution"
    assert all(isinstance(method, str) and method for method in CLASSICAL_METHODS.values())


@pytest.mark.parametrize("task", sorted(CLASSICAL_METHODS))
def test_every_task_restores_to_the_input_shape_dtype_and_range(task):
    clean = _smooth_image(32, 48) + 0.05 * torch.randn(2, 3, 32, 48, generator=_seeded(1), dtype=torch.float64)
    clean = clean.clamp(-1, 1).float()
    output = get_degradation(task)(clean, generator=_seeded(2))
    restored = classical_restore(task, output.degraded, mask=output.mask)
    assert restored.shape == clean.shape
    assert restored.dtype == torch.float32
    assert restored.min() >= -1 and restored.max() <= 1
    assert torch.isfinite(restored).all()


@pytest.mark.parametrize("task", ["unknown-task", "mixture", ""])
def test_unsupported_task_error_lists_the_supported_tasks(task):
    images = torch.zeros(1, 3, 16, 16)
    with pytest.raises(ValueError, match="Supported tasks: jpeg5, jpeg10, blur-uni") as error:
        classical_restore(task, images)
    for name in CLASSICAL_METHODS:
        assert name in str(error.value)


def test_task_names_are_case_insensitive_and_accept_registry_aliases():
    degraded = get_degradation("jpeg5")(_smooth_image(16, 16).float()).degraded
    assert torch.equal(classical_restore(" JPEG-5 ", degraded), degraded)
    with pytest.raises(ValueError, match="task name"):
        classical_restore(5, degraded)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((1, 3, 8, 8)),
        torch.zeros(3, 8, 8),
        torch.zeros(1, 3, 8, 8, dtype=torch.uint8),
        torch.zeros(0, 3, 8, 8),
    ],
)
def test_malformed_batches_raise(bad):
    with pytest.raises(ValueError, match="degraded"):
        classical_restore("blur-uni", bad)


def test_non_finite_input_raises():
    images = torch.zeros(1, 3, 8, 8)
    images[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        classical_restore("sr4x-pool", images)


# ------------------------------------------------------------------------------------------------ Wiener
@pytest.mark.parametrize("layout", ["", "-per-channel"])
@pytest.mark.parametrize("task", sorted(BLUR_KERNELS))
def test_wiener_restores_blurred_photos(photo_crops, task, layout):
    # Measured on these crops: blur-uni 14.42 dB -> 32.99 dB, blur-gauss 13.36 dB -> 34.19 dB (tiled, official);
    # blur-uni-per-channel 16.08 dB -> 30.99 dB, blur-gauss-per-channel 14.00 dB -> 35.03 dB.
    task = task + layout
    blurred = get_degradation(task)(photo_crops).degraded
    restored = classical_restore(task, blurred)
    before, after = _psnr(blurred, photo_crops), _psnr(restored, photo_crops)
    assert after > before + 10
    assert after > 28
    assert restored.shape == photo_crops.shape and restored.dtype == photo_crops.dtype
    assert restored.min() >= -1 and restored.max() <= 1


@pytest.mark.parametrize("task", sorted(BLUR_KERNELS))
def test_wiener_regularization_trades_sharpness_for_robustness(photo_crops, task):
    # Noiseless input: the small default beats the 8-bit setting (uni 32.99 vs 26.32 dB, gauss 34.19 vs 30.21 dB).
    # The same input rounded to 8 bits: the default amplifies the rounding noise (uni 18.50 dB, gauss 23.76 dB)
    # and WIENER_REGULARIZATION_8BIT does not (uni 26.11 dB, gauss 29.58 dB).
    blurred = get_degradation(task)(photo_crops).degraded
    quantized = ((blurred + 1) * 127.5).round().clamp(0, 255) / 127.5 - 1
    kernel = BLUR_KERNELS[task]

    def score(images: torch.Tensor, regularization: float) -> float:
        return _psnr(wiener_deblur(images, kernel, regularization), photo_crops)

    assert score(blurred, WIENER_REGULARIZATION) > score(blurred, WIENER_REGULARIZATION_8BIT) + 1
    assert score(quantized, WIENER_REGULARIZATION_8BIT) > score(quantized, WIENER_REGULARIZATION) + 5
    assert score(quantized, WIENER_REGULARIZATION_8BIT) > _psnr(blurred, photo_crops) + 10


@pytest.mark.parametrize("task", sorted(BLUR_KERNELS))
def test_wiener_must_use_the_operator_that_blurred(photo_crops, task):
    # The full kernel without SVD truncation is invertible: uni 19.81 -> 44.46 dB, gauss 22.62 -> 45.64 dB on these
    # crops. Inverting DDRM's per-channel operator instead is worse than doing nothing (16.40 and 13.10 dB).
    kernel = BLUR_KERNELS[task]
    task = f"{task}-per-channel"
    blurred = get_degradation(task, ddrm_compat=False)(photo_crops).degraded
    matched = wiener_deblur(blurred, kernel, ddrm_compat=False, singular_layout="per_channel")
    mismatched = classical_restore(task, blurred)
    assert _psnr(matched, photo_crops) > 40
    assert _psnr(mismatched, photo_crops) < _psnr(blurred, photo_crops)
    # The tiled layout exists only for DDRM's operator.
    with pytest.raises(ValueError, match="needs ddrm_compat=True"):
        wiener_deblur(blurred, kernel, ddrm_compat=False, singular_layout="tiled")


@pytest.mark.parametrize("task", sorted(BLUR_KERNELS))
def test_wiener_inverts_the_tiled_operator_and_the_per_channel_inverse_does_not(photo_crops, task):
    # On noiseless photos blurred by the official (tiled) operator, the nearly unregularised inverse of that operator
    # returns the part of the image outside its null space, up to float32 rounding (measured on [0, 1]: 1.0e-4 for
    # uni, 4.5e-5 for gauss). The inverse of the per-channel operator, the same blur with the singular values given
    # to other coefficients, is far off (1.0 and 0.88 at worst; 11.94 and 16.96 dB against 33.03 and 34.20 dB).
    clean01 = (photo_crops + 1) / 2
    blurred = get_degradation(task)(photo_crops).degraded
    svd = ddrm_blur_svd(64, 64, BLUR_KERNELS[task])
    kept = (svd.singular_values > 0).float()
    assert 0 < kept.mean() < 1  # the operator is singular, and differently in each channel
    assert not torch.equal(kept[0], kept[1])
    # The restorations are clamped to [-1, 1]; so is the target.
    outside_null_space = (svd.v_rows @ (kept * (svd.v_rows.T @ clean01 @ svd.v_cols)) @ svd.v_cols.T).clamp(0, 1)
    matched = wiener_deblur(blurred, BLUR_KERNELS[task], regularization=1e-12)
    per_channel = wiener_deblur(blurred, BLUR_KERNELS[task], regularization=1e-12, singular_layout="per_channel")
    matched_error = ((matched + 1) / 2 - outside_null_space).abs().max().item()
    per_channel_error = ((per_channel + 1) / 2 - outside_null_space).abs().max().item()
    assert matched_error < 5e-4
    assert per_channel_error > 100 * matched_error and per_channel_error > 0.2
    assert _psnr(classical_restore(task, blurred), photo_crops) > _psnr(per_channel, photo_crops) + 10


@pytest.mark.parametrize("layout", ["tiled", "per_channel"])
@pytest.mark.parametrize("task", sorted(BLUR_KERNELS))
@pytest.mark.parametrize("regularization", [0.0, 1e-12])
def test_wiener_inverts_exactly_in_the_row_space(task, regularization, layout):
    # An image whose [0, 1] version lies in the row space of the operator (SVD-truncated) is recovered exactly by
    # the (nearly) unregularised inverse, even though the operator is singular.
    kernel = BLUR_KERNELS[task]
    height, width = 40, 56
    noise = torch.randn(2, 3, height, width, generator=_seeded(3), dtype=torch.float64)
    if layout == "per_channel":
        task = f"{task}-per-channel"
        projectors = []
        for size in (height, width):
            _, s, vh = torch.linalg.svd(blur_matrix(size, kernel, dtype=torch.float64))
            kept = vh[s > 1e-8]
            projectors.append(kept.T @ kept)
            assert kept.shape[0] < size  # the operator really is singular
        images01 = projectors[0] @ (0.5 + 0.1 * noise) @ projectors[1]
        # float64 matrices: exact up to rounding.
        tolerance = 1e-7
    else:
        svd = ddrm_blur_svd(height, width, kernel, dtype=torch.float64)
        kept = (svd.singular_values > 0).double()
        assert kept.mean() < 1
        images01 = svd.v_rows @ (kept * (svd.v_rows.T @ (0.5 + 0.1 * noise) @ svd.v_cols)) @ svd.v_cols.T
        # The official factors are float32 SVDs, orthogonal to about 1e-7, and the inverse divides by singular
        # values down to 0.03^2 (measured error: 6.6e-5).
        tolerance = 2e-4
    images = images01 * 2 - 1
    assert images.abs().max() < 1

    blurred = get_degradation(task)(images).degraded
    restored = wiener_deblur(blurred, kernel, regularization, singular_layout=layout)
    assert restored.dtype == torch.float64
    torch.testing.assert_close(restored, images, atol=tolerance, rtol=0)


def test_unregularized_wiener_returns_the_row_space_part_of_a_photo(photo_crops):
    # What the singular operator destroys (its null space) comes back as zero, the rest exactly.
    clean = photo_crops[:2].double()
    blurred = get_degradation("blur-uni-per-channel")(clean).degraded
    restored01 = wiener_deconvolve(
        (blurred + 1) / 2, blur_matrix(64, "uniform", dtype=torch.float64), blur_matrix(64, "uniform"), 0.0
    )
    _, s, vh = torch.linalg.svd(blur_matrix(64, "uniform", dtype=torch.float64))
    kept = vh[s > 1e-8]
    projector = kept.T @ kept
    expected01 = projector @ ((clean + 1) / 2) @ projector
    torch.testing.assert_close(restored01, expected01, atol=1e-4, rtol=0)
    assert (restored01 - (clean + 1) / 2).abs().max() > 0.05  # the null space part is really missing


@pytest.mark.parametrize("regularization", [0.0, 0.3])
def test_wiener_deconvolve_solves_the_regularized_normal_equations(regularization):
    # Brute force on a small rectangular problem: vec(A X B^T) = kron(A, B) vec(X) for row-major vec.
    generator = _seeded(4)
    rows = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    cols = torch.randn(7, 6, generator=generator, dtype=torch.float64)
    observed = torch.randn(2, 3, 5, 7, generator=generator, dtype=torch.float64)
    operator = torch.kron(rows, cols)
    normal = operator.T @ operator + regularization * torch.eye(operator.shape[1], dtype=torch.float64)
    expected = torch.linalg.solve(normal, operator.T @ observed.reshape(6, 35).T).T.reshape(2, 3, 4, 6)
    torch.testing.assert_close(wiener_deconvolve(observed, rows, cols, regularization), expected)


def test_wiener_rejects_bad_options():
    images = torch.zeros(1, 3, 8, 8)
    for bad in (-1e-3, float("nan"), "small", True):
        with pytest.raises(ValueError, match="regularization"):
            wiener_deblur(images, "gaussian", regularization=bad)
    with pytest.raises(ValueError, match="kernel"):
        wiener_deblur(images, "box")
    with pytest.raises(ValueError, match="singular_layout"):
        wiener_deblur(images, "uniform", singular_layout="interleaved")
    with pytest.raises(ValueError, match="`cols` must be a matrix with 8 rows"):
        wiener_deconvolve(images, torch.eye(8), torch.eye(9))


# ------------------------------------------------------------------------------------------------ super-resolution
@pytest.mark.parametrize("task", ["sr4x-pool", "sr4x-bicubic"])
def test_bicubic_upsampling_beats_the_nearest_neighbour_input(photo_crops, task):
    # Measured on these crops: sr4x-pool 24.64 -> 26.30 dB, sr4x-bicubic 24.55 -> 26.33 dB (26.18 and 26.21 dB with
    # Keys' a = -0.5).
    degraded = get_degradation(task)(photo_crops).degraded
    restored = classical_restore(task, degraded)
    assert _psnr(restored, photo_crops) > _psnr(degraded, photo_crops) + 1
    assert restored.min() >= -1 and restored.max() <= 1


def test_bicubic_upsampling_reproduces_a_linear_ramp_inside():
    # Block means of a ramp are its values at the block centres 4 i + 1.5. Keys' cubic kernel (a = -0.5)
    # reproduces linear functions, so away from the borders (where edge pixels are repeated) the ramp comes back
    # exactly if the low pixels are placed at the block centres; a misplaced grid would leave an error of about
    # a slope or more. The default a = -0.75 reproduces only constants: a ripple of 0.164 x slope per axis.
    rows = torch.arange(64, dtype=torch.float64)[:, None]
    cols = torch.arange(48, dtype=torch.float64)[None, :]
    slopes = (0.012, 0.015)
    ramp = (-0.9 + slopes[0] * rows + slopes[1] * cols).expand(1, 3, 64, 48)
    degraded = get_degradation("sr4x-pool")(ramp).degraded
    interior = (..., slice(8, -8), slice(8, -8))

    keys = super_resolve(degraded, a=-0.5)
    torch.testing.assert_close(keys[interior], ramp[interior], atol=1e-10, rtol=0)
    default = classical_restore("sr4x-pool", degraded)
    ripple = (default[interior] - ramp[interior]).abs().max()
    assert 0.1 * sum(slopes) < ripple < 0.17 * sum(slopes)
    for restored in (keys, default):
        assert (restored - ramp).abs().max() < 0.05  # the borders stay close too
    # The official bicubic operator is also centred on the blocks (its SVD truncation adds a small error).
    degraded = get_degradation("sr4x-bicubic")(ramp).degraded
    restored = super_resolve(degraded, 4, a=-0.5)
    assert (restored[interior] - ramp[interior]).abs().max() < 2e-3


def test_bicubic_matrix_with_torch_parameter_matches_torch_interpolate():
    low = torch.randn(2, 3, 9, 13, generator=_seeded(5), dtype=torch.float64)
    expected = F.interpolate(low, scale_factor=4, mode="bicubic", align_corners=False)
    torch.testing.assert_close(bicubic_upsample(low, 4, a=-0.75), expected)
    assert BICUBIC_A == -0.75
    matrix = bicubic_upsampling_matrix(9, 4, a=-0.5, dtype=torch.float64)
    assert matrix.shape == (36, 9)
    torch.testing.assert_close(matrix.sum(dim=1), torch.ones(36, dtype=torch.float64))


def test_super_resolution_rejects_sizes_not_divisible_by_the_factor():
    with pytest.raises(ValueError, match="divisible"):
        classical_restore("sr4x-pool", torch.zeros(1, 3, 30, 32))
    with pytest.raises(ValueError, match="factor"):
        super_resolve(torch.zeros(1, 3, 32, 32), factor=1)


# ------------------------------------------------------------------------------------------------ JPEG
@pytest.mark.parametrize("task", ["jpeg5", "jpeg10", "jpeg10-pillow"])
def test_jpeg_baseline_returns_the_decoded_image(photo_crops, task):
    degraded = get_degradation(task)(photo_crops).degraded
    restored = classical_restore(task, degraded)
    assert torch.equal(restored, degraded)
    assert restored is not degraded  # a copy: callers may modify it in place


# ------------------------------------------------------------------------------------------------ inpainting
def test_harmonic_fill_reproduces_a_linear_ramp_in_the_center_hole():
    rows = torch.arange(32, dtype=torch.float64)[:, None]
    cols = torch.arange(40, dtype=torch.float64)[None, :]
    ramp = (-0.8 + 0.03 * rows + 0.02 * cols).expand(2, 3, 32, 40)
    output = get_degradation("inpaint-center")(ramp)
    restored = classical_restore("inpaint-center", output.degraded)  # the centre box is the default mask
    torch.testing.assert_close(restored, ramp, atol=1e-5, rtol=0)
    # The error is the solver's: a tighter tolerance brings it down to rounding.
    precise = harmonic_inpaint(output.degraded, output.mask, tolerance=1e-12)
    torch.testing.assert_close(precise, ramp, atol=1e-10, rtol=0)


def test_harmonic_fill_keeps_known_pixels_and_beats_a_mean_fill_on_photos(photo_crops):
    # Measured on these crops: white hole 11.84 dB, known-mean fill 22.52 dB, harmonic fill 30.54 dB.
    output = get_degradation("inpaint-freeform2030")(photo_crops, generator=_seeded(6))
    restored = classical_restore("inpaint-freeform2030", output.degraded, mask=output.mask)
    known = output.mask == 0
    assert torch.equal(restored.masked_select(known), output.degraded.masked_select(known))
    hole, keep = output.mask, 1 - output.mask
    mean_fill = output.degraded * keep + hole * (output.degraded * keep).sum((-2, -1), keepdim=True) / keep.sum(
        (-2, -1), keepdim=True
    )
    assert _psnr(restored, photo_crops) > _psnr(mean_fill, photo_crops) + 1
    assert _psnr(restored, photo_crops) > _psnr(output.degraded, photo_crops) + 10


def test_harmonic_fill_of_an_image_without_known_pixels_is_mid_grey():
    images = torch.rand(1, 3, 8, 8, generator=_seeded(7)) * 2 - 1
    restored = harmonic_inpaint(images, torch.ones(8, 8))
    assert torch.equal(restored, torch.zeros_like(images))


def test_inpainting_mask_checks():
    images = torch.zeros(2, 3, 16, 16)
    with pytest.raises(ValueError, match="pass its `mask`"):
        classical_restore("inpaint-freeform1020", images)
    with pytest.raises(ValueError, match="`mask` must have shape"):
        classical_restore("inpaint-center", images, mask=torch.ones(3, 1, 16, 16))
    with pytest.raises(ValueError, match=r"`mask` must be a torch\.Tensor"):
        harmonic_inpaint(images, np.ones((16, 16)))
    # (H, W) and (1, 1, H, W) masks are shared by the batch.
    mask = center_mask(16, 16)
    torch.testing.assert_close(harmonic_inpaint(images, mask), harmonic_inpaint(images, mask[None, None]))


def test_classical_method_names_a_task_through_its_aliases():
    assert classical_method("JPEG-10") == "none (decoded JPEG)"  # the registry's alias and case rules
    assert classical_method("inpaint-freeform") == "harmonic (Laplace) fill"  # an alias of inpaint-freeform1020
    assert classical_method("mixture") is None  # a registered task without a classical restorer
    with pytest.raises(ValueError, match="Unknown degradation"):
        classical_method("not-a-task")
