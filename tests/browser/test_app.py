"""The app as a person uses it: headless Chromium against `streamlit run app.py`."""

from __future__ import annotations

import io
import json
import re

import av
import cv2
import numpy as np
import pytest

from .conftest import download, metric, number, screenshot, second_stage, upload, use_fast_model, wait_idle
from conftest import IMAGES, VIDEOS  # tests/conftest.py

pytestmark = pytest.mark.browser


def test_home_links_to_every_page(new_page):
    page = new_page("/")
    main = page.get_by_test_id("stMain")
    main.get_by_role("link", name="Open Image").wait_for()
    for title in ("Image", "Video", "Webcam", "Pose Matching"):
        assert main.get_by_role("link", name=f"Open {title}").count() == 1
    screenshot(page, "home")
    main.get_by_role("link", name="Open Pose Matching").click()
    page.get_by_role("heading", name="Pose matching").wait_for()
    page.wait_for_url("**/matching", timeout=15_000)  # Streamlit pushes the URL after rendering


def test_image_overlay_download(new_page):
    page = new_page("/image")
    use_fast_model(page)
    upload(page, IMAGES / "p3.jpg")
    assert metric(page, "People") == "3"
    wait_idle(page)
    screenshot(page, "image")

    original = cv2.imread(str(IMAGES / "p3.jpg"))
    png = download(page, "Download overlay (PNG)")
    overlay = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert overlay.shape == original.shape  # full resolution
    changed = np.any(np.abs(overlay.astype(int) - original.astype(int)) > 40, axis=2)
    assert changed.mean() > 0.005  # skeletons were drawn (JPEG noise alone stays far below 40 levels)

    data = json.loads(download(page, "Download keypoints (JSON)"))
    assert len(data["people"]) == 3
    assert all(len(p["pose_keypoints_2d"]) == 18 * 3 for p in data["people"])

    page.get_by_text("Look inside the network").click()
    page.get_by_text("Heatmap: red where the keypoint is likely").wait_for()
    wait_idle(page)
    screenshot(page, "image_inspect")


def test_image_rejects_a_file_that_is_not_an_image(new_page, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    page = new_page("/image")
    upload(page, bad)
    alert = page.get_by_test_id("stAlert").filter(has_text="not a readable image")
    alert.first.wait_for()
    assert "broken.png" in alert.first.inner_text()


def test_video_processing_and_download(new_page):
    page = new_page("/video")
    use_fast_model(page)
    upload(page, VIDEOS / "dance.avi")
    page.get_by_text("1280×720").first.wait_for()
    page.get_by_role("button", name="Process video").click()
    page.get_by_test_id("stProgress").first.wait_for()  # frames done / total and ETA while it runs
    progress_text = page.get_by_test_id("stProgress").first.inner_text()
    screenshot(page, "video_progress")
    mp4 = download(page, "Download video (MP4)")
    wait_idle(page)
    screenshot(page, "video")
    assert re.search(r"Frame \d+ / 205|Starting", progress_text), progress_text
    assert metric(page, "Frames") == "205"

    with av.open(io.BytesIO(mp4)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (1280, 720)
        frames = sum(1 for _ in c.decode(video=0))
    assert frames == 205

    lines = download(page, "Download keypoints (JSON lines)").decode().splitlines()
    assert len(lines) == 205
    assert [json.loads(x)["frame"] for x in lines] == list(range(205))

    # Downloading reran the page: the result is still there, not recomputed (no progress bar again).
    assert page.get_by_test_id("stVideo").count() == 1
    assert page.get_by_test_id("stProgress").count() == 0


def test_long_video_is_cut_at_the_cap_and_says_so(new_page, tmp_path):
    """A 130-second upload: the page warns before processing, processes the first 120 s, and says it cut."""
    from clips import write_clip  # tests/clips.py

    still = cv2.resize(cv2.imread(str(IMAGES / "golf.jpg")), (160, 160))
    clip = write_clip(tmp_path / "long.mp4", (still for _ in range(260)), fps=2)  # 130 s at 2 fps
    page = new_page("/video")
    use_fast_model(page)
    upload(page, clip)
    page.get_by_text("only the first").first.wait_for()
    page.get_by_role("button", name="Process video").click()
    assert metric(page, "Frames") == "240"  # 120 s x 2 fps
    wait_idle(page)
    assert page.get_by_test_id("stAlert").filter(has_text="Stopped at the 120-second limit").count() == 1
    screenshot(page, "video_long")


def test_webcam_fps_rises_above_zero(new_page):
    page = new_page("/webcam")
    use_fast_model(page)
    frame = page.frame_locator("iframe[title*='webrtc']").first
    frame.get_by_role("button", name=re.compile("start", re.I)).click()
    fps = 0.0
    for _ in range(240):  # up to two minutes on a loaded machine
        try:
            fps = number(metric(page, "Speed", timeout=1_000))
        except Exception:  # the stats box is being redrawn
            fps = 0.0
        if fps > 0:
            break
        page.wait_for_timeout(500)
    page.wait_for_timeout(1500)
    screenshot(page, "webcam")
    assert fps > 0
    # plain words, not "Skipped" (the help says why); a count of frames: a whole number, never "-1" or "nan"
    assert re.fullmatch(r"\d[\d,]*", metric(page, "Not analysed")), metric(page, "Not analysed")
    assert page.get_by_test_id("stMetricLabel").get_by_text("Skipped", exact=True).count() == 0
    frame.get_by_role("button", name=re.compile("stop", re.I)).click()
    page.get_by_text("Stopped. Press START to begin.").wait_for()


def _live_similarity(page, settle_ms: int = 3000) -> float:
    """The live Similarity once it shows a percentage (it updates twice a second), after letting it settle."""
    for _ in range(240):
        try:
            text = metric(page, "Similarity", timeout=1_000)
        except Exception:  # the stats box is being redrawn
            text = ""
        if text.endswith("%"):
            page.wait_for_timeout(settle_ms)
            return number(metric(page, "Similarity"))
        page.wait_for_timeout(500)
    raise AssertionError("no live similarity shown")


def test_webcam_live_matching_against_a_reference(camera_page):
    """The camera films golf.jpg: against golf.jpg as the reference the live score is near 100 %, against
    another person's pose it drops, and the page names the joints that differ most."""
    page = camera_page("/webcam")
    use_fast_model(page)
    upload(page, IMAGES / "golf.jpg")
    page.get_by_text("Reference pose").wait_for()
    frame = page.frame_locator("iframe[title*='webrtc']").first
    frame.get_by_role("button", name=re.compile("start", re.I)).click()
    same = _live_similarity(page)
    assert number(metric(page, "People")) == 1
    assert same >= 90
    page.get_by_text("Most different:").first.wait_for()
    screenshot(page, "webcam-matching")

    upload(page, IMAGES / "COCO_val2014_000000000294.jpg")  # a different pose replaces the reference
    page.wait_for_timeout(2000)
    other = _live_similarity(page)
    assert other < 70 and other < same - 20
    frame.get_by_role("button", name=re.compile("stop", re.I)).click()
    page.get_by_text("Stopped. Press START to begin.").wait_for()


def test_pose_matching_score(new_page):
    page = new_page("/matching")
    use_fast_model(page)
    # The first network's keypoints: MoveNet (the default second stage) would also place the astronauts' knees
    # at the bottom edge, and the comparison would no longer be partial.
    second_stage(page, "Off (fastest)")
    upload(page, IMAGES / "p3.jpg", 0)
    upload(page, IMAGES / "p3.jpg", 1)
    # The same person against itself; the astronauts are seen from the waist up: a partial comparison, said so.
    same = metric(page, "Similarity (partial)")
    assert same == "100.0%"

    upload(page, IMAGES / "COCO_val2014_000000000192.jpg", 1)
    page.get_by_text("Person in COCO_val2014_000000000192.jpg").or_(
        page.get_by_text("COCO_val2014_000000000192.jpg: person")).first.wait_for()
    wait_idle(page)
    other = metric(page, "Similarity (partial)")
    assert other.endswith("%") and 0 <= number(other) < 100
    page.get_by_text("Most different:").first.wait_for()
    page.locator("[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg").first.wait_for()
    page.wait_for_timeout(1000)
    screenshot(page, "matching")


def test_sessions_do_not_see_each_other(new_page):
    alice = new_page("/image")
    bob = new_page("/image")
    use_fast_model(alice)
    use_fast_model(bob)
    upload(alice, IMAGES / "p3.jpg")
    assert metric(alice, "People") == "3"

    # Bob's session has no upload and no result.
    wait_idle(bob)
    bob.get_by_text("Upload a photo to start.").wait_for()
    assert bob.get_by_test_id("stMetric").count() == 0
    assert bob.get_by_role("button", name="Download overlay (PNG)").count() == 0

    upload(bob, IMAGES / "golf.jpg")
    bob_people = metric(bob, "People")
    wait_idle(bob)

    # A new run of Alice's page (she turns labels on) still shows only her photo and her result.
    sidebar = alice.get_by_test_id("stSidebar")
    sidebar.get_by_text("Display").click()
    sidebar.get_by_text("Keypoint labels").click()
    wait_idle(alice)
    assert metric(alice, "People") == "3"
    assert alice.get_by_text("p3.jpg").count() >= 1 and alice.get_by_text("golf.jpg").count() == 0
    assert bob.get_by_text("golf.jpg").count() >= 1 and bob.get_by_text("p3.jpg").count() == 0
    assert metric(bob, "People") == bob_people
    bob.get_by_test_id("stSidebar").get_by_text("Display").click()
    assert not bob.get_by_test_id("stSidebar").get_by_role("checkbox", name="Keypoint labels").is_checked()


def test_sidebar_shows_the_backend_really_running(new_page):
    from posekit.backends import BACKENDS, availability, openvino_available

    page = new_page("/")
    sidebar = page.get_by_test_id("stSidebar")
    # The default is "Automatic": the fastest engine installed, named in the sidebar (OpenVINO, which
    # requirements.txt installs).
    engine = BACKENDS["openvino"].label if openvino_available() else ""
    running = re.compile(f"Running mobilenet_v2_[0-9.]+ on {re.escape(engine)}.*chosen automatically")
    sidebar.get_by_text(running).wait_for()
    unavailable = availability("cuda") is not None
    sidebar.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name=BACKENDS["cuda"].label + (" (unavailable)" if unavailable else "")).click()
    if unavailable:  # pip's OpenCV has no CUDA: one plain sentence says so and what runs instead
        warning = sidebar.get_by_test_id("stAlert").filter(has_text="runs on CPU (OpenCV) instead")
        warning.wait_for()
        text = warning.inner_text()
        assert "CUDA (OpenCV) needs an NVIDIA graphics card" in text
        assert "pip" not in text and "wheel" not in text and text.strip().endswith("instead.")  # one sentence
        sidebar.get_by_text("Details").click()  # the technical reason, folded away, said once
        details = sidebar.get_by_test_id("stExpanderDetails").filter(has_text="OpenCV has no CUDA support")
        details.wait_for()
        assert sidebar.get_by_text("OpenCV has no CUDA support").count() == 1
    else:
        sidebar.get_by_text(re.compile(r"Running mobilenet_v2_[0-9.]+ on CUDA \(OpenCV\)")).wait_for()
    screenshot(page, "backend")


def test_sidebar_second_stage_for_photos_and_for_video(new_page):
    """Photos get MoveNet Thunder by default and the sidebar says so, with its cost; video and webcam run
    without a second stage unless asked (Lightning suggested)."""
    page = new_page("/image")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Second stage (photos)").wait_for()
    second = re.compile(r"Second stage: MoveNet Thunder on CPU \((OpenVINO|ONNX Runtime|OpenCV)\)")
    sidebar.get_by_text(second).wait_for()
    assert "ms per person" in sidebar.get_by_text("Second stage: MoveNet Thunder").inner_text()
    wait_idle(page)
    screenshot(page, "second_stage_photos")

    video = new_page("/video")
    sb = video.get_by_test_id("stSidebar")
    sb.get_by_text("Second stage (video and webcam)").wait_for()
    sb.get_by_text("No second stage").wait_for()
    sb.get_by_test_id("stSelectbox").filter(has_text="Second stage").click()
    video.get_by_role("option", name=re.compile("MoveNet Lightning")).click()
    sb.get_by_text(re.compile(r"Second stage: MoveNet Lightning on CPU \((OpenVINO|ONNX Runtime|OpenCV)\)")).wait_for()
    assert "suggested for video and webcam" in sb.get_by_text("Second stage: MoveNet Lightning").inner_text()
    wait_idle(video)
    screenshot(video, "second_stage_video")


def test_pose_matching_with_the_second_stage(new_page):
    """Pose Matching runs MoveNet Thunder (two passes) by default: a golf swing against itself shrunk on a
    larger canvas is ~100 %, against raised arms far lower."""
    import tempfile

    page = new_page("/matching")
    page.get_by_test_id("stSidebar").get_by_text("Second stage: MoveNet Thunder").wait_for()
    golf = cv2.imread(str(IMAGES / "golf.jpg"))
    small = cv2.resize(golf, (golf.shape[1] // 2, golf.shape[0] // 2), interpolation=cv2.INTER_AREA)
    canvas = np.full((small.shape[0] * 2, small.shape[1] * 2, 3), 114, np.uint8)
    y, x = int(0.4 * canvas.shape[0]), int(0.1 * canvas.shape[1])
    canvas[y:y + small.shape[0], x:x + small.shape[1]] = small
    with tempfile.TemporaryDirectory() as tmp:
        shrunk = f"{tmp}/golf_small.png"
        cv2.imwrite(shrunk, canvas)
        upload(page, IMAGES / "golf.jpg", 0)
        upload(page, shrunk, 1)
        same = number(metric(page, "Similarity"))
        assert same >= 97, same
        upload(page, IMAGES / "handsup1.jpg", 1)
        page.get_by_text("handsup1.jpg: person").first.wait_for()
        wait_idle(page)
        other = number(page.get_by_test_id("stMetricValue").first.inner_text())
    assert other < 60, other
    screenshot(page, "matching_second_stage")
