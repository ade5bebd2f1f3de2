"""Stream events reach only that stream's viewers, coalesced.

Eight cameras that announced a new imageSize on every message made the gateway
send 201 control messages a second to each viewer of an unrelated stream (each
change re-announced every viewer's own stream), and its CPU went from 2.6 to
25 %. Real ingest and gateway processes, real cameras and viewers; no
landmarkers (the sizes travel as ingest's stream events).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import psutil

from live2d_pose.gateway.fanout import ANNOUNCE_INTERVAL
from live2d_pose.testing.clients import Camera, Viewer
from live2d_pose.testing.pipeline import Pipeline

CAMERAS = 8
CHANGES_PER_S = 25  # per camera: 200 size changes a second in all
WINDOW_S = 3.0
SIZES = ((640, 480), (320, 240))


def stream_messages(viewer: Viewer, stream: str, since: int = 0) -> list[dict]:
    return [c for c in viewer.controls[since:] if c.get("type") == "stream" and c.get("stream") == stream]


async def change_sizes(cameras: list[Camera], seconds: float) -> int:
    """Every camera announces the other size CHANGES_PER_S times a second; the changes sent."""
    sent, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        size = SIZES[sent % 2]
        await asyncio.gather(
            *(c.send(json.dumps({"imageSize": {"width": size[0], "height": size[1]}})) for c in cameras)
        )
        sent += 1
        await asyncio.sleep(max(0.0, start + sent / CHANGES_PER_S - time.monotonic()))
    return sent * len(cameras)


def test_size_changes_reach_only_that_streams_viewers_coalesced(tmp_path, figures):
    pipe = Pipeline(tmp_path, workers=0).start()
    gateway = psutil.Process(pipe.services["gateway"].process.pid)

    async def body():
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(Camera(pipe.camera_url + "?stream=calm"))
            cameras = [
                await stack.enter_async_context(Camera(pipe.camera_url + f"?stream=flap{i}")) for i in range(CAMERAS)
            ]
            unrelated = await stack.enter_async_context(Viewer(pipe.viewer_url("stream=calm")))
            watcher = await stack.enter_async_context(Viewer(pipe.viewer_url("stream=flap0")))
            await asyncio.sleep(0.5)  # each viewer hears of its stream
            marks = len(unrelated.controls), len(watcher.controls)
            gateway.cpu_percent()
            changes = await change_sizes(cameras, WINDOW_S)
            cpu = gateway.cpu_percent()
            await asyncio.sleep(ANNOUNCE_INTERVAL + 0.5)  # a change held back goes out
            return (
                changes,
                cpu,
                stream_messages(unrelated, "calm", marks[0]),
                stream_messages(watcher, "flap0", marks[1]),
            )

    try:
        changes, cpu, to_unrelated, to_watcher = asyncio.run(body())
    finally:
        pipe.stop()
    figures["size_changes_per_s"] = changes / WINDOW_S
    figures["stream_messages_per_s_to_unrelated_viewer"] = len(to_unrelated) / WINDOW_S
    figures["stream_messages_per_s_to_the_streams_viewer"] = len(to_watcher) / WINDOW_S
    figures["gateway_cpu_percent"] = cpu
    assert changes >= 0.8 * CAMERAS * CHANGES_PER_S * WINDOW_S
    assert to_unrelated == [], f"{len(to_unrelated)} stream messages about calm, which never changed"
    assert 1 <= len(to_watcher) <= WINDOW_S / ANNOUNCE_INTERVAL + 2, len(to_watcher)
    last = SIZES[(changes // CAMERAS - 1) % 2]
    assert to_watcher[-1]["imageSize"] == {"width": last[0], "height": last[1]}, to_watcher[-1]
