"""Face -> head rotation and expressions, the server-side twin of web/src/rig.js.

Input: one wire.Face (478 landmarks, 52 MediaPipe blendshapes, the 4x4 facial
transformation matrix). Outputs, all from the same numbers so every app shows
the same face:

- the head's rotation (from the matrix, not from landmark geometry: MediaPipe
  already fitted its canonical face to the landmarks), as a quaternion in the
  camera frame and as Live2D's three angles;
- Live2D standard parameters (ParamAngleX ... ParamCheek), the same map,
  ranges and formulas as rig.js's rigFromSolved; the VTube Studio plugin
  turns them into VTS's tracking parameters;
- the VRM 0.x preset expressions (Blink_L ... Fun) and the 52 ARKit names for
  Perfect Sync, for the VMC protocol.

Sides. MediaPipe's ARKit names use the subject's sides; the camera frame is
MediaPipe's (x toward the image's right, y up, z toward the camera). Mirror
(the default, like the viewer and every VTuber app) makes the avatar the
user's reflection: turn to your left and it turns to the screen's left, close
your right eye and the avatar's left eye closes. docs/outputs.md has the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from live2d_pose.rig import quat

# MediaPipe's blendshape order (ARKit names; "Left" is the subject's left).
BLENDSHAPE_NAMES = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight",
    "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight",
    "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft",
    "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight", "mouthPucker",
    "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft",
    "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft",
    "noseSneerRight",
)
BLENDSHAPE_INDEX = {name: i for i, name in enumerate(BLENDSHAPE_NAMES)}

# Live2D standard parameters: the ranges rig.js clamps to (RANGES) and its rest pose (NEUTRAL).
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
BODY_FOLLOW = 0.3  # the body follows the head a little (rig.js, the KalidoKit demo's dampener)

VRM0_PRESETS = ("Blink_L", "Blink_R", "A", "I", "U", "E", "O", "Joy", "Angry", "Sorrow", "Fun")
# Perfect Sync: one VRM BlendShapeClip per ARKit shape, named like ARKit with a capital first
# letter (hinzka's convention, which VSeeFace, VMagicMirror and Warudo read). MediaPipe
# has no tongue; TongueOut is sent as 0 so the set is the full 52.
PERFECT_SYNC_NAMES = tuple(n[0].upper() + n[1:] for n in BLENDSHAPE_NAMES[1:]) + ("TongueOut",)


@dataclass
class FaceRig:
    """Everything the outputs need from one face."""

    head: np.ndarray  # quaternion (x, y, z, w), MediaPipe camera frame, avatar faces +z at rest
    position_cm: np.ndarray  # the face's origin in the camera frame (x right, y up, z toward camera)
    params: dict[str, float]  # Live2D standard parameters, mirrored as asked
    blendshapes: dict[str, float]  # MediaPipe's 52 scores by name (subject's sides)
    presets: dict[str, float]  # VRM 0.x presets, avatar's sides
    perfect_sync: dict[str, float]  # 52 ARKit clip names, avatar's sides


def clamp(v: float, lo: float, hi: float) -> float:
    return lo if v < lo else hi if v > hi else v


def remap01(v: float, lo: float, hi: float) -> float:
    """Linear map of [lo, hi] onto [0, 1], clamped (rig.js remap01)."""
    return clamp((v - lo) / (hi - lo), 0.0, 1.0)


def head_angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a 3x3 rotation, MediaPipe's camera frame.

    R = Ry(yaw) Rx(pitch) Rz(roll). yaw > 0: the face turns toward the image's
    right (the subject's left); pitch > 0: it looks down; roll > 0: it tilts
    counter-clockwise in the image (toward the subject's right shoulder).
    """
    yaw = np.arctan2(rotation[0, 2], rotation[2, 2])
    pitch = np.arcsin(clamp(-rotation[1, 2], -1.0, 1.0))
    roll = np.arctan2(rotation[1, 0], rotation[1, 1])
    return float(np.degrees(yaw)), float(np.degrees(pitch)), float(np.degrees(roll))


def solve_face(face, mirror: bool = True) -> FaceRig:
    """One wire.Face -> FaceRig."""
    matrix = np.asarray(face.matrix, dtype=float).reshape(4, 4)  # row-major, translation in column 3
    rotation = matrix[:3, :3]
    bs = {name: float(face.blendshapes[i]) for i, name in enumerate(BLENDSHAPE_NAMES)}
    params = live2d_params(rotation, bs, mirror)
    return FaceRig(head=quat.from_matrix(rotation), position_cm=matrix[:3, 3].copy(), params=params,
                   blendshapes=bs, presets=vrm0_presets(params, bs, mirror),
                   perfect_sync=perfect_sync(bs, mirror))


def live2d_params(rotation: np.ndarray, bs: dict[str, float], mirror: bool = True) -> dict[str, float]:
    """rig.js's rigFromSolved with blendshapes, the head taken from the facial matrix."""
    p = dict(NEUTRAL)
    sx = 1.0 if mirror else -1.0  # horizontal sign: screen-space mirror or not
    yaw, pitch, roll = head_angles(rotation)
    p["ParamAngleX"] = -sx * yaw  # mirrored, a turn to the image's right shows to the screen's left
    p["ParamAngleY"] = -pitch
    p["ParamAngleZ"] = sx * roll
    for axis in "XYZ":
        p[f"ParamBodyAngle{axis}"] = p[f"ParamAngle{axis}"] * BODY_FOLLOW

    # Eyes, in image terms first: the image's left eye is the subject's right.
    # MediaPipe's blink score idles at ~0.05-0.2 open and rarely reaches 1 closed.
    img_left_open = 1.0 - remap01(bs["eyeBlinkRight"], 0.15, 0.6)
    img_right_open = 1.0 - remap01(bs["eyeBlinkLeft"], 0.15, 0.6)
    stable_l, stable_r = stabilize_blink(img_left_open, img_right_open, np.radians(-yaw))
    p["ParamEyeLOpen"] = stable_l if mirror else stable_r
    p["ParamEyeROpen"] = stable_r if mirror else stable_l

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
        p[name] = clamp(value if np.isfinite(value) else NEUTRAL[name], lo, hi)
    return p


def stabilize_blink(left: float, right: float, head_yaw_rad: float, max_rot: float = 0.5,
                    wink_threshold: float = 0.8) -> tuple[float, float]:
    """KalidoKit's Face.stabilizeBlink, as rig.js calls it (image-left and image-right eyes).

    With the head turned far, the far eye is unreliable, so both copy the near
    one; otherwise both follow the more closed eye unless they differ like a wink.
    ``head_yaw_rad`` is KalidoKit's head.y: positive toward the image's left.
    """
    left, right = clamp(left, 0.0, 1.0), clamp(right, 0.0, 1.0)
    if head_yaw_rad > max_rot:
        return right, right
    if head_yaw_rad < -max_rot:
        return left, left
    closing = left < 0.3 and right < 0.3
    opened = left > 0.6 and right > 0.6
    if abs(left - right) >= wink_threshold and not closing and not opened:
        return left, right
    t = 0.95 if right > left else 0.05
    both = right + (left - right) * t
    return both, both


def vrm0_presets(params: dict[str, float], bs: dict[str, float], mirror: bool = True) -> dict[str, float]:
    """The VRM 0.x preset expressions, avatar's sides, each 0..1.

    Blinks are the Live2D eye parameters inverted (so both outputs blink
    alike). The vowels split the mouth's opening by its shape: round (pucker,
    funnel) goes to U / O, wide (stretch, smile) to I / E, the rest to A. The
    emotions are thresholded blendshape sums.
    """
    opening = params["ParamMouthOpenY"]
    smile = (bs["mouthSmileLeft"] + bs["mouthSmileRight"]) / 2
    frown = (bs["mouthFrownLeft"] + bs["mouthFrownRight"]) / 2
    round_ = clamp(max(bs["mouthPucker"], bs["mouthFunnel"]) * 1.5, 0.0, 1.0)
    wide = clamp((bs["mouthStretchLeft"] + bs["mouthStretchRight"]) / 2 * 2.0 + smile, 0.0, 1.0)
    brow_down = (bs["browDownLeft"] + bs["browDownRight"]) / 2
    squint = (bs["eyeSquintLeft"] + bs["eyeSquintRight"]) / 2
    presets = {
        "Blink_L": 1.0 - params["ParamEyeLOpen"],
        "Blink_R": 1.0 - params["ParamEyeROpen"],
        "A": opening * (1.0 - round_) * (1.0 - wide),
        "I": wide * (1.0 - opening) * (1.0 - round_),
        "U": round_ * (1.0 - opening),
        "E": wide * opening * (1.0 - round_),
        "O": round_ * opening,
        "Joy": remap01(smile, 0.3, 0.8),
        "Angry": remap01(brow_down - smile, 0.2, 0.6),
        "Sorrow": remap01(frown + 0.5 * bs["browInnerUp"] - smile, 0.25, 0.7),
        "Fun": remap01(smile, 0.2, 0.6) * (1.0 - remap01(squint, 0.3, 0.7)),
    }
    return {name: clamp(value, 0.0, 1.0) for name, value in presets.items()}


def perfect_sync(bs: dict[str, float], mirror: bool = True) -> dict[str, float]:
    """The 52 Perfect Sync clips, avatar's sides (mirrored: the subject's Left drives the avatar's Right)."""
    out = {}
    for name, clip in zip(BLENDSHAPE_NAMES[1:], PERFECT_SYNC_NAMES):
        out[_swap_sides(clip) if mirror else clip] = clamp(bs[name], 0.0, 1.0)
    out["TongueOut"] = 0.0
    return out


def _swap_sides(name: str) -> str:
    if name.endswith("Left"):
        return name[:-4] + "Right"
    if name.endswith("Right"):
        return name[:-5] + "Left"
    return name
