# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""LPIPS and the FID Inception network, only where their weights can be loaded without a download.

Both metrics rest on pretrained networks that their libraries download on first use (the AlexNet/VGG/SqueezeNet
backbone of LPIPS, the FID Inception-v3). This package never downloads: the loaders below return a module
only when the library is installed **and** the weights are a local file (given as `weights_path`, or already in
the torch hub cache ``<torch.hub.get_dir()>/checkpoints/``). Otherwise they return ``None`` and a message saying
why, so an evaluation script can log "skipped" and go on. The file's existence is checked before any library
function that could download is called.

The libraries are optional and not dependencies of this package: ``lpips`` (with ``torchvision``) for LPIPS;
``torch-fidelity`` (which torchmetrics' FID also uses) or ``pytorch-fid`` for FID.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn


__all__ = [
    "FID_WEIGHTS_FILES",
    "LPIPS_BACKBONE_FILES",
    "LPIPSFromUnitRange",
    "try_load_fid_inception",
    "try_load_lpips",
]

# File names the torchvision backbones of LPIPS are cached under (torch hub's name for each download URL).
LPIPS_BACKBONE_FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}
# The FID Inception-v3 (the TF 2015-12-05 graph ported to PyTorch) as each library names its cached file.
FID_WEIGHTS_FILES = {
    "torch_fidelity": "weights-inception-2015-12-05-6726825d.pth",
    "pytorch_fid": "pt_inception-2015-12-05-6726825d.pth",
}


def _is_installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _hub_checkpoint(file_name: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name


def _local_weights(weights_path: str | os.PathLike | None, file_name: str) -> tuple[Path | None, str]:
    """The local weights file to use (the given path, else the hub cache), or `None` and the reason."""
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if path.is_file():
            return path, ""
        return None, f"weights_path={str(weights_path)!r} is not an existing file"
    cached = _hub_checkpoint(file_name)
    if cached.is_file():
        return cached, ""
    return None, f"{file_name} cannot be downloaded offline and is not cached at {cached}; pass weights_path=..."


@contextlib.contextmanager
def _hub_cache_serving(file_name: str, weights: Path) -> Iterator[None]:
    """Makes torch hub find `weights` as its cached `file_name`, so a library that downloads through
    `torch.hub.load_state_dict_from_url` loads the local file instead (hashes are only checked on download)."""
    if weights == _hub_checkpoint(file_name):
        yield
        return
    previous = torch.hub.get_dir()
    with tempfile.TemporaryDirectory(prefix="bridge-diffusers-hub-") as hub_dir:
        checkpoint = Path(hub_dir) / "checkpoints" / file_name
        checkpoint.parent.mkdir(parents=True)
        try:
            checkpoint.symlink_to(weights.resolve())
        except OSError:  # no symlinks (some Windows set-ups): copy instead
            shutil.copyfile(weights, checkpoint)
        torch.hub.set_dir(hub_dir)
        try:
            yield
        finally:
            torch.hub.set_dir(previous)


def _as_rgb(images: torch.Tensor) -> torch.Tensor:
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


# ---------------------------------------------------------------------------------------------------- LPIPS
class LPIPSFromUnitRange(nn.Module):
    """Wraps an ``lpips.LPIPS`` network to take images in `[0, 1]` and return one distance per image.

    Call it as ``distance = lpips_model(prediction, target)`` with `(B, 3, H, W)` (or grayscale) images in
    `[0, 1]`; returns a `(B,)` tensor, 0 for identical images, larger is more different.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.eval().requires_grad_(False)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # normalize=True maps [0, 1] to the [-1, 1] range LPIPS was trained on.
        return self.model(_as_rgb(prediction), _as_rgb(target), normalize=True).flatten()


def try_load_lpips(
    net: str = "alex", weights_path: str | os.PathLike | None = None
) -> tuple[LPIPSFromUnitRange | None, str]:
    """LPIPS (Zhang et al., 2018) from the ``lpips`` package, if it can load offline.

    Args:
        net (`str`, defaults to `"alex"`):
            Backbone: `"alex"`, `"vgg"` or `"squeeze"`.
        weights_path (`str` or `os.PathLike`, *optional*):
            A local copy of the torchvision ImageNet backbone weights (e.g. `alexnet-owt-7be5be79.pth`). If
            omitted, the file must already be in the torch hub cache. The LPIPS linear layers ship with `lpips`.

    Returns:
        `(model, message)`: an [`LPIPSFromUnitRange`] (images in `[0, 1]` -> `(B,)` distances) and a note, or
        `(None, reason)` when LPIPS was skipped. Never raises for a missing library or file.
    """
    if net not in LPIPS_BACKBONE_FILES:
        raise ValueError(f"`net` must be one of {tuple(LPIPS_BACKBONE_FILES)}, got {net!r}.")
    file_name = LPIPS_BACKBONE_FILES[net]
    for module, install in (("lpips", "pip install lpips"), ("torchvision", "pip install torchvision")):
        if not _is_installed(module):
            return None, f"LPIPS skipped: the `{module}` package is not installed ({install})."
    weights, reason = _local_weights(weights_path, file_name)
    if weights is None:
        return None, f"LPIPS skipped: the {net} backbone weights {reason}."
    try:
        with _hub_cache_serving(file_name, weights):
            lpips = importlib.import_module("lpips")
            model = lpips.LPIPS(net=net, verbose=False)
    except Exception as error:  # any failure of a third-party loader means "skip", reported in the message
        return None, f"LPIPS skipped: loading lpips failed ({type(error).__name__}: {error})."
    return LPIPSFromUnitRange(model), f"LPIPS ({net}) loaded with backbone weights {weights}."


# ------------------------------------------------------------------------------------------------------ FID
class _TorchFidelityInception(nn.Module):
    """torch-fidelity's FID Inception as a `[0, 1]` float -> `(N, 2048)` feature extractor."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # torch-fidelity takes uint8 images in [0, 255] and resizes them to 299 itself.
        pixels = (_as_rgb(images).clamp(0, 1) * 255).round().to(torch.uint8)
        return self.network(pixels)[0].flatten(1)


class _PytorchFidInception(nn.Module):
    """pytorch-fid's InceptionV3 (pool3 block) as a `[0, 1]` float -> `(N, 2048)` feature extractor."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # pytorch-fid resizes to 299 and maps [0, 1] to [-1, 1] itself.
        return self.network(_as_rgb(images).clamp(0, 1))[0].flatten(1)


def _build_torch_fidelity(weights: Path) -> nn.Module:
    module = importlib.import_module("torch_fidelity.feature_extractor_inceptionv3")
    network = module.FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(weights)
    )
    return _TorchFidelityInception(network.eval())


def _build_pytorch_fid(weights: Path) -> nn.Module:
    with _hub_cache_serving(FID_WEIGHTS_FILES["pytorch_fid"], weights):
        inception = importlib.import_module("pytorch_fid.inception")
        block = inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]
        network = inception.InceptionV3([block], resize_input=True, normalize_input=True)
    return _PytorchFidInception(network.eval())


_FID_BUILDERS: dict[str, Callable[[Path], nn.Module]] = {
    "torch_fidelity": _build_torch_fidelity,
    "pytorch_fid": _build_pytorch_fid,
}


def try_load_fid_inception(weights_path: str | os.PathLike | None = None) -> tuple[nn.Module | None, str]:
    """The FID Inception-v3 feature extractor from torch-fidelity or pytorch-fid, if it can load offline.

    The returned module maps images `(N, 3, H, W)` in `[0, 1]` to `(N, 2048)` pool features; pass it as
    ``FrechetDistance(feature_extractor=...)`` to compute FID proper (meaningful from a few thousand images).

    Args:
        weights_path (`str` or `os.PathLike`, *optional*):
            A local copy of the FID Inception weights in the chosen library's format
            (`weights-inception-2015-12-05-6726825d.pth` for torch-fidelity, `pt_inception-2015-12-05-6726825d.pth`
            for pytorch-fid). If omitted, the file must already be in the torch hub cache.

    Returns:
        `(extractor, message)`, or `(None, reason)` when FID was skipped. Never raises for a missing library
        or file.
    """
    installed = [library for library in _FID_BUILDERS if _is_installed(library)]
    if not installed:
        return None, (
            "FID skipped: neither torch-fidelity (also behind torchmetrics' FID) nor pytorch-fid is installed "
            "(pip install torch-fidelity), and the FID Inception weights cannot be downloaded offline; install one "
            "and pass weights_path=... to a local copy."
        )
    reasons = []
    for library in installed:
        weights, reason = _local_weights(weights_path, FID_WEIGHTS_FILES[library])
        if weights is None:
            reasons.append(f"{library}: the FID Inception weights {reason}")
            continue
        try:
            extractor = _FID_BUILDERS[library](weights)
        except Exception as error:  # any failure of a third-party loader means "try the next one, else skip"
            reasons.append(f"{library}: loading failed ({type(error).__name__}: {error})")
            continue
        return extractor, f"FID Inception loaded with {library} from {weights}."
    return None, "FID skipped: " + "; ".join(reasons) + "."
