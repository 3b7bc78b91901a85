"""posekit: multi-person pose estimation and pose matching with OpenPose-style networks in OpenCV DNN.

>>> import cv2, posekit
>>> est = posekit.PoseEstimator()                 # mobilenet_v2_1.4 on the CPU
>>> poses = est.estimate(cv2.imread("people.jpg"))
>>> overlay = posekit.draw_poses(img, poses)
"""

from __future__ import annotations

from .errors import ChecksumError, DownloadError, InvalidInputError, ModelError, PosekitError
from .estimator import Inference, PoseEstimator
from .layouts import BODY25, COCO18, LAYOUTS, MPI15, Layout, get_layout
from .models import DEFAULT_MODEL, MODELS, get_model, resolve
from .pose import Pose, most_prominent

__version__ = "0.1.0"

__all__ = [
    "BODY25", "COCO18", "DEFAULT_MODEL", "LAYOUTS", "MODELS", "MPI15", "ChecksumError", "DownloadError",
    "Inference", "InvalidInputError", "Layout", "ModelError", "Pose", "PoseEstimator", "PosekitError",
    "draw_poses", "get_layout", "get_model", "most_prominent", "resolve",
]


def __getattr__(name: str):
    # Drawing is imported lazily so that `import posekit` stays light for inference-only users.
    if name == "draw_poses":
        from .draw import draw_poses

        return draw_poses
    raise AttributeError(f"module 'posekit' has no attribute {name!r}")
