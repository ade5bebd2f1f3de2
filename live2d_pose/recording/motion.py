"""A take in columns: body states over time as one array per channel, and resampling to a frame rate.

A take is a sequence of (time in ms, body state) samples: docs/rig.md's
state as a ``BodyState``, its ``to_dict()``, or the gateway's motion
(``live2d_pose.rig.motion.Motion``, unmirrored: what the recorders get).
Files want the opposite shape: one track per bone or expression, on evenly
spaced frames. ``Motion`` is that shape, with NaN where a sample lacked a
channel (docs/rig.md: a bone that was not seen is absent); ``resampled(fps)``
gives every channel on every frame, an absent value at its rest (what the
avatar shows when a channel is lost).

The recorder's journal (journal.py) stores ``Motion`` chunks, so a take is
never held as per-sample dicts for long; the writers (vrma.py, bvh.py) take
a resampled ``Motion``; the VRMA reader returns one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from live2d_pose.recording.skeleton import ROOM_REST_HIPS
from live2d_pose.rig.solve import BLENDSHAPE_NAMES, STATE_VERSION, BodyState, rest_rotation

# The hips' position in the room (docs/rig.md: metres, the floor at y = 0) in a state given as a dict,
# and the attribute of a BodyState or the gateway's motion: the one place that names it.
HIPS_KEY = "hipsPosition"
HIPS_ATTRIBUTE = "hips_position"
SEEN_KEYS = ("face", "pose", "leftHand", "rightHand")
CHANNELS = ("bones", "expressions", "blendshapes", "gaze", "seen")
ARKIT = frozenset(BLENDSHAPE_NAMES) - {"_neutral"}  # MediaPipe's "_neutral" is no ARKit shape: never written
DEFAULT_FPS = 30.0  # VRMC_vrm_animation's recommended rate


def _as_dict(state) -> Mapping:
    """A sample's channels by docs/rig.md's names: a dict as it is, an object (a BodyState, the
    gateway's motion) by its attributes."""
    if isinstance(state, Mapping):
        return state
    d = {name: getattr(state, name) for name in CHANNELS}
    d[HIPS_KEY] = getattr(state, HIPS_ATTRIBUTE, None)
    return d


@dataclass
class Motion:
    """Channels over time. Arrays are float64; a NaN row is an absent value."""

    t_ms: np.ndarray  # (n,), non-decreasing
    bones: dict[str, np.ndarray] = field(default_factory=dict)  # (n, 4): x, y, z, w (local, from the T-pose)
    expressions: dict[str, np.ndarray] = field(default_factory=dict)  # (n,): 0..1, VRM presets (or custom)
    blendshapes: dict[str, np.ndarray] = field(default_factory=dict)  # (n,): ARKit scores 0..1
    gaze: np.ndarray | None = None  # (n, 2): yaw, pitch in degrees (docs/rig.md)
    hips: np.ndarray | None = None  # (n, 3): the hips' position in the room, metres (docs/rig.md)
    seen: dict[str, np.ndarray] = field(default_factory=dict)  # (n,) bool, docs/rig.md's "seen"

    def __len__(self) -> int:
        return len(self.t_ms)

    @property
    def duration_ms(self) -> float:
        return float(self.t_ms[-1] - self.t_ms[0]) if len(self) else 0.0

    @property
    def hands_tracked(self) -> bool:
        """Was a hand ever seen? (A foreign file has no "seen": then, does it animate any finger?)"""
        if "leftHand" in self.seen or "rightHand" in self.seen:
            return any(bool(self.seen[k].any()) for k in ("leftHand", "rightHand") if k in self.seen)
        return any(is_hand_bone(b) and not b.endswith("Hand") for b in self.bones)

    # ------------------------------------------------------------------ building

    @classmethod
    def from_samples(cls, samples: Iterable[tuple[float, object]]) -> Motion:
        samples = list(samples)
        n = len(samples)
        motion = cls(t_ms=np.array([float(t) for t, _ in samples], dtype=np.float64))
        for i, (_, state) in enumerate(samples):
            d = _as_dict(state)
            for name, q in (d.get("bones") or {}).items():
                _column(motion.bones, name, n, 4)[i] = q
            for name, v in (d.get("expressions") or {}).items():
                _column(motion.expressions, name, n)[i] = v
            for name, v in (d.get("blendshapes") or {}).items():
                if name in ARKIT:
                    _column(motion.blendshapes, name, n)[i] = v
            gaze = d.get("gaze")
            if gaze:
                if motion.gaze is None:
                    motion.gaze = np.full((n, 2), np.nan)
                motion.gaze[i] = (gaze["yaw"], gaze["pitch"])
            hips = d.get(HIPS_KEY)
            if hips is not None:
                if motion.hips is None:
                    motion.hips = np.full((n, 3), np.nan)
                motion.hips[i] = hips
            for key, value in (d.get("seen") or {}).items():
                if key in SEEN_KEYS:
                    motion.seen.setdefault(key, np.zeros(n, dtype=bool))[i] = bool(value)
        motion._clean()
        return motion

    def _clean(self) -> None:
        """Unit quaternions; a value that is not finite (or a zero quaternion) is absent."""
        for name, q in self.bones.items():
            norm = np.linalg.norm(q, axis=1, keepdims=True)
            self.bones[name] = np.where(np.isfinite(norm) & (norm > 1e-9), q / np.where(norm > 0, norm, 1), np.nan)
        for arrays in (self.expressions, self.blendshapes):
            for v in arrays.values():
                v[~np.isfinite(v)] = np.nan
        for a in (self.gaze, self.hips):
            if a is not None:
                a[~np.isfinite(a).all(axis=1)] = np.nan

    @classmethod
    def concat(cls, parts: list[Motion]) -> Motion:
        """One motion from consecutive ones (a journal's chunks); a channel a part lacks is absent there."""
        parts = [p for p in parts if len(p)]
        out = cls(t_ms=np.concatenate([p.t_ms for p in parts]) if parts else np.zeros(0))
        for attr in ("bones", "expressions", "blendshapes", "seen"):
            names = dict.fromkeys(name for p in parts for name in getattr(p, attr))
            for name in names:
                getattr(out, attr)[name] = np.concatenate(
                    [_or_absent(getattr(p, attr).get(name), p, attr) for p in parts]
                )
        for attr, width in (("gaze", 2), ("hips", 3)):
            if any(getattr(p, attr) is not None for p in parts):
                setattr(
                    out,
                    attr,
                    np.concatenate(
                        [
                            getattr(p, attr) if getattr(p, attr) is not None else np.full((len(p), width), np.nan)
                            for p in parts
                        ]
                    ),
                )
        return out

    # ------------------------------------------------------------------ the journal's encoding

    def to_payload(self) -> dict:
        """msgpack-ready: names once, values as little-endian float32 (times float64: they are epoch ms)."""
        return {
            "t": self.t_ms.astype("<f8").tobytes(),
            "bones": {k: v.astype("<f4").tobytes() for k, v in self.bones.items()},
            "expressions": {k: v.astype("<f4").tobytes() for k, v in self.expressions.items()},
            "blendshapes": {k: v.astype("<f4").tobytes() for k, v in self.blendshapes.items()},
            "gaze": None if self.gaze is None else self.gaze.astype("<f4").tobytes(),
            "hips": None if self.hips is None else self.hips.astype("<f4").tobytes(),
            "seen": {k: v.astype("u1").tobytes() for k, v in self.seen.items()},
        }

    @classmethod
    def from_payload(cls, payload: Mapping) -> Motion:
        """The inverse of ``to_payload``; ValueError when the arrays do not fit together."""
        t = np.frombuffer(payload["t"], "<f8").astype(np.float64)
        n = len(t)

        def arr(data, width: int, dtype: str = "<f4") -> np.ndarray:
            a = np.frombuffer(data, dtype)
            if a.size != n * width:
                raise ValueError(f"a channel has {a.size} values for {n} samples x {width}")
            return a.reshape(n, width) if width > 1 else a

        return cls(
            t_ms=t,
            bones={k: arr(v, 4).astype(np.float64) for k, v in payload["bones"].items()},
            expressions={k: arr(v, 1).astype(np.float64) for k, v in payload["expressions"].items()},
            blendshapes={k: arr(v, 1).astype(np.float64) for k, v in payload["blendshapes"].items()},
            gaze=None if payload.get("gaze") is None else arr(payload["gaze"], 2).astype(np.float64),
            hips=None if payload.get("hips") is None else arr(payload["hips"], 3).astype(np.float64),
            seen={k: arr(v, 1, "u1").astype(bool) for k, v in payload["seen"].items()},
        )

    # ------------------------------------------------------------------ resampling

    def resampled(self, fps: float = DEFAULT_FPS) -> Motion:
        """Every channel on frames ``1000 / fps`` ms apart from the first sample to the last, each one
        interpolated between the two samples around it (rotations by slerp, the short way; the rest
        linearly) and an absent value taken at its rest. Two samples at one time: the later counts."""
        if not len(self):
            raise ValueError("the take has no samples")
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, not {fps!r}")
        keep = np.append(self.t_ms[1:] != self.t_ms[:-1], True)  # the last of each run of equal times
        t = self.t_ms[keep]
        count = int(math.floor((t[-1] - t[0]) * fps / 1000.0 + 1e-6)) + 1
        frames = t[0] + np.arange(count) * (1000.0 / fps)

        def at_frames(values: np.ndarray, rest) -> np.ndarray:
            return interpolate(t, np.where(np.isnan(values), rest, values)[keep], frames)

        return Motion(
            t_ms=frames,
            bones={k: interpolate(t, self.rotations(k)[keep], frames, rotation=True) for k in self.bones},
            expressions={k: at_frames(v, 0.0) for k, v in self.expressions.items()},
            blendshapes={k: at_frames(v, 0.0) for k, v in self.blendshapes.items()},
            gaze=None if self.gaze is None else at_frames(self.gaze, 0.0),
            hips=None if self.hips is None else at_frames(self.hips, np.asarray(ROOM_REST_HIPS)),
            seen={k: interpolate(t, v[keep], frames, step=True) for k, v in self.seen.items()},
        )

    def rotations(self, bone: str) -> np.ndarray:
        """A bone's rotation at every sample, its rest where absent (and everywhere, for a bone the take
        never had)."""
        rest = np.asarray(rest_rotation(bone), dtype=np.float64)
        if bone not in self.bones:
            return np.tile(rest, (len(self), 1))
        return np.where(np.isnan(self.bones[bone]), rest, self.bones[bone])

    # ------------------------------------------------------------------ back to states

    def states(self) -> list[tuple[float, BodyState]]:
        """One body state per sample (docs/rig.md); an absent value stays absent. A BodyState gets
        the hips' position as the attribute ``hips_position`` (None without one)."""
        out = []
        for i, t in enumerate(self.t_ms.tolist()):
            bones = {k: tuple(v[i].tolist()) for k, v in self.bones.items() if not np.isnan(v[i]).any()}
            expressions = {k: float(v[i]) for k, v in self.expressions.items() if not np.isnan(v[i])}
            blendshapes = {k: float(v[i]) for k, v in self.blendshapes.items() if not np.isnan(v[i])}
            gaze = None
            if self.gaze is not None and not np.isnan(self.gaze[i]).any():
                gaze = {"yaw": float(self.gaze[i, 0]), "pitch": float(self.gaze[i, 1])}
            seen = {k: bool(self.seen[k][i]) if k in self.seen else False for k in SEEN_KEYS}
            if not self.seen:  # a foreign file: what it animates was seen
                seen["face"] = bool(expressions or blendshapes or gaze or "head" in bones)
                seen["pose"] = any(not b.startswith(("neck", "head")) and not is_hand_bone(b) for b in bones)
                seen["leftHand"] = any(is_hand_bone(b) and b.startswith("left") for b in bones)
                seen["rightHand"] = any(is_hand_bone(b) and b.startswith("right") for b in bones)
            times = {
                "face": t if seen["face"] else None,
                "pose": t if seen["pose"] else None,
                "hands": t if seen["leftHand"] or seen["rightHand"] else None,
            }
            state = BodyState(
                t=t,
                times=times,
                seen=seen,
                bones=bones,
                expressions=expressions,
                gaze=gaze,
                blendshapes=blendshapes or None,
                version=STATE_VERSION,
            )
            hips = None if self.hips is None or np.isnan(self.hips[i]).any() else tuple(self.hips[i].tolist())
            setattr(state, HIPS_ATTRIBUTE, hips)
            out.append((t, state))
        return out


def is_hand_bone(bone: str) -> bool:
    return bone.endswith("Hand") or any(f in bone for f in ("Thumb", "Index", "Middle", "Ring", "Little"))


def _column(columns: dict, name: str, n: int, width: int = 1) -> np.ndarray:
    a = columns.get(name)
    if a is None:
        a = columns[name] = np.full((n, width) if width > 1 else n, np.nan)
    return a


def _or_absent(a: np.ndarray | None, part: Motion, attr: str) -> np.ndarray:
    if a is not None:
        return a
    if attr == "seen":
        return np.zeros(len(part), dtype=bool)
    return np.full((len(part), 4) if attr == "bones" else len(part), np.nan)


# ------------------------------------------------------------------ interpolation, vectorized


def interpolate(
    times: np.ndarray, values: np.ndarray, at: np.ndarray, rotation: bool = False, step: bool = False
) -> np.ndarray:
    """Keyframes ``values`` at increasing ``times``, evaluated at ``at`` as glTF's samplers do: held
    before the first key and after the last; LINEAR (rotations: slerp) or, with ``step``, STEP."""
    i = np.clip(np.searchsorted(times, at, side="right") - 1, 0, len(times) - 1)
    if step:
        return values[i]
    j = np.minimum(i + 1, len(times) - 1)
    span = times[j] - times[i]
    u = np.clip(np.where(span > 0, (at - times[i]) / np.where(span > 0, span, 1.0), 0.0), 0.0, 1.0)
    if rotation:
        return continuous(slerp(values[i], values[j], u))
    w = u if values.ndim == 1 else u[:, None]
    return values[i] * (1 - w) + values[j] * w


def slerp(q0: np.ndarray, q1: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Row-wise spherical interpolation from q0 to q1 (n x 4) by u (n,), the short way (as three.js)."""
    d = np.einsum("ij,ij->i", q0, q1)
    q1 = np.where(d[:, None] < 0, -q1, q1)
    d = np.abs(d)
    theta = np.arccos(np.clip(d, -1.0, 1.0))
    s = np.sin(theta)
    near = s < 1e-6
    safe = np.where(near, 1.0, s)
    w0 = np.where(near, 1 - u, np.sin((1 - u) * theta) / safe)
    w1 = np.where(near, u, np.sin(u * theta) / safe)
    q = w0[:, None] * q0 + w1[:, None] * q1
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def continuous(q: np.ndarray) -> np.ndarray:
    """The same rotations with each quaternion in the hemisphere of the one before (q and -q are one
    rotation), so that a player interpolating keyframes component-wise never takes the long way."""
    q = q.copy()
    if len(q) > 1:
        flips = np.einsum("ij,ij->i", q[1:], q[:-1]) < 0
        sign = np.where(np.cumsum(flips) % 2 == 1, -1.0, 1.0)
        q[1:] *= sign[:, None]
    return q


def angle_degrees(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise angle between two sets of rotations (n x 4), degrees."""
    d = np.abs(np.einsum("ij,ij->i", a, b)) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return np.degrees(2 * np.arccos(np.clip(d, 0.0, 1.0)))


def multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise quaternion products a·b ([x, y, z, w]; either may be one quaternion), as rig.quat.multiply."""
    ax, ay, az, aw = np.moveaxis(np.asarray(a, dtype=np.float64), -1, 0)
    bx, by, bz, bw = np.moveaxis(np.asarray(b, dtype=np.float64), -1, 0)
    return np.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        axis=-1,
    )


def matrices(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (n x 3 x 3) of unit quaternions (n x 4)."""
    x, y, z, w = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=-1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=-1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1),
        ],
        axis=1,
    )
