"""Webcam throughput: processed frames per second through the Webcam page's path, beside the bare network.

    .venv/bin/python bench/bench_live.py [--model mobilenet_v2_0.5] [--backend auto] [--camera-fps 30]

Frames of dance.avi, resized to 640x480 (a webcam's size), go through ``posekit.live.LiveProcessor`` exactly as
the Webcam page sends them: ``on_video_frame`` (av.VideoFrame in, BGR, submit, draw the latest skeletons with
the page's renderer, av.VideoFrame out) paced like a camera at --camera-fps in one thread, while the processor's
worker estimates the newest frame. Printed side by side from one run:

- the bare network forward rate on one such frame (the same input blob, repeated),
- ``estimate()`` on that frame (letterbox + forward + grouping),
- processed fps through the page's path (target >= 25 with the x0.5 model on 2 cores), and the frames the
  camera delivered that were not analysed (the camera was faster than the analysis).

The single-frame rates are measured before and after the live run and averaged (a drifting machine biases less).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import cv2  # noqa: E402
from bench_video import rate  # noqa: E402  (bench/ is on sys.path when a bench runs as a script)

from posekit import PoseEstimator  # noqa: E402
from posekit.draw import draw_poses  # noqa: E402
from posekit.live import LiveProcessor  # noqa: E402

DANCE = Path(os.environ.get("POSEKIT_SHARED", ROOT.parent / "shared")) / "media" / "videos" / "dance.avi"


def webcam_frames(path: Path, size=(640, 480), limit: int = 120) -> list[av.VideoFrame]:
    """The first ``limit`` frames of ``path`` at ``size``, as the av.VideoFrames a browser camera delivers."""
    frames = []
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i >= limit:
                break
            bgr = cv2.resize(f.to_ndarray(format="bgr24"), size, interpolation=cv2.INTER_AREA)
            vf = av.VideoFrame.from_ndarray(bgr, format="bgr24")
            vf.pts, vf.time_base = i, f.time_base
            frames.append(vf)
    return frames




def live_run(est, frames, camera_fps: float, seconds: float) -> tuple[float, int, int, float]:
    """(processed fps, frames received, frames not analysed, processor's own fps meter) over ``seconds``."""

    def render(img, poses):  # the page's renderer: app_pages.common.Settings.renderer
        return draw_poses(img, poses, copy=False)

    live = LiveProcessor(est, threshold=0.1, renderer=render)
    period = 1.0 / camera_fps
    try:
        live.on_video_frame(frames[0])
        live.flush()
        live.reset_stats()
        t0 = time.perf_counter()
        i = 0
        while True:
            due = t0 + i * period
            now = time.perf_counter()
            if now - t0 >= seconds:
                break
            if due > now:
                time.sleep(due - now)
            live.on_video_frame(frames[i % len(frames)])
            i += 1
        elapsed = time.perf_counter() - t0
        s = live.stats()
        return s.processed / elapsed, s.received, s.dropped, s.fps
    finally:
        live.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mobilenet_v2_0.5")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--video", type=Path, default=DANCE)
    ap.add_argument("--camera-fps", type=float, default=30.0)
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the live run")
    args = ap.parse_args()

    est = PoseEstimator(args.model, backend=args.backend)
    frames = webcam_frames(args.video)
    frame = frames[len(frames) // 2].to_ndarray(format="bgr24")
    blob, _ = est.preprocess(frame)
    print(f"{args.video.name} as {frame.shape[1]}x{frame.shape[0]} camera frames at {args.camera_fps:g} fps; "
          f"{est.name} on {est.backend}; {os.cpu_count()} CPUs")

    forward = [rate(lambda: est.forward(blob), 2.0)]
    estimate = [rate(lambda: est.estimate(frame), 2.0)]
    processed, received, dropped, meter = live_run(est, frames, args.camera_fps, args.seconds)
    estimate.append(rate(lambda: est.estimate(frame), 2.0))
    forward.append(rate(lambda: est.forward(blob), 2.0))
    forward_fps, estimate_fps = sum(forward) / 2, sum(estimate) / 2

    for name, fps in (("bare network forward", forward_fps), ("estimate() on one frame", estimate_fps),
                      ("webcam path, processed", processed)):
        print(f"  {name:<26} {fps:7.2f} fps  ({1000 / fps:6.1f} ms/frame)")
    print(f"  camera frames {received}, not analysed (camera faster than the analysis) {dropped}; "
          f"the page's fps meter read {meter:.1f}")
    print(f"  processed / forward {processed / forward_fps:.2f}; processed / camera {processed / args.camera_fps:.2f}")
    print(f"  webcam processed fps {processed:.1f} (target >= 25: {'met' if processed >= 25 else 'NOT met'})")


if __name__ == "__main__":
    main()
