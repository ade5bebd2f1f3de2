"""The worker's inference thread: decode, MediaPipe, one result per job; off the socket thread.

The socket thread must answer heartbeats while a frame is decoded, a model is
loaded or a tracker infers. MediaPipe 1.2.2's Tasks API calls its C library
through ``ctypes.CDLL`` (from a dispatcher thread per task), and ctypes releases
the GIL for the call; OpenCV releases it while it decodes. Measured: a thread
ticking every 2 ms keeps ticking (its gaps stay at the scale of Python's thread
switch interval, a few ms) while pose inferences of tens of ms run in another
thread (docs/performance.md). So a plain thread is enough for inference; only
decoding, which a crafted file can make last for seconds, runs in a process that
can be killed (decoder.py).

Jobs come from the socket thread (:meth:`Inference.submit`), results go back
through ``deliver`` (the worker sends them to ingest). MediaPipe instances run
only here (detector.py builds them on its keeper thread and closes each on a
thread of its own); the
socket thread asks for lanes to be closed with :meth:`Inference.end`, queued
in order with the jobs: an END that follows a lane's frame closes the instance
after that frame. A frame whose lane has no instance yet is answered at once
with ``warming_up`` (no decode, no inference): the build runs beside the other
lanes' frames, and ingest sends the frame again once the worker says BUILT.
BUILT goes out from this thread too (``announce``), queued behind the job in
hand, so ingest always hears a lane's ``warming_up`` before its BUILT.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

from live2d_pose.trackers import TRACKERS
from live2d_pose import wire
from live2d_pose.imageinfo import ImageError
from live2d_pose.landmarker.decoder import Decoder
from live2d_pose.landmarker.detector import LaneInstances, Seat

log = logging.getLogger("live2d_pose.landmarker")

IDLE_CHECK_S = 1.0  # how often idle MediaPipe instances are looked for while no job comes
MAX_QUEUED = 1024  # jobs and ENDs waiting; ingest sends far fewer (a bound, not a working size)


@dataclass
class Job:
    meta: wire.FrameMeta
    image: Any  # the zmq.Frame (or bytes) holding the encoded image; kept alive with the job
    data: memoryview | bytes


@dataclass
class Counters:
    frames: int = 0
    found: dict[str, int] = field(default_factory=dict)  # per tracker: faces, poses, hands found
    errors: int = 0
    decode_timeouts: int = 0
    warming: int = 0  # frames answered warming_up: their lane's instance was being built


@dataclass(frozen=True)
class Built:
    """The keeper built a seat's instance: tell ingest (in order with this thread's results)."""

    seat: Seat


class Inference(threading.Thread):
    def __init__(
        self,
        instances: LaneInstances,
        decoder: Decoder,
        worker: str,
        deliver: Callable[[wire.FrameMeta, wire.Result], None],
        announce: Callable[[Seat], None] = lambda seat: None,
    ):
        super().__init__(name="inference", daemon=True)
        self.instances = instances
        self.decoder = decoder
        self.worker = worker
        self.deliver = deliver
        self.announce = announce
        instances.on_built = self.built
        self.counters = Counters()
        self._queue: deque[Job | Built | Seat] = deque()  # jobs, BUILTs, seats to close, in order
        self._wake = threading.Condition()
        self._running = True
        self._idle_checked = time.monotonic()
        self._decoded: tuple[tuple, Any] | None = None  # (frame key, rgb): lanes of one frame decode once

    # ------------------------------------------------------------ from the socket thread

    def submit(self, job: Job) -> None:
        self._put(job)

    def end(self, seat: Seat) -> None:
        self._put(seat)

    def built(self, seat: Seat) -> None:
        """From the keeper thread: the seat's build ended (or failed)."""
        self._put(Built(seat))

    def pending(self) -> int:
        """Jobs waiting (not counting the one being worked on)."""
        with self._wake:
            return sum(isinstance(item, Job) for item in self._queue)

    def drop_pending(self) -> list[Job]:
        """Forget jobs not started yet (ingest counted them lost); ENDs stay. Returns the jobs."""
        with self._wake:
            dropped = [item for item in self._queue if isinstance(item, Job)]
            self._queue = deque(item for item in self._queue if not isinstance(item, Job))
            return dropped

    def _put(self, item: Job | Built | Seat) -> None:
        with self._wake:
            if len(self._queue) >= MAX_QUEUED:
                log.warning("inference queue full (%d): %s dropped", MAX_QUEUED, type(item).__name__)
                return
            self._queue.append(item)
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._running = False
            self._wake.notify()

    # ------------------------------------------------------------ the thread

    def run(self) -> None:
        try:
            while (job := self._next()) is not None:
                self.deliver(job.meta, self._analyse(job))
        finally:
            self.instances.close_all()
            self.decoder.close()

    def _next(self) -> Job | None:
        """The next job; ENDs before it are carried out on the way, idle instances closed meanwhile."""
        while True:
            if time.monotonic() - self._idle_checked >= IDLE_CHECK_S:  # busy or not
                self._idle_checked = time.monotonic()
                self.instances.close_idle()
            with self._wake:
                if not self._running:
                    return None
                item = self._queue.popleft() if self._queue else None
                if item is None:
                    self._wake.wait(IDLE_CHECK_S)
            if isinstance(item, Job):
                return item
            if isinstance(item, Built):
                self.announce(item.seat)
            elif item is not None:
                self.instances.close(item)

    def _analyse(self, job: Job) -> wire.Result:
        meta = job.meta
        result = wire.Result.for_frame(meta, self.worker)
        seat = (meta.stream, meta.track, meta.replica)
        try:
            instance = self.instances.get(seat)
            if instance is None:
                self.counters.warming += 1
                result.error = {
                    "code": wire.WARMING_UP,
                    "message": f"the {meta.track} instance of stream {meta.stream} is being built",
                }
                return result
            self.counters.frames += 1
            rgb, (result.width, result.height) = self._decode(job)
            result.ts["infer_start"] = wire.now_ms()
            found = self.instances.detect(instance, rgb, int(meta.ts_ingest))
            result.ts["infer_end"] = wire.now_ms()
            result.found[TRACKERS[meta.track].key] = found
            self.counters.found[meta.track] = self.counters.found.get(meta.track, 0) + len(found)
        except ImageError as exc:
            self.counters.errors += 1
            self.counters.decode_timeouts += exc.code == "decode_timeout"
            result.error = {"code": exc.code, "message": str(exc)}
        except Exception as exc:  # MediaPipe raises RuntimeError, ValueError and others; keep serving
            self.counters.errors += 1
            log.exception("stream %s %s frame %d: MediaPipe failed", meta.stream, meta.track, meta.seq)
            self.instances.close(seat)  # its state may be broken
            result.error = {"code": "inference_failed", "message": f"{exc.__class__.__name__}: {exc}"}
        return result

    def _decode(self, job: Job):
        """(RGB, the frame's (width, height)); a frame already decoded for another of its lanes is
        not decoded again."""
        key = (job.meta.stream, job.meta.session, job.meta.seq)
        if self._decoded is None or self._decoded[0] != key:
            self._decoded = None  # the decoder reuses its buffer: the old view becomes invalid now
            try:
                self._decoded = (key, self.decoder.decode(job.data))
            except ImageError as exc:  # the frame's other lanes fail the same way, at no cost
                self._decoded = (key, exc)
        outcome = self._decoded[1]
        if isinstance(outcome, ImageError):
            raise outcome
        return outcome
