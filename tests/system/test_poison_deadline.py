"""A poison frame past the header budget: the decode deadline and the quarantine.

The bomb (live2d_pose.testing.poison) is a ~46 KB progressive JPEG declaring
3840x2160 with 1500 refinement scans; ``cv2.imdecode`` spends 16-22 s of a core
on it here. Ingest's header budget (--max-scan-pixels) normally refuses it at the
door; these tests raise that budget so the bomb reaches the workers, and check the
defences behind it: the decode deadline (a decode past --decode-timeout is killed
and the frame gets ``decode_timeout``), the quarantine (a stream whose frames keep
costing workers is closed with ``stream_quarantined``), and a healthy camera on the
same workers that keeps getting results with gaps under 1 s.
"""

from __future__ import annotations

import asyncio
import time

import psutil
import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import run
from live2d_pose.testing import poison
from live2d_pose.testing.clients import TIMEOUT, Camera, Viewer
from live2d_pose.testing.frames import astronaut_frames
from live2d_pose.testing.pipeline import Pipeline

GAP_LIMIT_MS = 1000  # the target: the other streams' result gap stays under 1 s
FPS = 20


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    pipe = Pipeline(
        tmp_path_factory.mktemp("poison"),
        workers=2,
        env={
            "LIVE2D_POSE_MAX_SCAN_PIXELS": str(10**12),  # let the bomb past ingest's header budget
            "LIVE2D_POSE_DECODE_TIMEOUT": "0.5",
            "LIVE2D_POSE_QUARANTINE_AFTER": "3",
        },
    ).start()
    yield pipe
    pipe.stop()


def _max_gap_ms(results, since_ms: float) -> float:
    times = sorted(r.received_ms for r in results if r.received_ms >= since_ms)
    return max((b - a for a, b in zip(times, times[1:])), default=float("inf"))


def test_bomb_gets_decode_timeout_then_quarantine_and_others_keep_flowing(pipe, figures):
    bomb = poison.scan_bomb()
    workers_before = {s.name: s.process.pid for s in pipe.landmarkers}

    async def body():
        async with Viewer(pipe.viewer_url("stream=calm")) as viewer, Camera(pipe.camera_url + "?stream=calm") as calm:
            streaming = asyncio.create_task(calm.stream_frames(astronaut_frames(16), fps=FPS, duration=TIMEOUT))
            await viewer.wait_for_results(FPS, stream="calm")
            # The bomber tracks face, pose and hands: one bomb frame reaches both workers at once.
            async with Camera(
                pipe.camera_url + "?stream=bomber&track=face,pose,hands", width=3840, height=2160
            ) as bomber:
                started_ms = time.time() * 1000
                for _ in range(10):
                    try:
                        await bomber.send(bomb)
                    except ConnectionClosed:
                        break
                    await asyncio.sleep(0.2)
                timeout_error = await bomber.wait_for_error("decode_timeout")
                quarantined = await bomber.wait_for_error("stream_quarantined")
                quarantined_ms = time.time() * 1000
                await asyncio.wait_for(bomber.websocket.wait_closed(), TIMEOUT)
                close_code = bomber.websocket.close_code
            await asyncio.sleep(2.0)  # and after it
            streaming.cancel()
            stats = pipe.ingest_stats()
            return (viewer.results, started_ms, quarantined_ms, timeout_error, quarantined, close_code, stats)

    results, started_ms, quarantined_ms, timeout_error, quarantined, close_code, stats = run(body())
    gap = _max_gap_ms(results, started_ms - 1000)
    figures["healthy_stream_max_gap_ms"] = gap
    figures["bomb_to_quarantine_s"] = (quarantined_ms - started_ms) / 1000
    assert gap < GAP_LIMIT_MS, f"the healthy stream stalled {gap:.0f} ms"
    assert timeout_error["track"] in ("face", "pose", "hands") and "seq" in timeout_error
    assert close_code == 1008 and "bomber" in quarantined["message"]
    assert "bomber" not in stats["streams"]
    assert stats["totals"]["quarantined"] == 1 and stats["totals"]["workers_dead"] == 0
    # No worker died or was replaced: the decode was killed, not the worker.
    assert {s.name: s.process.pid for s in pipe.landmarkers if s.alive()} == workers_before
    assert len(stats["workers"]) == 2
    # ... and no decode is left burning a core.
    for service in pipe.landmarkers:
        helpers = psutil.Process(service.process.pid).children()
        assert len(helpers) == 2, helpers  # the decode helper and its spare, no orphan
        assert all(h.cpu_percent(interval=0.2) < 50 for h in helpers)


def test_a_lone_bomb_is_answered_and_the_camera_stays(pipe):
    """One bomb among good frames: decode_timeout for that frame, and the stream goes on."""
    frames = astronaut_frames(8)

    async def body():
        async with (
            Viewer(pipe.viewer_url("stream=once")) as viewer,
            Camera(pipe.camera_url + "?stream=once", width=640, height=480) as camera,
        ):
            await camera.stream_frames(frames, fps=10)
            await camera.send(poison.scan_bomb())
            error = await camera.wait_for_error("decode_timeout")
            count = len(viewer.results)
            await camera.stream_frames(frames, fps=10)
            await viewer.wait_for_results(count + 4, stream="once")
            return error, camera.websocket.close_code

    error, close_code = run(body())
    assert error["seq"] == 9 and close_code is None
