"""RETARGET to Live2D: a body state -> Live2D standard parameters, the twin of web/src/rig.js.

The VTube Studio plugin reads these (VTS's default mappings feed its tracking
parameters to the same Live2D ids), so a VTS model moves like the viewer's
Live2D avatar. Parameter ids, ranges and formulas are rig.js's: ParamAngleX +
turns the face to the screen's right, ParamAngleY + up, ParamAngleZ + tilts
to the screen's right; eyes 0 closed .. 1 open; eyeballs -1..1 (+ right / up);
mouth open 0..1, form -1 (frown) .. 1 (smile); brows -1..1 (+ raised).

The head's angles come from the state's neck · head rotation (docs/rig.md:
the facial matrix), as intrinsic yaw-pitch-roll in the rig's frame.

Mirror (default on): the avatar moves like your reflection. Turn to your left
and it turns to the screen's left; close your right eye and its left eye (on
the screen's right) closes.
"""

from __future__ import annotations

from live2d_pose.rig.quat import clamp, multiply, to_yaw_pitch_roll
from live2d_pose.rig.solve import BodyState

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


def remap01(v: float, lo: float, hi: float) -> float:
    return clamp((v - lo) / (hi - lo), 0.0, 1.0)


def head_angles(state: BodyState) -> tuple[float, float, float] | None:
    """(yaw, pitch, roll) degrees of neck · head; yaw + toward the subject's left, pitch + down."""
    neck, head = state.bones.get("neck"), state.bones.get("head")
    if neck is None or head is None:
        return None
    return to_yaw_pitch_roll(multiply(neck, head))


def stabilize_blink(left: float, right: float, head_yaw_rad: float, max_rot: float = 0.5,
                    wink_threshold: float = 0.8) -> tuple[float, float]:
    """KalidoKit's Face.stabilizeBlink as rig.js calls it (the image's left and right eyes).

    Turned far, the far eye is unreliable and both copy the near one; otherwise
    both follow the more closed eye unless they differ like a wink.
    ``head_yaw_rad`` is positive toward the image's left.
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


def live2d_params(state: BodyState, mirror: bool = True) -> dict[str, float]:
    """One (unmirrored) body state -> Live2D parameters; NEUTRAL where nothing was seen."""
    p = dict(NEUTRAL)
    sx = 1.0 if mirror else -1.0  # horizontal sign: screen-space mirror or not
    angles = head_angles(state)
    yaw = 0.0
    if angles is not None:
        yaw, pitch, roll = angles
        p["ParamAngleX"] = -sx * yaw  # mirrored, a turn to your left shows to the screen's left
        p["ParamAngleY"] = -pitch
        p["ParamAngleZ"] = sx * roll
        for axis in "XYZ":
            p[f"ParamBodyAngle{axis}"] = p[f"ParamAngle{axis}"] * BODY_FOLLOW
    bs = state.blendshapes
    if bs:
        _face_params(p, bs, yaw, sx, mirror)
    for name, (lo, hi) in RANGES.items():
        value = p[name]
        p[name] = clamp(value if value == value else NEUTRAL[name], lo, hi)  # NaN -> rest
    return p


def _face_params(p: dict, bs: dict, yaw: float, sx: float, mirror: bool) -> None:
    # Eyes, in image terms first: the image's left eye is the subject's right. MediaPipe's
    # blink score idles at ~0.05-0.2 open and rarely reaches 1 closed: 0.15..0.6 -> open..closed.
    img_left_open = 1.0 - remap01(bs["eyeBlinkRight"], 0.15, 0.6)
    img_right_open = 1.0 - remap01(bs["eyeBlinkLeft"], 0.15, 0.6)
    stable_l, stable_r = stabilize_blink(img_left_open, img_right_open, -yaw * 3.141592653589793 / 180)
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
