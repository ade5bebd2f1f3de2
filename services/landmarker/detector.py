"""MediaPipe Face Landmarker, one instance per stream, plus image decoding.

VIDEO running mode tracks the face from one frame to the next (it skips the
face detector while tracking holds), which is both faster and steadier than
IMAGE mode, but an instance must see one stream's frames with strictly
increasing timestamps. So a worker keeps one instance per stream, closes the
ones that go idle, and never holds more than ``max_streams``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

from live2d_pose.imageinfo import ImageError, check_limits, inspect
from live2d_pose.wire import Face

log = logging.getLogger("live2d_pose.landmarker")

# Decode straight to RGB (what MediaPipe wants) where OpenCV can; saves a copy.
_IMREAD_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)


class ModelError(RuntimeError):
    pass


def load_model(path: str, expected_sha256: str) -> bytes:
    """The model's bytes, refused if they do not match the expected checksum."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read face model {path}: {exc.strerror}") from None
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 and digest != expected_sha256.lower():
        raise ModelError(f"face model {path} has sha256 {digest}, expected {expected_sha256}; "
                         "the file is corrupt or not the model it claims to be")
    log.info("face model %s (%d bytes, sha256 %s…)", path, len(data), digest[:12])
    return data


def decode_image(data: bytes | memoryview, max_pixels: int) -> np.ndarray:
    """Encoded JPEG/PNG/WebP -> contiguous RGB uint8 array; ImageError if it is not one."""
    check_limits(inspect(data), max_pixels)  # before decoding: no decompression bombs
    buffer = np.frombuffer(data, dtype=np.uint8)
    if _IMREAD_RGB is not None:
        image = cv2.imdecode(buffer, _IMREAD_RGB)
    else:
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
        image = None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image is None:
        raise ImageError("decode_failed", "the image could not be decoded (corrupt data)")
    return image


@dataclass
class _Tracker:
    landmarker: vision.FaceLandmarker
    last_timestamp_ms: int = -1
    last_used: float = 0.0


class FaceDetector:
    """Per-stream MediaPipe instances sharing one model buffer."""

    def __init__(self, model: bytes, max_faces: int = 1, max_streams: int = 8,
                 idle_timeout: float = 10.0):
        self.model = model
        self.max_faces = max_faces
        self.max_streams = max_streams
        self.idle_timeout = idle_timeout
        self.trackers: OrderedDict[str, _Tracker] = OrderedDict()  # least recently used first

    def detect(self, stream: str, rgb: np.ndarray, timestamp_ms: int) -> list[Face]:
        tracker = self._tracker(stream)
        # VIDEO mode needs strictly increasing timestamps per instance.
        timestamp_ms = max(timestamp_ms, tracker.last_timestamp_ms + 1)
        tracker.last_timestamp_ms = timestamp_ms
        tracker.last_used = time.monotonic()
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        result = tracker.landmarker.detect_for_video(image, timestamp_ms)
        return [_face(result, i) for i in range(len(result.face_landmarks))]

    def close_stream(self, stream: str) -> None:
        tracker = self.trackers.pop(stream, None)
        if tracker is not None:
            tracker.landmarker.close()
            log.debug("closed the MediaPipe instance of stream %s", stream)

    def close_idle(self) -> None:
        now = time.monotonic()
        for stream in [s for s, t in self.trackers.items() if now - t.last_used > self.idle_timeout]:
            self.close_stream(stream)

    def close(self) -> None:
        for stream in list(self.trackers):
            self.close_stream(stream)

    def _tracker(self, stream: str) -> _Tracker:
        tracker = self.trackers.get(stream)
        if tracker is not None:
            self.trackers.move_to_end(stream)
            return tracker
        while len(self.trackers) >= self.max_streams:
            self.close_stream(next(iter(self.trackers)))
        tracker = self.trackers[stream] = _Tracker(self._new_landmarker())
        return tracker

    def _new_landmarker(self) -> vision.FaceLandmarker:
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=self.model),
            running_mode=vision.RunningMode.VIDEO,
            num_faces=self.max_faces,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        return vision.FaceLandmarker.create_from_options(options)


def _face(result: vision.FaceLandmarkerResult, index: int) -> Face:
    landmarks = np.array([(p.x, p.y, p.z) for p in result.face_landmarks[index]], dtype=np.float32)
    blendshapes = np.array([c.score for c in result.face_blendshapes[index]], dtype=np.float32)
    matrix = np.asarray(result.facial_transformation_matrixes[index], dtype=np.float32).reshape(16)
    return Face(landmarks, blendshapes, matrix)
