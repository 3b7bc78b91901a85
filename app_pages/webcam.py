"""Webcam: live skeletons over the camera, and live matching against a reference photo."""

import dataclasses
import json
import os
import time

import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from app_pages import common
from posekit.live import LiveProcessor
from posekit.pose import image_size, most_prominent

# Live video gets one pass per frame whatever the sidebar's accuracy choice: several would cut the frame rate.
settings = dataclasses.replace(common.current(), scales=(1.0,))
est = common.estimator_or_stop(settings)


def ice_servers() -> list:
    """ICE servers from $POSEKIT_ICE_SERVERS (JSON list) or secrets ``ice_servers``; none by default.

    None are needed when the browser reaches this server directly (localhost, LAN). Across the internet add a
    STUN/TURN server, e.g. ``POSEKIT_ICE_SERVERS='[{"urls": ["stun:stun.l.google.com:19302"]}]'``.
    """
    env = os.environ.get("POSEKIT_ICE_SERVERS")
    if env:
        try:
            servers = json.loads(env)
        except ValueError:
            st.warning("POSEKIT_ICE_SERVERS is not valid JSON; using no ICE servers.")
            return []
        return servers if isinstance(servers, list) else [servers]
    try:
        return list(st.secrets.get("ice_servers", []))
    except Exception:  # no secrets.toml: that is fine
        return []


# One processor per session, kept across reruns; the shared estimator does the work.
live: LiveProcessor = st.session_state.get("live_processor")
if live is None:
    live = st.session_state["live_processor"] = LiveProcessor(est, threshold=settings.threshold)
live.estimator = est
live.threshold = settings.threshold
live.renderer = settings.renderer

st.title("Live pose estimation", anchor=False)
st.caption("Press **START** and allow the camera. When the camera is faster than the analysis, some frames "
           "are shown without being analysed, so the picture never lags behind; the skeletons update as fast as "
           "the analysis runs.")

video_col, side_col = st.columns([3, 2])
with video_col:
    ctx = webrtc_streamer(
        key="posekit-webcam",
        mode=WebRtcMode.SENDRECV,
        rtc_configuration={"iceServers": ice_servers()},
        media_stream_constraints={"video": True, "audio": False},
        video_frame_callback=live.on_video_frame,
        async_processing=True,
    )

with side_col:
    with st.expander(":material/my_location: Live matching: copy a pose", expanded=True):
        st.caption("Upload a photo of the pose to copy; the score says how close you are.")
        ref = common.upload_image("Reference photo", key="webcam_reference")
        mirror = st.checkbox("Allow mirrored poses (left ↔ right)", True, key="webcam_mirror",
                             help="Counts a mirror image of the reference as a match, as in front of a mirror.")
        if ref is None:
            live.set_reference(None)
        else:
            img, name, key = ref
            poses = common.poses_for("webcam_reference", img, key, settings)
            if not poses:
                st.warning(f"No person found in {name}; try another photo.")
                live.set_reference(None)
            else:
                default = most_prominent(poses, image_size(img))
                chosen = default
                if len(poses) > 1:
                    chosen = st.selectbox(
                        "Person to copy", range(len(poses)), index=default, key="webcam_reference_person",
                        format_func=lambda i: f"Person {i + 1}" + (" (most prominent)" if i == default else ""),
                        help="The photo shows several people: pick the one whose pose you want to copy.")
                pose = poses[chosen]
                live.set_reference(pose, mirror=mirror)
                st.image(settings.draw(img, [pose], ids=[chosen + 1]), channels="BGR", width="stretch",
                         caption=f"Reference pose: person {chosen + 1} of {len(poses)}")
    angle_person = st.number_input("Show the joint angles of person", 1, 999, 1, key="webcam_angle_person",
                                   help="The number drawn above each person; the same person keeps it while "
                                        "they stay in view.")
    stats_box = st.empty()


def show_stats() -> None:
    s = live.stats()
    with stats_box.container(border=True):
        c1, c2, c3 = st.columns(3)
        c1.metric("Speed", f"{s.fps:.1f}/s", help="Frames analysed per second.")
        c2.metric("People", s.people)
        c3.metric("Not analysed", s.dropped,
                  help="Camera frames shown without being analysed, because the camera is faster than the "
                       "analysis: while one frame is analysed, newer ones pass by, so the picture never lags behind.")
        if live.reference is not None:
            if s.match is None:
                st.metric("Similarity", "–", help="Nobody in view yet.")
            elif not s.match.comparable:
                st.metric("Similarity", "–", help=s.match.reason)
                st.caption(f"Not comparable: {s.match.reason}")
            else:
                st.metric("Similarity", f"{s.match.score:.0f}%")
                if s.worst:
                    st.markdown("**Most different:** " + "; ".join(common.difference_text(d, settings.convention)
                                                                   for d in s.worst))
        poses = list(live.latest().poses)
        if poses:
            chosen = next((p for p in poses if p.track_id == angle_person), None)
            if chosen is None:
                chosen = poses[most_prominent(poses)]
            st.caption(f"Joint angles of person {chosen.track_id}" + (
                "" if chosen.track_id == angle_person else f" (person {angle_person} is not in view)"))
            rows = common.angle_rows(chosen, settings.convention, common.joint_angles(settings.convention), 0)
            st.table([{k: r[k] for k in ("angle", "degrees")} for r in rows], hide_index=True, border="horizontal")
            st.caption(common.convention_caption(settings.convention))
        else:
            st.caption("Nobody in view yet: the joint angles appear when someone is.")
        if live.latest().error:
            st.error(live.latest().error)


if ctx.state.playing:
    # Poll the processor while the stream plays; a click anywhere reruns the page and ends this loop.
    while ctx.state.playing:
        show_stats()
        time.sleep(0.5)
else:
    live.reset_stats()
    with stats_box.container(border=True):
        st.caption("Stopped. Press START to begin.")
