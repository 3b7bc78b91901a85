"""The Compare videos page as a coach uses it: two clips in, a similarity, repetitions and downloads out."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import av
import html5lib
import pytest

from .conftest import download, metric, number, screenshot, upload, use_fast_model, wait_idle
from clips import write_clip  # tests/clips.py

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_sequence import FPS, leaning  # noqa: E402  (the clips of tests/test_sequence.py)

pytestmark = pytest.mark.browser


def test_compare_two_clips(new_page, tmp_path):
    ref = write_clip(tmp_path / "coach.mp4", leaning("golf.jpg", 3, 10), fps=FPS)
    att = write_clip(tmp_path / "student.mp4", leaning("golf.jpg", 3, 10, speed=0.5), fps=FPS)
    page = new_page("/compare")
    page.get_by_role("heading", name="Compare videos").wait_for()
    use_fast_model(page)
    upload(page, ref, 0)
    upload(page, att, 1)
    page.get_by_role("button", name="Compare").click()
    similarity = number(metric(page, "Similarity"))
    assert similarity >= 90.0
    assert metric(page, "Repetitions") == "3"
    wait_idle(page)
    page.get_by_text("Person 1").first.wait_for()
    screenshot(page, "compare")
    page.get_by_role("heading", name="Repetitions").scroll_into_view_if_needed()
    assert page.get_by_text("Most different joints, phase by phase").count() == 1
    screenshot(page, "compare_tables")

    mp4 = download(page, "Download side-by-side video (MP4)")
    path = tmp_path / "side_by_side.mp4"
    path.write_bytes(mp4)
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name == "h264"
        frames = sum(1 for _ in c.decode(video=0))
    assert frames == 80  # the attempt's frames

    rows = list(csv.DictReader(io.StringIO(download(page, "Download report (CSV)").decode())))
    summary = next(r for r in rows if r["section"] == "summary" and r["measure"] == "similarity")
    assert float(summary["value"]) == pytest.approx(similarity, abs=0.06)
    assert sum(r["section"] == "frame" for r in rows) == 80

    # the HTML report to hand over: the same similarity and repetitions as the CSV report
    tree = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(
        download(page, "Download report", exact=True).decode("utf-8"))
    assert tree.find(".//title").text == "Movement report: person 1, student.mp4"
    big = tree.find(".//section[@id='comparison']/p[@data-measure='similarity']")
    assert float(big.get("data-value")) == float(summary["value"])
    assert tree.find(".//section[@id='repetitions']/p[@data-measure='count']").get("data-value") == "3"
    assert len(tree.find(".//table[@id='repetitions-table']/tbody").findall("tr")) == 3
    moments = [h for h in tree.iter("h3") if "".join(h.itertext()).startswith("Moment ")]
    assert len(moments) == 3


def test_home_links_to_compare_videos(new_page):
    page = new_page("/")
    link = page.get_by_test_id("stMain").get_by_role("link", name="Open Compare videos")
    link.wait_for()
    link.click()
    page.get_by_role("heading", name="Compare videos").wait_for()
    page.get_by_text("Upload a reference video and an attempt").wait_for()
    page.wait_for_url("**/compare", timeout=15_000)
