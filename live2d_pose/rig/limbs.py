"""SOLVE for the body: one pose result (and the hands found with it) -> torso, arm and leg bones.

Pure, like the rest of SOLVE: no clock, no state. docs/rig.md is the
contract ("Torso", "Arms", "Legs", "Confidence"). Every part of the body gets
a confidence in 0..1; a part's bones are reported when it reaches FAINT, and
the smoothing stage (presence.py) decides with hysteresis which parts the
avatar follows and which rest.

Three things MediaPipe's pose does not say plainly, handled here:

- **In the picture.** A landmark outside the image counts as unseen whatever
  its visibility says: MediaPipe reports an elbow at y = 1.37, below the
  frame, with visibility 0.6 (gesture_video.mp4). Inside, a landmark's
  confidence is its visibility, cut where its ``presence`` is low (below
  PRESENT): MediaPipe guesses an arm that is just out of the frame at the
  image's edge with visibility 0.5-0.7 but presence 0.05-0.25 (the
  astronaut), where points it sees plainly have presence 0.5-1.
- **A hand vouches for its arm.** An arm held out toward the camera has its
  elbow below the frame (the thumbs-up); MediaPipe then also invents the
  other, unseen arm, its wrist in the middle of the picture with a higher
  visibility than the real one. So an elbow outside the image is taken only
  when the Hand Landmarker found that side's hand, in the picture.
- **Depth.** MediaPipe's world landmarks foreshorten a limb that points at
  the camera: the thumbs-up's upper arm measures 0.15 m where it is 0.25 m
  in profile, and the arm looks folded. Limb lengths are known (MediaPipe's
  world landmarks are sized to one average adult: NOMINAL), so a segment much
  shorter than its length gets back the depth it lacks, on the side
  MediaPipe's own depth points to (restore_depth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from live2d_pose.rig.quat import (
    IDENTITY,
    arc,
    axis_angle,
    clamp,
    conjugate,
    cross,
    dot,
    frame,
    half,
    length,
    mid,
    multiply,
    normalize,
    rotate,
    scale,
    smoothstep,
    sub,
)

UP = (0.0, 1.0, 0.0)
DOWN = (0.0, -1.0, 0.0)
FORWARD = (0.0, 0.0, 1.0)
SEEN = 0.5  # a part whose confidence reaches this is followed (presence.py); MediaPipe's visibility threshold
FAINT = 0.3  # below this a part is not reported at all
PRESENT = (0.1, 0.4)  # a landmark's presence below the first counts for nothing, above the second in full

# Segment lengths of MediaPipe's world landmarks (metres; medians on the project's clips, rounded down:
# upper arm 0.23-0.27, forearm 0.23-0.24, thigh 0.38-0.40, shin 0.36-0.39).
NOMINAL = {"upperArm": 0.25, "lowerArm": 0.23, "upperLeg": 0.38, "lowerLeg": 0.36}
FORESHORTENED = (0.55, 0.8)  # share of its length a segment shows in the picture: fully restored .. untouched

KNEE_LIMITS = (0.0, 150 * math.pi / 180)  # a knee bends backward only
HIP_TWIST_LIMIT = 45 * math.pi / 180  # the thigh's turn about its own axis, either way
ANKLE_PITCH_LIMITS = (-25 * math.pi / 180, 50 * math.pi / 180)  # toes up (dorsiflexion) .. down (plantar)
ANKLE_YAW_LIMIT = 30 * math.pi / 180  # toes in / out
# MediaPipe's heel (29/30) sits higher on the foot than its toe tip (31/32): standing, heel -> toe points
# about 20 degrees below the plane normal to the shin (sports2d_demo.mp4, straight legs). That is the foot's rest.
FOOT_REST_PITCH = 20 * math.pi / 180
# How much the foot's and the hips' forward directions count against the knee's bend (weight: the sine of
# the bend) when choosing which way a leg faces: from about 8 degrees of bend the knee decides, a straighter
# leg faces where its foot does. Measured: with 0.35 / 0.15 the unsmoothed shins were 6.4 degrees from
# MediaPipe's on sports2d_demo.mp4 (the hinge lost what the foot pulled aside), with these 2.9, and the
# sitting photo's thigh twisted less.
FOOT_WEIGHT = 0.1
HIPS_WEIGHT = 0.04


@dataclass(frozen=True)
class Arm:
    shoulder: int
    elbow: int
    wrist: int
    d0: tuple  # the arm's rest direction
    b0: tuple  # its rest bend axis: a rotation about it swings the arm's tip forward (+Z)


@dataclass(frozen=True)
class Leg:
    hip: int
    knee: int
    ankle: int
    heel: int
    toe: int  # MediaPipe's "foot index": the tip of the toes


ARMS = {
    "left": Arm(11, 13, 15, (1.0, 0.0, 0.0), (0.0, -1.0, 0.0)),
    "right": Arm(12, 14, 16, (-1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
}
LEGS = {"left": Leg(23, 25, 27, 29, 31), "right": Leg(24, 26, 28, 30, 32)}

# The parts the confidence is given for, and the bones of each (fingers: solve.py's hands).
POSE_PARTS = {
    "torso": ("spine", "chest"),
    "hips": ("hips",),
    **{
        f"{side}{seg}": (f"{side}{seg}",)
        for side in ("left", "right")
        for seg in ("UpperArm", "LowerArm", "UpperLeg", "LowerLeg")
    },
    **{f"{side}Foot": (f"{side}Foot", f"{side}Toes") for side in ("left", "right")},
}


@dataclass
class PoseSolution:
    bones: dict = field(default_factory=dict)
    confidence: dict = field(default_factory=dict)  # part -> 0..1, for every part of POSE_PARTS
    chest: tuple | None = None  # the chest's global rotation, when the torso is seen
    lower_arms: dict = field(default_factory=dict)  # side -> the lower arm's global rotation
    landmarks: Landmarks | None = None  # what it was solved from


class Landmarks:
    """One pose result: world points in the rig's frame and each landmark's confidence."""

    def __init__(self, pose):
        rows = pose.landmarks.tolist()
        self.image = [(r[0], r[1]) for r in rows]
        self.conf = [r[3] * smoothstep(*PRESENT, r[4]) if in_image(r[0], r[1]) else 0.0 for r in rows]
        self.P = [(r[0], -r[1], -r[2]) for r in pose.world.tolist()]  # MediaPipe world -> (x, -y, -z)

    def c(self, *indices: int) -> float:
        """The confidence of several landmarks together: the least of theirs."""
        return min(self.conf[i] for i in indices)


def in_image(x: float, y: float) -> bool:
    return 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0


def restore_depth(v, nominal: float):
    """A segment MediaPipe foreshortened along the camera's axis, with the depth it lacks given back.

    The image plane's part (x, y) is what the picture shows; z is MediaPipe's guess and runs short.
    When the picture shows the segment much shorter than ``nominal`` (FORESHORTENED: fully below 0.55
    of it, not at all above 0.8), z grows until the length is right, on the side z already points
    to; as that side becomes clear (|z| from 0.1 to 0.3 of the length). Elsewhere the segment is left
    alone: stretching a modest z would turn MediaPipe's depth noise into large swings.
    """
    planar = math.hypot(v[0], v[1])
    if planar >= FORESHORTENED[1] * nominal:
        return v
    full = math.sqrt(nominal * nominal - planar * planar)
    dz = v[2]
    if abs(dz) >= full:
        return v
    w = (1 - smoothstep(*FORESHORTENED, planar / nominal)) * smoothstep(0.1, 0.3, abs(dz) / nominal)
    return (v[0], v[1], dz + w * (math.copysign(full, dz) - dz))


def twist_about(axis, reference, target) -> float:
    """The signed angle about unit ``axis`` from ``reference`` to ``target`` (both projected)."""
    r = sub(reference, scale(axis, dot(reference, axis)))
    t = sub(target, scale(axis, dot(target, axis)))
    return math.atan2(dot(axis, cross(r, t)), dot(r, t))


# ------------------------------------------------------------------ torso


def solve_torso(lm: Landmarks, out: PoseSolution) -> tuple:
    """Chest and hips (docs/rig.md "Torso"); returns the hips' global rotation (identity when unseen)."""
    P = lm.P
    hips_conf = lm.c(23, 24)
    out.confidence["hips"] = hips_conf
    out.confidence["torso"] = torso_conf = lm.c(11, 12)
    hips_seen = hips_conf >= FAINT
    H = frame(sub(P[23], P[24]), UP) if hips_seen else IDENTITY
    if hips_seen:
        out.bones["hips"] = H
    if torso_conf >= FAINT:
        # up: toward the shoulders from the hips as MediaPipe places them, in the picture or not (only a
        # direction: a seated person's lean shows even with the hips below the frame)
        up = sub(mid(P[11], P[12]), mid(P[23], P[24]))
        out.chest = C = frame(sub(P[11], P[12]), up)
        torso = half(multiply(conjugate(H), C))
        out.bones["spine"] = torso
        out.bones["chest"] = torso
    return H


# ------------------------------------------------------------------ arms


def solve_arm(lm: Landmarks, side: str, hand_conf: float, out: PoseSolution) -> None:
    """One arm (docs/rig.md "Arms"). ``hand_conf``: that side's hand found in the picture (0 if not)."""
    a = ARMS[side]
    P = lm.P
    upper_conf = min(lm.c(a.shoulder), max(lm.c(a.elbow), hand_conf))
    lower_conf = min(upper_conf, max(lm.c(a.wrist), hand_conf))
    out.confidence[f"{side}UpperArm"] = upper_conf
    out.confidence[f"{side}LowerArm"] = lower_conf
    if upper_conf < FAINT:
        return
    u = normalize(restore_depth(sub(P[a.elbow], P[a.shoulder]), NOMINAL["upperArm"]))
    swing = arc(a.d0, u)
    U = swing
    f = None
    if lower_conf >= FAINT:
        f = normalize(restore_depth(sub(P[a.wrist], P[a.elbow]), NOMINAL["lowerArm"]))
        n = cross(u, f)
        sin_bend = length(n)
        if sin_bend > 1e-6:  # the twist that puts the elbow's hinge in the bend's plane, faded in with the bend
            b = scale(n, 1 / sin_bend)
            bs = rotate(swing, a.b0)
            phi = math.atan2(dot(u, cross(bs, b)), dot(bs, b))
            U = multiply(axis_angle(u, smoothstep(0.17, 0.5, sin_bend) * phi), swing)
    parent = out.chest if out.chest is not None else IDENTITY
    out.bones[f"{side}UpperArm"] = multiply(conjugate(parent), U)
    if f is not None:
        L = multiply(arc(rotate(U, a.d0), f), U)
        out.bones[f"{side}LowerArm"] = multiply(conjugate(U), L)
        out.lower_arms[side] = L


# ------------------------------------------------------------------ legs


def leg_facing(u, f, hips, toe_dir) -> tuple:
    """Which way the knee cap faces: the bend's plane when the knee is bent, else the foot's and
    the hips' forward directions. Each term is a vector normal to the thigh ``u``: the bend's has
    the length sin(bend), so it takes over smoothly as the knee bends, and a straight leg never flips."""
    bend = scale(sub(f, scale(u, dot(f, u))), -1.0)  # the shin swings back, away from the knee cap
    total = bend
    for direction, weight in ((toe_dir, FOOT_WEIGHT), (rotate(hips, FORWARD), HIPS_WEIGHT)):
        if direction is not None:
            across = sub(direction, scale(u, dot(direction, u)))
            n = length(across)
            if n > 1e-6:
                total = (
                    total[0] + across[0] * weight / n,
                    total[1] + across[1] * weight / n,
                    total[2] + across[2] * weight / n,
                )
    return total


def thigh_rotation(u, facing, hips) -> tuple:
    """The upper leg's global rotation: rest down (-Y) onto ``u``, the knee cap (+Z) toward
    ``facing``, with the turn about the thigh's own axis limited to HIP_TWIST_LIMIT from the hips'."""
    swing = arc(rotate(hips, DOWN), u)
    base = multiply(swing, hips)  # the hips' orientation carried down the thigh: no twist
    twist = twist_about(u, rotate(base, FORWARD), facing)
    return multiply(axis_angle(u, clamp(twist, -HIP_TWIST_LIMIT, HIP_TWIST_LIMIT)), base)


def knee_angle(U, f) -> float:
    """The knee's bend: the shin's angle behind the thigh, about the thigh's hinge (its local +X)."""
    local = rotate(conjugate(U), f)
    return clamp(math.atan2(-local[2], -local[1]), *KNEE_LIMITS)


def foot_rotation(L, toe_dir) -> tuple:
    """The foot's local rotation under the shin ``L``: its pitch and turn from heel -> toe, within
    an ankle's range; it does not roll (three points on a foot do not show it)."""
    g = rotate(conjugate(L), toe_dir)
    pitch = math.atan2(-g[1], math.hypot(g[0], g[2])) - FOOT_REST_PITCH
    yaw = math.atan2(g[0], g[2])
    return multiply(
        axis_angle(UP, clamp(yaw, -ANKLE_YAW_LIMIT, ANKLE_YAW_LIMIT)),
        axis_angle((1.0, 0.0, 0.0), clamp(pitch, *ANKLE_PITCH_LIMITS)),
    )


def solve_leg(lm: Landmarks, side: str, hips: tuple, out: PoseSolution) -> None:
    """One leg (docs/rig.md "Legs"): upper leg, a hinged knee, the foot within an ankle's range, toes."""
    g = LEGS[side]
    P = lm.P
    upper_conf = min(out.confidence["hips"], lm.c(g.knee))
    lower_conf = min(upper_conf, lm.c(g.ankle))
    foot_conf = min(lower_conf, lm.c(g.heel, g.toe))
    for part, conf in (("UpperLeg", upper_conf), ("LowerLeg", lower_conf), ("Foot", foot_conf)):
        out.confidence[f"{side}{part}"] = conf
    if upper_conf < FAINT:
        return
    u = normalize(restore_depth(sub(P[g.knee], P[g.hip]), NOMINAL["upperLeg"]))
    f = normalize(restore_depth(sub(P[g.ankle], P[g.knee]), NOMINAL["lowerLeg"])) if lower_conf >= FAINT else u
    toe_dir = normalize(sub(P[g.toe], P[g.heel])) if foot_conf >= FAINT else None
    U = thigh_rotation(u, leg_facing(u, f, hips, toe_dir), hips)
    out.bones[f"{side}UpperLeg"] = multiply(conjugate(hips), U)
    if lower_conf < FAINT:
        return
    knee = axis_angle((1.0, 0.0, 0.0), knee_angle(U, f))
    out.bones[f"{side}LowerLeg"] = knee
    if toe_dir is not None:
        out.bones[f"{side}Foot"] = foot_rotation(multiply(U, knee), toe_dir)
        out.bones[f"{side}Toes"] = IDENTITY  # MediaPipe has no point past the toes' joint: they stay straight


# ------------------------------------------------------------------ the whole pose


def solve_pose(pose, hand_conf: dict | None = None, body: PoseSolution | None = None) -> PoseSolution:
    """wire.Pose (+ {side: confidence of that side's hand in the picture}) -> bones and confidences.
    ``body``: the pose's solve_body, when made already (a pose is solved again when its frame's hands
    arrive: only its arms change)."""
    body = body or solve_body(pose)
    out = PoseSolution(
        bones=dict(body.bones), confidence=dict(body.confidence), chest=body.chest, landmarks=body.landmarks
    )
    hand_conf = hand_conf or {}
    assert body.landmarks is not None  # solve_body always keeps the landmarks it solved
    for side in ARMS:
        solve_arm(body.landmarks, side, hand_conf.get(side, 0.0), out)
    return out


def solve_body(pose) -> PoseSolution:
    """A pose's torso and legs: all but its arms, which its frame's hands vouch for."""
    lm = Landmarks(pose)
    out = PoseSolution(landmarks=lm)
    hips = solve_torso(lm, out)
    for side in LEGS:
        solve_leg(lm, side, hips, out)
    return out


def midfoot(lm: Landmarks, side: str) -> tuple | None:
    """The middle of a seen foot (between its heel and toe tip): (world point, image point), or None.
    One point that does not jump from heel to toe as the foot rolls."""
    g = LEGS[side]
    if lm.c(g.heel, g.toe) < SEEN:
        return None
    world = tuple((a + b) / 2 for a, b in zip(lm.P[g.heel], lm.P[g.toe]))
    image = tuple((a + b) / 2 for a, b in zip(lm.image[g.heel], lm.image[g.toe]))
    return world, image
