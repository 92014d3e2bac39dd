"""Loading a damaged or missing pipeline: the error names the folder or file at fault, and a local path is never
sent to the Hub."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from diffusers import DiffusionPipeline

from bridge_diffusers import MeanNetwork, NADBPipeline, NADBScheduler, create_bridge_unet
from bridge_diffusers.pipelines import load_pipeline


SHIPPED = Path(__file__).resolve().parents[1] / "pipelines"


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("saved") / "nadb"
    NADBPipeline(create_bridge_unet(16), NADBScheduler(), MeanNetwork()).save_pretrained(folder)
    return folder


@pytest.fixture
def no_hub(monkeypatch):
    """Fails the test on any Hub look-up."""
    import bridge_diffusers.pipelines as pipelines
    import bridge_diffusers.pipelines.pipeline_bridge_utils as utils

    def refuse(*args, **kwargs):
        raise AssertionError(f"the Hub was asked for {args or kwargs}")

    monkeypatch.setattr(utils, "snapshot_download", refuse)
    monkeypatch.setattr(pipelines, "hf_hub_download", refuse)


def damaged(saved: Path, tmp_path: Path, how: str) -> tuple[Path, str]:
    """A copy of the saved pipeline with one thing broken, and the path the error must name."""
    folder = tmp_path / "pipe"
    shutil.copytree(saved, folder)
    if how == "no mean_net":
        shutil.rmtree(folder / "mean_net")
        return folder, f"{folder / 'mean_net'}/ is missing (model_index.json lists the component 'mean_net')"
    if how == "no unet weights":
        (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
        return folder, f"{folder / 'unet'}/ has no weights"
    if how == "truncated weights":
        weights = folder / "mean_net" / "diffusion_pytorch_model.safetensors"
        weights.write_bytes(weights.read_bytes()[:500])
        return folder, f"{weights} is damaged"
    if how == "non-numeric scheduler value":
        file = folder / "scheduler" / "scheduler_config.json"
        config = json.loads(file.read_text())
        config["k"] = "0.75"
        file.write_text(json.dumps(config))
        return folder, f"{file}: 'k' must be a number, got '0.75'"
    if how == "scheduler value refused":
        file = folder / "scheduler" / "scheduler_config.json"
        config = json.loads(file.read_text())
        config["alpha"] = 7.0
        file.write_text(json.dumps(config))
        return folder, f"{file} has a value the scheduler refuses"
    if how == "broken config":
        (folder / "unet" / "config.json").write_text('{"in_channels": ')
        return folder, f"{folder / 'unet' / 'config.json'} is not valid JSON"
    if how == "broken index":
        (folder / "model_index.json").write_text("[1, 2")
        return folder, f"{folder / 'model_index.json'} is not"
    raise ValueError(how)


CASES = [
    "no mean_net",
    "no unet weights",
    "truncated weights",
    "non-numeric scheduler value",
    "scheduler value refused",
    "broken config",
    "broken index",
]


@pytest.mark.parametrize("how", CASES)
def test_from_pretrained_names_the_bad_file(saved, tmp_path, no_hub, how):
    folder, message = damaged(saved, tmp_path, how)
    with pytest.raises(ValueError) as error:  # a PipelineFolderError
        NADBPipeline.from_pretrained(folder)
    assert message in str(error.value)
    assert type(error.value).__name__ == "PipelineFolderError"


@pytest.mark.parametrize("how", CASES)
def test_load_pipeline_names_the_bad_file(saved, tmp_path, no_hub, how):
    folder, message = damaged(saved, tmp_path, how)
    with pytest.raises(ValueError) as error:
        load_pipeline(folder)
    assert message in str(error.value)


def test_a_missing_local_folder_is_not_looked_up_on_the_hub(tmp_path, no_hub, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    for path in [str(tmp_path / "missing"), "./missing", "../missing", "out/nadb", "out/a/b", "~/nowhere/x"]:
        for load in (NADBPipeline.from_pretrained, load_pipeline):
            with pytest.raises(ValueError, match=r"does not exist"):
                load(path)
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="is a file, not a pipeline folder"):
        load_pipeline(str(tmp_path / "weights.bin"))
    with pytest.raises(ValueError, match=r"neither an existing folder nor a Hub repo id"):
        NADBPipeline.from_pretrained("not a repo!")


def test_a_repo_id_that_the_hub_cannot_provide_says_so(tmp_path, monkeypatch):
    """Offline (as the tests run), a repo id is looked up in the cache only; the error says both what was tried."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match=r"'someone/no-such-pipeline' is not a local folder, and the Hub could not"):
        NADBPipeline.from_pretrained("someone/no-such-pipeline")


def test_good_folders_still_load(saved):
    assert isinstance(NADBPipeline.from_pretrained(saved), NADBPipeline)
    assert isinstance(load_pipeline(saved), NADBPipeline)
    pipe = DiffusionPipeline.from_pretrained(saved, trust_remote_code=True)
    assert type(pipe).__name__ == "NADBPipeline"
    fp16 = NADBPipeline.from_pretrained(SHIPPED / "nadb-jpeg10", variant="fp16", torch_dtype=torch.float16)
    assert fp16.unet.dtype == torch.float16
    replaced = NADBPipeline.from_pretrained(saved, mean_net=None)  # a component passed in is not checked
    assert replaced.mean_net is None
