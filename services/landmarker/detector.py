"""A worker's MediaPipe instances, one per lane it serves, built and closed off the inference path.

VIDEO running mode tracks from one frame to the next (the face and pose
landmarkers skip their detector while tracking holds, the hand landmarker its
palm detector), which is both faster and steadier than IMAGE mode, but an
instance must see one lane's frames with strictly increasing timestamps. So a
worker keeps one instance per lane (stream x tracker, and replica) and closes
the ones that go idle or that ingest ENDs.

Building an instance loads a model into a new graph: 30-100 ms of a core on an
idle machine (face, hands, pose) and several hundred under load. Built on the
inference thread, each new camera stalled every other lane of the worker for
that long (0.4-1.5 s per holistic camera, measured). So a thread of its own,
the keeper, builds instances: the inference thread asks for a
lane's instance, and until it is built that lane's frame is answered
``warming_up`` (ingest keeps the frame and sends the lane nothing more until
the worker says BUILT) while the other lanes go on. MediaPipe's calls release
the GIL, so a build runs beside inference. Each close runs on a thread of
its own: most take 3-5 ms, but one that overlaps another close or a build
can take 5 s inside MediaPipe's C close (measured: 2 of 87 when the keeper
did them in line with its builds, most of them on a pool of 4 threads; most
likely the usage-metrics post the close waits for, whose DNS lookup glibc
retries after 5 s, and which mediapipe_metrics.py now keeps from leaving), and
in line they held every other instance's memory that long; side by side, a
crowd of closes is over in about 5 s. When the last close under way ends,
the freed memory goes back to the OS (memory.py).

Only the inference thread takes instances out of the table (to use, close or
evict them); the keeper only adds built ones. So no instance is closed while
it infers. ``max_instances`` is a safety net: ingest seats no more lanes on a
worker than its advertised capacity, so the least recently used instance is
evicted only when ingest does not place lanes (``--no-stream-affinity``).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

import mediapipe as mp
import numpy as np

from live2d_pose.landmarker import memory
from live2d_pose.landmarker.trackers import Tracker
from live2d_pose.logs import ThrottledWarning

log = logging.getLogger("live2d_pose.landmarker")

Seat = tuple[str, str, int]  # (stream, track, replica), as ingest's dispatcher names it
KEEPER_STOP_TIMEOUT = 10.0  # seconds close_all waits for a build (or a close) under way


@dataclass
class _Instance:
    tracker: Tracker
    task: Any  # the MediaPipe landmarker
    last_timestamp_ms: int = -1
    last_used: float = 0.0


class LaneInstances:
    """The MediaPipe instances of the lanes this worker serves; least recently used first.
    ``on_built(seat)`` is called from the keeper thread when a seat's build ends (or fails)."""

    def __init__(
        self,
        trackers: dict[str, Tracker],
        max_instances: int = 64,
        idle_timeout: float = 10.0,
        on_built: Callable[[Seat], None] = lambda seat: None,
    ):
        self.trackers = trackers
        self.max_instances = max_instances
        self.idle_timeout = idle_timeout
        self.on_built = on_built
        self.instances: OrderedDict[Seat, _Instance] = OrderedDict()  # built ones
        self.built = 0  # instances built, over the worker's life
        self.evicted = 0  # closed to make room (max_instances)
        self._lock = threading.Lock()
        self._building: dict[Seat, int] = {}  # seat -> ticket of the build asked for
        self._failed: dict[Seat, Exception] = {}  # builds that raised, told to the next get()
        self._tickets = itertools.count()
        self._builds: queue.SimpleQueue = queue.SimpleQueue()  # (seat, ticket) to build, None: stop
        self._closers: set[threading.Thread] = set()  # closes under way (under the lock)
        self._evicting = ThrottledWarning(log)
        self._keeper = threading.Thread(target=self._keep, name="instances", daemon=True)
        self._keeper.start()

    # ------------------------------------------------------------ the inference thread

    def get(self, seat: Seat) -> _Instance | None:
        """The seat's instance; None while it is being built (the first call asks for it).
        A build that failed raises its error here, once; the next call builds again."""
        with self._lock:
            instance = self.instances.get(seat)
            if instance is not None:
                self.instances.move_to_end(seat)
                return instance
            failure = self._failed.pop(seat, None)
            if failure is not None:
                raise failure
            if seat not in self._building:
                self._make_room()
                self._building[seat] = ticket = next(self._tickets)
                self._builds.put((seat, ticket))
            return None

    def building(self, seat: Seat) -> bool:
        with self._lock:
            return seat in self._building

    def detect(self, instance: _Instance, rgb: np.ndarray, timestamp_ms: int) -> list[dict]:
        """Run an instance's tracker on one frame."""
        # VIDEO mode needs strictly increasing timestamps per instance.
        timestamp_ms = max(timestamp_ms, instance.last_timestamp_ms + 1)
        instance.last_timestamp_ms = timestamp_ms
        instance.last_used = time.monotonic()
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        return instance.tracker.detect(instance.task, image, timestamp_ms)

    def close(self, seat: Seat) -> None:
        """Close the seat's instance (on a thread of its own); a build under way is thrown away
        when it is done."""
        with self._lock:
            instance = self.instances.pop(seat, None)
            self._building.pop(seat, None)
            self._failed.pop(seat, None)
            if instance is not None:
                self._start_close(instance)
        if instance is not None:
            log.debug("closing the MediaPipe instance of %s", "/".join(map(str, seat)))

    def close_idle(self) -> None:
        now = time.monotonic()
        with self._lock:
            idle = [s for s, i in self.instances.items() if now - i.last_used > self.idle_timeout]
        for seat in idle:
            self.close(seat)

    def close_all(self) -> None:
        """Close every instance and stop the keeper (at shutdown)."""
        with self._lock:
            seats = list(self.instances) + list(self._building)
        for seat in seats:
            self.close(seat)
        self._builds.put(None)
        self._keeper.join(KEEPER_STOP_TIMEOUT)
        with self._lock:
            closers = list(self._closers)
        for closer in closers:
            closer.join(KEEPER_STOP_TIMEOUT)

    def _make_room(self) -> None:
        """Under the lock: evict least recently used instances until one more fits."""
        while self.instances and len(self.instances) + len(self._building) >= self.max_instances:
            seat, instance = self.instances.popitem(last=False)
            self.evicted += 1
            self._start_close(instance)
            self._evicting(
                "more lanes than --max-instances (%d): closed the instance of %s",
                self.max_instances,
                "/".join(map(str, seat)),
            )

    def _start_close(self, instance: _Instance) -> None:
        """Under the lock: close an instance on a thread of its own (see the module doc)."""
        closer = threading.Thread(target=self._close, args=(instance,), name="close", daemon=True)
        self._closers.add(closer)
        closer.start()

    # ------------------------------------------------------------ the keeper thread

    def _keep(self) -> None:
        while (job := self._builds.get()) is not None:
            self._build(*job)

    def _close(self, instance: _Instance) -> None:
        """On a thread of its own; the last close under way gives the freed memory back."""
        try:
            instance.tracker.close(instance.task)
        except Exception as exc:
            log.warning("closing a %s instance failed: %s", instance.tracker.name, exc)
        with self._lock:
            self._closers.discard(threading.current_thread())
            last = not self._closers
        if last:
            memory.release_free_memory()

    def _build(self, seat: Seat, ticket: int) -> None:
        with self._lock:
            if self._building.get(seat) != ticket:
                return  # closed before its turn
        tracker = self.trackers[seat[1]]
        started = time.monotonic()
        try:
            task = tracker.open()
        except Exception as exc:  # MediaPipe raises RuntimeError and others (out of memory, say)
            log.error("building the %s instance of %s failed: %s", seat[1], seat[0], exc)
            with self._lock:
                if self._building.get(seat) == ticket:
                    del self._building[seat]
                    self._failed[seat] = exc
            self.on_built(seat)
            return
        with self._lock:
            wanted = self._building.get(seat) == ticket
            if wanted:
                del self._building[seat]
                self.instances[seat] = _Instance(tracker, task, last_used=time.monotonic())
                self.built += 1
            else:  # ended while it was built
                self._start_close(_Instance(tracker, task))
        if not wanted:
            return
        log.debug(
            "built the MediaPipe instance of %s in %.0f ms",
            "/".join(map(str, seat)),
            (time.monotonic() - started) * 1000,
        )
        self.on_built(seat)
