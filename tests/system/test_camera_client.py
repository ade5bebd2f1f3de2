"""The example camera client (live2d_pose/camera.py) in real runs, against a small
in-test ingest that speaks the camera side of the wire contract (initialized -> imageSize
-> ok -> ready -> binary JPEG frames).

The fake ingest runs on its own event loop in a thread, so the client runs
exactly as the CLI runs it: ``camera.main(argv)`` in the main thread. Its pure parts:
tests/unit/test_camera_options.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from websockets.asyncio.server import serve

from live2d_pose import camera
from live2d_pose.testing.frames import astronaut_frame, astronaut_frames, decode

CAMERA_PY = Path(camera.__file__)
TIMEOUT = 10.0 * float(os.environ.get("LIVE2D_POSE_TIMEOUT_SCALE", "1"))


# ------------------------------------------------------------ pure parts


class FakeIngest:
    """The ingest side of the camera handshake, on a thread of its own.

    close_after[i]: close connection i (1001) after that many frames.
    restart_after: stop listening after that many frames on the first
    connection and listen again on the same port `down_for` seconds later.
    """

    def __init__(
        self, close_after=(), reject=None, error_after=None, restart_after=None, down_for=1.0, http_status=None
    ):
        self.http_status = http_status
        self.close_after, self.reject, self.error_after = list(close_after), reject, error_after
        self.restart_after, self.down_for = restart_after, down_for
        self.connections = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server, self.port = None, 0

    def __enter__(self):
        self.thread.start()
        self._call(self._listen())
        return self

    def __exit__(self, *exc):
        self._call(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)
        self.loop.close()

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}/image"

    def frames(self):
        return [shape for conn in self.connections for shape in conn["frames"]]

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT)

    async def _listen(self):
        self.server = await serve(self.handler, "127.0.0.1", self.port, process_request=self.http)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _close(self):
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def _restart(self):
        await self._close()
        await asyncio.sleep(self.down_for)
        await self._listen()

    def http(self, connection, request):
        if self.http_status:
            self.connections.append({"path": request.path, "frames": []})
            return connection.respond(self.http_status, "refused by the test\n")
        return None

    async def handler(self, ws):
        conn = {"path": ws.request.path, "size": None, "frames": [], "means": [], "times": []}
        self.connections.append(conn)
        index = len(self.connections) - 1
        if self.reject:  # as ingest does: an error message, then the close code
            await ws.send(json.dumps({"type": "error", "code": "unauthorized", "message": "wrong token"}))
            await ws.close(self.reject, "rejected by the test")
            return
        await ws.send(json.dumps({"type": "initialized"}))
        conn["size"] = json.loads(await ws.recv())["imageSize"]
        await ws.send(json.dumps({"type": "ok"}))
        await ws.send(
            json.dumps({"type": "ready", "stream": f"s{index}", "viewer": f"http://127.0.0.1:8080/?stream=s{index}"})
        )
        limit = self.close_after[index] if index < len(self.close_after) else None
        async for data in ws:
            assert isinstance(data, bytes) and data[:2] == b"\xff\xd8", "not a JPEG"
            image = decode(data)
            conn["frames"].append(image.shape)
            conn["means"].append(float(image.mean()))
            conn["times"].append(time.monotonic())
            count = len(conn["frames"])
            if count == self.error_after:
                await ws.send(json.dumps({"type": "error", "code": "test", "message": "just testing"}))
            if limit is not None and count >= limit:
                await ws.close(1001, "going away")
            if index == 0 and count == self.restart_after:
                self.restarting = asyncio.ensure_future(self._restart())


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "face.jpg"
    path.write_bytes(astronaut_frame(angle=5.0, size=(800, 600)))
    return str(path)


@pytest.fixture
def video_file(tmp_path):
    path = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    assert writer.isOpened()
    for jpeg in astronaut_frames(12, size=(320, 240)):
        writer.write(decode(jpeg))
    writer.release()
    return path


@pytest.fixture(autouse=True)
def camera_logs(caplog):
    caplog.set_level(logging.INFO, logger="live2d_pose.camera")
    return caplog


def run_camera(*argv):
    started = time.monotonic()
    code = camera.main([str(a) for a in argv])
    return code, time.monotonic() - started


# ------------------------------------------------------------ integration


def test_handshake_then_jpeg_frames_of_declared_size(image_file, camera_logs):
    with FakeIngest() as ingest:
        code, _ = run_camera(
            "--server",
            ingest.url,
            "--source",
            image_file,
            "--stream",
            "bot",
            "--token",
            "secret",
            "--max-frames",
            5,
            "--fps",
            0,
        )
    assert code == 0
    [conn] = ingest.connections
    assert conn["path"] == "/image?stream=bot&token=secret"
    assert conn["size"] == {"width": 640, "height": 480}
    assert conn["frames"] == [(480, 640, 3)] * 5
    assert "open the viewer at http://127.0.0.1:8080/?stream=s0" in camera_logs.text
    assert "5 frames sent" in camera_logs.text and "0 reconnects" in camera_logs.text
    assert "secret" not in camera_logs.text  # the token stays out of the logs


def test_a_wide_source_keeps_its_aspect(tmp_path):
    path = tmp_path / "wide.jpg"
    path.write_bytes(astronaut_frame(size=(1280, 720)))
    with FakeIngest() as ingest:
        code, _ = run_camera("--server", ingest.url, "--source", path, "--max-frames", 2, "--fps", 0)
    assert code == 0
    assert ingest.connections[0]["size"] == {"width": 640, "height": 360}
    assert ingest.frames() == [(360, 640, 3)] * 2


def test_cli_entry_point_and_native_size(video_file):
    from live2d_pose.cli import main as cli_main

    with FakeIngest() as ingest:
        port = ingest.port
        code = cli_main(
            [
                "camera",
                "-i",
                "127.0.0.1",
                "-p",
                str(port),
                "--source",
                video_file,
                "--width",
                "0",
                "--height",
                "0",
                "--once",
                "--fps",
                "0",
            ]
        )
    assert code == 0
    assert ingest.connections[0]["size"] == {"width": 320, "height": 240}
    assert ingest.frames() == [(240, 320, 3)] * 12  # every frame of the video, once


def test_video_loops_by_default(video_file):
    with FakeIngest() as ingest:
        code, _ = run_camera("--server", ingest.url, "--source", video_file, "--max-frames", 30, "--fps", 0)
    assert code == 0 and len(ingest.frames()) == 30


def test_fps_limits_the_send_rate(image_file):
    with FakeIngest() as ingest:
        code, elapsed = run_camera("--server", ingest.url, "--source", image_file, "--max-frames", 11, "--fps", 20)
    assert code == 0
    times = ingest.connections[0]["times"]
    span = times[-1] - times[0]
    assert 0.45 <= span < 0.5 + TIMEOUT / 10, span  # 10 intervals of 50 ms


def test_duration_stops_the_client(image_file):
    with FakeIngest() as ingest:
        code, elapsed = run_camera("--server", ingest.url, "--source", image_file, "--duration", 0.6, "--fps", 10)
    assert code == 0
    assert 0.6 <= elapsed < 0.6 + TIMEOUT / 5
    assert 4 <= len(ingest.frames()) <= 8


class FakeLiveCamera:
    """A camera that delivers frame n (a flat grey of value n) every 5 ms."""

    def __init__(self, kind, value, size, fps, loop_video=True):
        self.live, self.value, self.size, self.count = True, value, (64, 48), 0

    def read(self):
        time.sleep(0.005)  # blocks like cv2.VideoCapture.read, off the event loop
        self.count += 1
        if self.count > 250:
            return None  # unplugged
        return np.full((48, 64, 3), self.count, np.uint8)

    def close(self):
        pass


def test_live_camera_sends_the_freshest_frame(monkeypatch, camera_logs):
    monkeypatch.setattr(camera, "FrameSource", FakeLiveCamera)
    with FakeIngest() as ingest:
        code, _ = run_camera("--server", ingest.url, "--source", "webcam", "--fps", 20, "--max-frames", 8)
    assert code == 0
    sent = [round(m) for m in ingest.connections[0]["means"]]
    steps = np.diff(sent)
    # 20 fps from a 200 fps camera: each frame sent is about 10 newer than the last
    assert len(sent) == 8 and (steps >= 4).all() and np.median(steps) >= 7, sent
    assert int(camera_logs.text.split(" dropped")[0].rsplit(" ", 1)[1]) >= 40


def test_camera_that_stops_delivering_exits_1(monkeypatch, camera_logs):
    monkeypatch.setattr(camera, "FrameSource", FakeLiveCamera)
    with FakeIngest() as ingest:
        code, _ = run_camera("--server", ingest.url, "--source", "0", "--fps", 0)
    assert code == 1 and len(ingest.frames()) > 10
    assert "stopped delivering frames" in camera_logs.text


def test_server_error_message_is_logged_not_fatal(image_file, camera_logs):
    with FakeIngest(error_after=2) as ingest:
        code, _ = run_camera("--server", ingest.url, "--source", image_file, "--max-frames", 6, "--fps", 0)
    assert code == 0 and len(ingest.connections) == 1 and len(ingest.frames()) == 6
    assert "ingest: just testing (test)" in camera_logs.text


def test_reconnects_when_the_server_closes_mid_stream(image_file, camera_logs):
    with FakeIngest(close_after=[3]) as ingest:
        code, _ = run_camera("--server", ingest.url, "--source", image_file, "--max-frames", 8, "--fps", 50)
    assert code == 0
    counts = [len(c["frames"]) for c in ingest.connections]
    # a frame already in flight when the server closes may land on either side
    assert len(counts) == 2 and counts[0] >= 3 and counts[1] >= 1 and sum(counts) <= 8, counts
    assert "8 frames sent" in camera_logs.text and "1 reconnects" in camera_logs.text
    # no --stream: the id ingest gave first is asked for again, so viewer links survive
    assert [c["path"] for c in ingest.connections] == ["/image", "/image?stream=s0"]


def test_reconnects_when_ingest_restarts(image_file, camera_logs):
    with FakeIngest(restart_after=4, down_for=1.2) as ingest:
        code, elapsed = run_camera("--server", ingest.url, "--source", image_file, "--max-frames", 10, "--fps", 50)
    assert code == 0
    counts = [len(c["frames"]) for c in ingest.connections]
    assert len(counts) == 2 and counts[0] >= 4 and sum(counts) == 10
    assert "cannot connect" in camera_logs.text  # refused while ingest was down
    assert elapsed >= 1.2


def test_replaced_by_another_camera_backs_off_instead_of_flapping(image_file, camera_logs):
    """Close 4000 (another connection took the stream name): wait long, not 0.5 s.
    Two clients with one name replaced each other 29 times in 15 s before."""
    with FakeIngest(reject=4000) as ingest:
        code, elapsed = run_camera("--server", ingest.url, "--source", image_file, "--duration", 2)
    assert code == 0 and len(ingest.connections) == 1, ingest.connections
    assert "another camera took over" in camera_logs.text
    assert "reconnecting in 30.0 s" in camera_logs.text


def test_track_goes_into_the_query(image_file):
    assert camera.build_url("ws://h:1/image?track=face", track="face,pose") == "ws://h:1/image?track=face%2Cpose"
    with FakeIngest() as ingest:
        code, _ = run_camera(
            "--server", ingest.url, "--source", image_file, "--max-frames", 2, "--track", "pose, hands"
        )
    assert code == 0 and ingest.connections[0]["path"] == "/image?track=pose%2Chands"
    with pytest.raises(SystemExit):
        camera.parse_args(["--track", "face,tail"])


def test_a_bad_tracker_is_named(capsys):
    with pytest.raises(SystemExit):
        camera.parse_args(["--track", "face,tail"])
    assert "--track: unknown tracker 'tail' (choose from face, pose, hands)" in capsys.readouterr().err


def test_policy_close_is_fatal(image_file, camera_logs):
    with FakeIngest(reject=1008) as ingest:
        code, _ = run_camera("--server", ingest.url, "--source", image_file, "--max-frames", 3)
    assert code == 2 and len(ingest.connections) == 1
    assert "ingest: wrong token (unauthorized)" in camera_logs.text
    assert "policy / auth" in camera_logs.text


@pytest.mark.parametrize("status, fatal", [(200, True), (403, True), (404, True), (503, False)])
def test_http_refusal(image_file, camera_logs, status, fatal):
    with FakeIngest(http_status=status) as ingest:
        code, _ = run_camera("--server", ingest.url, "--source", image_file, "--max-frames", 3, "--duration", 1.2)
    if fatal:  # it would answer the same again: say so, and what to do
        assert code == 2 and len(ingest.connections) == 1
        assert f"HTTP {status}" in camera_logs.text
        assert "ingest's camera URL, which `live2d-pose up` prints" in camera_logs.text
        assert status != 200 or "answered with a web page" in camera_logs.text
    else:  # 503: ingest may be restarting behind a proxy, so try again (0.5 s, 1 s later)
        assert code == 0 and len(ingest.connections) == 2


def test_missing_source_fails_cleanly(tmp_path):
    code, _ = run_camera("--server", "ws://127.0.0.1:9/image", "--source", tmp_path / "nope.png")
    assert code == 1


def _run_script(python, script, ingest, *extra):
    cmd = [python, str(script), "--server", ingest.url, "--max-frames", "4", "--fps", "0", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT * 3)


def test_runs_as_a_standalone_script(tmp_path, image_file):
    script = tmp_path / "camera.py"  # alone, as copied onto a JetBot
    shutil.copy(CAMERA_PY, script)
    with FakeIngest() as ingest:
        done = _run_script(sys.executable, script, ingest, "--source", image_file)
    assert done.returncode == 0, done.stderr
    assert len(ingest.frames()) == 4 and "4 frames sent" in done.stderr


@pytest.mark.skipif(
    not os.environ.get("LIVE2D_POSE_CAMERA_PYTHON"),
    reason="set LIVE2D_POSE_CAMERA_PYTHON to an old interpreter "
    "(e.g. Python 3.6 with websockets 8 and OpenCV) to test it",
)
def test_runs_on_an_old_python(tmp_path, image_file):
    script = tmp_path / "camera.py"
    shutil.copy(CAMERA_PY, script)
    with FakeIngest(close_after=[2]) as ingest:
        done = _run_script(os.environ["LIVE2D_POSE_CAMERA_PYTHON"], script, ingest, "--source", image_file)
    assert done.returncode == 0, done.stderr
    counts = [len(c["frames"]) for c in ingest.connections]
    assert len(counts) == 2 and counts[0] >= 2 and counts[1] >= 1, counts
    assert "4 frames sent" in done.stderr and "1 reconnects" in done.stderr


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_signal_stops_cleanly_with_a_summary(tmp_path, image_file, sig):
    import signal

    with FakeIngest() as ingest:
        proc = subprocess.Popen(
            [sys.executable, str(CAMERA_PY), "--server", ingest.url, "--source", image_file, "--fps", "20"],
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + TIMEOUT
        while len(ingest.frames()) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(getattr(signal, sig))
        _, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, stderr
    assert "frames sent" in stderr and "Traceback" not in stderr


# ------------------------------------------------------------ pointed at the wrong port


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """The real ingest and gateway (no landmarkers): what a camera may be pointed at."""
    from live2d_pose.testing.pipeline import Pipeline

    pipe = Pipeline(tmp_path_factory.mktemp("services"), workers=0).start()
    yield pipe
    pipe.stop_cleanly()


@pytest.mark.parametrize(
    "path, says",
    [
        ("/image", "is live2d-pose's gateway (the viewer's port), not ingest"),  # HTTP 404 from the gateway
        ("/", "is live2d-pose's gateway (the viewer's port), not ingest"),  # its page, HTTP 200
        ("/ws", "greeted with 'hello', not 'initialized' (live2d-pose's gateway"),  # the viewers' socket
    ],
)
def test_the_gateways_port_is_named_and_not_retried(services, image_file, camera_logs, path, says):
    url = f"ws://127.0.0.1:{services.http_port}{path}"
    code, elapsed = run_camera("--server", url, "--source", image_file, "--timeout", 5, "--duration", 10)
    assert code == 2 and elapsed < 5, camera_logs.text
    assert says in camera_logs.text and "which `live2d-pose up` prints (ws://HOST:8765/image" in camera_logs.text
    assert "reconnecting" not in camera_logs.text


def test_a_wrong_path_on_ingest_names_the_right_one(services, image_file, camera_logs):
    code, _ = run_camera("--server", f"ws://127.0.0.1:{services.camera_port}/camera", "--source", image_file)
    assert code == 2
    assert (
        f"ingest at ws://127.0.0.1:{services.camera_port}/camera refused the connection: HTTP 404 "
        "(cameras connect to its path /image)"
    ) in camera_logs.text
