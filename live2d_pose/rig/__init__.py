"""The one rig: where motion is computed. Tracker results in, the avatar's motion out.

The gateway keeps one Rig per stream that someone watches (a viewer page, an
output) and publishes what it solves as motion messages; every viewer and
output only retargets them (docs/rig.md, docs/protocol.md "motion")::

    rig = Rig()
    rig.offer(tracking)          # one result (results.from_result / parse_result); steps when it brings news
    rig.ease(now_ms)             # no results for a while: step toward rest on this process's clock
    motion = Motion.of(rig, mirror=True)   # motion.py: what the avatar shows, mirrored or not
    rig.at_rest()                # nothing seen, everything back at rest: nothing more to publish

The pieces, in the order a result goes through them:

- results.py: the result, decoded and checked (finite numbers);
- TrackStore (below): the newest results of each tracker: one frame's face,
  pose and hands come in separate messages, a slow tracker's perhaps after
  the next frame's face; a tracker's result counts as seen for
  TRACKER_STALE_MS;
- solve.py: SOLVE, the results -> one body state (docs/rig.md is its contract),
  with limbs.py (legs, foreshortened limbs), picture.py (where each part lies
  in the image) and ground.observe (where the body stands);
- state_filter.py: the smoothing stage: presence.py (which parts are
  followed), stillness.py (a part whose picture stands still is held),
  ground.py's Grounding (the hips in the room), then filter.py's One Euro
  filters, each channel at the time of the result it comes from, on this
  process's clock (filter.py's ResultClock maps the results' ``ts.ingest``
  onto it);
- live2d.py (with eyes.py): the Live2D parameters; unity.py: the Unity
  humanoid the VMC output sends (RETARGETs that need Python);
- motion.py: the motion message, mirrored or not, full or only what changed.

Tuning in tuning.json, shared names and rest values in contract.json (the
viewer page reads it at build time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from collections.abc import Mapping

from live2d_pose.trackers import TRACKERS
from live2d_pose.rig.contract import TRACKER_STALE_MS
from live2d_pose.rig.filter import TUNING, FilterBank, ResultClock, Tuning
from live2d_pose.rig.live2d import NEUTRAL, RANGES, eye_stabilizer_yaw, face_params, live2d_params
from live2d_pose.rig.quat import angle_between
from live2d_pose.rig.results import Tracking
from live2d_pose.rig.solve import BodyState, SolveCache, rest_rotation, solve
from live2d_pose.rig.state_filter import StateFilter

KEEP = 3  # results kept per tracker: the latest and the two before it
# At rest: every bone within this of its rest rotation, every 0..1 value within REST_VALUE of
# rest (degrees: REST_DEGREES), every Live2D parameter within REST_VALUE of its range from neutral.
REST_DEGREES = 0.1
REST_VALUE = 1e-3

__all__ = ["Rig", "TrackStore", "Tracking", "TRACKER_STALE_MS"]


@dataclass
class _Result:
    stream: str
    session: int
    seq: int
    items: list
    t: float  # the result's time on this process's clock (its ts.ingest, mapped)
    at_ms: float  # when it arrived
    ingest_ms: float | None  # its ts.ingest, on the ingest host's clock
    size: tuple[int, int] | None = None  # the image's (width, height)


@dataclass
class TrackStore:
    """The newest results of each tracker; an older (session, seq) than one already taken is dropped
    and counted."""

    latest: dict[str, _Result] = field(default_factory=dict)
    recent: dict[str, list[_Result]] = field(default_factory=lambda: {k: [] for k in TRACKERS})
    stale: int = 0

    def offer(self, tracking: Tracking, t: float) -> list[str]:
        """Take one result, timed ``t``; returns the trackers it updated."""
        updated = []
        for tracker, key in ((t.name, t.key) for t in TRACKERS.values()):
            items = tracking.found.get(key)
            if items is None:  # this message does not report that tracker
                continue
            previous = self.latest.get(tracker)
            if (
                previous
                and previous.stream == tracking.stream
                and (tracking.session, tracking.seq) <= (previous.session, previous.seq)
            ):
                self.stale += 1  # a newer camera connection (session) wins, as in the gateway's fan-out
                continue
            result = self.latest[tracker] = _Result(
                tracking.stream,
                tracking.session,
                tracking.seq,
                items,
                t,
                tracking.received_ms,
                tracking.ts.get("ingest"),
                (tracking.width, tracking.height),
            )
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
    """One stream's rig: results -> the smoothed body state and the Live2D parameters.

    Everything is kept with the subject's own sides (unmirrored); motion.py
    mirrors for the avatars that want it. ``smoothing=False`` gives the raw
    solve (tests, and the benchmark's unfiltered reference); ``tuning``
    replaces tuning.json's for the face's parameters (the benchmark's --tune).
    """

    def __init__(self, smoothing: bool = True, tuning: Mapping[str, Tuning] = TUNING):
        self.tracks = TrackStore()
        self.clock = ResultClock(stale_ms=TRACKER_STALE_MS)
        self.solved = SolveCache()  # SOLVE's pieces of the results it solved at the last steps
        self.state_filter = StateFilter() if smoothing else None
        self.face_filter = FilterBank(tuning) if smoothing else None
        self.state = BodyState()  # as solved: only what was seen
        self.smoothed = BodyState()  # every channel, smoothed (unseen ones easing to rest)
        self.face_params = dict(NEUTRAL)  # the face's Live2D parameters, smoothed, unmirrored
        self.face_position_cm: tuple[float, float, float] | None = None  # the facial matrix's translation
        self.latest: Tracking | None = None  # the newest result that brought something
        self.ingest_times: dict[str, float | None] = dict.fromkeys(TRACKERS)  # each tracker's ts.ingest in the state
        self.last_arrival = -math.inf  # this process's clock (ms)
        self.updated: list[str] = []  # the trackers whose new result the last step brought ([]: easing)
        self.steps = 0

    # ------------------------------------------------------------ stepping

    def offer(self, tracking: Tracking) -> list[str]:
        """Take one result; the rig steps when it brought a tracker something newer. Returns those
        trackers (none: nothing changed)."""
        now = tracking.received_ms
        t = self.clock.to_local(tracking.ts.get("ingest"), now)
        self.last_arrival = max(self.last_arrival, now)
        updated = self.tracks.offer(tracking, t)
        if updated:
            self.latest = tracking
            self._step(now, updated)
        return updated

    def idle(self, now_ms: float) -> bool:
        """No result for longer than a tracker stays seen: only ease() moves the rig now."""
        return now_ms - self.last_arrival > TRACKER_STALE_MS

    def ease(self, now_ms: float) -> None:
        """One step at ``now_ms`` (this process's clock) with whatever is still fresh: once nothing
        is, every channel eases toward rest, as it does between results for a lost tracker."""
        self._step(now_ms, ())

    def _step(self, now: float, updated) -> None:
        """Solve the fresh result of each tracker (the face and hands against their own frame's pose)
        and smooth it."""
        fresh = {tracker: self.tracks.fresh(tracker, now) for tracker in TRACKERS}
        times = {tracker: r.t if r else None for tracker, r in fresh.items()}
        self.ingest_times = {tracker: r.ingest_ms if r else None for tracker, r in fresh.items()}
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
        self.state = solve(
            first["face"],
            first["pose"],
            hands,
            t,
            times,
            face_pose=face_pose,
            hands_pose=hands_pose,
            pose_hands=hands_at(fresh["pose"]),
            image_size=next((r.size for r in fresh.values() if r), None),
            pose_times={"face": face_pose_t, "hands": hands_pose_t},
            cache=self.solved,
        )
        self.smoothed = self.state_filter.filter(self.state) if self.state_filter else self.state
        face = first["face"]
        self.updated = list(updated)
        self.face_position_cm = (
            None if face is None else (float(face.matrix[3]), float(face.matrix[7]), float(face.matrix[11]))
        )
        if face is None:  # no face: its parameters ease to neutral with the rest
            self._face(dict(NEUTRAL), t)
        elif "face" in updated:  # only a new face result changes them (a later pose re-solves the head only)
            self._face(face_params(self.state.blendshapes, eye_stabilizer_yaw(self.state)), times["face"])
        self.steps += 1

    def _face(self, params: dict[str, float], t: float) -> None:
        self.face_params = self.face_filter(params, t) if self.face_filter else params

    # ------------------------------------------------------------ what it shows

    def live2d(self) -> dict[str, float]:
        """Every Live2D parameter of the unmirrored avatar (live2d.mirror_live2d for the mirrored)."""
        return live2d_params(self.face_params, self.smoothed)

    @property
    def tracking(self) -> bool:
        """Some of the person is seen."""
        return any(self.smoothed.seen.values())

    def at_rest(self) -> bool:
        """Nothing seen and every channel back at its rest value: more steps would change nothing
        anyone can see."""
        s = self.smoothed
        if self.tracking:
            return False
        if any(math.degrees(angle_between(q, rest_rotation(name))) > REST_DEGREES for name, q in s.bones.items()):
            return False
        values = list(s.expressions.values()) + list((s.blendshapes or {}).values())
        if any(abs(v) > REST_VALUE for v in values):
            return False
        if s.gaze and any(abs(v) > REST_DEGREES for v in s.gaze.values()):
            return False
        return all(
            abs(self.face_params[name] - NEUTRAL[name]) <= REST_VALUE * (RANGES[name][1] - RANGES[name][0])
            for name in NEUTRAL
        )
