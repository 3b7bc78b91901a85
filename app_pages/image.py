"""Image: upload a photo, see the skeletons, download the overlay and the keypoints."""

import functools
import json

import cv2
import streamlit as st

from app_pages import common
from posekit.draw import heatmap_overlay, paf_overlay
from posekit.export import openpose_json
from posekit.report import image_report
from posekit.similarity import pretty_name

settings = common.current()

st.title("Pose estimation on a photo", anchor=False)
st.caption("Upload a photo with one or more people. The skeletons are drawn at the photo's full resolution.")

upload = common.upload_image("Photo", key="image_upload", help="JPEG, PNG, BMP or WebP, up to 50 megapixels.")
if upload is None:
    if st.session_state.get("image_upload") is None:  # nothing uploaded (a bad file has its error shown alone)
        st.info("Upload a photo to start.", icon=":material/upload:")
    st.stop()

img, name, image_key = upload
est = common.estimator_or_stop(settings)
with st.spinner("Finding people…"):
    poses = common.poses_for("image", img, image_key, settings)
overlay = settings.draw(img, poses)

h, w = img.shape[:2]
left, right = st.columns(2)
left.image(img, channels="BGR", caption=f"Original ({w}×{h})", width="stretch")
right.image(overlay, channels="BGR", caption=f"{common.people_text(len(poses))}", width="stretch")

base = common.stem(name)
m, d1, d2 = st.columns([1, 1, 1], vertical_alignment="center")
m.metric("People", len(poses), help="People found with the current model and threshold.")
d1.download_button("Download overlay (PNG)", common.png_bytes(overlay), file_name=f"{base}_pose.png",
                   mime="image/png", icon=":material/download:", key="dl_overlay", on_click="ignore",
                   help="The skeletons over the photo at its full resolution.")
d2.download_button("Download keypoints (JSON)", json.dumps(openpose_json(poses), indent=1),
                   file_name=f"{base}_keypoints.json", mime="application/json", icon=":material/download:",
                   key="dl_json", on_click="ignore",
                   help="OpenPose's --write_json format (COCO-18 keypoints: x, y, confidence).")

if poses:
    st.subheader("Joint angles", anchor=False)
    who = st.selectbox("Person", range(1, len(poses) + 1), key="image_person",
                       format_func=lambda n: f"Person {n}", help="The number drawn above each person.")
    st.table(common.angle_rows(poses[who - 1], settings.convention), hide_index=True, border="horizontal")
    st.caption(f"{common.convention_caption(settings.convention)} Measured in the picture, as the camera sees "
               f"them; \"{common.NOT_IN_PICTURE}\" when a joint of the angle was not found, \"{common.IMPOSSIBLE}\" "
               "when the joints found give an angle no body can make (a joint misplaced).")

    def _report(img, poses, who, name, made_with) -> bytes:
        """The report (made when the button is pressed, from this run's photo, people and choices)."""
        return image_report(img, poses, who, name=name, settings=made_with).encode("utf-8")

    report = functools.partial(_report, img, poses, who, name, common.report_settings(settings))
    st.download_button("Download report", report, file_name=f"{base}_person{who}_report.html", mime="text/html",
                       key="dl_image_report", icon=":material/description:", on_click="ignore",
                       help=common.REPORT_HELP)
    with st.expander("Keypoints table"):
        layout = poses[0].spec
        rows = []
        for i, p in enumerate(poses):
            for k, (x, y, c) in enumerate(p.keypoints):
                if c > 0:
                    rows.append({"person": i + 1, "keypoint": pretty_name(layout.keypoints[k]),
                                 "x": round(float(x), 1), "y": round(float(y), 1), "confidence": round(float(c), 3)})
        st.dataframe(rows, hide_index=True, width="stretch")

with st.expander("Look inside the network: heatmaps and part affinity fields"):
    layout = est.layout
    st.caption("The network outputs one heatmap per keypoint (where is it?) and one 2-D vector field per limb "
               "(which way does it point?). People are assembled from their peaks and fields.")
    inf = common.memo("inference", (image_key, settings.model, est.backend), lambda: est.infer(img))
    # Show the maps over a preview-sized copy: the maps are 8x coarser than the network input anyway.
    scale = min(1.0, 960 / max(h, w))
    preview = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else img
    c1, c2 = st.columns(2)
    joints = list(range(layout.num_keypoints)) + ["background"]
    joint = c1.selectbox("Heatmap of", joints, key="inspect_joint",
                         format_func=lambda k: "background" if k == "background" else pretty_name(layout.keypoints[k]))
    c1.image(heatmap_overlay(preview, inf.heatmap(joint)), channels="BGR", width="stretch",
             caption="Heatmap: red where the keypoint is likely")
    limb = c2.selectbox("Part affinity field of", range(len(layout.limbs)), key="inspect_limb",
                        format_func=lambda i: " → ".join(pretty_name(layout.keypoints[k]) for k in layout.limbs[i]))
    c2.image(paf_overlay(preview, *inf.paf(limb)), channels="BGR", width="stretch",
             caption="PAF: colour = direction, brightness = strength")
