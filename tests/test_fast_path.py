"""The fast path: bfloat16 networks, channels-last memory, torch.compile without recompiles; NADB finite in bf16."""

import shutil

import pytest
import torch

from bridge_diffusers import (
    I2SBPipeline,
    I2SBScheduler,
    IBMDPipeline,
    NADBPipeline,
    NADBScheduler,
    create_bridge_unet,
)
from bridge_diffusers.fast import optimize_pipeline, pipeline_networks, resolve_dtype
from bridge_diffusers.models import MeanNetwork
from bridge_diffusers.tiling import pipeline_restorer, restore_tiled


pytestmark = pytest.mark.filterwarnings("ignore:Dynamo detected a call to a `functools.lru_cache`")


def nadb_pipeline(resolution=16):
    torch.manual_seed(0)
    mean_net = MeanNetwork.from_unet(create_bridge_unet(resolution))
    pipe = NADBPipeline(create_bridge_unet(resolution), NADBScheduler(target_scale=2.0), mean_net=mean_net)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def restore(pipe, image, steps, seed=0):
    return pipe.restore(image, None, steps, torch.Generator().manual_seed(seed))


def test_bfloat16_and_channels_last_restore_like_float32():
    image = torch.rand(2, 3, 16, 24) * 2 - 1
    reference = restore(nadb_pipeline(), image, 4)
    for kwargs in ({"dtype": torch.bfloat16}, {"dtype": "bf16", "channels_last": True}, {"channels_last": True}):
        pipe = optimize_pipeline(nadb_pipeline(), **kwargs)
        dtype = resolve_dtype(kwargs.get("dtype")) or torch.float32
        for network in pipeline_networks(pipe).values():
            assert next(network.parameters()).dtype == dtype
        if kwargs.get("channels_last"):
            assert pipe.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
        out = restore(pipe, image, 4)
        assert out.dtype == dtype and torch.isfinite(out).all()
        tolerance = 0.05 if dtype == torch.bfloat16 else 1e-5
        torch.testing.assert_close(out.float(), reference, atol=tolerance, rtol=0)


def test_float16_on_the_cpu_is_refused_with_the_alternative():
    with pytest.raises(ValueError, match=r"float16 on the CPU is refused.*bfloat16"):
        optimize_pipeline(nadb_pipeline(), dtype=torch.float16)
    with pytest.raises(ValueError, match="dtype"):
        optimize_pipeline(nadb_pipeline(), dtype="int8")
    assert set(pipeline_networks(nadb_pipeline())) == {"unet", "mean_net"}


# --------------------------------------------------------------------------------------------- compile
@pytest.fixture(scope="module")
def inductor():
    """Skips when inductor cannot build CPU kernels here (no C++ compiler, no inductor)."""
    if not any(shutil.which(cxx) for cxx in ("g++", "c++", "clang++")):
        pytest.skip("torch.compile's inductor needs a C++ compiler on the CPU")
    try:
        import torch._dynamo
        import torch._inductor

        torch._dynamo.reset()
        assert torch.compile(lambda x: x * 2 + 1)(torch.ones(3)).tolist() == [3.0, 3.0, 3.0]
    except Exception as error:  # inductor missing or broken: nothing of ours to test
        pytest.skip(f"torch.compile with inductor is unavailable: {error}")
    yield
    torch._dynamo.reset()


def compiled_graphs() -> int:
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


def test_compiled_networks_compile_once_for_every_step_call_and_tile(inductor):
    """The compiled UNet and mean network compile on the first call of a shape, never again: not at each of the
    10 steps of a run, not on a second call, not on any tile of a tiled restore (one tile shape)."""
    torch._dynamo.reset()
    eager = nadb_pipeline()
    pipe = optimize_pipeline(nadb_pipeline(), dtype=torch.bfloat16, channels_last=True, compile=True)
    image = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        first = restore(pipe, image, 1)
        graphs = compiled_graphs()
        assert graphs >= 2  # the UNet and the mean network
        ten_steps = restore(pipe, image, 10)
        again = restore(pipe, image, 10)
        tiled = restore_tiled(pipeline_restorer(pipe, 10), torch.rand(1, 3, 40, 28) * 2 - 1, 16, 4, seed=0)
    assert compiled_graphs() == graphs, "a step, a second call or a tile recompiled the networks"
    assert torch.equal(ten_steps, again) and tiled.shape == (1, 3, 40, 28) and torch.isfinite(tiled).all()
    reference = optimize_pipeline(eager, dtype=torch.bfloat16, channels_last=True)
    torch.testing.assert_close(first.float(), restore(reference, image, 1).float(), atol=0.05, rtol=0)
    torch.testing.assert_close(ten_steps.float(), restore(reference, image, 10).float(), atol=0.1, rtol=0)


def test_compiled_batches_of_tiles_keep_one_shape(inductor):
    """Tiles in batches of 3 with the last batch padded: one batch shape, so no recompile for the remainder; and
    one input layout: I2SB starts at the (contiguous) degraded image, later steps get the scheduler's arithmetic on
    the channels-last network output, and the network still sees channels-last inputs only."""
    torch._dynamo.reset()
    pipe = I2SBPipeline(create_bridge_unet(16), I2SBScheduler())
    pipe = optimize_pipeline(pipe, channels_last=True, compile=True)
    pipe.set_progress_bar_config(disable=True)
    restorer = pipeline_restorer(pipe, 2)
    image = torch.rand(1, 3, 40, 40) * 2 - 1  # 3 x 3 tiles of 16 px: batches of 3, 3, 3
    with torch.no_grad():
        restore(pipe, image[..., :16, :16].expand(3, -1, -1, -1), 1)  # compiles for the first step's input
        graphs = compiled_graphs()
        restore_tiled(restorer, image, 16, 4, batch_size=3, seed=0, pad_batch=True)
        wide = torch.rand(1, 3, 16, 64) * 2 - 1  # 5 tiles: batches of 3 and 2 (padded to 3)
        restore_tiled(restorer, wide, 16, 4, batch_size=3, seed=0, pad_batch=True)
    assert compiled_graphs() == graphs


# ------------------------------------------------------------------------------------------ bfloat16
def test_nadb_sampling_stays_finite_in_bfloat16_at_every_nfe():
    """Every grid of NFE 1..1000 in bfloat16, with an oracle network that returns the exact target
    ``target_scale * (x_t - x0) / t^a`` computed in bfloat16 (the division by t^a at t = 1/1000 included)."""
    dtype = torch.bfloat16
    scheduler = NADBScheduler(target_scale=2.0)
    x0 = torch.tensor([-1.0, -0.5, 0.0, 0.3, 1.0, 0.99]).reshape(1, 1, 2, 3).to(dtype)
    endpoint = (0.9 * x0 + 0.05).to(dtype)  # the mean network's estimate, a little off
    t_pow_alpha = scheduler.t_pow_alpha.to(dtype)
    generator = torch.Generator().manual_seed(0)
    for nfe in range(1, 1001):
        scheduler.set_timesteps(nfe)
        sample = endpoint
        for t in scheduler.timesteps.tolist():
            oracle = 2.0 * (sample - x0) / t_pow_alpha[t]
            sample = scheduler.step(oracle, t, sample, generator, return_dict=False, endpoint=endpoint)[0]
        assert sample.dtype == dtype and torch.isfinite(sample).all(), f"NFE {nfe}"
        assert (sample.float() - x0.float()).abs().max() < 0.05, f"NFE {nfe}"  # the oracle lands on x0
    # the training side's divisions by t^a, at every index, in bfloat16
    indices = torch.arange(1, 1001)
    x0s, ends = x0.expand(1000, -1, -1, -1), endpoint.expand(1000, -1, -1, -1)
    x_t = scheduler.sample_bridge(x0s, ends, indices, generator=generator)
    assert x_t.dtype == dtype and torch.isfinite(scheduler.training_target(x0s, ends, x_t, indices)).all()
    assert torch.isfinite(scheduler.x0_loss_weight(indices)).all()


@pytest.mark.parametrize("nfe", [1, 2, 10, 999, 1000])
def test_nadb_and_ibmd_pipelines_sample_finite_in_bfloat16(nfe):
    pipe = optimize_pipeline(nadb_pipeline(8), dtype=torch.bfloat16)
    image = torch.rand(1, 3, 8, 8) * 2 - 1
    out = restore(pipe, image, nfe)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    if nfe == 1:
        student = optimize_pipeline(IBMDPipeline.from_teacher(nadb_pipeline(8)), dtype=torch.bfloat16)
        student.set_progress_bar_config(disable=True)
        assert torch.isfinite(restore(student, image, None)).all()


def test_the_compute_dtype_is_read_without_walking_the_network():
    from bridge_diffusers.models import compute_dtype

    unet = create_bridge_unet(8)
    assert compute_dtype(unet) == unet.dtype == torch.float32
    torch.nn.Module.to(unet, dtype=torch.bfloat16)
    assert compute_dtype(unet) == unet.dtype == torch.bfloat16
    unet.conv_in.weight.data = unet.conv_in.weight.data.to(torch.float8_e4m3fn)  # stored in 8 bits: ask diffusers
    assert compute_dtype(unet) == unet.dtype
