"""The reference skeleton that motion files carry: VRM 1.0 humanoid bones at the VRM T-pose.

A VRMA or BVH file needs a skeleton: bone offsets at rest. The body state
(docs/rig.md) has none, only rotations relative to the T-pose, so files carry
this one: an adult about 1.7 m tall, standing at the origin on the floor,
facing +Z, arms straight out along ±X, palms down, thumbs forward, in metres.
Every bone's rest rotation is identity (VRM T-pose, the normalized humanoid),
so a bone's local rotation in a file is the state's rotation as it is.

The hips' position is the rig's (docs/rig.md): metres in the room, the floor
at y = 0, MediaPipe's average adult standing with the hips ROOM_HIPS_HEIGHT
above it. Files carry it on this skeleton, scaled by the ratio of the hips'
heights (TO_SKELETON), the way players put it on an avatar:
three-vrm-animation scales a .vrma's hips by the avatar's hips height over
the file's; BVH importers keep the file's proportions.
"""

from __future__ import annotations

from dataclasses import dataclass

from live2d_pose.rig.contract import REST_HIPS_POSITION

Vec = tuple[float, float, float]

# The eye point (lookAt's origin) relative to the head bone, as VRMC_vrm_animation's offsetFromHeadBone.
LOOK_AT_OFFSET: Vec = (0.0, 0.07, 0.09)
# Where a leaf bone ends, relative to its joint (a BVH End Site; also the rest direction of the limb).
END_SITES: dict[str, Vec] = {"head": (0.0, 0.2, 0.0), "Toes": (0.0, 0.0, 0.05), "Distal": (0.025, 0.0, 0.0)}

FINGER_JOINTS = ("Proximal", "Intermediate", "Distal")

# (bone, parent, global rest position) for the trunk and the subject's LEFT side (+X); the right
# side is the mirror image. Every parent comes before its children.
_TRUNK: tuple[tuple[str, str | None, Vec], ...] = (
    ("hips", None, (0.0, 0.95, 0.0)),
    ("spine", "hips", (0.0, 1.05, 0.0)),
    ("chest", "spine", (0.0, 1.18, 0.0)),
    ("upperChest", "chest", (0.0, 1.30, 0.0)),
    ("neck", "upperChest", (0.0, 1.44, 0.0)),
    ("head", "neck", (0.0, 1.54, 0.0)),
)
_FINGER_ROWS = {"Index": (0.025, 1.0), "Middle": (0.008, 1.08), "Ring": (-0.01, 1.0), "Little": (-0.027, 0.8)}


def _left_side() -> list[tuple[str, str, Vec]]:
    bones = [
        ("Shoulder", "upperChest", (0.02, 1.40, 0.0)),
        ("UpperArm", "Shoulder", (0.16, 1.40, 0.0)),
        ("LowerArm", "UpperArm", (0.43, 1.40, 0.0)),
        ("Hand", "LowerArm", (0.68, 1.40, 0.0)),
        ("ThumbMetacarpal", "Hand", (0.70, 1.39, 0.025)),
        ("ThumbProximal", "ThumbMetacarpal", (0.73, 1.39, 0.05)),
        ("ThumbDistal", "ThumbProximal", (0.755, 1.39, 0.07)),
    ]
    for finger, (z, length) in _FINGER_ROWS.items():
        x = 0.775
        for joint, step in zip(FINGER_JOINTS, (0.0, 0.04, 0.025)):
            x += step * length
            parent = "Hand" if joint == "Proximal" else f"{finger}{FINGER_JOINTS[FINGER_JOINTS.index(joint) - 1]}"
            bones.append((f"{finger}{joint}", parent, (round(x, 4), 1.40, z)))
    bones += [
        ("UpperLeg", "hips", (0.09, 0.90, 0.0)),
        ("LowerLeg", "UpperLeg", (0.09, 0.50, 0.0)),
        ("Foot", "LowerLeg", (0.09, 0.08, 0.0)),
        ("Toes", "Foot", (0.09, 0.02, 0.12)),
    ]
    return bones


@dataclass(frozen=True)
class Bone:
    name: str
    parent: str | None
    position: Vec  # global, at rest (m)

    def offset(self, skeleton: dict[str, Bone]) -> Vec:
        """The rest translation from the parent's joint (the glTF node's translation, the BVH OFFSET)."""
        p = skeleton[self.parent].position if self.parent else (0.0, 0.0, 0.0)
        return tuple(round(a - b, 6) for a, b in zip(self.position, p))

    def end_site(self) -> Vec | None:
        """The end of a leaf bone, relative to its joint; None for a bone with children."""
        for suffix, end in END_SITES.items():
            if self.name.endswith(suffix):
                sign = -1.0 if self.name.startswith("right") and suffix == "Distal" else 1.0
                return (end[0] * sign, end[1], end[2])
        return None


def _build() -> dict[str, Bone]:
    bones = {name: Bone(name, parent, pos) for name, parent, pos in _TRUNK}
    trunk = set(bones)
    for side, sx in (("left", 1.0), ("right", -1.0)):
        for name, parent, (x, y, z) in _left_side():
            bone = f"{side}{name}"
            bones[bone] = Bone(bone, parent if parent in trunk else f"{side}{parent}", (x * sx, y, z))
    return bones


SKELETON: dict[str, Bone] = _build()
HUMANOID_BONES: tuple[str, ...] = tuple(SKELETON)  # parents first

# The rig's rest hips (contract.json's restHipsPosition, docs/rig.md "Hips position"): where a standing
# person's hips are in the room.
ROOM_REST_HIPS: Vec = tuple(REST_HIPS_POSITION)
ROOM_HIPS_HEIGHT = ROOM_REST_HIPS[1]
# A position in the room -> on this skeleton (its standing hips are at SKELETON["hips"], 0.95 m).
TO_SKELETON = SKELETON["hips"].position[1] / ROOM_HIPS_HEIGHT


def humanoid_parent(name: str, present) -> str | None:
    """The nearest ancestor of ``name`` (VRM humanoid) that is in ``present``: the bone a file's
    rotation is relative to when intermediate bones (upperChest, shoulders) are missing."""
    parent = SKELETON[name].parent if name in SKELETON else None
    while parent is not None and parent not in present:
        parent = SKELETON[parent].parent
    return parent
