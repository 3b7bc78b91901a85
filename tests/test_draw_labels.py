"""Keypoint labels are readable: white text on a dark box whatever the photo, letters sized to the image."""

from __future__ import annotations

import numpy as np

from posekit.draw import draw_keypoint_label, draw_poses, label_scale
from posekit.pose import Pose
from posekit.testing import standing_person

from conftest import read_image


def _label_box(size: int, background: int):
    img = np.full((size, size, 3), background, np.uint8)
    draw_keypoint_label(img, "Left wrist", (size // 4, size // 2), label_scale(img.shape))
    changed = np.argwhere((img != background).any(axis=2))
    (y0, x0), (y1, x1) = changed.min(0), changed.max(0)
    return img, img[y0:y1 + 1, x0:x1 + 1]


def test_a_label_is_white_text_on_a_dark_box_on_any_background():
    for background in (255, 128, 0):
        img, box = _label_box(600, background)
        bright = (box.min(axis=2) > 200).mean()
        dark = (box.max(axis=2) < 80).mean()
        assert 0.05 < bright < 0.5, background  # the letters
        assert dark > 0.4, background  # the box behind them, even on a white photo
        assert box.shape[1] > box.shape[0]  # a line of text, left to right


def test_letters_grow_with_the_image_and_stay_inside_it():
    heights = {}
    for size in (300, 1200, 3000):
        img, box = _label_box(size, 255)
        heights[size] = box.shape[0]
    assert heights[300] >= 14  # still readable on a small image
    assert heights[1200] > 1.8 * heights[300] and heights[3000] > 2.0 * heights[1200]
    # A keypoint at the right edge: the label moves left to stay whole.
    img = np.full((400, 400, 3), 255, np.uint8)
    draw_keypoint_label(img, "Right ankle", (395, 200), label_scale(img.shape))
    cols = np.flatnonzero((img != 255).any(axis=2).any(axis=0))
    assert cols.max() <= 399 and cols.max() - cols.min() > 50


def test_labels_on_a_real_photo_name_every_drawn_joint():
    img = read_image("p3.jpg")
    pose = Pose(standing_person(img.shape[1] / 2, img.shape[0] * 0.2, img.shape[0] * 0.6), 0.9)
    plain = draw_poses(img, [pose])
    labelled = draw_poses(img, [pose], labels=True)
    boxes = (labelled.max(axis=2) < 80) & (plain.max(axis=2) >= 80)  # darkened where the photo was not dark
    assert boxes.sum() > 18 * 100
