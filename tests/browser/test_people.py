"""Which person is compared, said plainly: partial comparisons, the Webcam reference's person picker."""

from __future__ import annotations

import pytest

from .conftest import metric, number, screenshot, second_stage, upload, use_fast_model, wait_idle
from conftest import IMAGES  # tests/conftest.py

pytestmark = pytest.mark.browser


def test_partial_comparison_is_said(new_page):
    """golf.jpg (a whole body) against p3.jpg (astronauts seen from the waist up): the score is shown as
    partial, with what was compared, and the charts keep a fixed 0-100 % axis."""
    page = new_page("/matching")
    use_fast_model(page)
    second_stage(page, "Off (fastest)")  # the first network's keypoints: MoveNet would guess the hidden knees
    upload(page, IMAGES / "golf.jpg", 0)
    upload(page, IMAGES / "p3.jpg", 1)
    value = metric(page, "Similarity (partial)")
    assert value.endswith("%") and 0 < number(value) < 100
    warning = page.get_by_text("Partial comparison: only").first
    warning.wait_for()
    assert "body joint" in warning.inner_text() and "joint angle" in warning.inner_text()
    wait_idle(page)
    page.locator("[data-testid='stVegaLiteChart']").first.wait_for()
    screenshot(page, "matching-partial")

    upload(page, IMAGES / "golf.jpg", 1)  # the whole body against itself: no longer partial
    assert metric(page, "Similarity") == "100.0%"
    assert page.get_by_text("Partial comparison: only").count() == 0


def test_webcam_reference_person_picker(new_page):
    """A reference photo with three people: the page offers a picker, the most prominent first, and the
    reference shown follows the choice."""
    page = new_page("/webcam")
    use_fast_model(page)
    upload(page, IMAGES / "p3.jpg")
    page.get_by_text("Reference pose: person").first.wait_for()
    picker = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text("Person to copy"))
    picker.wait_for()
    picker.click()
    options = page.get_by_role("option")
    options.first.wait_for()
    assert options.count() == 3
    assert options.filter(has_text="(most prominent)").count() == 1
    options.filter(has_text="Person 3").first.click()
    page.get_by_text("Reference pose: person 3 of 3").wait_for()
    screenshot(page, "webcam-reference-picker")
