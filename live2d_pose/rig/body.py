"""Pose and hands -> humanoid bone rotations (Unity HumanBodyBones, local, Unity's space).

The avatar space is Unity's: left-handed, Y up, the avatar faces +Z, its
right hand at +X; every bone's rest rotation is the identity in a T-pose
(a normalized VRM 0.x humanoid, what VSeeFace, VNyan and Warudo load).
A bone's local rotation is the one relative to its parent bone.

From MediaPipe's world landmarks (metres, x toward the image's right, y down,
z away from the camera) to the avatar:
- first to the camera frame the facial matrix uses: (x, -y, -z), right-handed,
  z toward the camera, the person facing +z;
- mirrored (default): read those numbers as Unity coordinates unchanged. A
  right-handed body read in a left-handed frame is its mirror image, so the
  avatar is the user's reflection: the subject's left side drives the
  avatar's right bones;
- not mirrored: negate x as well; the subject's left drives the avatar's left.
Rotations follow the same rule: a rotation matrix keeps its numbers when
mirrored, and goes through quat.flip_x when not.

What is not seen is not posed: a bone whose landmarks MediaPipe gives low
visibility is left out (rather than sent as a rest pose).
"""

from __future__ import annotations

import numpy as np

from live2d_pose.rig import quat

VISIBLE = 0.5  # pose landmark visibility below which a joint counts as not seen
HAND_SCORE = 0.5  # hand detection score below which a hand counts as not seen

# BlazePose landmark ids, by the SUBJECT's side.
POSE = {
    "Left": {"shoulder": 11, "elbow": 13, "wrist": 15, "pinky": 17, "index": 19, "hip": 23},
    "Right": {"shoulder": 12, "elbow": 14, "wrist": 16, "pinky": 18, "index": 20, "hip": 24},
}
# Hand landmark chains: (Unity finger name, [joint ids from the knuckle to the tip]).
FINGERS = (
    ("Thumb", (1, 2, 3, 4)),
    ("Index", (5, 6, 7, 8)),
    ("Middle", (9, 10, 11, 12)),
    ("Ring", (13, 14, 15, 16)),
    ("Little", (17, 18, 19, 20)),
)
SEGMENTS = ("Proximal", "Intermediate", "Distal")

X, Y, Z = np.eye(3)
# T-pose: arms straight out, palms down, so the index side of the hand faces forward (+Z).
ARM_REST = {"Left": -X, "Right": X}
# Bending the elbow brings the forearm forward: about +Y for the left arm, -Y for the right.
ELBOW_AXIS = {"Left": Y, "Right": -Y}
HAND_ACROSS_REST = Z  # from the little finger's knuckle toward the index finger's


def _other(side: str) -> str:
    return "Right" if side == "Left" else "Left"


def to_avatar(points: np.ndarray, mirror: bool) -> np.ndarray:
    """MediaPipe world landmarks (x right, y down, z away) -> avatar space (see module doc)."""
    out = np.asarray(points, dtype=float)[:, :3] * np.array([1.0, -1.0, -1.0])
    if not mirror:
        out[:, 0] = -out[:, 0]
    return out


def camera_rotation_to_avatar(q: np.ndarray, mirror: bool) -> np.ndarray:
    """A rotation in MediaPipe's camera frame (the facial matrix) -> avatar space."""
    return q.copy() if mirror else quat.flip_x(q)


def subject_side(avatar_side: str, mirror: bool) -> str:
    """Whose landmarks drive the avatar's `avatar_side` bones."""
    return _other(avatar_side) if mirror else avatar_side


def _frame(rest_a: np.ndarray, rest_b: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """The rotation taking rest direction rest_a onto a, and rest_b (made orthogonal) onto b."""
    a = quat.normalize(a)
    b = b - np.dot(b, a) * a
    if quat.norm(a) < 1e-9 or quat.norm(b) < 1e-6:
        return None
    b = quat.normalize(b)
    rest = np.column_stack([rest_a, rest_b, quat.cross(rest_a, rest_b)])
    seen = np.column_stack([a, b, quat.cross(a, b)])
    return quat.from_matrix(seen @ rest.T)


def _local(parent_world: np.ndarray, world: np.ndarray) -> np.ndarray:
    q = quat.multiply(quat.conjugate(parent_world), world)
    return q if q[3] >= 0 else -q


class BodySolver:
    """One result's pose, hands and head -> {HumanBodyBones name: local quaternion}."""

    def __init__(self, mirror: bool = True):
        self.mirror = mirror

    def solve(self, pose=None, hands=(), head: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """`pose`: wire.Pose or None; `hands`: wire.Hand list; `head`: the facial matrix's
        quaternion (camera frame) or None. Returns only the bones that were seen."""
        bones: dict[str, np.ndarray] = {}
        chest_world = quat.IDENTITY
        lower_arm_world: dict[str, np.ndarray] = {}
        if pose is not None:
            points = to_avatar(pose.world, self.mirror)
            visible = np.asarray(pose.landmarks, dtype=float)[:, 3] >= VISIBLE
            chest_world = self._torso(points, visible, bones)
            for side in ("Left", "Right"):
                world = self._arm(side, points, visible, chest_world, bones)
                if world is not None:
                    lower_arm_world[side] = world
        if head is not None:
            self._neck_and_head(camera_rotation_to_avatar(head, self.mirror), chest_world, bones)
        for side, hand in self._hands_by_avatar_side(pose, hands).items():
            self._hand(side, hand, lower_arm_world.get(side), bones)
        return bones

    # ------------------------------------------------------------ torso

    def _torso(self, points, visible, bones) -> np.ndarray:
        """Hips, Spine and Chest; returns the chest's world rotation (identity when unseen)."""
        left, right = POSE[subject_side("Left", self.mirror)], POSE[subject_side("Right", self.mirror)]
        if not (visible[left["shoulder"]] and visible[right["shoulder"]]):
            return quat.IDENTITY
        hip_mid = (points[left["hip"]] + points[right["hip"]]) / 2
        shoulder_mid = (points[left["shoulder"]] + points[right["shoulder"]]) / 2
        up = shoulder_mid - hip_mid
        # The pelvis turns and tilts with the hip line only; the lean goes to the spine.
        hips_world = quat.IDENTITY
        if visible[left["hip"]] and visible[right["hip"]]:
            hips_world = _frame(X, Y, points[right["hip"]] - points[left["hip"]], Y)
            if hips_world is None:
                hips_world = quat.IDENTITY
            else:
                bones["Hips"] = hips_world
        chest_world = _frame(X, Y, points[right["shoulder"]] - points[left["shoulder"]], up)
        if chest_world is None:
            return hips_world
        # Spine and Chest share the bend between the pelvis and the shoulders.
        half = quat.slerp(quat.IDENTITY, _local(hips_world, chest_world), 0.5)
        bones["Spine"] = half
        bones["Chest"] = half
        return quat.multiply(hips_world, quat.multiply(half, half))

    def _neck_and_head(self, head_world, chest_world, bones) -> None:
        """The facial matrix gives the head's orientation; Neck and Head share it, half each."""
        half = quat.slerp(quat.IDENTITY, _local(chest_world, head_world), 0.5)
        bones["Neck"] = half
        bones["Head"] = half

    # ------------------------------------------------------------ arms

    def _arm(self, side, points, visible, chest_world, bones) -> np.ndarray | None:
        """UpperArm and LowerArm of the avatar's `side`; returns the lower arm's world rotation."""
        ids = POSE[subject_side(side, self.mirror)]
        if not (visible[ids["shoulder"]] and visible[ids["elbow"]]):
            return None
        upper = points[ids["elbow"]] - points[ids["shoulder"]]
        rest = ARM_REST[side]
        lower = points[ids["wrist"]] - points[ids["elbow"]] if visible[ids["wrist"]] else None
        upper_world = None
        if lower is not None:
            bend = quat.cross(upper, lower)
            if quat.norm(bend) > 0.15 * quat.norm(upper) * quat.norm(lower):
                # twist the upper arm so the elbow bends about its own hinge axis
                upper_world = _frame(rest, ELBOW_AXIS[side], upper, bend)
        if upper_world is None:  # arm straight (or forearm unseen): the twist is unknown, swing only
            swing = quat.from_to(rest, quat.rotate(quat.conjugate(chest_world), upper))
            upper_world = quat.multiply(chest_world, swing)
        bones[f"{side}UpperArm"] = _local(chest_world, upper_world)
        if lower is None:
            return None
        local_dir = quat.rotate(quat.conjugate(upper_world), lower)
        lower_local = quat.from_to(rest, local_dir)
        bones[f"{side}LowerArm"] = lower_local
        lower_world = quat.multiply(upper_world, lower_local)
        hand_world = self._hand_from_pose(side, ids, points, visible)
        if hand_world is not None:
            bones[f"{side}Hand"] = _local(lower_world, hand_world)
        return lower_world

    def _hand_from_pose(self, side, ids, points, visible) -> np.ndarray | None:
        if not (visible[ids["index"]] and visible[ids["pinky"]]):
            return None
        knuckles = (points[ids["index"]] + points[ids["pinky"]]) / 2
        return _frame(ARM_REST[side], HAND_ACROSS_REST, knuckles - points[ids["wrist"]],
                      points[ids["index"]] - points[ids["pinky"]])

    # ------------------------------------------------------------ hands

    def _hands_by_avatar_side(self, pose, hands) -> dict:
        """Which avatar hand each tracked hand drives.

        With a pose, a hand belongs to the arm whose wrist is nearest in the
        image (MediaPipe's handedness label depends on whether the camera
        mirrors); without one, the label is taken as the subject's side.
        """
        out = {}
        for hand in hands:
            if hand.score < HAND_SCORE:
                continue
            side = hand.handedness
            if pose is not None:
                wrist = np.asarray(hand.landmarks[0, :2], dtype=float)
                lm = np.asarray(pose.landmarks, dtype=float)
                side = min(("Left", "Right"),
                           key=lambda s: float(quat.norm(lm[POSE[s]["wrist"], :2] - wrist)))
            avatar_side = subject_side(side, self.mirror)  # subject_side is its own inverse
            if avatar_side not in out or hand.score > out[avatar_side].score:
                out[avatar_side] = hand
        return out

    def _hand(self, side, hand, lower_arm_world, bones) -> None:
        points = to_avatar(hand.world, self.mirror)
        along = points[9] - points[0]  # wrist -> middle finger's knuckle
        across = points[5] - points[17]  # little finger's knuckle -> index finger's
        hand_world = _frame(ARM_REST[side], HAND_ACROSS_REST, along, across)
        if hand_world is None:
            return
        if lower_arm_world is not None:
            bones[f"{side}Hand"] = _local(lower_arm_world, hand_world)
        rest = ARM_REST[side]
        thumb_rest = quat.normalize(rest + HAND_ACROSS_REST)  # the thumb points forward and out
        for finger, joints in FINGERS:
            parent_world = hand_world
            finger_rest = thumb_rest if finger == "Thumb" else rest
            for segment, (a, b) in zip(SEGMENTS, zip(joints, joints[1:])):
                direction = quat.rotate(quat.conjugate(parent_world), points[b] - points[a])
                local = quat.from_to(finger_rest, direction)
                bones[f"{side}{finger}{segment}"] = local
                parent_world = quat.multiply(parent_world, local)
