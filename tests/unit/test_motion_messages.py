"""The motion messages: encoded once per update and variant, read back whole, and what a
viewer subscribes to (the rig on real MediaPipe results of gesture_video.mp4, no processes).

tests/system/test_motion.py runs the gateway's rigs in a real gateway process.
"""

from __future__ import annotations


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
from live2d_pose.rig.solve import rest_rotation, swap_side
from live2d_pose.service import ClientError
from live2d_pose.testing import record
from live2d_pose.trackers import TRACKERS

GESTURE = "web/test/fixtures/gesture.msgpack"


@pytest.fixture(scope="module")
def recording():
    return record.load(GESTURE)


_UPDATES: dict[
    tuple[int, bool], tuple[object, list]
] = {}  # the rig's run over a recording, shared by the tests (read only)


def rig_updates(recording, mirror=True):
    """(Motion, MotionUpdate) after each per-tracker message of the recording that moved the rig."""
    key = (id(recording), mirror)
    if key not in _UPDATES:  # the cache holds recording too, so its id is not reused meanwhile
        _UPDATES[key] = (recording, _rig_updates(recording, mirror))
    return _UPDATES[key][1]


def _rig_updates(recording, mirror):
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
        want.seen,
        want.times,
        want.seq,
        want.stream,
        want.mirror,
        want.t,
    )
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
    for update in updates[3 : 3 + MAX_PENDING_MOTION + 1]:  # a burst past what may wait
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


def test_a_bone_back_exactly_at_rest_reaches_a_delta_reader():
    """A bone the motion no longer holds (back exactly at its rest) is sent at its rest once: a reader
    of deltas would otherwise keep its last rotation."""
    encoder, held = MotionEncoder(), MotionState()
    raised = quat.axis_angle((0.0, 0.0, 1.0), 0.3)
    base = {
        "stream": "s",
        "session": 0,
        "seq": 1,
        "mirror": False,
        "ts": {"ingest": 0.0},
        "tracks": ["pose"],
        "times": dict.fromkeys(TRACKERS) | {"pose": 0.0},
        "seen": {k: k == "pose" for k in SEEN},
        "expressions": {},
        "blendshapes": {},
        "gaze": {"yaw": 0.0, "pitch": 0.0},
        "live2d": dict(NEUTRAL),
    }
    held.apply(encoder.update(Motion(**base, bones={"rightUpperArm": raised})).delta)
    motion = held.apply(encoder.update(Motion(**{**base, "seq": 2}, bones={})).delta)
    assert motion.bones["rightUpperArm"] == pytest.approx(rest_rotation("rightUpperArm"), abs=1e-6)
