"""The trackers a landmarker can run: a small interface and a registry, one entry per kind.

A tracker wraps one MediaPipe Tasks landmarker. It owns the model bytes (read and
checked once) and makes one VIDEO-mode instance per lane (stream x tracker), because
VIDEO mode carries tracking state from one frame to the next and wants strictly
increasing timestamps per instance. Adding a tracker means one class here and one
entry in :data:`REGISTRY` (and its name in ``wire.TRACKS``); nothing else branches on
tracker names.
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable

import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

from live2d_pose import config as cfg
from live2d_pose.config import LandmarkerConfig
from live2d_pose.wire import TRACKS, Face, Hand, Pose

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
        raise ModelError(f"{what} model {path} has sha256 {digest}, expected {expected_sha256}; "
                         "the file is corrupt or not the model it claims to be")
    log.info("%s model %s (%d bytes, sha256 %s…)", what, path, len(data), digest[:12])
    return data


class Tracker(ABC):
    """One kind of MediaPipe landmarker; :meth:`open` makes a lane's instance."""

    name: str  # as in track= (a key of wire.TRACKS)

    def __init__(self, model: bytes, config: LandmarkerConfig):
        self.model = model
        self.config = config

    @property
    def key(self) -> str:
        """The result's key for this tracker's list (faces, poses, hands)."""
        return TRACKS[self.name].key

    @abstractmethod
    def open(self) -> Any:
        """A new VIDEO-mode MediaPipe instance for one lane."""

    @abstractmethod
    def detect(self, instance: Any, image: mp.Image, timestamp_ms: int) -> list[dict]:
        """What the instance finds in one frame, as the wire's maps."""

    def close(self, instance: Any) -> None:
        instance.close()  # MediaPipe task objects hold a graph and a thread: close them explicitly

    def _base(self) -> BaseOptions:
        return BaseOptions(model_asset_buffer=self.model)


class FaceTracker(Tracker):
    name = "face"

    def open(self) -> vision.FaceLandmarker:
        return vision.FaceLandmarker.create_from_options(vision.FaceLandmarkerOptions(
            base_options=self._base(), running_mode=vision.RunningMode.VIDEO,
            num_faces=self.config.max_faces, output_face_blendshapes=True,
            output_facial_transformation_matrixes=True))

    def detect(self, instance: vision.FaceLandmarker, image: mp.Image, timestamp_ms: int) -> list[dict]:
        result = instance.detect_for_video(image, timestamp_ms)
        return [_face(result, i).to_wire() for i in range(len(result.face_landmarks))]


class PoseTracker(Tracker):
    name = "pose"

    def open(self) -> vision.PoseLandmarker:
        return vision.PoseLandmarker.create_from_options(vision.PoseLandmarkerOptions(
            base_options=self._base(), running_mode=vision.RunningMode.VIDEO,
            num_poses=self.config.max_poses))

    def detect(self, instance: vision.PoseLandmarker, image: mp.Image, timestamp_ms: int) -> list[dict]:
        result = instance.detect_for_video(image, timestamp_ms)
        return [Pose(_points(marks, with_scores=True), _points(world)).to_wire()
                for marks, world in zip(result.pose_landmarks, result.pose_world_landmarks)]


class HandTracker(Tracker):
    name = "hands"

    def open(self) -> vision.HandLandmarker:
        return vision.HandLandmarker.create_from_options(vision.HandLandmarkerOptions(
            base_options=self._base(), running_mode=vision.RunningMode.VIDEO,
            num_hands=self.config.max_hands))

    def detect(self, instance: vision.HandLandmarker, image: mp.Image, timestamp_ms: int) -> list[dict]:
        result = instance.detect_for_video(image, timestamp_ms)
        return [Hand(categories[0].category_name, float(categories[0].score), _points(marks),
                     _points(world)).to_wire()
                for categories, marks, world in zip(result.handedness, result.hand_landmarks,
                                                    result.hand_world_landmarks)]


@dataclass(frozen=True)
class TrackerKind:
    """A registry entry: how to build a tracker and where its model comes from."""

    make: Callable[[bytes, LandmarkerConfig], Tracker]
    bundled_model: Path
    bundled_sha256: str
    model_setting: str  # the LandmarkerConfig field with the model path; "<field>_sha256" its checksum

    def model_path(self, config: LandmarkerConfig) -> str:
        return getattr(config, self.model_setting)

    def expected_sha256(self, config: LandmarkerConfig, name: str) -> str:
        """The configured checksum; the bundled model's own when the bundled file is used."""
        given = getattr(config, self.model_setting + "_sha256")
        if given:
            return given
        if Path(self.model_path(config)).resolve() == self.bundled_model.resolve():
            return self.bundled_sha256
        log.warning("%s model %s: no --%s-sha256 given, checksum not checked", name,
                    self.model_path(config), self.model_setting.replace("_", "-"))
        return ""


REGISTRY: dict[str, TrackerKind] = {
    "face": TrackerKind(FaceTracker, cfg.BUNDLED_FACE_MODEL, cfg.BUNDLED_FACE_MODEL_SHA256, "face_model"),
    "pose": TrackerKind(PoseTracker, cfg.BUNDLED_POSE_MODEL, cfg.BUNDLED_POSE_MODEL_SHA256, "pose_model"),
    "hands": TrackerKind(HandTracker, cfg.BUNDLED_HAND_MODEL, cfg.BUNDLED_HAND_MODEL_SHA256, "hand_model"),
}
assert REGISTRY.keys() == TRACKS.keys(), "every wire track needs a tracker (and only those)"


def build(names: tuple[str, ...], config: LandmarkerConfig) -> dict[str, Tracker]:
    """The trackers this worker runs, their models read and checked now (a bad file fails at start)."""
    trackers = {}
    for name in names:
        kind = REGISTRY[name]
        model = load_model(kind.model_path(config), kind.expected_sha256(config, name), name)
        trackers[name] = kind.make(model, config)
    return trackers


def _points(landmarks, with_scores: bool = False) -> np.ndarray:
    """MediaPipe landmarks as float32 rows of x, y, z (and visibility, presence)."""
    if with_scores:
        return np.array([(p.x, p.y, p.z, p.visibility or 0.0, p.presence or 0.0) for p in landmarks],
                        np.float32)
    return np.array([(p.x, p.y, p.z) for p in landmarks], np.float32)


def _face(result: vision.FaceLandmarkerResult, index: int) -> Face:
    blendshapes = np.array([c.score for c in result.face_blendshapes[index]], dtype=np.float32)
    matrix = np.asarray(result.facial_transformation_matrixes[index], dtype=np.float32).reshape(16)
    return Face(_points(result.face_landmarks[index]), blendshapes, matrix)
