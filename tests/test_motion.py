"""The motion messages: encoded once per update and variant, read back whole, and the gateway's rigs.

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

import msgpack
import pytest

from tests.conftest import run
from live2d_pose import wire
from live2d_pose.gateway.fanout import MAX_PENDING_MOTION, Mailbox
from live2d_pose.gateway.server import parse_subscription
from live2d_pose.rig import Rig, quat
from live2d_pose.rig.contract import BONE_NAMES, MOTION_VERSION
from live2d_pose.rig.live2d import NEUTRAL
from live2d_pose.rig.motion import SEEN, Motion, MotionEncoder, MotionError, MotionState
from live2d_pose.rig.results import parse_result
from live2d_pose.rig.solve import REST, rest_rotation, swap_side
from live2d_pose.service import ClientError
from live2d_pose.testing import record
from live2d_pose.testing.clients import TIMEOUT, Viewer
from live2d_pose.testing.pipeline import Pipeline
from live2d_pose.testing.replay import Replayer

GESTURE = "web/test/fixtures/gesture.msgpack"


@pytest.fixture(scope="module")
def recording():
    return record.load(GESTURE)


def rig_updates(recording, mirror=True):
    """(Motion, MotionUpdate) after each per-tracker message of the recording that moved the rig."""
    messages = record.per_tracker(recording["results"])
    rig, encoder, out = Rig(), MotionEncoder(), []
    for message, at in zip(messages, record.arrivals(messages)):
        if rig.offer(parse_result(wire.pack(message), received_ms=at)):
            motion = Motion.of(rig, mirror)
            out.append((motion, encoder.update(motion)))
    return out


def same(got: Motion, want: Motion) -> None:
    """What a reader holds equals what the rig had, to float32."""
    assert set(got.bones) == set(want.bones)
    for name, q in want.bones.items():
        assert got.bones[name] == pytest.approx(q, abs=1e-6), name
    for group in ("expressions", "blendshapes", "gaze", "live2d", "parts"):
        assert getattr(got, group) == pytest.approx(getattr(want, group), abs=1e-5, rel=1e-6), group
    assert (got.seen, got.times, got.seq, got.stream, got.mirror, got.t) == (
        want.seen, want.times, want.seq, want.stream, want.mirror, want.t)
    assert got.head_position == pytest.approx(want.head_position, abs=1e-4)
    assert got.hips_position == pytest.approx(want.hips_position, abs=1e-6)


# ---------------------------------------------------------------- the messages


def test_deltas_rebuild_the_whole_motion_and_a_full_message_stands_alone(recording):
    updates = rig_updates(recording)
    held = MotionState()
    for motion, update in updates:
        same(held.apply(update.delta), motion)
    for motion, update in updates[::37]:
        same(MotionState().apply(update.full()), motion)
    first = msgpack.unpackb(updates[0][1].delta)
    assert first["full"] is True and first["v"] == MOTION_VERSION and first["type"] == "motion"
    assert {BONE_NAMES[int(i)] for i in first["bones"]} == set(updates[0][0].bones), "keyed by the contract's index"
    times = [motion.t for motion, _ in updates]  # the state's time, on the clock the rig maps results onto
    assert all(isinstance(t, float) for t in times) and times == sorted(times) and times[-1] > times[0]
    deltas = [len(u.delta) for _, u in updates[1:]]
    assert sum(deltas) / len(deltas) < 0.6 * sum(len(u.full()) for _, u in updates) / len(updates)


def test_the_rig_sends_the_motion_the_viewer_tests_read(recording):
    """The viewer's node tests read the rig's motion for the gesture recording from a fixture: the rig
    must still send exactly those bytes (a change that is meant to change the motion regenerates it:
    python -m live2d_pose.testing.record --motion-of web/test/fixtures/gesture.msgpack
    --out web/test/fixtures/gesture-motion.msgpack)."""
    fixture = record.load("web/test/fixtures/gesture-motion.msgpack")
    sent = record.motion_of(recording)
    for variant in ("mirrored", "plain"):
        assert len(sent[variant]) == len(fixture[variant]), variant
        differ = next((i for i, (a, b) in enumerate(zip(sent[variant], fixture[variant])) if a != b), None)
        assert differ is None, f"{variant}: message {differ} differs from the fixture's"
        assert sent["last"][variant] == fixture["last"][variant], variant


def test_a_bone_never_seen_is_absent_and_the_mirrored_variant_swaps_and_reflects(recording):
    mirrored, plain = rig_updates(recording)[150][0], rig_updates(recording, mirror=False)[150][0]
    assert "hips" not in plain.bones, "she sits: the hips were never seen"
    assert {swap_side(n) for n in plain.bones} == set(mirrored.bones)
    for name, q in plain.bones.items():
        assert mirrored.bones[swap_side(name)] == pytest.approx(quat.flip_x(q))
    assert mirrored.live2d["ParamAngleX"] == pytest.approx(-plain.live2d["ParamAngleX"])
    assert mirrored.live2d["ParamEyeLOpen"] == pytest.approx(plain.live2d["ParamEyeROpen"])
    assert mirrored.head_position[0] == pytest.approx(-plain.head_position[0])
    assert mirrored.seen["leftHand"] == plain.seen["rightHand"]
    assert {swap_side(n): w for n, w in plain.parts.items()} == mirrored.parts
    assert plain.parts["rightLowerArm"] == 1.0 and plain.parts["leftLowerArm"] == 0.0, "her right arm, held out"


def test_readers_refuse_unknown_versions_and_ignore_a_delta_without_its_base(recording):
    (_, first), (_, second) = rig_updates(recording)[:2]
    newer = msgpack.unpackb(first.delta)
    newer["v"] = MOTION_VERSION + 1
    with pytest.raises(MotionError, match="version"):
        MotionState().apply(msgpack.packb(newer))
    with pytest.raises(MotionError, match="'neck' must be 4 float32"):
        MotionState().apply(msgpack.packb({**msgpack.unpackb(first.delta), "bones": {"neck": b"xx"}}))
    with pytest.raises(MotionError, match="bone 99 is not in the contract's list"):
        MotionState().apply(msgpack.packb({**msgpack.unpackb(first.delta), "bones": {"99": b"x" * 16}}))
    reader = MotionState()
    assert reader.apply(second.delta) is None and reader.ignored == 1, "a delta first: nothing to add it to"


def test_a_viewer_gets_deltas_while_it_keeps_up_and_a_full_message_when_it_falls_behind(recording):
    updates = [u for _, u in rig_updates(recording)]
    encoder = object()
    box = Mailbox()
    got = []

    async def take():
        while box._motion:
            got.append(await box.get())
    box.put_motion(encoder, updates[0])
    run(take())
    for update in updates[1:3]:
        box.put_motion(encoder, update)
        run(take())
    assert got == [updates[0].delta, updates[1].delta, updates[2].delta]
    for update in updates[3:3 + MAX_PENDING_MOTION + 1]:  # a burst past what may wait
        box.put_motion(encoder, update)
    got.clear()
    run(take())
    assert got == [updates[3 + MAX_PENDING_MOTION].full()] and box.motion_skipped == MAX_PENDING_MOTION
    box.put_motion(object(), updates[10])  # another chain (a new rig, another stream): full
    run(take())
    assert got[-1] == updates[10].full()


def test_a_viewer_that_keeps_up_gets_its_messages_written_at_once_and_in_order(recording):
    """While the viewer's sender waits with nothing queued, the mailbox hands each message to its
    writer (no task wakes); once the connection has data waiting the writer declines and the queue
    takes over, and nothing overtakes what is queued."""
    updates = [u for _, u in rig_updates(recording)][:12]
    encoder, box, written, accepting = object(), Mailbox(), [], [True]

    def writer(data: bytes) -> bool:
        if accepting[0]:
            written.append(data)
        return accepting[0]

    box.writer = writer
    for update in updates[:3]:
        box.put_motion(encoder, update)
    assert written == [updates[0].full(), updates[1].delta, updates[2].delta] and not box._motion
    accepting[0] = False  # the browser is slow: its connection's buffer holds data
    box.put_motion(encoder, updates[3])
    accepting[0] = True
    box.put_motion(encoder, updates[4])  # the writer would take it, but one waits before it
    box.put_control("a control message")
    box.put_result(b"landmarks")
    assert len(written) == 3 and list(box._motion) == [updates[3].delta, updates[4].delta]
    box.writer = None  # the sender takes them, in order
    got = run(_take_all(box))
    assert got == ["a control message", updates[3].delta, updates[4].delta, b"landmarks"]
    box.writer = writer
    box.put_motion(encoder, updates[5])
    box.put_motion(object(), updates[6])  # another chain: its full message, also at once
    box.put_result(b"more landmarks")
    assert written[3:] == [updates[5].delta, updates[6].full(), b"more landmarks"]


async def _take_all(box: Mailbox) -> list:
    got = []
    while box._controls or box._motion or box._results:
        got.append(await box.get())
    return got


def test_a_frame_made_once_is_the_frame_websockets_would_send():
    from websockets.frames import Frame, Opcode
    from websockets.server import ServerProtocol

    from live2d_pose.aio import BinaryFrames

    frames = BinaryFrames()
    for size in (0, 5, 125, 126, 65535, 65536):  # each length encoding
        data = bytes(range(256)) * (size // 256) + bytes(size % 256)
        protocol = ServerProtocol()
        protocol.state = protocol.state.OPEN
        protocol.send_frame(Frame(Opcode.BINARY, data))
        assert frames.of(data) == b"".join(protocol.data_to_send()), size
        assert frames.of(data) is frames.of(data), "made once"


def test_subscriptions_from_the_query():
    default = parse_subscription("/ws?stream=a")
    assert (default.motion, default.landmarks, default.mirror) == (True, False, True)
    both = parse_subscription("/ws?landmarks=1&mirror=0&motion=yes")
    assert (both.motion, both.landmarks, both.mirror) == (True, True, False)
    with pytest.raises(ClientError, match="mirror='left' is not 0 or 1"):
        parse_subscription("/ws?mirror=left")


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
                await until(lambda: viewer.motions[-1].tracking is False and len(viewer.motions) > stopped + 20,
                            "the easing")
                await asyncio.sleep(4.0)  # at rest within about 3 s of the last result
                settled = len(viewer.motions)
                await asyncio.sleep(1.0)
                quiet = len(viewer.motions) == settled
            await until(lambda: metric(gateway, "live2d_pose_gateway_rigs") == 0, "the ended stream's rig to go")
            return viewer.motions[stopped - 1:], quiet

    motions, quiet = run(body())
    # mirrored: the subject's right arm is the avatar's left
    rest = REST["leftUpperArm"]
    arc = [math.degrees(quat.angle_between(m.bones["leftUpperArm"], rest)) for m in motions]
    assert arc[0] > 30 and arc[-1] < 0.2, (arc[0], arc[-1])
    assert all(b <= a + 0.05 for a, b in zip(arc, arc[1:])), "it comes down, never back up"
    assert len([a for a in arc if 0.5 < a]) > 10, "eased over many messages, not one jump"
    assert quiet, "at rest: nothing more is published"


def test_a_bone_back_exactly_at_rest_reaches_a_delta_reader():
    """A bone the motion no longer holds (back exactly at its rest) is sent at its rest once: a reader
    of deltas would otherwise keep its last rotation."""
    encoder, held = MotionEncoder(), MotionState()
    raised = quat.axis_angle((0.0, 0.0, 1.0), 0.3)
    base = dict(stream="s", session=0, seq=1, mirror=False, ts={"ingest": 0.0}, tracks=["pose"],
                times={"face": None, "pose": 0.0, "hands": None}, seen={k: k == "pose" for k in SEEN}, expressions={},
                blendshapes={}, gaze={"yaw": 0.0, "pitch": 0.0}, live2d=dict(NEUTRAL))
    held.apply(encoder.update(Motion(**base, bones={"rightUpperArm": raised})).delta)
    motion = held.apply(encoder.update(Motion(**{**base, "seq": 2}, bones={})).delta)
    assert motion.bones["rightUpperArm"] == pytest.approx(rest_rotation("rightUpperArm"), abs=1e-6)
