"""benchmarks/quality.py: the comparison runs end to end and judges the issues' targets on the rows it measured."""

import importlib.util
import json
from pathlib import Path

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
from photo_folder import small_photo_folder


spec = importlib.util.spec_from_file_location("quality", Path(__file__).resolve().parents[1] / "benchmarks/quality.py")
quality = importlib.util.module_from_spec(spec)
spec.loader.exec_module(quality)


def row(method, psnr, fd, nfe=None, seconds=1.0):
    return {"method": method, "psnr": psnr, "fd_effnet_lite0": fd, "seconds_per_image": seconds} | (
        {} if nfe is None else {"nfe": nfe}
    )


def test_targets_are_judged_on_the_measured_rows():
    rows = [
        row("degraded input", 20.0, 90.0),
        row("Wiener deconvolution", 21.0, 80.0),
        row("mean network (nadb)", 25.0, 70.0),
        row("I2SB (i2sb)", 23.0, 60.0, nfe=10),
        row("NADB (nadb)", 24.5, 50.0, nfe=10),
        row("NADB (nadb)", 24.0, 40.0, nfe=100, seconds=100.0),
        row("IBMD (ibmd)", 24.8, 41.0, nfe=1, seconds=1.0),
    ]
    verdicts = {t["target"]: t["result"] for t in quality.check_targets({"blur-uni": rows})}
    assert verdicts["blur-uni, NFE 10: NADB PSNR >= I2SB + 1 dB and lower FD"] == "met"
    assert verdicts["blur-uni: I2SB (NFE 10) FD < mean network FD"] == "met"
    assert verdicts["blur-uni: every learned method beats Wiener deconvolution (PSNR)"] == "met"
    ibmd = "blur-uni: 1-step IBMD (ibmd) FD within 5% of the teacher's best, >= 50x faster than NFE 100"
    assert verdicts[ibmd] == "met"  # 41 / 40 = 1.025, 100x faster
    rows[3] = row("I2SB (i2sb)", 20.5, 60.0, nfe=10)  # now worse than Wiener, and NADB gains 4 dB
    verdicts = {t["target"]: t["result"] for t in quality.check_targets({"blur-uni": rows})}
    assert verdicts["blur-uni: every learned method beats Wiener deconvolution (PSNR)"] == "missed"


def test_quality_benchmark_runs_on_saved_pipelines(tmp_path):
    runs = tmp_path / "runs" / "jpeg10"
    nadb = NADBPipeline(create_bridge_unet(16), NADBScheduler(), MeanNetwork())
    I2SBPipeline(create_bridge_unet(16), I2SBScheduler()).save_pretrained(runs / "i2sb")
    nadb.save_pretrained(runs / "nadb")
    IBMDPipeline.from_teacher(nadb).save_pretrained(runs / "ibmd")
    IBMDDegradedInputPipeline.from_teacher(nadb).save_pretrained(runs / "ibmd-degraded")
    out = tmp_path / "out"
    photos = small_photo_folder(tmp_path / "photos", count=8)  # two held out: the Frechet distance needs two
    quality.main(["--runs", str(tmp_path / "runs"), "--tasks", "jpeg10", "--nfe", "1", "100", "--student_nfe", "1",
                  "2", "--resolution", "16", "--crops_per_image", "1", "--photo_dir", str(photos),
                  "-o", str(out)])  # fmt: skip
    rows = json.loads((out / "quality_jpeg10.json").read_text())
    expected = ["degraded input", "none (decoded JPEG)", "I2SB (i2sb)", "I2SB (i2sb)", "mean network (nadb)"]
    # one-step students take one step only: more than they were distilled for is refused, so NFE 2 is not run
    students = ["IBMD (ibmd)", "IBMD (ibmd-degraded)"]
    assert [r["method"] for r in rows] == [*expected, "NADB (nadb)", "NADB (nadb)", *students]
    assert [r["nfe"] for r in rows[-2:]] == [1, 1]
    targets = (out / "targets.md").read_text()
    assert "1-step IBMD (ibmd) FD" in targets and "1-step IBMD (ibmd-degraded) FD" in targets
    assert (out / "quality_jpeg10_nfe.png").exists() and (out / "quality_jpeg10_samples.png").exists()
    assert "jpeg10: every learned method beats none (decoded JPEG) (PSNR)" in (out / "targets.md").read_text()
