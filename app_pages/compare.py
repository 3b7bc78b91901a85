"""Compare videos: a performance against a reference, lined up in time, with feedback per phase and repetitions."""

import dataclasses
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from app_pages import common
from posekit.compare import render_side_by_side, repetition_table, report_csv, track_video
from posekit.errors import InvalidInputError
from posekit.kinematics import ANGLES_BY_NAME, JOINT_ANGLES
from posekit.report import comparison_report
from posekit.sequence import MIN_COMPARE_FRAMES, MIN_COMPARE_S, angle_label, compare_sequences
from posekit.video import MAX_SECONDS, VIDEO_TYPES

settings = common.current()

st.title("Compare videos", anchor=False)
st.caption("Upload a reference (the model movement: the coach, the choreography) and an attempt. The two are "
           "lined up in time even when one is slower, then compared moment by moment: a similarity score over "
           f"time, the joints that differ most in each phase, and the repetitions. Up to {MAX_SECONDS} s of each "
           "video are used; trim them to the movement for the best result.")

cols = st.columns(2)
uploads = []
for col, (label, key, hint) in zip(cols, [
        ("Reference video", "cmp_ref", "The movement to copy, e.g. the coach's squat."),
        ("Attempt video", "cmp_att", "The movement to check against the reference.")]):
    uploads.append(col.file_uploader(
        label, type=list(VIDEO_TYPES), key=key,
        help=f"{hint} MP4, MOV, AVI, MKV or WebM, up to 200 MB; at least {MIN_COMPARE_S:g} s with the person in "
             f"{MIN_COMPARE_FRAMES} frames or more."))
ref_file, att_file = uploads
if ref_file is None or att_file is None:
    st.info("Upload a reference video and an attempt to compare them.", icon=":material/upload:")
    st.stop()

with st.form("cmp_options", border=True):
    c1, c2, c3 = st.columns(3)
    max_seconds = c1.number_input("Use at most (seconds of each video)", 1, MAX_SECONDS, MAX_SECONDS,
                                  key="cmp_seconds", help=f"At most {MAX_SECONDS} s per video.")
    mirror = c2.checkbox("Accept a mirror image", False, key="cmp_mirror",
                         help="Tick when the attempt faces the reference like a mirror (left and right swapped).")
    angle_choice = c3.selectbox(
        "Count repetitions on", ["auto"] + [d.name for d in JOINT_ANGLES], key="cmp_angle",
        format_func=lambda n: "the joint that moves most" if n == "auto" else ANGLES_BY_NAME[n].label)
    submitted = st.form_submit_button("Compare", type="primary", icon=":material/compare:")


def _save(f, folder: str, name: str) -> Path:
    path = Path(folder) / (name + Path(f.name).suffix.lower())
    path.write_bytes(f.getvalue())
    return path


people_key = (ref_file.file_id, att_file.file_id, int(max_seconds), settings.model, settings.backend,
              settings.threshold)
if submitted:
    est = common.estimator_or_stop(settings).with_threshold(settings.threshold)
    found = {}
    with tempfile.TemporaryDirectory(prefix="posekit-compare-") as tmp:  # removed when done, even on errors
        for side, f in (("reference", ref_file), ("attempt", att_file)):
            bar = st.progress(0.0, text=f"Finding people in the {side}…")

            def on_progress(done, total, eta, bar=bar, side=side):
                bar.progress(min(done / max(total, 1), 1.0),
                             text=f"Finding people in the {side}: " + common.progress_text(done, total, eta, "frame"))

            try:
                found[side] = track_video(_save(f, tmp, side), est, max_seconds=float(max_seconds),
                                          progress=on_progress, name=f.name)
            except InvalidInputError as exc:
                bar.empty()
                st.error(str(exc), icon=":material/error:")
                st.stop()
            bar.empty()
    st.session_state["cmp_people"] = (people_key, found)
    st.session_state.pop("cmp_result", None)

stored = st.session_state.get("cmp_people")
if stored is None or stored[0] != people_key:
    st.info("Press **Compare** to find the people in both videos.", icon=":material/play_arrow:")
    st.stop()
found = stored[1]
for side in ("reference", "attempt"):
    if found[side].message:
        st.warning(found[side].message, icon=":material/content_cut:")
    if not found[side].trajectories:
        st.error(f"No person found in the {side} ({found[side].name}).", icon=":material/error:")
        st.stop()


def person_picker(side: str, people) -> int:
    """Thumbnails of the people followed in one video, by ID; the most prominent chosen by default."""
    ids = people.people()
    st.markdown(f"**Person in the {side}**")
    shown = ids[:6]
    for tid, col in zip(shown, st.columns(max(len(shown), 3))):
        if tid in people.thumbnails:
            col.image(people.thumbnails[tid], channels="BGR", width=120)
        seen = len(people.trajectories[tid]) / people.fps
        col.caption(f"Person {tid} · {common.seen_text(seen)}")
    return st.radio(f"Person in the {side}", ids, index=0, key=f"cmp_person_{side}", horizontal=True,
                    format_func=lambda t: f"Person {t}", label_visibility="collapsed")


pc = st.columns(2)
with pc[0]:
    person_ref = person_picker("reference", found["reference"])
with pc[1]:
    person_att = person_picker("attempt", found["attempt"])

result_key = (people_key, person_ref, person_att, bool(mirror), angle_choice, settings.labels, settings.line_width)
result = st.session_state.get("cmp_result")
if result is None or result["key"] != result_key:
    try:
        comparison = compare_sequences(found["reference"].sequence(person_ref), found["attempt"].sequence(person_att),
                                       mirror=bool(mirror), angle=None if angle_choice == "auto" else angle_choice)
    except InvalidInputError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    bar = st.progress(0.0, text="Making the side-by-side video…")

    def on_render(done, total, eta):
        bar.progress(min(done / max(total, 1), 1.0),
                     text="Making the side-by-side video: " + common.progress_text(done, total, eta, "frame"))

    with tempfile.TemporaryDirectory(prefix="posekit-compare-") as tmp:
        ref_people = dataclasses.replace(found["reference"], path=_save(ref_file, tmp, "reference"))
        att_people = dataclasses.replace(found["attempt"], path=_save(att_file, tmp, "attempt"))
        dst = Path(tmp) / "side_by_side.mp4"
        try:
            render_side_by_side(ref_people, att_people, comparison, dst, progress=on_render,
                                draw=lambda img, poses, **kw: settings.draw(img, poses, copy=False, **kw))
        except InvalidInputError as exc:
            bar.empty()
            st.error(str(exc), icon=":material/error:")
            st.stop()
        video = dst.read_bytes()
    bar.empty()
    result = {"key": result_key, "comparison": comparison, "video": video, "csv": report_csv(comparison),
              "report_settings": common.report_settings(settings)}
    st.session_state["cmp_result"] = result

comparison = result["comparison"]
al = comparison.alignment
st.divider()
m1, m2, m3 = st.columns(3)
m1.metric("Similarity", f"{al.score:.1f}%",
          help="How alike the two movements are once lined up in time: the Pose Matching score of each moment of "
               "the attempt with the matching moment of the reference, averaged.")
ref_reps, att_reps = comparison.reference_reps, comparison.attempt_reps
if comparison.repetitions_not_counted:
    m2.metric("Repetitions", "–", help=comparison.repetitions_not_counted[0].upper()
              + comparison.repetitions_not_counted[1:] + ".")
elif comparison.angle and att_reps is not None:
    m2.metric("Repetitions", f"{att_reps.count}", help=f"Counted on the {angle_label(comparison.angle)} "
              f"(the reference has {ref_reps.count}).",
              delta=None if att_reps.count == ref_reps.count else f"{att_reps.count - ref_reps.count:+d} vs reference",
              delta_color="off")
else:
    m2.metric("Repetitions", "–", help="No joint angle was measured often enough to count repetitions.")
pace = comparison.attempt.duration_s / max(comparison.reference.duration_s, 1e-9)
m3.metric("Duration vs the reference", f"{pace:.2f}×",
          help=f"The attempt takes {comparison.attempt.duration_s:.1f} s, the reference "
               f"{comparison.reference.duration_s:.1f} s. Above 1: the attempt is slower.")
if al.coverage < 0.95:
    st.caption(f"The person is seen well enough to compare in {100 * al.coverage:.0f}% of the attempt's frames.")
if al.mirrored:
    st.caption("Compared as mirror images (left and right swapped).")

st.video(result["video"], format="video/mp4")
st.caption("Left: the reference, slowed down or sped up to follow the attempt (right). Rings on the attempt "
           "mark joints bent 20° or more differently from the reference at that moment.")

st.subheader("Similarity over time", anchor=False)
t = np.arange(len(al.similarity)) / comparison.attempt.fps
chart = pd.DataFrame({"time in the attempt (s)": t, "similarity (%)": np.round(al.similarity, 1)})
st.line_chart(chart, x="time in the attempt (s)", y="similarity (%)", height=240)

st.subheader("Most different joints, phase by phase", anchor=False)
rows = []
listed = al.worst(per_phase=3)
for ph in al.phases:
    worst = [d for d in listed if d.phase == ph.index]
    sim = "" if math.isnan(ph.similarity) else f"{ph.similarity:.0f}%"
    fr, fa = comparison.reference.fps, comparison.attempt.fps
    rows.append({
        "phase": ph.index + 1,
        "reference (s)": f"{ph.ref_start / fr:.1f}–{(ph.ref_end + 1) / fr:.1f}",
        "attempt (s)": f"{ph.attempt_start / fa:.1f}–{(ph.attempt_end + 1) / fa:.1f}",
        "similarity": sim,
        "most different": "; ".join(d.words for d in worst)
                          or "nothing 10° or more apart",
    })
st.table(rows, hide_index=True)  # a static table: the long "most different" text wraps

st.subheader("Repetitions", anchor=False)
if comparison.repetitions_not_counted:
    st.info(comparison.repetitions_not_counted[0].upper() + comparison.repetitions_not_counted[1:] + ".",
            icon=":material/timer_off:")
elif comparison.angle and comparison.matches:
    st.caption(f"Counted on the {angle_label(comparison.angle)}; each repetition of the attempt is paired with "
               "the one of the reference it lines up with. Range: how far the joint moves, in degrees; time: from "
               "leaving the starting position to being back.")
    st.table(repetition_table(comparison), hide_index=True)
else:
    st.caption("No repetition found" + (f" on the {angle_label(comparison.angle)}." if comparison.angle else "."))

d1, d2, _ = st.columns(3)
d1.download_button("Download side-by-side video (MP4)", result["video"], file_name="side_by_side.mp4",
                   mime="video/mp4", icon=":material/download:", key="cmp_dl_video", on_click="ignore")
d2.download_button("Download report (CSV)", result["csv"], file_name="comparison_report.csv", mime="text/csv",
                   icon=":material/download:", key="cmp_dl_csv", on_click="ignore")

st.subheader("Report to hand over", anchor=False)
st.caption(f"One file on person {person_att} of the attempt against the reference: key moments, joint angles, "
           "range of motion, the similarity phase by phase, the repetitions side by side and the three moments "
           "that differ most, in pictures.")
r1, r2 = st.columns(2, vertical_alignment="bottom")
height_m = r1.number_input("Height of the person in the attempt, in metres (optional)", min_value=0.0,
                           max_value=2.5, value=0.0, step=0.01, format="%.2f", key="cmp_report_height",
                           help="For distances and speeds in metres and m/s. Leave at 0 for none.")


def _report(files=(ref_file, att_file), people=(found["reference"], found["attempt"]), comparison=comparison,
            made_with=result["report_settings"], height=height_m or None) -> bytes:
    """The report (made when the button is pressed, from this run's choices; the uploads are read back for the
    pictures)."""
    with tempfile.TemporaryDirectory(prefix="posekit-report-") as tmp:
        ref, att = (dataclasses.replace(p, path=_save(f, tmp, side))
                    for p, f, side in zip(people, files, ("reference", "attempt")))
        return comparison_report(ref, att, comparison, settings=made_with, height_m=height).encode("utf-8")


r2.download_button("Download report", _report, file_name="comparison_report.html", mime="text/html",
                   icon=":material/description:", key="cmp_dl_report", on_click="ignore", help=common.REPORT_HELP)
