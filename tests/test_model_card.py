"""Model cards: the Hub metadata of a training run's card and the model-index that scripts/export_shipped.py adds."""

import argparse
import importlib.util
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard, metadata_load

from bridge_diffusers import (
    I2SBPipeline,
    I2SBScheduler,
    IBMDDegradedInputPipeline,
    IBMDPipeline,
    MeanNetwork,
    NADBPipeline,
    NADBScheduler,
    create_bridge_unet,
)
from bridge_diffusers.baselines import classical_restore
from bridge_diffusers.catalogue import card_degradation
from bridge_diffusers.evaluation import EvaluationSet, make_evaluation_set
from bridge_diffusers.imaging import to_unit_range
from bridge_diffusers.metrics import psnr
from bridge_diffusers.training.model_card import write_model_card
from photo_folder import REPO, small_photo_folder


FORMULA = "M(X1) = C(X1) + R([X1, C(X1)])"
_spec = importlib.util.spec_from_file_location("export_shipped", REPO / "scripts" / "export_shipped.py")
export_shipped = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(export_shipped)


def corpus(root: Path) -> Path:
    """A photo folder as scripts/fetch_photos.sh writes it: photos and a README titled "Photo corpus"."""
    small_photo_folder(root)
    (root / "README.md").write_text("# Photo corpus\n\nWritten by `bash scripts/fetch_photos.sh`.\n")
    return root


def nadb(task: str = "blur-uni", classical: str | None = "blur-uni") -> NADBPipeline:
    return NADBPipeline(create_bridge_unet(16), NADBScheduler(), MeanNetwork(classical=classical), task=task)


def write_card(folder: Path, pipeline, task: str, photos: Path, base_model: str | None = None, **flags) -> Path:
    """The card a training script writes for ``pipeline``, with the flags a run on ``photos`` has."""
    folder.mkdir(parents=True, exist_ok=True)
    run = {"task": task, "output_dir": str(folder), "max_train_steps": 2, "resolution": 16, "dataset_name": None}
    run.update(command="python training/train.py", train_data_dir=str(photos))
    args = argparse.Namespace(**{**run, **flags})
    return write_model_card(args, pipeline, "photos", 4, {"psnr": 20.0}, {}, base_model)


def test_training_card_carries_the_hub_metadata(tmp_path):
    card = write_card(tmp_path / "nadb", nadb(), "blur-uni", corpus(tmp_path / "photos"))
    metadata = metadata_load(card)
    assert metadata["license"] == "apache-2.0"
    assert metadata["library_name"] == "bridge-diffusers"
    assert metadata["pipeline_tag"] == "image-to-image"
    assert metadata["tags"] == ["diffusers", "diffusion-bridge", "image-restoration", "nadb", "blur-uni"]
    assert metadata["datasets"] == ["bridge-diffusers-photos"]
    # trained from scratch: no base model; a training run has no held-out evaluation with a baseline
    assert not {"base_model", "base_model_relation", "model-index"} & set(metadata)
    loaded = ModelCard.load(card)
    assert loaded.data.license == "apache-2.0" and loaded.data.datasets == ["bridge-diffusers-photos"]
    # the mean network learns a residual on the task's classical restoration, and the card says which
    section = mean_network_text(loaded.text)
    assert FORMULA in section and "Wiener (Tikhonov) deconvolution" in section


def test_card_describes_the_mean_network_only_when_there_is_one(tmp_path):
    photos = corpus(tmp_path / "photos")
    plain = write_card(tmp_path / "plain", nadb("jpeg10", classical=None), "jpeg10", photos).read_text()
    assert "## Mean network" in plain and FORMULA not in plain
    i2sb = write_card(tmp_path / "i2sb", I2SBPipeline(create_bridge_unet(16), I2SBScheduler()), "jpeg10", photos)
    assert "## Mean network" not in i2sb.read_text()
    sr = write_card(tmp_path / "sr", nadb("sr4x-pool", classical="sr4x-pool"), "sr4x-pool", photos).read_text()
    assert FORMULA in mean_network_text(sr) and "bicubic upsampling" in mean_network_text(sr)


@pytest.mark.parametrize(
    ("make_student", "base_model", "expected"),
    [
        (lambda: IBMDPipeline.from_teacher(nadb("jpeg10", "jpeg10")), None, "bridge-diffusers/nadb-jpeg10"),
        (lambda: IBMDPipeline.from_teacher(I2SBPipeline(create_bridge_unet(16), I2SBScheduler())), None,
         "bridge-diffusers/i2sb-jpeg10"),
        (lambda: IBMDDegradedInputPipeline.from_teacher(nadb("jpeg10", None)), None, "bridge-diffusers/nadb-jpeg10"),
        (lambda: IBMDPipeline.from_teacher(nadb("jpeg10", "jpeg10")), "someone/nadb-faces", "someone/nadb-faces"),
    ],
    ids=["nadb-teacher-folder", "i2sb-teacher-folder", "degraded-input-student", "hub-teacher"],
)  # fmt: skip
def test_student_card_names_its_teacher_as_base_model(tmp_path, make_student, base_model, expected):
    """A teacher folder is named as it is shipped (bridge-diffusers/<method>-<task>); a Hub teacher by its id."""
    card = write_card(tmp_path / "ibmd", make_student(), "jpeg10", corpus(tmp_path / "photos"), base_model)
    metadata = metadata_load(card)
    assert metadata["base_model"] == expected and metadata["base_model_relation"] == "finetune"
    assert metadata["tags"][-2:] == ["ibmd", "jpeg10"] and ModelCard.load(card).data.base_model == expected


def test_card_names_the_training_data(tmp_path):
    own = small_photo_folder(tmp_path / "my_photos")  # not the corpus of fetch_photos.sh
    card = write_card(tmp_path / "a", nadb(), "blur-uni", own)
    assert metadata_load(card)["datasets"] == ["my_photos (local image folder)"]
    hub = write_card(tmp_path / "b", nadb(), "blur-uni", own, train_data_dir=None, dataset_name="someone/faces")
    assert metadata_load(hub)["datasets"] == ["someone/faces"]


# ------------------------------------------------------------------------------------ the shipped cards
def rows_by_hand(classical_method: str = "bicubic upsampling") -> tuple[dict, dict]:
    """An evaluation row of a pipeline and one of the classical baseline, as evaluate_restorer writes them."""
    pipeline = {"method": "ibmd (shipped float32)", "nfe": 1, "psnr": 27.123456, "ssim": 0.812345,
                "fd_effnet_lite0": 41.987654, "fd_samples": 8.0, "seconds_per_image": 0.01}  # fmt: skip
    classical = {"method": classical_method, "psnr": 26.5, "ssim": 0.7654321, "fd_effnet_lite0": 88.25,
                 "fd_samples": 8.0, "seconds_per_image": 0.001}  # fmt: skip
    return pipeline, classical


def mean_network_text(card: str) -> str:
    """The card's "Mean network" section."""
    return card.split("## Mean network", 1)[1].split("\n## ", 1)[0]


def held_out(task: str = "sr4x-pool") -> EvaluationSet:
    images = torch.zeros(8, 3, 16, 16)
    return EvaluationSet(images, images, None, task, "8 crops of 16x16 px from 2 held-out photos (a, b)")


def export_card(folder: Path, pipe, task: str, photos: Path, pipeline_row: dict, classical_row: dict) -> Path:
    """What export_shipped.export_run does to a run's card: its Evaluation section, then the Hub side."""
    card, evaluation_set = folder / "README.md", held_out(task)
    degraded = {"method": "degraded input", "psnr": 25.0, "ssim": 0.7, "fd_effnet_lite0": 120.0}
    export_shipped.add_evaluation_to_card(card, [degraded, classical_row, pipeline_row], evaluation_set, True)
    export_shipped.finish_card(card, pipe, task, pipeline_row, classical_row, evaluation_set, str(photos))
    return card


def metric_values(result: dict) -> dict[str, float]:
    return {metric["type"]: metric["value"] for metric in result["metrics"]}


def test_export_writes_a_model_index_with_the_pipeline_and_the_classical_baseline(tmp_path):
    photos = corpus(tmp_path / "photos")
    student = IBMDPipeline.from_teacher(nadb("sr4x-pool", "sr4x-pool"))
    write_card(tmp_path / "ibmd-sr4x-pool", student, "sr4x-pool", photos)
    pipeline_row, classical_row = rows_by_hand()
    card = export_card(tmp_path / "ibmd-sr4x-pool", student, "sr4x-pool", photos, pipeline_row, classical_row)

    (model,) = metadata_load(card)["model-index"]
    assert model["name"] == "bridge-diffusers/ibmd-sr4x-pool"
    ours, baseline = model["results"]  # the baseline is a result entry of its own
    assert baseline["task"]["name"] == "sr4x-pool restoration: classical baseline: bicubic upsampling"
    assert "bridge-diffusers/ibmd-sr4x-pool" in ours["task"]["name"]
    for result in (ours, baseline):
        assert result["task"]["type"] == "image-to-image"
        assert result["dataset"]["type"] == "bridge-diffusers-photos" and result["dataset"]["config"] == "sr4x-pool"
    assert metric_values(ours) == pytest.approx({"psnr": 27.123456, "ssim": 0.812345, "fd_effnet_lite0": 41.987654},
                                                abs=1e-4)  # fmt: skip
    assert metric_values(baseline) == pytest.approx({"psnr": 26.5, "ssim": 0.7654321, "fd_effnet_lite0": 88.25},
                                                    abs=1e-4)  # fmt: skip
    assert all("classical baseline: bicubic upsampling" in metric["name"] for metric in baseline["metrics"])
    # huggingface_hub reads all six scores back; the card keeps its metadata, text and evaluated degradation
    loaded = ModelCard.load(card)
    assert len(loaded.data.eval_results) == 6 and loaded.data.base_model == "bridge-diffusers/nadb-sr4x-pool"
    assert "## Evaluation" in loaded.text and "| bicubic upsampling |" in loaded.text
    assert card_degradation(card.parent) == "sr4x-pool"


def test_export_completes_a_card_written_before_the_hub_metadata(tmp_path):
    """A run's card from an older training script (no datasets, no base model, no mean network section) gets them;
    what it had stays."""
    folder = tmp_path / "ibmd-blur-uni"
    folder.mkdir()
    old = "---\nlicense: apache-2.0\ntags:\n- diffusers\n- ibmd\n---\n\n# IBMD for `blur-uni`\n\n## Use\n\nrun it\n"
    (folder / "README.md").write_text(old + "\n## Limitations\n\nsome\n")
    student = IBMDPipeline.from_teacher(nadb())
    rows = rows_by_hand("Wiener (Tikhonov) deconvolution")
    card = export_card(folder, student, "blur-uni", corpus(tmp_path / "photos"), *rows)
    metadata = metadata_load(card)
    assert metadata["base_model"] == "bridge-diffusers/nadb-blur-uni"
    assert metadata["datasets"] == ["bridge-diffusers-photos"]
    assert metadata["library_name"] == "bridge-diffusers" and metadata["pipeline_tag"] == "image-to-image"
    assert metadata["tags"] == ["diffusers", "ibmd", "diffusion-bridge", "image-restoration", "blur-uni"]
    text = card.read_text()
    assert text.index("## Mean network") < text.index("## Use") < text.index("## Evaluation")
    assert FORMULA in mean_network_text(text) and "Wiener (Tikhonov) deconvolution" in mean_network_text(text)
    assert "run it" in text


def test_export_scores_the_classical_baseline_of_the_task(tmp_path):
    """The reference rows: the degraded input and the task's classical restoration, named after it, with the FD."""
    evaluation_set = make_evaluation_set("sr4x-pool", 16, 4, photos=small_photo_folder(tmp_path / "photos"))
    references = export_shipped.score_references(evaluation_set)
    assert references.classical["method"] == "bicubic upsampling"
    restored = classical_restore("sr4x-pool", evaluation_set.degraded)
    expected = float(psnr(to_unit_range(restored), to_unit_range(evaluation_set.clean), reduction="mean"))
    assert references.classical["psnr"] == pytest.approx(expected, abs=1e-5)
    assert {"fd_effnet_lite0", "fd_samples"} <= set(references.classical)
    assert [row["method"] for row in references.rows] == ["degraded input", "bicubic upsampling"]
