# Written by bridge-diffusers: lets DiffusionPipeline.from_pretrained(..., trust_remote_code=True) load
# this folder; the class is bridge_diffusers.pipelines.pipeline_nadb.NADBPipeline.
from bridge_diffusers.pipelines.pipeline_nadb import NADBPipeline  # noqa: F401
