"""Golden files: the bytes of every output the pipeline makes from fixed poses (see tests/golden/replay.py).

Replays the network's recorded poses through photos (overlay, OpenPose JSON, CSV, angles, similarity), videos
(overlay frames, keypoint CSV / JSON lines, people pictures; tracked, every 2nd frame, untracked), the ``angles``
command (angles CSV, TRC in pixels and metres, MOT) and a ``compare`` run (report, side-by-side frames, summary).
A digest that changes is either a regression or a deliberate fix; a deliberate one is re-recorded with
``python -m tests.golden.replay --update`` in the same commit, which says why.
"""

import json

import pytest

from tests.conftest import SHARED
from tests.golden.outputs import golden_outputs
from tests.golden.replay import EXPECTED


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    return golden_outputs(SHARED, tmp_path_factory.mktemp("golden"))


def test_every_golden_output_keeps_its_bytes(outputs):
    expected = json.loads(EXPECTED.read_text())
    assert sorted(outputs) == sorted(expected)
    changed = sorted(name for name in expected if outputs[name] != expected[name])
    assert not changed, f"{len(changed)} of {len(expected)} golden outputs changed: {changed}"
