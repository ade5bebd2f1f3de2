"""`live2d-pose vmc`: the VMC protocol as a Performer, received by a real OSC server.

The receiver is python-osc's dispatcher on a loopback UDP port (where
VSeeFace, VNyan or Warudo would listen). Every address and argument type is
checked against sh-akira's VMC protocol specification:

    /VMC/Ext/OK        (int)loaded (int)calibration state (int)calibration mode (int)tracking status
    /VMC/Ext/T         (float)time
    /VMC/Ext/Root/Pos  (string)"root" (float)p.x p.y p.z q.x q.y q.z q.w
    /VMC/Ext/Bone/Pos  (string)HumanBodyBones name (float)p.x p.y p.z q.x q.y q.z q.w
    /VMC/Ext/Blend/Val (string)name (float)value
    /VMC/Ext/Blend/Apply
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from websockets.asyncio.server import serve

from tests.unit.test_vmc_messages import _pointing_up, check_against_spec
from tests.conftest import run
from tests.osc_receiver import OscReceiver
from live2d_pose.ingest.settings import IngestConfig
from live2d_pose.rig import quat
from live2d_pose.testing import media, record
from live2d_pose.testing.clients import Camera
from live2d_pose.testing.frames import encode, render
from live2d_pose.testing.pipeline import Pipeline, free_port
from live2d_pose.testing.replay import Replayer

GESTURE = "web/test/fixtures/gesture.msgpack"


# ------------------------------------------------------------------ the real pipeline


class VmcProcess:
    """`python -m live2d_pose vmc ...` as a real process, logging to a file."""

    def __init__(self, log_path, *args: str):
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "live2d_pose", "vmc", *args], stdout=log, stderr=subprocess.STDOUT
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            assert self.process.poll() is None, f"vmc exited:\n{self.log()}"
            assert time.monotonic() < deadline, f"no {text!r} in the log:\n{self.log()}"
            time.sleep(0.05)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(10)


def mirror_jpeg(image: np.ndarray) -> bytes:
    return encode(np.ascontiguousarray(image[:, ::-1]))


def test_pipeline_to_vmc_receiver_real_frames_mirror_turns_the_head_the_other_way(tmp_path):
    """Real ingest, landmarker and gateway; two `live2d-pose vmc` processes, one per stream:
    stream "a" gets the astronaut tilted one way, stream "b" its exact mirror image."""
    tilted = render(angle=15.0)
    frames_a = [encode(tilted)] * 40
    frames_b = [mirror_jpeg(tilted)] * 40
    pipe = Pipeline(tmp_path / "pipeline", workers=1).start()
    try:
        with OscReceiver() as receiver_a, OscReceiver() as receiver_b:
            procs = [
                VmcProcess(
                    tmp_path / f"vmc-{s}.log",
                    "--gateway-url",
                    pipe.viewer_url(),
                    "--stream",
                    s,
                    "--to",
                    f"127.0.0.1:{r.port}",
                    "--perfect-sync",
                )
                for s, r in (("a", receiver_a), ("b", receiver_b))
            ]
            for p in procs:
                p.wait_log("connected to the gateway")

            async def cameras():
                async with Camera(pipe.camera_url + "?stream=a") as a, Camera(pipe.camera_url + "?stream=b") as b:
                    await asyncio.gather(a.stream_frames(frames_a, fps=15), b.stream_frames(frames_b, fps=15))

            run(cameras())
            heads_a = receiver_a.wait_for("/VMC/Ext/Bone/Pos", count=20)
            receiver_b.wait_for("/VMC/Ext/Bone/Pos", count=20)
            codes = [p.stop() for p in procs]
            logs = [p.log() for p in procs]
            check_against_spec(receiver_a.received() + receiver_b.received())
            neck_a, neck_b = receiver_a.bones("Neck"), receiver_b.bones("Neck")
            oks = receiver_a.received("/VMC/Ext/OK")
    finally:
        pipe.stop()
    assert codes == [0, 0], logs
    assert heads_a and neck_a and neck_b
    assert any(m.args[3] == 1 for m in oks)  # tracking status OK
    # Neck = half the head's rotation; roll about Unity's Z. The mirror image rolls the other way
    # and by the same amount (MediaPipe on a flipped photo: within a few degrees).
    roll = lambda args: quat.to_yaw_pitch_roll(args[3:])[2]  # noqa: E731  (degrees)
    roll_a = float(np.median([roll(a) for a in neck_a]))
    roll_b = float(np.median([roll(b) for b in neck_b]))
    assert abs(roll_a) > 4 and abs(roll_b) > 4, (roll_a, roll_b)
    assert roll_a * roll_b < 0 and abs(abs(roll_a) - abs(roll_b)) < 3, (roll_a, roll_b)
    for log in logs:
        assert "vmc started: stream" in log and "vmc stopped: motions=" in log and "bundles=" in log


def test_vmc_rides_out_the_gateway_going_away_and_a_silent_receiver(tmp_path):
    """vmc started before the pipeline, sending to a port nobody listens on; then the gateway
    restarts under it. Each gives a clear log line; the process never dies; bundles flow again."""
    http_port, osc_port = free_port(), free_port()
    proc = VmcProcess(
        tmp_path / "vmc.log", "--gateway-url", f"ws://127.0.0.1:{http_port}/ws", "--to", f"127.0.0.1:{osc_port}"
    )
    frames = [encode(render(angle=a)) for a in (-10, -5, 0, 5, 10)] * 6

    async def camera(pipe):
        async with Camera(pipe.camera_url + "?stream=cam") as cam:
            await cam.stream_frames(frames, fps=15)

    pipe = None
    try:
        proc.wait_log("cannot reach the gateway")
        pipe = Pipeline(tmp_path / "pipeline", workers=1, http_port=http_port).start()
        proc.wait_log("connected to the gateway")
        run(camera(pipe))
        proc.wait_log("nothing is listening on 127.0.0.1")
        with OscReceiver(port=osc_port) as receiver:
            run(camera(pipe))
            try:
                receiver.wait_for("/VMC/Ext/Bone/Pos", count=10)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n--- vmc\n{proc.log()}\n{pipe.logs()}") from None
            pipe.services["gateway"].stop()
            proc.wait_log("lost the gateway")
            before = len(receiver.received("/VMC/Ext/OK"))
            pipe.services["gateway"].start()
            pipe.wait_healthy()
            deadline = time.monotonic() + 30
            while proc.log().count("connected to the gateway") < 2:
                assert time.monotonic() < deadline, proc.log()
                time.sleep(0.05)
            run(camera(pipe))
            try:
                receiver.wait_for("/VMC/Ext/OK", count=before + 10)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n--- vmc\n{proc.log()}\n{pipe.logs()}") from None
            check_against_spec(receiver.received())
        assert proc.process.poll() is None
        assert proc.stop() == 0
    finally:
        if proc.process.poll() is None:
            proc.process.kill()
        if pipe is not None:
            pipe.stop()
    log = proc.log()
    assert "is `live2d-pose up` running?" in log
    assert "Is the VMC receiver enabled in VSeeFace" in log
    stop_line = next(line for line in log.splitlines() if "vmc stopped:" in line)
    counts = dict(re.findall(r"(\w+)=(\d+)", stop_line))
    assert int(counts["connects"]) >= 2 and int(counts["disconnects"]) >= 1, stop_line
    assert int(counts["unreachable"]) >= 1 and int(counts["bundles"]) >= 20, stop_line


class DroppingGateway:
    """A stand-in for a gateway gone bad (an attacker, a broken proxy): it accepts each viewer,
    sends it ``messages`` and closes. ``connects``: when each viewer came (monotonic seconds)."""

    def __init__(self, messages: list[str | bytes]):
        self.messages = messages
        self.connects: list[float] = []
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}/ws"
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with serve(self._handle, "127.0.0.1", self.port, max_size=None, compression=None):
            self._ready.set()
            await self._stop.wait()

    async def _handle(self, websocket) -> None:
        self.connects.append(time.monotonic())
        for message in self.messages:
            await websocket.send(message)
        await websocket.close()

    def __enter__(self) -> DroppingGateway:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def test_vmc_survives_any_text_keeps_log_lines_short_and_backs_off(tmp_path):
    """A gateway that accepts, sends text JSON cannot parse ("[" * 200000 raised RecursionError and
    vmc exited 1) and an error with a 900 KB text (logged as one line), then drops: vmc lives on,
    no log line is long, and the delay between connections doubles (it started over at every
    connect, so such a gateway was retried every 0.5 s forever)."""
    refusal = json.dumps({"type": "error", "code": "c" * 5000, "message": ("m" * 999 + "\n") * 900})
    with DroppingGateway(["[" * 200_000, '{"type": "hello", "streams": 5}', refusal]) as gateway:
        proc = VmcProcess(tmp_path / "vmc.log", "--gateway-url", gateway.url, "--to", f"127.0.0.1:{free_port()}")
        try:
            proc.wait_log("connected to the gateway")
            time.sleep(6.0)  # reconnects after 0.5, 1, 2 and 4 s; every 0.5 s would be 12 or more
            alive = proc.process.poll() is None
            assert proc.stop() == 0, proc.log()
        finally:
            if proc.process.poll() is None:
                proc.process.kill()
    log = proc.log()
    assert alive, log[-3000:]
    gaps = [b - a for a, b in zip(gateway.connects, gateway.connects[1:])]
    assert 3 <= len(gateway.connects) <= 5 and all(b > a for a, b in zip(gaps, gaps[1:])), gaps
    assert max(len(line) for line in log.splitlines()) < 1000
    assert log.count("the gateway refused us") == 1, log  # not again at every reconnect
    assert "ignored a malformed message from the gateway" in log
    stop_line = next(line for line in log.splitlines() if "vmc stopped:" in line)
    assert f"connects={len(gateway.connects)}" in stop_line, stop_line


def test_vmc_following_a_stream_that_is_not_live_says_so_once_and_waits_for_it(tmp_path):
    """The gateway closes a viewer of a stream that is not live (no_stream, 1013) after
    --viewer-idle-timeout. vmc says once that it is not live, naming the live ones, asks again
    quietly with a growing delay, and follows the stream when it starts."""
    recording = record.load(GESTURE)
    pipe = Pipeline(tmp_path / "gateway", workers=0, env={"LIVE2D_POSE_VIEWER_IDLE_TIMEOUT": "0.3"}).start()
    endpoint, proc = f"tcp://127.0.0.1:{pipe.results_port}", None
    try:
        with Replayer(endpoint, recording, stream="other", rate=10):
            proc = VmcProcess(
                tmp_path / "vmc.log",
                "--gateway-url",
                pipe.viewer_url(),
                "--stream",
                "later",
                "--to",
                f"127.0.0.1:{free_port()}",
            )
            proc.wait_log("is not live")
            time.sleep(6.0)  # closed every 1-2 s; asked again after 1, 2, 4 s
            with Replayer(endpoint, recording, stream="later", rate=10):
                proc.wait_log("following stream later")
            assert proc.stop() == 0
    finally:
        if proc is not None and proc.process.poll() is None:
            proc.process.kill()
        pipe.stop()
    log = proc.log()
    assert log.count("is not live") == 1 and "stream later is not live on the gateway (live now: other)" in log
    for noise in ("refused", "lost the gateway", "Traceback"):
        assert noise not in log, log
    viewers = pipe.services["gateway"].log().count("(stream=later,")
    assert 3 <= viewers <= 6, viewers  # about 8 s, asked again after 0.5, 1, 2, 4 s


def test_gateway_fed_with_recorded_results_raised_arm_reaches_the_receiver(tmp_path):
    """The real gateway carries gesture_video's real face, pose and hand results (the replayer),
    a real `live2d-pose vmc` process subscribes to it, a real OSC server receives: the raised arm
    lifts the mirrored avatar's left arm, and its fingers are sent."""
    recording = record.load(GESTURE)
    pipe = Pipeline(tmp_path / "gateway", workers=0).start()
    try:
        with OscReceiver() as receiver:
            proc = VmcProcess(
                tmp_path / "vmc.log",
                "--gateway-url",
                pipe.viewer_url(),
                "--stream",
                "replay",
                "--to",
                f"127.0.0.1:{receiver.port}",
                "--perfect-sync",
            )
            proc.wait_log("connected to the gateway")
            with Replayer(f"tcp://127.0.0.1:{pipe.results_port}", recording, stream="replay", rate=25) as replay:
                replay.play(range(80))  # arm down, then raised to the face
                deadline = time.monotonic() + 60
                while len(_pointing_up(receiver, "Left")[0]) < 40:
                    replay.check()
                    assert time.monotonic() < deadline, proc.log()
                    time.sleep(0.1)
            assert proc.stop() == 0
            check_against_spec(receiver.received())
            upper, fore = _pointing_up(receiver, "Left")
            bones = {m.args[0] for m in receiver.received("/VMC/Ext/Bone/Pos")}
            blends = {m.args[0] for m in receiver.received("/VMC/Ext/Blend/Val")}
    finally:
        pipe.stop()
    assert max(upper) - min(upper) > 0.4 and max(fore) > 0.7, (min(upper), max(upper), max(fore))
    assert {"LeftHand", "LeftIndexProximal", "LeftThumbDistal"} <= bones
    assert {"Blink_L", "EyeBlinkLeft", "JawOpen", "TongueOut"} <= blends
    assert "vmc stopped:" in proc.log()


@pytest.mark.skipif(not hasattr(IngestConfig(), "track"), reason="this pipeline tracks faces only (no track=)")
def test_real_pipeline_tracking_body_and_hands_moves_the_arm(tmp_path):
    """Camera -> ingest -> landmarkers (face, pose, hands lanes) -> gateway -> vmc -> OSC server,
    on gesture_video.mp4's own frames: the raised right hand lifts the mirrored avatar's left arm."""
    frames = media.video_jpeg_frames(media.media_path("gesture_video.mp4"), size=(640, 360))[20:80]
    pipe = Pipeline(tmp_path / "pipeline", workers=2).start()
    try:
        with OscReceiver() as receiver:
            proc = VmcProcess(
                tmp_path / "vmc.log",
                "--gateway-url",
                pipe.viewer_url(),
                "--stream",
                "g",
                "--to",
                f"127.0.0.1:{receiver.port}",
            )
            proc.wait_log("connected to the gateway")

            async def camera():
                async with Camera(pipe.camera_url + "?stream=g&track=face,pose,hands", 640, 360) as cam:
                    await cam.stream_frames(frames, fps=8)

            run(camera())
            time.sleep(1.0)  # the last lanes' results
            assert proc.stop() == 0
            check_against_spec(receiver.received())
            upper, fore = _pointing_up(receiver, "Left")
            bones = {m.args[0] for m in receiver.received("/VMC/Ext/Bone/Pos")}
    finally:
        pipe.stop()
    assert {"Neck", "Head", "Spine", "Chest", "LeftUpperArm", "LeftLowerArm"} <= bones, bones
    assert upper and max(upper) - min(upper) > 0.4 and max(fore) > 0.7, (upper, fore)
