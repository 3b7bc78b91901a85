"""Video: upload a clip, get it back as an H.264 MP4 with skeletons, and the keypoints of every frame."""

import dataclasses
import shutil
import tempfile
from pathlib import Path

import streamlit as st

from app_pages import common
from posekit.compare import rank_people
from posekit.errors import InvalidInputError
from posekit.export import angles_csv_text
from posekit.kinematics import ANGLES_BY_NAME, JOINT_ANGLES
from posekit.report import clip_of_video, video_report
from posekit.sinks import AngleCollector
from posekit.video import MAX_SECONDS, VIDEO_TYPES, probe, process_video

#: Output heights offered (only those below the source's are shown).
HEIGHTS = [1080, 720, 480, 360]

settings = common.current()

st.title("Pose estimation on a video", anchor=False)
st.caption(f"Upload a clip (up to {MAX_SECONDS} seconds are processed). You get an H.264 MP4 that plays "
           "everywhere, with the skeletons drawn, and the keypoints of every frame.")

f = st.file_uploader("Video", type=list(VIDEO_TYPES), key="video_upload",
                     help="MP4, MOV, AVI, MKV or WebM, up to 200 MB.")
if f is None:
    st.info("Upload a video to start.", icon=":material/upload:")
    st.stop()


def _saved_name() -> str:
    """The name of the upload's temporary copy (the extension kept: FFmpeg guesses formats by it)."""
    return "input" + Path(f.name).suffix.lower()


def _save_upload(tmpdir: str) -> Path:
    path = Path(tmpdir) / _saved_name()
    with open(path, "wb") as out:
        f.seek(0)
        shutil.copyfileobj(f, out, 1 << 20)
    return path


def _probe():
    with tempfile.TemporaryDirectory(prefix="posekit-probe-") as tmp:
        return probe(_save_upload(tmp))


def _error(exc: InvalidInputError) -> None:
    """The message with the uploaded file's name, not the name of its temporary copy."""
    text = str(exc).replace(_saved_name(), f.name)
    st.error(text, icon=":material/error:")
    st.stop()


try:
    info = common.memo("video_info", f.file_id, _probe)
except InvalidInputError as exc:
    _error(exc)

w, h = info.display_size
st.write(f"**{f.name}**: {w}×{h}, {info.fps:.3g} fps, about {info.frames} frames, "
         f"{common.duration_text(info.duration_s)}" + (", with sound" if info.has_audio else ""))

with st.form("video_options", border=True):
    c1, c2, c3, c4 = st.columns(4)
    longest = min(MAX_SECONDS, max(1, int(info.duration_s + 0.999)))
    max_seconds = c1.number_input("Process at most (seconds)", 1, MAX_SECONDS, longest, key="video_seconds",
                                  help=f"At most {MAX_SECONDS} s per run.")
    every = c2.number_input("Analyse 1 frame out of every…", 1, 30, 1, key="video_every",
                            help="1 analyses every frame. 2 analyses every other frame and takes about half the "
                                 "time; the frames in between show the skeletons of the last analysed frame.")
    heights = ["original"] + [x for x in HEIGHTS if x < h]
    height = c3.selectbox("Output resolution", heights, key="video_height",
                          format_func=lambda x: f"original ({w}×{h})" if x == "original" else f"{x}p")
    kp_format = c4.selectbox("Keypoints as", ["jsonl", "csv"], key="video_kp_format",
                             format_func={"jsonl": "JSON lines", "csv": "CSV"}.get)
    submitted = st.form_submit_button("Process video", type="primary", icon=":material/play_arrow:")

if info.duration_s > max_seconds + 0.5:
    st.warning(f"This video is {common.duration_text(info.duration_s)} long: only the first "
               f"{common.duration_text(max_seconds)} will be processed.", icon=":material/content_cut:")

options = (f.file_id, int(max_seconds), int(every), height, kp_format, settings.model, settings.backend,
           settings.threshold, settings.labels, settings.line_width)

if submitted:
    st.session_state.pop("video_result", None)
    est = common.estimator_or_stop(settings)
    bar = st.progress(0.0, text="Starting…")

    def on_progress(done: int, total: int, eta: float) -> None:
        bar.progress(min(done / max(total, 1), 1.0), text=common.progress_text(done, total, eta))

    angles = AngleCollector()  # every frame's people, for the angles below
    with tempfile.TemporaryDirectory(prefix="posekit-video-") as tmp:  # removed when done, even on errors
        src = _save_upload(tmp)
        dst = Path(tmp) / "output.mp4"
        kp_path = Path(tmp) / f"keypoints.{kp_format}"
        try:
            result = process_video(
                src, dst, est.with_threshold(settings.threshold), draw=settings.renderer,
                every=int(every), max_seconds=float(max_seconds),
                output_height=None if height == "original" else int(height),
                keypoints_path=kp_path, keypoints_format=kp_format, progress=on_progress, sinks=[angles])
        except InvalidInputError as exc:
            bar.empty()
            _error(exc)
        st.session_state["video_result"] = {
            "options": options,
            "name": common.stem(f.name),
            "video": dst.read_bytes(),
            "keypoints": kp_path.read_bytes(),
            "kp_format": kp_format,
            "frames": result.frames,
            "estimated": result.estimated,
            "size": (result.width, result.height),
            "elapsed": result.elapsed_s,
            "fps": result.fps_processed,
            "message": result.message,
            "trajectories": angles.trajectories(),  # angles in the sidebar's convention below
            "report_settings": common.report_settings(settings),
            "people": {tid: common.png_bytes(img) for tid, img in result.people.items()},
        }
    bar.empty()

res = st.session_state.get("video_result")
if res is None or res["options"][0] != f.file_id:
    st.stop()
if res["options"] != options:
    st.info("The options changed since this result was made: press **Process video** to redo it.",
            icon=":material/refresh:")

if res["message"]:
    st.warning(res["message"], icon=":material/content_cut:")
m1, m2, m3 = st.columns(3)
m1.metric("Frames", res["frames"], help=f"the network ran on {res['estimated']} of them")
m2.metric("Processing speed", f"{res['fps']:.1f} frames/s")
m3.metric("Took", common.duration_text(res["elapsed"]))
st.video(res["video"], format="video/mp4")
d1, d2, _ = st.columns([1, 1, 1])
d1.download_button("Download video (MP4)", res["video"], file_name=f"{res['name']}_pose.mp4",
                   mime="video/mp4", icon=":material/download:", key="dl_video", on_click="ignore")
label = "JSON lines" if res["kp_format"] == "jsonl" else "CSV"
d2.download_button(f"Download keypoints ({label})", res["keypoints"],
                   file_name=f"{res['name']}_keypoints.{res['kp_format']}",
                   mime="application/x-ndjson" if res["kp_format"] == "jsonl" else "text/csv",
                   icon=":material/download:", key="dl_video_kp", on_click="ignore")

# ------------------------------------------------------------------------------------- people and angles
convention = settings.convention
every_angle = common.memo("video_angle_series", (res["options"], id(res["trajectories"]), convention), lambda: {
    tid: tr.angles(convention=convention) for tid, tr in res["trajectories"].items()})
# people seen for at least half a second (shorter tracks are mostly fragments); all of them are in the CSV
series = {tid: s for tid, s in every_angle.items() if len(s) >= 2 and s.times[-1] - s.times[0] >= 0.5}
st.subheader("Joint angles over time", anchor=False)
if not series:
    st.info("Nobody was followed for half a second or more, so there are no angles to show.",
            icon=":material/info:")
    st.stop()
st.caption("Each person keeps the same number through the video (drawn above their head). Pick one to see how "
           "their joints moved; the one the clip seems to be about (large, in front, there all along) comes first.")
# the person the clip is about first (as on Compare videos: large, in front, there all along)
ranked = rank_people({tid: res["trajectories"][tid] for tid in series}, info.display_size)
shown = ranked[:8]
thumbs = st.columns(len(shown))
for col, tid in zip(thumbs, shown):
    if tid in res["people"]:
        col.image(res["people"][tid], width="stretch")
    col.caption(f"Person {tid} · {common.seen_text(series[tid].times[-1] - series[tid].times[0])}")
person = st.selectbox("Person", ranked, key="video_person",
                      format_func=lambda t: f"Person {t} (seen in {len(series[t])} frames)")
chosen = series[person]
# the choices are named in the included convention (stable keys), shown and charted in the sidebar's
joint_names = [a.name for a in JOINT_ANGLES]
picked = st.multiselect("Angles", joint_names, default=["right_knee", "left_knee", "right_elbow", "left_elbow"],
                        format_func=lambda n: ANGLES_BY_NAME[n].in_convention(convention).label, key="video_angles")
if picked:
    st.line_chart(chosen.chart_data([ANGLES_BY_NAME[n].in_convention(convention).name for n in picked]),
                  x="time (s)", y_label="degrees", height=320)
    st.caption(common.convention_caption(convention))


def _degrees(value) -> str:
    return common.NOT_IN_PICTURE if value is None else f"{value:.1f}°"


# the joints' range of motion (the directions of the trunk and limbs are in the CSV)
joints = {ANGLES_BY_NAME[n].in_convention(convention).name for n in joint_names}
rows = [{"angle": r["label"], "min": _degrees(r["min"]), "max": _degrees(r["max"]),
         "range of motion": _degrees(r["range"]), "frames measured": r["frames"]}
        for r in chosen.summary() if r["angle"] in joints]
st.table(rows, hide_index=True, border="horizontal")
name, rule = common.CONVENTION_CHOICES[convention].split(": ")
st.caption(f"Range of motion: the largest angle minus the smallest, over the frames where it was measured. Knees, "
           f"elbows and hips: {name.lower()} ({rule}), as in the chart. The CSV below also has the direction of the "
           "trunk and of each limb segment in every frame.")
st.download_button("Download angles per frame (CSV)", angles_csv_text(every_angle),
                   file_name=f"{res['name']}_angles_{convention}.csv", mime="text/csv", icon=":material/download:",
                   key="dl_video_angles", on_click="ignore",
                   help="One row per person per frame: frame, time, person, then every angle in degrees, in the "
                        f"sidebar's convention ({common.CONVENTION_CHOICES[convention]}; the column names say it: "
                        "right_knee_flexion is clinical, right_knee is the included angle).")

# ------------------------------------------------------------------------------------- the report
st.subheader("Report to hand over", anchor=False)
st.caption(f"One file on person {person}: key moments with the skeleton, each joint's angle over time, the range "
           "of motion, the repetitions, and distances and speeds in metres when you give the person's height.")
r1, r2 = st.columns(2, vertical_alignment="bottom")
height_m = r1.number_input("Person's height in metres (optional)", min_value=0.0, max_value=2.5, value=0.0,
                           step=0.01, format="%.2f", key="video_report_height",
                           help="For distances and speeds in metres and m/s. Leave at 0 for none.")


made_with = dataclasses.replace(res["report_settings"], convention=convention)  # the angles as shown above


def _report(upload=f, trajectory=res["trajectories"][person], analysed=res["frames"], made_with=made_with,
            height=height_m or None) -> bytes:
    """The report (made when the button is pressed, from this run's choices; the upload is read back for the key
    moments' pictures)."""
    with tempfile.TemporaryDirectory(prefix="posekit-report-") as tmp:
        src = Path(tmp) / ("input" + Path(upload.name).suffix.lower())
        src.write_bytes(upload.getvalue())
        clip = clip_of_video(src, frames=analysed, name=upload.name)
        return video_report(clip, trajectory, settings=made_with, height_m=height).encode("utf-8")


r2.download_button("Download report", _report, file_name=f"{res['name']}_person{person}_report.html",
                   mime="text/html", icon=":material/description:", key="dl_video_report", on_click="ignore",
                   help=common.REPORT_HELP)
