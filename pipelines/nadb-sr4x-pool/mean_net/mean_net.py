# Written by bridge-diffusers: lets DiffusionPipeline.from_pretrained(..., trust_remote_code=True) load
# this folder; the class is bridge_diffusers.models.mean_net.MeanNetwork.
from diffusers.models.modeling_utils import ModelMixin  # noqa: F401
from bridge_diffusers.models.mean_net import MeanNetwork  # noqa: F401
