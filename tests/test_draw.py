"""Drawing: skeleton overlays land where the keypoints are, in the layout's colours; heatmap and PAF views."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from posekit.draw import default_line_width, draw_poses, heatmap_overlay, keypoint_colors, paf_overlay
from posekit.errors import InvalidInputError
from posekit.layouts import BODY25, COCO18, MPI15
from posekit.pose import Pose
from posekit.testing import standing_person

from conftest import read_image


def person(x=200.0, y=80.0, height=240.0, layout="COCO-18") -> Pose:
    return Pose(standing_person(x, y, height, layout), 0.8, layout)


def black(h=400, w=400) -> np.ndarray:
    return np.zeros((h, w, 3), np.uint8)


def midpoint(p: Pose, a: int, b: int) -> tuple[int, int]:
    x, y = (p.keypoints[a, :2] + p.keypoints[b, :2]) / 2
    return int(round(x)), int(round(y))


def test_copy_by_default_and_in_place_when_asked():
    img = black()
    out = draw_poses(img, [person()])
    assert out.shape == img.shape and out.dtype == np.uint8
    assert img.max() == 0 and out.max() > 0
    same = draw_poses(img, [person()], copy=False)
    assert same is img and img.max() > 0


@pytest.mark.parametrize("layout", [COCO18, BODY25, MPI15])
def test_each_drawn_limb_in_its_colour_and_skipped_limbs_not_drawn(layout):
    p = person(layout=layout.name)
    out = draw_poses(black(), [p], line_width=3, radius=2)
    for li in layout.draw_limbs:
        a, b = layout.limbs[li]
        if np.linalg.norm(p.keypoints[a, :2] - p.keypoints[b, :2]) < 20:
            continue  # too short for its midpoint to be clear of the joint dots
        x, y = midpoint(p, a, b)
        # Another limb may cross this one (e.g. at the neck); the pixel is then one of the limb colours.
        assert tuple(out[y, x]) in {tuple(c) for c in layout.limb_colors}, layout.keypoints[a]
    for li in set(range(len(layout.limbs))) - set(layout.draw_limbs):  # the ear-shoulder links OpenPose does not draw
        x, y = midpoint(p, *layout.limbs[li])
        assert out[y, x].max() == 0


def test_forearm_colour_exactly():
    p = person()
    out = draw_poses(black(), [p], line_width=4)
    li = COCO18.limbs.index((3, 4))  # RElbow -> RWrist
    x, y = midpoint(p, 3, 4)
    assert tuple(out[y, x]) == COCO18.limb_colors[li]


def test_missing_keypoints_are_not_drawn_and_nothing_goes_to_the_origin():
    kp = standing_person(200, 80, 240)
    kp[COCO18.index("RWrist")] = 0
    p = Pose(kp, 0.5)
    out = draw_poses(black(), [p], line_width=3)
    x, y = midpoint(Pose(standing_person(200, 80, 240), 1), 3, 4)
    assert out[y, x].max() == 0  # the forearm is gone
    assert out[:40, :40].max() == 0  # and no line runs to (0, 0)


def test_min_confidence_filters_keypoints_and_their_limbs():
    kp = standing_person(200, 80, 240)
    kp[COCO18.index("LWrist"), 2] = 0.2
    p = Pose(kp, 0.5)
    x, y = midpoint(p, 6, 7)
    assert draw_poses(black(), [p], min_confidence=0.1)[y, x].max() > 0
    assert draw_poses(black(), [p], min_confidence=0.3)[y, x].max() == 0


def _thickness(out: np.ndarray, x: int, y: int) -> int:
    """The run of lit pixels on the row through (x, y) that contains x (a near-vertical limb's width)."""
    row = out[y].max(axis=1) > 0
    assert row[x]
    left = right = x
    while left > 0 and row[left - 1]:
        left -= 1
    while right < len(row) - 1 and row[right + 1]:
        right += 1
    return right - left + 1


def test_line_width_scales_with_the_image():
    assert default_line_width((480, 640)) == 3
    assert default_line_width((2160, 3840)) == 15
    assert default_line_width((10, 10)) == 2
    small = draw_poses(black(400, 400), [person(200, 80, 240)])
    big = draw_poses(black(2000, 2000), [person(1000, 400, 1200)])
    ls, lb = COCO18.index("LShoulder"), COCO18.index("LElbow")
    xs, ys = midpoint(person(200, 80, 240), ls, lb)
    xb, yb = midpoint(person(1000, 400, 1200), ls, lb)
    # Line widths 2 and 9 (diagonals 566 and 2828 pixels), plus the same antialiased fringe on both.
    thin, thick = _thickness(small, xs, ys), _thickness(big, xb, yb)
    assert thick >= 2 * thin and thick - thin >= 6


def test_highlight_rings_grow_and_redden_with_severity():
    p = person()
    k = COCO18.index("LElbow")
    x, y = map(int, np.round(p.keypoints[k, :2]))
    base = draw_poses(black(), [p], line_width=2, radius=3)
    hot = draw_poses(black(), [p], line_width=2, radius=3, highlight={k: 1.0})
    mild = draw_poses(black(), [p], line_width=2, radius=3, highlight={k: 0.1})
    ring_r = 3 * 4  # radius * (2 + 2 * severity)
    ring = hot[y, x + ring_r]  # on the ring, right of the joint
    assert tuple(ring) == (0, 0, 255)  # pure red at severity 1
    assert base[y, x + ring_r].max() == 0
    changed_hot = (hot != base).any(axis=2).sum()
    changed_mild = (mild != base).any(axis=2).sum()
    assert changed_hot > changed_mild > 0
    # A highlight on a keypoint that is not there draws nothing; one mapping per pose is accepted.
    kp = p.keypoints.copy()
    kp[k] = 0
    q = Pose(kp, 0.5)
    assert np.array_equal(draw_poses(black(), [q], highlight={k: 1.0}), draw_poses(black(), [q]))
    two = draw_poses(black(), [p, person(100, 80, 100)], highlight=[{k: 1.0}, None])
    assert tuple(two[y, x + int(round(default_line_width((400, 400)) + 1) * 4)]) == (0, 0, 255)
    with pytest.raises(ValueError):
        draw_poses(black(), [p], highlight=[{k: 1.0}, {k: 1.0}])


def test_labels_write_names():
    p = person()
    plain = draw_poses(black(), [p])
    labelled = draw_poses(black(), [p], labels=True)
    def whitish(im):  # the label text: bright and grey (limb colours are saturated)
        return (im.min(axis=2) > 150) & (im.max(axis=2).astype(int) - im.min(axis=2) < 30)

    assert not whitish(plain).any()
    assert whitish(labelled).sum() > 200


def test_bad_images_are_refused():
    for bad in (np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32), np.zeros((0, 5, 3), np.uint8),
                "img.png"):
        with pytest.raises(InvalidInputError):
            draw_poses(bad, [])


def test_real_image_drawing_stays_on_the_people(fast_estimator):
    img = read_image("p3.jpg")
    poses = fast_estimator.estimate(img)
    assert len(poses) >= 2
    out = draw_poses(img, poses)
    assert out.shape == img.shape
    changed = (out != img).any(axis=2)
    assert changed.sum() > 500
    # Every changed pixel lies near some person's keypoints (full-resolution image coordinates, no offset).
    near = np.zeros(img.shape[:2], np.uint8)
    pad = 3 * default_line_width(img.shape)
    for p in poses:
        x0, y0, x1, y1 = p.bbox()
        cv2.rectangle(near, (int(x0) - pad, int(y0) - pad), (int(x1) + pad, int(y1) + pad), 1, -1)
    assert not (changed & (near == 0)).any()
    # Each visible keypoint is drawn in its colour at its own pixel (unless another dot covers it).
    colors = keypoint_colors(COCO18)
    hits = total = 0
    for p in poses:
        for k in np.flatnonzero(p.visible):
            x, y = map(int, np.round(p.keypoints[k, :2]))
            if 0 <= x < img.shape[1] and 0 <= y < img.shape[0]:
                total += 1
                hits += tuple(out[y, x]) == colors[k]
    assert hits >= 0.8 * total


def test_heatmap_overlay_puts_the_peak_where_it_is():
    img = np.full((368, 432, 3), 128, np.uint8)
    grid = np.zeros((46, 54), np.float32)
    grid[10, 40] = 1.0  # grid cell -> image pixel (40 * 8 + 3.5, 10 * 8 + 3.5) for a same-aspect image
    out = heatmap_overlay(img, grid, alpha=1.0)
    assert out.shape == img.shape
    red = out[:, :, 2].astype(int) - out[:, :, 0].astype(int)
    y, x = np.unravel_index(np.argmax(red), red.shape)
    assert abs(x - 323.5) <= 8 and abs(y - 83.5) <= 8
    assert np.array_equal(heatmap_overlay(img, grid, alpha=0.0), img)
    with pytest.raises(InvalidInputError):
        heatmap_overlay(img, np.zeros((3, 4, 5)))


def test_paf_overlay_colours_direction():
    img = np.zeros((200, 200, 3), np.uint8)
    px = np.zeros((200, 200), np.float32)
    py = np.zeros((200, 200), np.float32)
    px[:, :100] = 1.0  # left half points right (+x): hue 0, red
    py[:, 100:] = 1.0  # right half points down (+y): hue 90 deg, yellow-green
    out = paf_overlay(img, px, py, alpha=1.0, arrows=False)
    assert tuple(out[100, 50]) == (0, 0, 255)
    hue = cv2.cvtColor(out[100:101, 150:151], cv2.COLOR_BGR2HSV)[0, 0, 0]
    assert abs(int(hue) - 45) <= 1  # OpenCV hue is degrees / 2
    zero = paf_overlay(img, np.zeros((46, 54)), np.zeros((46, 54)))
    assert np.array_equal(zero, img)  # no field, no colour, no arrows
    arrows = paf_overlay(img, px, py, alpha=0.0, arrows=True)
    assert (arrows == 255).all(axis=2).sum() > 100  # white arrows where the field is
    with pytest.raises(InvalidInputError):
        paf_overlay(img, px, py[:10])


def test_overlays_of_a_real_inference(fast_estimator):
    img = read_image("p3.jpg")
    inf = fast_estimator.infer(img)
    hm = inf.heatmap("Neck")
    heat = heatmap_overlay(img, hm)
    assert heat.shape == img.shape and not np.array_equal(heat, img)
    # The hottest overlay pixel is at a detected neck.
    necks = [p.keypoint("Neck")[:2] for p in fast_estimator.estimate(img) if p.keypoint("Neck")[2] > 0]
    y, x = np.unravel_index(np.argmax(hm), hm.shape)
    assert min(np.hypot(x - nx, y - ny) for nx, ny in necks) < 12
    li = COCO18.limbs.index((1, 2))  # neck -> right shoulder
    paf = paf_overlay(img, *inf.paf(li))
    assert paf.shape == img.shape and not np.array_equal(paf, img)
    # All limbs at once, as stacks of grid maps.
    cx = [c for c, _ in COCO18.paf_channels]
    cy = [c for _, c in COCO18.paf_channels]
    allpaf = paf_overlay(img, inf.output[cx], inf.output[cy])
    assert allpaf.shape == img.shape
