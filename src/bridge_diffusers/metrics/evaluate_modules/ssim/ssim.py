# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""SSIM as a Hugging Face ``evaluate`` metric, computed by ``bridge_diffusers.metrics.ssim``."""

import datasets
import evaluate

from bridge_diffusers.metrics import ssim
from bridge_diffusers.metrics.evaluate_modules import mean_over_image_pairs


_DESCRIPTION = """\
Structural similarity (Wang et al., 2004) on images scaled to [0, 1]: 11x11 Gaussian window with sigma 1.5,
K1 = 0.01, K2 = 0.03, population statistics, valid windows only, averaged over channels (the scikit-image
convention gaussian_weights=True, use_sample_covariance=False), computed for every image and averaged over
images. Images must be at least 11x11 pixels.
"""

_CITATION = """\
@article{wang2004image,
  title={Image quality assessment: from error visibility to structural similarity},
  author={Wang, Zhou and Bovik, Alan C. and Sheikh, Hamid R. and Simoncelli, Eero P.},
  journal={IEEE Transactions on Image Processing},
  volume={13},
  number={4},
  pages={600--612},
  year={2004}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of PIL images or uint8 arrays of shape (H, W) or (H, W, C)): restored images.
    references (`list`, same conventions): the clean images, each the size of its prediction.
Returns:
    ssim (`float`): the mean over images of the per-image SSIM, in [-1, 1].
Examples:
    >>> metric = evaluate.load(bridge_diffusers.metrics.evaluate_module_path("ssim"))
    >>> metric.compute(predictions=[image_a], references=[image_b])
    {'ssim': 0.83}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Ssim(evaluate.Metric):
    """Mean per-image SSIM of image pairs."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Image(), "references": datasets.Image()}),
        )

    def _compute(self, predictions: list, references: list) -> dict[str, float]:
        return {"ssim": mean_over_image_pairs(ssim, predictions, references)}
