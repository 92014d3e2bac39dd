"""benchmarks/speed.py and benchmarks/gpu_bench.py run end to end on the CPU, on tiny configurations."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name):
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speed_nfe_rows_for_every_variant_and_method(tmp_path):
    speed = load("speed")
    out = tmp_path / "speed.json"
    result = speed.main(["--device", "cpu", "--json", str(out), "nfe", "--presets", "tiny", "--resolution", "16",
                         "--batch_size", "1", "--nfe", "2", "--repeats", "1", "--warmup", "0",
                         "--variants", "fp32", "bf16-cl"])  # fmt: skip
    rows = result["rows"]
    assert {(row["method"], row["variant"]) for row in rows} == {
        (method, variant) for method in ("i2sb", "nadb", "ibmd") for variant in ("fp32", "bf16-cl")
    }
    assert all(row["ratio"] > 0 and row["speedup"] > 0 for row in rows)
    assert json.loads(out.read_text())["rows"] == rows
    with pytest.raises(SystemExit):  # a variant is a dtype with -cl / -compile
        speed.main(["nfe", "--variants", "bf16-fast"])


def test_speed_tiled_extrapolates_a_crop_to_the_full_size(tmp_path):
    speed = load("speed")
    pipeline = Path(__file__).resolve().parents[1] / "pipelines" / "ibmd-jpeg10"
    result = speed.main(["--device", "cpu", "tiled", "--pipeline", str(pipeline), "--size", "400x300", "--crop",
                         "100x80", "--photo", "", "--tile", "64", "--overlap", "16", "--batch_size", "2"])  # fmt: skip
    (row,) = result["rows"]
    assert row["tiles"] == 4 and row["full_tiles"] == 48 and row["nfe"] == 1
    assert row["tiled_restore_s"] > 0 and row["bare_forwards_s"] > 0
    assert row["extrapolated_full_s"] == pytest.approx(row["tiled_restore_s"] * 12)


def test_gpu_bench_smoke_runs_every_section_on_the_cpu(tmp_path):
    gpu_bench = load("gpu_bench")
    result = gpu_bench.main(["--smoke", "--device", "cpu", "--out", str(tmp_path), "--variants", "fp32", "bf16"])
    assert [row["variant"] for row in result["unet"]["rows"]] == ["fp32", "bf16"]
    assert result["unet"]["flops_per_image"] > 0 and result["skipped"] == []
    assert {(row["method"], row["nfe"]) for row in result["pipelines"]["rows"]} == {
        (method, nfe) for method in ("i2sb", "nadb") for nfe in (1, 2)
    }
    assert result["training"]["images_per_s"] > 0
    assert json.loads((tmp_path / "gpu_bench.json").read_text())["unet"] == result["unet"]
    assert "| fp32 |" in (tmp_path / "gpu_bench.md").read_text()
    # the datasheet peaks, by device name
    assert gpu_bench.datasheet_peak("NVIDIA H100 80GB HBM3") == ("H100", 989.4e12)
    assert gpu_bench.datasheet_peak("NVIDIA H100 PCIe")[0] == "H100 PCIe"
    assert gpu_bench.datasheet_peak("NVIDIA H200")[0] == "H200" and gpu_bench.datasheet_peak("cpu") == (None, None)
    past_deadline = gpu_bench.main(["--smoke", "--device", "cpu", "--out", str(tmp_path), "--deadline", "-1",
                                    "--variants", "fp32"])  # fmt: skip
    assert past_deadline["skipped"] == ["unet", "pipelines", "training"]


def test_gpu_script_is_valid_bash_and_documents_its_wheels():
    script = BENCHMARKS / "gpu.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    assert "pip download --no-deps -d benchmarks/wheels diffusers" in text and "gpu_bench.py" in text
