"""Pose Matching: how similar are the poses in two photos, and which joints differ most?"""

import altair as alt
import streamlit as st

from app_pages import common
from posekit.draw import default_line_width, draw_poses
from posekit.pose import image_size, most_prominent
from posekit.similarity import compare

settings = common.current()

st.title("Pose matching", anchor=False)
st.caption("Upload two photos. The most prominent person of each is compared (choose another below): the score "
           "ignores where people stand and how large they appear, and the most different joints are ringed "
           "on the second photo.")


def person_picker(label: str, poses: list, key: str, img) -> int:
    """Choose a person; the most prominent one (large, complete, central) by default."""
    default = most_prominent(poses, image_size(img))
    if len(poses) <= 1:
        return default
    options = list(range(len(poses)))
    return st.selectbox(label, options, index=default, key=key,
                        format_func=lambda i: f"Person {i + 1}" + (" (most prominent)" if i == default else ""))


def numbered(img, poses, chosen, highlight=None):
    """Every person drawn; the chosen one over the others at full width (with highlights), the others thinner."""
    others = [p for i, p in enumerate(poses) if i != chosen]
    width = settings.line_width or default_line_width(img.shape)
    out = draw_poses(img, others, line_width=max(1, width // 2), radius=max(1, width // 2)) if others else img
    return settings.draw(out, [poses[chosen]], ids=[chosen + 1], highlight=highlight)


def agreement_chart(rows: list[dict], what: str) -> alt.Chart:
    """Horizontal bars of agreement on a fixed 0-100 % axis (a 26 % bar never fills the chart)."""
    return alt.Chart(alt.Data(values=rows)).mark_bar(color="#e4572e").encode(
        x=alt.X("agreement %:Q", scale=alt.Scale(domain=[0, 100]), title="agreement (%)"),
        y=alt.Y(f"{what}:N", sort=alt.EncodingSortField("agreement %", order="ascending"), title=None),
        tooltip=[alt.Tooltip(k, type="quantitative" if isinstance(v, (int, float)) else "nominal")
                 for k, v in (rows[0].items() if rows else ())],
    ).properties(height=60 + 26 * len(rows))


cols = st.columns(2)
sides = []
for col, (label, key) in zip(cols, [("First photo (the reference)", "match_a"), ("Second photo", "match_b")]):
    with col:
        up = common.upload_image(label, key=key)
        if up is None:
            sides.append(None)
            continue
        img, name, digest = up
        poses = common.poses_for(key, img, digest, settings)
        if not poses:
            st.image(img, channels="BGR", width="stretch", caption=name)
            st.warning(f"No person found in {name}.")
            sides.append(None)
            continue
        chosen = person_picker(f"Person in {name}", poses, key=f"{key}_person", img=img)
        sides.append((img, name, poses, chosen, st.empty()))

if any(s is None for s in sides):
    for col, s in zip(cols, sides):
        if s is not None:
            img, name, poses, chosen, slot = s
            slot.image(numbered(img, poses, chosen), channels="BGR", width="stretch",
                       caption=f"{name}: {common.people_text(len(poses))}")
    st.info("Upload two photos with people to compare them.", icon=":material/upload:")
    st.stop()

(img_a, name_a, poses_a, ia, slot_a), (img_b, name_b, poses_b, ib, slot_b) = sides
c1, c2, c3 = st.columns([1, 1, 2])
mirror = c1.toggle("Allow mirrored pose", False, key="match_mirror",
                   help="Also compare with the first pose mirrored (left ↔ right) and keep the better score.")
rotation = c2.toggle("Ignore rotation", False, key="match_rotation",
                     help="Factor out an in-plane rotation (a tilted camera, a person lying down).")
sim = compare(poses_a[ia], poses_b[ib], mirror=mirror, rotation=rotation)

slot_a.image(numbered(img_a, poses_a, ia), channels="BGR", width="stretch",
             caption=f"{name_a}: person {ia + 1} of {len(poses_a)}")
rings = sim.highlights("b", min_severity=0.25, face=False)
slot_b.image(numbered(img_b, poses_b, ib, highlight=rings), channels="BGR", width="stretch",
             caption=f"{name_b}: person {ib + 1} of {len(poses_b)}"
                     + ("; rings mark the most different joints (red: furthest off)" if rings else ""))

st.divider()
if not sim.comparable:
    st.metric("Similarity", "–")
    st.warning(f"These poses cannot be compared: {sim.reason}.")
    st.stop()

m1, m2, m3 = st.columns(3)
m1.metric("Similarity (partial)" if sim.partial else "Similarity", f"{sim.score:.1f}%", border=True,
          help=f"Compared: {sim.coverage}.")
if sim.partial:
    st.warning(sim.partial_text, icon=":material/visibility_off:")
m2.metric("Keypoint agreement", f"{100 * sim.keypoint_score:.0f}%", help=f"over {sim.used} joints seen in both")
m3.metric("Angle agreement", "–" if sim.angle_score is None else f"{100 * sim.angle_score:.0f}%",
          help=f"over {len(sim.angles)} joint angles" + (" (compared mirrored)" if sim.mirrored else ""))

worst = sim.worst(3, threshold=0.9)
if worst:
    st.markdown("**Most different:** " + "; ".join(d.text for d in worst))
else:
    st.success("No joint is far off: these poses match closely.", icon=":material/check_circle:")

t1, t2 = st.columns(2)
with t1:
    st.subheader("Joints")
    rows = [{"joint": d.name, "agreement %": round(100 * d.agreement, 1), "distance (torso lengths)":
             round(d.distance, 2)} for d in sorted(sim.joints, key=lambda d: d.agreement)]
    st.altair_chart(agreement_chart(rows, "joint"), width="stretch")
    st.dataframe(rows, hide_index=True, width="stretch")
with t2:
    st.subheader("Joint angles")
    if sim.angles:
        rows = [{"angle": d.name, "agreement %": round(100 * d.agreement, 1), "first °": round(d.a_deg),
                 "second °": round(d.b_deg), "difference °": round(d.diff_deg)}
                for d in sorted(sim.angles, key=lambda d: d.agreement)]
        st.altair_chart(agreement_chart(rows, "angle"), width="stretch")
        st.dataframe(rows, hide_index=True, width="stretch")
        st.caption("Angles as compared: elbow, knee and hip are the angle between the two segments (180° = "
                   "straight); shoulder: 0° = arm along the body.")
    else:
        st.caption("No joint angle is visible in both poses.")
