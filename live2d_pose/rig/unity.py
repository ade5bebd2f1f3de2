"""RETARGET to Unity's humanoid: a motion -> HumanBodyBones rotations and VRM 0.x blend shapes.

This is what the VMC protocol carries (VSeeFace, VNyan, Warudo and
VMagicMirror load VRM 0.x avatars in Unity):

- Bones. The state's frame is VRM 1.0's normalized humanoid (right-handed,
  +Y up, facing +Z, the subject's left at +X). Unity is left-handed with the
  same Y and Z and the avatar's left at -X: the same body seen through a
  mirror across the YZ plane. So each rotation goes through quat.flip_x,
  (x, y, z, w) -> (x, -y, -z, w), and VRM 1.0 bone names become
  HumanBodyBones names (VRM 1.0's thumb metacarpal is Unity's thumb proximal).
  A normalized VRM 0.x humanoid has identity rest rotations in its T-pose, as
  the state's bones do, so the local rotations carry over unchanged.
- The hips' position (metres in the room, docs/rig.md "Hips position"): the
  same mirror, x -> -x.
- Blend shapes: the VRM 0.x presets from the state's VRM 1.0 expressions
  (Joy = happy, Sorrow = sad, ...), and for Perfect Sync the 52 ARKit clips,
  named like ARKit with a capital first letter (EyeBlinkLeft), the
  convention VSeeFace, VMagicMirror and Warudo read.

The motion is already the avatar's view (the gateway mirrors it when asked,
motion.py), so the user's right hand raises the mirrored avatar's left arm,
on the screen's right.
"""

from __future__ import annotations

from live2d_pose.rig.motion import Motion
from live2d_pose.rig.quat import flip_x
from live2d_pose.rig.solve import BLENDSHAPE_NAMES, BONES


def _unity_name(bone: str) -> str:
    for vrm1, unity in (("ThumbProximal", "ThumbIntermediate"), ("ThumbMetacarpal", "ThumbProximal")):
        if bone.endswith(vrm1):
            bone = bone[: -len(vrm1)] + unity
            break
    return bone[0].upper() + bone[1:]


UNITY_BONES = {bone: _unity_name(bone) for bone in BONES}  # VRM 1.0 name -> HumanBodyBones name

# VRM 0.x preset -> the state's VRM 1.0 expression. VRM 1.0's "relaxed" (VRM 0.x Fun) has no
# source in the blendshapes the state uses, so Fun is sent as 0.
VRM0_PRESETS = {
    "Blink_L": "blinkLeft",
    "Blink_R": "blinkRight",
    "A": "aa",
    "I": "ih",
    "U": "ou",
    "E": "ee",
    "O": "oh",
    "Joy": "happy",
    "Angry": "angry",
    "Sorrow": "sad",
    "Fun": None,
}
# MediaPipe has no tongue: TongueOut is sent as 0 so a Perfect Sync avatar gets all 52.
PERFECT_SYNC = {name: name[0].upper() + name[1:] for name in BLENDSHAPE_NAMES[1:]}


def unity_bones(motion: Motion) -> dict[str, tuple]:
    """HumanBodyBones name -> Unity local rotation (x, y, z, w) for every bone the motion holds
    (a bone never seen is not in it)."""
    return {UNITY_BONES.get(name) or _unity_name(name): flip_x(q) for name, q in motion.bones.items()}


def unity_position(motion: Motion) -> tuple | None:
    """The hips' position in Unity's space (metres, the room's floor at y = 0), or None before any."""
    p = motion.hips_position
    return None if p is None else (-p[0], p[1], p[2])


def vrm0_blends(motion: Motion, perfect_sync: bool = False) -> dict[str, float]:
    """Blend shape name -> 0..1 for /VMC/Ext/Blend/Val; empty while no face has been seen (the
    receiver keeps its own)."""
    if not (motion.seen.get("face") or any(motion.blendshapes.values())):
        return {}
    blends = {
        preset: (motion.expressions.get(source, 0.0) if source else 0.0) for preset, source in VRM0_PRESETS.items()
    }
    if perfect_sync:
        for name, clip in PERFECT_SYNC.items():
            blends[clip] = min(1.0, max(0.0, motion.blendshapes.get(name, 0.0)))
        blends["TongueOut"] = 0.0
    return blends
