"""RETARGET to Live2D: the rig's Live2D parameters, for the viewer page and the VTube Studio plugin.

Built in two parts, both here and nowhere else:

- face_params: the face's parameters from the blendshapes (eyes per eye via
  eyes.py, gaze, mouth, cheek, eye-smile, brows), which the rig smooths per
  face result with filter.py's FilterBank;
- live2d_params: the head angles from the smoothed state's neck · head (the
  facial matrix), the body angles from the upper body's rotation in the room
  (hips · spine · chest, leaned by the legs' sway: torso_in_room) plus a
  little of the head, over the face parameters.

Ids, ranges and neutral values are contract.json's (Live2D's standard
parameter list): ParamAngleX + turns the face to the screen's right,
ParamAngleY + up, ParamAngleZ + tilts to the screen's right; eyes 0 closed ..
1 open; eyeballs -1..1; mouth open 0..1; form -1 .. 1; brows -1..1.

Mirror: the rig computes the parameters of the unmirrored avatar (its left
eye shows the subject's left eye); mirror_live2d turns them into the
mirrored avatar's (like your reflection), the same as mirroring the state
first (tests/test_rig.py holds the two equal).
"""

from __future__ import annotations

import math

from live2d_pose.rig.contract import LIVE2D_NEUTRAL, LIVE2D_RANGES
from live2d_pose.rig.eyes import solve_eyes
from live2d_pose.rig.limbs import NOMINAL
from live2d_pose.rig.quat import IDENTITY, axis_angle, clamp, multiply, rotate, to_yaw_pitch_roll
from live2d_pose.rig.solve import BodyState, mirror_state

RANGES = LIVE2D_RANGES
NEUTRAL = LIVE2D_NEUTRAL
BODY_FOLLOW = 0.3  # the body follows the head a little (the KalidoKit demo's dampener)
ANGLE_RANGE = RANGES["ParamAngleX"][1]
BODY_RANGE = RANGES["ParamBodyAngleX"][1]
DOWN = (0.0, -1.0, 0.0)  # a leg's rest direction
# What the mirror image does to each parameter: left and right swap, and the horizontal ones
# (turn, tilt, the eyeballs' x) change sign.
MIRROR_SWAP = {"ParamEyeLOpen": "ParamEyeROpen", "ParamEyeLSmile": "ParamEyeRSmile", "ParamBrowLY": "ParamBrowRY"}
MIRROR_SWAP.update({right: left for left, right in MIRROR_SWAP.items()})
MIRROR_NEGATE = frozenset({"ParamAngleX", "ParamAngleZ", "ParamBodyAngleX", "ParamBodyAngleZ", "ParamEyeBallX"})


def remap01(v: float, lo: float, hi: float) -> float:
    return clamp((v - lo) / (hi - lo), 0.0, 1.0)


def eye_stabilizer_yaw(state: BodyState) -> float:
    """The head's yaw as KalidoKit's head.y, which eyes.py expects (radians, + toward the image's left).

    From the facial matrix (neck · head), which KalidoKit's landmark geometry
    agrees with within a few degrees. It only matters past eyes.py's
    turnedYawRad (about 29 degrees).
    """
    neck, head = state.bones.get("neck"), state.bones.get("head")
    if neck is None or head is None:
        return 0.0
    return -math.radians(to_yaw_pitch_roll(multiply(neck, head))[0])


def face_params(bs: dict[str, float] | None, head_yaw_rad: float = 0.0, mirror: bool = False) -> dict[str, float]:
    """The face's parameters from one face's blendshapes (the angles are live2d_params'); without
    blendshapes (the wire allows a face without them), the neutral face."""
    p = dict(NEUTRAL)
    if bs is None:
        return p
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


def leg_sway(state: BodyState) -> float:
    """How far the legs lean sideways in the room (radians about +Z, + toward the avatar's right as +Z
    turns +Y toward -X): the mean, weighted by how much each leg is followed, of the lean of the line
    from its ankle to its hip. Legs apart lean opposite ways and cancel; hips swayed over the feet lean
    both legs alike. 0 where no leg is followed (a webcam's bust)."""
    leans, weights = 0.0, 0.0
    hips = state.bones.get("hips", IDENTITY)
    for side in ("left", "right"):
        weight = min(state.parts.get(f"{side}UpperLeg", 0.0), state.parts.get(f"{side}LowerLeg", 0.0))
        if weight <= 0.0:
            continue
        thigh = multiply(hips, state.bones.get(f"{side}UpperLeg", IDENTITY))
        shin = multiply(thigh, state.bones.get(f"{side}LowerLeg", IDENTITY))
        down = [NOMINAL["upperLeg"] * a + NOMINAL["lowerLeg"] * b
                for a, b in zip(rotate(thigh, DOWN), rotate(shin, DOWN))]
        leans += weight * math.atan2(down[0], -down[1])  # the ankle-to-hip line (-down) against +Y, about +Z
        weights += weight
    return leans / max(1.0, weights)


def torso_in_room(state: BodyState) -> tuple:
    """The upper body's rotation in the room: the hips' turn and tilt with the spine's and the chest's,
    leaned by the legs' sway (the whole body swaying over the feet)."""
    chain = multiply(multiply(state.bones.get("hips", IDENTITY), state.bones.get("spine", IDENTITY)),
                     state.bones.get("chest", IDENTITY))
    return multiply(axis_angle((0.0, 0.0, 1.0), leg_sway(state)), chain)


def live2d_params(face: dict[str, float], state: BodyState, mirror: bool = False) -> dict[str, float]:
    """Every Live2D parameter: the head and body angles from the (smoothed) state over ``face``
    (face_params of the same mirror)."""
    s = mirror_state(state) if mirror else state
    p = dict(face)
    head = live2d_angles(multiply(s.bones.get("neck", IDENTITY), s.bones.get("head", IDENTITY)))
    torso = live2d_angles(torso_in_room(s))
    for axis, h, t in zip("XYZ", head, torso):
        p[f"ParamAngle{axis}"] = clamp(h, -ANGLE_RANGE, ANGLE_RANGE)
        p[f"ParamBodyAngle{axis}"] = clamp(t + BODY_FOLLOW * h, -BODY_RANGE, BODY_RANGE)
    return p


def mirror_live2d(params: dict[str, float]) -> dict[str, float]:
    """The parameters of the mirrored avatar; mirroring twice gives the original."""
    return {MIRROR_SWAP.get(name, name): -value if name in MIRROR_NEGATE else value for name, value in params.items()}
