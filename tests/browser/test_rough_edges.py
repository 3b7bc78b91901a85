"""What a new user met on every page (issue 22), as they would meet it in Chromium: the time left of a run, angle
tables that say "not in the picture" and how angles are measured (the sidebar's Angles choice), Compare videos'
errors and tables."""

from __future__ import annotations

import csv
import io
import re
import time

import pytest

from .conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    _pages,
    download,
    metric,
    number,
    screenshot,
    second_stage,
    upload,
    use_fast_model,
    video_page_with_dance,
    wait_idle,
)
from clips import write_camera_feed, write_clip
from conftest import IMAGES, VIDEOS, read_image

pytestmark = pytest.mark.browser


def cells(page, table: int = 0) -> list[str]:
    """The texts of the cells of the page's ``table``-th st.table (header cells included)."""
    grid = page.get_by_test_id("stTable").nth(table)
    grid.locator("td, th").first.wait_for()
    return [t.strip() for t in grid.locator("td, th").all_inner_texts()]


def choose_angles(page, label: str) -> None:
    """The sidebar's Angles choice ("Clinical: 0° = straight" or "Included: 180° = straight")."""
    page.get_by_test_id("stSidebar").get_by_text(label).click()
    wait_idle(page)


def test_image_angles_say_not_in_the_picture_and_how_they_are_measured(new_page):
    """p3.jpg: astronauts seen from the waist up. Their knees are "not in the picture" (the cells said "None"
    under a caption that promised blanks); the caption says the convention, which the sidebar switches."""
    page = new_page("/image")
    use_fast_model(page)
    second_stage(page, "Off (fastest)")  # the first network's keypoints: MoveNet would guess the hidden knees
    upload(page, IMAGES / "p3.jpg")
    assert metric(page, "People") == "3"
    page.get_by_text("Joint angles").first.wait_for()
    wait_idle(page)
    texts = cells(page)
    assert "Right knee flexion" in texts and "not in the picture" in texts
    assert "None" not in texts and all(texts)  # no blank or "None" cell
    rows = dict(zip(texts[0::3], texts[1::3]))  # angle -> degrees (then how it is measured)
    flexion = [v for k, v in rows.items() if k.endswith("flexion") and v != "not in the picture"]
    assert flexion and all(v.endswith("°") and 0 <= number(v) <= 180 for v in flexion), rows
    caption = page.get_by_text(re.compile(r"^Angles \(clinical\): Knees, elbows and hips as flexion")).first
    caption.wait_for()
    assert "0° = straight" in caption.inner_text() and "not in the picture" in caption.inner_text()
    screenshot(page, "image_angles")

    choose_angles(page, "Included: 180° = straight")
    page.get_by_text(re.compile(r"^Angles \(included\):.*180° = straight")).first.wait_for()
    texts = cells(page)
    assert "Right knee" in texts and "Right knee flexion" not in texts and "not in the picture" in texts
    # the choice stays while the user visits a page without angles and comes back
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Pose Matching", exact=True).click()
    page.get_by_role("heading", name="Pose matching").wait_for()
    wait_idle(page)
    assert page.get_by_test_id("stSidebar").get_by_text("Included: 180° = straight").count() == 0  # not shown there
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Image", exact=True).click()
    page.get_by_role("heading", name="Pose estimation on a photo").wait_for()
    wait_idle(page)
    assert page.get_by_test_id("stSidebar").get_by_role("radio", name="Included: 180° = straight").is_checked()


@pytest.fixture(scope="module")
def astronaut_camera(playwright, app_url, tmp_path_factory):
    """A Chromium whose fake camera films p3.jpg (three astronauts from the waist up)."""
    feed = write_camera_feed(tmp_path_factory.mktemp("camera") / "p3.y4m", read_image("p3.jpg"))
    browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                         args=CHROMIUM_ARGS + [f"--use-file-for-fake-video-capture={feed}"])
    yield browser
    browser.close()


def test_webcam_angles_say_not_in_the_picture_and_how_they_are_measured(astronaut_camera, app_url):
    with _pages(astronaut_camera, app_url) as open_page:
        page = open_page("/webcam")
        use_fast_model(page)
        page.frame_locator("iframe[title*='webrtc']").first.get_by_role(
            "button", name=re.compile("start", re.I)).click()
        texts: list[str] = []
        for _ in range(240):  # up to two minutes on a loaded machine
            try:
                texts = cells(page)
            except Exception:  # noqa: BLE001 - the stats box is being redrawn
                texts = []
            if "not in the picture" in texts:
                break
            page.wait_for_timeout(500)
        assert "not in the picture" in texts and "None" not in texts, texts
        assert any(t.endswith("flexion") for t in texts)  # the clinical default
        page.get_by_text(re.compile(r"^Angles \(clinical\):")).first.wait_for()
        screenshot(page, "webcam_angles")
        page.frame_locator("iframe[title*='webrtc']").first.get_by_role(
            "button", name=re.compile("stop", re.I)).click()
        page.get_by_text("Stopped. Press START to begin.").wait_for()


def test_video_time_left_and_angles_in_either_convention(new_page, tmp_path):
    """dance.avi, 2 s: the time left is never far from the truth (its first estimate used to be ten times the
    whole run); the chart and table say how angles are measured; the angle CSV follows the sidebar's
    choice."""
    page = video_page_with_dance(new_page, tmp_path)
    seen: list[str] = []
    started = time.perf_counter()
    page.get_by_role("button", name="Process video").click()
    bar = page.get_by_test_id("stProgress")
    while page.get_by_test_id("stMetric").count() == 0 and time.perf_counter() - started < 300:
        try:
            seen.append(bar.first.inner_text(timeout=200))
        except Exception:  # noqa: BLE001 - no bar (yet, or any more)
            pass
    took = time.perf_counter() - started
    assert metric(page, "Frames") == "100"
    left = [60 * int(m.group(1) or 0) + int(m.group(2))
            for t in seen if (m := re.search(r"about (?:(\d+) min )?(\d+) s left", t))]
    assert any("Frame" in t for t in seen), seen
    # the pace of a loaded machine varies (other jobs can halve it mid-run): the package's test holds the rule to
    # ±30 % on a steady clock; here the page must not say minutes for seconds (the first estimate was the start-up
    # times the frames left: ten times the whole run)
    assert all(s <= 3 * took + 5 for s in left), (left, took, list(dict.fromkeys(seen)))

    page.get_by_text("Joint angles over time").wait_for()
    wait_idle(page)
    page.get_by_text(re.compile(r"^Angles \(clinical\): Knees, elbows and hips as flexion")).first.wait_for()
    page.get_by_text(re.compile(r"^Range of motion:.*clinical \(0° = straight\)")).first.wait_for()
    rows = list(csv.DictReader(io.StringIO(download(page, "Download angles per frame (CSV)").decode())))
    assert list(rows[0])[:4] == ["frame", "time", "person", "right_elbow_flexion"]
    texts = cells(page)  # angle, min, max, range of motion, frames measured: the joints, as in the chart
    assert texts[5::5] == ["Right elbow flexion", "Left elbow flexion", "Right knee flexion", "Left knee flexion",
                           "Right hip flexion", "Left hip flexion", "Right shoulder", "Left shoulder", "Trunk lean"]
    assert all(0 <= number(t) <= 180 for t in texts[8::5] if t.endswith("°")), texts
    screenshot(page, "video_angles_clinical")

    choose_angles(page, "Included: 180° = straight")
    page.get_by_text(re.compile(r"^Angles \(included\):.*180° = straight")).first.wait_for()
    assert "Right knee" in cells(page) and "Right knee flexion" not in cells(page)
    rows = list(csv.DictReader(io.StringIO(download(page, "Download angles per frame (CSV)").decode())))
    assert list(rows[0])[:4] == ["frame", "time", "person", "right_elbow"]
    knees = [float(r["right_knee"]) for r in rows if r["right_knee"]]
    assert knees and sum(k > 90 for k in knees) > 0.8 * len(knees)  # mostly straight legs: near 180°
    assert page.get_by_test_id("stProgress").count() == 0  # switching the convention recomputed nothing


def test_compare_names_the_users_file(new_page, tmp_path):
    bad = tmp_path / "random.mp4"
    bad.write_bytes(bytes(range(256)) * 40)
    page = new_page("/compare")
    use_fast_model(page)
    upload(page, bad, 0)
    upload(page, VIDEOS / "demo.mp4", 1)
    page.get_by_role("button", name="Compare").click()
    alert = page.get_by_test_id("stAlert").filter(has_text="not a readable video")
    alert.first.wait_for()
    text = alert.first.inner_text()
    assert "random.mp4" in text and "reference.mp4" not in text, text
    screenshot(page, "compare_bad_reference")


def test_compare_says_a_clip_is_too_short_and_the_minimum(new_page):
    """dance.avi against the 5-frame demo.mp4: not compared, and the page says why and what is needed."""
    page = new_page("/compare")
    use_fast_model(page)
    upload(page, VIDEOS / "dance.avi", 0)
    upload(page, VIDEOS / "demo.mp4", 1)
    page.get_by_role("button", name="Compare").click()
    alert = page.get_by_test_id("stAlert").filter(has_text="too short to compare")
    alert.first.wait_for()
    text = alert.first.inner_text()
    assert "demo.mp4 is too short to compare" in text and "at least 10 frames" in text, text
    wait_idle(page)
    assert page.get_by_test_id("stVideo").count() == 0
    screenshot(page, "compare_too_short")


def test_compare_tables_wrap_and_number_from_1(new_page, tmp_path):
    """Two leaning clips: the phase table is a table whose long "most different" text wraps (it was cut off),
    and the repetitions are numbered from 1 on each side."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from test_sequence import FPS, leaning

    ref = write_clip(tmp_path / "coach.mp4", leaning("golf.jpg", 2, 12, lean_deg=40), fps=FPS)
    att = write_clip(tmp_path / "student.mp4", leaning("golf.jpg", 3, 10, lean_deg=20), fps=FPS)
    page = new_page("/compare")
    use_fast_model(page)
    upload(page, ref, 0)
    upload(page, att, 1)
    page.get_by_role("button", name="Compare").click()
    metric(page, "Similarity")
    wait_idle(page)
    table = page.get_by_test_id("stTable").filter(has_text="most different")
    table.wait_for()
    long = table.locator("td").filter(has_text=re.compile(r"; "))  # several joints in one cell
    assert long.count() >= 1
    for i in range(long.count()):
        clipped = long.nth(i).evaluate("e => e.scrollWidth > e.clientWidth + 1")
        assert not clipped, long.nth(i).inner_text()
    reps = cells(page, 1)
    numbers = [t for t in reps if t.startswith("#")]
    assert "#1" in numbers and all(int(n[1:]) <= 3 for n in numbers), reps
    page.get_by_role("heading", name="Most different joints, phase by phase").scroll_into_view_if_needed()
    screenshot(page, "compare_tables_wrapped")
