"""The `bridge-diffusers` command line and the evaluation helpers."""

import csv
import json

import numpy as np
import PIL.Image
import pytest
import torch

from bridge_diffusers import I2SBPipeline, I2SBScheduler, MeanNetwork, NADBPipeline, NADBScheduler, create_bridge_unet
from bridge_diffusers.cli import main
from bridge_diffusers.data import split_photos
from bridge_diffusers.evaluation import (
    EvaluationSet,
    evaluate_pipelines,
    evaluate_restorer,
    make_evaluation_set,
    markdown_table,
    plot_metric_curves,
    write_table,
)
from bridge_diffusers.pipelines import load_pipeline
from photo_folder import small_photo_folder


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        PIL.Image.fromarray(rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)).save(folder / f"p{i}.png")
    return folder


@pytest.fixture
def photo_dir(tmp_path):
    return small_photo_folder(tmp_path / "photo_folder", count=4, size=(64, 80))


@pytest.fixture
def saved_pipelines(tmp_path):
    i2sb = I2SBPipeline(create_bridge_unet(16), I2SBScheduler())
    nadb = NADBPipeline(create_bridge_unet(16), NADBScheduler(), MeanNetwork())
    i2sb.save_pretrained(tmp_path / "i2sb")
    nadb.save_pretrained(tmp_path / "nadb")
    return tmp_path / "i2sb", tmp_path / "nadb"


def test_degrade_then_restore(photos, saved_pipelines, tmp_path):
    main(["degrade", str(photos), "--task", "inpaint-center", "-o", str(tmp_path / "deg")])
    written = sorted(p.name for p in (tmp_path / "deg").iterdir())
    assert written == ["p0.png", "p0_mask.png", "p1.png", "p1_mask.png"]
    degraded = np.asarray(PIL.Image.open(tmp_path / "deg" / "p0.png"))
    assert (degraded[5:15, 7:21] == 255).all()  # the white centre hole of a 20x28 image
    main(["restore", str(tmp_path / "deg" / "p0.png"), "--pipeline", str(saved_pipelines[0]), "--steps", "2",
          "--mask", str(tmp_path / "deg" / "p0_mask.png"), "-o", str(tmp_path / "out")])  # fmt: skip
    restored = PIL.Image.open(tmp_path / "out" / "p0.png")
    assert restored.size == (28, 20) and restored.format == "PNG"


def test_restore_refuses_missing_and_unreadable_inputs(saved_pipelines, tmp_path):
    with pytest.raises(SystemExit, match="does not exist"):
        main(["restore", str(tmp_path / "nothing.png"), "--pipeline", str(saved_pipelines[1])])
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(SystemExit, match="cannot read"):
        main(["degrade", str(tmp_path / "bad.png"), "--task", "jpeg10", "-o", str(tmp_path / "x")])


def test_load_pipeline_finds_the_class(saved_pipelines, tmp_path):
    assert isinstance(load_pipeline(str(saved_pipelines[0])), I2SBPipeline)
    assert isinstance(load_pipeline(str(saved_pipelines[1])), NADBPipeline)
    with pytest.raises(ValueError, match=r"model_index\.json"):
        load_pipeline(str(tmp_path))


def test_evaluation_set_is_made_of_the_held_out_photos_of_the_folder(photo_dir):
    first = make_evaluation_set("jpeg10", resolution=32, crops_per_image=2, photos=photo_dir)
    again = make_evaluation_set("jpeg10", resolution=32, crops_per_image=2, photos=photo_dir)
    torch.testing.assert_close(first.degraded, again.degraded)
    (held_out,) = split_photos(photo_dir)[1]  # the split of training: one photo of four
    assert first.clean.shape == (2, 3, 32, 32)
    assert first.description == f"2 crops of 32x32 px from 1 held-out photos ({held_out.name})"
    other = make_evaluation_set("jpeg10", resolution=32, crops_per_image=2, seed=1, photos=photo_dir)
    assert other.description != first.description  # the seed of the training split


def test_evaluate_restorer_scores_an_identity_exactly():
    clean = torch.rand(4, 3, 16, 16) * 2 - 1
    evaluation_set = EvaluationSet(clean, clean + 0.1, None, "test", "toy")
    row, restored = evaluate_restorer("oracle", lambda degraded, mask: degraded - 0.1, evaluation_set, frechet=False)
    assert row["psnr"] > 100 and row["ssim"] == pytest.approx(1.0, abs=1e-5) and row["seconds_per_image"] >= 0
    torch.testing.assert_close(restored, clean)


def test_tables_and_plot(tmp_path):
    rows = [
        {"method": "degraded input", "psnr": 20.0},
        {"method": "NADB", "nfe": 1, "psnr": 25.0},
        {"method": "NADB", "nfe": 10, "psnr": 26.5},
    ]
    paths = write_table(rows, tmp_path / "t")
    assert [p.suffix for p in paths] == [".md", ".csv", ".json"]
    assert json.loads((tmp_path / "t.json").read_text()) == rows
    with open(tmp_path / "t.csv") as handle:
        assert list(csv.DictReader(handle))[2]["psnr"] == "26.5"
    assert "| NADB | 10 | 26.5 |" in markdown_table(rows)
    assert plot_metric_curves(rows, tmp_path / "p.png", metrics=("psnr",)).read_bytes()[:4] == b"\x89PNG"


def test_evaluate_command_writes_table_plot_and_grid(saved_pipelines, photo_dir, tmp_path):
    out = tmp_path / "eval"
    main(["evaluate", "--pipeline", str(saved_pipelines[0]), "--pipeline", str(saved_pipelines[1]), "--task",
          "sr4x-pool", "--nfe", "1", "2", "--resolution", "32", "--crops_per_image", "2", "--photo_dir",
          str(photo_dir), "-o", str(out)])  # fmt: skip
    rows = json.loads((out / "eval_sr4x-pool.json").read_text())
    methods = [row["method"] for row in rows]
    # input, classical, I2SB x 2 NFE, mean network, NADB x 2 NFE
    assert methods[0] == "degraded input" and len(rows) == 2 + 2 + 1 + 2 and "mean network (nadb)" in methods
    assert all("fd_effnet_lite0" in row and row["fd_samples"] == rows[0]["fd_samples"] for row in rows)
    assert (out / "eval_sr4x-pool_nfe.png").exists() and (out / "eval_sr4x-pool_samples.png").exists()


def test_diagnose_plots_i2sb_and_nadb_side_by_side(saved_pipelines, photo_dir, tmp_path):
    out = tmp_path / "diag.png"
    main(["diagnose", "--pipeline", str(saved_pipelines[0]), "--pipeline", str(saved_pipelines[1]), "--task",
          "blur-uni", "--points", "5", "--resolution", "16", "--crops_per_image", "2", "--photo_dir", str(photo_dir),
          "-o", str(out)])  # fmt: skip
    assert out.read_bytes()[:4] == b"\x89PNG"
    summary = json.loads(out.with_suffix(".json").read_text())
    assert set(summary) == {"I2SB (i2sb)", "NADB (nadb)"}
    assert all(len(d["cosine"]) >= 5 and all(np.isfinite(d["variance_ratio"])) for d in summary.values())


def test_tiling_reproduces_a_pointwise_restorer_and_the_cli_tiles_large_images(tmp_path, monkeypatch):
    from bridge_diffusers.tiling import restore_tiled, tile_starts

    assert tile_starts(100, 40, 10) == [0, 30, 60] and tile_starts(30, 40, 10) == [0]
    image = torch.rand(1, 3, 70, 90)
    torch.testing.assert_close(restore_tiled(lambda tile, mask: tile.sqrt(), image, tile=32, overlap=8), image.sqrt())
    mask = (torch.rand(1, 1, 70, 90) > 0.5).float()  # an inpainting mask is cut into the same tiles
    tiled = restore_tiled(lambda tile, tile_mask: tile * (1 - tile_mask), image, tile=32, overlap=8, mask=mask)
    torch.testing.assert_close(tiled, image * (1 - mask))
    # a zero network under OT-ODE returns its input: tiled through the CLI, the PNG round-trips pixel for pixel
    pipe = I2SBPipeline(create_bridge_unet(16), I2SBScheduler(ot_ode=True))
    for parameter in pipe.unet.conv_out.parameters():
        torch.nn.init.zeros_(parameter)
    pipe.save_pretrained(tmp_path / "shipped" / "i2sb-jpeg10")
    monkeypatch.setenv("BRIDGE_DIFFUSERS_PIPELINES_DIR", str(tmp_path / "shipped"))
    photo = np.random.default_rng(1).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    PIL.Image.fromarray(photo).save(tmp_path / "big.png")
    main(["restore", str(tmp_path / "big.png"), "--task", "jpeg10", "--method", "i2sb", "--steps", "2",
          "--tile_size", "32", "--tile_overlap", "8", "-o", str(tmp_path / "out")])  # fmt: skip
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(tmp_path / "out" / "big.png")), photo)
    with pytest.raises(SystemExit, match=r"no pipeline 'nadb-blur-uni'.*there are: i2sb-jpeg10"):
        main(["restore", str(tmp_path / "big.png"), "--task", "blur-uni", "-o", str(tmp_path / "out")])


@pytest.mark.parametrize("task", ["inpaint-center", "inpaint-freeform1020", "inpaint-freeform"])
def test_evaluate_passes_the_inpainting_mask_to_every_restorer(saved_pipelines, photo_dir, tmp_path, task):
    """The classical fill and the pipelines get the hole of each crop: the known pixels come back unchanged."""
    evaluation_set = make_evaluation_set(task, resolution=32, crops_per_image=4, photos=photo_dir)
    assert evaluation_set.mask is not None and 0 < float(evaluation_set.mask.mean()) < 1
    rows, restorations = evaluate_pipelines(
        evaluation_set, saved_pipelines, nfes=[2], batch_size=3, frechet=False, log=lambda line: None
    )
    methods = [row["method"] for row in rows]
    assert methods == [
        "degraded input",
        "harmonic (Laplace) fill",
        "I2SB (i2sb)",
        "mean network (nadb)",
        "NADB (nadb)",
    ]
    known = (1 - evaluation_set.mask).expand_as(evaluation_set.clean).bool()
    for method, restored in zip(methods[1:], restorations[1:], strict=True):
        error = (restored - evaluation_set.degraded).abs()[known]
        assert error.max() < 0.05, method  # a random network changes them wherever it is not told to keep them
    main(["evaluate", "--pipeline", str(saved_pipelines[1]), "--task", task, "--nfe", "1", "--resolution", "32",
          "--crops_per_image", "2", "--no_fd", "--photo_dir", str(photo_dir), "-o", str(tmp_path / "ev")])  # fmt: skip
    assert (tmp_path / "ev" / f"eval_{task}.json").is_file()


def test_there_is_no_train_command(capsys):
    """Training is `accelerate launch training/train_<method>.py`, self-contained scripts."""
    with pytest.raises(SystemExit) as exited:
        main(["train", "nadb", "--help"])
    assert exited.value.code == 2 and "invalid choice: 'train'" in capsys.readouterr().err


def test_best_default_steps_takes_the_most_realistic_nfe_within_the_psnr_floor():
    from bridge_diffusers.evaluation import best_default_steps

    def row(nfe, psnr, fd, method="NADB (nadb-x)"):
        return {"method": method, "nfe": nfe, "psnr": psnr, "fd_effnet_lite0": fd}

    rows = [
        {"method": "degraded input", "psnr": 25.0, "fd_effnet_lite0": 90.0},
        row(1, 30.0, 80.0),
        row(10, 29.0, 60.0),
        row(100, 27.5, 50.0),  # the most realistic, but 2.5 dB below the one-call estimate
        row(10, 20.0, 10.0, method="I2SB (i2sb-x)"),
    ]
    assert best_default_steps(rows, "NADB (nadb-x)", psnr_floor=30.5 - 2.0) == 10
    assert best_default_steps(rows, "NADB (nadb-x)", psnr_floor=27.0) == 100
    assert best_default_steps(rows, "NADB (nadb-x)", psnr_floor=31.0) == 1  # none reaches it: the best PSNR
    with pytest.raises(ValueError, match="No rows"):
        best_default_steps(rows, "IBMD (ibmd-x)", psnr_floor=0)
