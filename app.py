"""posekit Streamlit app: `streamlit run app.py`.

This script runs on every page: it sets the page up, renders the shared sidebar and runs the page the user
chose. The pages in app_pages/ are thin UI over the posekit package. (The folder is not called pages/:
Streamlit treats a pages/ folder as old-style multipage navigation until st.navigation has run once.)
"""

from __future__ import annotations

import streamlit as st

from app_pages import common

st.set_page_config(page_title="posekit: pose estimation", page_icon=":material/accessibility_new:", layout="wide")

PAGES = {
    "home": st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    "image": st.Page("app_pages/image.py", title="Image", icon=":material/image:", url_path="image"),
    "video": st.Page("app_pages/video.py", title="Video", icon=":material/movie:", url_path="video"),
    "webcam": st.Page("app_pages/webcam.py", title="Webcam", icon=":material/videocam:", url_path="webcam"),
    "matching": st.Page("app_pages/matching.py", title="Pose Matching", icon=":material/compare_arrows:",
                        url_path="matching"),
    "compare": st.Page("app_pages/compare.py", title="Compare videos", icon=":material/difference:",
                       url_path="compare"),
}
st.session_state["_pages"] = PAGES

page = st.navigation(list(PAGES.values()))
st.session_state["_settings"] = common.sidebar(page.url_path)
page.run()
