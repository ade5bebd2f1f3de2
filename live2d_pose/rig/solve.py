"""SOLVE: the latest face, pose and hands -> one neutral body state.

docs/rig.md is its contract; tests/unit/test_rig_contract.py holds it there on
the recorded fixtures. Pure: no clock, no state between calls. Sides are the
subject's own; mirroring is a retarget option (mirror_state). The body's
torso, arms and legs are limbs.py's; where the hips stand, ground.py's; the
face and the hands are here. Every part of the body (PARTS) comes with a
confidence; presence.py, in the smoothing stage, decides from it which parts
the avatar follows.

The frame is VRM 1.0's normalized humanoid: right-handed, metres, +Y up, the
subject facing +Z, their left at +X. Bones are VRM 1.0 names with local
rotations relative to the T-pose; a bone that was not seen is absent.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar
from collections.abc import Callable

from live2d_pose import trackers
from live2d_pose.rig import contract, ground
from live2d_pose.rig.picture import PartPicture, hand_picture, mirror_picture, pose_picture
from live2d_pose.rig.eyes import eye_openness
from live2d_pose.rig.limbs import FAINT, POSE_PARTS, in_image, solve_body, solve_pose
from live2d_pose.rig.quat import (
    DEG,
    IDENTITY,
    axis_angle,
    clamp,
    conjugate,
    cross,
    dot,
    frame,
    from_basis,
    half,
    length,
    multiply,
    normalize,
    scale,
    sub,
    flip_x,
)

T = TypeVar("T")
STATE_VERSION = 3
TRACKERS = tuple(trackers.TRACKERS)  # the tracker table's names, in its order

# MediaPipe's blendshape order (ARKit names; "Left" is the subject's left), EXPRESSIONS and REST:
# contract.json, which the viewer page reads too.
BLENDSHAPE_NAMES = contract.BLENDSHAPE_NAMES


@dataclass(frozen=True)
class Side:
    wrist: int  # the pose's wrist landmark
    d0: tuple  # the arm's rest direction
    finger: tuple  # the fingers' curl axis
    thumb: tuple  # the thumb's curl axis


SIDES = {
    "left": Side(15, (1.0, 0.0, 0.0), (0.0, 0.0, -1.0), normalize((1.0, 0.0, -1.0))),
    "right": Side(16, (-1.0, 0.0, 0.0), (0.0, 0.0, 1.0), normalize((1.0, 0.0, 1.0))),
}
FINGERS = {"Index": (5, 6, 7, 8), "Middle": (9, 10, 11, 12), "Ring": (13, 14, 15, 16), "Little": (17, 18, 19, 20)}
FINGER_JOINTS = ("Proximal", "Intermediate", "Distal")
THUMB = (1, 2, 3, 4)
THUMB_JOINTS = ("ThumbMetacarpal", "ThumbProximal", "ThumbDistal")
FINGER_LIMITS = (-20 * DEG, 110 * DEG)
THUMB_LIMITS = (0.0, 90 * DEG)
PALM_REST_C0 = (0.0, 0.0, -1.0)  # palm down, thumb forward: the little finger is behind
HAND_IN_PICTURE = (0, 5, 9, 13, 17)  # the wrist and the knuckles: a hand cut off by the frame loses confidence

BONES = (
    ("hips", "spine", "chest", "neck", "head")
    + tuple(
        f"{s}{b}"
        for s in ("left", "right")
        for b in (
            ("UpperArm", "LowerArm", "Hand") + THUMB_JOINTS + tuple(f"{f}{j}" for f in FINGERS for j in FINGER_JOINTS)
        )
    )
    + tuple(f"{s}{b}" for s in ("left", "right") for b in ("UpperLeg", "LowerLeg", "Foot", "Toes"))
)
EXPRESSIONS = contract.EXPRESSIONS
# Rest rotations for absent channels (docs/rig.md "Rest values"): the arms hang down.
REST = contract.REST
REST_POSITION = contract.REST_HIPS_POSITION

# The parts of the body that are seen or not as a whole (presence.py): part -> (its bones, its tracker).
PARTS = {
    **{name: (bones, "pose") for name, bones in POSE_PARTS.items()},
    "head": (("neck", "head"), "face"),
    **{
        f"{s}Hand": (
            (f"{s}Hand",)
            + tuple(b for b in BONES if b.startswith(s) and any(f in b for f in ("Thumb",) + tuple(FINGERS))),
            "hands",
        )
        for s in ("left", "right")
    },
}


def rest_rotation(bone: str):
    return REST.get(bone, IDENTITY)


@dataclass(frozen=True)
class Anchor:
    """The parent a bone was solved against: that parent's global rotation, from the pose result of time ``t``
    (the head's chest, a hand's forearm). The smoothing stage re-expresses the bone against the avatar's
    smoothed parent of that time, so the parent's jitter does not shake it (state_filter.py)."""

    parent: tuple
    t: float | None


@dataclass
class BodyState:
    """docs/rig.md's state. ``bones`` holds only what was seen."""

    t: float = 0.0
    # each tracker's result time (ms), None for a tracker whose result is not part of this state
    times: dict[str, float | None] = field(default_factory=lambda: dict.fromkeys(TRACKERS))
    seen: dict[str, bool] = field(
        default_factory=lambda: {"face": False, "pose": False, "leftHand": False, "rightHand": False}
    )
    bones: dict[str, tuple] = field(default_factory=dict)
    expressions: dict[str, float] = field(default_factory=dict)
    gaze: dict[str, float] | None = None
    blendshapes: dict[str, float] | None = None
    version: int = STATE_VERSION
    # SOLVE: each part's confidence (0..1, every part of PARTS); the smoothed state: each part's
    # weight (1 followed, 0 at rest, between: blending; presence.py)
    parts: dict[str, float] = field(default_factory=dict)
    # the hips' position in the room, metres (ground.py); SOLVE leaves it None, the smoothing stage fills it
    hips_position: tuple | None = None
    root: ground.Root | None = None  # SOLVE's observation of where the body is, for the smoothing stage
    # for the smoothing stage too: each part's picture (picture.py), and the bones solved against another
    # result's parent (the head against its frame's chest, a hand against its frame's forearm)
    picture: dict[str, PartPicture] = field(default_factory=dict)
    anchors: dict[str, Anchor] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "t": self.t,
            "times": dict(self.times),
            "seen": dict(self.seen),
            "bones": dict(self.bones),
            "expressions": dict(self.expressions),
            "gaze": self.gaze,
            "blendshapes": self.blendshapes,
            "parts": dict(self.parts),
            "hipsPosition": list(self.hips_position) if self.hips_position is not None else None,
        }


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


# ------------------------------------------------------------------ hands


def distinct_hands(hands) -> list:
    """The hands without the same hand found twice: the Hand Landmarker sometimes reports one hand as
    two hands of the same label, their wrists a third of a hand apart (gesture_video.mp4, the thumbs-up
    at 640x360: two "Right" hands 0.08 of the image apart, the hand 0.22 long). Of two hands with one
    label whose wrists lie closer than the hand's length (wrist to middle knuckle), the likelier
    stays. Two real hands carry different labels."""
    kept: list = []
    for hand in sorted(hands, key=lambda h: -float(h.score)):
        lm = hand.landmarks
        size = math.hypot(float(lm[9, 0] - lm[0, 0]), float(lm[9, 1] - lm[0, 1]))
        if not any(
            k.handedness == hand.handedness
            and math.hypot(float(k.landmarks[0, 0] - lm[0, 0]), float(k.landmarks[0, 1] - lm[0, 1])) < size
            for k in kept
        ):
            kept.append(hand)
    return [h for h in hands if any(h is k for k in kept)]


def assign_hands(hands, pose) -> dict:
    """{"left": hand or None, "right": ...}: by the nearest pose wrist in the image, else by label
    (the same hand found twice counts once: distinct_hands)."""
    out = {"left": None, "right": None}
    hands = distinct_hands(hands or [])
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
    for _, nearest, hand in candidates:
        side = nearest if out[nearest] is None else ("right" if nearest == "left" else "left")
        if out[side] is None:
            out[side] = hand
    return out


def hand_confidence(hand) -> float:
    """The Hand Landmarker's score, cut by the share of the wrist and knuckles that are in the picture."""
    lm = hand.landmarks.tolist()
    inside = sum(in_image(lm[i][0], lm[i][1]) for i in HAND_IN_PICTURE) / len(HAND_IN_PICTURE)
    return float(hand.score) * inside


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
    wide = _r01(
        _avg(bs["mouthStretchLeft"], bs["mouthStretchRight"]) + _avg(bs["mouthSmileLeft"], bs["mouthSmileRight"]),
        0.1,
        0.6,
    )
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
        "pitch": (20 * (bs["eyeLookUpLeft"] + bs["eyeLookUpRight"] - bs["eyeLookDownLeft"] - bs["eyeLookDownRight"]))
        / 2,
    }
    return expressions, gaze


# ------------------------------------------------------------------ the whole state


class SolveCache:
    """The pieces SOLVE made of recent results. SOLVE is pure, so a piece made of the same result
    objects (and values) is the same each time; a rig solves the fresh result of every tracker at each
    of its steps, and each tracker's result brings a step. Holds the objects it was keyed by, so their
    ids stay theirs; keeps the ``size`` pieces used last."""

    def __init__(self, size: int = 64):
        self.size = size
        self.pieces: OrderedDict[tuple, tuple] = OrderedDict()

    def get(self, what: str, objects: tuple, make: Callable[[], T], values: object = ()) -> T:
        key = (what, values, *map(id, objects))
        piece = self.pieces.get(key)
        if piece is not None:
            self.pieces.move_to_end(key)
            return piece[1]
        made = make()
        self.pieces[key] = (objects, made)
        if len(self.pieces) > self.size:
            self.pieces.popitem(last=False)
        return made


class _NoCache(SolveCache):
    def get(self, what: str, objects: tuple, make: Callable[[], T], values: object = ()) -> T:
        return make()


NO_CACHE = _NoCache(0)
SAME_AS_POSE = object()  # solve()'s default for face_pose and hands_pose
SAME_AS_HANDS = object()  # and for pose_hands


def solve(
    face=None,
    pose=None,
    hands=(),
    t: float = 0.0,
    times: dict | None = None,
    face_pose=SAME_AS_POSE,
    hands_pose=SAME_AS_POSE,
    pose_hands=SAME_AS_HANDS,
    image_size: tuple[int, int] | None = None,
    pose_times: dict | None = None,
    cache: SolveCache | None = None,
) -> BodyState:
    """The latest result of each tracker -> docs/rig.md's body state.

    ``face``/``pose``: one wire.Face / wire.Pose or None; ``hands``: wire.Hand list; ``t`` in ms;
    ``times``: {tracker: its result's time in ms, or None when it is not part of this state}.
    ``face_pose`` / ``hands_pose``: the pose result of the face's / the hands' own frame when it
    is not ``pose`` (the head is taken relative to its chest; the hands are sided and hinged by
    it); default ``pose``. ``pose_hands``: the hands of the pose's own frame (a hand found vouches
    for an arm whose elbow is out of the picture), default ``hands``. ``image_size``: (width,
    height) of the pose's image, which the hips' position needs (none without it). ``pose_times``:
    {"face": t, "hands": t}, the times of ``face_pose`` and ``hands_pose`` (default: the pose's).
    ``cache``: the pieces of earlier calls (SolveCache), for a caller that solves the same results again.
    """
    times = times or {}
    cache = cache or NO_CACHE
    state = BodyState(t=t, times={k: _finite_or_none(times.get(k)) for k in TRACKERS})
    state.parts = dict.fromkeys(PARTS, 0.0)
    face_pose = pose if face_pose is SAME_AS_POSE else face_pose
    hands_pose = pose if hands_pose is SAME_AS_POSE else hands_pose
    pose_hands = tuple(hands if pose_hands is SAME_AS_HANDS else pose_hands)

    def solved_pose(p):  # each pose result solved once (with its own frame's hands)
        if p is None:
            return None
        return cache.get("pose", (p, *pose_hands), lambda: _solve_pose(p, pose_hands, cache))

    pose_times = {"face": state.times["pose"], "hands": state.times["pose"], **(pose_times or {})}
    if pose is not None:
        body = solved_pose(pose)
        state.bones.update(body.bones)
        state.parts.update(body.confidence)
        state.seen["pose"] = True
        state.root = cache.get("root", (pose,), lambda: ground.observe(pose, image_size, body.landmarks), image_size)
        state.picture.update(
            cache.get("pose picture", (pose,), lambda: pose_picture(body.landmarks, image_size), image_size)
        )
    if face is not None:
        state.seen["face"] = True
        if face.matrix is not None:
            body = solved_pose(face_pose)
            chest = body.chest if body is not None and body.chest is not None else IDENTITY
            rel = half(multiply(conjugate(chest), cache.get("head", (face,), lambda: head_rotation(face.matrix))))
            state.bones["neck"] = rel
            state.bones["head"] = rel
            state.parts["head"] = 1.0
            state.anchors["neck"] = Anchor(chest, pose_times["face"])
        if face.blendshapes is not None:
            bs, expressions, gaze = cache.get("expressions", (face,), lambda: _solve_face(face.blendshapes))
            state.expressions, state.gaze, state.blendshapes = dict(expressions), dict(gaze), dict(bs)
    by_side = assign_hands(hands, hands_pose)
    body = solved_pose(hands_pose)
    lower_arms = body.lower_arms if body is not None else {}
    for side in ("left", "right"):
        hand = by_side[side]
        if hand is None:
            continue
        confidence = cache.get("hand confidence", (hand,), partial(hand_confidence, hand))
        state.parts[f"{side}Hand"] = confidence
        state.seen[f"{side}Hand"] = True
        if confidence < FAINT:
            continue
        palm, bones = cache.get("hand", (hand,), partial(solve_hand, hand, side), (side,))
        state.bones.update(bones)
        if side in lower_arms:
            state.bones[f"{side}Hand"] = multiply(conjugate(lower_arms[side]), palm)
            state.anchors[f"{side}Hand"] = Anchor(lower_arms[side], pose_times["hands"])
        found = cache.get("hand picture", (hand,), partial(hand_picture, hand, image_size), image_size)
        if found is not None:
            state.picture[f"{side}Hand"] = found
    return state


def _solve_pose(pose, hands: tuple, cache: SolveCache):
    """One pose result, its hands' confidences from the hands of its own frame."""
    found = assign_hands(hands, pose)
    return solve_pose(
        pose,
        {s: hand_confidence(h) for s, h in found.items() if h is not None},
        cache.get("pose body", (pose,), lambda: solve_body(pose)),
    )


def _solve_face(scores) -> tuple[dict, dict, dict]:
    """The blendshapes by name, and the expressions and gaze they give."""
    bs = blendshape_map(scores)
    return (bs, *solve_expressions(bs))


def _finite_or_none(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


# ------------------------------------------------------------------ mirror


def _side_swapped(name: str) -> str:
    if name.startswith("left"):
        return "right" + name[4:]
    if name.startswith("right"):
        return "left" + name[5:]
    return name


def _suffix_swapped(name: str) -> str:
    if name.endswith("Left"):
        return name[:-4] + "Right"
    if name.endswith("Right"):
        return name[:-5] + "Left"
    return name


class _Swapped(dict):
    """name -> the other side's name: the rig's own names from a table made once (a state is mirrored
    per update and variant), any other name (a played take's) worked out as it comes, not kept."""

    def __init__(self, swap, names) -> None:
        super().__init__({name: swap(name) for name in names})
        self.swap = swap

    def __missing__(self, name: str) -> str:
        return self.swap(name)


_SIDES = _Swapped(_side_swapped, (*BONES, *PARTS))
_SUFFIXES = _Swapped(_suffix_swapped, (*BLENDSHAPE_NAMES, *EXPRESSIONS))


def swap_side(name: str) -> str:
    """leftX <-> rightX (bones, parts, tracker sides)."""
    return _SIDES[name]


def swap_suffix(name: str) -> str:
    """xLeft <-> xRight (expressions, blendshapes)."""
    return _SUFFIXES[name]


def _mirror_point(p):
    return (-p[0], p[1], p[2])


def mirror_state(state: BodyState) -> BodyState:
    """The state of the mirror image (docs/rig.md "Mirror"); mirroring twice gives the original."""
    seen = dict(state.seen)
    seen["leftHand"], seen["rightHand"] = state.seen["rightHand"], state.seen["leftHand"]
    sides, suffixes = _SIDES, _SUFFIXES
    root = state.root and ground.Root(
        _mirror_point(state.root.hips),
        {sides[s]: _mirror_point(p) for s, p in state.root.feet.items()},
        {sides[s]: (-p[0], p[1]) for s, p in state.root.soles.items()},
    )
    return BodyState(
        t=state.t,
        times=dict(state.times),
        seen=seen,
        version=state.version,
        bones={sides[name]: flip_x(q) for name, q in state.bones.items()},
        expressions={suffixes[k]: v for k, v in state.expressions.items()},
        gaze={"yaw": -state.gaze["yaw"], "pitch": state.gaze["pitch"]} if state.gaze else None,
        blendshapes={suffixes[k]: v for k, v in state.blendshapes.items()} if state.blendshapes else None,
        parts={sides[k]: v for k, v in state.parts.items()},
        hips_position=_mirror_point(state.hips_position) if state.hips_position is not None else None,
        root=root,
        picture={sides[part]: mirror_picture(part, p) for part, p in state.picture.items()},
        anchors={sides[bone]: Anchor(flip_x(a.parent), a.t) for bone, a in state.anchors.items()},
    )
