"""Words a coach understands: errors that name the user's file and stand alone, options in plain words."""

from __future__ import annotations

import pytest

from .conftest import screenshot, upload, wait_idle

pytestmark = pytest.mark.browser


def test_a_bad_photo_shows_its_error_alone(new_page, tmp_path):
    bad = tmp_path / "holiday.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    page = new_page("/image")
    page.get_by_text("Upload a photo to start.").wait_for()  # before any upload: the invitation
    upload(page, bad)
    alert = page.get_by_test_id("stAlert").filter(has_text="holiday.jpg")
    alert.first.wait_for()
    wait_idle(page)
    assert page.get_by_text("Upload a photo to start.").count() == 0  # the error is not beside the invitation
    screenshot(page, "image_bad_photo")


def test_a_bad_video_error_names_the_uploaded_file(new_page, tmp_path):
    bad = tmp_path / "match_day.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video at all" * 20)
    page = new_page("/video")
    upload(page, bad)
    alert = page.get_by_test_id("stAlert").filter(has_text="not a readable video")
    alert.first.wait_for()
    text = alert.first.inner_text()
    assert "match_day.mp4" in text and "input.mp4" not in text
    screenshot(page, "video_bad_file")


def test_video_options_in_plain_words(new_page):
    from conftest import VIDEOS  # tests/conftest.py

    page = new_page("/video")
    upload(page, VIDEOS / "demo.mp4")
    page.get_by_text("Analyse 1 frame out of every…").wait_for()
    assert page.get_by_text("k-th").count() == 0
    wait_idle(page)
    screenshot(page, "video_options")
