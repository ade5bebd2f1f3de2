"""The motion message: what the rig solved, as the avatar shows it (docs/protocol.md, "motion").

The gateway sends it to every viewer and output that asked for motion; they
only retarget it. One message per rig update and per variant in use (mirrored
or not), encoded once and shared by every subscriber of that variant::

    motion = Motion.of(rig, mirror=True)          # the avatar's view of the rig's state
    encoder = MotionEncoder()                     # one per (rig, variant)
    update = encoder.update(motion)               # update.delta: what changed; update.full(): everything

    held = MotionState()                          # a reader (outputs, tests): full and delta messages in
    motion = held.apply(message_bytes)            # the whole current Motion

A delta carries only the channels that changed since the previous update of
its variant; a subscriber that missed one (a slow connection) gets a full
message instead, so a reader always holds the complete state. Rotations,
expressions and the Live2D parameters travel as float32; the reader holds
exactly what was sent.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from live2d_pose import wire
from live2d_pose.trackers import TRACKERS
from live2d_pose.rig.contract import (
    BLENDSHAPE_NAMES,
    BONE_KEYS,
    BONE_NAMES,
    EXPRESSIONS,
    LIVE2D_IDS,
    MOTION_VERSION,
    PART_NAMES,
)
from live2d_pose.rig.live2d import mirror_live2d
from live2d_pose.rig.solve import mirror_state, rest_rotation

if TYPE_CHECKING:
    from live2d_pose.rig import Rig

BLENDSHAPES = tuple(n for n in BLENDSHAPE_NAMES if n != "_neutral")  # MediaPipe's 52 without _neutral
SEEN = ("face", "pose", "leftHand", "rightHand")
# The channels a message may carry besides the bones; each whole or not at all.
VECTORS = ("expressions", "blendshapes", "gaze", "live2d", "parts", "headPosition", "hipsPosition")


@dataclass
class Motion:
    """One rig's state as one variant of the avatar shows it (the avatar's own sides when mirrored)."""

    stream: str
    session: int
    seq: int  # the newest result in the state
    mirror: bool
    ts: dict[str, float]  # that result's ingest and gateway times (ms, wall clocks)
    tracks: list[str]  # the trackers whose new result this update brings ([]: easing toward rest)
    times: dict[str, float | None]  # each tracker's result ts.ingest in the state; None: not in it (stale)
    seen: dict[str, bool]
    bones: dict[str, tuple]  # local rotations (x, y, z, w); a bone never seen is absent: at its rest
    expressions: dict[str, float]  # VRM 1.0 presets, 0..1
    blendshapes: dict[str, float]  # the ARKit names, 0..1
    gaze: dict[str, float]  # degrees: + yaw toward the avatar's left, + pitch up
    live2d: dict[str, float]  # every Live2D parameter (contract.json's ids)
    parts: dict[str, float] = field(default_factory=dict)  # each part's weight: 1 followed, 0 at rest
    head_position: tuple[float, float, float] | None = None  # cm, the facial matrix's translation
    hips_position: tuple[float, float, float] | None = None  # metres
    t: float | None = None  # the state's time: ms on the gateway's wall clock (what a recording is timed by)

    @property
    def tracking(self) -> bool:
        return any(self.seen.values())

    @classmethod
    def of(cls, rig: Rig, mirror: bool) -> Motion:
        """What the rig shows now, mirrored (the avatar like your reflection) or as the subject's sides."""
        state = mirror_state(rig.smoothed) if mirror else rig.smoothed
        latest = rig.latest
        live2d = rig.live2d()
        flip = (lambda p: None if p is None else (-p[0], p[1], p[2])) if mirror else (lambda p: p)
        return cls(
            stream=latest.stream if latest else "",
            session=latest.session if latest else 0,
            seq=latest.seq if latest else 0,
            mirror=mirror,
            ts={k: latest.ts[k] for k in ("ingest", "gateway") if latest and k in latest.ts},
            tracks=list(rig.updated),
            times=dict(rig.ingest_times),
            seen={k: bool(state.seen.get(k)) for k in SEEN},
            bones={name: q for name, q in state.bones.items() if q != rest_rotation(name)},
            expressions=dict(state.expressions),
            blendshapes=dict(state.blendshapes or {}),
            gaze=dict(state.gaze or {"yaw": 0.0, "pitch": 0.0}),
            live2d=mirror_live2d(live2d) if mirror else live2d,
            parts={name: float(state.parts.get(name, 0.0)) for name in PART_NAMES},
            head_position=flip(rig.face_position_cm),
            hips_position=state.hips_position,
            t=rig.smoothed.t,
        )


# ---------------------------------------------------------------- encoding


class _Float32s(dict):
    """count -> its struct.Struct, compiled once."""

    def __missing__(self, count: int) -> struct.Struct:
        packer = self[count] = struct.Struct(f"<{count}f")
        return packer


_F32 = _Float32s()


def _f32(values) -> bytes:
    """Little-endian float32s (struct: a few times faster than numpy for a handful of values)."""
    try:
        return _F32[len(values)].pack(*values)
    except OverflowError:  # beyond float32: numpy's infinity, as before
        return np.asarray(values, dtype="<f4").tobytes()


def _channels(motion: Motion) -> dict[str, bytes | None]:
    """Every channel but the bones as the float32 bytes sent (None: an absent position)."""
    return {
        "expressions": _f32([motion.expressions.get(n, 0.0) for n in EXPRESSIONS]),
        "blendshapes": _f32([motion.blendshapes.get(n, 0.0) for n in BLENDSHAPES]),
        "gaze": _f32([motion.gaze["yaw"], motion.gaze["pitch"]]),
        # a motion source (live2d-pose play) sends none: the gateway derives them
        "live2d": _f32([motion.live2d[n] for n in LIVE2D_IDS]) if motion.live2d else None,
        "parts": _f32([motion.parts.get(n, 0.0) for n in PART_NAMES]),
        "headPosition": None if motion.head_position is None else _f32(motion.head_position),
        "hipsPosition": None if motion.hips_position is None else _f32(motion.hips_position),
    }


@dataclass
class MotionUpdate:
    """One update of one variant: the delta for subscribers that have every earlier one, and the
    full message (encoded on first use, once) for the others."""

    index: int  # counts the updates of its encoder
    delta: bytes
    _full_fields: dict = field(repr=False)
    _full: bytes | None = field(default=None, repr=False)

    def full(self) -> bytes:
        if self._full is None:
            self._full = wire.pack(self._full_fields)
        return self._full


class MotionEncoder:
    """The messages of one variant of one rig, each update encoded once; remembers what it last sent
    so a delta carries only what changed."""

    def __init__(self) -> None:
        self.sent_bones: dict[str, bytes] = {}
        self.sent: dict[str, object] = {}
        self.index = 0

    def update(self, motion: Motion) -> MotionUpdate:
        head = {
            "type": "motion",
            "v": MOTION_VERSION,
            "stream": motion.stream,
            "seq": motion.seq,
            "ts": motion.ts,
            "t": motion.t,
            "tracks": motion.tracks,
        }
        # a bone is keyed by its index in contract.json's VRM humanoid list ("18"), else by its name
        rotations = {BONE_KEYS.get(name, name): _f32(q) for name, q in motion.bones.items()}
        channels = {
            "session": motion.session,
            "mirror": motion.mirror,
            "seen": [k for k in SEEN if motion.seen[k]],
            **_channels(motion),
        }
        full = {**head, "full": True, "times": motion.times, "bones": rotations, **channels}
        if self.index == 0:
            delta = full
        else:
            delta = dict(head)
            times = {k: v for k, v in motion.times.items() if self.sent["times"].get(k) != v}
            if times:
                delta["times"] = times
            changed = {n: r for n, r in rotations.items() if self.sent_bones.get(n) != r}
            # a bone back exactly at its rest is not in the motion: its rest is sent once, or a reader
            # holding the delta's base would keep the last rotation it got
            changed.update({n: _f32(rest_rotation(_bone_name(n))) for n in self.sent_bones if n not in rotations})
            if changed:
                delta["bones"] = changed
            delta.update({k: v for k, v in channels.items() if self.sent.get(k) != v})
        self.sent_bones, self.sent = rotations, {**channels, "times": dict(motion.times)}
        self.index += 1
        return MotionUpdate(self.index, wire.pack(delta), full)


# ---------------------------------------------------------------- reading


class MotionError(wire.WireError):
    """A motion message this reader cannot use (malformed, or a version it does not know)."""


def _floats(obj: dict, key: str, count: int) -> list[float]:
    data = obj[key]
    if not isinstance(data, (bytes, bytearray)) or len(data) != 4 * count:
        raise MotionError(f"motion: {key!r} must be {count} float32 values")
    values = struct.unpack(f"<{count}f", data)
    if not all(math.isfinite(v) for v in values):
        raise MotionError(f"motion: {key!r} has a non-finite number")
    return list(values)


class MotionState:
    """What a reader holds: the latest Motion, from full and delta messages (the page's twin is
    web/src/motion.js). A delta for another stream than the one held is ignored."""

    def __init__(self) -> None:
        self.motion: Motion | None = None
        self.ignored = 0

    def apply(self, data: bytes) -> Motion | None:
        """One binary message -> the whole current Motion (None until a full one came);
        MotionError when it is malformed or of an unknown version."""
        obj = wire.unpack_map(data, "motion")
        if obj.get("type") != "motion":
            raise MotionError(f"motion: unknown type {obj.get('type')!r}")
        if obj.get("v") != MOTION_VERSION:
            raise MotionError(f"motion: version {obj.get('v')!r}; this reader knows {MOTION_VERSION}")
        stream = obj.get("stream")
        if not isinstance(stream, str):
            raise MotionError("motion: 'stream' is required")
        held = self.motion
        if obj.get("full") is True:
            held = Motion(
                stream=stream,
                session=0,
                seq=0,
                mirror=False,
                ts={},
                tracks=[],
                times=dict.fromkeys(TRACKERS),
                seen=dict.fromkeys(SEEN, False),
                bones={},
                expressions={},
                blendshapes={},
                gaze={},
                live2d={},
            )
        elif held is None or held.stream != stream:
            self.ignored += 1
            return self.motion
        else:
            held = replace(held, bones=dict(held.bones))
        self.motion = _merged(held, obj)
        return self.motion


def _bone_name(key: str) -> str:
    """A bone's key in a message: its index in contract.json's list ("18"), or its name."""
    if not key.isdigit():
        return key
    if int(key) < len(BONE_NAMES):
        return BONE_NAMES[int(key)]
    raise MotionError(f"motion: bone {key} is not in the contract's list")


def _merged(held: Motion, obj: dict) -> Motion:
    seq, ts = obj.get("seq"), obj.get("ts")
    if not (isinstance(seq, int) and isinstance(ts, dict)):
        raise MotionError("motion: 'seq' and 'ts' are required")
    held.seq, held.ts = seq, {k: float(v) for k, v in ts.items() if isinstance(v, (int, float))}
    t = obj.get("t")
    held.t = float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) else None
    tracks = obj.get("tracks", [])
    held.tracks = [t for t in tracks if t in TRACKERS] if isinstance(tracks, list) else []
    if isinstance(obj.get("session"), int):
        held.session = obj["session"]
    if "mirror" in obj:
        held.mirror = bool(obj["mirror"])
    if "seen" in obj:
        if not isinstance(obj["seen"], list):
            raise MotionError("motion: 'seen' must be a list")
        held.seen = {k: k in obj["seen"] for k in SEEN}
    if "times" in obj:
        times = obj["times"]
        if not isinstance(times, dict):
            raise MotionError("motion: 'times' must be a map")
        held.times = {
            **held.times,
            **{k: float(v) if isinstance(v, (int, float)) else None for k, v in times.items() if k in TRACKERS},
        }
    if "bones" in obj:
        bones = obj["bones"]
        if not isinstance(bones, dict):
            raise MotionError("motion: 'bones' must map bones to rotations")
        for key in bones:
            held.bones[_bone_name(key)] = tuple(_floats(bones, key, 4))
    if "expressions" in obj:
        held.expressions = dict(zip(EXPRESSIONS, _floats(obj, "expressions", len(EXPRESSIONS))))
    if "blendshapes" in obj:
        held.blendshapes = dict(zip(BLENDSHAPES, _floats(obj, "blendshapes", len(BLENDSHAPES))))
    if "gaze" in obj:
        held.gaze = dict(zip(("yaw", "pitch"), _floats(obj, "gaze", 2)))
    if "live2d" in obj:
        held.live2d = {} if obj["live2d"] is None else dict(zip(LIVE2D_IDS, _floats(obj, "live2d", len(LIVE2D_IDS))))
    if "parts" in obj:
        held.parts = dict(zip(PART_NAMES, _floats(obj, "parts", len(PART_NAMES))))
    for key, attribute in (("headPosition", "head_position"), ("hipsPosition", "hips_position")):
        if key in obj:
            setattr(held, attribute, None if obj[key] is None else tuple(_floats(obj, key, 3)))
    return held
