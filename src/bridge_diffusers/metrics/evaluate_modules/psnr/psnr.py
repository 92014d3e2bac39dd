# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""PSNR as a Hugging Face ``evaluate`` metric, computed by ``bridge_diffusers.metrics.psnr``."""

import datasets
import evaluate

from bridge_diffusers.metrics import psnr
from bridge_diffusers.metrics.evaluate_modules import mean_over_image_pairs


_DESCRIPTION = """\
Peak signal-to-noise ratio, 10 log10(1 / MSE) in dB on images scaled to [0, 1], computed for every image and
averaged over images (the mean of per-image PSNRs, as in the NADB evaluation). An image identical to its
reference has PSNR +inf, which makes the mean +inf.
"""

_CITATION = """\
@book{gonzalez2008digital,
  title={Digital Image Processing},
  author={Gonzalez, Rafael C. and Woods, Richard E.},
  edition={3},
  year={2008},
  publisher={Prentice Hall}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of PIL images or uint8 arrays of shape (H, W) or (H, W, C)): restored images.
    references (`list`, same conventions): the clean images, each the size of its prediction.
Returns:
    psnr (`float`): the mean over images of the per-image PSNR, in dB.
Examples:
    >>> metric = evaluate.load(bridge_diffusers.metrics.evaluate_module_path("psnr"))
    >>> metric.compute(predictions=[image_a], references=[image_b])
    {'psnr': 28.1}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Psnr(evaluate.Metric):
    """Mean per-image PSNR of image pairs."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Image(), "references": datasets.Image()}),
        )

    def _compute(self, predictions: list, references: list) -> dict[str, float]:
        return {"psnr": mean_over_image_pairs(psnr, predictions, references)}
