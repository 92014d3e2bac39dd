# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""What the bridge pipelines share: image and mask I/O, padding, Hub loading and the output type."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline, ImagePipelineOutput
from huggingface_hub import snapshot_download


__all__ = [
    "BridgePipeline",
    "BridgePipelineOutput",
    "ImageInput",
    "images_to_tensor",
    "mask_to_tensor",
    "pad_to_multiple",
    "takes_condition",
    "tensor_to_output",
]

ImageInput = PIL.Image.Image | np.ndarray | torch.Tensor | Sequence[PIL.Image.Image | np.ndarray | torch.Tensor]
OUTPUT_TYPES = ("pil", "np", "pt")
_ACCEPTED = (
    "PIL images, numpy arrays (H, W), (H, W, C) or (B, H, W, C) as uint8 in [0, 255] or float in [0, 1], "
    "torch tensors (C, H, W) or (B, C, H, W) as float in [0, 1] (or uint8), or a list of these; C in {1, 3, 4}"
)
_RANGE_SLACK = 1e-3  # float inputs a rounding error outside [0, 1] are clamped, not refused
_HUB_KWARGS = ("revision", "cache_dir", "local_files_only", "token", "force_download")


@dataclass
class BridgePipelineOutput(ImagePipelineOutput):
    """Output of the bridge pipelines.

    Args:
        images (`list[PIL.Image.Image]`, `np.ndarray` of shape `(B, H, W, C)` or `torch.Tensor` of shape
            `(B, C, H, W)`): the restored images, in ``[0, 1]`` for ``"np"`` and ``"pt"``.
        trajectory (`list`, *optional*): with ``output_trajectory=True``, the sample after each step (the start
            first), each in the format of ``images``.
        pred_original_trajectory (`list`, *optional*): with ``output_trajectory=True``, the ``x0`` estimate of
            each step, in the format of ``images``.
    """

    trajectory: list | None = None
    pred_original_trajectory: list | None = None


# --------------------------------------------------------------------------------------------- images in
def _pil_to_array(image: PIL.Image.Image) -> np.ndarray:
    if image.mode in ("1", "L", "I", "I;16", "F"):
        image = image.convert("F") if image.mode in ("I", "I;16", "F") else image.convert("L")
        array = np.asarray(image, dtype=np.float32)
        scale = 65535.0 if array.max(initial=0) > 255 else 255.0
        return (array / scale)[..., None]
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return array


def _array_to_bhwc(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    elif array.dtype == np.uint16:
        array = array.astype(np.float32) / 65535.0
    elif np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    else:
        raise ValueError(f"Unsupported numpy dtype {array.dtype}. Accepted: {_ACCEPTED}.")
    if array.ndim == 2:
        array = array[None, ..., None]
    elif array.ndim == 3:
        # (H, W, C) when the last axis is channel-sized, else a batch of grayscale images (B, H, W)
        array = array[None] if array.shape[-1] <= 4 else array[..., None]
    elif array.ndim != 4:
        raise ValueError(f"A numpy image must have 2 to 4 dimensions, got shape {array.shape}. Accepted: {_ACCEPTED}.")
    return array


def _tensor_to_bchw(tensor: torch.Tensor) -> torch.Tensor:
    tensor = tensor.detach()
    if tensor.dtype == torch.uint8:
        tensor = tensor.float() / 255.0
    elif not tensor.dtype.is_floating_point:
        raise ValueError(f"Unsupported tensor dtype {tensor.dtype}. Accepted: {_ACCEPTED}.")
    if tensor.ndim == 3:
        tensor = tensor[None]
    if tensor.ndim != 4:
        raise ValueError(f"A tensor image must be (C, H, W) or (B, C, H, W), got shape {tuple(tensor.shape)}.")
    return tensor.float().cpu()


def _one_to_bchw(image: PIL.Image.Image | np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(image, PIL.Image.Image):
        return torch.from_numpy(_array_to_bhwc(_pil_to_array(image))).permute(0, 3, 1, 2)
    if isinstance(image, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(_array_to_bhwc(image))).permute(0, 3, 1, 2)
    if isinstance(image, torch.Tensor):
        return _tensor_to_bchw(image)
    raise TypeError(f"Unsupported image type {type(image).__name__}. Accepted: {_ACCEPTED}.")


def _match_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    have = images.shape[1]
    if have not in (1, 3, 4):
        raise ValueError(f"Images must have 1, 3 or 4 channels, got {have} (shape {tuple(images.shape)}).")
    if have == 4:  # RGBA: the alpha channel carries no image content for restoration
        images, have = images[:, :3], 3
    if have == channels:
        return images
    if channels == 3:  # grayscale -> RGB
        return images.expand(-1, 3, -1, -1).contiguous()
    if channels == 1:  # RGB -> luminance (ITU-R BT.601, as PIL's "L")
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images * weights).sum(dim=1, keepdim=True)
    raise ValueError(f"Cannot convert {have}-channel images to the model's {channels} channels.")


def images_to_tensor(image: ImageInput, channels: int = 3) -> torch.Tensor:
    """Validates and converts pipeline image inputs to one float tensor.

    Args:
        image: a PIL image, a numpy array, a tensor, or a list of them, all of the same size (see ``_ACCEPTED``).
        channels (`int`): the model's image channels; grayscale and RGBA inputs are converted to it.

    Returns:
        `torch.Tensor` of shape `(B, channels, H, W)`, float32 on the CPU, in ``[0, 1]``.

    Raises:
        ValueError: an empty batch, images of different sizes, non-finite values or values outside the range of
            their type, with what is accepted.
    """
    items = list(image) if isinstance(image, (list, tuple)) else [image]
    if not items:
        raise ValueError(f"No image was given. Accepted: {_ACCEPTED}.")
    batches = [_one_to_bchw(item) for item in items]
    sizes = {tuple(batch.shape[-2:]) for batch in batches}
    if len(sizes) > 1:
        raise ValueError(f"All images of a batch must have the same size, got {sorted(sizes)}.")
    height, width = sizes.pop()
    if height == 0 or width == 0:
        raise ValueError(f"Images must not be empty, got size {height}x{width}.")
    batch = torch.cat([_match_channels(b, channels) for b in batches])
    if not torch.isfinite(batch).all():
        raise ValueError("The image contains NaN or infinite values; pass finite values in [0, 1].")
    low, high = float(batch.min()), float(batch.max())
    if low < -_RANGE_SLACK or high > 1 + _RANGE_SLACK:
        hint = " It looks like [-1, 1]: pass (x + 1) / 2." if low >= -1 - _RANGE_SLACK and low < 0 else ""
        raise ValueError(f"Float images must lie in [0, 1], got values in [{low:.4g}, {high:.4g}].{hint}")
    return batch.clamp(0.0, 1.0)


def mask_to_tensor(mask: ImageInput, batch_size: int, size: tuple[int, int]) -> torch.Tensor:
    """Converts an inpainting mask to a binary tensor (1 = the hole to fill, 0 = known pixels).

    Args:
        mask: one mask for the whole batch or one per image, in any image format (values > 0.5 are the hole).
        batch_size (`int`): the number of images.
        size (`tuple[int, int]`): the images' (H, W); the mask must have the same size.

    Returns:
        `torch.Tensor` of shape `(batch_size, 1, H, W)` with values in {0, 1}.
    """
    masks = images_to_tensor(mask, channels=1)
    if tuple(masks.shape[-2:]) != tuple(size):
        raise ValueError(f"The mask is {tuple(masks.shape[-2:])} but the images are {tuple(size)}; they must match.")
    if masks.shape[0] not in (1, batch_size):
        raise ValueError(f"Pass one mask or one per image ({batch_size}), got {masks.shape[0]}.")
    return (masks > 0.5).float().expand(batch_size, -1, -1, -1).contiguous()


def pad_to_multiple(images: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pads (B, C, H, W) on the bottom and right to multiples of ``multiple``, by reflection where the image is
    large enough (no artificial edge for the network to restore) and by replication otherwise."""
    height, width = images.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h == 0 and pad_w == 0:
        return images
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(images, (0, pad_w, 0, pad_h), mode=mode)


# -------------------------------------------------------------------------------------------- images out
def tensor_to_output(images: torch.Tensor, output_type: str) -> list[PIL.Image.Image] | np.ndarray | torch.Tensor:
    """Converts (B, C, H, W) samples in ``[-1, 1]`` to the requested output type, values in ``[0, 1]``.

    ``"pt"``: a float32 tensor (B, C, H, W); ``"np"``: a float32 array (B, H, W, C); ``"pil"``: a list of images.
    """
    images01 = ((images.float() + 1.0) / 2.0).clamp(0.0, 1.0)
    if output_type == "pt":
        return images01.cpu()
    array = images01.permute(0, 2, 3, 1).cpu().numpy()
    if output_type == "np":
        return array
    uint8 = np.round(array * 255.0).astype(np.uint8)
    return [PIL.Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img) for img in uint8]


def takes_condition(unet, noise_channels: int = 0) -> bool:
    """Whether a bridge UNet also takes the degraded image as input channels (``cond_x1``), read from its shape.

    A bridge UNet with C output channels takes ``C + noise_channels`` (plain) or ``2C + noise_channels``
    (``cond_x1``) input channels; anything else is refused.
    """
    in_channels, out_channels = unet.config.in_channels, unet.config.out_channels
    plain = out_channels + noise_channels
    if in_channels not in (plain, plain + out_channels):
        raise ValueError(
            f"A bridge UNet with {out_channels} output channels and {noise_channels} noise channels takes "
            f"{plain} (plain) or {plain + out_channels} (cond_x1) input channels, got {in_channels}."
        )
    return in_channels == plain + out_channels


def check_output_type(output_type: str) -> None:
    if output_type not in OUTPUT_TYPES:
        raise ValueError(f"`output_type` must be one of {OUTPUT_TYPES}, got {output_type!r}.")


# ----------------------------------------------------------------------------------------- the base class
class BridgePipeline(DiffusionPipeline):
    """Base of the bridge pipelines: loading from a folder or a Hub repo id, and image I/O."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs):
        """Loads a saved pipeline from a local folder or a Hub repo id.

        A repo id is first resolved to a local snapshot with ``huggingface_hub.snapshot_download`` (honouring
        ``revision``, ``cache_dir``, ``local_files_only``, ``token`` and ``HF_HUB_OFFLINE``): diffusers' own Hub
        path refuses components from third-party libraries such as this one. Every other keyword (``dtype``,
        components to replace, ...) goes to ``DiffusionPipeline.from_pretrained``.
        """
        path = os.fspath(pretrained_model_name_or_path)
        if not os.path.isdir(path):
            hub_kwargs = {key: kwargs[key] for key in _HUB_KWARGS if key in kwargs}
            path = snapshot_download(repo_id=path, repo_type="model", **hub_kwargs)
        for key in _HUB_KWARGS:
            kwargs.pop(key, None)
        return super().from_pretrained(path, **kwargs)

    def _image_channels(self) -> int:
        return self.unet.config.out_channels

    def _pad_multiple(self) -> int:
        return 2 ** (len(self.unet.config.block_out_channels) - 1)

    def prepare_images(
        self, image: ImageInput, mask: ImageInput | None, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[int, int]]:
        """Validates the inputs and returns ``(x1, mask, (H, W))``.

        ``x1``: (B, C, H', W') in ``[-1, 1]`` in the UNet's dtype, padded to the UNet's multiple;
        ``mask``: (B, 1, H', W') in {0, 1} or None; (H, W): the size to crop the result back to.
        """
        images = images_to_tensor(image, channels=self._image_channels())
        size = tuple(images.shape[-2:])
        multiple = self._pad_multiple()
        x1 = pad_to_multiple(images * 2.0 - 1.0, multiple).to(device=device, dtype=self.unet.dtype)
        masks = None
        if mask is not None:
            masks = pad_to_multiple(mask_to_tensor(mask, images.shape[0], size), multiple)
            masks = masks.to(device=device, dtype=self.unet.dtype)
        return x1, masks, size

    def set_sampling_grid(
        self, num_inference_steps: int | None, timesteps: list[int] | None, device: torch.device
    ) -> None:
        """``scheduler.set_timesteps`` from either a step count or a custom grid (a custom grid wins)."""
        if timesteps is not None:
            self.scheduler.set_timesteps(timesteps=timesteps, device=device)
        else:
            self.scheduler.set_timesteps(num_inference_steps, device=device)

    @staticmethod
    def postprocess(images: torch.Tensor, size: tuple[int, int], output_type: str):
        """Crops the padding away and converts to ``output_type``."""
        return tensor_to_output(images[..., : size[0], : size[1]], output_type)

    def finish(
        self,
        sample: torch.Tensor,
        size: tuple[int, int],
        output_type: str,
        return_dict: bool,
        trajectory: list[torch.Tensor] | None = None,
        pred_trajectory: list[torch.Tensor] | None = None,
    ) -> BridgePipelineOutput | tuple:
        """Post-processes the final sample (and the trajectory, when recorded) and builds the return value."""
        images = self.postprocess(sample, size, output_type)
        self.maybe_free_model_hooks()
        if trajectory is None:
            return BridgePipelineOutput(images=images) if return_dict else (images,)
        traj = [self.postprocess(x, size, output_type) for x in trajectory]
        pred_traj = [self.postprocess(x, size, output_type) for x in pred_trajectory or []]
        if not return_dict:
            return (images, traj, pred_traj)
        return BridgePipelineOutput(images=images, trajectory=traj, pred_original_trajectory=pred_traj)
