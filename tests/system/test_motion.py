"""The gateway's rigs: one per watched stream, easing to rest when results stop.

The messages themselves are tests/unit/test_motion_messages.py's.

The gateway runs as a real process; a Replayer pushes real MediaPipe results
of gesture_video.mp4 into it the way ingest does, one message per tracker as
the pipeline sends them, and real WebSocket viewers subscribe to motion,
landmarks or both.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import urllib.request

import pytest

from tests.conftest import run
from live2d_pose.rig import quat
from live2d_pose.rig.solve import REST, swap_side
from live2d_pose.testing import record
from live2d_pose.testing.clients import TIMEOUT, Viewer
from live2d_pose.testing.pipeline import Pipeline
from live2d_pose.testing.replay import Replayer

GESTURE = "web/test/fixtures/gesture.msgpack"


@pytest.fixture(scope="module")
def recording():
    return record.load(GESTURE)


# ---------------------------------------------------------------- the gateway's rigs


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    pipe = Pipeline(tmp_path_factory.mktemp("gateway"), workers=0).start()
    yield pipe
    pipe.stop_cleanly()


def metric(pipe, name: str) -> float:
    with urllib.request.urlopen(pipe.http_url + "/metrics", timeout=TIMEOUT) as response:
        text = response.read().decode()
    found = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    assert found, f"no {name} in /metrics"
    return float(found.group(1))


async def until(condition, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def test_one_rig_per_watched_stream_however_many_viewers_and_none_for_an_unwatched_one(gateway, recording):
    created = metric(gateway, "live2d_pose_gateway_rigs_created_total")
    endpoint = f"tcp://127.0.0.1:{gateway.results_port}"

    async def body():
        with Replayer(endpoint, recording, stream="nobody", rate=25, per_tracker=True) as unwatched:
            unwatched.play(range(40, 60))
            async with Viewer(gateway.viewer_url("stream=nobody")) as landmarks_only:
                await landmarks_only.wait_for_results(30, stream="nobody")
            assert metric(gateway, "live2d_pose_gateway_rigs") == 0, "landmarks only: no rig"
            viewers = [Viewer(gateway.viewer_url(f"stream=many&motion=1&mirror={m}")) for m in (1, 1, 0)]
            with Replayer(endpoint, recording, stream="many", rate=25, per_tracker=True) as replay:
                for v in viewers:
                    await v.__aenter__()
                replay.play(range(40, 60))
                await until(lambda: all(len(v.motions) >= 30 for v in viewers), "motion for every viewer")
                rigs = metric(gateway, "live2d_pose_gateway_rigs")
                for v in viewers:
                    await v.__aexit__(None, None, None)
            return viewers, rigs

    viewers, rigs = run(body())
    assert rigs == 1 and metric(gateway, "live2d_pose_gateway_rigs_created_total") == created + 1
    assert not any(v.results for v in viewers), "no landmarks unless asked"
    a, b, unmirrored = (v.motions[-1] for v in viewers)
    assert a.mirror and not unmirrored.mirror and "leftUpperArm" in a.bones and "rightUpperArm" in unmirrored.bones
    same_seq = [(m, n) for m in viewers[0].motions for n in viewers[1].motions if (m.seq, m.times) == (n.seq, n.times)]
    assert same_seq and all(m.bones == n.bones for m, n in same_seq), "one variant: the same motion for both"
    for m in viewers[2].motions[-5:]:
        mirrored = next((n for n in reversed(viewers[0].motions) if (n.seq, n.times) == (m.seq, m.times)), None)
        if mirrored:
            for name, q in m.bones.items():
                assert mirrored.bones[swap_side(name)] == pytest.approx(quat.flip_x(q), abs=1e-6)


def test_when_results_stop_the_rig_eases_to_rest_publishing_and_is_dropped_once_the_stream_ended(gateway, recording):
    """The camera stalls with the arm raised: motion keeps coming, the arm coming down, until at
    rest; then nothing more. The stream ends: the rig goes."""
    endpoint = f"tcp://127.0.0.1:{gateway.results_port}"

    async def body():
        async with Viewer(gateway.viewer_url("stream=stall&motion=1")) as viewer:
            with Replayer(endpoint, recording, stream="stall", per_tracker=True) as replay:
                replay.hold(45)
                await until(lambda: viewer.motions and viewer.motions[-1].seen.get("pose"), "the raised arm")
                await asyncio.sleep(1.0)
                replay.pause()
                stopped = len(viewer.motions)
                await until(
                    lambda: viewer.motions[-1].tracking is False and len(viewer.motions) > stopped + 20, "the easing"
                )
                await asyncio.sleep(4.0)  # at rest within about 3 s of the last result
                settled = len(viewer.motions)
                await asyncio.sleep(1.0)
                quiet = len(viewer.motions) == settled
            await until(lambda: metric(gateway, "live2d_pose_gateway_rigs") == 0, "the ended stream's rig to go")
            return viewer.motions[stopped - 1 :], quiet

    motions, quiet = run(body())
    # mirrored: the subject's right arm is the avatar's left
    rest = REST["leftUpperArm"]
    arc = [math.degrees(quat.angle_between(m.bones["leftUpperArm"], rest)) for m in motions]
    assert arc[0] > 30 and arc[-1] < 0.2, (arc[0], arc[-1])
    assert all(b <= a + 0.05 for a, b in zip(arc, arc[1:])), "it comes down, never back up"
    assert len([a for a in arc if 0.5 < a]) > 10, "eased over many messages, not one jump"
    assert quiet, "at rest: nothing more is published"
