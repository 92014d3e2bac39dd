"""The README's main job (`bridge-diffusers showcase`) and the pipelines shipped under `pipelines/`."""

import importlib.util
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from bridge_diffusers import I2SBPipeline, I2SBScheduler, MeanNetwork, NADBPipeline, NADBScheduler, create_bridge_unet
from bridge_diffusers.catalogue import card_degradation, read_catalogue
from bridge_diffusers.cli import main
from bridge_diffusers.data import split_photos
from bridge_diffusers.degradations import get_degradation
from bridge_diffusers.evaluation import evaluate_restorer, identity_restorer, make_evaluation_set, pipeline_restorer
from bridge_diffusers.metrics import psnr
from bridge_diffusers.pipelines import load_pipeline
from bridge_diffusers.showcase import ShowcasePhoto, load_showcase_photos, run_showcase, shipped_pipelines
from photo_folder import PHOTOS, REPO, small_photo_folder


SHIPPED = REPO / "pipelines"


@pytest.fixture
def pipelines_dir(tmp_path):
    root = tmp_path / "pipelines"
    I2SBPipeline(create_bridge_unet(16), I2SBScheduler()).save_pretrained(root / "i2sb-jpeg10")
    NADBPipeline(create_bridge_unet(16), NADBScheduler(), MeanNetwork()).save_pretrained(root / "nadb-jpeg10")
    (root / "notes").mkdir()  # not a pipeline: ignored
    (root / "nadb-half-saved").mkdir()  # no model_index.json: ignored
    return root


def photo(height=24, width=40, seed=0) -> ShowcasePhoto:
    image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return ShowcasePhoto(f"random{seed}", image)


def test_shipped_pipelines_are_found_by_folder_name(pipelines_dir):
    found = shipped_pipelines(pipelines_dir)
    assert list(found) == ["jpeg10"] and list(found["jpeg10"]) == ["i2sb", "nadb"]


def test_run_showcase_scores_and_draws_every_method(pipelines_dir, tmp_path):
    lines = []
    rows = run_showcase(tmp_path / "out", pipelines_dir, photos=[photo(), photo(seed=1)], steps=2, log=lines.append)
    assert [row["method"] for row in rows] == ["degraded input", "i2sb", "nadb"]
    assert all(np.isfinite(row["psnr"]) and -1 <= row["ssim"] <= 1 for row in rows)
    assert rows[0]["seconds"] == 0 and rows[1]["seconds"] > 0 and len(lines) == 2
    grid = PIL.Image.open(tmp_path / "out" / "jpeg10.png")
    assert grid.size == (4 * 40, 14 + 2 * 24)  # clean | degraded | i2sb | nadb, a header strip, two photos


def test_run_showcase_refuses_unknown_tasks(pipelines_dir, tmp_path):
    with pytest.raises(ValueError, match="no shipped pipelines for \\['blur-uni'\\]"):
        run_showcase(tmp_path, pipelines_dir, tasks=["blur-uni"], photos=[photo()])


def test_showcase_degrades_with_the_operator_the_cards_name(pipelines_dir, tmp_path):
    # The shipped jpeg10 / blur-uni pipelines were trained on jpeg10-pillow / blur-uni-per-channel; their cards say so.
    card = "## Evaluation\n\n48 crops (held out), degraded by `jpeg10-pillow` (seeded).\n"
    for folder in ("i2sb-jpeg10", "nadb-jpeg10"):
        (pipelines_dir / folder / "README.md").write_text(card)
    assert card_degradation(pipelines_dir / "i2sb-jpeg10") == "jpeg10-pillow"
    photos = [photo(32, 48)]
    rows = run_showcase(tmp_path / "out", pipelines_dir, photos=photos, steps=1, log=print)
    clean01 = (photos[0].image + 1) / 2
    for name in ("jpeg10-pillow", "jpeg10"):
        degraded01 = (get_degradation(name)(photos[0].image).degraded + 1) / 2
        matches = abs(rows[0]["psnr"] - float(psnr(degraded01.clamp(0, 1), clean01))) < 1e-6
        assert matches == (name == "jpeg10-pillow")
    # Pipelines of one task trained on different operators cannot share one degraded column.
    (pipelines_dir / "nadb-jpeg10" / "README.md").unlink()
    assert card_degradation(pipelines_dir / "nadb-jpeg10") is None
    with pytest.raises(ValueError, match="different degradations"):
        run_showcase(tmp_path / "out", pipelines_dir, photos=photos, steps=1, log=print)


def test_showcase_photos_are_resized_to_multiples_of_eight(tmp_path):
    PIL.Image.fromarray(np.zeros((50, 70, 3), np.uint8)).save(tmp_path / "p.png")
    (loaded,) = load_showcase_photos([str(tmp_path / "p.png")], scale=0.5)
    assert loaded.name == "p" and loaded.image.shape == (1, 3, 24, 32) and loaded.image.min() == -1
    folder = small_photo_folder(tmp_path / "photos")
    with pytest.raises(ValueError, match="neither an image file nor a photo of the folder"):
        load_showcase_photos(["nowhere/nothing"], photo_dir=folder)
    (named,) = load_showcase_photos(["photo2"], scale=1, photo_dir=folder)
    assert named.name == "photo2" and named.image.shape == (1, 3, 48, 64)


def test_showcase_photos_are_the_held_out_photos_of_the_folder(tmp_path):
    folder = small_photo_folder(tmp_path / "photos", count=8)
    held_out = [source.name for source in split_photos(folder)[1]]  # the split of training: two of eight
    assert [p.name for p in load_showcase_photos(scale=1, photo_dir=folder)] == held_out
    if PHOTOS.is_dir():  # the default corpus: the two photos the README names, held out from every shipped pipeline
        assert [p.name for p in load_showcase_photos(photo_dir=PHOTOS)] == ["skimage-rocket", "sklearn-china"]
    with pytest.raises(FileNotFoundError, match="fetch_photos"):
        load_showcase_photos(photo_dir=tmp_path / "missing")


def test_showcase_command_prints_the_table(pipelines_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BRIDGE_DIFFUSERS_PIPELINES_DIR", str(pipelines_dir))
    PIL.Image.fromarray(np.full((32, 48, 3), 128, np.uint8)).save(tmp_path / "grey.png")
    main(["showcase", "--photos", str(tmp_path / "grey.png"), "--scale", "1", "--steps", "2", "--methods", "nadb",
          "-o", str(tmp_path / "out")])  # fmt: skip
    printed = capsys.readouterr().out
    assert "| jpeg10 | nadb |" in printed and "| jpeg10 | i2sb |" not in printed
    assert (tmp_path / "out" / "jpeg10.png").exists()
    with pytest.raises(SystemExit, match="no shipped pipelines"):
        main(["showcase", "--photos", str(tmp_path / "grey.png"), "--tasks", "sr4x-pool", "-o", str(tmp_path)])


# ------------------------------------------------------------------------------------ shipped pipelines
shipped = [Path(entry.location) for entry in read_catalogue(SHIPPED).values()]


# The cards' evaluation is scripts/export_shipped.py's: its default settings and each method's default steps.
_spec = importlib.util.spec_from_file_location("export_shipped", REPO / "scripts" / "export_shipped.py")
export_shipped = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(export_shipped)
EXPORT = export_shipped.parse_args([])


def _card_scores(card: str) -> dict[str, dict[str, str]]:
    """The rows of the card's "Evaluation" table, by method name."""
    section = card.split("## Evaluation", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|") and not line.startswith("|---")]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    rows = [dict(zip(cells[0], row, strict=True)) for row in cells[1:]]
    return {row["method"]: row for row in rows}


@pytest.mark.skipif(not shipped, reason="no pipelines shipped under pipelines/")
@pytest.mark.parametrize("folder", shipped, ids=[p.name for p in shipped])
def test_shipped_pipeline_reproduces_the_evaluation_on_its_card(folder):
    """Each shipped pipeline, loaded as users load it (its float32 weights), scores on the held-out crops of the photo
    folder what its model card reports, and the card states its method, task, training command, evaluation, the
    held-out photos and the exact degradation it was evaluated on (a variant of the task's, e.g. ``jpeg10-pillow``)."""
    method, _, task = folder.name.partition("-")
    card = (folder / "README.md").read_text()
    assert f"# {method.upper()} for `{task}`" in card and "## Evaluation" in card and "python training/" in card
    degradation = card_degradation(folder)
    assert degradation is not None and degradation.startswith(task), degradation
    get_degradation(degradation)  # a registered name
    pipe = load_pipeline(str(folder))
    pipe.set_progress_bar_config(disable=True)
    assert pipe.__class__.__name__.lower().startswith(method) and next(pipe.unet.parameters()).dtype == torch.float32
    if not PHOTOS.is_dir():
        pytest.skip(f"no photo folder {PHOTOS}: run `bash scripts/fetch_photos.sh`")
    evaluation_set = make_evaluation_set(
        degradation, EXPORT.resolution, EXPORT.crops_per_image, seed=EXPORT.seed, scale=EXPORT.scale, photos=PHOTOS
    )
    if evaluation_set.description not in card:  # e.g. the mate-backgrounds photos could not be fetched
        pytest.skip(f"the held-out photos differ from the card's: {evaluation_set.description}")
    reported = _card_scores(card)
    shipped_row = reported[f"{method} (shipped float32)"]
    restorer = pipeline_restorer(pipe, export_shipped.evaluation_steps(pipe), EXPORT.seed)
    restored, _ = evaluate_restorer(method, restorer, evaluation_set, frechet=False)
    identity, _ = evaluate_restorer("input", identity_restorer, evaluation_set, frechet=False)
    assert abs(identity["psnr"] - float(reported["degraded input"]["psnr"])) < 0.01
    # the card rounds to 0.01 dB; the rest allows for float differences between torch builds
    assert abs(restored["psnr"] - float(shipped_row["psnr"])) < 0.06, (restored, shipped_row)
    assert abs(restored["ssim"] - float(shipped_row["ssim"])) < 0.002, (restored, shipped_row)


@pytest.mark.skipif(not shipped, reason="no pipelines shipped under pipelines/")
@pytest.mark.parametrize("folder", shipped, ids=[p.name for p in shipped])
def test_shipped_pipeline_has_float32_weights_and_an_fp16_variant(folder):
    """The default weights are float32; ``variant="fp16"`` loads the same values in float16 (the float32 ones are
    their lossless upcast), with the concrete class as with ``load_pipeline``."""
    default = load_pipeline(str(folder))
    half = type(default).from_pretrained(folder, variant="fp16", torch_dtype=torch.float16)
    assert type(half) is type(default)
    for name in ("unet", "mean_net"):
        full, low = getattr(default, name, None), getattr(half, name, None)
        if full is None:
            continue
        assert (folder / name / "diffusion_pytorch_model.fp16.safetensors").is_file()
        full_state, low_state = full.state_dict(), low.state_dict()
        assert {t.dtype for t in full_state.values()} == {torch.float32}
        assert {t.dtype for t in low_state.values()} == {torch.float16}
        assert all(torch.equal(full_state[key], low_state[key].float()) for key in full_state)


def test_export_writes_float32_weights_and_an_fp16_variant(tmp_path):
    pipe = NADBPipeline(create_bridge_unet(16), NADBScheduler(), MeanNetwork())
    export_shipped.save_pipeline(pipe, tmp_path / "nadb-jpeg10")
    for name in ("unet", "mean_net"):
        files = sorted(p.name for p in (tmp_path / "nadb-jpeg10" / name).glob("*.safetensors"))
        assert files == ["diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.safetensors"]
    loaded = load_pipeline(str(tmp_path / "nadb-jpeg10"))
    assert all(torch.equal(a, b) for a, b in zip(pipe.unet.parameters(), loaded.unet.parameters(), strict=True))
    half = load_pipeline(str(tmp_path / "nadb-jpeg10"), variant="fp16", torch_dtype=torch.float16)
    assert (
        next(half.mean_net.parameters()).dtype == torch.float16 and next(pipe.unet.parameters()).dtype == torch.float32
    )
    expected = [p.half() for p in pipe.unet.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(expected, half.unet.parameters(), strict=True))
