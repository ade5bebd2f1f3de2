"""The trackers a landmarker can run: a small interface and a registry, one entry per kind.

A tracker wraps one MediaPipe Tasks landmarker. It owns the model bytes (read and
checked once) and makes one VIDEO-mode instance per lane (stream x tracker), because
VIDEO mode carries tracking state from one frame to the next and wants strictly
increasing timestamps per instance. What a tracker is called, the key and item type of
its results, its bundled model and checksum, and its settings are its row in the shared
tracker table (live2d_pose/trackers.json); here is only how MediaPipe runs it. Adding a
tracker means a row there, its item type in live2d_pose/trackers.py, and a class here
with its entry in :data:`REGISTRY`.
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

from live2d_pose.landmarker.settings import MODELS_DIR, LandmarkerConfig
from live2d_pose.trackers import TRACKERS, Face, Hand, Pose

log = logging.getLogger("live2d_pose.landmarker")


class ModelError(RuntimeError):
    """A model file that cannot be read or is not the model it claims to be."""


def load_model(path: str, expected_sha256: str, what: str = "face") -> bytes:
    """The model's bytes, refused if they do not match the expected checksum."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {what} model {path}: {exc.strerror}") from None
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 and digest != expected_sha256.lower():
        raise ModelError(
            f"{what} model {path} has sha256 {digest}, expected {expected_sha256}; "
            "the file is corrupt or not the model it claims to be"
        )
    log.info("%s model %s (%d bytes, sha256 %s…)", what, path, len(data), digest[:12])
    return data


class Tracker(ABC):
    """One kind of MediaPipe landmarker; :meth:`open` makes a lane's instance."""

    name: str  # as in track= (a row of the tracker table)

    def __init__(self, model: bytes, config: LandmarkerConfig):
        self.model = model
        self.config = config

    @property
    def key(self) -> str:
        """The result's key for this tracker's list (faces, poses, hands)."""
        return TRACKERS[self.name].key

    @abstractmethod
    def open(self) -> Any:
        """A new VIDEO-mode MediaPipe instance for one lane."""

    @abstractmethod
    def detect(self, instance: Any, image: mp.Image, timestamp_ms: int) -> list[dict]:
        """What the instance finds in one frame, as the wire's maps."""

    @property
    def limit(self) -> int:
        """The most items found per frame (the row's limit setting: max_faces, max_poses, max_hands)."""
        return getattr(self.config, TRACKERS[self.name].limit_setting)

    def close(self, instance: Any) -> None:
        instance.close()  # MediaPipe task objects hold a graph and a thread: close them explicitly

    def _base(self) -> BaseOptions:
        return BaseOptions(model_asset_buffer=self.model)


class FaceTracker(Tracker):
    name = "face"

    def open(self) -> vision.FaceLandmarker:
        return vision.FaceLandmarker.create_from_options(
            vision.FaceLandmarkerOptions(
                base_options=self._base(),
                running_mode=vision.RunningMode.VIDEO,
                num_faces=self.limit,
                output_face_blendshapes=True,
                output_facial_transformation_matrixes=True,
            )
        )

    def detect(self, instance: vision.FaceLandmarker, image: mp.Image, timestamp_ms: int) -> list[dict]:
        result = instance.detect_for_video(image, timestamp_ms)
        return [_face(result, i).to_wire() for i in range(len(result.face_landmarks))]


class PoseTracker(Tracker):
    name = "pose"

    def open(self) -> vision.PoseLandmarker:
        return vision.PoseLandmarker.create_from_options(
            vision.PoseLandmarkerOptions(
                base_options=self._base(), running_mode=vision.RunningMode.VIDEO, num_poses=self.limit
            )
        )

    def detect(self, instance: vision.PoseLandmarker, image: mp.Image, timestamp_ms: int) -> list[dict]:
        result = instance.detect_for_video(image, timestamp_ms)
        return [
            Pose(_points(marks, with_scores=True), _points(world)).to_wire()
            for marks, world in zip(result.pose_landmarks, result.pose_world_landmarks)
        ]


class HandTracker(Tracker):
    name = "hands"

    def open(self) -> vision.HandLandmarker:
        return vision.HandLandmarker.create_from_options(
            vision.HandLandmarkerOptions(
                base_options=self._base(), running_mode=vision.RunningMode.VIDEO, num_hands=self.limit
            )
        )

    def detect(self, instance: vision.HandLandmarker, image: mp.Image, timestamp_ms: int) -> list[dict]:
        result = instance.detect_for_video(image, timestamp_ms)
        return [
            Hand(categories[0].category_name, float(categories[0].score), _points(marks), _points(world)).to_wire()
            for categories, marks, world in zip(result.handedness, result.hand_landmarks, result.hand_world_landmarks)
        ]


REGISTRY: dict[str, type[Tracker]] = {"face": FaceTracker, "pose": PoseTracker, "hands": HandTracker}
assert REGISTRY.keys() == TRACKERS.keys(), "every row of the tracker table needs a tracker here (and only those)"


def model_path(name: str, config: LandmarkerConfig) -> str:
    return getattr(config, TRACKERS[name].model_setting)


def expected_sha256(name: str, config: LandmarkerConfig) -> str:
    """The configured checksum; the bundled model's own when the bundled file is used."""
    row = TRACKERS[name]
    given = getattr(config, row.model_setting + "_sha256")
    if given:
        return given
    if Path(model_path(name, config)).resolve() == (MODELS_DIR / row.model_file).resolve():
        return row.model_sha256
    log.warning(
        "%s model %s: no --%s-sha256 given, checksum not checked",
        name,
        model_path(name, config),
        row.model_setting.replace("_", "-"),
    )
    return ""


def build(names: tuple[str, ...], config: LandmarkerConfig) -> dict[str, Tracker]:
    """The trackers this worker runs, their models read and checked now (a bad file fails at start)."""
    return {
        name: REGISTRY[name](load_model(model_path(name, config), expected_sha256(name, config), name), config)
        for name in names
    }


def _points(landmarks, with_scores: bool = False) -> np.ndarray:
    """MediaPipe landmarks as float32 rows of x, y, z (and visibility, presence)."""
    if with_scores:
        return np.array([(p.x, p.y, p.z, p.visibility or 0.0, p.presence or 0.0) for p in landmarks], np.float32)
    return np.array([(p.x, p.y, p.z) for p in landmarks], np.float32)


def _face(result: vision.FaceLandmarkerResult, index: int) -> Face:
    blendshapes = np.array([c.score for c in result.face_blendshapes[index]], dtype=np.float32)
    matrix = np.asarray(result.facial_transformation_matrixes[index], dtype=np.float32).reshape(16)
    return Face(_points(result.face_landmarks[index]), blendshapes, matrix)
