"""The server-side rig: gateway results -> one body state that every output retargets, smoothed like the viewer.

    rig = Rig(mirror=True)
    frame = rig.solve(tracking)        # tracking: one gateway result (outputs.source.Tracking)
    frame.state                        # docs/rig.md's body state as solved: only what was seen
    frame.smoothed                     # the same, One Euro smoothed (state_filter.py)
    unity.unity_bones(unity.avatar_view(frame.smoothed, True), only=...)   # VMC's Bone/Pos
    live2d.live2d_params(frame.face_params, frame.smoothed)                # VTube Studio's input

- solve.py is SOLVE (with limbs.py and ground.observe); docs/rig.md is the contract;
- state_filter.py is the smoothing stage: presence.py (which parts are
  followed), ground.py's Grounding (the hips in the room), then filter.py's
  One Euro filters; filter.py and eyes.py are filter.js's and eyes.js's twins;
- unity.py and live2d.py are the RETARGETs the outputs need.

Like the viewer (web/src/body.js and tracks.js), the rig keeps the newest
results of each tracker: one frame's face, pose and hands may come in one
message or in several, and a tracker's result counts as seen for
TRACKER_STALE_MS. Each channel is smoothed at the time of the result it comes
from (docs/rig.md "Smoothing"), on this process's clock: the results'
``ts.ingest`` are mapped onto it by filter.py's ResultClock, as the page maps
them onto its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from live2d_pose.rig.filter import FilterBank, ResultClock
from live2d_pose.rig.live2d import NEUTRAL, eye_stabilizer_yaw, face_params
from live2d_pose.rig.solve import BodyState, solve
from live2d_pose.rig.state_filter import StateFilter

TRACKER_STALE_MS = 500.0  # a tracker's result that arrived longer ago than this is "not seen" (web/src/body.js)
TRACKERS = {"face": "faces", "pose": "poses", "hands": "hands"}
KEEP = 3  # results kept per tracker (web/src/tracks.js): the latest and the two before it


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
class _Result:
    stream: str
    seq: int
    items: list
    t: float  # the result's time on this process's clock (its ts.ingest, mapped)
    at_ms: float  # when it arrived
    size: tuple[int, int] | None = None  # the image's (width, height)


@dataclass
class TrackStore:
    """The newest results of each tracker; an older seq than one already taken is dropped and counted."""

    latest: dict[str, _Result] = field(default_factory=dict)
    recent: dict[str, list[_Result]] = field(default_factory=lambda: {k: [] for k in TRACKERS})
    stale: int = 0

    def offer(self, tracking, t: float) -> list[str]:
        """Take one result, timed ``t``; returns the trackers it updated."""
        updated = []
        for tracker, key in TRACKERS.items():
            items = getattr(tracking, key)
            if items is None:  # this message does not report that tracker
                continue
            previous = self.latest.get(tracker)
            if previous and previous.stream == tracking.stream and tracking.seq <= previous.seq:
                self.stale += 1
                continue
            result = self.latest[tracker] = _Result(tracking.stream, tracking.seq, items, t, tracking.received_ms,
                                                          (tracking.width, tracking.height))
            recent = self.recent[tracker]
            if previous and previous.stream != tracking.stream:
                recent.clear()
            recent.append(result)
            del recent[:-KEEP]
            updated.append(tracker)
        return updated

    def fresh(self, tracker: str, now_ms: float) -> _Result | None:
        latest = self.latest.get(tracker)
        if latest is None or now_ms - latest.at_ms > TRACKER_STALE_MS:
            return None
        return latest

    def result_at(self, tracker: str, t: float, now_ms: float) -> _Result | None:
        """The fresh result of ``tracker`` that belongs with a result taken at ``t``: the newest one
        not newer than ``t``, else (all kept are newer) the oldest kept; None when none is fresh."""
        fresh = [r for r in self.recent[tracker] if now_ms - r.at_ms <= TRACKER_STALE_MS]
        if not fresh:
            return None
        return next((r for r in reversed(fresh) if r.t <= t), fresh[0])


class Rig:
    """Gateway results -> RigFrames: the per-tracker store, SOLVE, and the viewer's smoothing.

    ``mirror`` only concerns the face parameters (rig.js takes it); the state
    itself is never mirrored. ``smoothing=False`` gives the raw solve (tests).
    """

    def __init__(self, mirror: bool = True, smoothing: bool = True):
        self.mirror = mirror
        self.tracks = TrackStore()
        self.clock = ResultClock(stale_ms=TRACKER_STALE_MS)
        self.state_filter = StateFilter() if smoothing else None
        self.face_filter = FilterBank() if smoothing else None
        self.face_params = dict(NEUTRAL)
        self.state = BodyState()
        self.smoothed = BodyState()
        self.face_position_cm: tuple[float, float, float] | None = None

    def solve(self, tracking) -> RigFrame:
        now = tracking.received_ms
        t = self.clock.to_local(tracking.ts.get("ingest"), now)
        updated = self.tracks.offer(tracking, t)
        if updated:  # a message with nothing newer changes nothing (web/src/body.js)
            face = self._step(now)
            self.face_position_cm = None if face is None else (float(face.matrix[3]), float(face.matrix[7]),
                                                               float(face.matrix[11]))
            if "face" in updated and face is not None:
                params = face_params(self.state.blendshapes, eye_stabilizer_yaw(self.state), self.mirror)
                self.face_params = self.face_filter(params, self.state.times["face"]) if self.face_filter else params
        return RigFrame(stream=tracking.stream, seq=tracking.seq, ts=tracking.ts, state=self.state,
                        smoothed=self.smoothed, face_params=dict(self.face_params),
                        face_position_cm=self.face_position_cm, tracks=tracking.tracks)

    def _step(self, now: float):
        """Solve the fresh result of each tracker (the face and hands against their own frame's pose)
        and smooth it; returns the face solved, if any."""
        fresh = {tracker: self.tracks.fresh(tracker, now) for tracker in TRACKERS}
        times = {tracker: r.t if r else None for tracker, r in fresh.items()}
        known = [x for x in times.values() if x is not None]
        t = max(known) if known else now

        def pose_at(result):  # the pose result of another tracker's frame, and its time
            matched = self.tracks.result_at("pose", result.t, now) if result else None
            return (matched.items[0], matched.t) if matched and matched.items else (None, None)

        def hands_at(result):  # the hands of the pose's own frame (a hand vouches for its arm)
            matched = self.tracks.result_at("hands", result.t, now) if result else None
            return matched.items if matched else []

        first = {tracker: (r.items[0] if r and r.items else None) for tracker, r in fresh.items()}
        hands = fresh["hands"].items if fresh["hands"] else []
        (face_pose, face_pose_t), (hands_pose, hands_pose_t) = pose_at(fresh["face"]), pose_at(fresh["hands"])
        self.state = solve(first["face"], first["pose"], hands, t, times, face_pose=face_pose, hands_pose=hands_pose,
                           pose_hands=hands_at(fresh["pose"]), image_size=next((r.size for r in fresh.values() if r), None),
                           pose_times={"face": face_pose_t, "hands": hands_pose_t})
        self.smoothed = self.state_filter.filter(self.state) if self.state_filter else self.state
        return first["face"]
