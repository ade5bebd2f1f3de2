"""The server-side rig: gateway results -> one body state that every output retargets.

    rig = Rig()
    frame = rig.solve(tracking)               # tracking: one gateway result (outputs.source.Tracking)
    frame.state.bones["leftUpperArm"]         # docs/rig.md's body state (subject's sides, unmirrored)
    unity.unity_bones(unity.avatar_view(frame.state, mirror=True))   # VMC's Bone/Pos
    live2d.live2d_params(frame.state)         # the VTube Studio plugin's input

- solve.py is SOLVE, a port of web/src/solve.js; docs/rig.md is the contract
  and tests/test_rig_agreement.py holds the two to its tolerances;
- unity.py and live2d.py are the RETARGETs the outputs need;
- the One Euro smoothing (filter.py, the fidelity work's) runs on the state
  before any retarget, as in the viewer.

Like the viewer (web/src/tracks.js), the rig keeps the newest result of each
tracker: one frame's face, pose and hands may come in one message or in
several, and a tracker's result counts as seen for TRACKER_STALE_MS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from live2d_pose.rig.solve import BodyState, solve

TRACKER_STALE_MS = 500.0  # a tracker's result older than this is "not seen" (web/src/main.js)
TRACKERS = {"face": "faces", "pose": "poses", "hands": "hands"}


@dataclass
class RigFrame:
    """The avatar state after one result."""

    stream: str
    seq: int
    ts: dict[str, float]  # the result's stage timestamps (ms)
    state: BodyState  # solved, subject's sides, unmirrored (docs/rig.md)
    face_position_cm: tuple[float, float, float] | None = None  # the facial matrix's translation
    tracks: tuple[str, ...] = ()

    @property
    def tracking(self) -> bool:
        """Some of the person was seen."""
        return bool(self.state.bones) or self.state.seen["face"]


@dataclass
class _Latest:
    stream: str
    seq: int
    items: list
    at_ms: float


@dataclass
class TrackStore:
    """The newest result of each tracker; an older seq than one already taken is dropped and counted."""

    latest: dict[str, _Latest] = field(default_factory=dict)
    stale: int = 0

    def offer(self, tracking) -> None:
        for tracker, key in TRACKERS.items():
            items = getattr(tracking, key)
            if items is None:  # this message does not report that tracker
                continue
            previous = self.latest.get(tracker)
            if previous and previous.stream == tracking.stream and tracking.seq <= previous.seq:
                self.stale += 1
                continue
            self.latest[tracker] = _Latest(tracking.stream, tracking.seq, items, tracking.received_ms)

    def fresh(self, tracker: str, now_ms: float) -> list | None:
        latest = self.latest.get(tracker)
        if latest is None or now_ms - latest.at_ms > TRACKER_STALE_MS:
            return None
        return latest.items


class Rig:
    """Gateway results -> RigFrames."""

    def __init__(self):
        self.tracks = TrackStore()

    def solve(self, tracking) -> RigFrame:
        self.tracks.offer(tracking)
        now = tracking.received_ms
        faces = self.tracks.fresh("face", now) or []
        poses = self.tracks.fresh("pose", now) or []
        hands = self.tracks.fresh("hands", now) or []
        face = faces[0] if faces else None
        state = solve(face, poses[0] if poses else None, hands, tracking.ts.get("ingest", now))
        position = None
        if face is not None:
            m = face.matrix
            position = (float(m[3]), float(m[7]), float(m[11]))
        return RigFrame(stream=tracking.stream, seq=tracking.seq, ts=tracking.ts, state=state,
                        face_position_cm=position, tracks=tracking.tracks)
