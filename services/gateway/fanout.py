"""Who gets which result: active streams, viewers and their one-slot mailboxes.

No sockets here. A result is encoded once and offered to every viewer of its
stream; each viewer's mailbox keeps only the newest result (plus a few control
messages, which are never dropped silently), so a slow browser skips frames
and never builds a backlog or slows the others (websockets' broadcast advice).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field

MAX_CONTROL_MESSAGES = 16
MAX_ENDED = 1024  # ended streams remembered (see Fanout.ended)


class Mailbox:
    """The newest binary result and a short queue of text control messages."""

    def __init__(self) -> None:
        self._result: bytes | None = None
        self._controls: deque[str] = deque(maxlen=MAX_CONTROL_MESSAGES)
        self._ready = asyncio.Event()
        self.overwritten = 0  # results replaced before the viewer took them
        self.closed = False

    def put_result(self, data: bytes) -> None:
        if self._result is not None:
            self.overwritten += 1
        self._result = data
        self._ready.set()

    def put_control(self, text: str) -> None:
        self._controls.append(text)
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
                return self._controls.popleft()
            if self._result is not None:
                data, self._result = self._result, None
                return data
            self._ready.clear()
            await self._ready.wait()


@dataclass(eq=False)  # hashed by identity: viewers live in a set
class Viewer:
    mailbox: Mailbox
    wanted: str | None  # the stream asked for with ?stream=, or None: follow the latest
    following: str | None = None  # the stream it is shown now
    delivered: int = 0


@dataclass
class StreamInfo:
    stream: str
    width: int = 0
    height: int = 0
    session: int = 0  # ingest's id for the camera connection; a new one restarts seq
    started: float = field(default_factory=time.monotonic)
    last_result: float = 0.0
    last_seq: int = 0
    results: int = 0
    stale: int = 0  # older than one already forwarded (a slower worker finished late)
    fps: float = 0.0  # exponentially smoothed
    latency_ms: float = 0.0  # ingest -> gateway, exponentially smoothed

    def describe(self) -> dict:
        return {"stream": self.stream, "imageSize": {"width": self.width, "height": self.height},
                "fps": round(self.fps, 2), "latency_ms": round(self.latency_ms, 2),
                "results": self.results}


class Fanout:
    """Streams known to the gateway and the viewers watching them."""

    def __init__(self, stream_timeout: float = 5.0):
        self.stream_timeout = stream_timeout
        self.streams: dict[str, StreamInfo] = {}
        self.viewers: set[Viewer] = set()
        # streams ingest said ended, and when: a result still in flight then must not bring
        # the stream back (viewers following the latest would switch to a dead stream)
        self.ended: dict[str, float] = {}

    # ------------------------------------------------------------ viewers

    def add_viewer(self, wanted: str | None) -> Viewer:
        viewer = Viewer(Mailbox(), wanted)
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

    def stream_started(self, stream: str, width: int, height: int, now: float,
                       session: int = 0) -> None:
        """Ingest announced a stream (new, resized, reconnected, or just a reminder)."""
        self.ended.pop(stream, None)
        info = self.streams.get(stream)
        if info is None:
            info = self.streams[stream] = StreamInfo(stream, width, height, started=now)
            info.last_result = now
        if session and session != info.session:
            info.session, info.last_seq = session, 0
        changed = (info.width, info.height) != (width, height)
        info.width, info.height = width, height
        self._retarget_all(announce=changed)

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

    def offer(self, stream: str, seq: int, width: int, height: int, latency_ms: float,
              encoded: bytes, now: float) -> bool:
        """Hand an encoded result to its viewers; False when it was stale and dropped."""
        info = self.streams.get(stream)
        if info is None and stream in self.ended and now - self.ended[stream] <= self.stream_timeout:
            return False  # a late result of a stream that has ended
        if info is None:  # gateway restarted, or the event was lost: learn it from the result
            self.stream_started(stream, width, height, now)
            info = self.streams[stream]
        if seq <= info.last_seq:
            info.stale += 1
            return False
        self._count(info, seq, latency_ms, now)
        if (width, height) != (info.width, info.height):
            info.width, info.height = width, height
            self._retarget_all(announce=True)
        for viewer in self.viewers:
            if viewer.following == stream:
                viewer.mailbox.put_result(encoded)
        return True

    def _count(self, info: StreamInfo, seq: int, latency_ms: float, now: float) -> None:
        interval = now - info.last_result if info.results else 0.0
        if interval > 0:
            info.fps = 0.9 * info.fps + 0.1 / interval if info.fps else 1.0 / interval
        info.latency_ms = 0.9 * info.latency_ms + 0.1 * latency_ms if info.results else latency_ms
        info.last_result = now
        info.last_seq = seq
        info.results += 1

    def _retarget_all(self, announce: bool = False) -> None:
        for viewer in self.viewers:
            self._retarget(viewer, announce)

    def _retarget(self, viewer: Viewer, announce: bool = False) -> None:
        target = viewer.wanted if viewer.wanted is not None else self.latest_stream()
        if target not in self.streams:
            target = None
        if target != viewer.following or (announce and target is not None):
            viewer.following = target
            if target is not None:
                viewer.mailbox.put_control(_json({"type": "stream", **self.streams[target].describe()}))


def _json(message: dict) -> str:
    return json.dumps(message)
