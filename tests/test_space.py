"""The Gradio demo Space (spaces/app.py): the restore function, the HTTP API, and the page in headless Chromium.

Tiny random pipelines are saved in a temporary folder named by ``BRIDGE_DIFFUSERS_PIPELINES_DIR``. The module is
skipped without gradio (``pip install -e ".[demo]"``); the browser test also needs Chromium and its driver
(Debian: ``apt-get install chromium chromium-driver``) and selenium.
"""

import importlib.util
import io
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from bridge_diffusers import (
    I2SBPipeline,
    I2SBScheduler,
    IBMDPipeline,
    MeanNetwork,
    NADBPipeline,
    NADBScheduler,
    create_bridge_unet,
)


gr = pytest.importorskip("gradio", reason="the demo needs gradio: pip install -e '.[demo]'")
gradio_client = pytest.importorskip("gradio_client", reason="the API test needs gradio_client (comes with gradio)")


APP_FILE = Path(__file__).resolve().parents[1] / "spaces" / "app.py"
EXPECTED = {("jpeg10", "nadb"), ("jpeg10", "ibmd"), ("inpaint-center", "i2sb")}


def _photo(width: int = 41, height: int = 27, mode: str = "RGB", seed: int = 0) -> PIL.Image.Image:
    """A smooth colour image with some texture, so that the metrics are meaningful.

    The tests keep to one size (41×27, odd: the UNet pads it) so that torch sets up its CPU kernels once.
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x / width, y / height, 0.5 + 0.5 * np.sin(x / 5.0) * np.cos(y / 7.0)], axis=-1)
    array = np.clip(base + 0.05 * rng.standard_normal(base.shape), 0, 1)
    return PIL.Image.fromarray(np.round(array * 255).astype(np.uint8)).convert(mode)


def _png_roundtrip(image: PIL.Image.Image) -> PIL.Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    buffer.seek(0)
    return PIL.Image.open(buffer).convert(image.mode)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One CPU thread per restoration, as the app sets for itself: with a busy CPU (a training job, the server's
    concurrent requests) OpenMP threads wait on each other and the tiny UNets run many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pipelines_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pipelines")
    torch.manual_seed(0)
    nadb = NADBPipeline(create_bridge_unet(16), NADBScheduler(), MeanNetwork())
    nadb.save_pretrained(root / "nadb-jpeg10")
    IBMDPipeline.from_teacher(nadb).save_pretrained(root / "ibmd-jpeg10")
    I2SBPipeline(create_bridge_unet(16), I2SBScheduler()).save_pretrained(root / "i2sb-inpaint-center")
    (root / "notes").mkdir()  # not <method>-<task>: skipped
    (root / "nadb-not-a-task").mkdir()  # unknown degradation: skipped
    (root / "nadb-not-a-task" / "model_index.json").write_text("{}")
    (root / "i2sb-jpeg5").mkdir()  # no model_index.json: skipped
    return root


@pytest.fixture(scope="module")
def app(pipelines_root):
    """spaces/app.py imported as a module, with the pipelines folder and the upload limit set."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRIDGE_DIFFUSERS_PIPELINES_DIR", str(pipelines_root))
        patch.setenv("BRIDGE_DIFFUSERS_MAX_SIDE", "512")
        patch.setenv("BRIDGE_DIFFUSERS_CONCURRENCY", "2")
        spec = importlib.util.spec_from_file_location("bridge_diffusers_space_app", APP_FILE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        yield module
        sys.modules.pop(spec.name, None)


# ------------------------------------------------------------------------------------ 1. the pure function
def test_discovery_follows_the_folder_contract(app, pipelines_root):
    catalogue = app.discover_pipelines()
    assert set(catalogue) == EXPECTED
    assert catalogue[("jpeg10", "ibmd")].method.is_student and not catalogue[("jpeg10", "nadb")].method.is_student
    assert catalogue[("jpeg10", "nadb")].location == str(pipelines_root / "nadb-jpeg10")
    assert app.pipelines_dir() == pipelines_root.resolve()
    assert app._default_method(["i2sb", "nadb", "ibmd"]) == "ibmd" and app._default_method(["i2sb", "nadb"]) == "nadb"
    assert app.discover_pipelines(pipelines_root / "missing") == {}


@pytest.mark.parametrize(("task", "method"), sorted(EXPECTED))
def test_restore_with_degradation_gives_png_safe_images_and_metrics(app, task, method):
    photo = _photo()
    degraded, _, restored, info = app.restore(photo, task, method, steps=3, seed=7, degrade_first=True)
    for image in (degraded, restored):
        assert image.size == photo.size and image.mode == "RGB"
        assert np.array_equal(np.asarray(_png_roundtrip(image)), np.asarray(image))
    assert not np.array_equal(np.asarray(degraded), np.asarray(photo))  # the task's operator was applied
    for key in ("psnr_db", "ssim", "psnr_db_degraded", "ssim_degraded"):
        assert isinstance(info[key], float) and np.isfinite(info[key]), key
    assert info["task"] == task and info["method"] == method and info["seed"] == 7
    assert info["steps"] == (1 if method == "ibmd" else 3)
    assert info["seconds_total"] >= info["seconds_restore"] >= 0
    json.dumps(info)  # what the JSON panel and the API return


def test_restore_without_degradation_has_no_metrics_and_is_reproducible(app):
    photo = _photo()
    degraded, _, restored, info = app.restore(photo, "jpeg10", "nadb", steps=2, seed=3, degrade_first=False)
    assert np.array_equal(np.asarray(degraded), np.asarray(photo))  # taken as already degraded
    assert restored.size == photo.size
    assert not any(key.startswith(("psnr", "ssim")) for key in info)
    again = app.restore(photo, "jpeg10", "nadb", steps=2, seed=3, degrade_first=False)[2]
    assert np.array_equal(np.asarray(again), np.asarray(restored))

    # An upload that is already inpainting input: the official centre box is the hole, the rest is kept (up to the
    # bridge's small noise at the last step), which an untrained network would not do without the mask.
    _, _, restored, _ = app.restore(photo, "inpaint-center", "i2sb", steps=2, seed=0, degrade_first=False)
    error = np.abs(np.asarray(restored, dtype=np.int16) - np.asarray(photo, dtype=np.int16)).mean(axis=-1)
    hole = app.center_mask(photo.height, photo.width).numpy() == 1
    assert error[~hole].mean() < 3 < error[hole].mean()


def test_odd_uploads_are_converted_or_downscaled_with_a_note(app):
    _, _, restored, info = app.restore(_photo(mode="L"), "jpeg10", "ibmd", seed=0)
    assert restored.mode == "RGB" and restored.size == (41, 27)
    assert any("grayscale" in note for note in info["notes"])

    rgba = _photo(mode="RGBA")
    rgba.putalpha(128)
    _, _, restored, info = app.restore(rgba, "jpeg10", "ibmd", seed=0)
    assert restored.mode == "RGB" and any("transparency" in note for note in info["notes"])

    degraded, _, restored, info = app.restore(_photo(82, 54), "jpeg10", "ibmd", seed=0, max_side=41)
    assert degraded.size == restored.size == (41, 27) and info["size"] == [41, 27]
    assert any("downscaled" in note and "82×54" in note for note in info["notes"])

    _, _, restored, _ = app.restore(np.asarray(_photo()), "jpeg10", "ibmd", seed=0)  # numpy arrays work too
    assert restored.size == (41, 27)


@pytest.fixture(scope="module")
def sr_root(tmp_path_factory) -> Path:
    """A super-resolution pipeline whose zero network under OT-ODE returns exactly what it sees."""
    root = tmp_path_factory.mktemp("sr_pipelines")
    pipe = I2SBPipeline(create_bridge_unet(16), I2SBScheduler(ot_ode=True), task="sr4x-pool")
    for parameter in pipe.unet.conv_out.parameters():
        torch.nn.init.zeros_(parameter)
    pipe.save_pretrained(root / "i2sb-sr4x-pool")
    return root


def test_super_resolution_shows_the_small_image_and_returns_a_larger_one(app, sr_root):
    photo = _photo()  # 41x27: cropped to 40x24, a multiple of 4
    degraded, _, restored, info = app.restore(photo, "sr4x-pool", "i2sb", steps=2, seed=0, pipelines_root=sr_root)
    assert degraded.size == (10, 6) and restored.size == (40, 24)
    assert info["size"] == [40, 24] and info["restored_size"] == [40, 24]
    assert any("cropped to 40×24" in note for note in info["notes"])
    blocks = np.asarray(photo.crop((0, 0, 40, 24)), dtype=np.float64).reshape(6, 4, 10, 4, 3).mean(axis=(1, 3))
    assert np.abs(np.asarray(degraded) - blocks).max() <= 0.5 + 1e-6  # the 4x4 block means: sr4x-pool
    # the network saw the shown low-resolution image repeated over 4x4 blocks, and gave it back
    blocky = np.repeat(np.repeat(np.asarray(degraded), 4, axis=0), 4, axis=1)
    np.testing.assert_array_equal(np.asarray(restored), blocky)
    assert info["psnr_db"] == info["psnr_db_degraded"]  # both against the photo, at its size

    _, _, restored, info = app.restore(
        photo, "sr4x-pool", "i2sb", steps=2, degrade_first=False, pipelines_root=sr_root
    )
    assert restored.size == (164, 108) and info["restored_size"] == [164, 108]
    np.testing.assert_array_equal(np.asarray(restored), np.repeat(np.repeat(np.asarray(photo), 4, axis=0), 4, axis=1))
    # an upload taken as the small image is limited to a quarter of max_side: the result stays within it
    _, _, restored, info = app.restore(photo, "sr4x-pool", "i2sb", steps=1, degrade_first=False, max_side=82,
                                    pipelines_root=sr_root)  # fmt: skip
    assert max(restored.size) <= 82 and info["size"] == [20, 13]


def test_bad_inputs_give_readable_errors(app, tmp_path):
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("this is not a PNG")
    cases = [
        ((None, "jpeg10", "nadb"), "No image"),
        ((str(not_an_image), "jpeg10", "nadb"), "could not be read as an image"),
        ((np.zeros((2, 3, 4, 5, 6)), "jpeg10", "nadb"), "not a usable image"),
        ((_photo(), "jpeg10", "i2sb"), "Available: "),
        ((_photo(), "sr4x-pool", "nadb"), "No nadb pipeline for the task sr4x-pool"),
    ]
    for args, message in cases:
        with pytest.raises(gr.Error, match=message) as caught:
            app.restore(*args)
        assert "Traceback" not in str(caught.value)
    with pytest.raises(gr.Error, match="seed"):
        app.restore(_photo(), "jpeg10", "nadb", seed=-1)
    with pytest.raises(gr.Error, match="steps"):
        app.restore(_photo(), "jpeg10", "nadb", steps=0)


def test_no_pipelines_gives_a_message_not_a_crash(app, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    demo = app.build_demo(empty)
    assert isinstance(demo, gr.Blocks)
    notices = [block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "no-pipelines"]
    assert len(notices) == 1 and "No pipelines found" in notices[0].value
    with pytest.raises(gr.Error, match="No pipelines found"):
        app.restore(_photo(), "jpeg10", "nadb", pipelines_root=empty)


# ----------------------------------------------------------------------------------- 2. the HTTP API
@pytest.fixture(scope="module")
def server(app):
    """The demo served on 127.0.0.1 for the API and browser tests."""
    demo = app.build_demo()
    _, local_url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, share=False)
    try:
        yield local_url
    finally:
        demo.close()


def test_api_restores_and_serves_concurrent_clients(server, tmp_path):
    upload = tmp_path / "photo.png"
    _photo().save(upload)
    client = gradio_client.Client(server, verbose=False, download_files=str(tmp_path / "dl"), analytics_enabled=False)

    def call(seed: int):
        file = gradio_client.handle_file(str(upload))
        return client.predict(file, "jpeg10", "ibmd", 1, seed, True, api_name="/restore")

    degraded_path, classical_path, restored_path, info = call(0)
    for path in (degraded_path, classical_path, restored_path):
        assert str(path).endswith(".png")
        with PIL.Image.open(path) as image:
            assert image.format == "PNG" and image.size == (41, 27)
    assert info["method"] == "ibmd" and "psnr_db" in info

    results, errors = {}, []

    def worker(seed: int):
        try:
            results[seed] = call(seed)
        except Exception as error:  # collected and reported below
            errors.append(error)

    users = range(1, 9)  # eight users at once, served two at a time (BRIDGE_DIFFUSERS_CONCURRENCY=2)
    threads = [threading.Thread(target=worker, args=(seed,)) for seed in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and sorted(results) == list(users)
    # The JPEG operator is deterministic: the degraded images are equal, yet each request has its own files.
    assert len({str(degraded_path) for degraded_path, _, _, _ in results.values()}) == len(users)
    for seed, (_, _, restored_path, info) in results.items():
        assert info["seed"] == seed
        with PIL.Image.open(restored_path) as image:
            assert image.size == (41, 27)


def _bad_uploads(folder: Path) -> dict[str, tuple[Path, str]]:
    """Files a careless or hostile user uploads, and what the message must say."""
    folder.mkdir(exist_ok=True)
    text = folder / "notes.png"
    text.write_text("this is not a PNG")
    empty = folder / "empty.png"
    empty.write_bytes(b"")
    whole = io.BytesIO()
    _photo().save(whole, format="PNG")
    cut = folder / "cut.png"
    cut.write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    return {
        "not an image": (text, "not a format that Pillow reads"),
        "empty": (empty, "empty (0 bytes)"),
        "truncated": (cut, "could not be read as an image"),
    }


@pytest.mark.parametrize("case", ["not an image", "empty", "truncated"])
def test_bad_uploads_are_explained_by_the_function(app, tmp_path, case):
    path, message = _bad_uploads(tmp_path)[case]
    with pytest.raises(gr.Error, match="could not be read as an image") as caught:
        app.restore(str(path), "jpeg10", "ibmd")
    assert message in str(caught.value) and str(tmp_path) not in str(caught.value)


def test_bad_uploads_through_the_api_give_readable_messages(server, tmp_path):
    """Uploads through the HTTP API, as the page sends them: the user reads what is wrong with the file, not
    gradio's generic "The upstream Gradio app has raised an exception"; the server keeps serving."""
    client = gradio_client.Client(server, verbose=False, download_files=str(tmp_path / "dl"), analytics_enabled=False)
    for case, (path, message) in _bad_uploads(tmp_path / "uploads").items():
        with pytest.raises(Exception) as caught:
            client.predict(gradio_client.handle_file(str(path)), "jpeg10", "ibmd", 1, 0, True, api_name="/restore")
        text = str(caught.value)
        assert "could not be read as an image" in text and message in text, (case, text)
        assert "upstream" not in text.lower(), (case, text)
    good = tmp_path / "photo.png"
    _photo().save(good)
    _, _, restored_path, _ = client.predict(gradio_client.handle_file(str(good)), "jpeg10", "ibmd", 1, 0, True,
                                         api_name="/restore")  # fmt: skip
    with PIL.Image.open(restored_path) as image:
        assert image.size == (41, 27)


def test_uploaded_files_are_read_as_a_viewer_shows_them(app, tmp_path):
    """EXIF orientation, 16-bit grayscale and animation, through the library's reader."""
    photo = _photo()
    exif = PIL.Image.Exif()
    exif[0x0112] = 6  # stored sideways: a viewer turns it 90 degrees clockwise
    photo.save(tmp_path / "sideways.jpg", exif=exif, quality=95)
    image, notes = app.prepare_image(str(tmp_path / "sideways.jpg"))
    assert image.size == (27, 41) and any("EXIF orientation" in note for note in notes)

    ramp = np.linspace(0, 0.25, 27 * 41).reshape(27, 41)  # a dark 16-bit image must stay dark, not turn white
    PIL.Image.fromarray(np.round(ramp * 65535).astype(np.uint16)).save(tmp_path / "deep.png")
    image, notes = app.prepare_image(str(tmp_path / "deep.png"))
    assert abs(np.asarray(image, dtype=np.float64).mean() / 255 - 0.125) < 0.01
    assert any("16-bit" in note for note in notes)

    frames = [_photo(seed=0), _photo(seed=1).transpose(PIL.Image.Transpose.FLIP_LEFT_RIGHT)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    image, notes = app.prepare_image(str(tmp_path / "anim.gif"))
    assert image.size == (41, 27) and any("first frame" in note for note in notes)


# --------------------------------------------------------------------------------- 3. headless Chromium
def _chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.mark.skipif(_chromium() is None, reason="needs chromium and chromedriver (apt-get install chromium-driver)")
def test_page_restores_an_upload_in_headless_chromium(server, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test drives Chromium with selenium")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser, driver_path = _chromium()
    upload = tmp_path / "upload.png"
    _photo().save(upload)
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1400",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=driver_path, log_output=os.devnull)
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(30)
        driver.set_script_timeout(10)
        driver.get(server)
        wait = WebDriverWait(driver, 30, poll_frequency=0.2)
        file_input = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#input-image input[type=file]"))
        file_input.send_keys(str(upload))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#input-image img"))
        time.sleep(0.5)  # let the upload settle before the click reads the component's value
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#restore-button")).click()
        loaded = (
            "const img = document.querySelector('#restored-image img');"
            "return img && img.complete ? [img.naturalWidth, img.naturalHeight] : null;"
        )
        size = wait.until(lambda d: d.execute_script(loaded))
        assert tuple(size) == (41, 27)
        assert "psnr_db" in driver.find_element(By.CSS_SELECTOR, "#info").text
        screenshot = tmp_path / "page.png"
        assert driver.save_screenshot(str(screenshot))
    finally:
        driver.quit()
    with PIL.Image.open(screenshot) as image:
        assert image.format == "PNG" and image.width >= 800 and image.height >= 600
        assert np.asarray(image.convert("L")).std() > 5  # not a blank page


def test_the_space_shows_the_classical_restoration_beside_the_learned_one(app):
    photo = _photo()
    # jpeg10's classical answer is the decoded JPEG itself: the degraded image the network was given
    degraded, classical, _, info = app.restore(photo, "jpeg10", "nadb", steps=2, seed=0, degrade_first=True)
    assert info["classical_method"] == "none (decoded JPEG)"
    assert np.array_equal(np.asarray(classical), np.asarray(degraded))
    assert info["psnr_db_classical"] == pytest.approx(info["psnr_db_degraded"])
    # inpainting: the harmonic fill of the hole, which a constant photo makes that constant
    flat = PIL.Image.new("RGB", (48, 32), (90, 140, 200))
    _, classical, _, info = app.restore(flat, "inpaint-center", "i2sb", steps=1, seed=0, degrade_first=True)
    assert info["classical_method"] == "harmonic (Laplace) fill"
    assert np.abs(np.asarray(classical, dtype=int) - np.array([90, 140, 200])).max() <= 1


def test_a_pipeline_runs_and_offers_the_steps_its_folder_defaults_to(app, pipelines_root, tmp_path):
    root = tmp_path / "pipelines"
    shutil.copytree(pipelines_root / "nadb-jpeg10", root / "nadb-jpeg10")
    index = root / "nadb-jpeg10" / "model_index.json"
    index.write_text(json.dumps({**json.loads(index.read_text()), "default_steps": 3}))
    _, _, _, info = app.restore(_photo(), "jpeg10", "nadb", seed=0, pipelines_root=root)
    assert info["steps"] == 3
    entry = app.discover_pipelines(root)[("jpeg10", "nadb")]
    assert app._steps_update(entry, current=7)["value"] == 3
    assert app._steps_update(app.discover_pipelines(pipelines_root)[("jpeg10", "nadb")], current=7)["value"] == 7
