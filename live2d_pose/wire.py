"""Message encoding shared by ingest, the landmarkers and the gateway.

Pure functions, no sockets: every message that crosses a process boundary is
built and checked here, so the services never hand-roll msgpack and a rogue
peer's malformed message fails in one well-tested place.

ZeroMQ messages are multipart: a command frame (``b"FRAME"``, ``b"READY"`` ...),
then a msgpack metadata frame, then (for frames) the raw image bytes, which are
sent zero-copy and never packed into msgpack. See docs/protocol.md.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

NUM_LANDMARKS = 478
NUM_BLENDSHAPES = 52
NUM_POSE_LANDMARKS = 33  # BlazePose topology
NUM_HAND_LANDMARKS = 21
HANDEDNESS = ("Left", "Right")  # MediaPipe's label (it assumes a mirrored, selfie image)
MAX_STREAM_ID_LENGTH = 64
# What ingest accepts from cameras; results and events from elsewhere are held to it too,
# since stream ids end up in /metrics labels and on the viewer page.
STREAM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

# ingest <-> landmarker (ROUTER / DEALER)
READY = b"READY"  # worker -> ingest: I am idle, send me a frame (metadata: worker info)
DONE = b"DONE"  # worker -> ingest: finished a frame (metadata: outcome); implies READY
HEARTBEAT = b"HB"  # both ways
BYE = b"BYE"  # worker -> ingest: shutting down, reassign my streams
FRAME = b"FRAME"  # ingest -> worker: metadata + image bytes
END = b"END"  # ingest -> worker: a stream ended, close its MediaPipe instance
# landmarker / ingest -> gateway (PUSH / PULL)
RESULT = b"RESULT"
EVENT = b"EVENT"


class WireError(ValueError):
    """A message that does not have the shape the protocol requires."""


def now_ms() -> float:
    """Wall-clock milliseconds; comparable between processes on one host."""
    return time.time() * 1000.0


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def unpack_map(data: bytes | memoryview, what: str) -> dict:
    """Decode msgpack that must be a map with string keys; anything else is a WireError."""
    try:
        obj = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise WireError(f"{what}: not msgpack ({exc.__class__.__name__})") from None
    if not isinstance(obj, dict):
        raise WireError(f"{what}: expected a map, got {type(obj).__name__}")
    return obj


def _require(obj: dict, key: str, kinds: type | tuple[type, ...], what: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kinds) or isinstance(value, bool) and bool not in _as_tuple(kinds):
        raise WireError(f"{what}: field {key!r} missing or not {_kind_names(kinds)}")
    return value


def _as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _kind_names(kinds: type | tuple[type, ...]) -> str:
    return "/".join(k.__name__ for k in _as_tuple(kinds))


# ---------------------------------------------------------------- frames


@dataclass
class FrameMeta:
    """What ingest knows about one camera frame; travels beside the image bytes."""

    stream: str
    seq: int
    width: int  # declared by the camera's imageSize; the decoded size wins
    height: int
    ts_ingest: float  # ms, when ingest received the frame
    ts_dispatch: float = 0.0  # ms, when ingest handed it to a worker

    def encode(self) -> bytes:
        return pack({"stream": self.stream, "seq": self.seq, "width": self.width,
                     "height": self.height, "ts_ingest": self.ts_ingest,
                     "ts_dispatch": self.ts_dispatch})

    @classmethod
    def decode(cls, data: bytes | memoryview) -> "FrameMeta":
        obj = unpack_map(data, "frame metadata")
        what = "frame metadata"
        return cls(
            stream=_require(obj, "stream", str, what),
            seq=_require(obj, "seq", int, what),
            width=_require(obj, "width", int, what),
            height=_require(obj, "height", int, what),
            ts_ingest=float(_require(obj, "ts_ingest", (int, float), what)),
            ts_dispatch=float(_require(obj, "ts_dispatch", (int, float), what)),
        )


def frame_message(meta: FrameMeta, image: bytes | memoryview) -> list:
    return [FRAME, meta.encode(), image]


def split_frame_message(parts: list) -> tuple[FrameMeta, memoryview | bytes]:
    """[FRAME, meta, image] -> (meta, image); raises WireError on any other shape."""
    if len(parts) != 3:
        raise WireError(f"frame message: expected 3 parts, got {len(parts)}")
    meta = FrameMeta.decode(_buffer(parts[1]))
    return meta, _buffer(parts[2])


def _buffer(part: Any) -> bytes | memoryview:
    """zmq.Frame or bytes -> something msgpack and cv2 can read without a copy."""
    return part.buffer if hasattr(part, "buffer") else part


# ---------------------------------------------------------------- results


@dataclass
class Face:
    landmarks: np.ndarray  # float32 (478, 3), x and y normalised to the image, z relative
    blendshapes: np.ndarray  # float32 (52,), ARKit names in MediaPipe order
    matrix: np.ndarray  # float32 (16,), row-major 4x4 facial transformation matrix

    def to_wire(self) -> dict:
        return {"landmarks": np.ascontiguousarray(self.landmarks, dtype="<f4").tobytes(),
                "blendshapes": np.ascontiguousarray(self.blendshapes, dtype="<f4").tobytes(),
                "matrix": np.ascontiguousarray(self.matrix, dtype="<f4").tobytes()}

    @classmethod
    def from_wire(cls, obj: Any) -> "Face":
        if not isinstance(obj, dict):
            raise WireError("face: expected a map")
        return cls(
            landmarks=_floats(obj, "landmarks", NUM_LANDMARKS * 3).reshape(NUM_LANDMARKS, 3),
            blendshapes=_floats(obj, "blendshapes", NUM_BLENDSHAPES),
            matrix=_floats(obj, "matrix", 16),
        )


@dataclass
class Pose:
    landmarks: np.ndarray  # float32 (33, 5): x, y normalised, z relative, visibility, presence
    world: np.ndarray  # float32 (33, 3): metres, origin between the hips

    def to_wire(self) -> dict:
        return {"landmarks": _f32(self.landmarks), "world": _f32(self.world)}

    @classmethod
    def from_wire(cls, obj: Any) -> "Pose":
        if not isinstance(obj, dict):
            raise WireError("pose: expected a map")
        return cls(
            landmarks=_floats(obj, "landmarks", NUM_POSE_LANDMARKS * 5, "pose").reshape(NUM_POSE_LANDMARKS, 5),
            world=_floats(obj, "world", NUM_POSE_LANDMARKS * 3, "pose").reshape(NUM_POSE_LANDMARKS, 3),
        )


@dataclass
class Hand:
    handedness: str  # "Left" or "Right", MediaPipe's label
    score: float
    landmarks: np.ndarray  # float32 (21, 3), x and y normalised to the image, z relative
    world: np.ndarray  # float32 (21, 3), metres, origin at the hand's centre

    def to_wire(self) -> dict:
        return {"handedness": self.handedness, "score": float(self.score),
                "landmarks": _f32(self.landmarks), "world": _f32(self.world)}

    @classmethod
    def from_wire(cls, obj: Any) -> "Hand":
        if not isinstance(obj, dict):
            raise WireError("hand: expected a map")
        handedness, score = obj.get("handedness"), obj.get("score")
        if handedness not in HANDEDNESS:
            raise WireError("hand: 'handedness' must be 'Left' or 'Right'")
        if not isinstance(score, (int, float)) or isinstance(score, bool):
            raise WireError("hand: 'score' must be a number")
        return cls(
            handedness=handedness, score=float(score),
            landmarks=_floats(obj, "landmarks", NUM_HAND_LANDMARKS * 3, "hand").reshape(NUM_HAND_LANDMARKS, 3),
            world=_floats(obj, "world", NUM_HAND_LANDMARKS * 3, "hand").reshape(NUM_HAND_LANDMARKS, 3),
        )


def _f32(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype="<f4").tobytes()


def _floats(obj: dict, key: str, count: int, what: str = "face") -> np.ndarray:
    data = obj.get(key)
    if not isinstance(data, (bytes, bytearray)) or len(data) != count * 4:
        raise WireError(f"{what}: {key!r} must be {count} float32 values")
    return np.frombuffer(data, dtype="<f4")


@dataclass
class Result:
    """One processed frame, from a landmarker to the gateway and on to browsers."""

    stream: str
    seq: int
    width: int
    height: int
    ts: dict[str, float]  # ingest, dispatch, decode_start, infer_start, infer_end, (gateway)
    faces: list[dict] = field(default_factory=list)  # Face.to_wire() maps
    error: dict | None = None  # {"code": str, "message": str} when the frame failed
    worker: str = ""
    # Body pose and hands (docs/protocol.md): the trackers this result reports, and
    # their lists (Pose.to_wire() / Hand.to_wire() maps). None: a face-only result.
    tracks: list[str] | None = None
    poses: list[dict] | None = None
    hands: list[dict] | None = None

    def to_wire(self) -> dict:
        message = {"type": "landmarks", "stream": self.stream, "seq": self.seq,
                   "imageSize": {"width": self.width, "height": self.height},
                   "ts": self.ts, "faces": self.faces, "worker": self.worker}
        if self.tracks is not None:
            message["tracks"] = self.tracks
            if self.poses is not None:
                message["poses"] = self.poses
            if self.hands is not None:
                message["hands"] = self.hands
        if self.error is not None:
            message["error"] = self.error
        return message

    def encode(self) -> bytes:
        return pack(self.to_wire())

    @classmethod
    def decode(cls, data: bytes | memoryview) -> "Result":
        obj = unpack_map(data, "result")
        what = "result"
        size = _require(obj, "imageSize", dict, what)
        ts = _require(obj, "ts", dict, what)
        faces = _require(obj, "faces", list, what)
        for face in faces:
            Face.from_wire(face)  # validates lengths; keeps the bytes as they are
        error = obj.get("error")
        if error is not None and not (isinstance(error, dict) and isinstance(error.get("message"), str)):
            raise WireError("result: 'error' must be a map with a message")
        if not all(isinstance(k, str) and isinstance(v, (int, float)) for k, v in ts.items()):
            raise WireError("result: 'ts' must map names to numbers")
        stream = _require(obj, "stream", str, what)
        if len(stream) > MAX_STREAM_ID_LENGTH or not STREAM_ID.fullmatch(stream):
            raise WireError("result: bad stream id")
        tracks, poses, hands = _body_tracks(obj)
        return cls(stream=stream, seq=_require(obj, "seq", int, what),
                   width=_require(size, "width", int, what), height=_require(size, "height", int, what),
                   ts=dict(ts), faces=faces, error=error, worker=str(obj.get("worker", "")),
                   tracks=tracks, poses=poses, hands=hands)


def _body_tracks(obj: dict) -> tuple[list[str] | None, list[dict] | None, list[dict] | None]:
    """The optional tracks / poses / hands of a result, validated; bytes kept as they are."""
    tracks = obj.get("tracks")
    if tracks is None:
        return None, None, None
    if not isinstance(tracks, list) or not all(t in ("face", "pose", "hands") for t in tracks):
        raise WireError("result: 'tracks' must list face, pose, hands")
    lists = {}
    for key, tracker, kind in (("poses", "pose", Pose), ("hands", "hands", Hand)):
        items = obj.get(key)
        if tracker not in tracks:
            lists[key] = None
            continue
        if not isinstance(items, list):
            raise WireError(f"result: {key!r} must be a list when {tracker!r} is tracked")
        for item in items:
            kind.from_wire(item)
        lists[key] = items
    return tracks, lists["poses"], lists["hands"]


# ---------------------------------------------------------------- small control maps


def encode_map(obj: dict) -> bytes:
    return pack(obj)


def decode_event(data: bytes | memoryview) -> dict:
    """Stream events from ingest to the gateway: {"type": "stream"|"ended", "stream": ID, ...}."""
    obj = unpack_map(data, "event")
    kind = obj.get("type")
    if kind not in ("stream", "ended"):
        raise WireError(f"event: unknown type {kind!r}")
    stream = _require(obj, "stream", str, "event")
    if len(stream) > MAX_STREAM_ID_LENGTH or not STREAM_ID.fullmatch(stream):
        raise WireError("event: bad stream id")
    if kind == "stream":
        size = _require(obj, "imageSize", dict, "event")
        _require(size, "width", int, "event")
        _require(size, "height", int, "event")
    return obj


def decode_done(data: bytes | memoryview) -> dict:
    """Worker -> ingest outcome of one frame: {"stream", "seq", "error": None | {...}}."""
    obj = unpack_map(data, "done")
    _require(obj, "stream", str, "done")
    _require(obj, "seq", int, "done")
    error = obj.get("error")
    if error is not None and not isinstance(error, dict):
        raise WireError("done: 'error' must be a map")
    return obj
