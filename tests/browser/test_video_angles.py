"""Video page after processing: people with their IDs, an angle chart, the range-of-motion table, the angle CSV."""

from __future__ import annotations

import csv
import io

import pytest

from .conftest import download, metric, screenshot, video_page_with_dance, wait_idle

pytestmark = pytest.mark.browser


def test_video_angles_chart_table_and_csv(new_page, tmp_path):
    page = video_page_with_dance(new_page, tmp_path)
    page.get_by_role("button", name="Process video").click()
    assert metric(page, "Frames") == "100"
    page.get_by_text("Joint angles over time").wait_for()
    chart = page.get_by_test_id("stMain").locator(
        "[data-testid='stVegaLiteChart'], [data-testid='stArrowVegaLiteChart']")
    chart.first.wait_for()
    wait_idle(page)
    screenshot(page, "video_angles")
    chart.first.scroll_into_view_if_needed()
    screenshot(page, "video_angles_chart")
    table = page.get_by_test_id("stTable").first
    table.wait_for()
    data = download(page, "Download angles per frame (CSV)").decode()
    rows = list(csv.DictReader(io.StringIO(data)))
    # the clinical convention, the default
    assert rows and list(rows[0])[:4] == ["frame", "time", "person", "right_elbow_flexion"]
    people = {r["person"] for r in rows}
    assert 1 <= len(people) <= 20
    assert {int(r["frame"]) for r in rows} <= set(range(100))
    knees = [float(r["right_knee_flexion"]) for r in rows if r["right_knee_flexion"]]
    assert knees and all(0 <= k <= 180 for k in knees)
