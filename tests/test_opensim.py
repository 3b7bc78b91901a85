"""posekit's OpenSim files read by OpenSim itself (PyPI ``opensim``), every value checked against posekit's CSV.

dance.avi's first 3 s run through the pipeline (the golden replay of the network's poses, so the test is fast and
the same on every CPU), then ``angles --trc --mot``: the TRC in pixels and in metres, with missing markers (the
last marker of a row included), through ``TRCFileAdapter``, ``TimeSeriesTableVec3`` and ``MarkerData``; the MOT,
with NaN, through ``Storage``, ``TimeSeriesTable`` and the STO adapter.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from posekit.cli import main
from posekit.export import mot_columns
from posekit.layouts import COCO18
from posekit.video import process_video

from tests.conftest import VIDEOS
from tests.golden.replay import ReplayEstimator

osim = pytest.importorskip("opensim", reason="OpenSim (PyPI 'opensim', in requirements-dev.txt) is not installed "
                                             "here: its readers cannot be tested")
osim.Logger.removeFileSink()  # no opensim.log in the working directory
osim.Logger.setLevelString("warn")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("opensim")
    process_video(VIDEOS / "dance.avi", out / "d.mp4", ReplayEstimator(), max_seconds=3, draw=None,
                  keypoints_path=out / "d.csv", keypoints_format="csv")
    args = ["angles", str(out / "d.csv"), "--output", str(out / "a.csv"), "--person", "1"]
    assert main([*args, "--trc", str(out / "px.trc"), "--mot", str(out / "d.mot")]) == 0
    assert main([*args, "--trc", str(out / "m.trc"), "--height", "1.7"]) == 0
    return out


def _rows(path: Path, person: int) -> list[dict]:
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if int(r["person"]) == person]


def _num(text: str) -> float:
    return float(text) if text not in ("", None) else np.nan


def _trc_arrays(table) -> np.ndarray:
    """(frames, markers, 3) from an OpenSim TimeSeriesTableVec3."""
    out = np.full((table.getNumRows(), table.getNumColumns(), 3), np.nan)
    for i in range(table.getNumRows()):
        row = table.getRowAtIndex(i)
        for j in range(table.getNumColumns()):
            out[i, j] = [row[j][k] for k in range(3)]
    return out


def test_the_trc_in_pixels_is_read_by_opensim_value_for_value(files):
    rows = _rows(files / "d.csv", 1)
    expect = np.array([[[_num(r[f"{k}_x"]), _num(r[f"{k}_y"])] for k in COCO18.keypoints] for r in rows])
    assert np.isnan(expect[:, -1]).any(), "the clip must have rows whose last marker is missing"
    adapter = osim.TRCFileAdapter().read(str(files / "px.trc"))["markers"]  # the file adapter itself
    assert (adapter.getNumRows(), list(adapter.getColumnLabels())) == (150, list(COCO18.keypoints))
    table = osim.TimeSeriesTableVec3(str(files / "px.trc"))  # values, through the same adapter
    assert list(table.getColumnLabels()) == list(COCO18.keypoints)
    got = _trc_arrays(table)
    assert got.shape[0] == len(rows) == 150
    np.testing.assert_allclose(got[..., :2], expect, rtol=1e-5, atol=1e-3)  # NaN where posekit has none
    assert np.all((got[..., 2] == 0) | np.isnan(got[..., 2]))
    times = np.array(table.getIndependentColumn())
    np.testing.assert_allclose(times, [float(r["time"]) - float(rows[0]["time"]) for r in rows], atol=1e-6)
    markers = osim.MarkerData(str(files / "px.trc"))
    assert (markers.getNumFrames(), markers.getNumMarkers()) == (150, 18)


def test_the_trc_in_metres_is_read_by_opensim(files):
    table = osim.TimeSeriesTableVec3(str(files / "m.trc"))
    got = _trc_arrays(table)
    assert got.shape == (150, 18, 3)
    assert table.getTableMetaDataAsString("Units") == "m"
    y = got[..., 1]
    assert np.nanmin(y) == pytest.approx(0.0, abs=1e-6)  # Y up, 0 at the lowest ankle seen (the floor)
    full = np.isfinite(y).sum(axis=1) >= 12
    extent = np.nanmax(y[full], axis=1) - np.nanmin(y[full], axis=1)
    assert full.sum() > 50 and 0.8 < np.median(extent) < 2.0  # metres of a 1.7 m person, not pixels
    assert osim.MarkerData(str(files / "m.trc")).getNumFrames() == 150


def test_the_mot_with_nan_is_read_whole_by_opensim(files):
    rows = _rows(files / "a.csv", 1)
    csv_names = [k for k in rows[0] if k not in ("frame", "time", "person")]
    assert csv_names[:2] == ["right_elbow_flexion", "left_elbow_flexion"]  # the CLI's default: clinical
    expect = np.array([[_num(r[n]) for n in csv_names] for r in rows])
    # knees, elbows and hips under OpenSim's coordinate names, the same flexion values; the rest as in the CSV
    names = [column for column, _ in mot_columns(csv_names)]
    assert names[:6] == ["elbow_flex_r", "elbow_flex_l", "knee_angle_r", "knee_angle_l", "hip_flexion_r",
                         "hip_flexion_l"] and names[6:] == csv_names[6:]
    assert np.isnan(expect).any(), "the clip must have angles that cannot be measured"
    storage = osim.Storage(str(files / "d.mot"))
    assert storage.getSize() == len(rows) == 150  # not cut short at the first NaN
    labels = storage.getColumnLabels()
    assert [labels.get(i) for i in range(labels.getSize())] == ["time", *names]
    last = storage.getStateVector(storage.getSize() - 1).getData()
    np.testing.assert_allclose([last.get(i) for i in range(last.getSize())], expect[-1], atol=6e-4)
    sto = osim.FileAdapter.createAdapterFromExtension(str(files / "d.mot")).read(str(files / "d.mot"))["table"]
    assert (sto.getNumRows(), list(sto.getColumnLabels())) == (150, names)  # the STO file adapter itself
    table = osim.TimeSeriesTable(str(files / "d.mot"))
    assert list(table.getColumnLabels()) == names
    got = np.array([[table.getRowAtIndex(i)[j] for j in range(len(names))] for i in range(table.getNumRows())])
    np.testing.assert_allclose(got, expect, atol=6e-4)  # MOT: 4 decimals; CSV: 3; NaN in the same places
    assert table.getTableMetaDataAsString("inDegrees") == "yes"
