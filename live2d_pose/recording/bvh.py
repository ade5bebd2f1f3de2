"""BVH files (.bvh): the take on skeleton.py's bones, for Blender, three.js and the DCC tools.

The usual layout, as Blender's importer and three.js's BVHLoader read it:

- HIERARCHY: ``hips`` is the ROOT with six channels (``Xposition Yposition
  Zposition Zrotation Xrotation Yrotation``), every other joint three
  (``Zrotation Xrotation Yrotation``). Joints are VRM 1.0 humanoid bone names
  at skeleton.py's T-pose rest (metres by default; ``scale=100`` for
  centimetres). Legs and feet are always there (at rest when not tracked);
  the fingers only when a hand was tracked; a leaf joint has an End Site.
  The root's OFFSET is zero and its position channels are the hips' world
  position (the two readers disagree on adding the OFFSET to them otherwise):
  the rig's position in the room scaled onto the skeleton (its rest height,
  0.95 m, where the rig's is 0.80 m), or the skeleton's rest without one.
- Axes: Y up, the body facing +Z, its left at +X (docs/rig.md's frame, and
  three.js's). Blender's importer, with its defaults (forward -Z, up Y), turns
  this into its Z up with the body facing -Y: Blender's front view.
- Rotations: each joint's local rotation relative to the T-pose (the body
  state's, as it is: every rest rotation is identity), as ZXY Euler angles in
  degrees: the rotation is ``Rz · Rx · Ry``, applied to the joint's offsets in
  the order listed, as both readers compose them. Angles are unwrapped along
  the take (no jump of 360°).
- MOTION: one frame per ``1 / fps`` s (default 30), resampled from the take.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from live2d_pose.recording.motion import DEFAULT_FPS, Motion, is_hand_bone, matrices
from live2d_pose.recording.skeleton import HUMANOID_BONES, SKELETON, TO_SKELETON

ROOT_CHANNELS = "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"
JOINT_CHANNELS = "CHANNELS 3 Zrotation Xrotation Yrotation"
HAND_END = 0.1  # a hand written without fingers ends this far along the arm (m)


def joints(fingers: bool) -> list[str]:
    """The BVH joints, depth first (the order of the MOTION columns)."""
    kept = [b for b in HUMANOID_BONES if fingers or not is_hand_bone(b) or b.endswith("Hand")]
    order: list[str] = []

    def walk(name: str) -> None:
        order.append(name)
        for child in kept:
            if SKELETON[child].parent == name:
                walk(child)

    walk("hips")
    return order


def zxy_degrees(q: np.ndarray) -> np.ndarray:
    """Quaternions (n x 4) -> ZXY Euler angles (n x 3: z, x, y; degrees) with R = Rz·Rx·Ry, unwrapped
    along n (three.js's Euler 'ZXY' decomposition)."""
    m = matrices(q)
    m21 = np.clip(m[:, 2, 1], -1.0, 1.0)
    x = np.arcsin(m21)
    regular = np.abs(m21) < 0.9999999
    y = np.where(regular, np.arctan2(-m[:, 2, 0], m[:, 2, 2]), 0.0)
    z = np.where(regular, np.arctan2(-m[:, 0, 1], m[:, 1, 1]), np.arctan2(m[:, 1, 0], m[:, 0, 0]))
    return np.degrees(np.unwrap(np.stack([z, x, y], axis=-1), axis=0))


def _hierarchy(order: list[str], scale: float) -> list[str]:
    lines = ["HIERARCHY"]

    def vec(v) -> str:
        return " ".join(f"{c * scale:.6f}" for c in v)

    def joint(name: str, depth: int) -> None:
        pad = "\t" * depth
        bone = SKELETON[name]
        if bone.parent is None:
            lines.extend([f"ROOT {name}", "{", f"\tOFFSET {vec((0.0, 0.0, 0.0))}", f"\t{ROOT_CHANNELS}"])
        else:
            lines.extend(
                [
                    f"{pad}JOINT {name}",
                    f"{pad}{{",
                    f"{pad}\tOFFSET {vec(bone.offset(SKELETON))}",
                    f"{pad}\t{JOINT_CHANNELS}",
                ]
            )
        kids = [c for c in order if SKELETON[c].parent == name]
        for child in kids:
            joint(child, depth + 1)
        if not kids:
            end = bone.end_site() or (HAND_END if name.startswith("left") else -HAND_END, 0.0, 0.0)
            lines.extend([f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET {vec(end)}", f"{pad}\t}}"])
        lines.append(f"{pad}}}")

    joint("hips", 0)
    return lines


def write_bvh(
    path: str | Path, motion: Motion, fps: float = DEFAULT_FPS, scale: float = 1.0, fingers: bool | None = None
) -> None:
    """Write ``motion`` (a take, any sample times) as a .bvh at ``fps``. ``scale``: units per metre
    (1: metres, 100: centimetres). ``fingers``: include the finger joints (default: when a hand
    was tracked)."""
    frames = motion.resampled(fps)
    order = joints(motion.hands_tracked if fingers is None else fingers)
    hips = frames.hips * TO_SKELETON if frames.hips is not None else np.asarray(SKELETON["hips"].position)
    columns = [np.broadcast_to(hips * scale, (len(frames), 3))]
    columns += [zxy_degrees(frames.rotations(name)) for name in order]
    table = np.concatenate(columns, axis=1)
    lines = _hierarchy(order, scale)
    lines += ["MOTION", f"Frames: {len(frames)}", f"Frame Time: {1.0 / fps:.8f}"]
    lines += [" ".join(f"{v:.4f}" for v in row) for row in table.tolist()]
    Path(path).write_text("\n".join(lines) + "\n", encoding="ascii")
