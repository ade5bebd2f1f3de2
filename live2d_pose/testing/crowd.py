"""Many cameras at once: the capacity, memory and fairness checks of the tests and of
``live2d-pose bench`` (bench/overload.py) share this driver.

:func:`crowd` runs a plan per camera (when it joins and leaves, its rate, frames
and trackers), each with a viewer of its own when watched, and reports what the
viewers saw inside the measured window: results per second and the largest gap
between two results of a stream. A camera ingest refuses in the handshake
(``busy``, ``too_many_streams``) is recorded as refused, not an error.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from collections.abc import Callable

from live2d_pose.testing.clients import Camera, Refused, Viewer


@dataclass(frozen=True)
class CameraPlan:
    stream: str
    frames: list[bytes]
    fps: float  # 0: as fast as the socket takes frames
    size: tuple[int, int] = (640, 480)
    tracks: tuple[str, ...] = ("face",)
    start: float = 0.0  # seconds after the crowd starts
    leave: float | None = None  # seconds after the crowd starts (None: at its end)
    watch: bool = True  # a viewer collects its results


@dataclass
class StreamOutcome:
    stream: str
    refused: str | None = None  # the error code of a refused handshake
    close_code: int | None = None  # and its close code
    sent: int = 0
    received_ms: list[float] = field(default_factory=list)  # when each result reached its viewer (wall ms)


@dataclass
class CrowdOutcome:
    streams: dict[str, StreamOutcome]
    window_ms: tuple[float, float]  # the measured stretch, wall-clock ms
    stats: dict  # ingest /stats just before the window ends (the cameras still connected)

    @property
    def seconds(self) -> float:
        return (self.window_ms[1] - self.window_ms[0]) / 1000

    def served(self) -> list[str]:
        return [name for name, outcome in self.streams.items() if outcome.refused is None]

    def refused(self) -> dict[str, str]:
        return {name: o.refused for name, o in self.streams.items() if o.refused is not None}

    def in_window(self, stream: str) -> list[float]:
        start, end = self.window_ms
        return [t for t in self.streams[stream].received_ms if start <= t <= end]

    def results_per_s(self, streams: list[str] | None = None) -> float:
        return sum(len(self.in_window(s)) for s in streams or self.served()) / self.seconds

    def worst_gap_s(self, streams: list[str] | None = None) -> float:
        """The largest gap between two results of one stream in the window (the window's length
        for a stream with fewer than two)."""
        gaps = [self.gap_s(s) for s in streams or self.served()]
        return max(gaps, default=0.0)

    def gap_s(self, stream: str) -> float:
        times = self.in_window(stream)
        if len(times) < 2:
            return self.seconds
        return max(b - a for a, b in zip(times, times[1:])) / 1000


async def crowd(
    camera_url: str,
    viewer_url: Callable[[str], str],
    plans: list[CameraPlan],
    warmup: float,
    duration: float,
    stats: Callable[[], dict] = dict,
) -> CrowdOutcome:
    """Run every plan; measure from ``warmup`` seconds after the start for ``duration`` seconds.
    ``viewer_url(query)`` makes a viewer's URL; ``stats()`` reads ingest's /stats (blocking)."""
    outcomes = {plan.stream: StreamOutcome(plan.stream) for plan in plans}
    begin, wall = time.monotonic(), time.time() * 1000
    stop_at = begin + warmup + duration

    async def run(plan: CameraPlan) -> None:
        await asyncio.sleep(plan.start)
        outcome = outcomes[plan.stream]
        viewer = Viewer(viewer_url(f"stream={plan.stream}")) if plan.watch else None
        if viewer is not None:
            await viewer.__aenter__()
        try:
            await _stream(camera_url, plan, outcome, min(stop_at, begin + (plan.leave or float("inf"))))
        finally:
            if viewer is not None:
                await viewer.__aexit__(None, None, None)
                outcome.received_ms = [r.received_ms for r in viewer.results]

    async def snapshot() -> dict:
        await asyncio.sleep(max(0.0, stop_at - 0.2 - time.monotonic()))
        return await asyncio.to_thread(stats)

    *_, snap = await asyncio.gather(*(run(plan) for plan in plans), snapshot())
    return CrowdOutcome(outcomes, (wall + warmup * 1000, wall + (warmup + duration) * 1000), snap)


async def track_peak(read: Callable[[], float], peak: list[float], every: float = 0.25) -> None:
    """Until cancelled: ``peak[0]`` is the largest ``read()`` seen (read off the event loop)."""
    while True:
        peak[0] = max(peak[0], await asyncio.to_thread(read))
        await asyncio.sleep(every)


async def _stream(camera_url: str, plan: CameraPlan, outcome: StreamOutcome, until: float) -> None:
    url = f"{camera_url}?stream={plan.stream}&track={','.join(plan.tracks)}"
    camera = Camera(url, *plan.size)
    try:
        await camera.__aenter__()
    except Refused as exc:
        outcome.refused, outcome.close_code = exc.code, exc.close_code
        return
    try:
        start = time.monotonic()
        while time.monotonic() < until:
            await camera.send(plan.frames[outcome.sent % len(plan.frames)])
            outcome.sent += 1
            if plan.fps > 0:
                await asyncio.sleep(max(0.0, start + outcome.sent / plan.fps - time.monotonic()))
            else:
                await asyncio.sleep(0)
    finally:
        await camera.__aexit__(None, None, None)
