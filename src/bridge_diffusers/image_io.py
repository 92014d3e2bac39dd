# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Reading image files as a viewer shows them, and writing results without ever leaving half a file.

Every image file that the command line (and the Space) reads goes through :func:`read_image`:

* **orientation**: the EXIF orientation tag is applied (a phone photo stored sideways comes out as it is shown);
* **bit depth**: 16-bit PNGs (grayscale and colour) and 16-bit grayscale TIFFs keep their 16 bits; 8-bit files
  are read as 8-bit (values come back as float32 in ``[0, 1]``);
* **transparency**: composited onto white (``alpha="white"``), or returned apart to be re-attached to the result
  (``alpha="keep"``), or dropped (``alpha="ignore"``, for masks); a note says so;
* **animation**: the first frame of an animated GIF / PNG / WebP, with a note;
* **anything else** (palette, CMYK, YCbCr, ...) is converted to RGB; an unreadable, truncated, empty or huge file
  raises :class:`ImageReadError` naming the file.

:func:`write_png` writes a result atomically (a temporary name in the same folder, then a rename), so a run that
is killed never leaves a half-written file that a rerun with ``--skip_existing`` would take for a finished one.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import PIL.Image
import torch


__all__ = [
    "IMAGE_SUFFIXES",
    "ImageReadError",
    "ReadImage",
    "content_seed",
    "image_size",
    "orient",
    "read_image",
    "write_png",
]

#: The file suffixes that a folder given as input is searched for.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
_ORIENTATION_TAG = 0x0112
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
_GRAY_MODES = ("1", "L")
_SIXTEEN_BIT_GRAY = ("I;16", "I;16B", "I;16L", "I;16N")
AlphaPolicy = Literal["white", "keep", "ignore"]


class ImageReadError(ValueError):
    """An image file that cannot be used, with the file and the reason in the message."""


@dataclass
class ReadImage:
    """An image file as a viewer shows it.

    Args:
        pixels (`np.ndarray` of shape `(H, W, C)`): float32 in ``[0, 1]``, C = 1 (grayscale) or 3 (colour).
        alpha (`np.ndarray` of shape `(H, W)`, *optional*): the transparency, float32 in ``[0, 1]``, with
            ``alpha="keep"`` for an image that has some (None otherwise).
        bits (`int`): bits per channel of the file as read (8 or 16; 32 for float and 32-bit integer images).
        notes (`list[str]`): what was done that the user should know (orientation, alpha, animation, ...).
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    bits: int = 8
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``, as PIL gives sizes."""
        return self.pixels.shape[1], self.pixels.shape[0]


def _orientation(image: PIL.Image.Image, header_only: bool = False) -> int:
    """The EXIF orientation (1 when there is none or it is unreadable). A PNG may keep its EXIF after the pixel
    data, where only a full decode finds it: ``header_only`` reads what the header holds."""
    try:
        if header_only and image.format == "PNG":
            exif = PIL.Image.Exif()
            exif.load(image.info.get("exif", b""))
        else:
            exif = image.getexif()
        value = int(exif.get(_ORIENTATION_TAG, 1))
    except Exception:  # an unreadable EXIF block: the pixels as stored
        return 1
    return value if 1 <= value <= 8 else 1


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Applies an EXIF orientation (1-8) to an `(H, W, ...)` array, as ``PIL.ImageOps.exif_transpose`` does."""
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:  # transpose
        return array.swapaxes(0, 1)
    if orientation == 6:  # 90 degrees clockwise
        return np.rot90(array, k=-1)
    if orientation == 7:  # transverse
        return np.rot90(array, k=2).swapaxes(0, 1)
    if orientation == 8:  # 90 degrees counter-clockwise
        return np.rot90(array, k=1)
    return array


def _open(path: Path) -> PIL.Image.Image:
    """``PIL.Image.open`` with every failure turned into an :class:`ImageReadError` that names the file."""
    if not path.is_file():
        raise ImageReadError(f"{path} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path} is empty (0 bytes)")
    try:
        return PIL.Image.open(path)
    except PIL.Image.DecompressionBombError as error:
        raise ImageReadError(f"{path} is too large to read safely: {error}") from None
    except PIL.UnidentifiedImageError:
        raise ImageReadError(f"cannot read {path} as an image: not a format that Pillow reads") from None
    except Exception as error:  # Pillow raises OSError, SyntaxError, ValueError, ... for broken headers
        raise ImageReadError(f"cannot read {path} as an image: {error}") from None


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` of an image file as :func:`read_image` will return it (EXIF orientation applied),
    from its header only: cheap enough to check every input before any work starts.

    Raises:
        ImageReadError: a missing, empty or unreadable file.
    """
    with _open(Path(path)) as image:
        width, height = image.size
        return (height, width) if _orientation(image, header_only=True) in (5, 6, 7, 8) else (width, height)


def _sixteen_bit_colour(image: PIL.Image.Image) -> np.ndarray | None:
    """A 16-bit colour PNG at its full precision, or None for anything else.

    Pillow has no 16-bit colour mode: it keeps the high byte of each sample (``RGB;16B`` -> ``RGB``). Decoding the
    same data once more with the little-endian unpacker keeps the low byte instead, so the two give all 16 bits,
    with Pillow's own PNG decoder (filters, zlib) doing the work both times. Must be called before ``load()``.
    """
    tiles = getattr(image, "tile", None) or []
    if image.format != "PNG" or len(tiles) != 1 or tiles[0][0] != "zip":
        return None
    rawmode = tiles[0][3] if len(tiles[0]) > 3 else tiles[0].args
    if rawmode not in ("RGB;16B", "RGBA;16B"):
        return None
    try:
        with PIL.Image.open(image.filename) as low_image:
            low_image.tile = [low_image.tile[0]._replace(args=rawmode.replace(";16B", ";16L"))]
            low_image.load()
            low = np.asarray(low_image, dtype=np.uint16)
        image.load()
        high = np.asarray(image, dtype=np.uint16)
    except Exception:  # an unusual PNG (interlaced, animated): Pillow's 8-bit reading, with a note
        return None
    return (high << 8) | low


def _decode(image: PIL.Image.Image, path: Path, notes: list[str]) -> tuple[np.ndarray, np.ndarray | None, int]:
    """The first frame's pixels as stored, `(H, W, C)` in ``[0, 1]`` (C = 1 or 3), its alpha or None, its bits."""
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        image.seek(0)
        notes.append(f"{path.name} is animated ({frames} frames): only the first frame is used.")
    colour16 = _sixteen_bit_colour(image) if frames == 1 else None
    if colour16 is not None:
        pixels = colour16.astype(np.float32) / 65535.0
        return pixels[..., :3], (pixels[..., 3] if pixels.shape[-1] == 4 else None), 16
    image.load()
    mode = image.mode
    if mode in _SIXTEEN_BIT_GRAY:
        array = np.asarray(image.convert("I"), dtype=np.float32) / 65535.0
        return array[..., None], None, 16
    if mode == "I":  # 32-bit integers: 16-bit data as most writers store it; 8-bit data if it fits in 8 bits
        array = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if array.max(initial=0) > 255 else 255.0
        if array.min(initial=0) < 0 or array.max(initial=0) > 65535:
            notes.append(f"{path.name} has 32-bit integer values outside [0, 65535]: they were clipped.")
        return np.clip(array / scale, 0, 1).astype(np.float32)[..., None], None, 32
    if mode == "F":
        array = np.asarray(image, dtype=np.float32)
        if not np.isfinite(array).all():
            raise ImageReadError(f"{path} holds NaN or infinite values")
        if array.min(initial=0) < 0 or array.max(initial=0) > 1:
            notes.append(f"{path.name} is a float image with values outside [0, 1]: they were clipped.")
        return np.clip(array, 0, 1)[..., None], None, 32
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("LA", "La", "PA"):
        image = image.convert("LA")
    elif mode == "RGBa":
        image = image.convert("RGBA")
    elif mode not in (*_GRAY_MODES, "RGB", "RGBA"):
        image = image.convert("RGB")
    if image.mode == "1":
        image = image.convert("L")
    array = np.asarray(image, dtype=np.float32) / 255.0
    if array.ndim == 2:
        array = array[..., None]
    if image.mode in ("LA", "RGBA"):
        return array[..., :-1], array[..., -1], 8
    return array, None, 8


def read_image(path: str | os.PathLike, alpha: AlphaPolicy = "white") -> ReadImage:
    """Reads an image file as a viewer shows it (see the module's docstring).

    Args:
        path: the file.
        alpha (`str`): ``"white"`` composites transparent images onto white, ``"keep"`` returns the alpha channel
            in :attr:`ReadImage.alpha` (the pixels are the colours as stored), ``"ignore"`` drops it.

    Raises:
        ImageReadError: a missing, empty, truncated, unreadable or too large file, with the file named.
    """
    if alpha not in ("white", "keep", "ignore"):
        raise ValueError(f"`alpha` must be 'white', 'keep' or 'ignore', got {alpha!r}.")
    path = Path(path)
    notes: list[str] = []
    with _open(path) as image:
        try:
            pixels, alpha_channel, bits = _decode(image, path, notes)
            orientation = _orientation(image)  # after the decode: a PNG's EXIF may follow its pixels
        except ImageReadError:
            raise
        except Exception as error:  # truncated data, a broken decoder stream, ...
            raise ImageReadError(f"cannot read {path} as an image: {error}") from None
    if orientation != 1:
        pixels = orient(pixels, orientation)
        alpha_channel = None if alpha_channel is None else orient(alpha_channel, orientation)
        notes.append(f"{path.name} was turned upright as its EXIF orientation ({orientation}) says.")
    if alpha_channel is not None and alpha_channel.min(initial=1) >= 1:
        alpha_channel = None  # an alpha channel that is opaque everywhere carries nothing
    if alpha_channel is not None:
        if alpha == "white":
            pixels = pixels * alpha_channel[..., None] + (1 - alpha_channel[..., None])
            alpha_channel = None
            notes.append(f"{path.name} has transparency: it was composited onto white.")
        elif alpha == "keep":
            notes.append(f"{path.name} has transparency: it is kept and re-attached to the result.")
        else:
            alpha_channel = None
    return ReadImage(np.ascontiguousarray(pixels, dtype=np.float32),
                     None if alpha_channel is None else np.ascontiguousarray(alpha_channel, dtype=np.float32),
                     bits, notes)  # fmt: skip


def write_png(path: str | os.PathLike, image: torch.Tensor | np.ndarray, alpha: np.ndarray | None = None) -> Path:
    """Writes one image as an 8-bit PNG, atomically: a temporary file in the same folder, then a rename.

    Args:
        path: the target file (its folder is created).
        image: `(C, H, W)` or `(1, C, H, W)` tensor in ``[-1, 1]``, or an `(H, W, C)` / `(H, W)` array in ``[0, 1]``.
        alpha (`np.ndarray` of shape `(H, W)`, *optional*): transparency in ``[0, 1]`` to attach (RGBA / LA PNG).
    """
    if isinstance(image, torch.Tensor):
        array = ((image.detach().float().cpu().reshape(-1, *image.shape[-2:]) + 1) / 2).permute(1, 2, 0).numpy()
    else:
        array = np.asarray(image, dtype=np.float32)
        array = array[..., None] if array.ndim == 2 else array
    if alpha is not None:
        if alpha.shape != array.shape[:2]:
            raise ValueError(f"The alpha channel is {alpha.shape} but the image is {array.shape[:2]}.")
        array = np.concatenate([array, alpha[..., None]], axis=-1)
    array = np.round(np.clip(array, 0, 1) * 255).astype(np.uint8)
    picture = PIL.Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        picture.save(partial, format="PNG")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def content_seed(path: str | os.PathLike, seed: int = 0) -> int:
    """A 63-bit seed from ``seed`` and the bytes of a file: an image restores the same wherever it sits in a folder
    and whatever its name, and different images get different noise."""
    digest = hashlib.sha256(f"bridge-diffusers:{seed}:".encode())
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return int.from_bytes(digest.digest()[:8], "big") >> 1
