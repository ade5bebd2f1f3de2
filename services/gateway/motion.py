"""The gateway's rigs: motion solved once per watched stream, published to every viewer of it.

A stream gets a rig (live2d_pose.rig.Rig) when a result arrives and someone
watches it for motion (a viewer page, `live2d-pose vmc` or `vts`); nobody
watching costs nothing. Each result goes through the rig once, however many
viewers there are; each variant in use (mirrored or not) is derived and
encoded once per update and shared by its viewers (motion.MotionEncoder:
deltas for viewers that are keeping up, a full message for one that fell
behind, fanout.Mailbox.put_motion).

When results stop (the camera left, the pipeline stalled), the rig keeps
stepping toward rest on the gateway's clock every REST_STEP_MS, publishing
the easing, until it is at rest; so every viewer and output eases the same
way. A rig is dropped when nobody watches its stream, or when its stream has
ended and it is at rest.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from live2d_pose import wire
from live2d_pose.gateway.fanout import Fanout, Viewer
from live2d_pose.logs import ThrottledWarning
from live2d_pose.rig import Rig
from live2d_pose.rig.motion import Motion, MotionEncoder
from live2d_pose.rig.results import from_result

log = logging.getLogger("live2d_pose.gateway.motion")

REST_STEP_MS = 1000.0 / 30  # how often a rig without results steps toward rest (and publishes)
COST_SAMPLES = 4096  # recent update costs kept for the benchmark's percentiles


@dataclass
class StreamRig:
    rig: Rig = field(default_factory=Rig)
    encoders: dict[bool, MotionEncoder] = field(default_factory=dict)  # per variant: mirror
    resting: bool = False  # eased back to rest: nothing to publish until a result comes


class MotionHub:
    """The rigs of the watched streams, fed by the results the fan-out accepted."""

    def __init__(self, fanout: Fanout, counters: dict, observe: Callable[[float], None] = lambda seconds: None):
        self.fanout = fanout
        self.rigs: dict[str, StreamRig] = {}
        self.counters = counters
        for name in ("motion_updates", "motion_unsolvable", "rigs_created", "rigs_dropped"):
            counters.setdefault(name, 0)
        self.unsolvable = ThrottledWarning(log, counters, "motion_unsolvable")
        self.observe = observe  # seconds one result cost the rig, its variants and their encoding
        self.costs: deque[float] = deque(maxlen=COST_SAMPLES)

    def on_result(self, result: wire.Result, received_ms: float) -> None:
        """One result the fan-out accepted (``received_ms``: the gateway's clock)."""
        watchers = self.fanout.watching(result.stream)
        entry = self.rigs.get(result.stream)
        if not watchers:
            if entry is not None:
                self._drop(result.stream)
            return
        start = time.perf_counter()
        if entry is None:
            entry = self.rigs[result.stream] = StreamRig()
            self.counters["rigs_created"] += 1
        try:
            updated = entry.rig.offer(from_result(result, received_ms))
        except (wire.WireError, ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
            self.unsolvable("could not solve result %s/%d: %s", result.stream, result.seq, exc)
            return
        if updated:
            entry.resting = False
            self._publish(entry, watchers)
            seconds = time.perf_counter() - start
            self.costs.append(seconds)
            self.observe(seconds)

    def tick(self, now_ms: float) -> None:
        """Step the rigs that have had no result for a while toward rest; drop the unwatched ones and
        those of ended streams that are at rest."""
        for stream, entry in list(self.rigs.items()):
            watchers = self.fanout.watching(stream)
            if not watchers or (entry.resting and stream not in self.fanout.streams):
                self._drop(stream)
            elif not entry.resting and entry.rig.idle(now_ms):
                entry.rig.ease(now_ms)
                entry.resting = entry.rig.at_rest()
                self._publish(entry, watchers)

    def _publish(self, entry: StreamRig, watchers: list[Viewer]) -> None:
        variants: dict[bool, list[Viewer]] = {}
        for viewer in watchers:
            variants.setdefault(viewer.subscription.mirror, []).append(viewer)
        for mirror in [m for m in entry.encoders if m not in variants]:
            del entry.encoders[mirror]  # nobody wants it now; a new viewer of it starts with a full message
        for mirror, viewers in variants.items():
            encoder = entry.encoders.setdefault(mirror, MotionEncoder())
            update = encoder.update(Motion.of(entry.rig, mirror))
            for viewer in viewers:
                viewer.mailbox.put_motion(encoder, update)
        self.counters["motion_updates"] += 1

    def _drop(self, stream: str) -> None:
        del self.rigs[stream]
        self.counters["rigs_dropped"] += 1
