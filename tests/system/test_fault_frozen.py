"""A worker that hangs (stuck inside MediaPipe, say) without its connection closing.

kill -9 closes the worker's sockets, which ingest notices at once
(test_faults.py). A frozen process keeps them open: only the missing
heartbeats give it away, so this is the worker_timeout path.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.conftest import run
from live2d_pose.testing.clients import TIMEOUT, Camera, Viewer
from live2d_pose.testing.frames import astronaut_frames
from live2d_pose.testing.pipeline import Pipeline

FPS = 20
NOTICED_WITHIN = 1.0  # ingest's default --worker-timeout (0.75 s) plus one heartbeat
# After that the stream's newest frame goes to the other worker, which first
# creates a MediaPipe instance for the stream (tens of ms; more on a busy machine).
FIRST_RESULT_MARGIN = 0.5


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    pipe = Pipeline(tmp_path_factory.mktemp("frozen"), workers=2).start()
    yield pipe
    pipe.stop()


def test_frozen_worker_is_declared_dead_and_rejoins_when_it_thaws(pipe, figures):
    frames = astronaut_frames(16)

    async def body():
        async with (
            Viewer(pipe.viewer_url("stream=frozen")) as viewer,
            Camera(pipe.camera_url + "?stream=frozen") as camera,
        ):
            streaming = asyncio.create_task(camera.stream_frames(frames, fps=FPS, duration=TIMEOUT))
            await viewer.wait_for_results(FPS)
            owner = pipe.ingest_stats()["streams"]["frozen"]["worker"]
            victim = next(s for s in pipe.landmarkers if s.name == f"landmarker-{owner[1:]}")
            victim.process.send_signal(signal.SIGSTOP)
            frozen_ms = time.time() * 1000
            try:
                before = len(viewer.results)
                await viewer.wait_for_results(before + FPS)
                resumed_ms = min(r.received_ms for r in viewer.results[before:])
                moved_to = pipe.ingest_stats()["streams"]["frozen"]["worker"]
            finally:
                victim.process.send_signal(signal.SIGCONT)
            thawed = time.monotonic()
            while pipe.joined_workers() < 2 and time.monotonic() - thawed < TIMEOUT:
                await asyncio.sleep(0.05)
            rejoin_s = time.monotonic() - thawed
            streaming.cancel()
            return owner, moved_to, resumed_ms - frozen_ms, rejoin_s

    owner, moved_to, gap_ms, rejoin_s = run(body())
    figures["gap_after_freeze_ms"] = gap_ms
    figures["rejoin_after_thaw_s"] = rejoin_s
    assert moved_to not in (None, owner)
    assert gap_ms < (NOTICED_WITHIN + FIRST_RESULT_MARGIN) * 1000, f"stream stalled {gap_ms:.0f} ms on a frozen worker"
    assert pipe.joined_workers() == 2, "the thawed worker did not rejoin"
    # by its name: it used to come back through its late DONE as a hex identity
    assert sorted(w["name"] for w in pipe.ingest_stats()["workers"]) == ["w1", "w2"]
    assert f"worker {owner} declared dead" in pipe.services["ingest"].log()  # its name, not a hex id
    assert all(service.alive() for service in pipe.services.values())
