"""A worker's MediaPipe instances, one per lane it serves.

VIDEO running mode tracks from one frame to the next (the face and pose
landmarkers skip their detector while tracking holds, the hand landmarker its
palm detector), which is both faster and steadier than IMAGE mode, but an
instance must see one lane's frames with strictly increasing timestamps. So a
worker keeps one instance per lane (stream x tracker, and replica), closes the
ones that go idle, and never holds more than ``max_instances``.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import mediapipe as mp
import numpy as np

from live2d_pose.landmarker.trackers import Tracker

log = logging.getLogger("live2d_pose.landmarker")

Seat = tuple[str, str, int]  # (stream, track, replica), as ingest's dispatcher names it


@dataclass
class _Instance:
    tracker: Tracker
    task: Any  # the MediaPipe landmarker
    last_timestamp_ms: int = -1
    last_used: float = 0.0


class LaneInstances:
    """The MediaPipe instances of the lanes this worker serves; least recently used first."""

    def __init__(self, trackers: dict[str, Tracker], max_instances: int = 12, idle_timeout: float = 10.0):
        self.trackers = trackers
        self.max_instances = max_instances
        self.idle_timeout = idle_timeout
        self.instances: OrderedDict[Seat, _Instance] = OrderedDict()

    def detect(self, seat: Seat, rgb: np.ndarray, timestamp_ms: int) -> list[dict]:
        """Run the seat's tracker on one frame; a new instance is made on first use."""
        instance = self.open(seat)
        # VIDEO mode needs strictly increasing timestamps per instance.
        timestamp_ms = max(timestamp_ms, instance.last_timestamp_ms + 1)
        instance.last_timestamp_ms = timestamp_ms
        instance.last_used = time.monotonic()
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        return instance.tracker.detect(instance.task, image, timestamp_ms)

    def close(self, seat: Seat) -> None:
        instance = self.instances.pop(seat, None)
        if instance is not None:
            instance.tracker.close(instance.task)
            log.debug("closed the MediaPipe instance of %s", "/".join(map(str, seat)))

    def close_stream(self, stream: str) -> None:
        for seat in [s for s in self.instances if s[0] == stream]:
            self.close(seat)

    def close_idle(self) -> None:
        now = time.monotonic()
        for seat in [s for s, i in self.instances.items() if now - i.last_used > self.idle_timeout]:
            self.close(seat)

    def close_all(self) -> None:
        for seat in list(self.instances):
            self.close(seat)

    def open(self, seat: Seat) -> _Instance:
        """The seat's instance, built (its model loaded) on first use."""
        instance = self.instances.get(seat)
        if instance is not None:
            self.instances.move_to_end(seat)
            return instance
        while len(self.instances) >= self.max_instances:
            self.close(next(iter(self.instances)))
        tracker = self.trackers[seat[1]]
        instance = self.instances[seat] = _Instance(tracker, tracker.open())
        return instance
