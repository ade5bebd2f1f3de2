"""The server-side rig: gateway results -> one body state that every output retargets, smoothed like the viewer.

    rig = Rig(mirror=True)
    frame = rig.solve(tracking)        # tracking: one gateway result (outputs.source.Tracking)
    frame.state                        # docs/rig.md's body state as solved: only what was seen
    frame.smoothed                     # the same, One Euro smoothed (state_filter.py)
    unity.unity_bones(unity.avatar_view(frame.smoothed, True), only=...)   # VMC's Bone/Pos
    live2d.live2d_params(frame.face_params, frame.smoothed)                # VTube Studio's input

- solve.py is SOLVE, a port of web/src/solve.js; docs/rig.md is the contract;
- state_filter.py is web/src/state-filter.js; filter.py and eyes.py (the
  fidelity work's) are filter.js's and eyes.js's twins;
- unity.py and live2d.py are the RETARGETs the outputs need.
tests/test_rig_agreement.py runs the viewer's JavaScript on the same
recordings and holds every one of these to stated tolerances.

Like the viewer (web/src/tracks.js), the rig keeps the newest result of each
tracker: one frame's face, pose and hands may come in one message or in
several, and a tracker's result counts as seen for TRACKER_STALE_MS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from live2d_pose.rig.filter import FilterBank
from live2d_pose.rig.live2d import NEUTRAL, eye_stabilizer_yaw, face_params
from live2d_pose.rig.solve import BodyState, solve
from live2d_pose.rig.state_filter import StateFilter

TRACKER_STALE_MS = 500.0  # a tracker's result older than this is "not seen" (web/src/main.js)
TRACKERS = {"face": "faces", "pose": "poses", "hands": "hands"}


@dataclass
class RigFrame:
    """The avatar state after one result."""

    stream: str
    seq: int
    ts: dict[str, float]  # the result's stage timestamps (ms)
    state: BodyState  # as solved: subject's sides, unmirrored, only what was seen (docs/rig.md)
    smoothed: BodyState  # every channel, One Euro smoothed (unseen ones easing to rest)
    face_params: dict[str, float] = field(default_factory=lambda: dict(NEUTRAL))  # smoothed rig.js params
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
    """Gateway results -> RigFrames: the per-tracker store, SOLVE, and the viewer's smoothing.

    ``mirror`` only concerns the face parameters (rig.js takes it); the state
    itself is never mirrored. ``smoothing=False`` gives the raw solve (tests).
    """

    def __init__(self, mirror: bool = True, smoothing: bool = True):
        self.mirror = mirror
        self.tracks = TrackStore()
        self.state_filter = StateFilter() if smoothing else None
        self.face_filter = FilterBank() if smoothing else None
        self.face_params = dict(NEUTRAL)

    def solve(self, tracking) -> RigFrame:
        self.tracks.offer(tracking)
        now = tracking.received_ms
        faces = self.tracks.fresh("face", now) or []
        poses = self.tracks.fresh("pose", now) or []
        hands = self.tracks.fresh("hands", now) or []
        face = faces[0] if faces else None
        t = tracking.ts.get("ingest", now)
        state = solve(face, poses[0] if poses else None, hands, t)
        smoothed = self.state_filter.filter(state, t) if self.state_filter else state
        position = None
        if face is not None:
            params = face_params(state.blendshapes, eye_stabilizer_yaw(state), self.mirror)
            self.face_params = self.face_filter(params, t) if self.face_filter else params
            m = face.matrix
            position = (float(m[3]), float(m[7]), float(m[11]))
        return RigFrame(stream=tracking.stream, seq=tracking.seq, ts=tracking.ts, state=state, smoothed=smoothed,
                        face_params=dict(self.face_params), face_position_cm=position, tracks=tracking.tracks)
