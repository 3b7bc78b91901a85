"""Browser fixtures: the app served by `streamlit run` in a subprocess, driven by headless Chromium.

Run with ``pytest -m browser tests/browser``. Needs Debian's chromium at /usr/bin/chromium (Playwright never
downloads a browser here). Screenshots of every page land in $POSEKIT_SCREENSHOTS (default /tmp/posekit-screens).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("POSEKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
]
SCREENSHOTS = Path(os.environ.get("POSEKIT_SCREENSHOTS", "/tmp/posekit-screens"))
#: Generous limits: the CI machine has two cores and the first request converts a model.
LOAD_TIMEOUT_MS = 120_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200 and r.read().strip() == b"ok"
    except OSError:
        return False


@pytest.fixture(scope="session")
def app_url(model_dir, tmp_path_factory):
    """Start `streamlit run app.py` on a free port (POSEKIT_MODEL_DIR inherited), yield its URL, stop it."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    env = dict(os.environ, POSEKIT_MODEL_DIR=str(model_dir), PYTHONUNBUFFERED="1")
    env.pop("POSEKIT_ICE_SERVERS", None)  # localhost needs none
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
           "--browser.gatherUsageStats", "false"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # its own process group: teardown stops all of it
    try:
        deadline = time.monotonic() + 60
        while not _healthy(url):
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not become healthy in 60 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        _stop(proc)
        errors = [line for line in log_path.read_text(errors="replace").splitlines() if "Traceback" in line]
        if errors:  # pragma: no cover - shown to help whoever reads a failure
            print(f"streamlit log ({log_path}) has {len(errors)} traceback(s)")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="session")
def playwright():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture(scope="session")
def camera_browser(playwright, tmp_path_factory):
    """A second Chromium whose fake camera films golf.jpg (a Y4M still made from ../shared, never committed)."""
    from clips import write_camera_feed  # tests/clips.py
    from conftest import read_image  # tests/conftest.py

    feed = write_camera_feed(tmp_path_factory.mktemp("camera") / "golf.y4m", read_image("golf.jpg"))
    b = playwright.chromium.launch(executable_path=CHROMIUM,
                                   args=CHROMIUM_ARGS + [f"--use-file-for-fake-video-capture={feed}"])
    yield b
    b.close()


#: The pages the running test opened: screenshotted as ``failed-<test>-<n>.png`` when it fails.
_OPEN_PAGES: list = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        for n, page in enumerate(_OPEN_PAGES):
            try:
                path = screenshot(page, f"failed-{item.name}-{n}")
                rep.sections.append(("screenshot", str(path)))
            except Exception:  # noqa: BLE001 - a closed page: nothing to show
                pass


@contextlib.contextmanager
def _pages(browser, app_url):
    """``open_page(path)`` for pages in fresh browser contexts (new Streamlit sessions), closed at the end."""
    contexts = []
    _OPEN_PAGES.clear()

    def open_page(path: str = "/"):
        ctx = browser.new_context(viewport={"width": 1400, "height": 1600}, accept_downloads=True)
        ctx.set_default_timeout(LOAD_TIMEOUT_MS)
        contexts.append(ctx)
        page = ctx.new_page()
        _OPEN_PAGES.append(page)
        page.goto(app_url + path)
        page.get_by_test_id("stSidebar").get_by_text("Settings").wait_for()
        return page

    try:
        yield open_page
    finally:
        _OPEN_PAGES.clear()
        for ctx in contexts:
            ctx.close()


@pytest.fixture
def camera_page(camera_browser, app_url):
    """Like ``new_page``, in the browser whose camera films golf.jpg."""
    with _pages(camera_browser, app_url) as open_page:
        yield open_page


@pytest.fixture
def new_page(browser, app_url):
    """``new_page(path)``: a page in a fresh browser context (a new Streamlit session) at ``app_url + path``."""
    with _pages(browser, app_url) as open_page:
        yield open_page


# ------------------------------------------------------------------------------------------------ helpers


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def use_fast_model(page) -> None:
    """Move the sidebar's model slider to the fastest model (as a user would, with the keyboard)."""
    slider = page.get_by_test_id("stSidebar").get_by_role("slider").first
    slider.focus()
    slider.press("Home")
    page.get_by_test_id("stSidebar").get_by_text("Running mobilenet_v2_0.5").wait_for()
    wait_idle(page)


def second_stage(page, label: str) -> None:
    """Choose the sidebar's second stage by its label (e.g. "Off (fastest)")."""
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").filter(has_text="Second stage").click()
    page.get_by_role("option", name=label).click()
    wait_idle(page)


def upload(page, path: Path, index: int = 0) -> None:
    """Drop ``path`` on the page's ``index``-th uploader once the page is idle, as a person waits for it: a file
    set while a rerun redraws the uploader can be lost with the element it was set on."""
    wait_idle(page)
    page.get_by_test_id("stFileUploaderDropzoneInput").nth(index).set_input_files(str(path))


def metric(page, label: str, timeout: float = LOAD_TIMEOUT_MS) -> str:
    """The displayed value of the st.metric whose label is ``label``."""
    box = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True))
    value = box.get_by_test_id("stMetricValue").first
    value.wait_for(timeout=timeout)
    return value.inner_text().strip()


def wait_idle(page, timeout: float = LOAD_TIMEOUT_MS) -> None:
    """Wait until Streamlit has finished the current run (the 'running' indicator is gone)."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !/Running|Connecting/.test(document.querySelector('[data-testid=\"stStatusWidget\"]').innerText)",
        timeout=timeout)


def download(page, button_name: str, *, exact: bool = False) -> bytes:
    """Click a download button and return the downloaded bytes (``exact``: the name whole, not a part of it)."""
    button = page.get_by_role("button", name=button_name, exact=exact).first
    button.wait_for()
    with page.expect_download() as info:
        button.click()
    return Path(info.value.path()).read_bytes()


def number(text: str) -> float:
    m = re.search(r"-?\d+(?:\.\d+)?", text)
    assert m, f"no number in {text!r}"
    return float(m.group())


def video_page_with_dance(new_page, tmp_path: Path):
    """The Video page with dance.avi's first 2 s (640x360, 50 fps, 100 frames) uploaded and probed, on the fast
    model: where the Video page's browser tests start."""
    import cv2

    from clips import read_frames, write_clip  # tests/clips.py
    from conftest import VIDEOS  # tests/conftest.py

    frames = [cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA) for f in read_frames(VIDEOS / "dance.avi", 100)]
    clip = write_clip(tmp_path / "dance_2s.mp4", frames, fps=50)
    page = new_page("/video")
    use_fast_model(page)
    upload(page, clip)
    page.get_by_text("640×360").first.wait_for()
    return page
