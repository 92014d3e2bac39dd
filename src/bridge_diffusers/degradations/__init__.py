# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""Corruption operators of the image-restoration tasks (I2SB / DDRM definitions).

Images are float tensors of shape ``(B, C, H, W)`` in ``[-1, 1]``. Build an operator by name and call it::

    from bridge_diffusers.degradations import get_degradation

    operator = get_degradation("sr4x-bicubic")
    output = operator(images, generator=torch.Generator().manual_seed(0))
    degraded, mask = output.degraded, output.mask  # mask is None except for inpainting

Registered names: ``jpeg5``, ``jpeg10`` (aliases ``jpeg-5``, ``jpeg-10``), ``blur-uni``, ``blur-gauss``,
``sr4x-pool``, ``sr4x-bicubic``, ``inpaint-center``, ``inpaint-freeform1020``, ``inpaint-freeform2030`` and
``mixture``, the official operators; and the variants ``jpeg5-pillow``, ``jpeg10-pillow`` (a real JPEG encoder
instead of the official torch simulation) and ``blur-uni-per-channel``, ``blur-gauss-per-channel`` (a separable
per-channel blur instead of DDRM's tiled singular values).
"""

from .base import Degradation, DegradationOutput, GeneratorType, validate_images
from .blur import Blur, DDRMBlurSVD, SingularLayout, blur_kernel_taps, blur_matrix, ddrm_blur_svd
from .inpaint import FreeformMask, Inpainting, center_mask
from .jpeg import JPEGCompression, JPEGEncoder, jpeg_pil, jpeg_simulate
from .mixture import MIXTURE_COMPONENTS, Mixture
from .registry import get_degradation, list_degradations, register_degradation
from .superresolution import SuperResolution, bicubic_downsampling_matrix, bicubic_kernel_taps


__all__ = [
    "MIXTURE_COMPONENTS",
    "Blur",
    "DDRMBlurSVD",
    "Degradation",
    "DegradationOutput",
    "FreeformMask",
    "GeneratorType",
    "Inpainting",
    "JPEGCompression",
    "JPEGEncoder",
    "Mixture",
    "SingularLayout",
    "SuperResolution",
    "bicubic_downsampling_matrix",
    "bicubic_kernel_taps",
    "blur_kernel_taps",
    "blur_matrix",
    "center_mask",
    "ddrm_blur_svd",
    "get_degradation",
    "jpeg_pil",
    "jpeg_simulate",
    "list_degradations",
    "register_degradation",
    "validate_images",
]
