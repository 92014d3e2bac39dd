"""The catalogue of pipelines by `<method>-<task>` (bridge_diffusers.catalogue), from a folder and from a wheel."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bridge_diffusers.catalogue import (
    PIPELINES_DIR_ENV,
    card_degradation,
    find_pipeline,
    read_catalogue,
    shipped_pipelines_dir,
)
from bridge_diffusers.methods import METHODS


REPO = Path(__file__).resolve().parents[1]


def _saved(folder: Path, card: str | None = None) -> Path:
    """A stand-in for a save_pretrained folder: the catalogue reads names and files, never weights."""
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text("{}")
    if card is not None:
        (folder / "README.md").write_text(card)
    return folder


def test_catalogue_lists_method_task_folders_and_hub_repos(tmp_path, monkeypatch):
    root = tmp_path / "pipelines"
    _saved(root / "nadb-jpeg10", card="## Evaluation\n\n48 crops, degraded by `jpeg10-pillow` (seeded).\n")
    _saved(root / "ibmd-jpeg10")
    _saved(root / "i2sb-jpeg10")
    _saved(root / "elsewhere" / "i2sb-sr4x-pool")
    _saved(root / "gan-jpeg10")  # not a registered method: skipped
    (root / "nadb-half-saved").mkdir()  # no model_index.json: skipped
    (root / "notes").mkdir()
    (root / "catalogue.json").write_text(
        json.dumps({"nadb-blur-uni": "someone/nadb-blur-uni", "i2sb-sr4x-pool": "elsewhere/i2sb-sr4x-pool"})
    )
    catalogue = read_catalogue(root)
    # sorted by task, then in the registry's method order
    assert list(catalogue) == ["nadb-blur-uni", "i2sb-jpeg10", "nadb-jpeg10", "ibmd-jpeg10", "i2sb-sr4x-pool"]
    entry = catalogue["nadb-jpeg10"]
    assert entry.method is METHODS["nadb"] and entry.task == "jpeg10" and entry.location == str(root / "nadb-jpeg10")
    assert entry.degradation() == card_degradation(entry.location) == "jpeg10-pillow"
    assert catalogue["ibmd-jpeg10"].degradation() == "jpeg10"  # no card: the task
    assert catalogue["nadb-blur-uni"].location == "someone/nadb-blur-uni"  # a Hub repo id
    assert catalogue["nadb-blur-uni"].degradation() == "blur-uni"
    assert catalogue["i2sb-sr4x-pool"].location == str(root / "elsewhere" / "i2sb-sr4x-pool")
    assert find_pipeline("IBMD", "jpeg10", root) == catalogue["ibmd-jpeg10"]
    with pytest.raises(ValueError, match=r"no pipeline 'ibmd-sr4x-pool'.*there are: nadb-blur-uni, i2sb-jpeg10"):
        find_pipeline("ibmd", "sr4x-pool", root)
    assert read_catalogue(tmp_path / "missing") == {}
    monkeypatch.setenv(PIPELINES_DIR_ENV, str(root))
    assert shipped_pipelines_dir() == root and list(read_catalogue()) == list(catalogue)


def test_the_default_catalogue_is_the_shipped_pipelines_of_the_checkout(monkeypatch):
    monkeypatch.delenv(PIPELINES_DIR_ENV, raising=False)
    assert shipped_pipelines_dir() == REPO / "pipelines"
    names = {f"{method}-{task}" for method in METHODS for task in ("jpeg10", "sr4x-pool", "blur-uni")}
    assert set(read_catalogue()) == names


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the project (so the checkout stays clean), installed with pip's defaults
    (byte-compiled) into a bare folder; checks that it holds every module of src/ and every shipped file."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(
        REPO / "pipelines", source / "pipelines", ignore=shutil.ignore_patterns("*.partial", "__pycache__")
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", str(source), "-w", str(tmp_path / "wheel")],
                   check=True, cwd=tmp_path, timeout=600)  # fmt: skip
    (wheel,) = (tmp_path / "wheel").glob("bridge_diffusers-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    modules = {p.relative_to(REPO / "src").as_posix() for p in (REPO / "src").rglob("*.py")}
    assert modules <= names, sorted(modules - names)  # pyproject.toml's package list misses no module
    shipped = {p.relative_to(REPO / "pipelines").as_posix() for p in (REPO / "pipelines").rglob("*") if p.is_file()}
    weights_and_cards = {name for name in shipped if not name.endswith(".py") and "__pycache__" not in name}
    assert {f"bridge_diffusers/shipped/{name}" for name in weights_and_cards} <= names
    # the remote-code files stay out of the wheel (pip's __pycache__ beside them breaks diffusers' variant lookup)
    assert not any(name.startswith("bridge_diffusers/shipped/") and name.endswith(".py") for name in names)
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=600)
    return site


def _run_installed(site: Path, code: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh process that imports the package from ``site`` (not from this checkout), offline."""
    prelude = f"""
import torch
import bridge_diffusers
from bridge_diffusers.catalogue import find_pipeline, read_catalogue, shipped_pipelines_dir
assert bridge_diffusers.__file__.startswith({str(site)!r}), bridge_diffusers.__file__
assert str(shipped_pipelines_dir()).startswith({str(site)!r}), shipped_pipelines_dir()
"""
    env = {key: value for key, value in os.environ.items() if key not in (PIPELINES_DIR_ENV, "PYTHONPATH")}
    env.update(PYTHONPATH=str(site), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-c", prelude + code], env=env, cwd=site.parent, capture_output=True,
                          text=True, timeout=600)  # fmt: skip


def test_an_installed_wheel_lists_and_runs_the_shipped_pipelines(installed_wheel):
    done = _run_installed(
        installed_wheel,
        """
print(sorted(read_catalogue()))
entry = find_pipeline("nadb", "jpeg10")
pipe = entry.load()
pipe.set_progress_bar_config(disable=True)
restored = pipe.restore(torch.rand(1, 3, 20, 28) * 2 - 1, None, 2, torch.Generator().manual_seed(0))
assert restored.shape == (1, 3, 20, 28) and next(pipe.unet.parameters()).dtype == torch.float32
print("ok", entry.degradation())
""",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    listed, result = done.stdout.strip().splitlines()[-2:]
    names = {f"{method}-{task}" for method in METHODS for task in ("jpeg10", "sr4x-pool", "blur-uni")}
    assert set(json.loads(listed.replace("'", '"'))) == names
    # the installed card names the operator the repository's card names (the retrained nadb-jpeg10: the official one)
    assert result == f"ok {card_degradation(Path(__file__).parents[1] / 'pipelines' / 'nadb-jpeg10')}" == "ok jpeg10"


def test_an_installed_wheel_loads_the_fp16_variant(installed_wheel):
    done = _run_installed(
        installed_wheel,
        """
half = find_pipeline("nadb", "jpeg10").load(variant="fp16", torch_dtype=torch.float16)
assert next(half.unet.parameters()).dtype == next(half.mean_net.parameters()).dtype == torch.float16
""",
    )
    # The wheel leaves out the remote-code files, whose __pycache__ folders broke diffusers' variant lookup.
    assert done.returncode == 0, done.stderr[-3000:]
