"""SOLVE: the latest face, pose and hands -> one neutral body state.

docs/rig.md is its contract; tests/test_rig_contract.py holds it there on
the recorded fixtures. Pure: no clock, no state between calls. Sides are the subject's
own; mirroring is a retarget option (mirror_state).

The frame is VRM 1.0's normalized humanoid: right-handed, metres, +Y up, the
subject facing +Z, their left at +X. Bones are VRM 1.0 names with local
rotations relative to the T-pose; a bone that was not seen is absent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from live2d_pose.rig import contract
from live2d_pose.rig.eyes import eye_openness
from live2d_pose.rig.quat import (
    DEG, IDENTITY, arc, axis_angle, clamp, conjugate, cross, dot, frame, from_basis, half, length, mid,
    multiply, normalize, rotate, scale, smoothstep, sub, flip_x,
)

STATE_VERSION = 2
TRACKERS = ("face", "pose", "hands")
VISIBLE = 0.5
UP = (0.0, 1.0, 0.0)

# MediaPipe's blendshape order (ARKit names; "Left" is the subject's left), EXPRESSIONS and REST:
# contract.json, which the viewer page reads too.
BLENDSHAPE_NAMES = contract.BLENDSHAPE_NAMES


@dataclass(frozen=True)
class Side:
    shoulder: int
    elbow: int
    wrist: int
    d0: tuple  # the arm's rest direction
    b0: tuple  # its rest bend axis: a rotation about it swings the arm's tip forward (+Z)
    finger: tuple  # the fingers' curl axis
    thumb: tuple  # the thumb's curl axis


SIDES = {
    "left": Side(11, 13, 15, (1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, -1.0), normalize((1.0, 0.0, -1.0))),
    "right": Side(12, 14, 16, (-1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), normalize((1.0, 0.0, 1.0))),
}
FINGERS = {"Index": (5, 6, 7, 8), "Middle": (9, 10, 11, 12), "Ring": (13, 14, 15, 16), "Little": (17, 18, 19, 20)}
FINGER_JOINTS = ("Proximal", "Intermediate", "Distal")
THUMB = (1, 2, 3, 4)
THUMB_JOINTS = ("ThumbMetacarpal", "ThumbProximal", "ThumbDistal")
FINGER_LIMITS = (-20 * DEG, 110 * DEG)
THUMB_LIMITS = (0.0, 90 * DEG)
PALM_REST_C0 = (0.0, 0.0, -1.0)  # palm down, thumb forward: the little finger is behind

BONES = ("hips", "spine", "chest", "neck", "head") + tuple(
    f"{s}{b}" for s in ("left", "right") for b in (
        ("UpperArm", "LowerArm", "Hand") + THUMB_JOINTS
        + tuple(f"{f}{j}" for f in FINGERS for j in FINGER_JOINTS)))
EXPRESSIONS = contract.EXPRESSIONS
# Rest rotations for absent channels (docs/rig.md "Rest values"): the arms hang down.
REST = contract.REST


def rest_rotation(bone: str):
    return REST.get(bone, IDENTITY)


@dataclass
class BodyState:
    """docs/rig.md's state. ``bones`` holds only what was seen."""

    t: float = 0.0
    # each tracker's result time (ms), None for a tracker whose result is not part of this state
    times: dict[str, float | None] = field(default_factory=lambda: dict.fromkeys(TRACKERS))
    seen: dict[str, bool] = field(default_factory=lambda: {"face": False, "pose": False, "leftHand": False,
                                                           "rightHand": False})
    bones: dict[str, tuple] = field(default_factory=dict)
    expressions: dict[str, float] = field(default_factory=dict)
    gaze: dict[str, float] | None = None
    blendshapes: dict[str, float] | None = None
    version: int = STATE_VERSION

    def to_dict(self) -> dict:
        return {"version": self.version, "t": self.t, "times": dict(self.times), "seen": dict(self.seen), "bones": dict(self.bones),
                "expressions": dict(self.expressions), "gaze": self.gaze, "blendshapes": self.blendshapes}


def _points(array, stride: int) -> list[tuple[float, float, float]]:
    """MediaPipe world points (x right, y down, z away) -> the rig's frame: (x, -y, -z)."""
    rows = array.reshape(-1, stride).tolist()
    return [(r[0], -r[1], -r[2]) for r in rows]


def _r01(v: float, lo: float, hi: float) -> float:
    return clamp((v - lo) / (hi - lo), 0.0, 1.0)


def _avg(a: float, b: float) -> float:
    return (a + b) / 2


def signed_angle(v1, v2, k) -> float:
    """Signed angle from v1 to v2 about unit axis k, both projected onto the plane normal to k."""
    p1 = sub(v1, scale(k, dot(v1, k)))
    p2 = sub(v2, scale(k, dot(v2, k)))
    return math.atan2(dot(k, cross(p1, p2)), dot(p1, p2))


def unsigned_angle(v1, v2) -> float:
    return math.atan2(length(cross(v1, v2)), dot(v1, v2))


# ------------------------------------------------------------------ torso and arms


def solve_pose(pose) -> tuple[dict, tuple | None, dict]:
    """wire.Pose -> (bones, the chest's global rotation or None, {side: lower arm global rotation})."""
    bones: dict[str, tuple] = {}
    visibility = pose.landmarks[:, 3].tolist()
    P = _points(pose.world, 3)

    def vis(i: int) -> bool:
        return visibility[i] >= VISIBLE

    C = None
    if vis(11) and vis(12):
        hips_seen = vis(23) and vis(24)
        up = sub(mid(P[11], P[12]), mid(P[23], P[24])) if hips_seen else UP
        C = frame(sub(P[11], P[12]), up)
        H = frame(sub(P[23], P[24]), UP) if hips_seen else IDENTITY
        if hips_seen:
            bones["hips"] = H
        torso = half(multiply(conjugate(H), C))
        bones["spine"] = torso
        bones["chest"] = torso
    parent = C if C is not None else IDENTITY
    lower_arms = {}
    for side, s in SIDES.items():
        if not (vis(s.shoulder) and vis(s.elbow)):
            continue
        u = normalize(sub(P[s.elbow], P[s.shoulder]))
        swing = arc(s.d0, u)
        U = swing
        f = None
        if vis(s.wrist):
            f = normalize(sub(P[s.wrist], P[s.elbow]))
            n = cross(u, f)
            sin_bend = length(n)
            if sin_bend > 1e-6:
                b = scale(n, 1 / sin_bend)
                bs = rotate(swing, s.b0)
                phi = math.atan2(dot(u, cross(bs, b)), dot(bs, b))
                U = multiply(axis_angle(u, smoothstep(0.17, 0.5, sin_bend) * phi), swing)
        bones[f"{side}UpperArm"] = multiply(conjugate(parent), U)
        if f is not None:
            L = multiply(arc(rotate(U, s.d0), f), U)
            bones[f"{side}LowerArm"] = multiply(conjugate(U), L)
            lower_arms[side] = L
    return bones, C, lower_arms


# ------------------------------------------------------------------ hands


def assign_hands(hands, pose) -> dict:
    """{"left": hand or None, "right": ...}: by the nearest pose wrist in the image, else by label."""
    out = {"left": None, "right": None}
    if not hands:
        return out
    if pose is None:
        for hand in hands:
            side = "left" if hand.handedness == "Left" else "right"
            if out[side] is None:
                out[side] = hand
        return out
    lm = pose.landmarks

    def dist(hand, i: int) -> float:
        return math.hypot(float(hand.landmarks[0, 0]) - float(lm[i, 0]), float(hand.landmarks[0, 1]) - float(lm[i, 1]))

    candidates = []
    for hand in hands[:2]:
        dl, dr = dist(hand, SIDES["left"].wrist), dist(hand, SIDES["right"].wrist)
        candidates.append((min(dl, dr), "left" if dl <= dr else "right", hand))
    candidates.sort(key=lambda c: c[0])  # stable, like Array.prototype.sort
    for _, side, hand in candidates:
        if out[side] is not None:
            side = "right" if side == "left" else "left"
        if out[side] is None:
            out[side] = hand
    return out


def solve_hand(hand, side: str) -> tuple[tuple, dict]:
    """One hand -> (the palm's global rotation, its finger bones' local rotations)."""
    s = SIDES[side]
    Q = _points(hand.world, 3)
    d = sub(Q[9], Q[0])
    c = sub(Q[17], Q[5])
    palm = multiply(frame(d, c), conjugate(frame(s.d0, PALM_REST_C0)))
    dh = normalize(d)
    ch = normalize(sub(c, scale(dh, dot(c, dh))))
    k = ch if side == "left" else scale(ch, -1)
    bones = {}
    for name, idx in FINGERS.items():
        prev = sub(Q[idx[0]], Q[0])
        for j in range(3):
            seg = sub(Q[idx[j + 1]], Q[idx[j]])
            theta = clamp(signed_angle(prev, seg, k), *FINGER_LIMITS)
            bones[f"{side}{name}{FINGER_JOINTS[j]}"] = axis_angle(s.finger, theta)
            prev = seg
    prev = sub(Q[THUMB[0]], Q[0])
    for j in range(3):
        seg = sub(Q[THUMB[j + 1]], Q[THUMB[j]])
        theta = clamp(unsigned_angle(prev, seg), *THUMB_LIMITS)
        bones[f"{side}{THUMB_JOINTS[j]}"] = axis_angle(s.thumb, theta)
        prev = seg
    return palm, bones


# ------------------------------------------------------------------ face


def head_rotation(matrix) -> tuple:
    """The facial transformation matrix (row-major 4x4, 16 values) -> the head's global rotation."""
    m = [float(v) for v in matrix]
    return from_basis(*(normalize((m[j], m[4 + j], m[8 + j])) for j in range(3)))


def blendshape_map(scores) -> dict[str, float]:
    return dict(zip(BLENDSHAPE_NAMES, (float(v) for v in scores)))


def solve_expressions(bs: dict[str, float]) -> tuple[dict, dict]:
    """Blendshapes -> (VRM preset expressions, gaze), docs/rig.md's table."""
    opened = _r01(bs["jawOpen"], 0.05, 0.5)
    rounded = _r01(max(bs["mouthFunnel"], bs["mouthPucker"]), 0.1, 0.5)
    wide = _r01(_avg(bs["mouthStretchLeft"], bs["mouthStretchRight"])
                + _avg(bs["mouthSmileLeft"], bs["mouthSmileRight"]), 0.1, 0.6)
    happy = _r01(_avg(bs["mouthSmileLeft"], bs["mouthSmileRight"]), 0.2, 0.7)
    angry = _r01(_avg(bs["browDownLeft"], bs["browDownRight"]), 0.2, 0.6) * (1 - happy)
    expressions = {
        "blinkLeft": 1 - eye_openness(bs["eyeBlinkLeft"]),  # each eye its own (eyes.py: winks show,
        "blinkRight": 1 - eye_openness(bs["eyeBlinkRight"]),  # a one-result blink still closes)
        "aa": opened * (1 - rounded) * (1 - 0.5 * wide),
        "ih": wide * opened * (1 - rounded),
        "ou": rounded * (1 - opened),
        "ee": wide * (1 - opened) * (1 - rounded),
        "oh": opened * rounded,
        "happy": happy,
        "angry": angry,
        "sad": _r01(_avg(bs["mouthFrownLeft"], bs["mouthFrownRight"]) + 0.5 * bs["browInnerUp"], 0.2, 0.7)
        * (1 - happy),
        "surprised": _r01(_avg(bs["eyeWideLeft"], bs["eyeWideRight"]) + 0.5 * bs["browInnerUp"], 0.3, 0.8)
        * (1 - angry),
    }
    gaze = {
        "yaw": (25 * (bs["eyeLookOutLeft"] + bs["eyeLookInRight"] - bs["eyeLookInLeft"] - bs["eyeLookOutRight"])) / 2,
        "pitch": (20 * (bs["eyeLookUpLeft"] + bs["eyeLookUpRight"] - bs["eyeLookDownLeft"]
                        - bs["eyeLookDownRight"])) / 2,
    }
    return expressions, gaze


# ------------------------------------------------------------------ the whole state


SAME_AS_POSE = object()  # solve()'s default for face_pose and hands_pose


def solve(face=None, pose=None, hands=(), t: float = 0.0, times: dict | None = None,
          face_pose=SAME_AS_POSE, hands_pose=SAME_AS_POSE) -> BodyState:
    """The latest result of each tracker -> docs/rig.md's body state.

    ``face``/``pose``: one wire.Face / wire.Pose or None; ``hands``: wire.Hand list; ``t`` in ms;
    ``times``: {tracker: its result's time in ms, or None when it is not part of this state}.
    ``face_pose`` / ``hands_pose``: the pose result of the face's / the hands' own frame when it
    is not ``pose`` (the head is taken relative to its chest; the hands are sided and hinged by
    it); default ``pose``.
    """
    times = times or {}
    state = BodyState(t=t, times={k: _finite_or_none(times.get(k)) for k in TRACKERS})
    face_pose = pose if face_pose is SAME_AS_POSE else face_pose
    hands_pose = pose if hands_pose is SAME_AS_POSE else hands_pose
    solved: dict[int, tuple] = {}  # each pose result solved once

    def solved_pose(p):
        if p is None:
            return None
        if id(p) not in solved:
            solved[id(p)] = solve_pose(p)
        return solved[id(p)]

    if pose is not None:
        state.bones.update(solved_pose(pose)[0])
        state.seen["pose"] = True
    if face is not None:
        state.seen["face"] = True
        if face.matrix is not None:
            chest = (solved_pose(face_pose) or (None, None, None))[1]
            rel = half(multiply(conjugate(chest if chest is not None else IDENTITY), head_rotation(face.matrix)))
            state.bones["neck"] = rel
            state.bones["head"] = rel
        if face.blendshapes is not None:
            bs = blendshape_map(face.blendshapes)
            state.expressions, state.gaze = solve_expressions(bs)
            state.blendshapes = bs
    by_side = assign_hands(hands, hands_pose)
    lower_arms = (solved_pose(hands_pose) or (None, None, {}))[2]
    for side in ("left", "right"):
        hand = by_side[side]
        if hand is None:
            continue
        palm, bones = solve_hand(hand, side)
        state.bones.update(bones)
        if side in lower_arms:
            state.bones[f"{side}Hand"] = multiply(conjugate(lower_arms[side]), palm)
        state.seen[f"{side}Hand"] = True
    return state


def _finite_or_none(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


# ------------------------------------------------------------------ mirror


def swap_side(name: str) -> str:
    if name.startswith("left"):
        return "right" + name[4:]
    if name.startswith("right"):
        return "left" + name[5:]
    return name


def swap_suffix(name: str) -> str:
    if name.endswith("Left"):
        return name[:-4] + "Right"
    if name.endswith("Right"):
        return name[:-5] + "Left"
    return name


def mirror_state(state: BodyState) -> BodyState:
    """The state of the mirror image (docs/rig.md "Mirror"); mirroring twice gives the original."""
    seen = dict(state.seen)
    seen["leftHand"], seen["rightHand"] = state.seen["rightHand"], state.seen["leftHand"]
    return BodyState(
        t=state.t, times=dict(state.times), seen=seen, version=state.version,
        bones={swap_side(name): flip_x(q) for name, q in state.bones.items()},
        expressions={swap_suffix(k): v for k, v in state.expressions.items()},
        gaze={"yaw": -state.gaze["yaw"], "pitch": state.gaze["pitch"]} if state.gaze else None,
        blendshapes={swap_suffix(k): v for k, v in state.blendshapes.items()} if state.blendshapes else None,
    )
