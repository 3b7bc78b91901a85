"""The batch worker: one estimator loaded once (:class:`Worker`) that turns an item into its outputs, staged
then moved into place."""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path
from typing import Optional

import cv2

from .. import export
from ..draw import draw_poses
from ..errors import InvalidInputError
from ..estimator import PoseEstimator
from ..imageio import encode_image, load_image
from ..sinks import AngleCollector, KeypointWriter, OpenPoseFolder
from ..video import process_video
from ..videoio import FrameRecord
from .inputs import Item, Settings, output_names, stage_dir
from .manifest import DONE, FAILED, Result, error_reason, one_line, utc_now


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """Holds one estimator (loaded once) and processes items into the output folder."""

    def __init__(self, settings: Settings, output: str | os.PathLike, threads: Optional[int] = None) -> None:
        if threads:
            cv2.setNumThreads(int(threads))
        self.settings = settings
        self.output = Path(output)
        self.name = worker_name()
        t0 = time.perf_counter()
        self.estimator = PoseEstimator(settings.model, backend=settings.backend, threshold=settings.threshold,
                                       input_size=settings.input_size, scales=settings.scales,
                                       extend=settings.extend, refine=settings.refine,
                                       refine_margin=settings.refine_margin, refine_passes=settings.refine_passes)
        self.load_s = time.perf_counter() - t0
        self.note = ""  # said once on the next result (e.g. "on a restarted worker")

    def run(self, item: Item, attempt: int = 1) -> Result:
        """Process one item; never raises for a bad input (the result says failed, and why)."""
        t0 = time.perf_counter()
        res = Result(item.key, DONE, settings_hash=self.settings.hash(), attempts=attempt, size=item.size,
                     mtime_ns=item.mtime_ns, source=item.source, worker=self.name, load_s=self.load_s,
                     backend=self.estimator.backend)
        stage = stage_dir(self.output, item)
        try:
            shutil.rmtree(stage, ignore_errors=True)
            stage.mkdir(parents=True)
            names = output_names(item, self.settings)
            staged = {kind: stage / Path(name).name for kind, name in names.items()}
            if item.kind == "photo":
                self._photo(item, staged, res)
            else:
                self._video(item, staged, res)
            for kind, name in names.items():
                _move_into_place(staged[kind], self.output / name, stage)
            res.outputs = ";".join(names.values())
        except Exception as exc:  # noqa: BLE001 - a bad input is a failed row, never a crashed run
            res.status, res.reason = FAILED, error_reason(exc)
            res.error = "input" if isinstance(exc, InvalidInputError) else "other"
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        if self.note:
            res.reason = "; ".join(r for r in (res.reason, self.note) if r)
            self.note = ""
        if self.estimator.backend_message:
            res.reason = "; ".join(r for r in (res.reason, one_line(self.estimator.backend_message)) if r)
        res.seconds = time.perf_counter() - t0
        res.finished_at = utc_now()
        return res

    def _photo(self, item: Item, staged: dict[str, Path], res: Result) -> None:
        bgr = load_image(item.source)
        poses = self.estimator.estimate(bgr)
        res.frames, res.people = 1, len(poses)
        s = self.settings
        frame = FrameRecord(0, 0.0, bgr, poses)  # as a video's files with one frame, number 0
        if "keypoints" in staged:
            with KeypointWriter(staged["keypoints"], s.keypoints, self.estimator.layout,
                                convention=s.convention) as kp:
                kp.write(frame)
        if "angles" in staged:
            with AngleCollector(staged["angles"], convention=s.convention) as angles:
                angles.write(frame)
        if "overlay" in staged:
            staged["overlay"].write_bytes(encode_image(draw_poses(bgr, poses), staged["overlay"].suffix))
        if "openpose" in staged:
            staged["openpose"].mkdir()
            export.write_openpose_json(staged["openpose"] / f"{Path(item.key).stem}_keypoints.json", poses,
                                       self.estimator.layout)

    def _video(self, item: Item, staged: dict[str, Path], res: Result) -> None:
        """The video path's usual stages into the sinks asked for; no video is encoded unless it is kept."""
        s = self.settings
        sinks: list = []
        if "openpose" in staged:
            sinks.append(OpenPoseFolder(staged["openpose"], Path(item.key).stem, self.estimator.layout))
        if "angles" in staged:
            sinks.append(AngleCollector(staged["angles"], convention=s.convention))
        r = process_video(item.source, staged.get("overlay"), self.estimator, every=s.every,
                          max_frames=s.max_frames, max_seconds=s.max_seconds, output_height=s.height,
                          keypoints_path=staged.get("keypoints"), keypoints_format=s.keypoints or "jsonl",
                          track=s.track, smooth=s.smooth, sinks=sinks, convention=s.convention)
        # people: IDs given out when tracking, else the most people seen in one frame
        res.frames, res.duration_s, res.people = r.frames, r.duration_s, (r.ids if s.track else r.most_people)
        res.reason = one_line(r.message)


def _move_into_place(src: Path, dst: Path, stage: Path) -> None:
    """``os.replace`` a staged file (or folder) to its final place; a folder replaces an older one whole."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir() and dst.exists():
        os.replace(dst, stage / ".old")
    os.replace(src, dst)
