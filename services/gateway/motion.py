"""The gateway's rigs: motion solved once per watched stream, published to every viewer of it.

A stream gets a rig (live2d_pose.rig.Rig) when a result arrives and someone
watches it for motion (a viewer page, `live2d-pose vmc` or `vts`) or records
it (takes.py); nobody watching costs nothing. Each result goes through the
rig once, however many viewers there are; each variant in use (mirrored or
not) is derived and encoded once per update and shared by its viewers
(motion.MotionEncoder: deltas for viewers that are keeping up, a full message
for one that fell behind, fanout.Mailbox.put_motion); the recorders get the
unmirrored Motion of every update. A played stream (played.py) has a
PlayedRig, fed frames instead of results, and is published the same way.

When results stop (the camera left, the pipeline stalled), the rig keeps
stepping toward rest on the gateway's clock every REST_STEP_MS, publishing
the easing, until it is at rest; so every viewer and output eases the same
way. A rig is dropped when nobody watches or records its stream, or when its
stream has ended and it is at rest.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol
from collections.abc import Callable

import numpy as np

from live2d_pose import wire
from live2d_pose.gateway.fanout import Fanout, Viewer
from live2d_pose.gateway.played import PlayedRig
from live2d_pose.logs import ThrottledWarning
from live2d_pose.rig import Rig
from live2d_pose.rig.motion import Motion, MotionEncoder
from live2d_pose.rig.results import from_result

log = logging.getLogger("live2d_pose.gateway.motion")

REST_STEP_MS = 1000.0 / 30  # how often a rig without results steps toward rest (and publishes)
COST_SAMPLES = 4096  # recent update costs kept for the benchmark's percentiles


class Recorders(Protocol):
    """Who records streams (takes.Takes): they keep a stream's rig alive and get every update of it."""

    def wants(self, stream: str) -> bool: ...

    def on_motion(self, stream: str, motion: Motion) -> None: ...

    def rig_dropped(self, stream: str) -> None: ...


class NoRecorders:
    def wants(self, stream: str) -> bool:
        return False

    def on_motion(self, stream: str, motion: Motion) -> None:
        pass

    def rig_dropped(self, stream: str) -> None:
        pass


NO_RECORDERS = NoRecorders()


@dataclass
class StreamRig:
    rig: Rig = field(default_factory=Rig)
    encoders: dict[bool, MotionEncoder] = field(default_factory=dict)  # per variant: mirror
    resting: bool = False  # eased back to rest: nothing to publish until a result comes


class MotionHub:
    """The rigs of the watched streams, fed by the results the fan-out accepted."""

    def __init__(
        self,
        fanout: Fanout,
        counters: dict,
        observe: Callable[[float], None] = lambda seconds: None,
        recorders: Recorders = NO_RECORDERS,
    ):
        self.fanout = fanout
        self.rigs: dict[str, StreamRig] = {}
        self.counters = counters
        for name in ("motion_updates", "motion_unsolvable", "rigs_created", "rigs_dropped"):
            counters.setdefault(name, 0)
        self.unsolvable = ThrottledWarning(log, counters, "motion_unsolvable")
        self.observe = observe  # seconds one result cost the rig, its variants and their encoding
        self.costs: deque[float] = deque(maxlen=COST_SAMPLES)
        self.recorders = recorders

    def on_result(self, result: wire.Result, received_ms: float) -> None:
        """One result the fan-out accepted (``received_ms``: the gateway's clock)."""
        entry = self._entry(result.stream, Rig)
        if entry is None:
            return
        start = time.perf_counter()
        try:
            updated = entry.rig.offer(from_result(result, received_ms))
        except (wire.WireError, ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
            self.unsolvable("could not solve result %s/%d: %s", result.stream, result.seq, exc)
            return
        if updated:
            entry.resting = False
            self._publish(result.stream, entry)
            seconds = time.perf_counter() - start
            self.costs.append(seconds)
            self.observe(seconds)

    def on_played(self, stream: str, session: int, motion: Motion, received_ms: float) -> None:
        """One frame of a played take (played.py)."""
        entry = self._entry(stream, PlayedRig)
        if entry is not None:
            entry.rig.play(stream, session, motion, received_ms)
            entry.resting = False
            self._publish(stream, entry)

    def _entry(self, stream: str, kind: type) -> StreamRig | None:
        """The stream's rig, a ``kind`` (a camera's results: Rig; a played take: PlayedRig; one of the
        other kind is replaced: the source changed), while someone watches or records the stream."""
        entry = self.rigs.get(stream)
        if not self._wanted(stream):
            if entry is not None:
                self._drop(stream)
            return None
        if entry is None or type(entry.rig) is not kind:
            entry = self.rigs[stream] = StreamRig(rig=kind())
            self.counters["rigs_created"] += 1
        return entry

    def played(self, stream: str) -> bool:
        """Its rig shows a played take (also while it eases to rest after the player left)."""
        entry = self.rigs.get(stream)
        return entry is not None and isinstance(entry.rig, PlayedRig)

    def _wanted(self, stream: str) -> bool:
        return bool(self.fanout.watching(stream)) or self.recorders.wants(stream)

    def tick(self, now_ms: float) -> None:
        """Step the rigs that have had no result for a while toward rest; drop the unwatched ones and
        those of ended streams that are at rest."""
        for stream, entry in list(self.rigs.items()):
            if not self._wanted(stream) or (entry.resting and stream not in self.fanout.streams):
                self._drop(stream)
            elif not entry.resting and entry.rig.idle(now_ms):
                entry.rig.ease(now_ms)
                entry.resting = entry.rig.at_rest()
                self._publish(stream, entry)

    def _publish(self, stream: str, entry: StreamRig) -> None:
        variants: dict[bool, list[Viewer]] = {}
        for viewer in self.fanout.watching(stream):
            variants.setdefault(viewer.subscription.mirror, []).append(viewer)
        for mirror in [m for m in entry.encoders if m not in variants]:
            del entry.encoders[mirror]  # nobody wants it now; a new viewer of it starts with a full message
        recording = self.recorders.wants(stream)
        motions = {mirror: Motion.of(entry.rig, mirror) for mirror in {*variants, *([False] if recording else [])}}
        for mirror, viewers in variants.items():
            encoder = entry.encoders.setdefault(mirror, MotionEncoder())
            update = encoder.update(motions[mirror])
            for viewer in viewers:
                viewer.mailbox.put_motion(encoder, update)
        if recording:
            self.recorders.on_motion(stream, motions[False])
        self.counters["motion_updates"] += 1

    def _drop(self, stream: str) -> None:
        del self.rigs[stream]
        self.counters["rigs_dropped"] += 1
        self.recorders.rig_dropped(stream)
