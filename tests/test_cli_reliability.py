"""The `bridge-diffusers` command as an adversarial user drives it: names that collide, inputs that would be
overwritten, images that look different from what a viewer shows, user mistakes that must end in one `error: ...`
line, interrupted and multi-process runs, and `evaluate` for every registered task."""

import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageOps
import pytest
import torch

from bridge_diffusers import I2SBPipeline, I2SBScheduler, MeanNetwork, NADBPipeline, NADBScheduler, create_bridge_unet
from bridge_diffusers.cli import main
from bridge_diffusers.degradations import list_degradations
from conftest import launch_two_cpu_processes, subprocess_env
from photo_folder import small_photo_folder


# ------------------------------------------------------------------------------------------- fixtures
def _photo(height: int = 20, width: int = 28, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _save(array: np.ndarray, path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(array).save(path, **kwargs)
    return path


def png16(array: np.ndarray, path: Path) -> Path:
    """A 16-bit PNG (1 to 4 channels) written by hand: Pillow cannot write 16-bit colour."""
    array = array if array.ndim == 3 else array[..., None]
    height, width, channels = array.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="module")
def identity_pipeline(tmp_path_factory) -> Path:
    """A zero network under OT-ODE returns its input: the CLI's reading and writing show pixel for pixel."""
    pipe = I2SBPipeline(create_bridge_unet(16), I2SBScheduler(ot_ode=True))
    for parameter in pipe.unet.conv_out.parameters():
        torch.nn.init.zeros_(parameter)
    folder = tmp_path_factory.mktemp("pipelines") / "identity"
    pipe.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def noisy_pipeline(tmp_path_factory) -> Path:
    """A random I2SB network with SDE steps: its result depends on the generator."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("pipelines") / "noisy"
    I2SBPipeline(create_bridge_unet(16), I2SBScheduler()).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def nadb_pipeline(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("pipelines") / "nadb"
    NADBPipeline(create_bridge_unet(16), NADBScheduler(), MeanNetwork()).save_pretrained(folder)
    return folder


@pytest.fixture
def no_loading(monkeypatch):
    """Fails the test if the command loads a pipeline: user errors must be found before any model is loaded."""
    import bridge_diffusers.pipelines as pipelines

    def refuse(*args, **kwargs):
        raise AssertionError("a pipeline was loaded before the user error was reported")

    monkeypatch.setattr(pipelines, "load_pipeline", refuse)


def restore(pipeline: Path, *argv: str) -> None:
    main(["restore", *argv, "--pipeline", str(pipeline), "--steps", "2"])


def error_of(argv: list[str]) -> str:
    """The `error: ...` line a command ends with (SystemExit carrying it, as Python prints it with exit code 1)."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    message = exited.value.code
    assert isinstance(message, str) and message.startswith("error: ") and "\n" not in message, message
    return message


def pixels(path: Path) -> np.ndarray:
    with PIL.Image.open(path) as image:
        return np.asarray(image)


# ----------------------------------------------------------------------------------- 1. no data loss
def test_the_input_is_never_overwritten(identity_pipeline, tmp_path):
    photo = _save(_photo(), tmp_path / "dir" / "photo.png")
    before = photo.read_bytes()
    message = error_of(["restore", str(photo), "--pipeline", str(identity_pipeline), "-o", str(tmp_path / "dir")])
    assert "would replace the input" in message
    message = error_of(["restore", str(photo), "--pipeline", str(identity_pipeline), "-o", str(tmp_path / "dir"),
                        "--overwrite"])  # fmt: skip
    assert "would replace the input" in message  # not even with --overwrite
    assert photo.read_bytes() == before


def test_inputs_with_one_stem_get_one_result_each(identity_pipeline, tmp_path):
    folder = tmp_path / "in"
    png, jpg = _photo(seed=1), _photo(seed=2)
    _save(png, folder / "a.png")
    _save(jpg, folder / "a.jpg", quality=100)
    restore(identity_pipeline, str(folder), "-o", str(tmp_path / "out"))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg.png", "a.png"]
    np.testing.assert_array_equal(pixels(tmp_path / "out" / "a.png"), png)
    np.testing.assert_array_equal(pixels(tmp_path / "out" / "a.jpg.png"), pixels(folder / "a.jpg"))


def test_an_existing_result_needs_overwrite_or_skip_existing(identity_pipeline, tmp_path, capsys):
    photo = _save(_photo(), tmp_path / "photo.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "photo.png").write_bytes(b"an earlier result")
    message = error_of(["restore", str(photo), "--pipeline", str(identity_pipeline), "-o", str(out)])
    assert "exist already" in message and "--overwrite" in message and "--skip_existing" in message
    restore(identity_pipeline, str(photo), "-o", str(out), "--skip_existing")
    assert (out / "photo.png").read_bytes() == b"an earlier result"
    assert "skipping 1 input" in capsys.readouterr().out
    restore(identity_pipeline, str(photo), "-o", str(out), "--overwrite")
    np.testing.assert_array_equal(pixels(out / "photo.png"), _photo())
    with pytest.raises(SystemExit) as exited:
        main(["restore", str(photo), "--pipeline", str(identity_pipeline), "--overwrite", "--skip_existing"])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_output_may_name_one_png_file(identity_pipeline, tmp_path):
    photo = _save(_photo(), tmp_path / "photo.jpg", quality=100)
    restore(identity_pipeline, str(photo), "-o", str(tmp_path / "result.png"))
    assert (tmp_path / "result.png").is_file()
    np.testing.assert_array_equal(pixels(tmp_path / "result.png"), pixels(photo))
    other = _save(_photo(seed=3), tmp_path / "other.png")
    message = error_of(["restore", str(photo), str(other), "--pipeline", str(identity_pipeline), "-o",
                        str(tmp_path / "result.png")])  # fmt: skip
    assert "there are 2 inputs: pass a folder" in message
    message = error_of(["restore", str(photo), "--pipeline", str(identity_pipeline), "-o", str(tmp_path / "r.jpg")])
    assert "name the file .png" in message


def test_degrade_follows_the_same_rules(tmp_path):
    photo = _save(_photo(32, 32), tmp_path / "dir" / "photo.png")
    before = photo.read_bytes()
    assert "would replace the input" in error_of(
        ["degrade", str(photo), "--task", "jpeg10", "-o", str(tmp_path / "dir")]
    )
    assert photo.read_bytes() == before
    main(["degrade", str(photo), "--task", "inpaint-center", "-o", str(tmp_path / "deg")])
    assert "exist already" in error_of(
        ["degrade", str(photo), "--task", "inpaint-center", "-o", str(tmp_path / "deg")]
    )
    assert sorted(p.name for p in (tmp_path / "deg").iterdir()) == ["photo.png", "photo_mask.png"]


# --------------------------------------------------------------------- 2. the picture a viewer shows
def test_exif_orientation_is_applied(identity_pipeline, tmp_path, capsys):
    stored = _photo(20, 28)
    exif = PIL.Image.Exif()
    exif[0x0112] = 6  # a phone photo stored sideways: viewers turn it 90 degrees clockwise
    photo = _save(stored, tmp_path / "phone.jpg", exif=exif, quality=100)
    restore(identity_pipeline, str(photo), "-o", str(tmp_path / "out"))
    result = pixels(tmp_path / "out" / "phone.png")
    with PIL.Image.open(photo) as image:
        shown = np.asarray(PIL.ImageOps.exif_transpose(image))
    assert result.shape == (28, 20, 3)
    np.testing.assert_array_equal(result, shown)
    assert "EXIF orientation (6)" in capsys.readouterr().out


def test_sixteen_bit_pngs_keep_their_values(identity_pipeline, tmp_path):
    """A 16-bit grayscale PNG used to come out almost white (Pillow clips I;16 when converting to RGB)."""
    ramp = (np.linspace(0, 1, 20 * 28).reshape(20, 28) * 65535).astype(np.uint16)
    PIL.Image.fromarray(ramp).save(tmp_path / "gray16.png")
    restore(identity_pipeline, str(tmp_path / "gray16.png"), "-o", str(tmp_path / "out"))
    result = pixels(tmp_path / "out" / "gray16.png").astype(np.int32)
    expected = np.round(ramp / 65535 * 255).astype(np.int32)
    assert (result == 255).mean() < 0.01
    assert np.abs(result - expected[..., None]).max() <= 1


def test_the_reader_keeps_sixteen_bits_of_colour(tmp_path):
    from bridge_diffusers.image_io import read_image

    values = np.random.default_rng(0).integers(0, 65536, (9, 11, 3)).astype(np.uint16)
    read = read_image(png16(values, tmp_path / "colour16.png"))
    assert read.bits == 16 and read.pixels.shape == (9, 11, 3)
    np.testing.assert_allclose(read.pixels * 65535, values, atol=0.02)  # all 16 bits, not the high byte
    gray = values[..., 0]
    read = read_image(png16(gray, tmp_path / "gray16.png"))
    np.testing.assert_allclose(read.pixels[..., 0] * 65535, gray, atol=0.02)
    rgba = np.dstack([values, np.full((9, 11), 65535, np.uint16)])
    read = read_image(png16(rgba, tmp_path / "rgba16.png"))
    assert read.alpha is None and read.pixels.shape == (9, 11, 3)  # an opaque alpha carries nothing


def test_transparency_is_composited_on_white_or_kept(identity_pipeline, tmp_path, capsys):
    rgba = np.dstack([_photo(), np.full((20, 28), 255, np.uint8)])
    rgba[:10, :, 3] = 0  # the top half transparent
    photo = _save(rgba, tmp_path / "logo.png")
    restore(identity_pipeline, str(photo), "-o", str(tmp_path / "white"))
    result = pixels(tmp_path / "white" / "logo.png")
    assert result.shape == (20, 28, 3) and (result[:10] == 255).all()
    np.testing.assert_array_equal(result[10:], rgba[10:, :, :3])
    assert "composited onto white" in capsys.readouterr().out
    restore(identity_pipeline, str(photo), "-o", str(tmp_path / "kept"), "--alpha", "keep")
    kept = pixels(tmp_path / "kept" / "logo.png")
    assert kept.shape == (20, 28, 4)
    np.testing.assert_array_equal(kept[..., 3], rgba[..., 3])
    np.testing.assert_array_equal(kept[10:, :, :3], rgba[10:, :, :3])


def test_animated_images_use_the_first_frame(identity_pipeline, tmp_path, capsys):
    frames = [PIL.Image.fromarray(_photo(seed=seed)) for seed in (0, 1, 2)]
    frames[0].save(tmp_path / "clip.png", save_all=True, append_images=frames[1:])  # an animated PNG
    restore(identity_pipeline, str(tmp_path / "clip.png"), "-o", str(tmp_path / "out"))
    np.testing.assert_array_equal(pixels(tmp_path / "out" / "clip.png"), _photo(seed=0))
    assert "animated (3 frames): only the first frame" in capsys.readouterr().out


# --------------------------------------------------------- 3. user mistakes: one line, before loading
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--steps", "0"], "argument --steps: must be at least 1"),
        (["--steps", "-1"], "argument --steps: must be at least 1"),
        (["--tile_size", "0"], "argument --tile_size: must be at least 1"),
        (["--tile_size", "abc"], "argument --tile_size: 'abc' is not a whole number"),
        (["--batch_size", "0"], "argument --batch_size: must be at least 1"),
    ],
)
def test_bad_flags_end_in_one_line_with_code_2(identity_pipeline, tmp_path, capsys, no_loading, flags, message):
    photo = _save(_photo(), tmp_path / "photo.png")
    with pytest.raises(SystemExit) as exited:
        main(["restore", str(photo), "--pipeline", str(identity_pipeline), *flags])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1


def test_user_errors_are_reported_before_any_model_is_loaded(identity_pipeline, nadb_pipeline, tmp_path, no_loading):
    photo = _save(_photo(), tmp_path / "photo.png")
    other = _save(_photo(seed=1), tmp_path / "other.png")
    small_mask = _save(np.zeros((10, 10), np.uint8), tmp_path / "small_mask.png")
    (tmp_path / "notes.png").write_text("not an image")
    png16(np.zeros((1, 1), np.uint16), tmp_path / "huge.png")
    huge = (tmp_path / "huge.png").read_bytes()  # its header claims 20000 x 20000 px (a decompression bomb)
    ihdr = struct.pack(">II", 20000, 20000) + huge[24:29]
    huge = huge[:16] + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF) + huge[33:]
    (tmp_path / "huge.png").write_bytes(huge)
    (tmp_path / "existing.txt").write_text("a file")
    base = ["restore", str(photo), "--pipeline", str(identity_pipeline)]
    cases = [
        ([*base, "--steps", "5000"], "--steps 5000: the pipeline"),
        (
            [*base, "--tile_size", "32", "--tile_overlap", "32"],
            "--tile_overlap 32 must be smaller than --tile_size 32",
        ),
        ([*base, "--mask", str(tmp_path / "missing.png")], "--mask: " + str(tmp_path / "missing.png")),
        ([*base, "--mask", str(small_mask)], "is 10x10 px but"),
        (
            [
                "restore",
                str(photo),
                str(other),
                "--pipeline",
                str(identity_pipeline),
                "-o",
                str(tmp_path / "existing.txt"),
            ],
            "is an existing file, but there are 2 inputs",
        ),
        ([*base, "--dtype", "fp16"], "--dtype fp16 needs a GPU"),
        (["restore", str(tmp_path / "notes.png"), "--pipeline", str(identity_pipeline)], "not a format that Pillow"),
        (["restore", str(tmp_path / "nothing.png"), "--pipeline", str(identity_pipeline)], "does not exist"),
        (["restore", str(tmp_path / "huge.png"), "--pipeline", str(identity_pipeline)], "too large to read safely"),
        (["restore", str(photo), "--pipeline", str(tmp_path / "no" / "such" / "folder")], "does not exist"),
        (["restore", str(photo)], "pass --pipeline PATH_OR_REPO, or --task"),
    ]
    for argv, message in cases:
        assert message in error_of(argv), argv


def _damage(source: Path, target: Path, how: str) -> Path:
    import json
    import shutil

    shutil.copytree(source, target)
    if how == "no mean_net":
        shutil.rmtree(target / "mean_net")
        return target / "mean_net"
    if how == "truncated weights":
        weights = target / "unet" / "diffusion_pytorch_model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
        return weights
    if how == "scheduler value":
        file = target / "scheduler" / "scheduler_config.json"
        config = json.loads(file.read_text())
        config["alpha"] = "0.4x"
        file.write_text(json.dumps(config))
        return file
    if how == "broken json":
        (target / "unet" / "config.json").write_text("{")
        return target / "unet" / "config.json"
    if how == "no index":
        (target / "model_index.json").unlink()
        return target / "model_index.json"
    raise ValueError(how)


@pytest.mark.parametrize("how", ["no mean_net", "truncated weights", "scheduler value", "broken json", "no index"])
def test_a_damaged_pipeline_folder_is_named_by_its_file(nadb_pipeline, tmp_path, how):
    photo = _save(_photo(), tmp_path / "photo.png")
    bad = _damage(nadb_pipeline, tmp_path / "damaged", how)
    message = error_of(["restore", str(photo), "--pipeline", str(tmp_path / "damaged"), "-o", str(tmp_path / "o")])
    assert str(bad) in message, message
    assert not (tmp_path / "o").exists()


def test_evaluate_and_diagnose_refuse_an_unknown_task_at_once(identity_pipeline, tmp_path):
    for command in ("evaluate", "diagnose"):
        message = error_of([command, "--pipeline", str(identity_pipeline), "--task", "jpeg11", "--photo_dir",
                            str(tmp_path / "no_photos")])  # fmt: skip
        assert "jpeg11" in message and "jpeg10" in message  # the registered names are listed


def test_the_command_prints_one_line_and_debug_prints_the_traceback(nadb_pipeline, tmp_path):
    """As a user runs it: a damaged pipeline folder ends in one `error:` line and exit code 1; --debug shows the
    traceback."""
    photo = _save(_photo(), tmp_path / "photo.png")
    _damage(nadb_pipeline, tmp_path / "damaged", "no mean_net")
    command = [sys.executable, "-m", "bridge_diffusers.cli", "restore", str(photo), "--pipeline",
               str(tmp_path / "damaged"), "-o", str(tmp_path / "out")]  # fmt: skip
    plain = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines() == [f"error: {tmp_path / 'damaged' / 'mean_net'}/ is missing "
                                                 "(model_index.json lists the component 'mean_net')"]  # fmt: skip
    debug = subprocess.run([*command, "--debug"], env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "PipelineFolderError" in debug.stderr


def test_fast_path_flags_reach_optimize_pipeline_and_the_tiler(identity_pipeline, tmp_path, monkeypatch):
    """--dtype / --compile go to bridge_diffusers.fast.optimize_pipeline (channels-last on a GPU only), and
    --batch_size to restore_tiled (with a padded last batch for a compiled network)."""
    import bridge_diffusers.fast as fast
    import bridge_diffusers.tiling as tiling

    calls = {}

    def optimize(pipe, **kwargs):
        calls["optimize"] = kwargs
        return pipe

    real_tiled = tiling.restore_tiled

    def tiled(*args, **kwargs):
        calls["tiled"] = kwargs
        return real_tiled(*args, **kwargs)

    monkeypatch.setattr(fast, "optimize_pipeline", optimize)
    monkeypatch.setattr(tiling, "restore_tiled", tiled)
    photo = _save(_photo(50, 70), tmp_path / "big.png")
    restore(identity_pipeline, str(photo), "--dtype", "bf16", "--compile", "--batch_size", "4", "--tile_size", "32",
            "-o", str(tmp_path / "out"))  # fmt: skip
    assert calls["optimize"] == {"dtype": torch.bfloat16, "channels_last": False, "compile": True}
    assert calls["tiled"]["batch_size"] == 4 and calls["tiled"]["pad_batch"] is True
    np.testing.assert_array_equal(pixels(tmp_path / "out" / "big.png"), _photo(50, 70))


def test_bfloat16_restores_on_the_cpu(identity_pipeline, tmp_path):
    photo = _save(_photo(), tmp_path / "photo.png")
    restore(identity_pipeline, str(photo), "--dtype", "bf16", "-o", str(tmp_path / "out"))
    difference = np.abs(pixels(tmp_path / "out" / "photo.png").astype(int) - _photo().astype(int))
    assert difference.max() <= 2  # the identity in bfloat16 (8 bits of mantissa)


# ------------------------------------------------------------ 8. tiles, interruption, seeds, processes
def test_a_single_large_image_shows_progress_over_tiles(identity_pipeline, tmp_path, capsys):
    photo = _save(_photo(50, 70), tmp_path / "big.png")
    restore(identity_pipeline, str(photo), "--tile_size", "32", "--tile_overlap", "8", "-o", str(tmp_path / "out"))
    assert re.search(r"big\.png: .*\d+/6 \[", capsys.readouterr().err)  # 2 x 3 tiles
    np.testing.assert_array_equal(pixels(tmp_path / "out" / "big.png"), _photo(50, 70))


def test_an_interrupted_folder_keeps_finished_results_and_resumes(identity_pipeline, tmp_path, monkeypatch, capsys):
    import bridge_diffusers.tiling as tiling

    folder = tmp_path / "in"
    for index in range(3):
        _save(_photo(seed=index), folder / f"p{index}.png")
    real, calls = tiling.restore_tiled, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tiling, "restore_tiled", interrupted)
    try:
        restore(identity_pipeline, str(folder), "-o", str(tmp_path / "out"))
    except KeyboardInterrupt:  # (not raised on: it would end the test session)
        pytest.fail("the interruption escaped as a traceback")
    except SystemExit as exited:
        assert "interrupted" in str(exited.code) and "--skip_existing" in str(exited.code)
    else:
        pytest.fail("the run was not interrupted")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["p0.png"]  # finished, whole, no partial file
    np.testing.assert_array_equal(pixels(tmp_path / "out" / "p0.png"), _photo(seed=0))
    monkeypatch.setattr(tiling, "restore_tiled", real)
    restore(identity_pipeline, str(folder), "-o", str(tmp_path / "out"), "--skip_existing")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.png", "p1.png", "p2.png"]
    assert "skipping 1 input" in capsys.readouterr().out


def test_a_killed_write_leaves_no_half_file(tmp_path, monkeypatch):
    from bridge_diffusers.image_io import write_png

    def dies_mid_write(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"\x89PNG half")
        raise OSError("No space left on device")

    monkeypatch.setattr(PIL.Image.Image, "save", dies_mid_write)
    with pytest.raises(OSError, match="No space"):
        write_png(tmp_path / "result.png", torch.zeros(1, 3, 4, 4))
    assert list(tmp_path.iterdir()) == []


def test_the_seed_of_an_image_does_not_depend_on_its_place_in_a_folder(noisy_pipeline, tmp_path):
    photo = _photo(seed=5)
    _save(photo, tmp_path / "alone" / "b.png")
    _save(photo, tmp_path / "crowd" / "b.png")
    for index in range(2):
        _save(_photo(seed=10 + index), tmp_path / "crowd" / f"a{index}.png")  # sorted before b.png
    restore(noisy_pipeline, str(tmp_path / "alone"), "-o", str(tmp_path / "out1"))
    restore(noisy_pipeline, str(tmp_path / "crowd"), "-o", str(tmp_path / "out2"))
    np.testing.assert_array_equal(pixels(tmp_path / "out1" / "b.png"), pixels(tmp_path / "out2" / "b.png"))
    assert not np.array_equal(pixels(tmp_path / "out2" / "a0.png"), pixels(tmp_path / "out2" / "a1.png"))
    restore(noisy_pipeline, str(tmp_path / "alone"), "-o", str(tmp_path / "out3"), "--seed", "1")
    assert not np.array_equal(pixels(tmp_path / "out1" / "b.png"), pixels(tmp_path / "out3" / "b.png"))


def test_two_processes_split_a_folder_and_a_rerun_skips_finished_files(noisy_pipeline, tmp_path):
    """`accelerate launch -m bridge_diffusers.cli restore IN -o OUT` on two CPU processes: every image is restored
    once, as a single process restores it (the seed is the file's); a rerun with --skip_existing redoes only the
    missing results, one without refuses to overwrite."""
    folder = tmp_path / "in"
    for index in range(5):
        _save(_photo(seed=index), folder / f"p{index}.png")
    restore(noisy_pipeline, str(folder), "-o", str(tmp_path / "single"))
    out = tmp_path / "multi"
    flags = ["restore", str(folder), "--pipeline", str(noisy_pipeline), "--steps", "2", "-o", str(out)]
    done = launch_two_cpu_processes(Path("-m"), "bridge_diffusers.cli", *flags)
    assert done.returncode == 0, done.stderr[-3000:]
    names = [f"p{index}.png" for index in range(5)]
    assert sorted(p.name for p in out.iterdir()) == names
    for name in names:
        np.testing.assert_array_equal(pixels(out / name), pixels(tmp_path / "single" / name))
    assert sorted(re.findall(r"(p\d\.png) -> ", done.stdout)) == names  # each written once

    (out / "p1.png").unlink()
    (out / "p3.png").unlink()
    kept = {name: (out / name).stat().st_mtime_ns for name in ("p0.png", "p2.png", "p4.png")}
    again = launch_two_cpu_processes(Path("-m"), "bridge_diffusers.cli", *flags, "--skip_existing")
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(re.findall(r"(p\d\.png) -> ", again.stdout)) == ["p1.png", "p3.png"]
    assert {name: (out / name).stat().st_mtime_ns for name in kept} == kept
    np.testing.assert_array_equal(pixels(out / "p3.png"), pixels(tmp_path / "single" / "p3.png"))
    refused = launch_two_cpu_processes(Path("-m"), "bridge_diffusers.cli", *flags)
    assert refused.returncode != 0 and "error: 5 result(s) exist already" in refused.stderr
    assert "bridge_diffusers/cli.py" not in refused.stderr  # (the launcher adds its own report of the exit code)


# ------------------------------------------------------------------------------ 7. evaluate, every task
@pytest.fixture(scope="module")
def eval_photos(tmp_path_factory) -> Path:
    return small_photo_folder(tmp_path_factory.mktemp("eval_photos"), count=4, size=(64, 80))


@pytest.mark.parametrize("task", list_degradations())
def test_evaluate_runs_for_every_registered_task(nadb_pipeline, eval_photos, tmp_path, task):
    main(["evaluate", "--pipeline", str(nadb_pipeline), "--task", task, "--nfe", "1", "--resolution", "32",
          "--crops_per_image", "1", "--no_fd", "--formats", "json", "--photo_dir", str(eval_photos), "-o",
          str(tmp_path)])  # fmt: skip
    import json

    rows = json.loads((tmp_path / f"eval_{task}.json").read_text())
    assert rows[0]["method"] == "degraded input" and any(row["method"].startswith("NADB") for row in rows)
    assert all(np.isfinite(row["psnr"]) for row in rows)


def test_degrade_reads_through_the_same_reader(tmp_path):
    """`degrade` too applies the EXIF orientation (and its seed is the file's, not its place)."""
    exif = PIL.Image.Exif()
    exif[0x0112] = 8
    photo = _save(_photo(32, 48), tmp_path / "phone.jpg", exif=exif, quality=100)
    main(["degrade", str(photo), "--task", "jpeg10", "-o", str(tmp_path / "deg")])
    assert pixels(tmp_path / "deg" / "phone.png").shape == (48, 32, 3)


def test_png16_helper_writes_what_pillow_reads(tmp_path):
    values = np.random.default_rng(1).integers(0, 65536, (5, 6, 3)).astype(np.uint16)
    with PIL.Image.open(png16(values, tmp_path / "c.png")) as image:
        np.testing.assert_array_equal(np.asarray(image), (values >> 8).astype(np.uint8))
