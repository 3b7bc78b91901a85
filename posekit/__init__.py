"""posekit: multi-person pose estimation and pose matching with OpenPose-style networks in OpenCV DNN.

>>> import cv2, posekit
>>> est = posekit.PoseEstimator()                 # mobilenet_v2_1.4, on the fastest engine installed
>>> poses = est.estimate(cv2.imread("people.jpg"))
>>> overlay = posekit.draw_poses(img, poses)

The package's front door: the names most programs need, re-exported from their modules.
"""

from __future__ import annotations

from .draw import draw_poses
from .errors import ChecksumError, DownloadError, InvalidInputError, ModelError, PosekitError
from .estimator import Estimator, PoseEstimator, TwoStage
from .layouts import BODY25, COCO18, LAYOUTS, MPI15, Layout, get_layout
from .models import DEFAULT_MODEL, MODELS, get_model, resolve
from .openpose import Inference, OpenPose
from .pose import Pose, most_prominent

__version__ = "0.1.0"

__all__ = [
    "BODY25", "COCO18", "DEFAULT_MODEL", "LAYOUTS", "MODELS", "MPI15", "ChecksumError", "DownloadError",
    "Estimator", "Inference", "InvalidInputError", "Layout", "ModelError", "OpenPose", "Pose", "PoseEstimator",
    "PosekitError", "TwoStage", "draw_poses", "get_layout", "get_model", "most_prominent", "resolve",
]
