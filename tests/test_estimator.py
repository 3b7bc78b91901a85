"""PoseEstimator on real images: every visible person, plausible joints, backends, threads, CMU plumbing."""

from __future__ import annotations

import threading
import warnings

import cv2
import numpy as np
import pytest

from caffe_weights import write_random_caffemodel
from conftest import CMU_DIR, read_image
from posekit import PoseEstimator, backends
from posekit.errors import InvalidInputError, ModelError
from posekit.layouts import BODY25, COCO18, MPI15

# Checked by eye on overlays once (left to right), then asserted with tolerances.
P3_NECKS = [(131, 257), (292, 174), (453, 264)]
P3_NOSES = [(158, 197), (288, 112), (427, 207)]
APINK2_NECKS = [(37, 344), (289, 170), (474, 269), (716, 307), (1127, 214)]
APINK2_HIDDEN_FACE_DANCER = (912, 260)  # arms over her face: found, with few keypoints


def _near(poses, joint, xy, tol):
    return [p for p in poses if p.keypoint(joint)[2] > 0 and np.hypot(*(p.keypoint(joint)[:2] - xy)) < tol]


@pytest.mark.parametrize("fixture", ["estimator", "fast_estimator"])
def test_p3_three_astronauts(request, fixture):
    est = request.getfixturevalue(fixture)
    poses = est.estimate(read_image("p3.jpg"))
    confident = [p for p in poses if p.score >= 0.2]
    assert len(confident) == 3
    for neck, nose in zip(P3_NECKS, P3_NOSES):
        (person,) = _near(confident, "Neck", neck, 20)
        assert _near([person], "Nose", nose, 15), (person.keypoint("Nose"), nose)
        k = person.keypoints
        # Anatomy: nose above neck above hips; right shoulder on the image's left of the neck.
        assert k[0, 1] < k[1, 1]
        hips = k[[8, 11]][k[[8, 11], 2] > 0]
        assert len(hips) and (hips[:, 1] > k[1, 1] + 80).all()
        if k[2, 2] > 0 and k[5, 2] > 0:
            assert k[2, 0] < k[1, 0] < k[5, 0]
    for p in poses:
        assert p.layout == "COCO-18" and p.keypoints.shape == (18, 3) and 0 <= p.score <= 1
        assert (p.keypoints[:, 2] <= 1).all()


@pytest.mark.parametrize("fixture", ["estimator", "fast_estimator"])
def test_apink2_two_frames_of_three_people(request, fixture):
    est = request.getfixturevalue(fixture)
    img = read_image("apink2.jpg")
    poses = est.estimate(img)
    for neck in APINK2_NECKS:
        assert len(_near(poses, "Neck", neck, 25)) == 1, neck
    hidden = [p for p in poses if abs((p.bbox()[0] + p.bbox()[2]) / 2 - APINK2_HIDDEN_FACE_DANCER[0]) < 60]
    assert len(hidden) == 1
    h, w = img.shape[:2]
    for p in poses:
        vis = p.keypoints[p.visible]
        assert (vis[:, 0] >= -5).all() and (vis[:, 0] <= w + 5).all() and (vis[:, 1] <= h + 5).all()


def test_letterbox_maps_back_to_the_image(fast_estimator):
    """The same photo shrunk and moved on a larger canvas gives the same joints (mapped) in image pixels."""
    img = read_image("p3.jpg")
    base = fast_estimator.estimate(img)
    canvas = np.full((900, 1400, 3), 40, np.uint8)
    small = cv2.resize(img, None, fx=0.9, fy=0.9, interpolation=cv2.INTER_AREA)
    canvas[300:300 + small.shape[0], 500:500 + small.shape[1]] = small
    moved = fast_estimator.estimate(canvas)
    for neck in P3_NECKS:
        (a,) = _near(base, "Neck", neck, 20)
        mapped = np.array(neck) * 0.9 + (500, 300)
        (b,) = _near(moved, "Neck", mapped, 30)
        common = a.visible & b.visible
        back = (b.keypoints[common, :2] - (500, 300)) / 0.9
        assert np.median(np.hypot(*(back - a.keypoints[common, :2]).T)) < 12


def test_inference_maps_are_in_image_coordinates(fast_estimator):
    img = read_image("p3.jpg")
    inf = fast_estimator.infer(img)
    assert inf.output.shape == (57, 46, 54)
    hm = inf.heatmap("Nose")
    assert hm.shape == img.shape[:2]
    y, x = np.unravel_index(np.argmax(hm), hm.shape)
    assert min(np.hypot(x - nx, y - ny) for nx, ny in P3_NOSES) < 15
    px, py = inf.paf(COCO18.limbs.index((1, 0)))  # neck -> nose points up
    assert px.shape == img.shape[:2]
    nx, ny = P3_NECKS[1]
    assert py[ny - 30, nx] < -0.3
    assert set(inf.timings) == {"preprocess", "forward"}
    fast_estimator.estimate(img)
    assert set(fast_estimator.last_timings) == {"preprocess", "forward", "decode"}


def test_threshold_per_call(fast_estimator):
    img = read_image("p3.jpg")
    many = sum(p.num_visible for p in fast_estimator.estimate(img, threshold=0.05))
    few = sum(p.num_visible for p in fast_estimator.estimate(img, threshold=0.6))
    assert many > few


@pytest.mark.parametrize("bad", [None, "p3.jpg", np.zeros((0, 5, 3), np.uint8), np.zeros((4, 4, 2), np.uint8),
                                 np.zeros((8, 8, 3), np.int64)])
def test_bad_arrays_are_rejected(fast_estimator, bad):
    with pytest.raises(InvalidInputError):
        fast_estimator.estimate(bad)


def test_odd_arrays_are_accepted(fast_estimator):
    img = read_image("p3.jpg")
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    for variant in (gray, bgra, img.astype(np.uint16) * 257, np.zeros((1, 1, 3), np.uint8)):
        fast_estimator.estimate(variant)
    assert len([p for p in fast_estimator.estimate(gray) if p.score >= 0.2]) == 3


def test_cuda_falls_back_to_cpu_with_a_clear_message(model_dir):
    if backends.opencv_has_cuda():
        pytest.skip("this OpenCV has CUDA: the fallback does not apply")
    backends._warned.clear()
    with pytest.warns(RuntimeWarning, match="no CUDA support"):
        est = PoseEstimator("mobilenet_v2_0.5", backend="cuda-fp16")
    assert est.requested_backend == "cuda-fp16" and est.backend == "cpu"
    assert "Running on the CPU" in est.backend_message
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per reason, not on every estimator
        PoseEstimator("mobilenet_v2_0.5", backend="cuda-fp16")
    assert len([p for p in est.estimate(read_image("p3.jpg")) if p.score >= 0.2]) == 3
    with pytest.raises(ModelError, match="unknown backend"):
        PoseEstimator("mobilenet_v2_0.5", backend="tpu")


@pytest.mark.parametrize("backend,package", [("ort", "onnxruntime"), ("openvino", "openvino")])
def test_other_cpu_backends_give_the_same_people(fast_estimator, backend, package):
    pytest.importorskip(package)
    est = PoseEstimator("mobilenet_v2_0.5", backend=backend)
    assert est.backend == backend and est.backend_message is None
    img = read_image("apink2.jpg")
    a, b = fast_estimator.estimate(img), est.estimate(img)
    assert len(a) == len(b)
    for pa, pb in zip(a, b):
        assert (pa.visible == pb.visible).all()
        assert np.abs(pa.keypoints[pa.visible, :2] - pb.keypoints[pb.visible, :2]).max() < 1.0


def test_shared_estimator_is_thread_safe(fast_estimator):
    """8 threads x 20 estimations on mixed images give exactly the serial results."""
    names = ["p3.jpg", "apink2.jpg", "p2.jpg", "golf.jpg"]
    images = [read_image(n) for n in names]
    serial = [fast_estimator.estimate(img) for img in images]
    errors, results = [], []

    def work(t):
        try:
            for i in range(20):
                k = (t + i) % len(images)
                results.append((k, fast_estimator.estimate(images[k])))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 160
    for k, poses in results:
        assert len(poses) == len(serial[k])
        for p, q in zip(poses, serial[k]):
            np.testing.assert_array_equal(p.keypoints, q.keypoints)


@pytest.mark.parametrize("model,layout", [
    ("openpose_coco", COCO18), ("openpose_body25", BODY25), ("openpose_mpi", MPI15)])
def test_cmu_models_plumbing(model, layout, tmp_path, monkeypatch):
    """CMU's networks from their real prototxt with random weights, loaded through the user's path (the model
    directory): output channels, layout, decoding, drawing, export."""
    from posekit.draw import draw_poses
    from posekit.export import openpose_json
    from posekit.models import get_model

    spec = get_model(model)
    (tmp_path / spec.config.filename).symlink_to(CMU_DIR / spec.config.filename)
    write_random_caffemodel(CMU_DIR / spec.config.filename, tmp_path / spec.weights.filename)
    monkeypatch.setenv("POSEKIT_MODEL_DIR", str(tmp_path))
    est = PoseEstimator(model, input_size=(160, 128), download=False)
    assert est.layout is layout and est.backend == "cpu"
    img = read_image("p2.jpg")
    inf = est.infer(img)
    assert inf.output.shape == (layout.num_channels, 16, 20)
    poses = est.estimate(img, threshold=0.0)  # untrained: whatever it finds must still be well-formed
    assert all(p.layout == layout.name and p.keypoints.shape == (layout.num_keypoints, 3) for p in poses)
    assert draw_poses(img, poses).shape == img.shape
    assert len(openpose_json(poses)["people"]) == len(poses)


def test_cmu_models_without_caffe_importer_say_so(monkeypatch):
    monkeypatch.setattr("posekit.models.has_caffe", lambda: False)
    from posekit.backends import load_net
    from posekit.models import get_model

    with pytest.raises(ModelError, match="no Caffe importer"):
        load_net(get_model("openpose_coco"), None, CMU_DIR / "coco_pose_deploy_linevec.prototxt")


@pytest.mark.parametrize("backend", ["cuda", "cuda-fp16", "ort-cuda"])
def test_gpu_backends_match_the_cpu(fast_estimator, backend):
    """Runs only where a GPU backend is really available (never in CI): same people as the CPU."""
    reason = backends.availability(backend)
    if reason:
        pytest.skip(reason)
    est = PoseEstimator("mobilenet_v2_0.5", backend=backend)
    assert est.backend == backend
    img = read_image("apink2.jpg")
    a, b = fast_estimator.estimate(img), est.estimate(img)
    assert len(a) == len(b)
    tol = 0.25 * 8 * img.shape[1] / 432 if backend == "cuda-fp16" else 1.0  # fp16: a quarter of a grid cell
    for pa, pb in zip(a, b):
        common = pa.visible & pb.visible
        assert common.sum() >= pa.num_visible - 1
        assert np.abs(pa.keypoints[common, :2] - pb.keypoints[common, :2]).max() < tol
