"""Golden files: the network's poses recorded once, replayed through the pipeline, outputs hashed.

The network's output differs in its last digits between CPUs (AVX2 / AVX-512, OpenVINO kernels), so the golden
files are not made from the network. ``poses.npz`` holds the poses the default estimators gave, once, for every
frame and photo the golden test uses, keyed by the SHA-1 of the decoded image; :class:`ReplayEstimator` gives them
back. Everything after the network (tracking, smoothing, drawing, encoding, keypoint files, angles, OpenSim files,
alignment, repetitions, reports) is then this project's code on fixed input, and its output bytes must not change
unless a commit says why (``expected.json``; ``python -m tests.golden.replay --update`` rewrites it).

``python -m tests.golden.replay --record`` re-records the poses (only when the inputs change).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import av
import numpy as np

from posekit.pose import Pose

from tests.clips import read_frames

HERE = Path(__file__).resolve().parent
POSES = HERE / "poses.npz"
EXPECTED = HERE / "expected.json"
#: Seconds of dance.avi the golden runs use.
SECONDS = 3.0
#: The attempt of the golden comparison: frames START..STOP of dance.avi, every second pixel, every KEEP-th frame
#: dropped (a faster, smaller performance), stored losslessly (FFV1) so that it decodes to the same pixels anywhere.
ATTEMPT_START, ATTEMPT_STOP, ATTEMPT_DROP = 40, 150, 3


def image_key(bgr: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(bgr).tobytes() + repr(bgr.shape).encode()).hexdigest()


class ReplayEstimator:
    """Gives back the recorded poses of an image (an unknown image is an error: the pipeline changed its frames)."""

    layout = "COCO-18"
    thread_safe = True
    threshold = 0.1

    def __init__(self, path: Path = POSES) -> None:
        data = np.load(path)
        self.poses: dict[str, list[tuple[np.ndarray, float]]] = {}
        for name in data.files:
            if name.endswith("_kp"):
                key = name[:-3]
                self.poses[key] = [(kp, float(s)) for kp, s in zip(data[name], data[key + "_score"])]
        self.calls = 0

    def network_size(self, width: int, height: int):  # frames are not shrunk before the replay
        return None

    def estimate(self, image_bgr: np.ndarray, threshold: float | None = None) -> list[Pose]:
        key = image_key(image_bgr)
        if key not in self.poses:
            raise KeyError(f"no recorded poses for this {image_bgr.shape} image: the pipeline changed its frames")
        self.calls += 1
        return [Pose(kp.copy(), score, "COCO-18") for kp, score in self.poses[key]]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


video_frames = read_frames  # decoded BGR frames of a video, as stored (tests/clips.py)


def video_digest(path: Path) -> str:
    """SHA-256 of the decoded frames (pixels and sizes), not of the container: muxer versions may differ."""
    h = hashlib.sha256()
    for bgr in video_frames(path):
        h.update(repr(bgr.shape).encode())
        h.update(bgr.tobytes())
    return h.hexdigest()


def make_attempt(src: Path, dst: Path) -> Path:
    """The comparison's attempt clip (see ATTEMPT_*), lossless, at half size and 2/3 of the frames."""
    frames = video_frames(src, ATTEMPT_STOP)[ATTEMPT_START:]
    kept = [f[::2, ::2] for i, f in enumerate(frames) if i % ATTEMPT_DROP != ATTEMPT_DROP - 1]
    with av.open(str(dst), "w") as c:
        s = c.add_stream("ffv1", rate=50)
        s.width, s.height = kept[0].shape[1], kept[0].shape[0]
        s.pix_fmt = "bgr0"
        for i, bgr in enumerate(kept):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr), format="bgr24")
            vf.pts = i
            for packet in s.encode(vf):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return dst


def record(shared: Path, out: Path = POSES) -> None:
    """Run the real default estimators once and store their poses for every golden input."""
    import tempfile

    from posekit import PoseEstimator
    from posekit.imageio import load_image

    video_est = PoseEstimator()  # the video default: first stage only
    photo_est = PoseEstimator(refine="movenet_thunder")  # the photo default
    arrays: dict[str, np.ndarray] = {}

    def put(bgr, est):
        poses = est.estimate(bgr)
        key = image_key(bgr)
        arrays[key + "_kp"] = np.array([p.keypoints for p in poses], np.float32).reshape(-1, 18, 3)
        arrays[key + "_score"] = np.array([p.score for p in poses], np.float64)

    dance = shared / "media" / "videos" / "dance.avi"
    for bgr in video_frames(dance, int(SECONDS * 50)):
        put(bgr, video_est)
    with tempfile.TemporaryDirectory() as tmp:
        for bgr in video_frames(make_attempt(dance, Path(tmp) / "attempt.mkv")):
            put(bgr, video_est)
    for path in sorted((shared / "media" / "images").glob("*.jpg")):
        put(load_image(path), photo_est)
    np.savez_compressed(out, **arrays)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", action="store_true", help="re-record the poses with the real network")
    ap.add_argument("--update", action="store_true", help="rewrite expected.json from the current code")
    args = ap.parse_args(argv)
    shared = Path(__file__).resolve().parents[2].parent / "shared"
    if args.record:
        record(shared)
        print(f"wrote {POSES}")
    if args.update:
        import tempfile

        from tests.golden.outputs import golden_outputs

        with tempfile.TemporaryDirectory() as tmp:
            digests = golden_outputs(shared, Path(tmp))
        EXPECTED.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
        print(f"wrote {EXPECTED} ({len(digests)} entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
