# Written by bridge-diffusers: lets DiffusionPipeline.from_pretrained(..., trust_remote_code=True) load
# this folder; the class is bridge_diffusers.schedulers.scheduling_ibmd.IBMDScheduler.
from diffusers.configuration_utils import ConfigMixin  # noqa: F401
from diffusers.schedulers.scheduling_utils import SchedulerMixin  # noqa: F401
from bridge_diffusers.schedulers.scheduling_ibmd import IBMDScheduler  # noqa: F401
