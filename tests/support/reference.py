"""The ground truth: MediaPipe called directly, no services, no sockets."""

from __future__ import annotations

import cv2
import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

from live2d_pose.config import BUNDLED_FACE_MODEL


def _landmarker(mode: vision.RunningMode, num_faces: int) -> vision.FaceLandmarker:
    return vision.FaceLandmarker.create_from_options(vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(BUNDLED_FACE_MODEL)),
        running_mode=mode, num_faces=num_faces, output_face_blendshapes=True,
        output_facial_transformation_matrixes=True))


def _rgb(jpeg: bytes) -> mp.Image:
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return mp.Image(image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def video_landmarks(frames: list[bytes], timestamps_ms: list[int], num_faces: int = 1) -> list[list[np.ndarray]]:
    """Per frame, the (478, 3) landmarks of each face, VIDEO mode, the given timestamps."""
    landmarker = _landmarker(vision.RunningMode.VIDEO, num_faces)
    try:
        out = []
        for jpeg, ts in zip(frames, timestamps_ms):
            result = landmarker.detect_for_video(_rgb(jpeg), ts)
            out.append([np.array([(p.x, p.y, p.z) for p in face], np.float32)
                        for face in result.face_landmarks])
        return out
    finally:
        landmarker.close()


def image_face_count(jpeg: bytes, num_faces: int) -> int:
    landmarker = _landmarker(vision.RunningMode.IMAGE, num_faces)
    try:
        return len(landmarker.detect(_rgb(jpeg)).face_landmarks)
    finally:
        landmarker.close()


def worker_timestamps(ingest_ms: list[float]) -> list[int]:
    """The timestamps a worker hands MediaPipe: ingest ms, forced strictly increasing."""
    out, last = [], -1
    for ms in ingest_ms:
        last = max(int(ms), last + 1)
        out.append(last)
    return out
