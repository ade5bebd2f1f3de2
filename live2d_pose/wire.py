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

# The tracker table (trackers.json): each tracker's result key and item type. Face, Pose, Hand and
# WireError are part of the wire format, defined with the table.
from live2d_pose.trackers import TRACKERS, UNTAGGED, Face, Hand, Pose, TrackerLists, WireError  # noqa: F401

MAX_STREAM_ID_LENGTH = 64
# What ingest accepts from cameras; results and events from elsewhere are held to it too,
# since stream ids end up in /metrics labels and on the viewer page.
STREAM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

# ingest <-> landmarker (ROUTER / DEALER)
READY = b"READY"  # worker -> ingest: I am idle, send me a frame (metadata: worker info)
DONE = b"DONE"  # worker -> ingest: finished a frame: outcome + its result; implies READY
HEARTBEAT = b"HB"  # both ways
BYE = b"BYE"  # worker -> ingest: shutting down, reassign my lanes
FRAME = b"FRAME"  # ingest -> worker: metadata + image bytes
END = b"END"  # ingest -> worker: a lane ended or moved, close its MediaPipe instance
BUILT = b"BUILT"  # worker -> ingest: a lane's MediaPipe instance is built (frames for it may come)
REJOIN = b"REJOIN"  # ingest -> worker: "I do not know you" (declared dead earlier): say READY again
# ingest -> gateway (PUSH / PULL): ingest checks each worker's result, then forwards it
RESULT = b"RESULT"
EVENT = b"EVENT"

# A DONE whose result carries this error code did not serve its frame: the lane's MediaPipe
# instance is being built (off the inference path). Ingest keeps the frame for the lane, sends it
# again after BUILT, and forwards nothing.
WARMING_UP = "warming_up"

# Largest message part each ZeroMQ socket accepts (ZMQ_MAXMSGSIZE): a peer that sends more is
# disconnected by ZeroMQ before the message is buffered, so no rogue can make a process hold
# hundreds of MB. Results are a few KB (a face with blendshapes is under 8 KB).
MAX_RESULT_MESSAGE_BYTES = 1 << 20  # worker -> ingest, ingest -> gateway
MAX_FRAME_MESSAGE_BYTES = 64 << 20  # ingest -> worker: an encoded image (ingest's --max-frame-bytes)


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
    """What ingest knows about one frame of one lane; travels beside the image bytes.

    A lane is one tracker of one stream (``track``); ``replica`` tells apart the
    MediaPipe instances of a lane that runs on more than one worker (``--replicas``).
    ``session`` names the camera connection (see :func:`new_session`).
    """

    stream: str
    seq: int
    width: int  # declared by the camera's imageSize; the decoded size wins
    height: int
    ts_ingest: float  # ms, when ingest received the frame
    ts_dispatch: float = 0.0  # ms, when ingest handed it to a worker
    track: str = UNTAGGED[0]
    session: int = 0
    replica: int = 0

    def encode(self) -> bytes:
        return pack(
            {
                "stream": self.stream,
                "seq": self.seq,
                "width": self.width,
                "height": self.height,
                "ts_ingest": self.ts_ingest,
                "ts_dispatch": self.ts_dispatch,
                "track": self.track,
                "session": self.session,
                "replica": self.replica,
            }
        )

    @classmethod
    def decode(cls, data: bytes | memoryview) -> FrameMeta:
        obj = unpack_map(data, "frame metadata")
        what = "frame metadata"
        track = _track(obj, what)
        return cls(
            stream=_stream_id(obj, what),
            seq=_require(obj, "seq", int, what),
            width=_require(obj, "width", int, what),
            height=_require(obj, "height", int, what),
            ts_ingest=float(_require(obj, "ts_ingest", (int, float), what)),
            ts_dispatch=float(_require(obj, "ts_dispatch", (int, float), what)),
            track=track,
            session=_optional_int(obj, "session", what),
            replica=_optional_int(obj, "replica", what),
        )


_last_session = 0


def new_session() -> int:
    """An id for a camera connection: wall-clock microseconds, strictly increasing in a process.

    Sessions are compared, not just matched: the newer connection of a stream wins, also
    across an ingest restart, so the gateway can tell from a result alone whether it is stale.
    """
    global _last_session
    _last_session = max(_last_session + 1, time.time_ns() // 1000)
    return _last_session


def _is_track(name: Any) -> bool:
    return isinstance(name, str) and name in TRACKERS


def _track(obj: dict, what: str) -> str:
    track = obj.get("track", UNTAGGED[0])  # frame metadata of before named no track
    if not _is_track(track):
        raise WireError(f"{what}: unknown track {str(track)[:32]!r}")
    return track


def _optional_int(obj: dict, key: str, what: str) -> int:
    value = obj.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise WireError(f"{what}: {key!r} must be a non-negative integer")
    return value


def _stream_id(obj: dict, what: str) -> str:
    stream = _require(obj, "stream", str, what)
    if len(stream) > MAX_STREAM_ID_LENGTH or not STREAM_ID.fullmatch(stream):
        raise WireError(f"{what}: bad stream id")
    return stream


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


@dataclass(slots=True)
class Result(TrackerLists):
    """What one tracker found in one frame (or why it failed), from a landmarker to the viewers.

    ``tracks`` names the trackers whose output the message carries; for each, its key
    (``faces``, ``poses``, ``hands``: the table's) holds a list in ``found``, empty when
    nothing was found, and reads as ``result.faces`` too (TrackerLists). A landmarker sends
    one Result per lane and frame, so a fast tracker never waits for a slow one; the format
    also allows several trackers in one message.
    """

    stream: str
    seq: int
    width: int
    height: int
    ts: dict[str, float]  # ingest, dispatch, decode_start, infer_start, infer_end, (gateway)
    found: dict[str, list[dict]] = field(default_factory=dict)  # key -> its item type's to_wire() maps
    error: dict | None = None  # {"code": str, "message": str} when the frame failed
    worker: str = ""
    tracks: tuple[str, ...] = UNTAGGED
    session: int = 0  # the camera connection the frame came from (new_session)

    def unreported(self) -> list:
        return []  # a list a tracker did not fill is sent empty

    @classmethod
    def for_frame(cls, meta: FrameMeta, worker: str) -> Result:
        """A worker's result for one frame of one lane, still empty: ingest's stamps carried over,
        decoding starting now (the worker adds infer_start and infer_end to ``ts``)."""
        ts = {"ingest": meta.ts_ingest, "dispatch": meta.ts_dispatch, "decode_start": now_ms()}
        return cls(
            meta.stream,
            meta.seq,
            meta.width,
            meta.height,
            ts,
            worker=worker,
            tracks=(meta.track,),
            session=meta.session,
        )

    def to_wire(self) -> dict:
        message = {
            "type": "landmarks",
            "stream": self.stream,
            "seq": self.seq,
            "imageSize": {"width": self.width, "height": self.height},
            "ts": self.ts,
            "tracks": list(self.tracks),
            "session": self.session,
            "worker": self.worker,
        }
        for name in self.tracks:
            key = TRACKERS[name].key
            message[key] = self.found.get(key, [])
        if self.error is not None:
            message["error"] = self.error
        return message

    def encode(self) -> bytes:
        return pack(self.to_wire())

    @classmethod
    def decode(cls, data: bytes | memoryview, any_stream: bool = False) -> Result:
        """The one decoder of results: ingest's check of a worker's, the gateway's of ingest's,
        and a reader of the viewers' landmarks messages (rig.results.parse_result). Stream ids
        are held to ingest's rule unless ``any_stream`` (a recording names its people freely)."""
        obj = unpack_map(data, "result")
        what = "result"
        if obj.get("type", "landmarks") != "landmarks":
            raise WireError(f"result: unknown type {str(obj.get('type'))[:32]!r}")
        size = _require(obj, "imageSize", dict, what)
        ts = _require(obj, "ts", dict, what)
        tracks = obj.get("tracks", list(UNTAGGED))
        if (
            not isinstance(tracks, list)
            or not tracks
            or not all(map(_is_track, tracks))
            or len(set(tracks)) != len(tracks)
        ):
            raise WireError("result: 'tracks' must list known trackers, each once")
        found: dict[str, list] = {}
        for name in tracks:
            tracker = TRACKERS[name]
            items = obj.get(tracker.key, [] if obj.get("error") else None)  # a failed frame may carry no lists
            found[tracker.key] = tracker.check(items)  # each item's shape; the bytes are kept as they are
        error = obj.get("error")
        if error is not None and not (isinstance(error, dict) and isinstance(error.get("message"), str)):
            raise WireError("result: 'error' must be a map with a message")
        if not all(isinstance(k, str) and isinstance(v, (int, float)) for k, v in ts.items()):
            raise WireError("result: 'ts' must map names to numbers")
        stream = _require(obj, "stream", str, what) if any_stream else _stream_id(obj, what)
        return cls(
            stream=stream,
            seq=_require(obj, "seq", int, what),
            width=_require(size, "width", int, what),
            height=_require(size, "height", int, what),
            ts=dict(ts),
            error=error,
            worker=str(obj.get("worker", ""))[:64],
            tracks=tuple(tracks),
            session=_optional_int(obj, "session", what),
            found=found,
        )


# ---------------------------------------------------------------- small control maps


def encode_map(obj: dict) -> bytes:
    return pack(obj)


def decode_event(data: bytes | memoryview) -> dict:
    """Stream events from ingest to the gateway: {"type": "stream"|"ended", "stream": ID, ...}."""
    obj = unpack_map(data, "event")
    kind = obj.get("type")
    if kind not in ("stream", "ended"):
        raise WireError(f"event: unknown type {kind!r}")
    _stream_id(obj, "event")
    if kind == "stream":
        size = _require(obj, "imageSize", dict, "event")
        _require(size, "width", int, "event")
        _require(size, "height", int, "event")
        tracks = obj.get("tracks", [])
        if not isinstance(tracks, list) or not all(map(_is_track, tracks)):
            raise WireError("event: 'tracks' must list known trackers")
        obj["tracks"] = tuple(dict.fromkeys(tracks))
    return obj


@dataclass(frozen=True)
class Capacity:
    """What a worker can hold (its READY says): MediaPipe instances take memory, measured per
    tracker by the worker, within a budget; and at most ``instances`` of them."""

    memory_mb: float
    instance_mb: dict[str, float]  # per tracker it runs
    instances: int

    def fits(self, tracks: list[str], track: str) -> bool:
        """Whether one more ``track`` instance fits beside instances of ``tracks``."""
        used = sum(self.instance_mb.get(t, 0.0) for t in tracks)
        return len(tracks) < self.instances and used + self.instance_mb.get(track, 0.0) <= self.memory_mb


def decode_ready(data: bytes | memoryview) -> dict:
    """Worker -> ingest READY: ``{name, trackers, capacity}``; capacity None when the worker
    gave none (it holds whatever it is given)."""
    obj = unpack_map(data, "ready")
    name = obj.get("name", "")
    trackers = obj.get("trackers", list(TRACKERS))
    if not isinstance(trackers, list) or not all(map(_is_track, trackers)):
        raise WireError("ready: 'trackers' must list known trackers")
    capacity = obj.get("capacity")
    if capacity is not None:
        capacity = _capacity(capacity)
    return {"name": str(name)[:64], "trackers": tuple(dict.fromkeys(trackers)), "capacity": capacity}


def _capacity(obj: Any) -> Capacity:
    def positive(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1e9

    sizes = obj.get("instance_mb") if isinstance(obj, dict) else None
    if not (
        isinstance(sizes, dict)
        and all(map(_is_track, sizes))
        and all(map(positive, sizes.values()))
        and positive(obj.get("memory_mb"))
        and positive(obj.get("instances"))
    ):
        raise WireError("ready: 'capacity' must be {memory_mb, instance_mb: {TRACKER: MB}, instances}")
    return Capacity(float(obj["memory_mb"]), {t: float(mb) for t, mb in sizes.items()}, int(obj["instances"]))


def decode_seat(data: bytes | memoryview, what: str) -> tuple[str, str, int]:
    """END (ingest -> worker) and BUILT (worker -> ingest): ``{stream, track, replica}``."""
    obj = unpack_map(data, what)
    return _stream_id(obj, what), _track(obj, what), _optional_int(obj, "replica", what)


def encode_done(meta: FrameMeta) -> bytes:
    """Worker -> ingest: the DONE map of the frame ``meta`` names, which ingest matches against
    what it sent (decode_done); the result goes as the message's next part."""
    return encode_map(
        {
            "stream": meta.stream,
            "seq": meta.seq,
            "track": meta.track,
            "session": meta.session,
            "replica": meta.replica,
            "latency_ms": now_ms() - meta.ts_ingest,
        }
    )


def decode_done_message(done: bytes | memoryview, body: bytes | memoryview) -> tuple[dict, Result]:
    """A worker's DONE: the outcome map and the Result it carries, which must describe exactly
    the frame the map names (one lane: one tracker, this stream, seq and session)."""
    outcome = decode_done(done)
    result = Result.decode(body)
    named = (outcome["stream"], outcome["seq"], (outcome["track"],), outcome["session"])
    if (result.stream, result.seq, result.tracks, result.session) != named:
        raise WireError("done: the result is not the frame the DONE names")
    return outcome, result


def decode_done(data: bytes | memoryview) -> dict:
    """Worker -> ingest: which frame of which lane it finished, ``{stream, seq, track, session,
    replica}``; the result itself is the message's next part."""
    obj = unpack_map(data, "done")
    _stream_id(obj, "done")
    _require(obj, "seq", int, "done")
    obj["track"] = _track(obj, "done")
    obj["session"] = _optional_int(obj, "session", "done")
    obj["replica"] = _optional_int(obj, "replica", "done")
    return obj
