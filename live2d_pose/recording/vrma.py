"""VRM Animation files (.vrma): VRMC_vrm_animation 1.0, written with pygltflib, and read back.

A .vrma is a glTF binary (docs/recording.md has the layout):

- one node per VRM humanoid bone of skeleton.py, at the VRM T-pose rest
  (translations only, no rotation, no scale), mapped by the extension's
  ``humanoid.humanBones``;
- one animation: a LINEAR rotation track per recorded bone (the state's local
  rotation as it is: every rest rotation is identity), a translation track on
  the hips only (the hips node's position: the rig's position in the room,
  scaled onto this skeleton, skeleton.TO_SKELETON), on evenly spaced frames
  (default 30 fps, resampled from the take's times);
- one root node per expression whose translation's X is the weight (0..1):
  VRM presets under ``expressions.preset``, anything else (the 51 ARKit
  blendshapes, for Perfect Sync models) under ``expressions.custom``;
- a ``lookAt`` node (a child of the head, at the eyes) whose rotation is the
  gaze: yaw about +Y then pitch about +X (extrinsic ZXY Euler, as the spec
  says), i.e. ``Ry(yaw) · Rx(-pitch)`` for docs/rig.md's gaze (pitch + up;
  VRM's + down).

``read_motion`` reads any VRMC_vrm_animation file back, including ones whose
rest pose has rotations (it applies the spec's pose conversion, as
three-vrm-animation does); ``read_vrma`` gives body states.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pygltflib as gl

from live2d_pose.recording.motion import ARKIT, DEFAULT_FPS, Motion, continuous, interpolate, multiply
from live2d_pose.recording.skeleton import (
    HUMANOID_BONES,
    LOOK_AT_OFFSET,
    ROOM_HIPS_HEIGHT,
    SKELETON,
    TO_SKELETON,
    humanoid_parent,
)
from live2d_pose.rig.quat import DEG, IDENTITY, from_basis, normalize, to_yaw_pitch_roll
from live2d_pose.rig.solve import rest_rotation

log = logging.getLogger("live2d_pose.recording")

EXTENSION = "VRMC_vrm_animation"
SPEC_VERSION = "1.0"
READABLE_VERSIONS = ("1.0", "1.0-draft")
GENERATOR = "live2d-pose"
# VRMC_vrm 1.0's preset expressions; the four look* presets are lookAt's and cannot be animated.
PRESETS = frozenset(
    (
        "happy",
        "angry",
        "sad",
        "relaxed",
        "surprised",
        "aa",
        "ih",
        "ou",
        "ee",
        "oh",
        "blink",
        "blinkLeft",
        "blinkRight",
        "neutral",
    )
)
LOOK_PRESETS = frozenset(("lookUp", "lookDown", "lookLeft", "lookRight"))
CONSTANT = 1e-7  # a track that moves less than this is written as two keys, first and last


# ------------------------------------------------------------------ writing


class _Builder:
    """A glTF document and its binary chunk, filled accessor by accessor."""

    def __init__(self):
        self.gltf = gl.GLTF2(
            asset=gl.Asset(version="2.0", generator=GENERATOR), scene=0, buffers=[gl.Buffer(byteLength=0)]
        )
        self.blob = bytearray()

    def accessor(self, values: np.ndarray, kind: str, bounds: bool = False) -> int:
        data = np.ascontiguousarray(values, dtype="<f4")
        view = gl.BufferView(buffer=0, byteOffset=len(self.blob), byteLength=data.nbytes)
        self.blob += data.tobytes()
        self.blob += b"\0" * (-len(self.blob) % 4)
        self.gltf.bufferViews.append(view)
        accessor = gl.Accessor(
            bufferView=len(self.gltf.bufferViews) - 1, componentType=gl.FLOAT, count=len(data), type=kind
        )
        if bounds:  # required on a sampler's input
            flat = data.reshape(len(data), -1)
            accessor.min, accessor.max = flat.min(axis=0).tolist(), flat.max(axis=0).tolist()
        self.gltf.accessors.append(accessor)
        return len(self.gltf.accessors) - 1

    def node(self, name: str, translation=None, children=None) -> int:
        self.gltf.nodes.append(
            gl.Node(name=name, translation=list(translation) if translation else None, children=children or None)
        )
        return len(self.gltf.nodes) - 1

    def to_bytes(self) -> bytes:
        self.gltf.buffers[0].byteLength = len(self.blob)
        self.gltf.set_binary_blob(bytes(self.blob))
        return b"".join(self.gltf.save_to_bytes())


class _Tracks:
    """The animation's samplers and channels, sharing two time accessors: every frame, and the first
    and last frame (for a track that does not move)."""

    def __init__(self, builder: _Builder, seconds: np.ndarray):
        self.builder = builder
        self.seconds = seconds
        self.all = builder.accessor(seconds, "SCALAR", bounds=True)
        self.ends: int | None = None  # made when a track needs it (an unused accessor is a validator's note)
        self.animation = gl.Animation(name="take")

    def add(self, node: int, path: str, values: np.ndarray) -> None:
        still = len(values) > 1 and float(np.ptp(values, axis=0).max()) < CONSTANT
        if still:
            values = values[[0, -1]]
            if self.ends is None:
                self.ends = self.builder.accessor(self.seconds[[0, -1]], "SCALAR", bounds=True)
        output = self.builder.accessor(values, {3: "VEC3", 4: "VEC4"}[values.shape[1]])
        self.animation.samplers.append(
            gl.AnimationSampler(input=self.ends if still else self.all, output=output, interpolation=gl.ANIM_LINEAR)
        )
        self.animation.channels.append(
            gl.AnimationChannel(
                sampler=len(self.animation.samplers) - 1, target=gl.AnimationChannelTarget(node=node, path=path)
            )
        )


def animated_bones(motion: Motion) -> list[str]:
    """The bones a file animates: every recorded one the skeleton knows, and those whose rest is not
    the T-pose (the arms hang down: a take without arms still shows them at rest)."""
    unknown = sorted(set(motion.bones) - set(SKELETON))
    if unknown:
        log.warning("bones no VRM file can animate are left out: %s", ", ".join(unknown))
    return [b for b in HUMANOID_BONES if b in motion.bones or tuple(rest_rotation(b)) != IDENTITY]


def gaze_rotations(gaze: np.ndarray) -> np.ndarray:
    """docs/rig.md gaze (yaw + to the left, pitch + up, degrees) -> lookAt quaternions Ry(yaw)·Rx(-pitch)."""
    yaw, pitch = gaze[:, 0] * DEG / 2, -gaze[:, 1] * DEG / 2
    zero = np.zeros_like(yaw)
    ry = np.stack([zero, np.sin(yaw), zero, np.cos(yaw)], axis=-1)
    rx = np.stack([np.sin(pitch), zero, zero, np.cos(pitch)], axis=-1)
    return continuous(multiply(ry, rx))


def _skeleton_nodes(b: _Builder) -> dict[str, int]:
    """One node per humanoid bone at its T-pose offset (nodes 0..n-1); the head's last child is node n,
    the lookAt node the caller adds next. Returns bone -> node."""
    index = {name: i for i, name in enumerate(HUMANOID_BONES)}
    for name in HUMANOID_BONES:
        kids = [index[c] for c in HUMANOID_BONES if SKELETON[c].parent == name]
        b.node(name, SKELETON[name].offset(SKELETON), kids + ([len(index)] if name == "head" else []))
    return index


def _expression_tracks(b: _Builder, tracks: _Tracks, channels: list[tuple[str, np.ndarray]]) -> dict:
    """A root node per expression, its weight in the translation's X; returns the extension's
    ``expressions`` (presets and custom names apart). The look* presets are lookAt's: left out."""
    groups: dict[str, dict] = {}
    for name, weights in channels:
        if name in LOOK_PRESETS:
            continue
        node = b.node(name)
        groups.setdefault("preset" if name in PRESETS else "custom", {})[name] = {"node": node}
        xyz = np.zeros((len(weights), 3))
        xyz[:, 0] = np.clip(weights, 0.0, 1.0)
        tracks.add(node, "translation", xyz)
    return groups


def write_vrma(
    path: str | Path, motion: Motion, fps: float = DEFAULT_FPS, presets: bool = True, blendshapes: bool = True
) -> None:
    """Write ``motion`` (a take, any sample times) as a .vrma at ``fps``.

    ``presets``: the VRM preset expressions; ``blendshapes``: the ARKit blendshapes as custom
    expressions. A Perfect Sync model has both, bound to the same morphs, and plays them added
    together: write only one of them for such a model.
    """
    frames = motion.resampled(fps)
    b = _Builder()
    index = _skeleton_nodes(b)
    look_at = b.node("lookAt", LOOK_AT_OFFSET)  # the head's child (see _skeleton_nodes)
    tracks = _Tracks(b, (frames.t_ms - frames.t_ms[0]) / 1000.0)
    for name in animated_bones(frames):
        tracks.add(index[name], "rotation", frames.rotations(name))
    if frames.hips is not None:  # absolute, as players read it (scaled by their avatar's hips height over 0.95)
        tracks.add(index["hips"], "translation", frames.hips * TO_SKELETON)
    extension: dict = {
        "specVersion": SPEC_VERSION,
        "humanoid": {"humanBones": {name: {"node": i} for name, i in index.items()}},
    }
    channels = list(frames.expressions.items()) if presets else []
    channels += list(frames.blendshapes.items()) if blendshapes else []
    expressions = _expression_tracks(b, tracks, channels)
    if expressions:
        extension["expressions"] = expressions
    if frames.gaze is not None:
        extension["lookAt"] = {"node": look_at, "offsetFromHeadBone": list(LOOK_AT_OFFSET)}
        tracks.add(look_at, "rotation", gaze_rotations(frames.gaze))
    b.gltf.scenes = [gl.Scene(nodes=[index["hips"]] + list(range(look_at + 1, len(b.gltf.nodes))))]
    b.gltf.animations = [tracks.animation]
    b.gltf.extensionsUsed = [EXTENSION]
    b.gltf.extensions = {EXTENSION: extension}
    b.gltf.asset.extras = {"startTimeMs": float(frames.t_ms[0])}  # the take's first sample, on its clock
    Path(path).write_bytes(b.to_bytes())


# ------------------------------------------------------------------ reading

_COMPONENTS = {
    gl.FLOAT: ("<f4", None),
    gl.BYTE: ("i1", 127.0),
    gl.UNSIGNED_BYTE: ("u1", 255.0),
    gl.SHORT: ("<i2", 32767.0),
    gl.UNSIGNED_SHORT: ("<u2", 65535.0),
}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}


def _accessor(gltf: gl.GLTF2, blob: bytes, index: int) -> np.ndarray:
    a = gltf.accessors[index]
    if a.sparse is not None or a.bufferView is None:
        raise ValueError(f"accessor {index}: sparse or empty accessors are not supported")
    if a.componentType not in _COMPONENTS or a.type not in _WIDTH:
        raise ValueError(f"accessor {index}: {a.type} of component type {a.componentType} is not animation data")
    dtype, scale = _COMPONENTS[a.componentType]
    view = gltf.bufferViews[a.bufferView]
    width, size = _WIDTH[a.type], np.dtype(dtype).itemsize
    stride = view.byteStride or width * size
    start = (view.byteOffset or 0) + (a.byteOffset or 0)
    if start + stride * (a.count - 1) + width * size > len(blob):
        raise ValueError(f"accessor {index} runs past the end of the binary chunk")
    rows = np.lib.stride_tricks.as_strided(np.frombuffer(blob, dtype, offset=start), (a.count, width), (stride, size))
    values = rows.astype(np.float64)
    if scale is not None:
        values = np.maximum(values / scale, -1.0)  # glTF's normalized integers
    return values if width > 1 else values[:, 0]


def _rest_world(gltf: gl.GLTF2) -> list[np.ndarray]:
    """Each node's world matrix at rest (4 x 4)."""
    local = []
    for node in gltf.nodes:
        if node.matrix:
            m = np.asarray(node.matrix, dtype=np.float64).reshape(4, 4).T  # glTF is column-major
        else:
            x, y, z, w = node.rotation or IDENTITY
            r = np.array(
                [
                    [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                    [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                    [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
                ]
            )
            m = np.eye(4)
            m[:3, :3] = r * np.asarray(node.scale or (1, 1, 1), dtype=np.float64)
            m[:3, 3] = node.translation or (0, 0, 0)
        local.append(m)
    parent = {c: i for i, node in enumerate(gltf.nodes) for c in (node.children or [])}
    world: list[np.ndarray | None] = [None] * len(local)

    def resolve(i: int, depth: int = 0) -> np.ndarray:
        if world[i] is None:
            if depth > len(local):
                raise ValueError("the node hierarchy has a cycle")
            world[i] = resolve(parent[i], depth + 1) @ local[i] if i in parent else local[i]
        return world[i]

    return [resolve(i) for i in range(len(local))]


def _rotation(m: np.ndarray) -> tuple:
    return from_basis(*(normalize(tuple(m[:3, j])) for j in range(3)))


def _load(path: Path) -> tuple[gl.GLTF2, bytes, dict]:
    data = path.read_bytes()
    if data[:4] != b"glTF":
        raise ValueError(f"{path}: not a glTF binary (.vrma is one)")
    gltf = gl.GLTF2.load_from_bytes(data)
    extension = (gltf.extensions or {}).get(EXTENSION)
    if extension is None or EXTENSION not in (gltf.extensionsUsed or []):
        raise ValueError(f"{path}: no {EXTENSION} extension: not a VRM Animation")
    if extension.get("specVersion") not in READABLE_VERSIONS:
        raise ValueError(
            f"{path}: {EXTENSION} version {extension.get('specVersion')!r} (this reads {', '.join(READABLE_VERSIONS)})"
        )
    if not gltf.animations:
        raise ValueError(f"{path}: the file has no animation")
    return gltf, gltf.binary_blob() or b"", extension


def read_motion(path: str | Path) -> Motion:
    """A .vrma's first animation (the spec's rule) as a Motion on the union of its key times, from 0 ms.
    Rotations come back in the normalized humanoid (docs/rig.md), whatever the file's rest pose."""
    path = Path(path)
    gltf, blob, extension = _load(path)
    bones = {v["node"]: k for k, v in (extension.get("humanoid") or {}).get("humanBones", {}).items()}
    expressions = {
        v["node"]: k
        for group in ("preset", "custom")
        for k, v in (extension.get("expressions") or {}).get(group, {}).items()
    }
    look_at = (extension.get("lookAt") or {}).get("node")
    world = _rest_world(gltf)
    node_of = {name: i for i, name in bones.items()}
    hips_node = node_of.get("hips")
    parent_of = {c: i for i, node in enumerate(gltf.nodes) for c in (node.children or [])}
    hips_parent = world[parent_of[hips_node]] if hips_node in parent_of else np.eye(4)

    animation = gltf.animations[0]
    tracks = []
    for channel in animation.channels:
        sampler = animation.samplers[channel.sampler]
        if sampler.interpolation == gl.ANIM_CUBICSPLINE:
            raise ValueError(f"{path}: CUBICSPLINE tracks are not supported (LINEAR and STEP are)")
        tracks.append(
            (
                channel.target.node,
                channel.target.path,
                _accessor(gltf, blob, sampler.input),
                _accessor(gltf, blob, sampler.output),
                sampler.interpolation == gl.ANIM_STEP,
            )
        )
    at = np.unique(np.concatenate([t[2] for t in tracks])) if tracks else np.zeros(1)
    motion = Motion(t_ms=at * 1000.0)

    def sampled(times, values, step, rotation=False):
        return interpolate(times, values, at, rotation=rotation, step=step)

    for node, kind, times, values, step in tracks:
        if node in bones and bones[node] in SKELETON:
            name = bones[node]
            if kind == "rotation":
                parent = humanoid_parent(name, node_of)
                p = _rotation(world[node_of[parent]] if parent else hips_parent)
                own = _rotation(world[node])
                q = multiply(multiply(p, values), (-own[0], -own[1], -own[2], own[3]))
                motion.bones[name] = sampled(times, q, step, rotation=True)
            elif kind == "translation" and name == "hips":
                position = values @ hips_parent[:3, :3].T + hips_parent[:3, 3]
                rest_height = world[node][1, 3]  # the file's standing hips height: back into the room's metres
                motion.hips = sampled(times, position, step) * (
                    ROOM_HIPS_HEIGHT / rest_height if rest_height > 1e-3 else 1.0
                )
        elif node in expressions and kind == "translation":
            name = expressions[node]
            target = motion.blendshapes if name in ARKIT else motion.expressions
            target[name] = np.clip(sampled(times, values[:, 0], step), 0.0, 1.0)
        elif node == look_at and kind == "rotation":
            q = sampled(times, values, step, rotation=True)
            ypr = np.array([to_yaw_pitch_roll(tuple(row)) for row in q.tolist()]).reshape(-1, 3)
            motion.gaze = np.stack([ypr[:, 0], -ypr[:, 1]], axis=-1)  # VRM's pitch is + down
    return motion


def read_vrma(path: str | Path) -> list[tuple[float, object]]:
    """A .vrma as (time in ms from its start, BodyState) samples, one per key time (the inverse of
    ``write_vrma`` up to float32 and the frame rate). Each state carries every channel the file
    animates; a state's ``hips_position`` is the hips' position in the room (m, docs/rig.md) or None."""
    return read_motion(path).states()
