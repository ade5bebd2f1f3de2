"""Which frame goes to which worker: the ingest's bookkeeping, with no sockets.

The load-balancing pattern of the ZeroMQ guide (lbbroker / ppqueue): a worker
says READY when it is free and only then gets a frame, so no frame waits inside
a socket buffer. Each stream keeps at most one pending frame, the newest; an
older one is dropped (and counted) when a newer one arrives, so a camera
faster than the pool sees drops, never a growing delay.

Stream affinity: a stream stays on the worker that has its MediaPipe instance
(VIDEO mode tracks the face from frame to frame) for as long as that worker
lives. Streams are spread so that no worker holds two more than another, and
a worker that dies or leaves hands its streams to the others.

Prefetch: by default a worker holds one frame at a time, so every frame it
gets is the newest. With ``prefetch`` 2 it gets the next frame while still
working on the current one, so it never idles waiting for ingest's answer to
its DONE (more throughput when saturated), at the cost of that frame being up
to one inference older when it starts.

Every method takes ``now`` and returns :class:`Actions` for the caller to
carry out, so tests drive it with a fake clock and no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from live2d_pose.wire import FrameMeta


@dataclass
class PendingFrame:
    meta: FrameMeta
    image: bytes | memoryview


@dataclass
class Actions:
    dispatch: list[tuple[bytes, PendingFrame]] = field(default_factory=list)  # (worker, frame)
    end: list[tuple[bytes, str]] = field(default_factory=list)  # (worker, stream): drop its instance
    lost: list[tuple[str, int]] = field(default_factory=list)  # (stream, seq) lost with a worker
    dead: list[bytes] = field(default_factory=list)  # workers declared dead

    def extend(self, other: "Actions") -> "Actions":
        self.dispatch += other.dispatch
        self.end += other.end
        self.lost += other.lost
        self.dead += other.dead
        return self


@dataclass
class WorkerState:
    identity: bytes
    name: str
    last_seen: float
    in_flight: list[tuple[str, int]] = field(default_factory=list)  # (stream, seq) sent, not done
    streams: set[str] = field(default_factory=set)
    frames_done: int = 0


@dataclass
class StreamStats:
    received: int = 0
    dispatched: int = 0
    dropped: int = 0  # replaced by a newer frame before a worker was free
    lost: int = 0  # in flight on a worker that died
    done: int = 0
    errors: int = 0
    latency_ms_total: float = 0.0  # ingest receive -> inference end, summed over done frames

    @property
    def mean_latency_ms(self) -> float:
        return self.latency_ms_total / self.done if self.done else 0.0


@dataclass
class StreamState:
    stream: str
    pending: PendingFrame | None = None
    worker: bytes | None = None
    stats: StreamStats = field(default_factory=StreamStats)


class Dispatcher:
    def __init__(self, worker_timeout: float = 0.75, affinity: bool = True, prefetch: int = 1):
        self.worker_timeout = worker_timeout
        self.affinity = affinity
        self.prefetch = max(1, prefetch)  # frames a worker may hold at once (see module doc)
        self.workers: dict[bytes, WorkerState] = {}
        self.streams: dict[str, StreamState] = {}

    # ------------------------------------------------------------ streams

    def add_stream(self, stream: str, now: float) -> Actions:
        self.streams.setdefault(stream, StreamState(stream))
        return self._balance()

    def remove_stream(self, stream: str) -> Actions:
        """Forget a stream; its worker is told to close the MediaPipe instance."""
        actions = Actions()
        state = self.streams.pop(stream, None)
        if state and state.worker in self.workers:
            self.workers[state.worker].streams.discard(stream)
            actions.end.append((state.worker, stream))
        return actions

    def submit(self, frame: PendingFrame, now: float) -> Actions:
        """A new frame from a camera: keep it as the stream's newest, dispatch if possible."""
        state = self.streams.get(frame.meta.stream)
        if state is None:
            state = self.streams[frame.meta.stream] = StreamState(frame.meta.stream)
        state.stats.received += 1
        if state.pending is not None:
            state.stats.dropped += 1
        state.pending = frame
        actions = self._balance() if state.worker not in self.workers else Actions()
        return actions.extend(self._dispatch_idle(now))

    # ------------------------------------------------------------ workers

    def worker_ready(self, identity: bytes, now: float, name: str = "") -> Actions:
        """READY: a new worker joined, or a known one (after reconnecting) is free."""
        actions = Actions()
        worker = self.workers.get(identity)
        if worker is None:
            self.workers[identity] = WorkerState(identity, name or identity.hex(), now)
            actions.extend(self._balance())
        else:
            worker.last_seen = now
            self._lose_in_flight(worker, actions)  # it restarted its socket mid-frame
        return actions.extend(self._dispatch_idle(now))

    def worker_done(self, identity: bytes, stream: str, seq: int, ok: bool, now: float,
                    latency_ms: float = 0.0) -> Actions:
        worker = self.workers.get(identity)
        if worker is None:  # declared dead earlier, came back: treat as a fresh READY
            return self.worker_ready(identity, now)
        worker.last_seen = now
        if (stream, seq) in worker.in_flight:
            worker.in_flight.remove((stream, seq))
        worker.frames_done += 1
        state = self.streams.get(stream)
        if state is not None:
            state.stats.done += 1
            state.stats.errors += 0 if ok else 1
            state.stats.latency_ms_total += latency_ms
        return self._dispatch_idle(now)

    def worker_seen(self, identity: bytes, now: float) -> bool:
        """A heartbeat; False when the worker is unknown (it must say READY first)."""
        worker = self.workers.get(identity)
        if worker is None:
            return False
        worker.last_seen = now
        return True

    def worker_gone(self, identity: bytes, now: float) -> Actions:
        """A worker said BYE or was declared dead: its streams move to the others."""
        worker = self.workers.pop(identity, None)
        actions = Actions()
        if worker is None:
            return actions
        self._lose_in_flight(worker, actions)
        for stream in worker.streams:
            if stream in self.streams:
                self.streams[stream].worker = None
        actions.extend(self._balance())
        return actions.extend(self._dispatch_idle(now))

    def expire(self, now: float) -> Actions:
        """Declare workers silent for longer than worker_timeout dead."""
        actions = Actions()
        for identity in [w.identity for w in self.workers.values()
                         if now - w.last_seen > self.worker_timeout]:
            actions.dead.append(identity)
            actions.extend(self.worker_gone(identity, now))
        return actions

    # ------------------------------------------------------------ scheduling

    def _dispatch_idle(self, now: float) -> Actions:
        actions = Actions()
        for worker in self.workers.values():
            while len(worker.in_flight) < self.prefetch:
                state = self._next_for(worker)
                if state is None:
                    break
                frame, state.pending = state.pending, None
                worker.in_flight.append((state.stream, frame.meta.seq))
                state.stats.dispatched += 1
                actions.dispatch.append((worker.identity, frame))
        return actions

    def _next_for(self, worker: WorkerState) -> StreamState | None:
        """The waiting stream this worker should serve: the one waiting longest."""
        candidates = [s for s in self.streams.values() if s.pending is not None
                      and (not self.affinity or s.worker == worker.identity)]
        if not candidates:
            return None
        return min(candidates, key=lambda s: s.pending.meta.ts_ingest)

    def _assign(self, state: StreamState, worker: WorkerState) -> None:
        if state.worker in self.workers:
            self.workers[state.worker].streams.discard(state.stream)
        state.worker = worker.identity
        worker.streams.add(state.stream)

    def _balance(self) -> Actions:
        """Give unassigned streams a worker and even out the counts (max - min <= 1)."""
        actions = Actions()
        if not self.affinity or not self.workers:
            return actions
        for state in self.streams.values():
            if state.worker not in self.workers:
                self._assign(state, self._least_loaded())
        while True:
            most = max(self.workers.values(), key=lambda w: len(w.streams))
            least = self._least_loaded()
            if len(most.streams) - len(least.streams) <= 1:
                return actions
            # Move a stream whose frame is not in flight, so no result is orphaned.
            busy = {stream for stream, _ in most.in_flight}
            movable = sorted(s for s in most.streams if s not in busy)
            if not movable:
                return actions
            stream = movable[0]
            self._assign(self.streams[stream], least)
            actions.end.append((most.identity, stream))

    def _least_loaded(self) -> WorkerState:
        return min(self.workers.values(), key=lambda w: (len(w.streams), len(w.in_flight)))

    def _lose_in_flight(self, worker: WorkerState, actions: Actions) -> None:
        """The frames a worker held will never come back: count them, never hide them."""
        for stream, seq in worker.in_flight:
            actions.lost.append((stream, seq))
            state = self.streams.get(stream)
            if state is not None:
                state.stats.lost += 1
        worker.in_flight.clear()
