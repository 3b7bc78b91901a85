"""The HTML report (posekit.report, `python -m posekit report`): valid HTML5, self-contained, its range-of-motion
and repetition numbers those of the CSV files of the same run, "not in the picture" for joints never seen, a few
MB at most for a 2-minute clip.

Keypoints come from tests/golden's ReplayEstimator (the network's recorded poses on dance.avi and on the golden
comparison's attempt clip): fast, and the same on every machine.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import cv2
import html5lib
import numpy as np
import pytest

from posekit.cli import main as cli
from posekit.compare import compare_videos
from posekit.export import jsonl_line, read_keypoints, write_angles_csv
from posekit.imageio import load_image
from posekit.kinematics import DEFAULT_CONVENTION, angles, trajectories
from posekit.pose import Pose
from posekit.report import NOT_SEEN, ReportSettings, comparison_report, image_report, measures
from posekit.sequence import count_repetitions
from posekit.video import process_video

from clips import read_frames, write_clip
from conftest import IMAGES, VIDEOS
from tests.golden.replay import SECONDS, ReplayEstimator, make_attempt

DANCE = VIDEOS / "dance.avi"
#: The person of the dance report: followed through the 3 s, with two repetitions of the left elbow.
PERSON = 3


def parse(document: str):
    """The document parsed by html5lib in strict mode: any HTML5 parse error raises."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(document)


def cells(tree, table_id: str) -> list[list]:
    """The body rows of a table, each a list of its <td> elements."""
    table = tree.find(f".//table[@id='{table_id}']")
    assert table is not None, f"no table {table_id}"
    return [list(tr.iter("td")) for tr in table.find("tbody").iter("tr")]


def text(el) -> str:
    return "".join(el.itertext())


def by_measure(row) -> dict:
    return {td.get("data-measure"): td for td in row if td.get("data-measure")}


def check_number(td, expected: float, decimals: int = 1) -> None:
    """A number cell shows ``expected`` (as the CSV holds it) at the table's precision, and carries it."""
    assert float(td.get("data-value")) == expected, (td.get("data-measure"), td.get("data-value"), expected)
    shown = re.sub(r"[^\d.\-]", "", text(td))
    assert shown == f"{expected:.{decimals}f}", (td.get("data-measure"), text(td), expected)


def angles_csv(path: Path, person: int) -> list[dict]:
    rows = [r for r in csv.DictReader(path.open(newline="")) if int(r["person"]) == person]
    assert rows
    return rows


def check_range_of_motion(tree, rows: list[dict]) -> int:
    """Every number of the range-of-motion table equals the angle CSV's (its rows of one person)."""
    checked = 0
    for row in cells(tree, "range-of-motion-table"):
        name = row[0].get("data-angle")
        values = [(float(r["time"]), float(r[name])) for r in rows if r[name] != ""]
        m = by_measure(row)
        if not values:
            assert text(row[1]) == NOT_SEEN and not re.search(r"\d", "".join(text(td) for td in row[1:]))
            continue
        lo = min(v for _, v in values)
        hi = max(v for _, v in values)
        check_number(m["min"], lo)
        check_number(m["max"], hi)
        check_number(m["range"], hi - lo)
        check_number(m["min_time"], next(t for t, v in values if v == lo))
        check_number(m["max_time"], next(t for t, v in values if v == hi))
        assert int(m["frames"].get("data-value")) == len(values)
        checked += 1
    return checked


@pytest.fixture(scope="module")
def dance(tmp_path_factory):
    """dance.avi's first 3 s through the video path (replayed poses): keypoints CSV, angle CSV, report."""
    tmp = tmp_path_factory.mktemp("dance")
    process_video(DANCE, None, ReplayEstimator(), max_seconds=SECONDS, keypoints_path=tmp / "kp.csv",
                  keypoints_format="csv")
    assert cli(["angles", str(tmp / "kp.csv"), "--output", str(tmp / "angles.csv")]) == 0
    assert cli(["report", str(tmp / "kp.csv"), "--video", str(DANCE), "--output", str(tmp / "report.html"),
                "--person", str(PERSON), "--height", "1.7", "--model", "mobilenet_v2_1.4", "--refine", "none"]) == 0
    return tmp


def test_the_dance_report_is_html5_and_stands_alone(dance):
    document = (dance / "report.html").read_text(encoding="utf-8")
    tree = parse(document)
    assert tree.find(".//title").text == f"Movement report: person {PERSON}, dance.avi"
    assert not list(tree.iter("script")) and not list(tree.iter("link"))
    images = list(tree.iter("img"))
    charts = [i for i in images if i.get("data-kind") == "chart"]
    pictures = [i for i in images if i.get("data-kind") == "picture"]
    assert len(charts) >= 5 and len(pictures) >= 4  # a chart per joint and the speeds; portrait and key frames
    assert all(i.get("src").startswith(("data:image/jpeg;base64,", "data:image/svg+xml;base64,")) for i in images)
    assert all(i.get("alt") and int(i.get("width")) > 0 and int(i.get("height")) > 0 for i in images)
    for el in tree.iter():
        for attr in ("src", "href", "action", "poster", "srcset"):
            assert not (el.get(attr) or "").startswith(("http:", "https:", "//")), (el.tag, attr)
    assert "@media print" in document and "break-before: page" in document
    ids = [s.get("id") for s in tree.iter("section")]
    assert ids == ["key-frames", "joint-angles", "repetitions", "distances", "how-to-read"]
    facts = dict(zip((text(d) for d in tree.iter("dt")), (text(d) for d in tree.iter("dd"))))
    assert facts["Clip"] == "dance.avi" and facts["Person"].startswith(f"{PERSON} ")
    assert facts["Pose model"] == "mobilenet_v2_1.4" and facts["Second stage"] == "none"
    assert facts["Angles"].startswith(f"{DEFAULT_CONVENTION} convention")
    assert facts["Length analysed"].startswith("3.0 s (150 frames at 50 frames per second)")
    # the convention under every angle chart, in plain words
    captions = [text(f.find("figcaption")) for f in tree.iter("figure") if f.find("img").get("data-kind") == "chart"]
    assert sum("0° = straight" in c for c in captions) == 3  # elbows, knees, hips as flexion
    assert any("0° = arm along the body" in c for c in captions)


def test_range_of_motion_and_repetitions_are_the_csv_numbers(dance):
    tree = parse((dance / "report.html").read_text(encoding="utf-8"))
    rows = angles_csv(dance / "angles.csv", PERSON)
    assert check_range_of_motion(tree, rows) == 9  # elbows, knees, hips, shoulders, trunk lean: all seen

    count = tree.find(".//p[@data-measure='count']")
    name = count.get("data-angle")
    assert name == "left_elbow_flexion"  # the joint that moves most
    # the repetitions counted on the CSV's column, every frame from the person's first to their last
    frames = [int(r["frame"]) for r in rows]
    column = np.full(frames[-1] - frames[0] + 1, np.nan)
    for r in rows:
        if r[name]:
            column[int(r["frame"]) - frames[0]] = float(r[name])
    fps = 50.0
    reps = count_repetitions(column, fps, angle=name).reps
    assert int(count.get("data-value")) == len(reps) == 2
    table = cells(tree, "repetitions-table")
    assert len(table) == len(reps)
    for row, rep in zip(table, reps):
        m = by_measure(row)
        check_number(m["start"], (frames[0] + rep.start) / fps)
        check_number(m["end"], (frames[0] + rep.end) / fps)
        check_number(m["duration"], rep.duration_s)
        check_number(m["range"], rep.range_deg)
        check_number(m["low"], rep.low_deg)
        check_number(m["high"], rep.high_deg)
    spread = [text(p) for p in tree.find(".//section[@id='repetitions']").iter("p")]
    mean = np.mean([r.range_deg for r in reps])
    assert any(s.startswith(f"Range of motion: {mean:.1f}° on average") for s in spread), spread


def test_distances_in_metres_state_their_assumption(dance):
    tree = parse((dance / "report.html").read_text(encoding="utf-8"))
    section = tree.find(".//section[@id='distances']")
    words = text(section)
    assert "one fixed camera" in words and "parallel to the picture" in words and "1.70 m" in words
    rows = cells(tree, "distances-table")
    assert [text(r[0]) for r in rows] == ["Centre of the hips", "Right wrist", "Left wrist", "Right ankle",
                                          "Left ankle"]
    frames = read_keypoints(dance / "kp.csv")
    scale, moved = measures.travel(trajectories(frames, 50.0)[PERSON], 50.0, 1.7)
    for row, t in zip(rows, moved):
        m = by_measure(row)
        check_number(m["distance"], t.distance_m, 2)
        check_number(m["top_speed"], t.top_speed, 2)
        assert 0 < t.mean_speed <= t.top_speed < 15  # a person walking or dancing, in m/s
    assert f"about {scale:.0f} pixels" in words


def waist_up(frames):
    """The same people with every knee and ankle unseen, as a camera that frames them from the waist up."""
    out = []
    for index, t, poses in frames:
        kept = []
        for p in poses:
            kp = p.keypoints.copy()
            for k in (p.spec.index(n) for n in ("RKnee", "LKnee", "RAnkle", "LAnkle")):
                kp[k] = 0.0
            kept.append(Pose(kp, p.score, p.layout, track_id=p.track_id))
        out.append((index, t, kept))
    return out


def test_a_person_never_seen_below_the_waist_gets_no_number_for_knees(dance, tmp_path):
    kp = tmp_path / "waist_up.jsonl"
    kp.write_text("".join(jsonl_line(i, t, poses) + "\n" for i, t, poses in waist_up(read_keypoints(dance / "kp.csv"))))
    out = tmp_path / "report.html"
    assert cli(["report", str(kp), "--video", str(DANCE), "--output", str(out), "--person", str(PERSON),
                "--height", "1.7"]) == 0
    tree = parse(out.read_text(encoding="utf-8"))
    rows = {r[0].get("data-angle"): r for r in cells(tree, "range-of-motion-table")}
    for name in ("right_knee_flexion", "left_knee_flexion"):
        assert [text(td) for td in rows[name][1:]] == [NOT_SEEN], name
        assert not any(td.get("data-value") for td in rows[name])
    assert by_measure(rows["right_elbow_flexion"])["range"].get("data-value")  # the arms are still measured
    angles = text(tree.find(".//section[@id='joint-angles']"))
    assert f"Knees: {NOT_SEEN}" in angles
    assert "never were" in text(tree.find(".//section[@id='distances']"))  # no scale without legs
    assert cli(["angles", str(kp), "--output", str(tmp_path / "angles.csv")]) == 0
    check_range_of_motion(tree, angles_csv(tmp_path / "angles.csv", PERSON))


def test_the_photo_report_says_not_in_the_picture_for_knees_of_waist_up_people():
    img = load_image(IMAGES / "handsup1.jpg")
    poses = ReplayEstimator().estimate(img)
    document = image_report(img, poses, 1, name="handsup1.jpg",
                            settings=ReportSettings("mobilenet_v2_1.4", "movenet_thunder"))
    tree = parse(document)
    rows = {r[0].get("data-angle"): r for r in cells(tree, "angles-table")}
    for name in ("right_knee_flexion", "left_knee_flexion"):
        assert text(rows[name][1]) == NOT_SEEN and rows[name][1].get("data-value") is None
    elbow = rows["right_elbow_flexion"][1]
    assert float(elbow.get("data-value")) == round(angles(poses[0])["right_elbow_flexion"], 1)
    assert len([i for i in tree.iter("img") if i.get("src").startswith("data:image/jpeg")]) == 2


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """The golden comparison (dance.avi against a faster, smaller cut of itself), its CSV report and HTML."""
    tmp = tmp_path_factory.mktemp("compare")
    attempt = make_attempt(DANCE, tmp / "attempt.mkv")
    comparison, ref, att = compare_videos(DANCE, attempt, ReplayEstimator(), max_seconds=SECONDS,
                                          report=tmp / "report.csv")
    document = comparison_report(ref, att, comparison, height_m=1.7)
    (tmp / "report.html").write_text(document, encoding="utf-8")
    write_angles_csv(tmp / "angles.csv", {comparison.attempt.person: measures.trajectory_of(
        comparison.attempt).angles(convention=DEFAULT_CONVENTION)})
    return tmp, comparison


def test_the_comparison_report_has_the_compare_csv_numbers(compared):
    tmp, comparison = compared
    tree = parse((tmp / "report.html").read_text(encoding="utf-8"))
    csv_rows = list(csv.DictReader((tmp / "report.csv").open(newline="")))
    summary = next(r for r in csv_rows if r["section"] == "summary" and r["measure"] == "similarity")
    big = tree.find(".//section[@id='comparison']/p[@data-measure='similarity']")
    assert float(big.get("data-value")) == float(summary["value"])
    phases = [r for r in csv_rows if r["section"] == "phase"]
    table = cells(tree, "phases-table")
    assert len(table) == len(phases) >= 2
    for row, ph in zip(table, phases):
        check_number(by_measure(row)["similarity"], float(ph["value"]), 0)
        assert text(row[4])  # the joints in words (or "nothing 10° or more apart")
    reps = [r for r in csv_rows if r["section"] == "repetition"]
    table = cells(tree, "repetitions-table")
    assert reps and len(table) == len({r["index"] for r in reps})
    measure_of = {f"{comparison.angle}_range_attempt": "attempt_range",
                  f"{comparison.angle}_range_reference": "reference_range",
                  "duration_attempt": "attempt_duration", "duration_reference": "reference_duration"}
    for r in reps:
        td = by_measure(table[int(r["index"]) - 1])[measure_of[r["measure"]]]
        if r["value"] == "":
            assert text(td) == "–"
        else:
            check_number(td, float(r["value"]))
    assert tree.find(".//p[@data-measure='count']").get("data-value") == str(comparison.attempt_reps.count)
    check_range_of_motion(tree, angles_csv(tmp / "angles.csv", comparison.attempt.person))


def test_the_comparison_report_shows_the_three_moments_that_differ_most(compared):
    tmp, comparison = compared
    tree = parse((tmp / "report.html").read_text(encoding="utf-8"))
    section = tree.find(".//section[@id='comparison']")
    moments = [text(h) for h in section.iter("h3") if text(h).startswith("Moment ")]
    assert len(moments) == 3
    sim = comparison.alignment.similarity
    picked = measures.differing_moments(comparison)
    fps = comparison.attempt.fps
    assert [f"{i / fps:.1f} s" in m for i, m in zip(picked, moments)] == [True] * 3
    # they are the least similar moments at least a (count + 1)th of the clip apart
    gap = int(min(fps, len(sim) / 4))
    assert all(b - a >= gap for a, b in zip(picked, picked[1:]))
    worst = int(np.nanargmin(sim))
    assert worst in picked
    pairs = [f for f in section.iter("figure")][1:]  # after the similarity chart
    assert len(pairs) == 6 and all(f.find("img").get("src").startswith("data:image/jpeg") for f in pairs)
    words = text(section)
    assert "similar to the reference" in words and "Phase by phase" in words


def test_report_cli_errors_exit_2(dance, tmp_path, capsys):
    kp = dance / "kp.csv"
    cases = [
        (["report", kp, "--video", DANCE, "--output", tmp_path / "r.pdf"], "name it .html"),
        (["report", kp, "--video", DANCE, "--output", tmp_path / "r.html", "--person", "99"], "no person 99"),
        (["report", kp, "--video", DANCE, "--output", tmp_path / "r.html", "--reference-video", DANCE],
         "goes with --reference"),
        (["report", kp, "--video", DANCE, "--output", tmp_path / "r.html", "--height", "170"], "in metres"),
        (["report", tmp_path / "none.csv", "--video", DANCE, "--output", tmp_path / "r.html"], "no such file"),
    ]
    for args, words in cases:
        assert cli([str(a) for a in args]) == 2, args
        assert words in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "r.html").exists()


def test_a_two_minute_clip_makes_a_report_of_a_few_megabytes(dance, tmp_path):
    """Two minutes at 25 fps (dance.avi's first 3 s over and over, small), with metres and a reference: the
    report stays small (pictures a few, charts thinned) and says how long the clip is."""
    source = read_frames(DANCE, int(SECONDS * 50))[::2]  # 75 frames = 3 s at 25 fps
    small = [cv2.resize(f, (320, 180), interpolation=cv2.INTER_AREA) for f in source]
    n = 120 * 25
    clip = write_clip(tmp_path / "two_minutes.mp4", (small[i % len(small)] for i in range(n)), fps=25)
    frames = {i: (t, poses) for i, t, poses in read_keypoints(dance / "kp.csv")}
    lines = []
    for i in range(n):
        t, poses = frames.get(2 * (i % len(small)), (None, []))
        lines.append(jsonl_line(i, i / 25, [p.scaled(0.25) for p in poses]) + "\n")
    kp = tmp_path / "kp.jsonl"
    kp.write_text("".join(lines))
    ref = tmp_path / "ref.jsonl"
    ref.write_text("".join(lines[: 30 * 25]))
    out = tmp_path / "report.html"
    assert cli(["report", str(kp), "--video", str(clip), "--output", str(out), "--person", str(PERSON),
                "--height", "1.7", "--reference", str(ref)]) == 0
    size = out.stat().st_size
    assert size < 3_000_000, size
    tree = parse(out.read_text(encoding="utf-8"))
    facts = dict(zip((text(d) for d in tree.iter("dt")), (text(d) for d in tree.iter("dd"))))
    assert facts["Length analysed"].startswith("120.0 s (3000 frames at 25 frames per second)")
    charts = [i for i in tree.iter("img") if i.get("data-kind") == "chart"]
    assert charts and max(len(i.get("src")) for i in charts) < 120_000  # thinned: not 3000 points a line


def test_the_included_convention_is_the_one_written(dance, tmp_path):
    out = tmp_path / "report.html"
    assert cli(["report", str(dance / "kp.csv"), "--video", str(DANCE), "--output", str(out), "--person",
                str(PERSON), "--convention", "included"]) == 0
    assert cli(["angles", str(dance / "kp.csv"), "--output", str(tmp_path / "angles.csv"),
                "--convention", "included"]) == 0
    tree = parse(out.read_text(encoding="utf-8"))
    names = [r[0].get("data-angle") for r in cells(tree, "range-of-motion-table")]
    assert names[:4] == ["right_elbow", "left_elbow", "right_knee", "left_knee"]
    check_range_of_motion(tree, angles_csv(tmp_path / "angles.csv", PERSON))
    captions = [text(f.find("figcaption")) for f in tree.iter("figure") if f.find("img").get("data-kind") == "chart"]
    assert captions[:3] == ["Elbows, in degrees: 180° = straight arm. Shaded: the repetitions of the left elbow.",
                            "Knees, in degrees: 180° = straight leg.",
                            "Hips, in degrees: 180° = thigh in line with the trunk."]
    assert not any("flexion" in c for c in captions)


def test_charts_are_svg_that_keep_peaks_and_gaps():
    from xml.etree import ElementTree

    from posekit.report import charts

    t = np.arange(20_000) / 50.0
    y = 40 + 10 * np.sin(t)
    y[12_345] = 170.0  # one moment far out: thinning must keep it
    y[5_000:6_000] = np.nan  # the person out of the picture for 20 s: a gap, not a line across
    xs, ys = charts.thin(t, y)
    assert len(xs) <= charts.MAX_POINTS + 2 and 170.0 in ys and np.isnan(ys).any()
    assert np.all(np.diff(xs) >= 0)
    svg = charts.line_chart([charts.Line("Right knee", t, y)], x_label="time (s)", y_label="degrees")
    root = ElementTree.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg" and root.get("width") == "760"
    assert len(root.findall(f"{ns}polyline")) == 2  # before and after the gap
    labels = [e.text for e in root.iter(f"{ns}text")]
    assert "Right knee" in labels and "degrees" in labels and "350" in labels  # legend, axis, ticks in seconds
    assert charts.ticks(0, 100) == [0, 20, 40, 60, 80, 100] and charts.ticks(-11.3, 3.8)[0] == -10
