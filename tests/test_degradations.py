# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Tests of the corruption operators in ``bridge_diffusers.degradations``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import torch

from bridge_diffusers.degradations import (
    MIXTURE_COMPONENTS,
    Blur,
    Degradation,
    FreeformMask,
    Inpainting,
    JPEGCompression,
    SuperResolution,
    bicubic_downsampling_matrix,
    bicubic_kernel_taps,
    blur_kernel_taps,
    blur_matrix,
    center_mask,
    ddrm_blur_svd,
    get_degradation,
    jpeg_pil,
    jpeg_simulate,
    list_degradations,
    register_degradation,
)
from bridge_diffusers.degradations.blur import blur_band_matrix


OFFICIAL_NAMES = [
    "jpeg5",
    "jpeg10",
    "blur-uni",
    "blur-gauss",
    "sr4x-pool",
    "sr4x-bicubic",
    "inpaint-center",
    "inpaint-freeform1020",
    "inpaint-freeform2030",
    "mixture",
]
# The variants the shipped jpeg10 / blur-uni pipelines were trained on.
VARIANT_NAMES = ["jpeg5-pillow", "jpeg10-pillow", "blur-uni-per-channel", "blur-gauss-per-channel"]
ALL_NAMES = OFFICIAL_NAMES + VARIANT_NAMES
STOCHASTIC_NAMES = ["inpaint-freeform1020", "inpaint-freeform2030", "mixture"]


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_images(batch: int = 2, channels: int = 3, height: int = 64, width: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, channels, height, width, generator=seeded(seed)) * 2 - 1


def textured_image(height: int = 64, width: int = 64) -> torch.Tensor:
    """A smooth colour image (a few sinusoids per channel) plus a little fixed-seed noise, shape (1, 3, H, W)."""
    ys, xs = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    channels = [
        0.4 * torch.sin(2 * math.pi * (1 + c) * xs + c)
        + 0.3 * torch.cos(2 * math.pi * (1 + c) * ys + 2 * c)
        + 0.15 * torch.sin(2 * math.pi * 3 * (xs + ys) + c)
        for c in range(3)
    ]
    noise = 0.02 * torch.randn(3, height, width, generator=seeded(0))
    return (torch.stack(channels) + noise).clamp(-1, 1)[None]


def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()) ** 2).mean().item()


# ----------------------------------------------------------------------------------------------------- registry


def test_registry_lists_the_official_names_and_the_variants():
    assert sorted(list_degradations()) == sorted(ALL_NAMES)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_name_builds_an_operator_of_that_name(name):
    operator = get_degradation(name)
    assert isinstance(operator, Degradation)
    assert operator.name == name


def test_unknown_name_error_lists_available_names():
    with pytest.raises(ValueError, match="Unknown degradation 'jpeg7'") as error:
        get_degradation("jpeg7")
    for name in ALL_NAMES:
        assert name in str(error.value)


@pytest.mark.parametrize(("alias", "quality"), [("jpeg-5", 5), ("jpeg-10", 10), ("JPEG-10", 10), ("jpeg5", 5)])
def test_jpeg_aliases(alias, quality):
    operator = get_degradation(alias)
    assert isinstance(operator, JPEGCompression)
    assert operator.quality == quality
    assert operator.name == f"jpeg{quality}"


def test_official_parameters_and_overrides():
    assert get_degradation("jpeg10").encoder == "torch"
    assert get_degradation("jpeg10", encoder="pillow").encoder == "pillow"
    assert get_degradation("jpeg10-pillow").encoder == "pillow" and get_degradation("jpeg5-pillow").quality == 5
    uni = get_degradation("blur-uni")
    assert uni.kernel == "uniform" and uni.ddrm_compat and uni.singular_layout == "tiled"
    assert get_degradation("blur-gauss").kernel == "gaussian"
    per_channel = get_degradation("blur-gauss-per-channel")
    assert per_channel.kernel == "gaussian" and per_channel.ddrm_compat
    assert per_channel.singular_layout == "per_channel"
    assert get_degradation("sr4x-bicubic").filter == "bicubic" and get_degradation("sr4x-pool").factor == 4
    assert get_degradation("inpaint-freeform2030").mask_generator.coverage == (0.2, 0.3)
    assert [component.name for component in get_degradation("mixture").components] == list(MIXTURE_COMPONENTS)


def test_registering_a_taken_name_fails():
    with pytest.raises(ValueError, match="already registered"):
        register_degradation("jpeg5")(Blur)
    with pytest.raises(ValueError, match="already registered"):
        register_degradation("some-new-name", aliases=("jpeg-10",))(Blur)
    assert "some-new-name" not in list_degradations()


# ------------------------------------------------------------------------------------------ common contract


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ALL_NAMES)
def test_output_matches_input_shape_dtype_device(name, dtype):
    images = random_images().to(dtype)
    output = get_degradation(name)(images, generator=seeded(0))
    assert output.degraded.shape == images.shape
    assert output.degraded.dtype == dtype
    assert output.degraded.device == images.device
    assert torch.isfinite(output.degraded).all()
    if name.startswith("inpaint"):
        assert output.mask.shape == (2, 1, 64, 64) and output.mask.dtype == dtype
        assert set(output.mask.unique().tolist()) <= {0.0, 1.0}
    else:
        assert output.mask is None


@pytest.mark.parametrize("name", ["jpeg10", "blur-gauss", "sr4x-bicubic", "inpaint-freeform1020"])
def test_half_precision_input_keeps_its_dtype(name):
    images = random_images().half()
    output = get_degradation(name)(images, generator=seeded(0))
    assert output.degraded.dtype == torch.float16
    reference = get_degradation(name)(images.float(), generator=seeded(0)).degraded
    assert (output.degraded.float() - reference).abs().max() < 1e-2


@pytest.mark.parametrize("name", ALL_NAMES)
def test_same_seed_same_output(name):
    images = random_images()
    first = get_degradation(name)(images, generator=seeded(7))
    second = get_degradation(name)(images, generator=seeded(7))
    assert torch.equal(first.degraded, second.degraded)
    if first.mask is not None:
        assert torch.equal(first.mask, second.mask)


@pytest.mark.parametrize("name", STOCHASTIC_NAMES)
def test_different_seeds_differ(name):
    images = random_images(batch=4)
    first = get_degradation(name)(images, generator=seeded(1)).degraded
    second = get_degradation(name)(images, generator=seeded(2)).degraded
    assert not torch.equal(first, second)


@pytest.mark.parametrize("name", STOCHASTIC_NAMES)
def test_per_sample_generators_make_each_sample_depend_on_its_own_seed(name):
    images = random_images(batch=3)
    operator = get_degradation(name)
    batched = operator(images, generator=[seeded(10 + i) for i in range(3)])
    for i in range(3):
        alone = operator(images[i : i + 1], generator=seeded(10 + i))
        assert torch.equal(batched.degraded[i : i + 1], alone.degraded)
        if batched.info is not None:
            assert batched.info[i] == alone.info[0]


def test_global_rng_is_used_without_a_generator():
    operator = get_degradation("inpaint-freeform1020")
    images = random_images()
    torch.manual_seed(3)
    first = operator(images).mask
    torch.manual_seed(3)
    assert torch.equal(first, operator(images).mask)


def with_nan() -> torch.Tensor:
    images = random_images()
    images[1, 2, 3, 4] = float("nan")
    return images


BAD_INPUTS = {
    "3-D tensor": (random_images()[0], "4-D"),
    "NaN": (with_nan(), "NaN"),
    "[0, 255] range": ((random_images() + 1) * 127.5, r"\[-1, 1\]"),
    "integer dtype": (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), "floating-point"),
}


@pytest.mark.parametrize("bad", list(BAD_INPUTS))
@pytest.mark.parametrize("name", ALL_NAMES)
def test_bad_input_raises_a_helpful_error(name, bad):
    images, message = BAD_INPUTS[bad]
    with pytest.raises(ValueError, match=message):
        get_degradation(name)(images)


def test_range_error_suggests_a_rescaling():
    with pytest.raises(ValueError, match=r"x / 127.5 - 1"):
        get_degradation("blur-uni")(BAD_INPUTS["[0, 255] range"][0])


def test_slight_overshoot_is_tolerated_but_not_more():
    images = random_images()
    images[0, 0, 0, 0] = 1.0005
    get_degradation("blur-uni")(images)
    images[0, 0, 0, 0] = 1.01
    with pytest.raises(ValueError, match=r"1\.01"):
        get_degradation("blur-uni")(images)


def test_generator_list_of_wrong_length_raises():
    with pytest.raises(ValueError, match="one generator per image"):
        get_degradation("mixture")(random_images(batch=3), generator=[seeded(0), seeded(1)])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ALL_NAMES)
def test_cuda_images_stay_on_cuda_and_match_cpu(name):
    images = random_images()
    on_cpu = get_degradation(name)(images, generator=seeded(0))
    on_gpu = get_degradation(name)(images.cuda(), generator=seeded(0))
    assert on_gpu.degraded.is_cuda
    assert (on_gpu.degraded.cpu() - on_cpu.degraded).abs().max() < 1e-4
    if on_cpu.mask is not None:
        assert on_gpu.mask.is_cuda and torch.equal(on_gpu.mask.cpu(), on_cpu.mask)


# ------------------------------------------------------------------------------------------------------- blur


def ddrm_blur_reference(
    images: torch.Tensor, kernel_name: str, permutation: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """I2SB's ``build_blur`` and DDRM's ``Deblurring`` (``H = U(singulars() * Vt(x))``), transcribed step by step.

    Square RGB images (B, 3, N, N) in [-1, 1], float32. Returns the blurred images, the singular values ``outer(s, s)``
    (before sorting) and the stable sort's permutation; ``permutation`` replaces the latter when given.
    """
    if kernel_name == "uniform":
        kernel = torch.tensor([1 / 9] * 9, dtype=torch.float32)
    else:
        sigma = 10
        pdf = [torch.exp(torch.tensor([-0.5 * (x / sigma) ** 2], dtype=torch.float32)) for x in (-2, -1, 0, 1, 2)]
        kernel = torch.cat(pdf)
        kernel = kernel / kernel.sum()
    batch, channels, n, _ = images.shape
    assert channels == 3 and images.shape[-1] == n
    # Deblurring.__init__: the 1-D matrix with DDRM's loop (it stops one tap short), its SVD, the 2-D values.
    h_small = torch.zeros(n, n)
    for i in range(n):
        for j in range(i - kernel.shape[0] // 2, i + kernel.shape[0] // 2):
            if j < 0 or j >= n:
                continue
            h_small[i, j] = kernel[j - i + kernel.shape[0] // 2]
    u_small, singulars_small, v_small = torch.svd(h_small, some=False)
    singulars_small[singulars_small < 3e-2] = 0
    unsorted = torch.matmul(singulars_small.reshape(n, 1), singulars_small.reshape(1, n)).reshape(n**2)
    singulars, perm = unsorted.sort(descending=True, stable=True)
    if permutation is not None:
        perm = permutation
        singulars = unsorted[perm]

    vec = ((images + 1) / 2).reshape(batch, -1)
    # Vt: V^T X V per channel, flattened, permuted, then laid out as (q, c) -> 3 q + c.
    temp = torch.matmul(v_small.transpose(0, 1), vec.reshape(batch * channels, n, n))
    temp = torch.matmul(temp, v_small).reshape(batch, channels, -1)
    temp = temp[:, :, perm].permute(0, 2, 1).reshape(batch, -1)
    # singulars(): the N^2 sorted values written three times one after the other.
    temp = singulars.repeat(1, 3).reshape(-1) * temp
    # U: undo the permutation, then U Z U^T per channel.
    out = torch.zeros(batch, n**2, channels)
    out[:, perm, :] = temp.reshape(batch, n**2, channels)
    out = out.permute(0, 2, 1).reshape(batch * channels, n, n)
    out = torch.matmul(torch.matmul(u_small, out), u_small.transpose(0, 1))
    return out.reshape(images.shape) * 2 - 1, unsorted, perm


def test_blur_kernel_taps():
    assert torch.allclose(blur_kernel_taps("uniform"), torch.full((9,), 1 / 9, dtype=torch.float64))
    gaussian = blur_kernel_taps("gaussian")
    assert torch.allclose(gaussian, torch.tensor([0.198, 0.201, 0.202, 0.201, 0.198], dtype=torch.float64), atol=1e-3)
    assert gaussian.sum().item() == pytest.approx(1.0)
    assert torch.allclose(blur_kernel_taps("gaussian", torch.float32), gaussian.float(), atol=1e-7, rtol=0)


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize(("name", "kernel"), [("blur-uni", "uniform"), ("blur-gauss", "gaussian")])
def test_official_blur_matches_an_independent_transcription_of_ddrm(name, kernel, size):
    images = random_images(batch=2, height=size, width=size, seed=size)
    expected, _, _ = ddrm_blur_reference(images, kernel)
    degraded = get_degradation(name)(images).degraded
    assert (degraded - expected).abs().max() <= 1e-5
    # The quirk is no rounding matter: the per-channel separable blur is another operator (about 0.36 / 0.51 apart
    # on 64x64 random images, as bridge-methods.md measured).
    per_channel = get_degradation(f"{name}-per-channel")(images).degraded
    assert (per_channel - expected).abs().max() > 0.2


@pytest.mark.parametrize("kernel", ["uniform", "gaussian"])
def test_official_blur_breaks_ties_with_a_stable_sort(kernel):
    images = random_images(batch=1, height=64, width=64, seed=5)
    expected, unsorted, stable = ddrm_blur_reference(images, kernel)
    svd = ddrm_blur_svd(64, 64, kernel)
    assert torch.equal(svd.permutation, torch.sort(unsorted, descending=True, stable=True).indices)
    assert torch.equal(svd.permutation, stable)
    # s_i s_j = s_j s_i exactly, and every product with a zeroed value is 0: many tied groups.
    _, counts = torch.unique_consecutive(unsorted[stable], return_counts=True)
    assert (counts > 1).sum() > 1000
    # Another order of the tied entries (each tied group reversed, as an unstable sort may leave it) gives the
    # tied coefficients other tiled values, and visibly changes the output.
    group = torch.repeat_interleave(torch.arange(len(counts)), counts)
    reordered = stable[torch.argsort(group * len(stable) - torch.arange(len(stable)))]
    assert torch.equal(unsorted[reordered], unsorted[stable]) and not torch.equal(reordered, stable)
    unstable, _, _ = ddrm_blur_reference(images, kernel, permutation=reordered)
    degraded = get_degradation(f"blur-{'uni' if kernel == 'uniform' else 'gauss'}")(images).degraded
    assert (degraded - expected).abs().max() <= 1e-5
    assert (degraded - unstable).abs().max() > 1e-2


@pytest.mark.parametrize("kernel", ["uniform", "gaussian"])
def test_official_blur_on_non_square_images_and_other_channel_counts(kernel):
    # Non-square: separate height and width SVDs, outer(s_rows, s_cols) flattened as i * W + j, the tiling modulo
    # H * W and the layout index C q + c; written out here with numpy in float64 from the package's factors.
    height, width, channels = 24, 40, 3
    images = random_images(batch=2, channels=channels, height=height, width=width, seed=9)
    svd = ddrm_blur_svd(height, width, kernel, channels)
    u_r, v_r, u_c, v_c = (t.double().numpy() for t in (svd.u_rows, svd.v_rows, svd.u_cols, svd.v_cols))
    # The singular values of the factors: diag(U^T H V) of DDRM's 1-D matrices (8 of 9 / 4 of 5 taps), < 3e-2 zeroed.
    taps = blur_kernel_taps(kernel).numpy()
    singular = []
    for size, u, v in ((height, u_r, v_r), (width, u_c, v_c)):
        matrix = np.zeros((size, size))
        for i in range(size):
            for j in range(max(i - len(taps) // 2, 0), min(i + len(taps) // 2, size)):
                matrix[i, j] = taps[j - i + len(taps) // 2]
        values = np.diag(u.T @ matrix @ v)
        singular.append(np.where(values < 3e-2, 0, values))
    products = np.outer(*singular).reshape(-1)
    assert np.abs(svd.sorted_values.double().numpy() - products[svd.permutation.numpy()]).max() < 1e-6
    products = svd.sorted_values[torch.argsort(svd.permutation)].double().numpy()  # the exact float32 values
    order = np.argsort(-products, kind="stable")
    assert np.array_equal(order, svd.permutation.numpy())
    expected = np.empty((2, channels, height, width))
    for b in range(2):
        coefficients = np.stack([v_r.T @ ((images[b, c].double().numpy() + 1) / 2) @ v_c for c in range(channels)])
        flat = coefficients.reshape(channels, -1)[:, order].T.reshape(-1)  # (q, c) -> C q + c
        flat = flat * np.tile(products[order], channels)
        scattered = np.empty((channels, height * width))
        scattered[:, order] = flat.reshape(-1, channels).T
        expected[b] = np.stack([u_r @ plane.reshape(height, width) @ u_c.T for plane in scattered]) * 2 - 1
    degraded = Blur(kernel)(images).degraded
    assert np.abs(degraded.double().numpy() - expected).max() < 1e-5
    # With one channel the tiling is the identity: the operator is the separable blur.
    gray = images[:, :1]
    separable = Blur(kernel, singular_layout="per_channel")(gray).degraded
    assert (Blur(kernel)(gray).degraded - separable).abs().max() < 1e-4


@pytest.mark.parametrize(("kernel", "row_sum"), [("uniform", 8 / 9), ("gaussian", 0.80200)])
def test_ddrm_matrix_keeps_only_the_first_k_minus_one_taps(kernel, row_sum):
    taps = blur_kernel_taps(kernel)
    raw = blur_band_matrix(32, taps, ddrm_compat=True)
    interior = raw[8:-8].sum(dim=1)
    assert torch.allclose(interior, torch.full_like(interior, 1 - taps[-1].item()), atol=1e-12)
    assert interior[0].item() == pytest.approx(row_sum, abs=1e-4)
    # Row 16 spans columns 16 - K//2 .. 16 + K//2 - 1, with the kernel's first tap leftmost.
    half = taps.shape[0] // 2
    assert torch.equal(raw[16, 16 - half : 16 + half], taps[:-1])
    assert raw[16, 16 + half] == 0
    # The per-channel operator is rebuilt from a truncated SVD, which moves the row sums by < 1.5e-3.
    truncated = blur_matrix(64, kernel, dtype=torch.float64)[8:-8].sum(dim=1)
    assert torch.allclose(truncated, torch.full_like(truncated, row_sum), atol=1.5e-3)
    full = blur_band_matrix(32, taps, ddrm_compat=False)[8:-8].sum(dim=1)
    assert torch.allclose(full, torch.ones_like(full))


@pytest.mark.parametrize(("kernel", "gain"), [("uniform", 0.790), ("gaussian", 0.643)])
@pytest.mark.parametrize("size", [(64, 64), (48, 80)])
def test_blur_interior_gain_on_a_constant_image(kernel, gain, size):
    level = 0.5  # in [0, 1] space
    images = torch.full((1, 3, *size), 2 * level - 1)
    per_channel = (Blur(kernel, singular_layout="per_channel")(images).degraded + 1) / 2
    # The SVD truncation moves the interior gain off (8/9)^2 or 0.802^2 by up to 2.0e-3 (measured worst case:
    # 1.99e-3, box blur at 48x80), i.e. by up to 1e-3 on the output at this level; 2e-3 leaves a margin for the
    # rounding of the stated gains.
    interior = per_channel[..., 12:-12, 12:-12]
    assert torch.allclose(interior, torch.full_like(interior, gain * level), atol=2e-3)
    # The tiled operator gives a flat image's few large coefficients values of nearby sorted positions: the same
    # gain on average, with a ripple (measured: interior means within 0.01 of gain * level, extremes within 0.03).
    tiled = (Blur(kernel)(images).degraded + 1) / 2
    assert abs(tiled[..., 12:-12, 12:-12].mean().item() - gain * level) < 0.01
    assert torch.allclose(tiled[..., 12:-12, 12:-12], interior, atol=0.03)
    exact = (Blur(kernel, ddrm_compat=False, singular_layout="per_channel")(images).degraded + 1) / 2
    assert torch.allclose(exact[..., 8:-8, 8:-8], torch.full_like(exact[..., 8:-8, 8:-8], level), atol=1e-6)
    # Zero padding darkens the borders in both variants.
    assert exact[..., 0, 0].max() < level


def test_per_channel_blur_is_separable_rows_then_columns():
    images = random_images(batch=1, height=32, width=48)
    rows = blur_matrix(32, "gaussian")
    cols = blur_matrix(48, "gaussian")
    expected = torch.einsum("ih,bchw,jw->bcij", rows, (images + 1) / 2, cols) * 2 - 1
    assert torch.allclose(get_degradation("blur-gauss-per-channel")(images).degraded, expected, atol=1e-5)


def test_blur_rejects_bad_settings():
    with pytest.raises(ValueError, match="singular_layout"):
        Blur("uniform", singular_layout="interleaved")
    with pytest.raises(ValueError, match="needs ddrm_compat=True"):
        Blur("uniform", ddrm_compat=False)
    with pytest.raises(ValueError, match="kernel"):
        Blur("box")


# ------------------------------------------------------------------------------------------ super-resolution


def test_sr4x_pool_equals_block_means_repeated():
    images = random_images(batch=2, height=32, width=48)
    degraded = get_degradation("sr4x-pool")(images).degraded
    blocks = images.reshape(2, 3, 8, 4, 12, 4).mean(dim=(3, 5))
    expected = blocks[:, :, :, None, :, None].expand(2, 3, 8, 4, 12, 4).reshape(2, 3, 32, 48)
    assert torch.allclose(degraded, expected, atol=1e-6)
    tiles = degraded.reshape(2, 3, 8, 4, 12, 4)
    assert torch.equal(tiles, tiles[:, :, :, :1, :, :1].expand_as(tiles))


@pytest.mark.parametrize("name", ["sr4x-pool", "sr4x-bicubic"])
def test_sr4x_needs_sizes_divisible_by_four(name):
    with pytest.raises(ValueError, match="divisible by 4"):
        get_degradation(name)(random_images(height=64, width=62))


def test_bicubic_taps():
    expected_half = torch.tensor([-0.0017, -0.0110, -0.0183, -0.0120, 0.0227, 0.0974, 0.1819, 0.2410])
    taps = bicubic_kernel_taps(4).float()
    assert taps.shape == (16,)
    assert torch.allclose(taps, torch.cat([expected_half, expected_half.flip(0)]), atol=1e-4)
    assert taps.sum().item() == pytest.approx(1.0, abs=1e-12)


def test_bicubic_operator_reflects_at_borders_and_is_block_constant():
    matrix = bicubic_downsampling_matrix(64, dtype=torch.float64)
    assert matrix.shape == (16, 64)
    # Reflective padding keeps every row's weights summing to 1, border rows included.
    assert torch.allclose(matrix.sum(dim=1), torch.ones(16, dtype=torch.float64), atol=1e-6)
    flat = torch.full((1, 3, 32, 64), 0.3)
    assert torch.allclose(get_degradation("sr4x-bicubic")(flat).degraded, flat, atol=1e-5)
    degraded = get_degradation("sr4x-bicubic")(random_images(batch=1)).degraded
    tiles = degraded.reshape(1, 3, 16, 4, 16, 4)
    assert torch.equal(tiles, tiles[:, :, :, :1, :, :1].expand_as(tiles))


def test_bicubic_low_resolution_image_is_close_to_block_means():
    # A smooth image: the bicubic and box down-samplings of it differ far less than the image varies.
    images = textured_image()
    bicubic = get_degradation("sr4x-bicubic")(images).degraded
    pool = get_degradation("sr4x-pool")(images).degraded
    assert mse(bicubic, pool) < 0.05 * mse(pool, pool.mean())


def test_superresolution_rejects_bad_settings():
    with pytest.raises(ValueError, match="filter"):
        SuperResolution(filter="lanczos")
    with pytest.raises(ValueError, match="factor"):
        SuperResolution(factor=1)


# ------------------------------------------------------------------------------------------------------- JPEG

# ITU-T T.81 Annex K, tables K.1 and K.2 (quality 50), typed again here so that the reference below shares nothing
# with the package.
IJG_LUMINANCE = [
    [16, 11, 10, 16, 24, 40, 51, 61],
    [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77],
    [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101],
    [72, 92, 95, 98, 112, 100, 103, 99],
]
IJG_CHROMINANCE = [
    [17, 18, 24, 47, 99, 99, 99, 99],
    [18, 21, 26, 66, 99, 99, 99, 99],
    [24, 26, 56, 99, 99, 99, 99, 99],
    [47, 66, 99, 99, 99, 99, 99, 99],
] + [[99] * 8] * 4


def ddrm_jpeg_reference(images: np.ndarray, quality: int) -> np.ndarray:
    """ddrm-jpeg's simulation as I2SB's ``corruption/jpeg.py`` runs it (bridge-methods.md 1.8), in numpy / scipy.

    (B, 3, H, W) RGB in [-1, 1] with H and W multiples of 16, float64; returns the decoded images, unclamped.
    """
    pixels = (images + 1) / 2 * 255
    red, green, blue = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    luma = 0.299 * red + 0.587 * green + 0.114 * blue
    cb = -0.168736 * red - 0.331264 * green + 0.5 * blue + 128
    cr = 0.5 * red - 0.418688 * green - 0.081312 * blue + 128
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality

    def compress(plane: np.ndarray, base: list[list[int]]) -> np.ndarray:
        table = np.clip(np.floor((scale * np.array(base, dtype=np.float64) + 50) / 100), 1, 255)
        n, h, w = plane.shape
        blocks = plane.reshape(n, h // 8, 8, w // 8, 8).transpose(0, 1, 3, 2, 4) - 128
        coefficients = scipy.fft.dctn(blocks, type=2, axes=(-2, -1), norm="ortho")
        coefficients = np.round(coefficients / table) * table
        blocks = scipy.fft.idctn(coefficients, type=2, axes=(-2, -1), norm="ortho") + 128
        return blocks.transpose(0, 1, 3, 2, 4).reshape(n, h, w)

    def chroma(plane: np.ndarray) -> np.ndarray:
        # 4:2:0 by decimation, nearest-neighbour repetition back.
        return compress(plane[:, ::2, ::2], IJG_CHROMINANCE).repeat(2, axis=1).repeat(2, axis=2)

    luma, cb, cr = compress(luma, IJG_LUMINANCE), chroma(cb), chroma(cr)
    red = luma + 1.402 * (cr - 128)
    green = luma - 0.344136 * (cb - 128) - 0.714136 * (cr - 128)
    blue = luma + 1.772 * (cb - 128)
    return np.stack([red, green, blue], axis=1) / 255 * 2 - 1


@pytest.mark.parametrize("quality", [5, 10, 50, 90])
def test_official_jpeg_matches_an_independent_transcription_of_ddrm_jpeg(quality):
    # float64 on both sides, so that no coefficient lands on the other side of a rounding boundary by accident.
    images = torch.cat([textured_image(48, 64), random_images(batch=1, height=48, width=64, seed=quality)]).double()
    expected = ddrm_jpeg_reference(images.numpy(), quality)
    name = {5: "jpeg5", 10: "jpeg10"}.get(quality)
    operator = get_degradation(name) if name else JPEGCompression(quality)
    degraded = operator(images).degraded
    assert np.abs(degraded.numpy() - expected).max() < 1e-9
    # In float32 (the official precision) a rare coefficient may round the other way; the error stays local.
    degraded32 = operator(images.float()).degraded.double().numpy()
    assert np.mean(np.abs(degraded32 - expected) > 5e-5) < 0.01


@pytest.mark.parametrize("encoder", ["pillow", "torch"])
def test_jpeg_error_falls_as_quality_rises(encoder):
    images = textured_image()
    errors = [mse(JPEGCompression(q, encoder)(images).degraded, images) for q in (5, 10, 50, 90)]
    assert errors[0] > errors[1] > errors[2] > errors[3] > 0
    assert errors[0] > 3 * errors[2]


def test_real_jpeg_output_lies_on_the_uint8_grid():
    images = textured_image()
    degraded = get_degradation("jpeg10-pillow")(images).degraded
    levels = (degraded.double() + 1) * 127.5
    assert torch.allclose(levels, levels.round(), atol=1e-4)
    assert levels.min() >= 0 and levels.max() <= 255
    assert torch.equal(degraded, jpeg_pil(images, 10))


def test_jpeg_simulation_at_quality_100_is_close_to_the_input():
    # Neutral colours (R = G = B) isolate the DCT and quantisation from the chroma decimation.
    neutral = textured_image().mean(dim=1, keepdim=True).expand(1, 3, 64, 64)
    assert (jpeg_simulate(neutral, 100) - neutral).abs().max() < 0.02
    # In colour, 4:2:0 decimation with nearest-neighbour upsampling costs some chroma detail even at quality 100.
    images = textured_image()
    assert mse(jpeg_simulate(images, 100), images) < 0.25 * mse(jpeg_simulate(images, 10), images)


def test_official_jpeg_is_not_clamped_or_rounded():
    images = textured_image()
    degraded = get_degradation("jpeg5")(images).degraded
    levels = (degraded.double() + 1) * 127.5
    assert not torch.allclose(levels, levels.round(), atol=1e-3)
    saturated = torch.ones(1, 3, 32, 32)
    saturated[..., ::2, :] = -1
    assert jpeg_simulate(saturated, 5).abs().max() > 1


def test_jpeg_encoders_agree():
    # Luminance follows the same path in both, so on neutral colours they agree up to integer rounding.
    neutral = textured_image().mean(dim=1, keepdim=True).expand(1, 3, 64, 64)
    real, simulated = jpeg_pil(neutral, 10), jpeg_simulate(neutral, 10)
    assert mse(real, simulated) < 0.01 * mse(real, neutral)
    # In colour they differ in chroma resampling only (libjpeg averages and interpolates, the simulation
    # decimates and repeats), which stays well below the compression error itself.
    images = textured_image()
    real, simulated = jpeg_pil(images, 10), jpeg_simulate(images, 10)
    assert mse(real, simulated) < 0.75 * min(mse(real, images), mse(simulated, images))


@pytest.mark.parametrize("encoder", ["pillow", "torch"])
@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_accepts_any_size_and_grayscale(encoder, channels):
    images = random_images(batch=2, channels=channels, height=50, width=37)
    degraded = JPEGCompression(10, encoder)(images).degraded
    assert degraded.shape == images.shape
    assert 0 < mse(degraded, images) < 0.5


def test_jpeg_rejects_bad_settings():
    with pytest.raises(ValueError, match="C=4"):
        get_degradation("jpeg5")(random_images(channels=4))
    for quality in (0, 101, 7.5):
        with pytest.raises(ValueError, match="quality"):
            JPEGCompression(quality)
    with pytest.raises(ValueError, match="encoder"):
        JPEGCompression(10, encoder="libjpeg")


# ------------------------------------------------------------------------------------------------ inpainting


def test_center_mask_covers_the_central_quarter():
    mask = center_mask(256, 256)
    assert mask.sum().item() == 128 * 128
    assert mask[64:192, 64:192].all() and mask.sum() == mask[64:192, 64:192].sum()
    images = random_images()
    output = get_degradation("inpaint-center")(images)
    assert output.mask.mean().item() == 0.25
    assert output.mask[:, :, 16:48, 16:48].all()


@pytest.mark.parametrize("name", ["inpaint-center", "inpaint-freeform1020", "inpaint-freeform2030"])
def test_holes_are_white_and_known_pixels_untouched(name):
    images = random_images()
    output = get_degradation(name)(images, generator=seeded(0))
    hole = output.mask.bool().expand_as(images)
    assert torch.all(output.degraded[hole] == 1)
    assert torch.equal(output.degraded[~hole], images[~hole])


@pytest.mark.parametrize(
    ("name", "low", "high"), [("inpaint-freeform1020", 0.1, 0.2), ("inpaint-freeform2030", 0.2, 0.3)]
)
@pytest.mark.parametrize("size", [(64, 64), (256, 256), (128, 96)])
def test_freeform_coverage_is_in_range(name, low, high, size):
    operator = get_degradation(name)
    masks = [operator.mask_generator.sample(*size, seeded(seed)) for seed in range(20)]
    coverages = [mask.mean() for mask in masks]
    assert all(low <= coverage <= high for coverage in coverages), coverages
    assert len({mask.tobytes() for mask in masks}) == len(masks)


def test_freeform_trims_a_stroke_that_overshoots_a_narrow_range():
    # A 1% wide range at 64x64 is narrower than one brush segment, so the trimming path is exercised.
    generator = FreeformMask(coverage=(0.30, 0.31), max_vertices=12)
    masks = generator(8, 64, 64, generator=seeded(0))
    assert masks.shape == (8, 1, 64, 64)
    coverage = masks.mean(dim=(1, 2, 3))
    assert torch.all((coverage >= 0.30) & (coverage <= 0.31)), coverage


def test_freeform_mask_validation():
    for coverage in [(0.0, 0.2), (0.3, 0.2), (0.5, 1.0), (0.1,)]:
        with pytest.raises(ValueError, match="coverage"):
            FreeformMask(coverage=coverage)
    with pytest.raises(ValueError, match="at least 32"):
        get_degradation("inpaint-freeform1020")(random_images(height=16, width=64))
    with pytest.raises(ValueError, match="mask"):
        Inpainting(mask="square")


def test_custom_coverage_name():
    assert Inpainting("freeform", coverage=(0.3, 0.4)).name == "inpaint-freeform3040"


# --------------------------------------------------------------------------------------------------- mixture


def test_mixture_draws_several_operators_and_fills_holes_with_noise():
    images = random_images(batch=32, seed=1)
    output = get_degradation("mixture")(images, generator=seeded(0))
    assert output.mask is None
    assert len(output.info) == 32 and set(output.info) <= set(MIXTURE_COMPONENTS)
    assert len(set(output.info)) >= 6
    assert torch.isfinite(output.degraded).all()

    inpainted = [i for i, name in enumerate(output.info) if name.startswith("inpaint")]
    assert inpainted
    for i in inpainted:
        changed = (output.degraded[i] != images[i]).any(dim=0)
        hole = output.degraded[i][:, changed]
        # Standard normal noise, not white: mean near 0, spread near 1, values outside [-1, 1].
        assert abs(hole.mean().item()) < 0.2 and 0.8 < hole.std().item() < 1.2
        assert (hole.abs() > 1).any()
        low, high = (0.25, 0.25) if output.info[i] == "inpaint-center" else (0.1, 0.3)
        assert low <= changed.float().mean().item() <= high

    # Every other sample is exactly what its operator gives on its own.
    for i, name in enumerate(output.info):
        if not name.startswith("inpaint"):
            alone = get_degradation(name)(images[i : i + 1]).degraded
            assert torch.allclose(output.degraded[i : i + 1], alone, atol=1e-6)


def test_mixture_checks_every_component_up_front():
    # sr4x needs sizes divisible by 4 even if no sample happens to draw it.
    with pytest.raises(ValueError, match="divisible by 4"):
        get_degradation("mixture")(random_images(batch=1, height=66, width=66), generator=seeded(0))
    restricted = get_degradation("mixture", components=["blur-uni", "jpeg5"])
    assert set(restricted(random_images(batch=8), generator=seeded(0)).info) <= {"blur-uni", "jpeg5"}
