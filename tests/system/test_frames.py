"""live2d_pose/testing/frames.py makes real face frames: MediaPipe's FaceLandmarker
(Tasks API, VIDEO mode, the model the landmarker ships) finds a face in every
frame each function makes, the frames are deterministic and the motion smooth.

VIDEO mode tracks the face from frame to frame, so each sequence gets a fresh
landmarker, as a stream would; single frames get one each.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from live2d_pose.testing.frames import TURN_ANGLES, astronaut_frame, astronaut_frames, decode, motion, turned_frames

mp = pytest.importorskip("mediapipe")
from mediapipe.tasks.python import BaseOptions, vision  # noqa: E402

MODEL = Path(__file__).resolve().parents[2] / "services" / "landmarker" / "face_landmarker.task"


def track(frames: list[bytes]) -> list[float | None]:
    """Run one FaceLandmarker over the frames as a 30 fps video; per frame the
    head roll in degrees (from the outer eye corners), or None when no face."""
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(MODEL)), running_mode=vision.RunningMode.VIDEO, num_faces=1
    )
    rolls = []
    with vision.FaceLandmarker.create_from_options(options) as landmarker:
        for i, jpeg in enumerate(frames):
            image = cv2.cvtColor(decode(jpeg), cv2.COLOR_BGR2RGB)
            result = landmarker.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=image), i * 33)
            if not result.face_landmarks:
                rolls.append(None)
                continue
            right, left = result.face_landmarks[0][33], result.face_landmarks[0][263]
            height, width = image.shape[:2]
            rolls.append(math.degrees(math.atan2((left.y - right.y) * height, (left.x - right.x) * width)))
    return rolls


def missing(rolls):
    return [i for i, roll in enumerate(rolls) if roll is None]


@pytest.mark.parametrize(
    "count, size, seed",
    [
        (120, (640, 480), 0),
        (60, (640, 480), 7),
        (40, (320, 240), 0),
        (40, (1280, 720), 1),
        (40, (480, 640), 2),
    ],
)
def test_a_face_in_every_moving_frame(count, size, seed):
    frames = astronaut_frames(count, size=size, seed=seed)
    assert len(frames) == count and decode(frames[0]).shape == (size[1], size[0], 3)
    rolls = track(frames)
    assert missing(rolls) == []
    assert max(rolls) - min(rolls) > 8  # the head visibly rolls with the frame


@pytest.mark.parametrize("angle", [-10.0, 10.0, -25.0, 25.0])
@pytest.mark.parametrize("shift", [(-20, -20), (20, 20), (20, -20)])
@pytest.mark.parametrize("mirror", [False, True])
def test_a_face_in_single_frames(angle, shift, mirror):
    assert missing(track([astronaut_frame(angle, shift, mirror)])) == []


def test_turned_frames_have_a_face_and_visibly_change():
    frames = turned_frames()
    assert len(frames) == 2 * len(TURN_ANGLES)
    rolls = track(frames)
    assert missing(rolls) == []
    assert max(rolls) - min(rolls) > 40  # about -27 to +28 degrees
    steps = np.abs(np.diff(rolls))
    assert (steps[np.arange(len(steps)) != len(TURN_ANGLES) - 1] > 3).all(), rolls  # all but the mirror flip


def test_frames_are_deterministic_jpegs():
    assert astronaut_frames(5, seed=3) == astronaut_frames(5, seed=3)
    assert astronaut_frames(5, seed=3) != astronaut_frames(5, seed=4)
    frame = astronaut_frame(12.0, (5, -5), True, size=(320, 240), quality=60)
    assert frame[:2] == b"\xff\xd8" and frame == astronaut_frame(12.0, (5, -5), True, (320, 240), 60)
    assert len(astronaut_frame(quality=95)) > len(astronaut_frame(quality=40))
    assert decode(frame).shape == (240, 320, 3)
    with pytest.raises(ValueError):
        decode(b"not an image")


def test_motion_is_small_and_smooth():
    steps = motion(500, seed=0)
    angles = np.array([a for a, _ in steps])
    shifts = np.array([s for _, s in steps])
    assert np.abs(angles).max() <= 10 and np.abs(shifts).max() <= 20
    assert np.abs(angles).max() > 8 and np.abs(shifts).max() > 15  # it does move
    assert np.abs(np.diff(angles)).max() < 2 and np.abs(np.diff(shifts, axis=0)).max() < 4
