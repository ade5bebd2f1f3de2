"""Who gets which result: active streams, viewers and their mailboxes.

No sockets here. Each viewer subscribes to motion (the rig's messages,
motion.py), to raw landmarks, or both (Subscription, from /ws's query). A
landmarks result is encoded once, and only when some viewer of its stream
wants landmarks. Each viewer's mailbox keeps only the newest result per
tracker and at most a few motion messages (past those, one full message
replaces them), plus a few control messages, which are never dropped
silently (a newer description of the stream replaces one not yet taken); so
a slow browser skips frames and never builds a backlog or slows the others
(websockets' broadcast advice), and a pose result never overwrites a face
result the viewer has not taken yet.

A viewer that keeps up costs no more than its write: while its sender waits
with nothing to send, the mailbox hands a binary message straight to the
mailbox's ``writer`` (server.py's: the frame written to the connection at
once if its buffer is empty), so a message to 100 viewers wakes no task. A
viewer whose connection is not keeping up (data waiting in its buffer) gets
the mailbox's queue, as above.

Order: per (stream, tracker) a result goes out only if it is newer than the last
one that did, comparing (session, seq). Sessions grow with each camera
connection (wire.new_session), so a reconnected camera's results are accepted at
once and the old connection's late ones are dropped as stale, from the result
alone.

Stream events reach only the viewers of that stream, and are coalesced: a
stream whose description changes (its image size) is announced at once, and
when it changes again within ANNOUNCE_INTERVAL, once more when that has
passed, with the newest size (a camera that changed its size on every frame
sent each change to every viewer of every stream).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from collections.abc import Callable

MAX_CONTROL_MESSAGES = 16
ANNOUNCE_INTERVAL = 0.5  # seconds: a stream's viewers hear of its changes at most this often
# Motion deltas a viewer may have waiting (a frame's trackers can arrive in one burst); beyond this
# it gets one full message instead, so a slow viewer never builds a backlog.
MAX_PENDING_MOTION = 4
MAX_ENDED = 1024  # ended streams remembered (see Fanout.ended)
RATE_WINDOW_S = 2.0  # fps is the count of results in this last stretch of time
MAX_RATE_SAMPLES = 1024  # bounds a meter's memory whatever the rate


class Mailbox:
    """The newest binary result per tracker, the motion messages not yet taken (a few deltas, or
    one full message) and a short queue of text control messages."""

    def __init__(self) -> None:
        self._results: OrderedDict[str, bytes] = OrderedDict()  # by tracker key, oldest first
        self._motion: deque[bytes] = deque()
        self._motion_mark: tuple[object, int] | None = None  # (encoder, index) of the last motion put
        self._controls: deque[tuple[str | None, str]] = deque(maxlen=MAX_CONTROL_MESSAGES)  # (key, text)
        self._ready = asyncio.Event()
        self.overwritten = 0  # results replaced before the viewer took them
        self.motion_skipped = 0  # motion updates replaced before the viewer took them
        self.closed = False
        # Writes a binary message to the viewer now and says whether it did (it declines when the
        # connection has data waiting); set by the viewer's sender while it waits with nothing to send
        self.writer: Callable[[bytes], bool] | None = None

    def _written(self, data: bytes) -> bool:
        """``data`` went straight out: nothing was waiting, and the writer took it."""
        return self.writer is not None and not (self._controls or self._motion or self._results) and self.writer(data)

    def put_result(self, data: bytes, key: str = "face") -> None:
        if self._written(data):
            return
        if key in self._results:
            self.overwritten += 1
        self._results[key] = data  # a replaced one keeps its place: the longest waiting goes first
        self._ready.set()

    def put_motion(self, encoder: object, update) -> None:
        """One motion update (motion.MotionUpdate) of the chain ``encoder`` makes: its delta when
        this viewer got every earlier update of that chain and has few waiting, else its full message,
        which replaces those waiting."""
        mark = self._motion_mark
        follows = mark is not None and mark[0] is encoder and mark[1] == update.index - 1
        self._motion_mark = (encoder, update.index)
        if self._written(update.delta if follows else update.full()):
            return
        if follows and len(self._motion) < MAX_PENDING_MOTION:
            self._motion.append(update.delta)
        else:
            self.motion_skipped += len(self._motion)
            self._motion.clear()
            self._motion.append(update.full())
        self._ready.set()

    def put_control(self, text: str, key: str | None = None) -> None:
        """Queue a text message; one with a ``key`` replaces a waiting one with the same key
        (the newest description of the stream followed is all a viewer needs)."""
        if key is not None:
            for waiting in [c for c in self._controls if c[0] == key]:
                self._controls.remove(waiting)
        self._controls.append((key, text))
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def get(self) -> str | bytes | None:
        """The next message (controls first, in order); None once closed."""
        while True:
            if self.closed:
                return None
            if self._controls:
                return self._controls.popleft()[1]
            if self._motion:
                return self._motion.popleft()
            if self._results:
                return self._results.popitem(last=False)[1]
            self._ready.clear()
            await self._ready.wait()


@dataclass(frozen=True)
class Subscription:
    """What a viewer asked for on /ws (docs/protocol.md): the rig's motion, raw landmarks, or both.
    ``mirror`` picks the variant of the motion (the avatar like your reflection)."""

    motion: bool = True
    landmarks: bool = False
    mirror: bool = True


@dataclass(eq=False)  # hashed by identity: viewers live in a set
class Viewer:
    mailbox: Mailbox
    wanted: str | None  # the stream asked for with ?stream=, or None: follow the latest
    subscription: Subscription = Subscription()
    following: str | None = None  # the stream it is shown now
    # the stream whose motion it shows: the one it follows, and after that stream ended the same
    # until it follows another (the rig's easing to rest still reaches it)
    shown: str | None = None
    delivered: int = 0


class RateMeter:
    """Events per second over the last RATE_WINDOW_S, never more than the events seen can say
    (a burst right after a restart reads as a few events, not thousands per second)."""

    def __init__(self) -> None:
        self.times: deque[float] = deque(maxlen=MAX_RATE_SAMPLES)

    def add(self, now: float) -> None:
        self.times.append(now)

    def rate(self, now: float) -> float:
        while self.times and now - self.times[0] > RATE_WINDOW_S:
            self.times.popleft()
        if len(self.times) < 2:
            return 0.0
        span = max(now - self.times[0], self.times[-1] - self.times[0])
        return (len(self.times) - 1) / max(span, RATE_WINDOW_S / 2)


@dataclass
class TrackInfo:
    """One tracker of one stream, as the gateway sees its results."""

    last: tuple[int, int] = (0, 0)  # (session, seq) of the newest result forwarded
    results: int = 0
    stale: int = 0  # older than one already forwarded (a slower worker, an old connection)
    latency_ms: float = 0.0  # ingest -> gateway, exponentially smoothed
    meter: RateMeter = field(default_factory=RateMeter)

    def describe(self, now: float) -> dict:
        return {"fps": round(self.meter.rate(now), 2), "latency_ms": round(self.latency_ms, 2), "results": self.results}


@dataclass
class StreamInfo:
    stream: str
    width: int = 0
    height: int = 0
    session: int = 0  # the newest camera connection heard of
    started: float = field(default_factory=time.monotonic)
    last_result: float = 0.0
    tracks: dict[str, TrackInfo] = field(default_factory=dict)
    announced: float = float("-inf")  # when its viewers last heard of a change
    changed: bool = False  # a change its viewers have not heard of yet (ANNOUNCE_INTERVAL)

    @property
    def fps(self) -> float:
        """Results per second of its fastest tracker (each tracker has its own rate)."""
        now = time.monotonic()
        return max((t.meter.rate(now) for t in self.tracks.values()), default=0.0)

    @property
    def latency_ms(self) -> float:
        """Its slowest tracker's smoothed latency."""
        return max((t.latency_ms for t in self.tracks.values()), default=0.0)

    @property
    def results(self) -> int:
        return sum(t.results for t in self.tracks.values())

    @property
    def stale(self) -> int:
        return sum(t.stale for t in self.tracks.values())

    def describe(self) -> dict:
        now = time.monotonic()
        return {
            "stream": self.stream,
            "imageSize": {"width": self.width, "height": self.height},
            "fps": round(self.fps, 2),
            "latency_ms": round(self.latency_ms, 2),
            "results": self.results,
            "tracks": {name: track.describe(now) for name, track in self.tracks.items()},
        }


class Fanout:
    """Streams known to the gateway and the viewers watching them."""

    def __init__(self, stream_timeout: float = 5.0):
        self.stream_timeout = stream_timeout
        self.streams: dict[str, StreamInfo] = {}
        self.viewers: set[Viewer] = set()
        # streams ingest said ended, and when: a result still in flight then must not bring
        # the stream back (viewers following the latest would switch to a dead stream)
        self.ended: dict[str, float] = {}
        self.ended_late = 0  # results of ended streams dropped

    # ------------------------------------------------------------ viewers

    def add_viewer(self, wanted: str | None, subscription: Subscription = Subscription()) -> Viewer:
        viewer = Viewer(Mailbox(), wanted, subscription)
        self.viewers.add(viewer)
        self._retarget(viewer)
        return viewer

    def remove_viewer(self, viewer: Viewer) -> None:
        self.viewers.discard(viewer)
        viewer.mailbox.close()

    def hello(self) -> dict:
        return {"type": "hello", "streams": [s.describe() for s in self.streams.values()]}

    def latest_stream(self) -> str | None:
        """The default for viewers without ?stream=: the stream that started last."""
        if not self.streams:
            return None
        return max(self.streams.values(), key=lambda s: s.started).stream

    # ------------------------------------------------------------ streams

    def stream_started(
        self, stream: str, width: int, height: int, now: float, session: int = 0, tracks: tuple[str, ...] = ()
    ) -> None:
        """Ingest announced a stream (new, resized, reconnected, or just a reminder)."""
        self.ended.pop(stream, None)
        info = self.streams.get(stream)
        if info is None:
            info = self.streams[stream] = StreamInfo(stream, width, height, started=now)
            info.last_result = now
            self._retarget_all()  # viewers waiting for it, or following the latest
        info.session = max(info.session, session)
        for track in tracks:
            info.tracks.setdefault(track, TrackInfo())
        self._resize(info, width, height, now)

    def stream_ended(self, stream: str, ended_at: float | None = None) -> None:
        """A stream is over; with ``ended_at`` (ingest said so), late results are dropped for a while."""
        if ended_at is not None:
            self.ended[stream] = ended_at
            if len(self.ended) > MAX_ENDED:  # oldest first: dicts keep insertion order
                del self.ended[next(iter(self.ended))]
        if self.streams.pop(stream, None) is None:
            return
        for viewer in self.viewers:
            if viewer.following == stream:
                viewer.mailbox.put_control(_json({"type": "ended", "stream": stream}))
                viewer.following = None
        self._retarget_all()

    def expire(self, now: float) -> list[str]:
        """End streams without results for stream_timeout (ingest gone, say)."""
        gone = [s.stream for s in self.streams.values() if now - s.last_result > self.stream_timeout]
        for stream in [s for s, at in self.ended.items() if now - at > self.stream_timeout]:
            del self.ended[stream]
        for stream in gone:
            self.stream_ended(stream)
        return gone

    # ------------------------------------------------------------ results

    def offer(
        self,
        stream: str,
        seq: int,
        width: int,
        height: int,
        latency_ms: float,
        encoded: bytes | Callable[[], bytes],
        now: float,
        tracks: tuple[str, ...] = ("face",),
        session: int = 0,
    ) -> bool:
        """Hand a result to the viewers of its stream that want landmarks (``encoded``: its bytes, or
        a function making them, called once if anyone wants them); False when it was stale and dropped."""
        info = self.streams.get(stream)
        if info is None and stream in self.ended and now - self.ended[stream] <= self.stream_timeout:
            self.ended_late += 1
            return False  # a late result of a stream that has ended
        if info is None:  # gateway restarted, or the event was lost: learn it from the result
            self.stream_started(stream, width, height, now, session)
            info = self.streams[stream]
        entries = [info.tracks.setdefault(track, TrackInfo()) for track in tracks]
        if any((session, seq) <= entry.last for entry in entries):
            for entry in entries:
                entry.stale += 1
            return False
        for entry in entries:
            entry.last = (session, seq)
            entry.latency_ms = 0.9 * entry.latency_ms + 0.1 * latency_ms if entry.results else latency_ms
            entry.results += 1
            entry.meter.add(now)
        info.last_result = now
        info.session = max(info.session, session)
        self._resize(info, width, height, now)
        key = ",".join(tracks)
        for viewer in self.viewers:
            if viewer.following == stream and viewer.subscription.landmarks:
                if callable(encoded):
                    encoded = encoded()
                viewer.mailbox.put_result(encoded, key)
        return True

    def played(self, stream: str, now: float, tracks) -> None:
        """A frame of a played take (played.py: no landmarks): the stream is live, and each tracker the
        take saw counts it in its rate."""
        info = self.streams[stream]
        info.last_result = now
        for track in tracks:
            entry = info.tracks.setdefault(track, TrackInfo())
            entry.results += 1
            entry.meter.add(now)

    def watching(self, stream: str) -> list[Viewer]:
        """The viewers whose avatar shows this stream's motion."""
        return [v for v in self.viewers if v.shown == stream and v.subscription.motion]

    def _retarget_all(self) -> None:
        for viewer in self.viewers:
            self._retarget(viewer)

    def _retarget(self, viewer: Viewer) -> None:
        target = viewer.wanted if viewer.wanted is not None else self.latest_stream()
        if target not in self.streams:
            target = None
        if target != viewer.following:
            viewer.following = target
            if target is not None:
                viewer.shown = target
                viewer.mailbox.put_control(_stream_message(self.streams[target]), key="stream")

    # ------------------------------------------------------------ stream events

    def _resize(self, info: StreamInfo, width: int, height: int, now: float) -> None:
        if (width, height) != (info.width, info.height):
            info.width, info.height = width, height
            info.changed = True
            self.announce_changes(now, [info])

    def announce_changes(self, now: float, streams: list[StreamInfo] | None = None) -> None:
        """Tell each changed stream's viewers its new description, unless they heard of a change
        less than ANNOUNCE_INTERVAL ago (the gateway calls this often, so none waits much longer)."""
        for info in self.streams.values() if streams is None else streams:
            if info.changed and now - info.announced >= ANNOUNCE_INTERVAL:
                info.changed, info.announced = False, now
                text = _stream_message(info)
                for viewer in self.viewers:
                    if viewer.following == info.stream:
                        viewer.mailbox.put_control(text, key="stream")


def _json(message: dict) -> str:
    return json.dumps(message)


def _stream_message(info: StreamInfo) -> str:
    return _json({"type": "stream", **info.describe()})
