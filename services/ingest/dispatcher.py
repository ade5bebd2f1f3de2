"""Which frame goes to which worker: the ingest's bookkeeping, with no sockets.

The unit of work is one tracker of one frame. A stream asks for some trackers
(``track=face,pose,hands``); each (stream, tracker) pair is a LANE. Ingest keeps
one pending frame per lane, the newest: an older one is dropped (and counted)
when a newer one arrives, so a camera faster than the pool sees drops, never a
growing delay, and a fast lane (face) never waits for a slow one (pose).

Load balancing is the ZeroMQ guide's (lbbroker / ppqueue): a worker says READY
when it is free and only then gets a frame, so no frame waits in a socket.

- Affinity: a lane stays on the worker that has its MediaPipe instance (VIDEO
  mode tracks from frame to frame) for as long as that worker lives. Lanes are
  spread by cost, and lanes of one stream go to different workers where that
  costs nothing, so a frame's trackers run at once. A worker only gets lanes
  whose tracker it runs (``--trackers``).
- Costs are learned: each result says how long its worker spent on it (decode
  + inference), and a lane's cost is the running mean of that; a lane not
  measured yet costs what its tracker's lanes cost, or its prior (PRIOR_COST_MS).
  Which tracker is slow depends on the machine and the pictures (hands cost
  more than pose on one machine, less on another), so a lane moves where that
  clearly evens the load out: checked on every tick, at most one move per
  ``rebalance_every`` seconds.
- Replicas: a lane may run on several workers at once (``replicas`` per tracker),
  each with its own instance; the lane's newest frame goes to whichever is free
  first, so a slow tracker can serve alternate frames of one camera.
- Capacity: a worker says in READY how much memory it has for MediaPipe
  instances and what one instance of each tracker weighs (it measured them);
  a lane is seated only on a worker it fits on, never more. A camera whose
  lanes do not all fit is refused (:meth:`Dispatcher.has_room`: ingest closes
  it ``busy``); lanes left without a seat when a worker leaves wait (their
  frames are dropped, counted) until a worker joins or a stream leaves.
- Warming: a worker builds a lane's instance off its inference path and
  answers the lane's first frame ``warming_up``; the frame goes back to the
  lane (unless a newer one came), and the lane gets nothing from that worker
  until it says BUILT, so the build stalls no other lane.
- Fairness by cost: a free worker serves, of its waiting lanes, the one whose
  stream has used the least worker time lately (a decaying sum of what its
  frames cost, charged at dispatch by the lane's learned cost and corrected
  by what the frame really took), ties going to the least recently served.
  Under overload every camera gets an equal share of the workers' time, so a
  costly camera (4K, three trackers) cannot crowd out a cheap one; equal
  lanes get equal service whatever the cameras' phases.
- Deadlines: a frame a worker holds for longer than ``frame_timeout`` is lost;
  the worker is dropped (and kept out for a while), its lanes move on.
- Quarantine: a stream whose frames keep costing workers (lost, over the
  deadline, or a decode over its time limit, ``quarantine_after`` in a row) is
  reported for closing; a frame that comes back fine resets the count.
- Prefetch: with ``prefetch`` 2 a worker gets its next frame while it still
  works on the current one (more throughput when saturated, one inference more
  latency).

Every method takes ``now`` and returns :class:`Actions` for the caller to carry
out, so tests drive it with a fake clock and no I/O.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass, field, replace

from live2d_pose.trackers import TRACKERS, UNTAGGED
from live2d_pose.wire import WARMING_UP, Capacity, FrameMeta

COSTLY_ERRORS = {"decode_timeout"}  # worker-reported errors that mean "this frame cost a worker"
# What a tracker's inference costs before any result says: measured on a 2-core machine (one process,
# VIDEO mode), face 21.6 ms, pose (full) 47 ms, hands 38 ms a frame. A tracker not listed is taken
# to cost the most of these until its results are measured.
FACE_PRIOR_MS = 21.6
PRIOR_COST_MS = {"face": FACE_PRIOR_MS, "pose": 2.2 * FACE_PRIOR_MS, "hands": 1.8 * FACE_PRIOR_MS}
COST_SMOOTHING = 0.1  # weight of a new sample in a running cost: about the last 10 frames count
MAX_COST_SAMPLE_MS = 10_000.0  # a worker's claim beyond this is not a cost sample
# A move ends a lane's MediaPipe instance (tracking restarts on the new worker), so a rebalance
# moves a lane only when that cuts the load gap by this much more than the lane weighs
REBALANCE_MARGIN = 1.25
MAX_BANNED = 1024  # identities remembered as banned (oldest forgotten first)
USAGE_HALF_LIFE_S = 2.0  # fairness: a stream's use of the workers fades by half in this time
WARMING_RETRY_S = 5.0  # a lane whose BUILT never came is tried on its worker again after this

Seat = tuple[str, str, int]  # (stream, track, replica): one MediaPipe instance on one worker


def parse_replicas(text: str) -> dict[str, int]:
    """``"pose=2,hands=2"`` -> {"pose": 2, "hands": 2}; ValueError names what is wrong."""
    out = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        track, _, count = item.partition("=")
        if track.strip() not in TRACKERS or not count.strip().isdigit() or int(count) < 1:
            raise ValueError(f"--replicas: {item!r} is not TRACKER=N (N >= 1; trackers: {', '.join(TRACKERS)})")
        out[track.strip()] = int(count)
    return out


@dataclass
class PendingFrame:
    meta: FrameMeta
    image: bytes | memoryview


@dataclass(frozen=True)
class InFlight:
    """A frame handed to a worker and not answered yet."""

    stream: str
    track: str
    replica: int
    seq: int
    session: int
    deadline: float
    sent_at: float = 0.0
    charged_ms: float = 0.0  # what its stream was charged at dispatch (the lane's estimated cost)
    frame: PendingFrame | None = field(default=None, compare=False, repr=False)  # kept for warming_up


@dataclass
class Actions:
    dispatch: list[tuple[bytes, PendingFrame]] = field(default_factory=list)  # (worker, frame)
    end: list[tuple[bytes, Seat]] = field(default_factory=list)  # (worker, seat): drop its instance
    lost: list[InFlight] = field(default_factory=list)  # frames that will never come back
    dead: list[tuple[bytes, str, str]] = field(default_factory=list)  # (worker, its name, why) dropped
    rejoin: list[bytes] = field(default_factory=list)  # unknown workers to ask for READY
    quarantine: list[str] = field(default_factory=list)  # streams to close

    def extend(self, other: Actions) -> Actions:
        self.dispatch += other.dispatch
        self.end += other.end
        self.lost += other.lost
        self.dead += other.dead
        self.rejoin += other.rejoin
        self.quarantine += other.quarantine
        return self


@dataclass
class LaneStats:
    received: int = 0
    dispatched: int = 0
    dropped: int = 0  # replaced by a newer frame before a worker was free
    lost: int = 0  # held by a worker that died or missed the deadline
    done: int = 0
    errors: int = 0
    warming: int = 0  # sent back by a worker still building the lane's instance (sent again later)
    latency_ms_total: float = 0.0  # ingest receive -> inference end, summed over done frames

    @property
    def mean_latency_ms(self) -> float:
        return self.latency_ms_total / self.done if self.done else 0.0

    def as_dict(self) -> dict:
        return {**vars(self), "mean_latency_ms": round(self.mean_latency_ms, 2)}


@dataclass
class Lane:
    stream: str
    track: str
    workers: list[bytes | None]  # per replica: the worker holding its instance
    pending: PendingFrame | None = None
    last_served: int = -1  # order of the last dispatch (fairness: least recently served first)
    stats: LaneStats = field(default_factory=LaneStats)
    cost_ms: float | None = None  # running mean of the busy time its results report; None: unmeasured


@dataclass
class StreamState:
    stream: str
    session: int = 0
    lanes: dict[str, Lane] = field(default_factory=dict)  # by track, in the tracker table's order
    costly_in_a_row: int = 0
    quarantined: bool = False
    usage_ms: float = 0.0  # worker time its frames took lately, as of usage_at (fairness by cost)
    usage_at: float = 0.0

    def usage(self, now: float) -> float:
        return self.usage_ms * 0.5 ** (max(0.0, now - self.usage_at) / USAGE_HALF_LIFE_S) if self.usage_ms else 0.0

    def charge(self, ms: float, now: float) -> None:
        self.usage_ms, self.usage_at = max(0.0, self.usage(now) + ms), now

    def totals(self) -> LaneStats:
        """The stream's counters: sums over its lanes (``received`` counts camera frames once)."""
        total = LaneStats()
        for lane in self.lanes.values():
            for key, value in vars(lane.stats).items():
                setattr(total, key, getattr(total, key) + value)
        total.received = max((lane.stats.received for lane in self.lanes.values()), default=0)
        return total


@dataclass
class WorkerState:
    identity: bytes
    name: str
    trackers: frozenset[str]
    last_seen: float
    in_flight: list[InFlight] = field(default_factory=list)
    seats: set[Seat] = field(default_factory=set)
    frames_done: int = 0
    capacity: Capacity | None = None  # None: it takes whatever it is given
    warming: dict[Seat, float] = field(default_factory=dict)  # instances it builds -> retry after

    def room_for(self, track: str, seats: list[str] | None = None) -> bool:
        """Whether one more ``track`` instance fits (beside ``seats``' trackers: default its own)."""
        if self.capacity is None:
            return True
        return self.capacity.fits([t for _, t, _ in self.seats] if seats is None else seats, track)


class Dispatcher:
    def __init__(
        self,
        worker_timeout: float = 0.75,
        affinity: bool = True,
        prefetch: int = 1,
        frame_timeout: float = 3.0,
        quarantine_after: int = 3,
        ban_seconds: float = 30.0,
        replicas: dict[str, int] | None = None,
        rebalance_every: float = 2.0,
    ):
        self.worker_timeout = worker_timeout
        self.affinity = affinity
        self.prefetch = max(1, prefetch)  # frames a worker may hold at once (see module doc)
        self.frame_timeout = frame_timeout
        self.quarantine_after = quarantine_after
        self.ban_seconds = ban_seconds
        self.replicas = {track: max(1, n) for track, n in (replicas or {}).items()}
        self.workers: dict[bytes, WorkerState] = {}
        self.streams: dict[str, StreamState] = {}
        self.banned: OrderedDict[bytes, float] = OrderedDict()  # identity -> until
        self._serve_order = itertools.count()
        self.rebalance_every = rebalance_every
        self._next_rebalance = 0.0
        self.moves = 0  # lanes moved by a rebalance (learned costs)
        self.seat_moves = 0  # lanes moved for any reason (a worker joined, a rebalance): each builds anew
        # per tracker: the running cost of its lanes, the prior until a result says otherwise
        self.tracker_cost_ms = {name: PRIOR_COST_MS.get(name, max(PRIOR_COST_MS.values())) for name in TRACKERS}

    # ------------------------------------------------------------ streams

    def add_stream(
        self, stream: str, tracks: tuple[str, ...] = UNTAGGED, now: float = 0.0, session: int = 0
    ) -> Actions:
        """A camera (re)connected: its lanes are these tracks. Lanes it keeps keep their
        workers and MediaPipe instances, so a reconnecting camera keeps its tracking."""
        state = self.streams.setdefault(stream, StreamState(stream))
        state.session = session or state.session
        state.quarantined = False
        state.costly_in_a_row = 0
        actions = Actions()
        for track in [t for t in state.lanes if t not in tracks]:
            self._end_lane(state.lanes.pop(track), actions)
        for track in TRACKERS:
            if track in tracks and track not in state.lanes:
                state.lanes[track] = Lane(stream, track, [None] * self.replicas.get(track, 1))
        actions.extend(self._balance())
        return actions.extend(self._dispatch_idle(now))

    def remove_stream(self, stream: str, now: float = 0.0) -> Actions:
        """Forget a stream; each lane's workers are told to close their MediaPipe instances, and
        lanes that were waiting for room may take the seats it leaves."""
        actions = Actions()
        state = self.streams.pop(stream, None)
        for lane in state.lanes.values() if state else ():
            self._end_lane(lane, actions)
        if self.affinity:
            self._seat_waiting()  # no other lane moves: a move costs its tracking and a new instance
        return actions.extend(self._dispatch_idle(now))

    def has_room(self, stream: str, tracks: tuple[str, ...]) -> bool:
        """Whether a camera's new lanes (those ``stream`` does not have yet) all fit on the workers
        now. A tracker no worker runs yet is no lack of room: its lanes wait for a worker."""
        if not self.affinity:
            return True
        state = self.streams.get(stream)
        planned = {w.identity: [t for _, t, _ in w.seats] for w in self.workers.values()}
        for track in tracks:
            if state is not None and track in state.lanes:
                continue
            capable = [w for w in self.workers.values() if track in w.trackers]
            for _ in range(min(self.replicas.get(track, 1), len(capable))):  # replicas on different workers
                fits = [w for w in capable if w.room_for(track, planned[w.identity])]
                if not fits:
                    return False
                planned[fits[0].identity].append(track)
                capable.remove(fits[0])
        return True

    def unseated(self) -> int:
        """Lane replicas waiting for a worker with room (or for a worker that runs their tracker)."""
        return sum(
            holder not in self.workers
            for state in self.streams.values()
            for lane in state.lanes.values()
            for holder in lane.workers
        )

    def submit(self, frame: PendingFrame, now: float) -> Actions:
        """A new camera frame: it becomes the newest pending frame of each of the stream's lanes."""
        state = self.streams.get(frame.meta.stream)
        if state is None:
            return Actions()  # the stream was closed meanwhile
        for lane in state.lanes.values():
            lane.stats.received += 1
            if lane.pending is not None:
                lane.stats.dropped += 1
            lane.pending = PendingFrame(replace(frame.meta, track=lane.track, session=state.session), frame.image)
        return self._dispatch_idle(now)

    # ------------------------------------------------------------ workers

    def worker_ready(
        self,
        identity: bytes,
        now: float,
        name: str = "",
        trackers: tuple[str, ...] = tuple(TRACKERS),
        capacity: Capacity | None = None,
    ) -> Actions:
        """READY: a new worker joined, or a known one (after reconnecting) is free."""
        actions = Actions()
        if self.is_banned(identity, now):
            return actions
        worker = self.workers.get(identity)
        if worker is None:
            self.workers[identity] = WorkerState(
                identity, name or identity.hex()[:16], frozenset(trackers) & TRACKERS.keys(), now, capacity=capacity
            )
            actions.extend(self._balance())
        else:
            worker.last_seen = now
            self._lose_in_flight(worker, actions, costly=False)  # it restarted its socket mid-frame
        return actions.extend(self._dispatch_idle(now))

    def worker_done(
        self,
        identity: bytes,
        stream: str,
        track: str,
        seq: int,
        session: int,
        replica: int,
        error_code: str | None,
        now: float,
        latency_ms: float = 0.0,
        busy_ms: float | None = None,
    ) -> tuple[bool, Actions]:
        """DONE: (accepted, actions). Accepted only when this worker holds exactly this frame.
        ``busy_ms``: how long the worker spent on it (decode + inference), the lane's cost sample."""
        worker = self.workers.get(identity)
        if worker is None:  # declared dead earlier (its frames were counted lost): re-introduce
            actions = Actions()
            if not self.is_banned(identity, now):
                actions.rejoin.append(identity)
            return False, actions
        worker.last_seen = now
        record = next(
            (
                f
                for f in worker.in_flight
                if (f.stream, f.track, f.replica, f.seq, f.session) == (stream, track, replica, seq, session)
            ),
            None,
        )
        if record is None:
            return False, Actions()
        worker.in_flight.remove(record)
        actions = Actions()
        state = self.streams.get(stream)
        lane = state.lanes.get(track) if state else None
        if error_code == WARMING_UP:
            self._send_back(worker, record, state, lane, now)
            return True, actions.extend(self._dispatch_idle(now))
        worker.frames_done += 1
        if state is not None:  # fairness: what the frame really took, for the estimate charged
            took = (
                busy_ms
                if busy_ms is not None and 0 <= busy_ms <= MAX_COST_SAMPLE_MS
                else (now - record.sent_at) * 1000.0
            )
            state.charge(took - record.charged_ms, now)
        if lane is not None:
            lane.stats.done += 1
            lane.stats.errors += error_code is not None
            lane.stats.latency_ms_total += latency_ms
            if error_code is None and busy_ms is not None and 0 < busy_ms <= MAX_COST_SAMPLE_MS:
                self._learn_cost(lane, busy_ms)
            if error_code in COSTLY_ERRORS:
                self._costly(state, actions)
            else:
                state.costly_in_a_row = 0
        return True, actions.extend(self._dispatch_idle(now))

    def worker_built(self, identity: bytes, seat: Seat, now: float) -> Actions:
        """BUILT: the worker has the lane's instance now; frames for it may go."""
        worker = self.workers.get(identity)
        if worker is None or worker.warming.pop(seat, None) is None:
            return Actions()
        return self._dispatch_idle(now)

    def frame_undelivered(self, identity: bytes, meta: FrameMeta) -> Actions:
        """A dispatched frame never left ingest (the worker's queue was full): it is lost."""
        worker = self.workers.get(identity)
        actions = Actions()
        record = (
            next(
                (
                    f
                    for f in worker.in_flight
                    if (f.stream, f.track, f.replica, f.seq) == (meta.stream, meta.track, meta.replica, meta.seq)
                ),
                None,
            )
            if worker
            else None
        )
        if record is not None:
            worker.in_flight.remove(record)
            actions.lost.append(record)
            lane = self._lane(record.stream, record.track)
            if lane is not None:
                lane.stats.lost += 1
                self.streams[record.stream].charge(-record.charged_ms, record.sent_at)  # nothing was spent
        return actions

    def worker_seen(self, identity: bytes, now: float) -> bool:
        """A heartbeat; False when the worker is unknown (it must say READY first)."""
        worker = self.workers.get(identity)
        if worker is None:
            return False
        worker.last_seen = now
        return True

    def worker_gone(self, identity: bytes, now: float, costly: bool = True) -> Actions:
        """A worker said BYE, its connection closed, or it was declared dead: its lanes move.
        ``costly``: its lost frames count towards their streams' quarantine (not after a BYE: a
        worker that stops on purpose was not brought down by a frame)."""
        worker = self.workers.pop(identity, None)
        actions = Actions()
        if worker is None:
            return actions
        self._lose_in_flight(worker, actions, costly)
        for stream, track, replica in worker.seats:
            lane = self._lane(stream, track)
            if lane is not None and lane.workers[replica] == identity:
                lane.workers[replica] = None
        actions.extend(self._balance())
        return actions.extend(self._dispatch_idle(now))

    def expire(self, now: float) -> Actions:
        """Drop workers silent for longer than worker_timeout, or late with a frame; now and then,
        move a lane where the learned costs say the load is uneven."""
        actions = Actions()
        for worker in list(self.workers.values()):
            late = next((f for f in worker.in_flight if now > f.deadline), None)
            if now - worker.last_seen > self.worker_timeout:
                actions.dead.append((worker.identity, worker.name, f"silent for {now - worker.last_seen:.1f} s"))
            elif late is not None:
                actions.dead.append(
                    (
                        worker.identity,
                        worker.name,
                        f"stream {late.stream} {late.track} frame "
                        f"{late.seq} not answered in {self.frame_timeout:.1f} s",
                    )
                )
                self._ban(worker.identity, now)
            else:
                continue
            actions.extend(self.worker_gone(worker.identity, now))
        # among the workers still here; a lane that is busy cannot move (its result would come from
        # the old worker): try again on the next tick, and after a move let the costs settle. The
        # move's END is the last of actions.end.
        if self.affinity and now >= self._next_rebalance and self._move_one(actions, REBALANCE_MARGIN):
            self._next_rebalance = now + self.rebalance_every
            self.moves += 1
            actions.extend(self._dispatch_idle(now))
        return actions

    def is_banned(self, identity: bytes, now: float) -> bool:
        until = self.banned.get(identity)
        if until is not None and now >= until:
            del self.banned[identity]
            return False
        return until is not None

    # ------------------------------------------------------------ scheduling

    def _dispatch_idle(self, now: float) -> Actions:
        actions = Actions()
        for worker in self.workers.values():
            while len(worker.in_flight) < self.prefetch:
                choice = self._next_for(worker, now)
                if choice is None:
                    break
                lane, replica = choice
                frame, lane.pending = lane.pending, None
                frame.meta.replica = replica
                lane.last_served = next(self._serve_order)
                lane.stats.dispatched += 1
                cost = self._cost(lane)
                self.streams[lane.stream].charge(cost, now)
                worker.in_flight.append(
                    InFlight(
                        lane.stream,
                        lane.track,
                        replica,
                        frame.meta.seq,
                        frame.meta.session,
                        now + self.frame_timeout,
                        now,
                        cost,
                        frame,
                    )
                )
                actions.dispatch.append((worker.identity, frame))
        return actions

    def _next_for(self, worker: WorkerState, now: float) -> tuple[Lane, int] | None:
        """The waiting lane this worker should serve: the one whose stream used the workers least
        lately, then the one served least recently (see Fairness by cost in the module doc)."""
        if self.affinity:
            seats = worker.seats
        else:
            seats = {
                (s.stream, lane.track, 0)
                for s in self.streams.values()
                for lane in s.lanes.values()
                if lane.track in worker.trackers
            }
        candidates = [
            (lane, replica)
            for stream, track, replica in seats
            if worker.warming.get((stream, track, replica), 0.0) <= now
            and (lane := self._lane(stream, track)) is not None
            and lane.pending is not None
        ]
        if not candidates:
            return None
        usage = {stream: self.streams[stream].usage(now) for stream in {lane.stream for lane, _ in candidates}}
        return min(candidates, key=lambda c: (usage[c[0].stream], c[0].last_served, c[0].pending.meta.ts_ingest))

    def _balance(self) -> Actions:
        """Seat every lane replica on a worker that runs its tracker, then even out the load."""
        actions = Actions()
        if not self.affinity:
            return actions
        self._seat_waiting()
        while self._move_one(actions):
            pass
        return actions

    def _seat_waiting(self) -> None:
        """Seat the lane replicas that have no worker where one runs their tracker and has room."""
        for state in self.streams.values():
            for lane in state.lanes.values():
                for replica, holder in enumerate(lane.workers):
                    if holder not in self.workers:
                        best = self._best_worker(lane)
                        if best is not None:
                            self._seat(lane, replica, best)

    def _move_one(self, actions: Actions, margin: float = 1.0) -> bool:
        """Move one seat from the busiest worker where that evens the load out: the gap between
        the two workers must exceed ``margin`` times the lane's cost (1: the move strictly lowers
        the busier one's load without making the other busier than it was)."""
        loads = {w.identity: self.load_ms(w) for w in self.workers.values()}  # once: this runs every tick
        for busiest in sorted(self.workers.values(), key=lambda w: -loads[w.identity]):
            busy = {(f.stream, f.track, f.replica) for f in busiest.in_flight}  # no orphaned results
            for seat in sorted(busiest.seats - busy):
                lane = self._lane(seat[0], seat[1])
                target = self._best_worker(lane, exclude=busiest.identity, loads=loads)
                if (
                    target is not None
                    and loads[busiest.identity] - loads[target.identity] > margin * self._cost(lane) + 1e-9
                ):
                    self._seat(lane, seat[2], target)
                    actions.end.append((busiest.identity, seat))
                    self.seat_moves += 1
                    return True
        return False

    def _best_worker(
        self, lane: Lane, exclude: bytes | None = None, loads: dict[bytes, float] | None = None
    ) -> WorkerState | None:
        """The least loaded worker that runs the lane's tracker, preferring one that holds
        none of the stream's other lanes (so a frame's trackers run in parallel)."""
        capable = [
            w
            for w in self.workers.values()
            if lane.track in w.trackers
            and w.identity != exclude
            and w.identity not in lane.workers
            and w.room_for(lane.track)
        ]
        if not capable:
            return None
        load = (lambda w: loads[w.identity]) if loads is not None else self.load_ms
        return min(
            capable, key=lambda w: (load(w), sum(s[0] == lane.stream for s in w.seats), len(w.in_flight), w.name)
        )

    def _seat(self, lane: Lane, replica: int, worker: WorkerState) -> None:
        old = self.workers.get(lane.workers[replica])
        if old is not None:
            old.seats.discard((lane.stream, lane.track, replica))
            old.warming.pop((lane.stream, lane.track, replica), None)
        lane.workers[replica] = worker.identity
        worker.seats.add((lane.stream, lane.track, replica))

    def _end_lane(self, lane: Lane, actions: Actions) -> None:
        for replica, holder in enumerate(lane.workers):
            worker = self.workers.get(holder)
            if worker is not None:
                worker.seats.discard((lane.stream, lane.track, replica))
                worker.warming.pop((lane.stream, lane.track, replica), None)
                actions.end.append((holder, (lane.stream, lane.track, replica)))
        if not self.affinity:  # any worker may hold an instance of the lane
            for worker in self.workers.values():
                worker.warming.pop((lane.stream, lane.track, 0), None)
                actions.end.append((worker.identity, (lane.stream, lane.track, 0)))

    def _cost(self, lane: Lane) -> float:
        """A lane's cost in ms a frame: measured, else its tracker's running cost."""
        return lane.cost_ms if lane.cost_ms is not None else self.tracker_cost_ms[lane.track]

    def load_ms(self, worker: WorkerState) -> float:
        """What a worker's lanes cost together, in ms a frame of each."""
        return sum(
            self._cost(lane) for stream, track, _ in worker.seats if (lane := self._lane(stream, track)) is not None
        )

    def _learn_cost(self, lane: Lane, busy_ms: float) -> None:
        lane.cost_ms = _running_mean(lane.cost_ms, busy_ms)
        self.tracker_cost_ms[lane.track] = _running_mean(self.tracker_cost_ms[lane.track], busy_ms)

    def _lane(self, stream: str, track: str) -> Lane | None:
        state = self.streams.get(stream)
        return state.lanes.get(track) if state else None

    def _send_back(
        self, worker: WorkerState, record: InFlight, state: StreamState | None, lane: Lane | None, now: float
    ) -> None:
        """A worker answered warming_up: the frame was not served. It waits on the lane again
        (unless a newer one came), and the worker gets none of the lane's frames until BUILT."""
        worker.warming[(record.stream, record.track, record.replica)] = now + WARMING_RETRY_S
        if state is None or lane is None:
            return
        state.charge(-record.charged_ms, now)
        lane.stats.dispatched -= 1
        lane.stats.warming += 1
        if lane.pending is None and record.frame is not None and record.session == state.session:
            lane.pending = record.frame
        else:
            lane.stats.dropped += 1

    def _lose_in_flight(self, worker: WorkerState, actions: Actions, costly: bool = True) -> None:
        """The frames a worker held will never come back: count them, never hide them."""
        for record in worker.in_flight:
            actions.lost.append(record)
            state = self.streams.get(record.stream)
            lane = state.lanes.get(record.track) if state else None
            if lane is not None:
                lane.stats.lost += 1
                if costly:
                    self._costly(state, actions)
        worker.in_flight.clear()

    def _costly(self, state: StreamState, actions: Actions) -> None:
        state.costly_in_a_row += 1
        if state.costly_in_a_row >= self.quarantine_after > 0 and not state.quarantined:
            state.quarantined = True
            actions.quarantine.append(state.stream)

    def _ban(self, identity: bytes, now: float) -> None:
        self.banned[identity] = now + self.ban_seconds
        self.banned.move_to_end(identity)
        while len(self.banned) > MAX_BANNED:
            self.banned.popitem(last=False)


def _running_mean(mean: float | None, sample: float) -> float:
    """An exponentially weighted mean; the first sample stands alone."""
    return sample if mean is None else mean + COST_SMOOTHING * (sample - mean)
