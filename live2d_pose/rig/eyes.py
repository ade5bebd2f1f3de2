"""Eyelids from MediaPipe's blendshapes.

Each eye follows its own ``eyeBlink*`` score, so winks show; the map is
steep (fully open at or below ``openBelow``, fully closed at or above
``closedAbove``, both in tuning.json) so idle jitter disappears and a blink
the blendshapes show reaches closed even when it lasts one result. The only
stabilisation: with the head turned beyond ``turnedYawRad`` the far eye copies
the near one. tests/unit/test_rig_contract.py checks them on real blinks.

Sides: ARKit names are the subject's sides. The avatar's eyes are its own
left and right; mirrored (the default, like every VTuber app) the avatar's
left eye shows the subject's right eye, so close your right eye and the eye
on the screen's right closes.
"""

from __future__ import annotations

import math
from typing import NamedTuple
from collections.abc import Mapping

from live2d_pose.rig.filter import EYE_TUNING


class Eyes(NamedTuple):
    """Openness, 1 open .. 0 closed."""

    left: float
    right: float


def eye_openness(blink: float, tuning: Mapping[str, float] = EYE_TUNING) -> float:
    """One eyeBlink score -> openness."""
    if not math.isfinite(blink):
        return 1.0
    closed = (blink - tuning["openBelow"]) / (tuning["closedAbove"] - tuning["openBelow"])
    return 1.0 - min(1.0, max(0.0, closed))


def subject_eyes(blendshapes: Mapping[str, float], tuning: Mapping[str, float] = EYE_TUNING) -> Eyes:
    """Openness of the subject's own left and right eye."""
    return Eyes(
        eye_openness(blendshapes.get("eyeBlinkLeft", 0.0), tuning),
        eye_openness(blendshapes.get("eyeBlinkRight", 0.0), tuning),
    )


def stabilize(eyes: Eyes, head_yaw_rad: float, tuning: Mapping[str, float] = EYE_TUNING) -> Eyes:
    """With the head turned far, the far eye copies the near one.

    `eyes` are the subject's; `head_yaw_rad` is KalidoKit's head.y (negative
    when the nose points to the image's right, i.e. the subject turned to their
    own left, which hides their left eye).
    """
    yaw = head_yaw_rad if math.isfinite(head_yaw_rad) else 0.0
    if yaw > tuning["turnedYawRad"]:
        return Eyes(eyes.left, eyes.left)
    if yaw < -tuning["turnedYawRad"]:
        return Eyes(eyes.right, eyes.right)
    return eyes


def solve_eyes(
    blendshapes: Mapping[str, float],
    head_yaw_rad: float = 0.0,
    mirror: bool = True,
    tuning: Mapping[str, float] = EYE_TUNING,
) -> Eyes:
    """The avatar's own left and right eye from one face's blendshapes."""
    subject = stabilize(subject_eyes(blendshapes, tuning), head_yaw_rad, tuning)
    return Eyes(subject.right, subject.left) if mirror else subject
