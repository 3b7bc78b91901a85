"""The HTML report in a real browser: it opens with the network blocked (every picture and chart loads), prints
to a PDF of a few pages, and the Video and Image pages hand it over with a "Download report" button."""

from __future__ import annotations

import re
from pathlib import Path

import html5lib
import pytest

from posekit.cli import main as cli
from posekit.compare import compare_videos
from posekit.imageio import load_image
from posekit.report import NOT_SEEN, comparison_report, image_report
from posekit.video import process_video

from .conftest import download, metric, screenshot, upload, use_fast_model, video_page_with_dance, wait_idle
from conftest import IMAGES, VIDEOS  # tests/conftest.py
from tests.golden.replay import SECONDS, ReplayEstimator, make_attempt

pytestmark = pytest.mark.browser


def open_offline(browser, path: Path):
    """``(page, blocked URLs)``: the file opened in a context where anything but file: and data: is refused."""
    ctx = browser.new_context(viewport={"width": 1000, "height": 1400})
    blocked: list[str] = []

    def route(r):
        if r.request.url.startswith(("file:", "data:")):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    ctx.route("**/*", route)
    page = ctx.new_page()
    page.goto(path.resolve().as_uri(), wait_until="load")
    return page, blocked


def check_offline(browser, path: Path, *, min_images: int, pages: tuple[int, int]) -> None:
    """Every picture and chart loads with the network blocked, nothing is fetched, the PDF has ``pages``."""
    page, blocked = open_offline(browser, path)
    try:
        images = page.evaluate("() => [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight,"
                               " i.dataset.kind])")
        assert len(images) >= min_images
        assert all(done and w > 0 and h > 0 for done, w, h, _ in images), images
        assert {kind for *_, kind in images} >= {"picture"}
        screenshot(page, f"report_{path.stem}")
        pdf = page.pdf(format="A4", print_background=True)
        assert pdf.startswith(b"%PDF-")
        count = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))
        assert pages[0] <= count <= pages[1], count
        assert not blocked, blocked
    finally:
        page.context.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """The dance.avi report (CLI, replayed poses), the golden comparison's and a photo's."""
    tmp = tmp_path_factory.mktemp("reports")
    est = ReplayEstimator()
    process_video(VIDEOS / "dance.avi", None, est, max_seconds=SECONDS, keypoints_path=tmp / "kp.csv",
                  keypoints_format="csv")
    assert cli(["report", str(tmp / "kp.csv"), "--video", str(VIDEOS / "dance.avi"), "--output",
                str(tmp / "dance.html"), "--person", "3", "--height", "1.7"]) == 0
    attempt = make_attempt(VIDEOS / "dance.avi", tmp / "attempt.mkv")
    comparison, ref, att = compare_videos(VIDEOS / "dance.avi", attempt, est, max_seconds=SECONDS)
    (tmp / "compare.html").write_text(comparison_report(ref, att, comparison), encoding="utf-8")
    img = load_image(IMAGES / "p3.jpg")
    (tmp / "photo.html").write_text(image_report(img, est.estimate(img), 1, name="p3.jpg"), encoding="utf-8")
    return tmp


def test_the_video_report_opens_offline_and_prints(browser, reports):
    check_offline(browser, reports / "dance.html", min_images=11, pages=(3, 10))


def test_the_comparison_report_opens_offline_and_prints(browser, reports):
    check_offline(browser, reports / "compare.html", min_images=15, pages=(4, 12))


def test_the_photo_report_opens_offline_and_prints(browser, reports):
    check_offline(browser, reports / "photo.html", min_images=2, pages=(1, 4))


def test_the_video_page_hands_over_the_report(new_page, browser, tmp_path):
    page = video_page_with_dance(new_page, tmp_path)
    page.get_by_role("button", name="Process video").click()
    assert metric(page, "Frames") == "100"
    page.get_by_role("heading", name="Report to hand over").wait_for()
    wait_idle(page)
    caption = page.get_by_text(re.compile(r"One file on person \d+:")).inner_text()  # the person picked above
    person = int(re.search(r"person (\d+)", caption).group(1))
    page.get_by_role("heading", name="Report to hand over").scroll_into_view_if_needed()
    screenshot(page, "video_report_button")
    document = download(page, "Download report", exact=True).decode("utf-8")
    tree = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(document)
    assert tree.find(".//title").text == f"Movement report: person {person}, dance_2s.mp4"
    words = ["".join(d.itertext()) for d in tree.iter() if d.tag in ("dt", "dd")]
    facts = dict(zip(words[::2], words[1::2]))
    assert facts["Pose model"] == "mobilenet_v2_0.5" and facts["Length analysed"].startswith("2.0 s (100 frames")
    rows = tree.find(".//table[@id='range-of-motion-table']/tbody").findall("tr")
    assert len(rows) == 9
    path = tmp_path / "report.html"
    path.write_text(document, encoding="utf-8")
    check_offline(browser, path, min_images=6, pages=(2, 10))


def test_the_image_page_hands_over_the_report_of_a_waist_up_person(new_page):
    page = new_page("/image")
    use_fast_model(page)
    upload(page, IMAGES / "handsup1.jpg")
    page.get_by_role("heading", name="Joint angles").wait_for()
    wait_idle(page)
    document = download(page, "Download report", exact=True).decode("utf-8")
    tree = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(document)
    assert tree.find(".//title").text == "Posture report: person 1, handsup1.jpg"
    rows = {r.find("td").get("data-angle"): r.findall("td") for r in
            tree.find(".//table[@id='angles-table']/tbody").findall("tr")}
    for knee in ("right_knee_flexion", "left_knee_flexion"):
        assert "".join(rows[knee][1].itertext()) == NOT_SEEN
    assert rows["right_elbow_flexion"][1].get("data-value")  # the arms are in the picture
