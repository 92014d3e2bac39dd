# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""What the restoration pipelines share: image I/O, loading, and the one sampling core of the bridges.

``RestorationPipeline`` holds everything that is not about a bridge: reading images and masks in any format,
padding to the UNet's multiple, turning samples into PIL / numpy / tensors (diffusers' ``VaeImageProcessor``),
checking the call's arguments and loading from a folder or the Hub. ``BridgePipeline`` adds the sampling core:

    __call__ = preprocess -> prepare_endpoint -> sample -> postprocess

``prepare_endpoint`` and ``sample`` work on ``[-1, 1]`` tensors, so that validation, distillation rollouts,
evaluation, diagnostics, the showcase and tiling all run the same loop (``restore`` is the two together).

A pipeline may know its ``task``, the degradation it was trained on (stored in ``model_index.json``). For a
super-resolution task, ``__call__`` takes the low-resolution images and upscales them as in training
(:meth:`RestorationPipeline.to_network_size`), so the result is ``factor`` times larger than its input.
"""

from __future__ import annotations

import inspect
import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline, ImagePipelineOutput
from diffusers.callbacks import MultiPipelineCallbacks, PipelineCallback
from diffusers.image_processor import VaeImageProcessor
from huggingface_hub import snapshot_download
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from safetensors import safe_open

from ..degradations import SuperResolution, get_degradation, list_degradations
from ..models.bridge_unet import compute_dtype, downsample_factor, unet_forward
from ..schedulers.scheduling_bridge import BridgeInputs
from .remote_code import without_remote_code, write_remote_code


__all__ = [
    "BridgePipeline",
    "BridgePipelineOutput",
    "BridgeSample",
    "ImageInput",
    "PipelineFolderError",
    "RestorationPipeline",
    "check_pipeline_folder",
    "check_pipeline_location",
    "images_to_tensor",
    "mask_to_tensor",
    "pad_to_multiple",
    "takes_condition",
]

ImageInput = PIL.Image.Image | np.ndarray | torch.Tensor | Sequence[PIL.Image.Image | np.ndarray | torch.Tensor]
OUTPUT_TYPES = ("pil", "np", "pt")
_ACCEPTED = (
    "PIL images, numpy arrays (H, W), (H, W, C) or (B, H, W, C) as uint8 in [0, 255], uint16 in [0, 65535], bool or "
    "float in [0, 1], torch tensors (C, H, W) or (B, C, H, W) as float in [0, 1] (or uint8, bool), or a list of "
    "these; C in {1, 3, 4}"
)
_RANGE_SLACK = 1e-3  # float inputs a rounding error outside [0, 1] are clamped, not refused
_HUB_KWARGS = ("revision", "cache_dir", "local_files_only", "token", "force_download")
StepCallback = Callable[..., dict[str, Any]] | PipelineCallback | MultiPipelineCallbacks


@dataclass
class BridgePipelineOutput(ImagePipelineOutput):
    """Output of the restoration pipelines.

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


@dataclass
class BridgeSample:
    """What :meth:`BridgePipeline.sample` returns, all `(B, C, H, W)` tensors in ``[-1, 1]`` (not clamped).

    Args:
        sample: the final sample.
        trajectory: with ``output_trajectory``, the sample before the first and after every step.
        pred_original_trajectory: with ``output_trajectory``, the ``x0`` estimate of every step.
    """

    sample: torch.Tensor
    trajectory: list[torch.Tensor] | None = None
    pred_original_trajectory: list[torch.Tensor] | None = None


# --------------------------------------------------------------------------------------------- images in
_CHANNELS = (1, 3, 4)
_NUMPY_LAYOUTS = (
    "Accepted numpy layouts: (H, W), (H, W, C) and (B, H, W, C), channels last with C in {1, 3, 4}. For a "
    "channels-first array pass np.moveaxis(x, 0, -1) (or torch.from_numpy(x), tensors are channels first); for a "
    "batch of grayscale images pass x[..., None]"
)
_TENSOR_LAYOUTS = (
    "Accepted tensor layouts: (C, H, W) and (B, C, H, W), channels first with C in {1, 3, 4}. For a channels-last "
    "tensor pass x.permute(2, 0, 1) (or .permute(0, 3, 1, 2) for a batch); for a grayscale (H, W) tensor pass x[None]"
)


def _pil_to_array(image: PIL.Image.Image) -> np.ndarray:
    """A PIL image as `(H, W, C)` float32 in [0, 1]: grayscale (1, L, 16-bit, 32-bit, float) as one channel, the rest
    as RGB (the alpha channel of RGBA / LA / P images is dropped; files read with
    :func:`bridge_diffusers.image_io.read_image` have theirs composited or kept, and their EXIF orientation applied).
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N"):  # 16 bits, whatever the values: a dark image stays dark
        return (np.asarray(image.convert("I"), dtype=np.float32) / 65535.0)[..., None]
    if image.mode in ("1", "L", "I", "F"):
        image = image.convert("F") if image.mode in ("I", "F") else image.convert("L")
        array = np.asarray(image, dtype=np.float32)
        # 32-bit integers: 16-bit data (as most writers store it) unless the values fit in 8 bits
        scale = 1.0 if image.mode == "F" and array.max(initial=0) <= 1 else 255.0
        scale = 65535.0 if array.max(initial=0) > 255 else scale
        return (array / scale)[..., None]
    return VaeImageProcessor.pil_to_numpy(image.convert("RGB"))[0]


def _array_to_bhwc(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    elif array.dtype == np.uint16:
        array = array.astype(np.float32) / 65535.0
    elif array.dtype == np.bool_ or np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    else:
        raise ValueError(f"Unsupported numpy dtype {array.dtype}. Accepted: {_ACCEPTED}.")
    if array.ndim == 2:
        return array[None, ..., None]
    if array.ndim not in (3, 4):
        raise ValueError(f"A numpy image must have 2 to 4 dimensions, got shape {array.shape}. {_NUMPY_LAYOUTS}.")
    if array.shape[-1] not in _CHANNELS:
        raise ValueError(
            f"A numpy image of shape {array.shape} has no layout that can be read: the channel axis must be last, "
            f"with 1, 3 or 4 channels. {_NUMPY_LAYOUTS}."
        )
    return array[None] if array.ndim == 3 else array


def _one_to_bchw(image: PIL.Image.Image | np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(image, PIL.Image.Image):
        image = _pil_to_array(image)
    if isinstance(image, np.ndarray):
        return VaeImageProcessor.numpy_to_pt(np.ascontiguousarray(_array_to_bhwc(image)))
    if isinstance(image, torch.Tensor):
        tensor = image.detach()
        if tensor.dtype == torch.uint8:
            tensor = tensor.float() / 255.0
        elif tensor.dtype == torch.bool:
            tensor = tensor.float()
        elif not tensor.dtype.is_floating_point:
            raise ValueError(f"Unsupported tensor dtype {tensor.dtype}. Accepted: {_ACCEPTED}.")
        if tensor.ndim not in (3, 4):
            raise ValueError(
                f"A tensor image must be (C, H, W) or (B, C, H, W), got shape {tuple(tensor.shape)}. "
                f"{_TENSOR_LAYOUTS}."
            )
        tensor = tensor[None] if tensor.ndim == 3 else tensor
        if tensor.shape[1] not in _CHANNELS:
            layout = "looks channels last" if tensor.shape[-1] in _CHANNELS else "has no channel axis of 1, 3 or 4"
            raise ValueError(
                f"A tensor image of shape {tuple(image.shape)} {layout}: it must have 1, 3 or 4 channels first. "
                f"{_TENSOR_LAYOUTS}."
            )
        return tensor.float().cpu()
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


def _package_classes() -> dict[str, type]:
    """This package's pipeline and component classes by name (what ``model_index.json`` entries may name)."""
    from .. import models, pipelines, schedulers

    modules = (models, pipelines, schedulers)
    return {name: obj for module in modules for name, obj in vars(module).items() if isinstance(obj, type)}


# --------------------------------------------------------------------------------------------- loading
class PipelineFolderError(ValueError):
    """A pipeline location that cannot be loaded, with the missing or bad file named."""


def _looks_local(path: str) -> bool:
    """Whether ``path`` can only mean a local folder: a Hub repo id is ``name`` or ``owner/name``, so an absolute or
    relative-looking path, more than one ``/``, or a first component that is a local folder rules the Hub out."""
    if os.path.isabs(path) or path.startswith((".", "~")) or path.endswith(("/", os.sep)) or "\\" in path:
        return True
    parts = path.split("/")
    return len(parts) > 2 or (len(parts) == 2 and os.path.isdir(parts[0]))


def check_pipeline_location(path: str | os.PathLike) -> None:
    """Refuses, before any Hub look-up, a location that is neither an existing folder nor a possible repo id.

    Raises:
        PipelineFolderError: a local-looking path that does not exist (or is a file), or an impossible repo id.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        return
    if os.path.exists(path):
        raise PipelineFolderError(f"{path} is a file, not a pipeline folder (a save_pretrained folder or a repo id)")
    if _looks_local(path):
        raise PipelineFolderError(f"the pipeline folder {path} does not exist")
    try:
        validate_repo_id(path)
    except HFValidationError:
        raise PipelineFolderError(f"{path!r} is neither an existing folder nor a Hub repo id ('owner/name')") from None


def _model_weights(folder: str, variant: str | None) -> str | None:
    """The weights file that ``from_pretrained`` of a model folder reads (safetensors or bin, sharded or not)."""
    names = []
    for stem in ("diffusion_pytorch_model", "model"):
        for suffix in (".safetensors", ".safetensors.index.json", ".bin", ".bin.index.json"):
            if variant:
                names.append(f"{stem}.{variant}{suffix}")
            names.append(f"{stem}{suffix}")
    return next((os.path.join(folder, n) for n in names if os.path.isfile(os.path.join(folder, n))), None)


def _read_json(file: str) -> dict:
    if not os.path.isfile(file):
        raise PipelineFolderError(f"{file} is missing")
    try:
        with open(file, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PipelineFolderError(f"{file} is not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise PipelineFolderError(f"{file} must hold a JSON object, got {type(config).__name__}")
    return config


def _check_numbers(cls: type, config: dict, file: str) -> None:
    """Refuses config values that are not numbers where the class's default is one (a quoted or mistyped value
    would otherwise fail later as ``'<' not supported between 'float' and 'str'``)."""
    try:
        defaults = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return
    for key, value in config.items():
        default = defaults[key].default if key in defaults else inspect.Parameter.empty
        number_expected = isinstance(default, (int, float)) and not isinstance(default, bool)
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number_expected and value is not None and not is_number:
            raise PipelineFolderError(f"{file}: {key!r} must be a number, got {value!r}")


def check_pipeline_folder(path: str | os.PathLike, variant: str | None = None, given: set[str] = frozenset()) -> None:
    """Checks a saved pipeline folder before loading it, so that a damaged one is reported by the file at fault:
    ``model_index.json``, each component's folder, config and weights (whose safetensors header is read), and the
    scheduler's values. Components in ``given`` (passed to ``from_pretrained`` in place of the saved ones) are not
    checked.

    Raises:
        PipelineFolderError: naming the missing or bad file.
    """
    path = os.fspath(path)
    index = _read_json(os.path.join(path, "model_index.json"))
    classes = _package_classes()
    for name, entry in index.items():
        if name.startswith("_") or name in given or not isinstance(entry, (list, tuple)) or len(entry) != 2:
            continue
        if entry[0] is None or entry[1] is None:  # an optional component saved as absent
            continue
        folder = os.path.join(path, name)
        if not os.path.isdir(folder):
            raise PipelineFolderError(f"{folder}{os.sep} is missing (model_index.json lists the component {name!r})")
        if os.path.isfile(os.path.join(folder, "scheduler_config.json")) or "Scheduler" in str(entry[1]):
            file = os.path.join(folder, "scheduler_config.json")
            config = _read_json(file)
            cls = classes.get(str(entry[1]))
            if cls is not None:
                _check_numbers(cls, {k: v for k, v in config.items() if not k.startswith("_")}, file)
                try:
                    cls.from_config(config)
                except Exception as error:
                    raise PipelineFolderError(f"{file} has a value the scheduler refuses: {error}") from None
            continue
        config = _read_json(os.path.join(folder, "config.json"))
        cls = classes.get(str(entry[1]))
        if cls is not None:
            _check_numbers(cls, {k: v for k, v in config.items() if not k.startswith("_")}, folder + "/config.json")
        weights = _model_weights(folder, variant)
        if weights is None:
            raise PipelineFolderError(f"{folder}{os.sep} has no weights (diffusion_pytorch_model.safetensors)")
        if weights.endswith(".safetensors"):
            try:
                with safe_open(weights, framework="pt") as handle:
                    handle.keys()
            except Exception as error:  # truncated or overwritten file
                raise PipelineFolderError(f"{weights} is damaged ({error})") from None


# ----------------------------------------------------------------------------------- restoration pipelines
class RestorationPipeline(DiffusionPipeline):
    """Base of the image-to-image pipelines of this package: image I/O, argument checks and loading.

    Subclasses have a ``unet`` (``UNet2DModel``), implement :meth:`restore` on ``[-1, 1]`` tensors and call
    :meth:`register_task` in ``__init__``, so that their ``task`` round-trips through ``model_index.json``.
    """

    image_processor = VaeImageProcessor(vae_scale_factor=1, do_resize=False, do_normalize=True)

    # ------------------------------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs):
        """Loads a saved pipeline from a local folder or a Hub repo id.

        A repo id is first resolved to a local snapshot with ``huggingface_hub.snapshot_download`` (honouring
        ``revision``, ``cache_dir``, ``local_files_only``, ``token`` and ``HF_HUB_OFFLINE``): diffusers' own Hub
        path refuses components from third-party libraries such as this one. The remote-code files that let
        ``DiffusionPipeline.from_pretrained(..., trust_remote_code=True)`` load the folder never run here: the
        concrete class reads their entries as this package's modules. Every other keyword (``torch_dtype``,
        ``variant``, components to replace, ...) goes to ``DiffusionPipeline.from_pretrained``.
        """
        path = os.fspath(pretrained_model_name_or_path)
        if not os.path.isdir(path):
            check_pipeline_location(path)
            hub_kwargs = {key: kwargs[key] for key in _HUB_KWARGS if key in kwargs}
            try:
                path = snapshot_download(repo_id=path, repo_type="model", **hub_kwargs)
            except Exception as error:  # offline, unknown repo, no access: say what was tried
                raise OSError(
                    f"{path!r} is not a local folder, and the Hub could not provide it as a repo id "
                    f"({type(error).__name__}: {error})"
                ) from error
        for key in _HUB_KWARGS:
            kwargs.pop(key, None)
        check_pipeline_folder(path, variant=kwargs.get("variant"), given=set(kwargs))
        return super().from_pretrained(path, **kwargs)

    @classmethod
    def load_config(cls, *args, **kwargs):
        """``model_index.json`` with the remote-code entries read as this package's modules (see ``remote_code``):
        a concrete class never runs the folder's ``.py`` files, which only ``DiffusionPipeline`` needs."""
        loaded = super().load_config(*args, **kwargs)
        config, rest = (loaded[0], loaded[1:]) if isinstance(loaded, tuple) else (loaded, ())
        if "_class_name" in config:  # a pipeline's index, not a component's config
            config = without_remote_code(config, _package_classes())
        return (config, *rest) if rest else config

    def save_pretrained(self, save_directory: str | os.PathLike, *args, **kwargs) -> None:
        """``DiffusionPipeline.save_pretrained``, plus the remote-code files that make the folder loadable with
        ``DiffusionPipeline.from_pretrained(folder_or_repo, trust_remote_code=True)``."""
        super().save_pretrained(save_directory, *args, **kwargs)
        write_remote_code(save_directory, self)

    # --------------------------------------------------------------------------------------------- task
    def register_task(self, task: str | None) -> None:
        """Stores the degradation the pipeline restores in its config (``model_index.json``), checked first.

        Args:
            task (`str`, *optional*): a name of :func:`~bridge_diffusers.degradations.list_degradations`, the
                operator the networks were trained on (e.g. ``"sr4x-pool"``, ``"jpeg10-pillow"``); None when
                unknown (folders saved before pipelines had a task).

        Raises:
            ValueError: a task that names no registered degradation.
        """
        if task is not None:
            if not isinstance(task, str):
                raise ValueError(f"`task` must be a degradation name or None, got {type(task).__name__} {task!r}.")
            try:
                get_degradation(task)
            except ValueError:
                raise ValueError(
                    f"`task` {task!r} is not a degradation; use one of {', '.join(list_degradations())}, or None."
                ) from None
        self.register_to_config(task=task)

    @property
    def task(self) -> str | None:
        """The degradation the pipeline restores (see :meth:`register_task`), or None when it is not known."""
        return self.config.get("task")

    def upscaler(self, upscale: bool | None = None) -> SuperResolution | None:
        """The operator whose up-sampling brings inputs to the network's size, or None to keep their size.

        Args:
            upscale (`bool`, *optional*): None: upscale when the task is a super-resolution degradation; True:
                upscale (only such a task can); False: never.

        Raises:
            ValueError: ``upscale=True`` on a pipeline whose task is not super-resolution, or not a bool or None.
        """
        if upscale is not None and not isinstance(upscale, bool):
            raise ValueError(f"`upscale` must be True, False or None, got {upscale!r}.")
        operator = None if self.task is None else get_degradation(self.task)
        operator = operator if isinstance(operator, SuperResolution) else None
        if upscale and operator is None:
            tasks = [name for name in list_degradations() if isinstance(get_degradation(name), SuperResolution)]
            what = "has no task" if self.task is None else f"restores {self.task!r}"
            raise ValueError(
                f"`upscale=True` needs a super-resolution pipeline (task {' or '.join(tasks)}), but this one {what}. "
                "Pass upscale=None (the task decides) or False to restore at the input's size."
            )
        return operator if upscale is not False else None

    def to_network_size(self, images: torch.Tensor, upscale: bool | None = None) -> torch.Tensor:
        """The network's input for degraded images: for a super-resolution task, the low-resolution images repeated
        to ``factor`` times their size exactly as the training degradation does
        (:meth:`~bridge_diffusers.degradations.SuperResolution.upsample`); otherwise the images themselves.

        Args:
            images (`torch.Tensor` of shape `(B, C, h, w)`): degraded images in any range and dtype.
            upscale (`bool`, *optional*): see :meth:`upscaler`.

        Returns:
            `torch.Tensor` of shape `(B, C, factor * h, factor * w)` when upscaling, else ``images``.
        """
        operator = self.upscaler(upscale)
        return images if operator is None else operator.upsample(images)

    # ------------------------------------------------------------------------------------------- images
    @property
    def image_channels(self) -> int:
        return self.unet.config.out_channels

    @property
    def pad_multiple(self) -> int:
        """The multiple the network needs the height and width to have; inputs are padded to it."""
        return downsample_factor(self.unet)

    def preprocess(
        self, image: ImageInput, mask_image: ImageInput | None, upscale: bool | None = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Validates and converts the inputs: the degraded images `(B, C, H, W)` in ``[-1, 1]`` and the mask
        `(B, 1, H, W)` in {0, 1} (or None), on the execution device in the network's dtype.

        With upscaling (``upscale`` as in :meth:`upscaler`; ``__call__`` passes its own, default None) the images are
        brought to the network's size by :meth:`to_network_size`, ``H = factor * h``. A mask is refused then: an
        inpainting hole of the small image has no meaning for a network trained on whole low-resolution images.
        """
        if mask_image is not None and self.upscaler(upscale) is not None:
            raise ValueError(
                "An inpainting mask cannot be combined with upscaling: pass upscale=False and the images already "
                "up-sampled, with a mask of their size."
            )
        images = images_to_tensor(image, channels=self.image_channels)
        masks = None if mask_image is None else mask_to_tensor(mask_image, images.shape[0], images.shape[-2:])
        device, dtype = self._execution_device, compute_dtype(self.unet)
        # Upsampled on the device: only the low-resolution image crosses to it.
        degraded = self.to_network_size(self.image_processor.normalize(images).to(device=device, dtype=dtype), upscale)
        return degraded, None if masks is None else masks.to(device=device, dtype=dtype)

    def postprocess(self, images: torch.Tensor, output_type: str):
        """`(B, C, H, W)` samples in ``[-1, 1]`` -> the ``output_type`` in ``[0, 1]``."""
        return self.image_processor.postprocess(images.float(), output_type=output_type)

    def pad(self, images: torch.Tensor | None) -> torch.Tensor | None:
        """Pads `(B, C, H, W)` to :attr:`pad_multiple` (None passes through); results are cropped back."""
        return None if images is None else pad_to_multiple(images, self.pad_multiple)

    # ------------------------------------------------------------------------------------------- checks
    def check_inputs(
        self,
        batch_size: int,
        output_type: str,
        generator: torch.Generator | list[torch.Generator] | None,
        num_inference_steps: int | None,
    ) -> None:
        """Refuses a bad call before any network runs, with what is accepted."""
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"`output_type` must be one of {OUTPUT_TYPES}, got {output_type!r}.")
        if isinstance(generator, list) and len(generator) != batch_size:
            raise ValueError(
                f"You passed a list of {len(generator)} generators for a batch of {batch_size} images: pass one "
                "generator, or one per image."
            )
        if num_inference_steps is not None:
            low, high = self.step_range
            is_count = isinstance(num_inference_steps, int) and not isinstance(num_inference_steps, bool)
            if not is_count or not low <= num_inference_steps <= high:
                raise ValueError(
                    f"`num_inference_steps` must be an integer in [{low}, {high}], got {num_inference_steps!r}."
                )

    @property
    def step_range(self) -> tuple[int, int]:
        """The accepted ``num_inference_steps``, ``(low, high)``."""
        raise NotImplementedError

    @staticmethod
    def _resolve_mask(mask_image: ImageInput | None, mask: ImageInput | None) -> ImageInput | None:
        """``mask_image`` (the diffusers name), or the deprecated ``mask``."""
        if mask is None:
            return mask_image
        if mask_image is not None:
            raise ValueError("Pass the inpainting mask as `mask_image` only (`mask` is its deprecated alias).")
        warnings.warn(
            "`mask` is deprecated and will be removed in bridge-diffusers 0.3: pass `mask_image` (the name of "
            "diffusers' inpainting pipelines).",
            FutureWarning,
            stacklevel=3,
        )
        return mask

    def restore(
        self,
        degraded: torch.Tensor,
        mask: torch.Tensor | None = None,
        num_inference_steps: int | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
    ) -> torch.Tensor:
        """Restores `(B, C, H, W)` images in ``[-1, 1]`` of any size; returns the same shape in ``[-1, 1]``.

        The pipeline as a plain tensor restorer, without gradients: the form that evaluation, training validation,
        tiling and the showcase use.

        Args:
            degraded (`torch.Tensor` of shape `(B, C, H, W)`): degraded images in ``[-1, 1]``, any H and W.
            mask (`torch.Tensor` of shape `(B, 1, H, W)`, *optional*): inpainting hole, 1 where pixels are missing.
            num_inference_steps (`int`, *optional*): network evaluations (the pipeline's default if omitted).
            generator (`torch.Generator` or list, *optional*): one generator, or one per image.
        """
        self.check_inputs(degraded.shape[0], "pt", generator, num_inference_steps)
        height, width = degraded.shape[-2:]
        device, dtype = self._execution_device, compute_dtype(self.unet)
        x1, mask = self.pad(degraded.to(device, dtype)), self.pad(None if mask is None else mask.to(device, dtype))
        with torch.no_grad():
            restored = self.restore_padded(x1, mask, num_inference_steps, generator)
        return restored[..., :height, :width]

    def restore_padded(
        self,
        degraded: torch.Tensor,
        mask: torch.Tensor | None,
        num_inference_steps: int | None,
        generator: torch.Generator | list[torch.Generator] | None,
    ) -> torch.Tensor:
        """:meth:`restore` on inputs whose H and W are multiples of :attr:`pad_multiple`."""
        raise NotImplementedError


# --------------------------------------------------------------------------------------------- bridges
class BridgePipeline(RestorationPipeline):
    """Base of the bridge pipelines (I2SB, NADB, IBMD): the one sampling core.

    A subclass registers ``unet`` and ``scheduler`` (and optionally ``mean_net``); the scheduler decides where the
    bridge starts (:meth:`~BridgeScheduler.prepare_endpoint`) and how it steps.
    """

    model_cpu_offload_seq = "unet"
    _callback_tensor_inputs: ClassVar[list[str]] = ["sample", "pred_original_sample"]
    #: network evaluations of a call that does not say, unless the pipeline's config sets ``default_steps``
    DEFAULT_STEPS: int = 10

    @property
    def default_num_inference_steps(self) -> int:
        """The NFE of a call that does not say: the config's ``default_steps`` (what ``export_shipped.py`` chose on
        validation photos) or :attr:`DEFAULT_STEPS`."""
        return self.default_steps or self.DEFAULT_STEPS

    @property
    def default_steps(self) -> int | None:
        """The configured default NFE (``model_index.json``), None when the class's applies."""
        return self.config.get("default_steps")

    def register_default_steps(self, default_steps: int | None) -> None:
        """Stores the NFE a call without ``num_inference_steps`` runs (``model_index.json``); None: the class's.

        Raises:
            ValueError: a count outside :attr:`step_range`.
        """
        if default_steps is not None:
            low, high = self.step_range
            is_count = isinstance(default_steps, int) and not isinstance(default_steps, bool)
            if not is_count or not low <= default_steps <= high:
                raise ValueError(f"`default_steps` must be an integer in [{low}, {high}] or None, got {default_steps!r}.")
        self.register_to_config(default_steps=default_steps)

    @property
    def noise_channels(self) -> int:
        """Input channels of generator noise (IBMD students); 0 for a bridge network."""
        return 0

    @property
    def cond_x1(self) -> bool:
        """Whether the network also sees the degraded image (``cond_x1``), read from its input channels."""
        return takes_condition(self.unet, self.noise_channels)

    @property
    def num_timesteps(self) -> int:
        """The number of steps of the last (or current) sampling run."""
        return self._num_timesteps

    @property
    def interrupt(self) -> bool:
        """Set to True (e.g. from ``callback_on_step_end``) to skip the remaining steps of the current run."""
        return getattr(self, "_interrupt", False)

    @property
    def step_range(self) -> tuple[int, int]:
        """From one step to one per training index of the bridge."""
        return 1, self.scheduler.endpoint_index - self.scheduler.clean_index

    # -------------------------------------------------------------------------------------- the core
    def prepare_endpoint(
        self,
        degraded: torch.Tensor,
        mask: torch.Tensor | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
    ) -> BridgeInputs:
        """Where the bridge starts and what the network sees besides ``x_t``.

        Args:
            degraded (`torch.Tensor` of shape `(B, C, H, W)`): the degraded images in ``[-1, 1]``, with H and W
                multiples of :attr:`pad_multiple`.
            mask (`torch.Tensor` of shape `(B, 1, H, W)`, *optional*): inpainting hole, 1 where pixels are missing.
            generator (`torch.Generator` or list, *optional*): randomness of the endpoint (I2SB's hole noise).

        Returns:
            :class:`BridgeInputs` ``(endpoint, condition)``: the scheduler's endpoint, from the frozen mean network's
            estimate when the pipeline has one (NADB).
        """
        mean_net = getattr(self, "mean_net", None)
        estimate = None
        if mean_net is not None:
            with torch.no_grad():  # the mean network is frozen wherever a bridge uses it
                estimate = mean_net(degraded, mask)
        return self.scheduler.prepare_endpoint(degraded, mask, estimate, generator)

    def model_output(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | int,
        condition: torch.Tensor,
        generator: torch.Generator | list[torch.Generator] | None = None,
        network: torch.nn.Module | None = None,
    ) -> torch.Tensor:
        """The network's output at ``(x_t, t)`` (with the degraded image for a ``cond_x1`` network)."""
        time = self.scheduler.model_time(timestep)
        return unet_forward(network or self.unet, sample, time, condition=condition if self.cond_x1 else None)

    def sample(
        self,
        inputs: BridgeInputs,
        mask: torch.Tensor | None = None,
        num_inference_steps: int | None = None,
        timesteps: list[int] | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        *,
        network: torch.nn.Module | None = None,
        enable_grad: bool = False,
        output_trajectory: bool = False,
        callback_on_step_end: StepCallback | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
    ) -> BridgeSample:
        """Runs the bridge from ``inputs.endpoint`` to the clean end: the sampling loop, written once.

        Args:
            inputs (`BridgeInputs`): from :meth:`prepare_endpoint`; `(B, C, H, W)` in ``[-1, 1]``.
            mask (`torch.Tensor` of shape `(B, 1, H, W)`, *optional*): inpainting hole (known pixels are kept).
            num_inference_steps (`int`, *optional*): network evaluations; :attr:`default_num_inference_steps`.
            timesteps (`list[int]`, *optional*): a custom descending grid of start indices (wins over the count).
            generator (`torch.Generator` or list, *optional*): one generator, or one per image.
            network (`torch.nn.Module`, *optional*): the network to call instead of ``self.unet`` (a DDP-wrapped
                copy in training).
            enable_grad (`bool`, defaults to `False`): keep the autograd graph (distillation rollouts).
            output_trajectory (`bool`, defaults to `False`): also return every sample and ``x0`` estimate.
            callback_on_step_end (`Callable`, `PipelineCallback` or `MultiPipelineCallbacks`, *optional*): called as
                ``callback(pipe, i, t, tensors)`` after each step with the tensors named in
                ``callback_on_step_end_tensor_inputs``; a ``"sample"`` it returns replaces the sample.
            callback_on_step_end_tensor_inputs (`list[str]`, *optional*): from ``_callback_tensor_inputs``;
                default ``["sample"]``.
        """
        tensor_inputs = self._callback_inputs(callback_on_step_end, callback_on_step_end_tensor_inputs)
        if timesteps is None:
            num_inference_steps = num_inference_steps or self.default_num_inference_steps
        self.set_sampling_grid(num_inference_steps, timesteps, inputs.endpoint.device)
        self._num_timesteps, self._interrupt = len(self.scheduler.timesteps), False
        sample = inputs.endpoint
        trajectory, pred_trajectory = ([sample], []) if output_trajectory else (None, None)
        with torch.set_grad_enabled(enable_grad):
            for i, t in enumerate(self.progress_bar(self.scheduler.timesteps)):
                if self.interrupt:
                    continue
                output = self.model_output(sample, t, inputs.condition, generator, network)
                sample, pred_original_sample = self.scheduler.step(
                    output, t, sample, generator=generator, return_dict=False, endpoint=inputs.endpoint, mask=mask
                )
                if callback_on_step_end is not None:
                    current = {"sample": sample, "pred_original_sample": pred_original_sample}
                    returned = callback_on_step_end(self, i, t, {name: current[name] for name in tensor_inputs})
                    sample = returned.pop("sample", sample)
                if output_trajectory:
                    trajectory.append(sample)
                    pred_trajectory.append(pred_original_sample)
        return BridgeSample(sample, trajectory, pred_trajectory)

    def restore_padded(self, degraded, mask, num_inference_steps, generator) -> torch.Tensor:
        """``prepare_endpoint`` then ``sample``: the bridge as a tensor restorer (see :meth:`restore`)."""
        inputs = self.prepare_endpoint(degraded, mask, generator)
        return self.sample(inputs, mask, num_inference_steps, generator=generator).sample

    @torch.no_grad()
    def __call__(
        self,
        image: ImageInput,
        mask_image: ImageInput | None = None,
        num_inference_steps: int | None = None,
        timesteps: list[int] | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        output_trajectory: bool = False,
        callback_on_step_end: StepCallback | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
        mask: ImageInput | None = None,
        upscale: bool | None = None,
    ) -> BridgePipelineOutput | tuple:
        """Restores (or translates) images.

        Args:
            image: the degraded image(s): PIL, numpy (uint8 or float in [0, 1]) or tensor in [0, 1], one or a batch,
                any size (padded to the UNet's multiple and cropped back); grayscale and RGBA are converted. For a
                super-resolution pipeline, the low-resolution images `(h, w)` (see ``upscale``).
            mask_image: for inpainting, 1 (white) in the hole and 0 where pixels are known; one for all images or
                one per image. The known pixels are kept.
            num_inference_steps (`int`, *optional*): network evaluations; :attr:`default_num_inference_steps`.
            timesteps (`list[int]`, *optional*): a custom descending grid of start indices.
            generator (`torch.Generator` or list, *optional*): one generator, or one per image, for reproducibility.
            output_type (`str`, defaults to `"pil"`): `"pil"`, `"np"` (B, H, W, C) or `"pt"` (B, C, H, W), in [0, 1].
            return_dict (`bool`, defaults to `True`): return a :class:`BridgePipelineOutput` instead of a tuple.
            output_trajectory (`bool`, defaults to `False`): also return the sample and ``x0`` estimate of every step.
            callback_on_step_end, callback_on_step_end_tensor_inputs: see :meth:`sample`; set ``pipe._interrupt``
                from the callback to stop early.
            mask: deprecated alias of ``mask_image``.
            upscale (`bool`, *optional*): None (default): upscale when the pipeline's ``task`` is a super-resolution
                degradation (``sr4x-pool``, ``sr4x-bicubic``): the `(h, w)` inputs are repeated to
                `(factor * h, factor * w)` as in training and the results are that size. False: the inputs are
                already up-sampled (blocky images of the output size), restored at their size. True: upscale, refused
                (ValueError) for a pipeline whose task is not super-resolution. Upscaling takes no mask.

        Returns:
            :class:`BridgePipelineOutput` (or a tuple whose first element is the images), at the size of the
            network's input: the input's, or ``factor`` times it when upscaling.
        """
        # 1. Check and convert the inputs: [-1, 1] tensors at the network's size, padded to its multiple.
        mask_image = self._resolve_mask(mask_image, mask)
        degraded, mask_t = self.preprocess(image, mask_image, upscale)
        self.check_inputs(degraded.shape[0], output_type, generator, num_inference_steps)
        height, width = degraded.shape[-2:]
        degraded, mask_t = self.pad(degraded), self.pad(mask_t)

        # 2. Where the bridge starts (I2SB: x1, NADB: the mean network's estimate), then the reverse steps.
        inputs = self.prepare_endpoint(degraded, mask_t, generator)
        result = self.sample(
            inputs,
            mask_t,
            num_inference_steps,
            timesteps,
            generator,
            output_trajectory=output_trajectory,
            callback_on_step_end=callback_on_step_end,
            callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs,
        )

        # 3. Crop the padding and convert.
        images = self.postprocess(result.sample[..., :height, :width], output_type)
        self.maybe_free_model_hooks()
        if not output_trajectory:
            return BridgePipelineOutput(images=images) if return_dict else (images,)
        trajectory = [self.postprocess(x[..., :height, :width], output_type) for x in result.trajectory]
        preds = [self.postprocess(x[..., :height, :width], output_type) for x in result.pred_original_trajectory]
        if not return_dict:
            return (images, trajectory, preds)
        return BridgePipelineOutput(images=images, trajectory=trajectory, pred_original_trajectory=preds)

    # ------------------------------------------------------------------------------------------ helpers
    def set_sampling_grid(
        self, num_inference_steps: int | None, timesteps: list[int] | None, device: torch.device
    ) -> None:
        """``scheduler.set_timesteps`` from either a step count or a custom grid (a custom grid wins)."""
        if timesteps is not None:
            self.scheduler.set_timesteps(timesteps=timesteps, device=device)
        else:
            self.scheduler.set_timesteps(num_inference_steps, device=device)

    def _callback_inputs(self, callback: StepCallback | None, names: list[str] | None) -> list[str]:
        if isinstance(callback, (PipelineCallback, MultiPipelineCallbacks)):
            names = callback.tensor_inputs
        names = list(names or ["sample"])
        unknown = [name for name in names if name not in self._callback_tensor_inputs]
        if unknown:
            raise ValueError(
                f"`callback_on_step_end_tensor_inputs` may name {self._callback_tensor_inputs}, got {unknown}."
            )
        return names
