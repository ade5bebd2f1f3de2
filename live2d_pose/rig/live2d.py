"""RETARGET to Live2D: the viewer's Live2D parameters, for the VTube Studio plugin.

The viewer (web/src/main.js) builds them in two parts, and so does this port:

- face_params: rig.js's rigFromSolved from the blendshapes (eyes per eye via
  eyes.py, gaze, mouth, cheek, eye-smile, brows), smoothed per result with
  filter.py's FilterBank, as main.js's ResultSmoother does;
- live2d_params: retarget-live2d.js's live2dParams: the head angles from the
  smoothed state's neck · head (the facial matrix), the body angles from
  spine · chest plus a little of the head, over the face parameters.

Ids, ranges and conventions are rig.js's: ParamAngleX + turns the face to the
screen's right, ParamAngleY + up, ParamAngleZ + tilts to the screen's right;
eyes 0 closed .. 1 open; eyeballs -1..1; mouth open 0..1; form -1 .. 1; brows
-1..1. Mirror (default on): the avatar moves like your reflection.
"""

from __future__ import annotations

import math

from live2d_pose.rig.eyes import solve_eyes
from live2d_pose.rig.quat import IDENTITY, clamp, multiply, to_yaw_pitch_roll
from live2d_pose.rig.solve import BodyState, mirror_state

RANGES = {
    "ParamAngleX": (-30.0, 30.0), "ParamAngleY": (-30.0, 30.0), "ParamAngleZ": (-30.0, 30.0),
    "ParamBodyAngleX": (-10.0, 10.0), "ParamBodyAngleY": (-10.0, 10.0), "ParamBodyAngleZ": (-10.0, 10.0),
    "ParamEyeLOpen": (0.0, 1.0), "ParamEyeROpen": (0.0, 1.0),
    "ParamEyeLSmile": (0.0, 1.0), "ParamEyeRSmile": (0.0, 1.0),
    "ParamEyeBallX": (-1.0, 1.0), "ParamEyeBallY": (-1.0, 1.0),
    "ParamBrowLY": (-1.0, 1.0), "ParamBrowRY": (-1.0, 1.0),
    "ParamMouthOpenY": (0.0, 1.0), "ParamMouthForm": (-1.0, 1.0), "ParamCheek": (0.0, 1.0),
}
NEUTRAL = {
    "ParamAngleX": 0.0, "ParamAngleY": 0.0, "ParamAngleZ": 0.0,
    "ParamBodyAngleX": 0.0, "ParamBodyAngleY": 0.0, "ParamBodyAngleZ": 0.0,
    "ParamEyeLOpen": 1.0, "ParamEyeROpen": 1.0, "ParamEyeLSmile": 0.0, "ParamEyeRSmile": 0.0,
    "ParamEyeBallX": 0.0, "ParamEyeBallY": 0.0, "ParamBrowLY": 0.0, "ParamBrowRY": 0.0,
    "ParamMouthOpenY": 0.0, "ParamMouthForm": 0.3, "ParamCheek": 0.0,
}
BODY_FOLLOW = 0.3  # the body follows the head a little (the KalidoKit demo's dampener)
ANGLE_RANGE = 30.0
BODY_RANGE = 10.0


def remap01(v: float, lo: float, hi: float) -> float:
    return clamp((v - lo) / (hi - lo), 0.0, 1.0)


def eye_stabilizer_yaw(state: BodyState) -> float:
    """The head's yaw as KalidoKit's head.y, which eyes.py expects (radians, + toward the image's left).

    The viewer takes it from KalidoKit's landmark geometry; here from the facial
    matrix (neck · head), the same angle within a few degrees. It only matters
    past eyes.py's turnedYawRad (about 29 degrees).
    """
    neck, head = state.bones.get("neck"), state.bones.get("head")
    if neck is None or head is None:
        return 0.0
    return -math.radians(to_yaw_pitch_roll(multiply(neck, head))[0])


def face_params(bs: dict[str, float], head_yaw_rad: float = 0.0, mirror: bool = True) -> dict[str, float]:
    """rig.js's rigFromSolved with blendshapes (its head angles are replaced by live2d_params)."""
    p = dict(NEUTRAL)
    sx = 1.0 if mirror else -1.0  # horizontal sign: screen-space mirror or not
    eyes = solve_eyes(bs, head_yaw_rad, mirror)
    p["ParamEyeLOpen"], p["ParamEyeROpen"] = eyes.left, eyes.right

    # Subject looks toward the image's right = their own left: their left eye looks out.
    toward_image_right = (bs["eyeLookOutLeft"] + bs["eyeLookInRight"] - bs["eyeLookInLeft"]
                          - bs["eyeLookOutRight"]) / 2
    up = (bs["eyeLookUpLeft"] + bs["eyeLookUpRight"] - bs["eyeLookDownLeft"] - bs["eyeLookDownRight"]) / 2
    p["ParamEyeBallX"] = -sx * toward_image_right * 1.6
    p["ParamEyeBallY"] = up * 1.6

    p["ParamMouthOpenY"] = remap01(bs["jawOpen"] - 0.5 * bs["mouthClose"], 0.03, 0.5)
    smile = (bs["mouthSmileLeft"] + bs["mouthSmileRight"]) / 2
    frown = (bs["mouthFrownLeft"] + bs["mouthFrownRight"]) / 2
    narrow = max(bs["mouthPucker"], bs["mouthFunnel"])
    p["ParamMouthForm"] = clamp(1.4 * smile - 1.6 * frown - 0.6 * narrow, -1.0, 1.0)
    p["ParamCheek"] = remap01(smile + (bs["cheekSquintLeft"] + bs["cheekSquintRight"]) / 2, 0.4, 1.2)
    eye_smile_img_left = remap01(bs["cheekSquintRight"] + bs["eyeSquintRight"] * 0.5, 0.2, 0.8)
    eye_smile_img_right = remap01(bs["cheekSquintLeft"] + bs["eyeSquintLeft"] * 0.5, 0.2, 0.8)
    p["ParamEyeLSmile"] = eye_smile_img_left if mirror else eye_smile_img_right
    p["ParamEyeRSmile"] = eye_smile_img_right if mirror else eye_smile_img_left

    brow_img_left = 0.8 * bs["browInnerUp"] + bs["browOuterUpRight"] - 1.5 * bs["browDownRight"]
    brow_img_right = 0.8 * bs["browInnerUp"] + bs["browOuterUpLeft"] - 1.5 * bs["browDownLeft"]
    p["ParamBrowLY"] = (brow_img_left if mirror else brow_img_right) * 1.5
    p["ParamBrowRY"] = (brow_img_right if mirror else brow_img_left) * 1.5

    for name, (lo, hi) in RANGES.items():
        value = p[name]
        p[name] = clamp(value if math.isfinite(value) else NEUTRAL[name], lo, hi)
    return p


def live2d_angles(q) -> tuple[float, float, float]:
    """Live2D-convention angles (degrees) of a rotation in the avatar's frame: (x, y, z)."""
    yaw, pitch, roll = to_yaw_pitch_roll(q)
    return yaw, -pitch, -roll


def live2d_params(face: dict[str, float], state: BodyState, mirror: bool = True) -> dict[str, float]:
    """retarget-live2d.js's live2dParams: head and body angles from the (smoothed) state over ``face``."""
    s = mirror_state(state) if mirror else state
    p = dict(face)
    head = live2d_angles(multiply(s.bones.get("neck", IDENTITY), s.bones.get("head", IDENTITY)))
    torso = live2d_angles(multiply(s.bones.get("spine", IDENTITY), s.bones.get("chest", IDENTITY)))
    for axis, h, t in zip("XYZ", head, torso):
        p[f"ParamAngle{axis}"] = clamp(h, -ANGLE_RANGE, ANGLE_RANGE)
        p[f"ParamBodyAngle{axis}"] = clamp(t + BODY_FOLLOW * h, -BODY_RANGE, BODY_RANGE)
    return p
