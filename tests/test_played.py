"""`live2d-pose play`: a take published as a stream through the gateway's /publish.

A real gateway process, real `live2d-pose play` processes and real WebSocket
viewers. The take is real motion (gesture_video.mp4's MediaPipe results
through the rig, written as a .vrma); a camera is a Replayer pushing recorded
results the way ingest does.
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import subprocess
import sys
import time

import msgpack
import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from live2d_pose import wire
from live2d_pose.bench import fidelity_body_inputs as body_inputs
from live2d_pose.gateway.played import PlayedRig
from live2d_pose.recording import Motion, read_motion, write_vrma
from live2d_pose.recording.motion import angle_degrees
from live2d_pose.rig import Rig
from live2d_pose.rig.motion import Motion as RigMotion, MotionEncoder
from live2d_pose.rig.quat import angle_between
from live2d_pose.rig.results import parse_result
from live2d_pose.rig.solve import BONES, REST_POSITION, BodyState, mirror_state, rest_rotation
from live2d_pose.recording.play import frame_motion
from live2d_pose.recording.vrma import read_vrma
from live2d_pose.testing import record
from live2d_pose.testing.clients import TIMEOUT, Viewer
from live2d_pose.testing.pipeline import Pipeline
from live2d_pose.testing.replay import Replayer
from live2d_pose.testing.takes import recorded_take
from tests.conftest import run

CAMERA_TOKEN = "camera-secret"
FLOAT32_DEGREES = 0.01


@pytest.fixture(scope="module")
def take(tmp_path_factory):
    """Two seconds of the gesture video's motion (the right arm rising), as a .vrma."""
    path = tmp_path_factory.mktemp("take") / "raise.vrma"
    write_vrma(path, Motion.from_samples(recorded_take()[30:80]))
    return path


@pytest.fixture(scope="module")
def recording_fixture():
    return record.load("web/test/fixtures/gesture.msgpack")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    pipe = Pipeline(tmp_path_factory.mktemp("gateway"), workers=0,
                    env={"LIVE2D_POSE_CAMERA_TOKEN": CAMERA_TOKEN, "LIVE2D_POSE_MAX_PLAYED": "3"}).start()
    yield pipe
    pipe.stop_cleanly()


def publish_url(pipe: Pipeline, query: str) -> str:
    return f"ws://127.0.0.1:{pipe.http_port}/publish?{query}"


def play_argv(pipe: Pipeline, take, stream: str, *extra: str, token: str = CAMERA_TOKEN) -> list[str]:
    return [sys.executable, "-m", "live2d_pose", "play", str(take), "--stream", stream, "--gateway-url",
            publish_url(pipe, "").rstrip("?"), "--camera-token", token, *extra]


async def watched_play(pipe: Pipeline, argv: list[str], stream: str, settle: float = 2.5):
    """Run a player with an unmirrored and a mirrored viewer of its stream: (exit code, stderr, the two
    viewers' motions, their control messages)."""
    async with Viewer(pipe.viewer_url(f"stream={stream}&mirror=0&motion=1&landmarks=0")) as plain, \
            Viewer(pipe.viewer_url(f"stream={stream}&motion=1&landmarks=0")) as mirrored:
        await asyncio.sleep(0.3)
        done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=TIMEOUT)
        await asyncio.sleep(settle)  # the easing to rest after the last frame
        return done, list(plain.motions), list(mirrored.motions), list(plain.controls)


def test_a_played_take_is_seen_frame_by_frame_and_eases_to_rest_when_it_ends(gateway, take):
    done, plain, mirrored, controls = run(watched_play(gateway, play_argv(gateway, take, "raise"), "raise"))
    assert done.returncode == 0, done.stderr
    frames = read_motion(take)
    played = [m for m in plain if m.tracks]
    assert len(played) >= 0.9 * len(frames), (len(played), len(frames))
    for motion in played:  # each frame as the file has it (seq: the frame's number)
        k = motion.seq - 1
        for bone in frames.bones:
            q = np.array([motion.bones.get(bone, frames.rotations(bone)[k])])
            assert angle_degrees(q, frames.rotations(bone)[k:k + 1])[0] < FLOAT32_DEGREES, (bone, k)
    assert max(np.degrees(2 * np.arccos(min(1.0, abs(m.bones["rightUpperArm"][3])))) for m in played) > 30, \
        "the arm rises"
    # a take holds no parts: those whose bones it holds are shown as followed (the raised arm), no others
    assert played[-1].parts["rightUpperArm"] == 1.0 and played[-1].parts["leftUpperLeg"] == 0.0
    # the mirrored viewers see the mirror image of the same state
    by_seq = {m.seq: m for m in played}
    for motion in [m for m in mirrored if m.tracks and m.seq in by_seq][::7]:
        mirror = mirror_state(BodyState(bones=by_seq[motion.seq].bones, seen=by_seq[motion.seq].seen))
        for bone, q in mirror.bones.items():
            assert motion.bones[bone] == pytest.approx(q, abs=1e-5), bone
    # the player left: the stream ended, and the avatar eased to rest on the gateway's clock
    assert {"type": "ended", "stream": "raise"} in controls
    easing = plain[plain.index(played[-1]) + 1:]
    assert len(easing) > 10 and not easing[-1].tracking and all(not m.tracks for m in easing)
    assert np.degrees(2 * np.arccos(min(1.0, abs(easing[-1].bones.get("rightUpperArm", (0, 0, 0, 1))[3])))) < 75
    assert "played" in done.stderr and "frames as stream raise" in done.stderr


@pytest.mark.parametrize("subject", ["sports2d#1", "sports2d#2"])
def test_a_played_take_that_stops_eases_to_rest_as_the_camera_it_was_taken_from(subject):
    """Halfway through a person of the full-body clip (the jumping jacks, the walk), the camera stops. A
    PlayedRig that was shown every update of the camera's rig (what a take of it plays) eases from there
    as the camera's rig does: the same bones and the same hips' position, step by step, until both rest."""
    messages = body_inputs.subjects(body_inputs.load("sports2d"), "sports2d")[subject]
    camera, played = Rig(), PlayedRig()
    for message in messages[:len(messages) // 2]:
        at = float(message["ts"]["ingest"])
        if camera.offer(parse_result(wire.pack(message), received_ms=at)):
            played.play("played", 1, RigMotion.of(camera, mirror=False), at)
    assert camera.smoothed.hips_position is not None and abs(camera.smoothed.hips_position[0]) > 0.05
    def bone(rig, name):
        return rig.smoothed.bones.get(name, rest_rotation(name))

    moved = {b for b in BONES if math.degrees(angle_between(bone(camera, b), rest_rotation(b))) > 5}
    assert {"leftUpperLeg", "leftLowerLeg", "rightUpperLeg", "rightLowerLeg"} <= moved, moved
    worst_degrees, worst_m, now = 0.0, 0.0, at
    while not (camera.at_rest() and played.at_rest()) and now < at + 10_000:
        now += 1000 / 30  # the gateway's rest steps
        for rig in (camera, played):
            if rig.idle(now):
                rig.ease(now)
        worst_degrees = max(worst_degrees, *(math.degrees(angle_between(bone(camera, b), bone(played, b)))
                                             for b in BONES))
        worst_m = max(worst_m, math.dist(camera.smoothed.hips_position or REST_POSITION,
                                         played.smoothed.hips_position or REST_POSITION))
    assert camera.at_rest() and played.at_rest()
    assert worst_degrees < 0.5 and worst_m < 0.001, (worst_degrees, worst_m)


def test_a_looped_take_goes_on_past_its_end_until_ctrl_c(gateway, take):
    async def body():
        async with Viewer(gateway.viewer_url("stream=loop&mirror=0&motion=1&landmarks=0")) as viewer:
            player = subprocess.Popen(play_argv(gateway, take, "loop", "--loop"), stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + TIMEOUT
            frames = len(read_vrma(take))
            while time.monotonic() < deadline and not any(m.seq > frames + 10 for m in viewer.motions):
                await asyncio.sleep(0.1)
            player.send_signal(signal.SIGINT)
            _, err = await asyncio.to_thread(player.communicate, timeout=TIMEOUT)
            return player.returncode, err, [m.seq for m in viewer.motions if m.tracks], frames

    code, err, seqs, frames = run(body())
    assert code == 0, err
    assert max(seqs) > frames + 10 and seqs == sorted(seqs), "the second loop's frames follow the first's"


def test_players_are_programs_with_the_camera_token_and_a_name_of_their_own(gateway, take, recording_fixture):
    async def handshake(query: str, **headers):
        try:
            async with connect(publish_url(gateway, query), additional_headers=headers) as ws:
                return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        except InvalidStatus as exc:
            return exc.response.status_code

    assert run(handshake(f"stream=x&token={CAMERA_TOKEN}", Origin=gateway.http_url)) == 403  # no web page
    assert run(handshake("stream=x&token=wrong"))["code"] == "unauthorized"
    assert run(handshake(f"stream=bad/name&token={CAMERA_TOKEN}"))["code"] == "bad_stream_id"
    with Replayer(f"tcp://127.0.0.1:{gateway.results_port}", recording_fixture, stream="camera", rate=15,
                  per_tracker=True) as replay:
        replay.play(range(60))
        time.sleep(0.5)
        refused = subprocess.run(play_argv(gateway, take, "camera"), capture_output=True, text=True, timeout=TIMEOUT)
    assert refused.returncode == 2 and "stream 'camera' is live already" in refused.stderr, refused.stderr
    wrong = subprocess.run(play_argv(gateway, take, "x", token="wrong"), capture_output=True, text=True,
                           timeout=TIMEOUT)
    assert wrong.returncode == 2 and "missing or wrong camera token" in wrong.stderr, wrong.stderr
    not_a_take = subprocess.run(play_argv(gateway, __file__, "x"), capture_output=True, text=True, timeout=TIMEOUT)
    assert not_a_take.returncode == 2 and "not a glTF binary" in not_a_take.stderr


def test_a_camera_takes_its_name_back_from_a_player(gateway, take, recording_fixture):
    async def body():
        async with Viewer(gateway.viewer_url("stream=stage&mirror=0&motion=1&landmarks=1")) as viewer:
            player = subprocess.Popen(play_argv(gateway, take, "stage", "--loop"), stderr=subprocess.PIPE, text=True)
            while not viewer.motions:
                await asyncio.sleep(0.05)
            with Replayer(f"tcp://127.0.0.1:{gateway.results_port}", recording_fixture, stream="stage", rate=15,
                          per_tracker=True) as replay:
                replay.play(range(60))
                _, err = await asyncio.to_thread(player.communicate, timeout=TIMEOUT)
                results = await viewer.wait_for_results(5, stream="stage")
            return player.returncode, err, results

    code, err, results = run(body())
    assert code == 2 and "a camera now streams as 'stage'" in err, err
    assert results, "the camera's results reach the stream's viewers"


def test_a_player_that_sends_no_usable_motion_is_told_why(gateway, take):
    frames = read_vrma(take)
    encoder = MotionEncoder()
    full = encoder.update(frame_motion("x", 1, 1000.0, frames[0][1])).full()
    delta = encoder.update(frame_motion("x", 2, 1033.0, frames[1][1])).delta
    mirrored = msgpack.packb({**msgpack.unpackb(full), "mirror": True})

    async def body():
        async with connect(publish_url(gateway, f"stream=bad&token={CAMERA_TOKEN}")) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
            errors = []
            for message in ("text", delta, mirrored, b"\x81\xa4type\xa6motion", full):
                await ws.send(message)
                if message is not full:
                    errors.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)))
            return errors

    errors = run(body())
    assert [e["code"] for e in errors] == ["bad_motion"] * 4
    assert "binary" in errors[0]["message"] and "full" in errors[1]["message"]
    assert "unmirrored" in errors[2]["message"] and "version" in errors[3]["message"]
