"""Home: what the app does and where to go."""

import streamlit as st

pages = st.session_state["_pages"]

st.title("posekit", anchor=False)
st.markdown(
    "Multi-person **2D pose estimation** and **pose matching** in your browser. Every person in a photo, "
    "a video or your webcam gets a skeleton of 18 keypoints (OpenPose's COCO layout), found by an "
    "OpenPose-style network (MobileNetV2 backbone, heatmaps + part affinity fields)."
)

cards = [
    ("image", "Photos", "Upload a photo: skeletons over it, the number of people, the overlay as PNG and the "
                        "keypoints as OpenPose JSON. Look inside the network's heatmaps and PAFs."),
    ("video", "Videos", "Upload a clip: an H.264 MP4 with the skeletons drawn, plus the keypoints of every "
                        "frame as JSON lines or CSV."),
    ("webcam", "Webcam", "Live skeletons from your camera, and a live similarity score against a reference "
                         "photo of the pose to copy."),
    ("matching", "Pose matching", "Two photos, one score: how similar are the two poses, and which joints "
                                  "differ most?"),
    ("compare", "Compare videos", "A reference and an attempt, lined up in time even when one is slower: "
                                  "similarity over time, the joints that differ in each phase, repetitions."),
]
for row in (cards[:2], cards[2:4], cards[4:]):
    for col, (key, title, text) in zip(st.columns(2), row):
        with col.container(border=True, height=210):
            st.subheader(title, anchor=False)
            st.write(text)
            st.page_link(pages[key], label=f"Open {pages[key].title}", icon=pages[key].icon)

st.divider()
st.markdown(
    "**Settings** in the sidebar apply to every page: the model (from the fastest, ×0.5, to the most "
    "accurate, ×1.4), where the network runs (Automatic picks the fastest engine installed; the "
    "sidebar shows what really runs), the keypoint threshold and how skeletons are drawn.\n\n"
    "Everything runs on this server; uploads stay in your session and are not stored."
)
