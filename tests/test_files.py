"""One atomic writer: complete files only, nothing left on error, the user's usual permissions."""

import os
import stat

import pytest

from posekit.errors import InvalidInputError
from posekit.files import atomic_open, atomic_path, user_mode, write_atomic


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_written_files_get_the_users_usual_mode(tmp_path, umask_022):
    assert user_mode() == 0o644
    write_atomic(tmp_path / "a.csv", "x,y\n1,2\n")
    with atomic_open(tmp_path / "b.bin", "wb") as f:
        f.write(b"\x00\x01")
    with atomic_path(tmp_path / "c.mp4") as tmp:
        tmp.write_bytes(b"video")
    for name in ("a.csv", "b.bin", "c.mp4"):
        assert _mode(tmp_path / name) == 0o644, name  # not mkstemp's private 0o600
    assert (tmp_path / "a.csv").read_text() == "x,y\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.bin", "c.mp4"]


def test_an_error_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as f:
            f.write("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        write_atomic(tmp_path / "nope" / "a.txt", "x")


def test_cli_outputs_are_readable_by_others(tmp_path, umask_022, model_dir):
    """The files the CLI writes (overlay PNG, OpenPose JSON, keypoints CSV, TRC, MOT, angle CSV) get 0o644."""
    from posekit.cli import main

    from tests.conftest import IMAGES, VIDEOS

    assert main(["estimate", str(IMAGES / "p3.jpg"), "--model", "mobilenet_v2_0.5", "--refine", "none",
                 "--output", str(tmp_path), "--json-dir", str(tmp_path)]) == 0
    assert main(["video", str(VIDEOS / "demo.mp4"), "--model", "mobilenet_v2_0.5", "--output",
                 str(tmp_path / "o.mp4"), "--keypoints", str(tmp_path / "k.csv")]) == 0
    assert main(["angles", str(tmp_path / "k.csv"), "--output", str(tmp_path / "a.csv"),
                 "--trc", str(tmp_path / "k.trc"), "--mot", str(tmp_path / "k.mot")]) == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["a.csv", "k.csv", "k.mot", "k.trc", "o.mp4", "p3_keypoints.json", "p3_rendered.png"]
    for name in files:
        assert _mode(tmp_path / name) == 0o644, name
