"""The ground truth: MediaPipe called directly, no services, no sockets."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

from live2d_pose.trackers import TRACKERS


def _bundled(tracker: str) -> str:
    """The bundled model of a tracker: its file in the landmarker's package folder, found without
    importing the landmarker (its models are data here)."""
    folder = Path(importlib.util.find_spec("live2d_pose.landmarker").origin).parent
    return str(folder / TRACKERS[tracker].model_file)


def _landmarker(mode: vision.RunningMode, num_faces: int) -> vision.FaceLandmarker:
    return vision.FaceLandmarker.create_from_options(
        vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=_bundled("face")),
            running_mode=mode,
            num_faces=num_faces,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
    )


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
            out.append([np.array([(p.x, p.y, p.z) for p in face], np.float32) for face in result.face_landmarks])
        return out
    finally:
        landmarker.close()


def worker_timestamps(ingest_ms: list[float]) -> list[int]:
    """The timestamps a worker hands MediaPipe: ingest ms, forced strictly increasing."""
    out, last = [], -1
    for ms in ingest_ms:
        last = max(int(ms), last + 1)
        out.append(last)
    return out


# ---------------------------------------------------------------- body pose and hands


def _pose_landmarker(mode: vision.RunningMode, num_poses: int = 1) -> vision.PoseLandmarker:

    return vision.PoseLandmarker.create_from_options(
        vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=_bundled("pose")), running_mode=mode, num_poses=num_poses
        )
    )


def _hand_landmarker(mode: vision.RunningMode, num_hands: int = 2) -> vision.HandLandmarker:

    return vision.HandLandmarker.create_from_options(
        vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=_bundled("hands")), running_mode=mode, num_hands=num_hands
        )
    )


def poses_of(result) -> list:
    """A PoseLandmarkerResult as wire.Pose objects."""
    from live2d_pose.wire import Pose

    return [
        Pose(
            np.array([(p.x, p.y, p.z, p.visibility or 0.0, p.presence or 0.0) for p in marks], np.float32),
            np.array([(p.x, p.y, p.z) for p in world], np.float32),
        )
        for marks, world in zip(result.pose_landmarks, result.pose_world_landmarks)
    ]


def hands_of(result) -> list:
    """A HandLandmarkerResult as wire.Hand objects."""
    from live2d_pose.wire import Hand

    return [
        Hand(
            categories[0].category_name,
            float(categories[0].score),
            np.array([(p.x, p.y, p.z) for p in marks], np.float32),
            np.array([(p.x, p.y, p.z) for p in world], np.float32),
        )
        for categories, marks, world in zip(result.handedness, result.hand_landmarks, result.hand_world_landmarks)
    ]


def video_poses(frames: list[bytes], timestamps_ms: list[int], num_poses: int = 1) -> list[list]:
    """Per frame, the wire.Pose of each body found; VIDEO mode, the given timestamps."""
    landmarker = _pose_landmarker(vision.RunningMode.VIDEO, num_poses)
    try:
        return [poses_of(landmarker.detect_for_video(_rgb(jpeg), ts)) for jpeg, ts in zip(frames, timestamps_ms)]
    finally:
        landmarker.close()


def video_hands(frames: list[bytes], timestamps_ms: list[int], num_hands: int = 2) -> list[list]:
    """Per frame, the wire.Hand of each hand found; VIDEO mode, the given timestamps."""
    landmarker = _hand_landmarker(vision.RunningMode.VIDEO, num_hands)
    try:
        return [hands_of(landmarker.detect_for_video(_rgb(jpeg), ts)) for jpeg, ts in zip(frames, timestamps_ms)]
    finally:
        landmarker.close()


def image_poses(jpeg: bytes, num_poses: int = 1) -> list:
    """The wire.Pose of each body in one picture (IMAGE mode)."""
    landmarker = _pose_landmarker(vision.RunningMode.IMAGE, num_poses)
    try:
        return poses_of(landmarker.detect(_rgb(jpeg)))
    finally:
        landmarker.close()
