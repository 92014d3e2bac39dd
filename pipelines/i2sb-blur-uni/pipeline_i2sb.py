# Written by bridge-diffusers: lets DiffusionPipeline.from_pretrained(..., trust_remote_code=True) load
# this folder; the class is bridge_diffusers.pipelines.pipeline_i2sb.I2SBPipeline.
from bridge_diffusers.pipelines.pipeline_i2sb import I2SBPipeline  # noqa: F401
