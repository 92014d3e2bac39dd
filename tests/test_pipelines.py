"""End-to-end pipelines with tiny random UNets: outputs, reproducibility, save/load, Hub loading, bad input."""

import json
import shutil

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers import DiffusionPipeline

from bridge_diffusers import (
    I2SBPipeline,
    I2SBScheduler,
    IBMDDegradedInputPipeline,
    IBMDPipeline,
    IBMDScheduler,
    MeanNetwork,
    NADBPipeline,
    NADBScheduler,
    create_bridge_unet,
    expand_input_channels,
)
from bridge_diffusers.pipelines import BridgePipelineOutput


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def _quiet(pipe):
    pipe.set_progress_bar_config(disable=True)
    return pipe


def make_i2sb(cond_x1=False):
    return _quiet(I2SBPipeline(create_bridge_unet(16, cond_x1=cond_x1), I2SBScheduler()))


def make_nadb(cond_x1=True, mean_net=True):
    net = MeanNetwork() if mean_net else None
    return _quiet(NADBPipeline(create_bridge_unet(16, cond_x1=cond_x1), NADBScheduler(), net))


def make_ibmd_i2sb():
    student = expand_input_channels(create_bridge_unet(16, cond_x1=True), 3)
    return _quiet(IBMDPipeline(student, IBMDScheduler.from_teacher(I2SBScheduler(), 1), noise_channels=3))


def make_ibmd_nadb():
    student = expand_input_channels(create_bridge_unet(16), 3)
    scheduler = IBMDScheduler.from_teacher(NADBScheduler(), 2)
    return _quiet(IBMDPipeline(student, scheduler, MeanNetwork(), noise_channels=3))


FACTORIES = {
    "i2sb": make_i2sb,
    "i2sb-cond": lambda: make_i2sb(cond_x1=True),
    "nadb": make_nadb,
    "nadb-no-mean": lambda: make_nadb(cond_x1=False, mean_net=False),
    "ibmd-i2sb": make_ibmd_i2sb,
    "ibmd-nadb": make_ibmd_nadb,
}


@pytest.fixture(params=sorted(FACTORIES))
def pipe(request):
    return FACTORIES[request.param]()


def photo(height=18, width=23, seed=0):
    rng = np.random.default_rng(seed)
    return PIL.Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


# ------------------------------------------------------------------------------------------ output types
def test_every_output_type(pipe):
    image = photo()
    out = pipe(image, num_inference_steps=2 if not isinstance(pipe, IBMDPipeline) else None, generator=seeded())
    assert isinstance(out, BridgePipelineOutput)
    assert isinstance(out.images[0], PIL.Image.Image) and out.images[0].size == (23, 18)
    as_np = pipe(image, num_inference_steps=2 if not isinstance(pipe, IBMDPipeline) else None, output_type="np")
    assert as_np.images.shape == (1, 18, 23, 3) and as_np.images.dtype == np.float32
    assert as_np.images.min() >= 0.0 and as_np.images.max() <= 1.0
    as_pt = pipe(image, output_type="pt", return_dict=False)
    assert isinstance(as_pt, tuple) and as_pt[0].shape == (1, 3, 18, 23)


def test_same_seed_reproduces_and_save_load_round_trips(pipe, tmp_path):
    image = photo()
    first = pipe(image, generator=seeded(1), output_type="np").images
    again = pipe(image, generator=seeded(1), output_type="np").images
    np.testing.assert_array_equal(first, again)
    pipe.save_pretrained(tmp_path)
    loaded = _quiet(type(pipe).from_pretrained(tmp_path))
    assert type(loaded.scheduler) is type(pipe.scheduler)
    public = [key for key in pipe.scheduler.config if not key.startswith("_")]
    assert all(loaded.scheduler.config[key] == pipe.scheduler.config[key] for key in public)
    np.testing.assert_allclose(loaded(image, generator=seeded(1), output_type="np").images, first, atol=1e-5)


def test_batches_and_per_image_generators(pipe):
    images = [photo(seed=0), photo(seed=1)]
    batch = pipe(images, generator=[seeded(5), seeded(6)], output_type="np").images
    single = pipe(images[1], generator=seeded(6), output_type="np").images
    assert batch.shape == (2, 18, 23, 3)
    np.testing.assert_allclose(batch[1], single[0], atol=1e-4)


def test_trajectory_output():
    pipe = make_nadb()
    out = pipe(photo(), num_inference_steps=4, output_type="pt", output_trajectory=True)
    assert len(out.trajectory) == 5 and len(out.pred_original_trajectory) == 4
    torch.testing.assert_close(out.trajectory[-1], out.images)
    _, trajectory, pred = pipe(photo(), num_inference_steps=3, return_dict=False, output_trajectory=True)
    assert len(trajectory) == 4 and len(pred) == 3


# --------------------------------------------------------------------------------------- input formats
@pytest.mark.parametrize(
    "image",
    [
        photo(),
        photo().convert("L"),
        photo().convert("RGBA"),
        np.asarray(photo()),
        np.asarray(photo()).astype(np.float32) / 255.0,
        np.asarray(photo().convert("L")),
        torch.from_numpy(np.asarray(photo()).copy()).permute(2, 0, 1).float() / 255.0,
        torch.from_numpy(np.asarray(photo()).copy()).permute(2, 0, 1)[None],
    ],
    ids=["pil", "gray", "rgba", "uint8", "float-np", "gray-np", "tensor", "uint8-tensor"],
)
def test_accepted_image_formats(image):
    out = make_i2sb()(image, num_inference_steps=1, output_type="pt").images
    assert out.shape == (1, 3, 18, 23)


@pytest.mark.parametrize("size", [(1, 1), (7, 9), (16, 16), (33, 64)])
def test_any_image_size_is_padded_and_cropped_back(size):
    out = make_nadb()(photo(*size), num_inference_steps=1, output_type="np").images
    assert out.shape == (1, *size, 3)


def test_zero_network_returns_the_input_pixel_for_pixel():
    """A UNet whose output is zero makes I2SB's x0-hat equal X_t; without noise (OT-ODE) every posterior step then
    keeps X_t, so the result is the input exactly: padding and cropping put every pixel back where it was."""
    pipe = _quiet(I2SBPipeline(create_bridge_unet(16), I2SBScheduler(ot_ode=True)))
    for parameter in pipe.unet.conv_out.parameters():
        torch.nn.init.zeros_(parameter)
    image = np.random.default_rng(0).random((13, 21, 3), dtype=np.float32)
    out = pipe(image, num_inference_steps=5, output_type="np").images[0]
    np.testing.assert_allclose(out, image, atol=1e-6)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.full((8, 8, 3), np.nan, dtype=np.float32), "NaN"),
        (np.full((8, 8, 3), 200.0, dtype=np.float32), r"\[0, 1\]"),
        (torch.full((3, 8, 8), -1.0), r"\[-1, 1\]: pass \(x \+ 1\) / 2"),
        (np.zeros((2, 2, 8, 8, 3), dtype=np.float32), "dimensions"),
        (np.zeros((8, 8, 2), dtype=np.float32), "1, 3 or 4 channels"),
        ([photo(8, 8), photo(9, 8)], "same size"),
        ([], "No image"),
        (np.zeros((8, 8), dtype=np.int64), "dtype"),
        ("image.png", "Unsupported image type"),
    ],
)
def test_bad_images_are_refused_clearly(bad, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make_i2sb()(bad, num_inference_steps=1)


def test_bad_arguments_are_refused_clearly():
    pipe = make_i2sb()
    with pytest.raises(ValueError, match="output_type"):
        pipe(photo(), output_type="latent")
    with pytest.raises(ValueError, match=r"\[1, 999\]"):
        pipe(photo(), num_inference_steps=0)
    with pytest.raises(ValueError, match="mask is"):
        pipe(photo(8, 8), mask=np.ones((4, 4), dtype=np.float32))
    with pytest.raises(TypeError, match="I2SBScheduler"):
        I2SBPipeline(create_bridge_unet(16), NADBScheduler())
    with pytest.raises(ValueError, match="input channels"):
        NADBPipeline(create_bridge_unet(16, noise_channels=1), NADBScheduler())
    with pytest.raises(ValueError, match="noise channels"):
        IBMDPipeline(create_bridge_unet(16), IBMDScheduler(), noise_channels=3)


# ------------------------------------------------------------------------------------------ inpainting
def test_i2sb_inpainting_keeps_the_known_region():
    pipe = make_i2sb(cond_x1=True)
    image = np.asarray(photo(16, 16)).astype(np.float32) / 255.0
    mask = np.zeros((16, 16), dtype=np.float32)
    mask[4:12, 4:12] = 1.0
    out = pipe(image, mask=mask, num_inference_steps=3, output_type="np", generator=seeded()).images[0]
    known = mask == 0
    # known pixels are the input plus the bridge's last re-draw (std_sb[0] = 0.01 in [-1, 1], i.e. 0.005 here)
    assert np.abs(out[known] - image[known]).mean() < 0.01
    assert np.abs(out[~known] - image[~known]).mean() > 0.05


@pytest.mark.parametrize("factory", [make_nadb, make_ibmd_i2sb, make_ibmd_nadb])
def test_other_pipelines_accept_masks(factory):
    image = np.asarray(photo(16, 16)).astype(np.float32) / 255.0
    mask = np.zeros((16, 16), dtype=np.float32)
    mask[:8] = 1.0
    out = factory()(image, mask=mask, output_type="np", generator=seeded()).images[0]
    assert np.abs(out[8:] - image[8:]).mean() < 0.05


# ------------------------------------------------------------------------------------------ Hub loading
def _fake_hub_cache(saved: str, cache_dir, repo_id: str) -> None:
    """The layout huggingface_hub's cache uses for a downloaded model repo, built by hand."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = cache_dir / f"models--{repo_id.replace('/', '--')}"
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    shutil.copytree(saved, repo_dir / "snapshots" / commit)


def test_repo_id_is_resolved_with_snapshot_download(tmp_path):
    pipe = make_nadb()
    pipe.save_pretrained(tmp_path / "saved")
    _fake_hub_cache(tmp_path / "saved", tmp_path / "cache", "bridge-diffusers/nadb-tiny")
    loaded = NADBPipeline.from_pretrained(
        "bridge-diffusers/nadb-tiny", cache_dir=tmp_path / "cache", local_files_only=True
    )
    assert isinstance(loaded.mean_net, MeanNetwork)
    np.testing.assert_allclose(
        _quiet(loaded)(photo(), generator=seeded(), output_type="np").images,
        pipe(photo(), generator=seeded(), output_type="np").images,
        atol=1e-5,
    )


def test_missing_repo_fails_offline_with_a_hub_error(tmp_path):
    with pytest.raises(Exception, match=r"(?i)offline|local|cannot find|not found"):
        I2SBPipeline.from_pretrained("nobody/nothing-here", cache_dir=tmp_path, local_files_only=True)


def test_components_load_individually(tmp_path):
    pipe = make_nadb()
    pipe.save_pretrained(tmp_path)
    assert isinstance(NADBScheduler.from_pretrained(tmp_path, subfolder="scheduler"), NADBScheduler)
    assert isinstance(MeanNetwork.from_pretrained(tmp_path, subfolder="mean_net"), MeanNetwork)


def test_half_precision_load(tmp_path):
    make_i2sb().save_pretrained(tmp_path)
    pipe = _quiet(I2SBPipeline.from_pretrained(tmp_path, dtype=torch.bfloat16))
    assert pipe.unet.dtype == torch.bfloat16
    out = pipe(photo(), num_inference_steps=2, output_type="np").images
    assert out.dtype == np.float32 and np.isfinite(out).all()


# ------------------------------------------------------------------------------- diffusers-native loading
def make_degraded_input_student():
    return _quiet(IBMDDegradedInputPipeline.from_teacher(make_nadb(cond_x1=False)))


ALL_FACTORIES = {**FACTORIES, "ibmd-degraded": make_degraded_input_student}


@pytest.mark.parametrize("name", ALL_FACTORIES)
def test_generic_diffusion_pipeline_loads_every_pipeline_with_trust_remote_code(name, tmp_path):
    """``DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)`` returns the concrete class with this
    package's own components, and restores exactly as the saved pipeline does; without the flag diffusers refuses
    to run the folder's code; the concrete class loads the same folder without it."""
    pipe = ALL_FACTORIES[name]()
    pipe.save_pretrained(tmp_path)
    loaded = _quiet(DiffusionPipeline.from_pretrained(tmp_path, trust_remote_code=True))
    assert type(loaded) is type(pipe) and type(loaded.unet) is type(pipe.unet)
    assert type(getattr(loaded, "scheduler", None)) is type(getattr(pipe, "scheduler", None))
    expected = pipe(photo(), generator=seeded(), output_type="np").images
    np.testing.assert_allclose(loaded(photo(), generator=seeded(), output_type="np").images, expected, atol=1e-5)
    with pytest.raises(ValueError, match="trust_remote_code"):
        DiffusionPipeline.from_pretrained(tmp_path)
    concrete = _quiet(type(pipe).from_pretrained(tmp_path))
    np.testing.assert_allclose(concrete(photo(), generator=seeded(), output_type="np").images, expected, atol=1e-5)


def test_generic_loading_from_a_hub_layout_snapshot(tmp_path):
    pipe = make_nadb()
    pipe.save_pretrained(tmp_path / "saved")
    _fake_hub_cache(tmp_path / "saved", tmp_path / "cache", "bridge-diffusers/nadb-tiny")
    loaded = DiffusionPipeline.from_pretrained(
        "bridge-diffusers/nadb-tiny", cache_dir=tmp_path / "cache", local_files_only=True, trust_remote_code=True
    )
    assert isinstance(loaded, NADBPipeline) and isinstance(loaded.mean_net, MeanNetwork)


def test_the_concrete_class_never_runs_the_folders_code(tmp_path):
    """The concrete class reads the remote-code entries as this package's modules: a folder whose ``.py`` files
    were changed (or removed, as a wheel may) loads without running them and without ``trust_remote_code``."""
    pipe = make_nadb()
    pipe.save_pretrained(tmp_path)
    marker = tmp_path / "ran.txt"
    for shim in (tmp_path / "scheduler" / "scheduling_nadb.py", tmp_path / "pipeline_nadb.py"):
        shim.write_text(shim.read_text() + f"open({str(marker)!r}, 'w').write('ran')\n")
    loaded = _quiet(NADBPipeline.from_pretrained(tmp_path))
    assert not marker.exists() and isinstance(loaded.scheduler, NADBScheduler)
    for shim in tmp_path.rglob("*.py"):
        shim.unlink()
    (tmp_path / "mean_net" / "__pycache__").mkdir()  # what pip's byte-compilation leaves beside a shim
    loaded = NADBPipeline.from_pretrained(tmp_path, variant=None)
    np.testing.assert_allclose(
        _quiet(loaded)(photo(), generator=seeded(), output_type="np").images,
        pipe(photo(), generator=seeded(), output_type="np").images,
        atol=1e-5,
    )


def test_fp16_variant_beside_float32_weights(tmp_path):
    pipe = make_nadb()
    pipe.save_pretrained(tmp_path)
    pipe.to(torch.float16).save_pretrained(tmp_path, variant="fp16")
    assert (tmp_path / "unet" / "diffusion_pytorch_model.fp16.safetensors").is_file()
    assert NADBPipeline.from_pretrained(tmp_path).unet.dtype == torch.float32
    half = NADBPipeline.from_pretrained(tmp_path, variant="fp16", torch_dtype=torch.float16)
    assert half.unet.dtype == half.mean_net.dtype == torch.float16


# ------------------------------------------------------------------------------------- the sampling core
def test_callback_on_step_end_sees_every_step_and_can_replace_the_sample():
    pipe = make_nadb()
    seen = []

    def callback(pipeline, i, t, tensors):
        seen.append((i, int(t), sorted(tensors)))
        return {"sample": torch.zeros_like(tensors["sample"])} if i == 3 else {}

    out = pipe(photo(), num_inference_steps=4, output_type="pt", callback_on_step_end=callback,
               callback_on_step_end_tensor_inputs=["sample", "pred_original_sample"]).images  # fmt: skip
    assert [(i, t) for i, t, _ in seen] == [(0, 1000), (1, 750), (2, 500), (3, 250)]
    assert all(names == ["pred_original_sample", "sample"] for *_, names in seen)
    assert pipe.num_timesteps == 4
    torch.testing.assert_close(out, torch.full_like(out, 0.5))  # the replaced last sample, 0 in [-1, 1]
    with pytest.raises(ValueError, match="callback_on_step_end_tensor_inputs"):
        pipe(photo(), callback_on_step_end=callback, callback_on_step_end_tensor_inputs=["latents"])


def test_interrupt_skips_the_remaining_network_calls():
    pipe = make_i2sb()
    calls = []
    pipe.unet.register_forward_hook(lambda *args: calls.append(1))

    def stop_after_two(pipeline, i, t, tensors):
        pipeline._interrupt = i == 1
        return {}

    pipe(photo(), num_inference_steps=10, callback_on_step_end=stop_after_two)
    assert len(calls) == 2
    pipe(photo(), num_inference_steps=3)  # the next call starts afresh
    assert len(calls) == 5


def test_generator_list_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="2 generators for a batch of 3"):
        make_i2sb()([photo()] * 3, generator=[seeded(0), seeded(1)])


def test_mask_image_is_the_name_and_mask_a_deprecated_alias():
    pipe = make_i2sb(cond_x1=True)
    mask = np.zeros((16, 16), dtype=np.float32)
    mask[4:12, 4:12] = 1.0
    new = pipe(photo(16, 16), mask_image=mask, generator=seeded(), output_type="np").images
    with pytest.warns(FutureWarning, match="mask_image"):
        old = pipe(photo(16, 16), mask=mask, generator=seeded(), output_type="np").images
    np.testing.assert_array_equal(new, old)
    with pytest.raises(ValueError, match="mask_image"):
        pipe(photo(), mask_image=mask, mask=mask)


@pytest.mark.parametrize("name", ["i2sb", "nadb", "ibmd-nadb"])
def test_restore_is_the_call_on_signed_tensors(name):
    """``restore`` ([-1, 1] tensors, any size) and ``__call__`` ([0, 1] images) run the same core."""
    pipe = FACTORIES[name]()
    image = torch.rand(2, 3, 13, 18)
    called = pipe(image, generator=seeded(), output_type="pt").images
    restored = pipe.restore(image * 2 - 1, generator=seeded())
    assert restored.shape == (2, 3, 13, 18)
    torch.testing.assert_close(((restored + 1) / 2).clamp(0, 1), called, atol=1e-6, rtol=0)


def test_sample_keeps_the_graph_and_calls_the_given_network():
    """Distillation rollouts: ``enable_grad`` lets gradients reach the network that ``network=`` names."""
    pipe = make_ibmd_nadb()
    generator_net = pipe.unet
    other = expand_input_channels(create_bridge_unet(16), 3)
    x1 = torch.rand(1, 3, 16, 16) * 2 - 1
    inputs = pipe.prepare_endpoint(x1)
    result = pipe.sample(inputs, generator=seeded(), network=other, enable_grad=True)
    result.sample.square().mean().backward()
    assert all(p.grad is None for p in generator_net.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in other.parameters())
    with torch.no_grad():
        assert not pipe.sample(inputs, generator=seeded()).sample.requires_grad


# ------------------------------------------------------------------------------------------------ task
@pytest.mark.parametrize("name", ALL_FACTORIES)
def test_the_task_round_trips_through_save_and_both_loaders(name, tmp_path):
    """``task`` is saved in model_index.json and read back by the concrete class and by diffusers' generic loader
    (remote code); a folder saved before pipelines had a task (no key) loads with none."""
    pipe = ALL_FACTORIES[name]()
    assert pipe.task is None
    pipe.register_task("sr4x-pool")
    pipe.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["task"] == "sr4x-pool"
    assert type(pipe).from_pretrained(tmp_path).task == "sr4x-pool"
    assert DiffusionPipeline.from_pretrained(tmp_path, trust_remote_code=True).task == "sr4x-pool"
    del index["task"]
    (tmp_path / "model_index.json").write_text(json.dumps(index))
    assert type(pipe).from_pretrained(tmp_path).task is None
    assert DiffusionPipeline.from_pretrained(tmp_path, trust_remote_code=True).task is None


def test_students_restore_their_teachers_task():
    teacher = _quiet(NADBPipeline(create_bridge_unet(16), NADBScheduler(), MeanNetwork(), task="jpeg10-pillow"))
    assert IBMDPipeline.from_teacher(teacher).task == "jpeg10-pillow"
    assert IBMDDegradedInputPipeline.from_teacher(teacher).task == "jpeg10-pillow"
    i2sb = I2SBPipeline(create_bridge_unet(16, cond_x1=True), I2SBScheduler(), task="sr4x-bicubic")
    assert IBMDPipeline.from_teacher(i2sb).task == "sr4x-bicubic"


@pytest.mark.parametrize("make", [make_i2sb, make_nadb])
def test_default_steps_round_trip_and_set_the_nfe_of_a_call(make, tmp_path):
    pipe = make()
    assert pipe.default_num_inference_steps == 10  # the class's, when the config says nothing
    pipe.register_default_steps(3)
    pipe.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "model_index.json").read_text())["default_steps"] == 3
    loaded = _quiet(type(pipe).from_pretrained(tmp_path))
    calls = []
    loaded.unet.register_forward_hook(lambda module, args, output: calls.append(1))
    loaded(np.zeros((16, 16, 3), dtype=np.float32), generator=seeded(), output_type="pt")
    assert len(calls) == 3
    with pytest.raises(ValueError, match="default_steps"):
        loaded.register_default_steps(loaded.step_range[1] + 1)
