"""Person labels on overlays: the number in a filled box above each person, sized to the image, inside it."""

from __future__ import annotations

import numpy as np

from posekit.draw import draw_person_labels, id_color

from test_kinematics import STANDING, make_pose


def label_box(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(np.any(before != after, axis=2))
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def test_labels_use_track_ids_else_places_and_stay_inside_the_image():
    img = np.full((300, 400, 3), 128, np.uint8)
    tracked = make_pose({k: (x, y + 40) for k, (x, y) in STANDING.items()}, track_id=7)
    out = draw_person_labels(img, [tracked])
    box = label_box(img, out)
    assert box is not None
    x0, y0, x1, y1 = box
    assert y1 <= tracked.bbox()[1] and x0 < 100 < x1  # above the head, centred on the person
    assert np.any(np.all(out[y0:y1, x0:x1] == id_color(7), axis=2))  # the ID's colour fills the box
    assert np.any(np.all(out[y0:y1, x0:x1] == 255, axis=2))  # white text
    # at the top edge of the image: the label is pushed inside, not cut off
    edge = make_pose({k: (x + 280, y - 20) for k, (x, y) in STANDING.items()})
    out2 = draw_person_labels(img, [edge])
    bx0, by0, bx1, by1 = label_box(img, out2)
    assert by0 >= 0 and bx1 < 400
    # untracked people: 1..N in list order, each a different colour
    a = make_pose(STANDING)
    b = make_pose({k: (x + 200, y) for k, (x, y) in STANDING.items()})
    out3 = draw_person_labels(img, [a, b])
    left, right = out3[:, :200], out3[:, 200:]
    assert np.any(np.all(left == id_color(1), axis=2)) and np.any(np.all(right == id_color(2), axis=2))
    assert draw_person_labels(img, [a], ids=[5]) is not img


def test_label_size_follows_the_image():
    small = np.full((300, 400, 3), 128, np.uint8)
    big = np.full((1200, 1600, 3), 128, np.uint8)
    p = make_pose({k: (x, y + 40) for k, (x, y) in STANDING.items()})
    h_small = np.ptp(label_box(small, draw_person_labels(small, [p]))[1::2])
    q = p.scaled(4.0)
    h_big = np.ptp(label_box(big, draw_person_labels(big, [q]))[1::2])
    assert h_small >= 12 and 3 <= h_big / h_small <= 5
