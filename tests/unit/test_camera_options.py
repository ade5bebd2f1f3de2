"""The example camera client's pure parts (live2d_pose/camera.py): its URL, flags, frame
sizes, sources, pacing and backoff, and that it stays a standalone Python 3.6 file.

tests/system/test_camera_client.py runs it against an in-test ingest and the real one.
"""

from __future__ import annotations

import ast
import asyncio
import os
import sys
from pathlib import Path

import pytest

from live2d_pose import camera

CAMERA_PY = Path(camera.__file__)
TIMEOUT = 10.0 * float(os.environ.get("LIVE2D_POSE_TIMEOUT_SCALE", "1"))


# ------------------------------------------------------------ pure parts


def test_url_defaults_and_origin_flags():
    assert camera.build_url() == "ws://localhost:8765/image"
    assert camera.build_url(ip="10.0.0.7") == "ws://10.0.0.7:8765/image"
    assert camera.build_url(ip="10.0.0.7", port=9000) == "ws://10.0.0.7:9000/image"
    assert camera.build_url(ip="::1", port=9000) == "ws://[::1]:9000/image"


def test_url_query_stream_and_token():
    url = camera.build_url("ws://h:1/image?x=1&token=old", stream="bot 1", token="s&cret")
    assert url == "ws://h:1/image?x=1&stream=bot+1&token=s%26cret"
    assert camera.build_url("wss://h/", stream="a") == "wss://h/?stream=a"


def test_flags(monkeypatch):
    monkeypatch.setenv(camera.TOKEN_ENV, "from-env")
    args = camera.parse_args(["-i", "jetson.local", "-p", "1234", "--source", "csi"])
    assert (args.ip, args.port, args.token) == ("jetson.local", 1234, "from-env")
    assert (args.width, args.height, args.long_side) == (0, 0, 640)  # the source's aspect
    assert (args.quality, args.fps, args.once) == (80, 30.0, False)
    assert camera.parse_args(["--token", "flag"]).token == "flag"
    for bad in (["--server", "ws://h", "--ip", "x"], ["--width", "-1"], ["--quality", "0"], ["--fps", "-1"]):
        with pytest.raises(SystemExit):
            camera.parse_args(bad)


def test_every_flag_has_an_environment_variable_and_its_default_in_help(monkeypatch, capsys):
    help_text = " ".join(camera.build_parser().format_help().split())
    for _names, dest, _, default, _ in camera.FLAGS:
        env = "LIVE2D_POSE_CAMERA_" + dest.upper()
        assert f"[env {env}" in help_text, env
        if default is not None:
            assert f"[env {env}, default {default}]" in help_text
    env = {
        "LIVE2D_POSE_CAMERA_FPS": "12",
        "LIVE2D_POSE_CAMERA_ONCE": "yes",
        "LIVE2D_POSE_CAMERA_LONG_SIDE": "320",
        "LIVE2D_POSE_CAMERA_SERVER": "ws://env:1/image",
        "LIVE2D_POSE_CAMERA_TRACK": "face,pose",
    }
    args = camera.parse_args([], env)
    assert (args.fps, args.once, args.long_side, args.server, args.track) == (
        12.0,
        True,
        320,
        "ws://env:1/image",
        "face,pose",
    )
    args = camera.parse_args(["--fps", "5", "-i", "flag-host"], env)  # a flag beats the environment
    assert (args.fps, args.ip, args.server) == (5.0, "flag-host", None)
    with pytest.raises(SystemExit):
        camera.parse_args([], {"LIVE2D_POSE_CAMERA_FPS": "fast"})
    assert "LIVE2D_POSE_CAMERA_FPS: could not convert" in capsys.readouterr().err


@pytest.mark.parametrize(
    "source, wanted, size",
    [
        ((1280, 720), (0, 0, 640), (640, 360)),  # 16:9 video: the long side scaled, the aspect kept
        ((720, 1280), (0, 0, 640), (360, 640)),  # a portrait phone video
        ((800, 600), (0, 0, 640), (640, 480)),
        ((320, 240), (0, 0, 640), (320, 240)),  # never enlarged
        ((1920, 1080), (0, 0, 0), (1920, 1080)),  # --long-side 0: as it is
        ((1920, 1080), (0, 480, 640), (854, 480)),  # --height alone: the width follows
        ((1920, 1080), (512, 0, 640), (512, 288)),  # --width alone
        ((1920, 1080), (640, 480, 640), (640, 480)),  # both: exactly that
        ((1640, 1232), (0, 0, 640), (640, 480)),  # the JetBot's CSI mode, even sizes
    ],
)
def test_frame_size_keeps_the_aspect(source, wanted, size):
    assert camera.frame_size(source, *wanted) == size


@pytest.mark.parametrize(
    "text, expected",
    [
        ("webcam", ("device", 0)),
        ("2", ("device", 2)),
        ("csi", ("csi", 0)),
        ("csi:1", ("csi", 1)),
        ("face.JPG", ("image", "face.JPG")),
        ("/tmp/a.png", ("image", "/tmp/a.png")),
        ("clip.mp4", ("video", "clip.mp4")),
        ("rtsp://cam/stream", ("video", "rtsp://cam/stream")),
        ("videotestsrc ! videoconvert ! appsink", ("gst", "videotestsrc ! videoconvert ! appsink")),
    ],
)
def test_parse_source(text, expected):
    assert camera.parse_source(text) == expected


def test_csi_pipeline():
    pipe = camera.csi_pipeline(640, 480, 30, sensor_id=1)
    assert pipe.startswith("nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM), width=1640, height=1232")
    assert "nvvidconv ! video/x-raw, width=640, height=480, format=BGRx" in pipe
    assert pipe.endswith("format=BGR ! appsink drop=1 max-buffers=1")
    assert "width=1280, height=720" in camera.csi_pipeline(1280, 720, 60)  # 16:9 sensor mode
    assert "framerate=30/1" in camera.csi_pipeline(640, 480, 0)


def test_pacer_limits_rate_without_bursts():
    pacer = camera.Pacer(10)
    assert pacer.delay(0.0) == 0.0
    pacer.sent(0.0)
    assert pacer.delay(0.03) == pytest.approx(0.07)
    # a send loop that sleeps exactly as told sends 10 frames a second
    now, sends = 0.0, 0
    while now < 10.0:
        now += pacer.delay(now) + 0.004  # some scheduling jitter
        pacer.sent(now)
        sends += 1
    assert 99 <= sends <= 101
    # after a 5 s stall: one frame at once, then back to 10/s, no catch-up burst
    now += 5.0
    assert pacer.delay(now) == 0.0
    pacer.sent(now)
    assert pacer.delay(now) == pytest.approx(0.1)
    assert camera.Pacer(0).delay(123.0) == 0.0


def test_backoff_is_capped_and_resets():
    backoff = camera.Backoff()
    assert [backoff.next() for _ in range(7)] == [0.5, 1, 2, 4, 8, 10, 10]
    backoff.reset()
    assert backoff.next() == 0.5


def test_latest_frame_keeps_only_the_freshest():
    async def scenario():
        slot = camera.LatestFrame()
        slot.put("a")
        slot.put("b")
        assert await slot.take() == "b" and slot.dropped == 1
        slot.put(camera.EOF)
        assert await slot.take() is camera.EOF
        assert await slot.take() is camera.EOF  # the end stays the end

    asyncio.run(scenario())


def test_standalone_and_python36_syntax():
    """The file is copied alone onto a JetBot: Python 3.6 syntax, and no
    import beyond the standard library, websockets, cv2 and numpy."""
    tree = ast.parse(CAMERA_PY.read_text(), feature_version=(3, 6))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module != "__future__"
            imported.add(node.module.split(".")[0])
    allowed = set(sys.stdlib_module_names) | {"websockets", "cv2", "numpy"}
    assert imported <= allowed, imported - allowed
    source = CAMERA_PY.read_text()
    for too_new in ("asyncio.run(", "create_task(", "get_running_loop", "dataclass", ":=", "open_timeout"):
        assert too_new not in source, too_new


# ------------------------------------------------------------ fake ingest
