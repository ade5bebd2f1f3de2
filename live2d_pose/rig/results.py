"""The rig's input: one tracker result (or several trackers of one frame), decoded and checked.

The gateway hands the rig the results it receives from ingest
(``from_result``); tests and the benchmarks read recordings of the viewer's
landmarks messages (``parse_result``). Either way every number is checked to
be finite before SOLVE sees it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from live2d_pose import wire


@dataclass
class Tracking:
    """One result, decoded and checked.

    A tracker's list is None when the message does not report that tracker
    (absent from ``tracks``), and empty when it ran and found nothing.
    """

    stream: str
    seq: int
    ts: dict[str, float]
    width: int
    height: int
    faces: list[wire.Face] | None = None
    poses: list[wire.Pose] | None = None
    hands: list[wire.Hand] | None = None
    tracks: tuple[str, ...] = ()
    received_ms: float = 0.0  # this process's wall clock when it arrived
    session: int = 0  # the camera connection (wire.new_session)


TRACKERS = (("face", "faces", wire.Face), ("pose", "poses", wire.Pose), ("hands", "hands", wire.Hand))


def from_result(result: wire.Result, received_ms: float) -> Tracking:
    """A result as ingest forwarded it (its lists already checked for shape) -> Tracking;
    wire.WireError for a non-finite number."""
    tracking = Tracking(stream=result.stream, seq=result.seq, ts=dict(result.ts), width=result.width,
                        height=result.height, tracks=tuple(result.tracks), received_ms=received_ms,
                        session=result.session)
    for tracker, key, kind in TRACKERS:
        if tracker in result.tracks:
            setattr(tracking, key, _checked(kind, getattr(result, key), key))
    return tracking


def parse_result(data: bytes, received_ms: float | None = None) -> Tracking:
    """A landmarks message of the gateway's /ws -> Tracking; wire.WireError when it is not a
    well-formed result."""
    obj = wire.unpack_map(data, "result")
    if obj.get("type") != "landmarks":
        raise wire.WireError(f"result: unknown type {obj.get('type')!r}")
    stream, seq, size = obj.get("stream"), obj.get("seq"), obj.get("imageSize")
    if not isinstance(stream, str) or not isinstance(seq, int) or isinstance(seq, bool):
        raise wire.WireError("result: 'stream' and 'seq' are required")
    if not isinstance(size, dict) or not all(isinstance(size.get(k), int) for k in ("width", "height")):
        raise wire.WireError("result: 'imageSize' must have integer width and height")
    ts = obj.get("ts") if isinstance(obj.get("ts"), dict) else {}
    # A gateway from before body tracking sends no "tracks": its results carry faces only.
    tracks = obj.get("tracks", ["face"])
    if not isinstance(tracks, list) or not all(isinstance(t, str) for t in tracks):
        raise wire.WireError("result: 'tracks' must be a list of names")
    session = obj.get("session", 0)
    tracking = Tracking(
        stream=stream, seq=seq, width=size["width"], height=size["height"],
        ts={k: float(v) for k, v in ts.items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
        tracks=tuple(tracks), received_ms=wire.now_ms() if received_ms is None else received_ms,
        session=session if isinstance(session, int) and not isinstance(session, bool) else 0)
    for tracker, key, kind in TRACKERS:
        if tracker not in tracks:
            continue
        value = obj.get(key, [] if obj.get("error") else None)  # a failed frame may carry no lists
        if not isinstance(value, list):
            raise wire.WireError(f"result: {key!r} must be a list")
        setattr(tracking, key, _checked(kind, value, key))
    return tracking


def _checked(kind, items: list, what: str) -> list:
    out = [kind.from_wire(item) for item in items]
    for item in out:
        arrays = [item.landmarks] + [getattr(item, a) for a in ("blendshapes", "matrix", "world") if hasattr(item, a)]
        if not all(np.isfinite(a).all() for a in arrays):
            raise wire.WireError(f"result: {what} with a non-finite number")
    return out
