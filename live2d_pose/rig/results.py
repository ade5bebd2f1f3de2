"""The rig's input: one tracker result (or several trackers of one frame), decoded and checked.

The gateway hands the rig the results it receives from ingest
(``from_result``); tests and the benchmarks read recordings of the viewer's
landmarks messages (``parse_result``), decoded by the one decoder of results,
wire.Result.decode. Either way every number is checked to be finite before
SOLVE sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from live2d_pose import wire
from live2d_pose.trackers import TRACKERS, TrackerLists


@dataclass(slots=True)
class Tracking(TrackerLists):
    """One result, decoded and checked.

    ``found`` holds the items of each tracker the message reports, under the
    table's result key; ``tracking.faces`` reads it (TrackerLists). A tracker's
    list is None when the message does not report that tracker (absent from
    ``tracks``), and empty when it ran and found nothing.
    """

    stream: str
    seq: int
    ts: dict[str, float]
    width: int
    height: int
    found: dict[str, list] = field(default_factory=dict)  # key -> wire.Face, wire.Pose ... items
    tracks: tuple[str, ...] = ()
    received_ms: float = 0.0  # this process's wall clock when it arrived
    session: int = 0  # the camera connection (wire.new_session)


def from_result(result: wire.Result, received_ms: float) -> Tracking:
    """A result as ingest forwarded it (its lists already checked for shape) -> Tracking;
    wire.WireError for a non-finite number."""
    found = {}
    for name in result.tracks:
        tracker = TRACKERS[name]
        found[tracker.key] = _finite(tracker.parse(result.found.get(tracker.key, [])), tracker.key)
    return Tracking(
        stream=result.stream,
        seq=result.seq,
        ts=dict(result.ts),
        width=result.width,
        height=result.height,
        found=found,
        tracks=tuple(result.tracks),
        received_ms=received_ms,
        session=result.session,
    )


def parse_result(data: bytes, received_ms: float | None = None) -> Tracking:
    """A landmarks message of the gateway's /ws (or a recording of them) -> Tracking;
    wire.WireError when it is not a well-formed result."""
    result = wire.Result.decode(data, any_stream=True)
    return from_result(result, wire.now_ms() if received_ms is None else received_ms)


def _finite(items: list, what: str) -> list:
    for item in items:
        if not all(np.isfinite(array).all() for array in vars(item).values() if isinstance(array, np.ndarray)):
            raise wire.WireError(f"result: {what} with a non-finite number")
    return items
