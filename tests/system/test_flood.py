"""A camera that sends as fast as it can: read no faster than --max-fps.

Ingest used to read ~11,000 frames a second from such a camera only to drop them,
and that CPU came from the workers. Now it reads at most --max-fps a second: while
it waits, websockets stops reading the socket once its small queue is full and TCP
slows the sender down. Keep-alive pings still work (a pong queues behind the frames
already sent, so its delay is what the buffers hold divided by --max-fps), and a
second camera's results keep flowing.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.conftest import run
from live2d_pose.testing.clients import TIMEOUT, Camera, Viewer
from live2d_pose.testing.frames import astronaut_frames
from live2d_pose.testing.pipeline import Pipeline

MAX_FPS = 120  # ingest's default
PING_INTERVAL, PING_TIMEOUT = 1.0, 3.0
FLOOD_S = 2 * (PING_INTERVAL + PING_TIMEOUT)  # past the keep-alive's patience, twice
FPS = 15


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    pipe = Pipeline(
        tmp_path_factory.mktemp("flood"),
        workers=2,
        env={
            "LIVE2D_POSE_MAX_FPS": str(MAX_FPS),
            "LIVE2D_POSE_PING_INTERVAL": str(PING_INTERVAL),
            "LIVE2D_POSE_PING_TIMEOUT": str(PING_TIMEOUT),
        },
    ).start()
    yield pipe
    pipe.stop()


def test_flood_is_read_at_max_fps_keeps_its_pings_and_others_keep_flowing(pipe, figures):
    frames = astronaut_frames(16)

    async def flood(stop: asyncio.Event, counts: dict) -> None:
        # The flooding client sends no pings of its own: only ingest's keep-alive is judged.
        async with Camera(pipe.camera_url + "?stream=flood", ping_interval=None) as camera:
            while not stop.is_set():
                await camera.send(frames[counts["sent"] % len(frames)])
                counts["sent"] += 1
            counts["open"] = camera.websocket.close_code is None

    async def body():
        counts, stop = {"sent": 0, "open": False}, asyncio.Event()
        async with Camera(pipe.camera_url + "?stream=calm") as calm, Viewer(pipe.viewer_url("stream=calm")) as viewer:
            streaming = asyncio.create_task(calm.stream_frames(frames, fps=FPS, duration=3 * TIMEOUT))
            await viewer.wait_for_results(5, stream="calm")
            flooding = asyncio.create_task(flood(stop, counts))
            await asyncio.sleep(1.0)  # the flood builds up
            first = pipe.ingest_stats()["streams"]["flood"]
            started = time.monotonic()
            window_start_ms = time.time() * 1000
            await asyncio.sleep(FLOOD_S)
            seconds = time.monotonic() - started
            window_end_ms = time.time() * 1000
            last = pipe.ingest_stats()["streams"]["flood"]
            stop.set()
            await flooding
            streaming.cancel()
            window = [r for r in viewer.results if window_start_ms <= r.received_ms <= window_end_ms]
            return counts, first, last, seconds, window

    counts, first, last, seconds, window = run(body())
    read_per_s = (last["received"] - first["received"]) / seconds
    gaps = [b.received_ms - a.received_ms for a, b in zip(window, window[1:])]
    figures["flood_frames_read_per_s"] = read_per_s
    figures["flood_frames_sent"] = counts["sent"]
    figures["calm_fps_during_flood"] = len(window) / seconds
    figures["calm_max_gap_ms"] = max(gaps)
    assert counts["open"], "ingest dropped the flooding camera: its pongs were not read in time"
    assert read_per_s <= 1.2 * MAX_FPS, f"ingest read {read_per_s:.0f} frames/s (limit {MAX_FPS})"
    assert last["throttled"] > first["throttled"]
    assert len(window) / seconds >= 0.7 * FPS and max(gaps) < 1000
