"""Who gets in: camera and viewer tokens, the Origin allow-list, CurveZMQ on the
internal links, localhost-only `up`, no secrets in logs; and every limit
enforced end to end. See docs/security.md for what is and is not protected.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
import zmq
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from live2d_pose import config as cfg
from live2d_pose import curve, supervisor, wire
from live2d_pose.testing import frames as face_frames
from live2d_pose.testing.clients import TIMEOUT, Camera, Viewer, recv_json
from live2d_pose.testing.pipeline import Pipeline

CAMERA_TOKEN = "cam-s3cret-7f1c2d"
VIEWER_TOKEN = "view-s3cret-9a8b7c"
ORIGIN = "https://avatar.example"


async def _refused(url: str, **kwargs) -> tuple[dict, int]:
    """Connect, expect one error message and a close: (message, close code)."""
    async with connect(url, open_timeout=TIMEOUT, **kwargs) as ws:
        message = await recv_json(ws)
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
        return message, ws.close_code


# ---------------------------------------------------------------- tokens and origins


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    pipe = Pipeline(tmp_path_factory.mktemp("guarded"), workers=1, env={
        "LIVE2D_POSE_CAMERA_TOKEN": CAMERA_TOKEN, "LIVE2D_POSE_VIEWER_TOKEN": VIEWER_TOKEN,
        "LIVE2D_POSE_ALLOWED_ORIGINS": f"{ORIGIN}, http://localhost:5173",
        "LIVE2D_POSE_LOG_LEVEL": "DEBUG"}).start()
    yield pipe
    pipe.stop()


def test_camera_token(guarded):
    async def body():
        for query in ("", "?token=wrong", f"?token={CAMERA_TOKEN[:-1]}", f"?token={CAMERA_TOKEN}x"):
            message, code = await _refused(guarded.camera_url + query)
            assert (message["code"], code) == ("unauthorized", 1008)
            assert CAMERA_TOKEN not in json.dumps(message)
        async with Viewer(guarded.viewer_url(f"stream=tok&token={VIEWER_TOKEN}")) as viewer, \
                Camera(guarded.camera_url + f"?stream=tok&token={CAMERA_TOKEN}") as camera:
            await camera.stream_frames(face_frames.astronaut_frames(4), fps=20, count=20)
            results = await viewer.wait_for_results(3, stream="tok")
            assert results[0].faces
    asyncio.run(body())


def test_viewer_token(guarded):
    async def body():
        for query in ("", "token=", "token=wrong", f"token={VIEWER_TOKEN.upper()}", f"token={CAMERA_TOKEN}"):
            message, code = await _refused(guarded.viewer_url(query))
            assert (message["code"], code) == ("unauthorized", 1008)
        async with connect(guarded.viewer_url(f"token={VIEWER_TOKEN}"), open_timeout=TIMEOUT) as ws:
            assert (await recv_json(ws))["type"] == "hello"
    asyncio.run(body())


def test_origin_allow_list(guarded):
    url = guarded.viewer_url(f"token={VIEWER_TOKEN}")

    async def body():
        for origin in ("https://evil.example", "null", ORIGIN + ".evil.example", "http://localhost:5174"):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url, origin=origin, open_timeout=TIMEOUT):
                    pass
            assert refused.value.response.status_code == 403
        for origin in (ORIGIN, "http://localhost:5173", None):  # None: no header, not a browser (OBS, scripts)
            async with connect(url, origin=origin, open_timeout=TIMEOUT) as ws:
                assert (await recv_json(ws))["type"] == "hello"
    asyncio.run(body())


def test_no_secret_in_help_stats_or_logs(guarded):
    """The tokens never appear in --help, /stats, /metrics, /streams or any service log (DEBUG level)."""
    env = {**os.environ, "LIVE2D_POSE_CAMERA_TOKEN": CAMERA_TOKEN, "LIVE2D_POSE_VIEWER_TOKEN": VIEWER_TOKEN}
    for role in ("ingest", "gateway"):
        help_text = subprocess.run([sys.executable, "-m", "live2d_pose", role, "--help"], env=env,
                                   capture_output=True, text=True, timeout=TIMEOUT).stdout
        assert "token" in help_text and CAMERA_TOKEN not in help_text and VIEWER_TOKEN not in help_text
    assert cfg.redacted(cfg.IngestConfig(camera_token=CAMERA_TOKEN))["camera_token"] == "***"
    import urllib.request
    for url in (f"http://127.0.0.1:{guarded.camera_port}/stats", f"{guarded.http_url}/metrics",
                f"{guarded.http_url}/streams", f"{guarded.http_url}/config.json"):
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            body = response.read().decode()
        assert CAMERA_TOKEN not in body and VIEWER_TOKEN not in body, url
    codes = guarded.stop()
    assert all(code == 0 for code in codes.values()), codes
    logs = guarded.logs()
    assert "unauthorized" in logs or "wrong" in logs  # the refusals above were logged...
    for service in guarded.services.values():  # ...without the secrets
        text = service.log()
        assert CAMERA_TOKEN not in text and VIEWER_TOKEN not in text, service.name
        assert CAMERA_TOKEN[:12] not in text and VIEWER_TOKEN[:12] not in text, service.name


# ---------------------------------------------------------------- `up` binds to localhost


def test_up_binds_localhost_by_default():
    up = cfg.from_sources(cfg.UpConfig, environ={})
    children = {c.name: c.argv for c in supervisor.service_commands(up)}
    assert children["ingest"][children["ingest"].index("--host") + 1] == "127.0.0.1"
    assert children["gateway"][children["gateway"].index("--host") + 1] == "127.0.0.1"
    assert "tcp://127.0.0.1:5555" in children["ingest"] and "tcp://127.0.0.1:5556" in children["gateway"]
    opened = cfg.from_sources(cfg.UpConfig, environ={"LIVE2D_POSE_IP": "0.0.0.0"})
    assert "0.0.0.0" in supervisor.service_commands(opened)[0].argv
    # the ZeroMQ ports stay local even then, unless --zmq-host says otherwise
    assert "tcp://127.0.0.1:5555" in supervisor.service_commands(opened)[0].argv
    # the live check (listening sockets of a running `up`) is in test_faults.test_up_restarts_killed_worker


# ---------------------------------------------------------------- CurveZMQ


def test_keys_command(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "live2d_pose", "keys", str(tmp_path / "k")],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    secret = tmp_path / "k" / "server.key_secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    public, secret_key = curve.load_secret(str(secret))
    assert curve.load_public(str(tmp_path / "k" / "server.key")) == public
    assert curve.load_public(public.decode()) == public
    assert secret_key.decode() not in proc.stdout
    for bad in ("", "short", "x" * 40 + "y"):
        with pytest.raises(curve.CurveError):
            curve.load_public(bad) if bad else curve.load_secret(str(tmp_path / "missing"))


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    public_file, secret_file = curve.generate(str(folder))
    _, wrong_file = curve.generate(str(folder), "wrong")
    return {"secret": str(secret_file), "public": str(public_file),
            "wrong_public": zmq.auth.load_certificate(str(wrong_file))[0].decode()}


def test_curve_encrypted_worker_gets_frames_others_do_not(tmp_path, keys, figures):
    pipe = Pipeline(tmp_path / "logs", workers=1, env={"LIVE2D_POSE_CURVE_SECRET_KEY_FILE": keys["secret"],
                                                        "LIVE2D_POSE_CURVE_SERVER_KEY": keys["public"]})
    rogues = []
    try:
        pipe.start()
        for name, server_key in (("nokey", ""), ("wrongkey", keys["wrong_public"])):
            service = pipe._service(f"rogue-{name}", "landmarker", {})
            service.env.update({"LIVE2D_POSE_INGEST": f"tcp://127.0.0.1:{pipe.workers_port}",
                                "LIVE2D_POSE_GATEWAY": f"tcp://127.0.0.1:{pipe.results_port}",
                                "LIVE2D_POSE_WORKER_NAME": f"rogue-{name}",
                                "LIVE2D_POSE_CURVE_SERVER_KEY": server_key})
            service.start()
            rogues.append(service)
        _plaintext_intruders(pipe)

        async def body():
            async with Viewer(pipe.viewer_url("stream=enc")) as viewer, \
                    Camera(pipe.camera_url + "?stream=enc") as camera:
                streaming = asyncio.create_task(
                    camera.stream_frames(face_frames.astronaut_frames(8), fps=15, duration=TIMEOUT))
                await viewer.wait_for_results(15, stream="enc")
                await asyncio.sleep(3.0)  # the rogues have tried (and reconnected) for a while by now
                streaming.cancel()
                return viewer.results

        results = asyncio.run(body())
        stats = pipe.ingest_stats()
        workers = [w["name"] for w in stats["workers"]]
        figures["curve_results"] = len(results)
        figures["curve_workers_joined"] = workers
        assert workers == ["w1"], workers
        assert {r.stream for r in results} == {"enc"}
        assert all(s.alive() for s in rogues)
        streams = _get(f"{pipe.http_url}/streams")
        assert [s["stream"] for s in streams] in ([], ["enc"]), streams  # no injected stream
        for rogue in rogues:
            assert "stopped" not in rogue.log() and "frames=" not in rogue.log()
    finally:
        for rogue in rogues:
            rogue.stop()
        pipe.stop()
    for rogue in rogues:  # they never processed a frame
        assert "frames=0 " in rogue.log(), rogue.log()[-1500:]


def _plaintext_intruders(pipe: Pipeline) -> None:
    """A plaintext DEALER says READY to ingest; a plaintext PUSH injects a result and an event."""
    context = zmq.Context()
    dealer, push = context.socket(zmq.DEALER), context.socket(zmq.PUSH)
    try:
        dealer.connect(f"tcp://127.0.0.1:{pipe.workers_port}")
        push.connect(f"tcp://127.0.0.1:{pipe.results_port}")
        dealer.send_multipart([wire.READY, wire.encode_map({"name": "intruder"})], flags=zmq.NOBLOCK)
        result = wire.Result("injected", 1, 4, 4, {"ingest": wire.now_ms()})
        push.send_multipart([wire.RESULT, result.encode()], flags=zmq.NOBLOCK)
        push.send_multipart([wire.EVENT, wire.encode_map({"type": "stream", "stream": "injected",
                                                          "imageSize": {"width": 4, "height": 4}})],
                            flags=zmq.NOBLOCK)
        assert not dealer.poll(1000), "ingest answered a plaintext peer"
    except zmq.Again:
        pass  # the handshake never completes, so nothing can even be queued: also fine
    finally:
        dealer.close(linger=0)
        push.close(linger=0)
        context.term()


def _get(url: str):
    import urllib.request
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        return json.loads(response.read())


# ---------------------------------------------------------------- limits, end to end

LIMITS = {"LIVE2D_POSE_MAX_FRAME_BYTES": "40000", "LIVE2D_POSE_MAX_PIXELS": str(640 * 480),
          "LIVE2D_POSE_MAX_STREAMS": "2", "LIVE2D_POSE_MAX_VIEWERS": "2", "LIVE2D_POSE_MAX_FPS": "10",
          "LIVE2D_POSE_MAX_TEXT_BYTES": "256"}


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    pipe = Pipeline(tmp_path_factory.mktemp("limited"), workers=0, env=LIMITS).start()
    deadline = time.monotonic() + TIMEOUT  # with no worker to wait for, start() checks only the gateway
    while not pipe.ingest_stats() and time.monotonic() < deadline:
        time.sleep(0.05)
    yield pipe
    pipe.stop()


async def _camera_refused(url: str, size: dict, payload: bytes | str | None) -> tuple[str, int]:
    async with connect(url, max_size=None, open_timeout=TIMEOUT) as ws:
        assert (await recv_json(ws))["type"] == "initialized"
        await ws.send(json.dumps({"imageSize": size}))
        reply = await recv_json(ws)
        if reply["type"] == "error":
            message = reply
        else:
            await recv_json(ws)  # ready
            await ws.send(payload)
            message = await recv_json(ws)
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
        return message["code"], ws.close_code


def test_limits_frame_bytes_pixels_text(limited):
    import cv2
    rng = np.random.default_rng(0)
    def noise(height: int, width: int) -> bytes:
        return cv2.imencode(".jpg", rng.integers(0, 255, (height, width, 3), dtype=np.uint8),
                            [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    noisy, huge = noise(180, 240), noise(480, 640)
    assert 40000 < len(noisy) < 80000 < len(huge)
    big = face_frames.astronaut_frame(size=(800, 600), quality=30)
    assert len(big) < 40000
    size = {"width": 640, "height": 480}

    async def body():
        url = limited.camera_url
        assert await _camera_refused(url, size, noisy) == ("frame_too_large", 1009)
        with pytest.raises(ConnectionClosed) as closed:  # over twice the limit: websockets cuts it off
            await _camera_refused(url, size, huge)
        assert closed.value.rcvd.code == 1009
        assert await _camera_refused(url, size, big) == ("image_too_large", 1009)
        assert await _camera_refused(url, {"width": 800, "height": 600}, None) == ("image_too_large", 1009)
        assert await _camera_refused(url, size, json.dumps({"imageSize": size, "pad": "x" * 300})) \
            == ("text_too_large", 1009)
        # just under every limit is fine
        async with Camera(url, 640, 480) as camera:
            await camera.send(face_frames.astronaut_frame(quality=60))
            await camera.send(json.dumps({"imageSize": size}))
            await asyncio.sleep(0.3)
            assert not [m for m in camera.messages if m.get("type") == "error"], camera.messages
    asyncio.run(body())


def test_limit_streams_and_viewers(limited):
    async def body():
        async with Camera(limited.camera_url), Camera(limited.camera_url):
            message, code = await _refused(limited.camera_url)
            assert (message["code"], code) == ("too_many_streams", 1013)
        async with Camera(limited.camera_url):  # a slot is free again once one leaves
            pass
        async with Viewer(limited.viewer_url()), Viewer(limited.viewer_url()):
            message, code = await _refused(limited.viewer_url())
            assert (message["code"], code) == ("too_many_viewers", 1013)
        async with Viewer(limited.viewer_url()) as viewer:
            await asyncio.sleep(0.1)
            assert viewer.controls and viewer.controls[0]["type"] == "hello"
    asyncio.run(body())


def test_limit_fps(limited, figures):
    async def body():
        async with Camera(limited.camera_url + "?stream=fast") as camera:
            started = time.monotonic()
            sent = await camera.stream_frames([face_frames.astronaut_frame(quality=40)], fps=50, duration=2.0)
            await asyncio.sleep(0.2)
            stats = _get(f"http://127.0.0.1:{limited.camera_port}/stats")["streams"]["fast"]
            return sent, stats, time.monotonic() - started

    sent, stats, duration = asyncio.run(body())
    figures["sent_fps"] = sent / duration
    figures["accepted_fps"] = stats["received"] / duration
    figures["reading_paused"] = stats["throttled"]
    # ingest reads no faster than max_fps; the rest waits in TCP (backpressure), not in ingest
    assert stats["received"] <= 10 * duration + 3 + 1  # rate x time + the quarter-second burst
    assert stats["throttled"] >= 1 and stats["received"] < sent
