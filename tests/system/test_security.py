"""Who gets in: camera and viewer tokens, the Origin allow-list, CurveZMQ on the
internal links, localhost-only `up`, no secrets in logs; and every limit
enforced end to end. See docs/security.md for what is and is not protected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
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
from live2d_pose.gateway.settings import GatewayConfig
from live2d_pose.ingest.settings import IngestConfig
from live2d_pose.landmarker.settings import LandmarkerConfig
from live2d_pose import curve, supervisor, wire
from live2d_pose.testing import frames as face_frames
from live2d_pose.testing.clients import TIMEOUT, Camera, Viewer, recv_json
from live2d_pose.testing.inprocess import InProcess
from live2d_pose.testing.pipeline import Pipeline, Service

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
    pipe = Pipeline(
        tmp_path_factory.mktemp("guarded"),
        workers=1,
        env={
            "LIVE2D_POSE_CAMERA_TOKEN": CAMERA_TOKEN,
            "LIVE2D_POSE_VIEWER_TOKEN": VIEWER_TOKEN,
            "LIVE2D_POSE_ALLOWED_ORIGINS": f"{ORIGIN}, http://localhost:5173",
            "LIVE2D_POSE_LOG_LEVEL": "DEBUG",
        },
    ).start()
    yield pipe
    pipe.stop()


def guarded_in_process(workers: int = 0) -> InProcess:
    """The same tokens and origins on in-process servers (fake workers)."""
    return InProcess(
        workers=workers,
        ingest={"camera_token": CAMERA_TOKEN},
        gateway={"viewer_token": VIEWER_TOKEN, "allowed_origins": f"{ORIGIN}, http://localhost:5173"},
    )


def test_camera_token():
    async def body():
        async with guarded_in_process(workers=1) as guarded:
            for query in ("", "?token=wrong", f"?token={CAMERA_TOKEN[:-1]}", f"?token={CAMERA_TOKEN}x"):
                message, code = await _refused(guarded.camera_url + query)
                assert (message["code"], code) == ("unauthorized", 1008)
                assert CAMERA_TOKEN not in json.dumps(message)
            async with (
                Viewer(guarded.viewer_url(f"stream=tok&token={VIEWER_TOKEN}")) as viewer,
                Camera(guarded.camera_url + f"?stream=tok&token={CAMERA_TOKEN}") as camera,
            ):
                await camera.stream_frames(face_frames.astronaut_frames(4), fps=20, count=20)
                results = await viewer.wait_for_results(3, stream="tok")
                assert results[0].faces

    asyncio.run(body())


def test_viewer_token():
    async def body():
        async with guarded_in_process() as guarded:
            for query in ("", "token=", "token=wrong", f"token={VIEWER_TOKEN.upper()}", f"token={CAMERA_TOKEN}"):
                message, code = await _refused(guarded.viewer_url(query))
                assert (message["code"], code) == ("unauthorized", 1008)
            async with connect(guarded.viewer_url(f"token={VIEWER_TOKEN}"), open_timeout=TIMEOUT) as ws:
                assert (await recv_json(ws))["type"] == "hello"

    asyncio.run(body())


async def _origin_refused(url: str, origin: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, origin=origin, open_timeout=TIMEOUT):
            pass
    assert refused.value.response.status_code == 403


def test_origin_allow_list():
    """/ws: pages the gateway serves, listed origins and clients without one (OBS, scripts)."""

    async def body():
        async with guarded_in_process() as guarded:
            url = guarded.viewer_url(f"token={VIEWER_TOKEN}")
            own = guarded.http_url
            for origin in (
                "https://evil.example",
                "null",
                ORIGIN + ".evil.example",
                "http://localhost:5174",
                own.replace("http://", "https://") + "1",
                "http://localhost",
            ):
                await _origin_refused(url, origin)
            for origin in (ORIGIN, ORIGIN + ":443", "http://LOCALHOST:5173/", own, None):
                async with connect(url, origin=origin, open_timeout=TIMEOUT) as ws:
                    assert (await recv_json(ws))["type"] == "hello"

    asyncio.run(body())


def test_camera_socket_refuses_web_pages_unless_allowed():
    """Cameras send no Origin; a browser always does. Ingest refuses every web page by default
    (another site's page could take a stream over), and lets listed ones in (a browser camera page)."""

    async def body():
        async with InProcess() as closed, InProcess(ingest={"allowed_origins": ORIGIN}) as listing:
            for origin in (ORIGIN, "null", f"http://127.0.0.1:{closed.camera_port}"):
                await _origin_refused(closed.camera_url, origin)
            await _origin_refused(listing.camera_url, "https://evil.example")
            for pipe, origin in ((closed, None), (listing, None), (listing, ORIGIN)):
                async with connect(pipe.camera_url, origin=origin, open_timeout=TIMEOUT) as ws:
                    assert (await recv_json(ws))["type"] == "initialized"
            assert closed.ingest_stats()["totals"]["origin_refused"] == 3

    asyncio.run(body())


# (before test_no_secret_in_help_stats_or_logs, which stops `guarded` to read whole logs)
def test_a_viewers_stream_id_cannot_forge_a_log_line(guarded):
    """``?stream=`` goes into the gateway's log: with a %0A in it a viewer could write a line of
    its own. It is held to the cameras' rule now (bad_stream_id, 1008)."""
    forged = "2026-01-01 00:00:00,000 ERROR   live2d_pose.gateway: forged"
    message, code = asyncio.run(
        _refused(guarded.viewer_url(f"token={VIEWER_TOKEN}&stream=x%0A{forged.replace(' ', '%20')}"))
    )
    assert (message["code"], code) == ("bad_stream_id", 1008)
    time.sleep(0.2)
    assert not [line for line in guarded.services["gateway"].log().splitlines() if line.startswith(forged)]


def test_no_secret_in_help_stats_or_logs(guarded):
    """The tokens never appear in --help, /stats, /metrics, /streams or any service log (DEBUG level):
    real processes, a real worker, and refusals to log."""
    env = {**os.environ, "LIVE2D_POSE_CAMERA_TOKEN": CAMERA_TOKEN, "LIVE2D_POSE_VIEWER_TOKEN": VIEWER_TOKEN}
    for role in ("ingest", "gateway"):
        help_text = subprocess.run(
            [sys.executable, "-m", "live2d_pose", role, "--help"],
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        ).stdout
        assert "token" in help_text and CAMERA_TOKEN not in help_text and VIEWER_TOKEN not in help_text
    assert cfg.redacted(IngestConfig(camera_token=CAMERA_TOKEN))["camera_token"] == "***"

    async def refusals():  # with the right token and a wrong one, so there is something to log
        await _refused(guarded.camera_url + f"?token={CAMERA_TOKEN}x")
        await _refused(guarded.viewer_url(f"token={VIEWER_TOKEN}x"))
        async with Camera(guarded.camera_url + f"?stream=s&token={CAMERA_TOKEN}") as camera:
            await camera.stream_frames(face_frames.astronaut_frames(2), fps=20, count=4)

    asyncio.run(refusals())
    import urllib.request

    for url in (
        f"http://127.0.0.1:{guarded.camera_port}/stats",
        f"http://127.0.0.1:{guarded.camera_port}/metrics",
        f"{guarded.http_url}/metrics",
        f"{guarded.http_url}/streams",
        f"{guarded.http_url}/config.json",
    ):
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


def test_up_binds_localhost_and_keeps_zeromq_on_private_ipc_by_default():
    up = cfg.from_sources(cfg.UpConfig, environ={})
    private = supervisor.private_zmq_dir()
    try:
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o700  # only this user can open the sockets
        children = {c.name: c.argv for c in supervisor.service_commands(up, private)}
    finally:
        os.rmdir(private)
    assert children["ingest"][children["ingest"].index("--host") + 1] == "127.0.0.1"
    assert children["gateway"][children["gateway"].index("--host") + 1] == "127.0.0.1"
    zmq_args = [arg for argv in children.values() for arg in argv if "://" in arg and "http" not in arg]
    assert zmq_args and all(arg.startswith(f"ipc://{private}/") for arg in zmq_args), zmq_args
    opened = cfg.from_sources(cfg.UpConfig, environ={"LIVE2D_POSE_IP": "0.0.0.0"})
    assert "0.0.0.0" in supervisor.service_commands(opened, private)[0].argv
    assert f"ipc://{private}/workers" in supervisor.service_commands(opened, private)[0].argv
    # TCP only when asked
    tcp = cfg.from_sources(cfg.UpConfig, environ={"LIVE2D_POSE_ZMQ_HOST": "0.0.0.0"})
    assert "tcp://*:5555" in supervisor.service_commands(tcp)[0].argv
    assert "tcp://127.0.0.1:5555" in supervisor.service_commands(tcp)[2].argv
    # the live check (sockets of a running `up`) is in test_faults.test_up_restarts_killed_worker


def test_each_service_alone_listens_on_localhost_by_default(tmp_path):
    """`live2d-pose ingest` and `gateway` started with no address settings: TCP on 127.0.0.1
    only, ZeroMQ included; the network only when asked (compose and k8s set it explicitly)."""
    psutil = pytest.importorskip("psutil")
    for name, config_cls in (("ingest", IngestConfig), ("gateway", GatewayConfig)):
        defaults = cfg.from_sources(config_cls, environ={})
        assert defaults.host == "127.0.0.1", name
        binds = [getattr(defaults, f) for f in ("workers_bind", "gateway", "results_bind") if hasattr(defaults, f)]
        assert binds and all(b.startswith("tcp://127.0.0.1:") for b in binds), binds
    assert cfg.from_sources(LandmarkerConfig, environ={}).ingest == "tcp://127.0.0.1:5555"
    # live: the HTTP/WebSocket ports at their default address (the ports made free for the test)
    pipe = Pipeline(tmp_path, workers=0)
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("LIVE2D_POSE_")}
    for name, settings in (
        (
            "gateway",
            {
                "LIVE2D_POSE_HTTP_PORT": str(pipe.http_port),
                "LIVE2D_POSE_RESULTS_BIND": f"tcp://127.0.0.1:{pipe.results_port}",
            },
        ),
        (
            "ingest",
            {
                "LIVE2D_POSE_PORT": str(pipe.camera_port),
                "LIVE2D_POSE_WORKERS_BIND": f"tcp://127.0.0.1:{pipe.workers_port}",
                "LIVE2D_POSE_GATEWAY": f"tcp://127.0.0.1:{pipe.results_port}",
            },
        ),
    ):
        pipe.services[name] = Service(
            name, [sys.executable, "-m", "live2d_pose", name], {**clean_env, **settings}, tmp_path / f"{name}.log"
        )
        pipe.services[name].start()
    try:
        pipe.wait_healthy()
        for name, port in (("gateway", pipe.http_port), ("ingest", pipe.camera_port)):
            listening = {
                c.laddr
                for c in psutil.Process(pipe.services[name].process.pid).net_connections("tcp")
                if c.status == psutil.CONN_LISTEN
            }
            assert {ip for ip, _ in listening} == {"127.0.0.1"} and ("127.0.0.1", port) in listening, listening
    finally:
        pipe.stop_cleanly()


# ---------------------------------------------------------------- CurveZMQ


def test_keys_command(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "live2d_pose", "keys", str(tmp_path / "k")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
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
    return {
        "secret": str(secret_file),
        "public": str(public_file),
        "wrong_public": zmq.auth.load_certificate(str(wrong_file))[0].decode(),
    }


def test_curve_encrypted_worker_gets_frames_others_do_not(tmp_path, keys, figures):
    pipe = Pipeline(
        tmp_path / "logs",
        workers=1,
        env={"LIVE2D_POSE_CURVE_SECRET_KEY_FILE": keys["secret"], "LIVE2D_POSE_CURVE_SERVER_KEY": keys["public"]},
    )
    rogues = []
    try:
        pipe.start()
        for name, server_key in (("nokey", ""), ("wrongkey", keys["wrong_public"])):
            service = pipe._service(f"rogue-{name}", "landmarker", {})
            service.env.update(
                {
                    "LIVE2D_POSE_INGEST": f"tcp://127.0.0.1:{pipe.workers_port}",
                    "LIVE2D_POSE_GATEWAY": f"tcp://127.0.0.1:{pipe.results_port}",
                    "LIVE2D_POSE_WORKER_NAME": f"rogue-{name}",
                    "LIVE2D_POSE_CURVE_SERVER_KEY": server_key,
                }
            )
            service.start()
            rogues.append(service)
        _plaintext_intruders(pipe)
        deadline = time.monotonic() + TIMEOUT  # a loaded machine imports MediaPipe slowly: wait until
        while not all(f"landmarker {r.name}" in r.log() for r in rogues) and time.monotonic() < deadline:
            time.sleep(0.1)  # each rogue is up and trying, so SIGTERM later finds its handler

        async def body():
            async with (
                Viewer(pipe.viewer_url("stream=enc")) as viewer,
                Camera(pipe.camera_url + "?stream=enc") as camera,
            ):
                streaming = asyncio.create_task(
                    camera.stream_frames(face_frames.astronaut_frames(8), fps=15, duration=TIMEOUT)
                )
                await viewer.wait_for_results(15, stream="enc")
                await asyncio.sleep(3.0)  # the rogues have tried (and reconnected) for a while by now
                streaming.cancel()
                return viewer.results

        results = asyncio.run(body())
        stats = pipe.ingest_stats()
        workers = [w["name"] for w in stats["workers"]]
        figures["curve_results"] = len(results)
        figures["curve_workers_joined"] = workers
        # one worker, ours (a worker declared dead under load rejoins via DONE under its hex id)
        assert len(workers) == 1 and not any("rogue" in name or "intruder" in name for name in workers), workers
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


@pytest.fixture(scope="module")
def allow_list(tmp_path_factory, keys):
    """Ironhouse: worker-1 and ingest (the server pair) listed; rogue-1 has a pair but is not."""
    folder = tmp_path_factory.mktemp("allowed")
    worker_public, worker_secret = curve.generate(str(folder.parent / "worker-keys"), "worker-1")
    _, rogue_secret = curve.generate(str(folder.parent / "worker-keys"), "rogue-1")
    for public in (worker_public, keys["public"]):
        (folder / os.path.basename(public)).write_bytes(open(public, "rb").read())
    return {"folder": str(folder), "worker_secret": str(worker_secret), "rogue_secret": str(rogue_secret)}


def test_curve_allow_list_admits_only_listed_workers(keys, allow_list, figures, caplog):
    """In-process servers with CURVE and allow-lists; fake workers with real key pairs."""
    caplog.set_level(logging.INFO)
    servers = {"curve_secret_key_file": keys["secret"], "curve_allow": allow_list["folder"]}
    listed = {"curve_server_key": keys["public"], "curve_client_key_file": allow_list["worker_secret"]}

    async def body():
        async with InProcess(
            workers=1, ingest={**servers, "curve_server_key": keys["public"]}, gateway=servers, worker_curve=listed
        ) as pipe:
            # both know the server key: one with a fresh pair, one with a pair of its own; neither listed
            rogues = [
                pipe.fake_worker("rogue-fresh", curve_server_key=keys["public"]),
                pipe.fake_worker(
                    "rogue-unlisted", curve_server_key=keys["public"], curve_client_key_file=allow_list["rogue_secret"]
                ),
            ]
            for rogue in rogues:
                await rogue.start()
            async with (
                Viewer(pipe.viewer_url("stream=ironhouse")) as viewer,
                Camera(pipe.camera_url + "?stream=ironhouse") as camera,
            ):
                streaming = asyncio.create_task(
                    camera.stream_frames(face_frames.astronaut_frames(8), fps=15, duration=TIMEOUT)
                )
                await viewer.wait_for_results(15, stream="ironhouse")
                injected = await asyncio.get_running_loop().run_in_executor(
                    None,
                    _curve_injection,
                    pipe.ingest_server.broker.workers_endpoint,
                    pipe.gateway_server.results_endpoint,
                    keys["public"],
                    allow_list["rogue_secret"],
                )
                streaming.cancel()
            workers = [w["name"] for w in pipe.ingest_stats()["workers"]]
            streams = list(pipe.gateway_server.fanout.streams)
            rogue_frames = [(r.joined.is_set(), r.frames) for r in rogues]
            for rogue in rogues:
                await rogue.stop()
            return viewer.results, workers, streams, injected, rogue_frames

    results, workers, streams, injected, rogue_frames = asyncio.run(body())
    figures["allow_list_results"] = len(results)
    figures["allow_list_workers_joined"] = workers
    assert workers == ["fake1"], workers
    assert {r.stream for r in results} == {"ironhouse"}
    assert rogue_frames == [(False, 0), (False, 0)]  # never heard from ingest, never got a frame
    assert injected == "no answer"
    assert streams in ([], ["ironhouse"]), streams  # nothing injected
    assert "ingest admits 2 CURVE client key(s)" in caplog.text
    assert "ingest: refused a CURVE client" in caplog.text and "gateway: refused a CURVE client" in caplog.text


def _curve_injection(workers: str, results: str, server_key: str, key_file: str) -> str:
    """A CURVE client with the right server key but an unlisted pair: READY to ingest, a result
    to the gateway. Blocking (a 1 s poll): run it off the servers' event loop."""
    context = zmq.Context()
    dealer, push = context.socket(zmq.DEALER), context.socket(zmq.PUSH)
    try:
        for sock, endpoint in ((dealer, workers), (push, results)):
            curve.make_client(sock, server_key, key_file)
            sock.connect(endpoint)
        with contextlib.suppress(zmq.Again):  # the handshake never completes: nothing to queue to
            dealer.send_multipart([wire.READY, wire.encode_map({"name": "intruder"})], flags=zmq.NOBLOCK)
            result = wire.Result("injected", 1, 4, 4, {"ingest": wire.now_ms()})
            push.send_multipart([wire.RESULT, result.encode()], flags=zmq.NOBLOCK)
        return "answered" if dealer.poll(1000) else "no answer"
    finally:
        dealer.close(linger=0)
        push.close(linger=0)
        context.term()


def test_allow_list_without_keys_stops_the_service(tmp_path, keys):
    empty = tmp_path / "empty"
    empty.mkdir()
    for role in ("ingest", "gateway"):
        proc = subprocess.run(
            [sys.executable, "-m", "live2d_pose", role],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env={
                **os.environ,
                "LIVE2D_POSE_CURVE_ALLOW": str(empty),
                "LIVE2D_POSE_CURVE_SECRET_KEY_FILE": keys["secret"],
                "LIVE2D_POSE_PORT": "0",
                "LIVE2D_POSE_HTTP_PORT": "0",
                "LIVE2D_POSE_WORKERS_BIND": "tcp://127.0.0.1:0",
                "LIVE2D_POSE_RESULTS_BIND": "tcp://127.0.0.1:0",
            },
        )
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert "holds no public keys" in proc.stderr


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
        push.send_multipart(
            [
                wire.EVENT,
                wire.encode_map({"type": "stream", "stream": "injected", "imageSize": {"width": 4, "height": 4}}),
            ],
            flags=zmq.NOBLOCK,
        )
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

# In-process servers (real ingest and gateway, fake workers): limits are ingest's and the
# gateway's answers, not MediaPipe's.
INGEST_LIMITS = {
    "max_frame_bytes": 40000,
    "max_pixels": 640 * 480,
    "max_streams": 2,
    "max_fps": 10.0,
    "max_text_bytes": 256,
}


def limited() -> InProcess:
    return InProcess(workers=0, ingest=INGEST_LIMITS, gateway={"max_viewers": 2})


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


def test_limits_frame_bytes_pixels_text():
    import cv2

    rng = np.random.default_rng(0)

    def noise(height: int, width: int) -> bytes:
        return cv2.imencode(
            ".jpg", rng.integers(0, 255, (height, width, 3), dtype=np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 95]
        )[1].tobytes()

    noisy, huge = noise(180, 240), noise(480, 640)
    assert 40000 < len(noisy) < 80000 < len(huge)
    big = face_frames.astronaut_frame(size=(800, 600), quality=30)
    assert len(big) < 40000
    size = {"width": 640, "height": 480}

    async def body():
        async with limited() as pipe:
            url = pipe.camera_url
            assert await _camera_refused(url, size, noisy) == ("frame_too_large", 1009)
            with pytest.raises(ConnectionClosed) as closed:  # over twice the limit: websockets cuts it off
                await _camera_refused(url, size, huge)
            assert closed.value.rcvd.code == 1009
            assert await _camera_refused(url, size, big) == ("image_too_large", 1009)
            assert await _camera_refused(url, {"width": 800, "height": 600}, None) == ("image_too_large", 1009)
            assert await _camera_refused(url, size, json.dumps({"imageSize": size, "pad": "x" * 300})) == (
                "text_too_large",
                1009,
            )
            # just under every limit is fine
            async with Camera(url, 640, 480) as camera:
                await camera.send(face_frames.astronaut_frame(quality=60))
                await camera.send(json.dumps({"imageSize": size}))
                await asyncio.sleep(0.3)
                assert not [m for m in camera.messages if m.get("type") == "error"], camera.messages

    asyncio.run(body())


def test_limit_streams_and_viewers():
    async def body():
        async with limited() as pipe:
            async with Camera(pipe.camera_url), Camera(pipe.camera_url):
                message, code = await _refused(pipe.camera_url)
                assert (message["code"], code) == ("too_many_streams", 1013)
            async with Camera(pipe.camera_url):  # a slot is free again once one leaves
                pass
            async with Viewer(pipe.viewer_url()), Viewer(pipe.viewer_url()):
                message, code = await _refused(pipe.viewer_url())
                assert (message["code"], code) == ("too_many_viewers", 1013)
            async with Viewer(pipe.viewer_url()) as viewer:
                await asyncio.sleep(0.1)
                assert viewer.controls and viewer.controls[0]["type"] == "hello"

    asyncio.run(body())


def test_idle_and_greedy_clients_cannot_hold_every_slot(figures):
    """Cameras that finish the handshake and send nothing, and viewers of streams that do not
    exist, used to hold every slot for ever. Now a camera with no frame for camera_idle_timeout
    and a viewer of a stream not live for viewer_idle_timeout are closed (1013: they may come
    back), and one address holds at most max_streams_per_client / max_viewers_per_client. A
    viewer of the latest stream (an OBS source before the show) waits."""
    frame = face_frames.astronaut_frame(quality=40)

    async def body():
        async with InProcess(
            workers=0,
            ingest={"max_streams": 4, "max_streams_per_client": 2, "camera_idle_timeout": 0.5},
            gateway={"max_viewers": 4, "max_viewers_per_client": 2, "viewer_idle_timeout": 1.0},
        ) as pipe:
            async with (
                Camera(pipe.camera_url + "?stream=idle1") as idle1,
                Camera(pipe.camera_url + "?stream=idle2") as idle2,
            ):
                refused = await _refused(pipe.camera_url + "?stream=third")
                started = time.monotonic()
                for camera in (idle1, idle2):
                    await asyncio.wait_for(camera.websocket.wait_closed(), TIMEOUT)
                camera_idle_s = time.monotonic() - started
                closes = [(c.messages[-1]["code"], c.websocket.close_code) for c in (idle1, idle2)]
            async with Camera(pipe.camera_url + "?stream=busy") as busy:  # a frame every 0.2 s: it stays
                await busy.stream_frames([frame], fps=5, duration=1.5)
                busy_open = busy.websocket.close_code is None
            async with (
                Viewer(pipe.viewer_url("stream=nowhere")) as ghost1,
                Viewer(pipe.viewer_url("stream=nowhere")) as ghost2,
            ):
                viewer_refused = await _refused(pipe.viewer_url())
                started = time.monotonic()
                for viewer in (ghost1, ghost2):
                    await asyncio.wait_for(viewer.websocket.wait_closed(), TIMEOUT)
                viewer_idle_s = time.monotonic() - started
                viewer_closes = [(v.controls[-1]["code"], v.websocket.close_code) for v in (ghost1, ghost2)]
            async with Viewer(pipe.viewer_url()) as waiting:  # the latest stream, whenever one starts
                await asyncio.sleep(1.0 + 1.5)
                waiting_open = waiting.websocket.close_code is None
            return (
                refused,
                closes,
                camera_idle_s,
                busy_open,
                viewer_refused,
                viewer_closes,
                viewer_idle_s,
                waiting_open,
                pipe.ingest_stats()["totals"],
                dict(pipe.gateway_server.counters),
            )

    (
        refused,
        closes,
        camera_idle_s,
        busy_open,
        viewer_refused,
        viewer_closes,
        viewer_idle_s,
        waiting_open,
        ingest,
        gateway,
    ) = asyncio.run(body())
    figures["idle_camera_closed_after_s"] = camera_idle_s
    figures["idle_viewer_closed_after_s"] = viewer_idle_s
    assert (refused[0]["code"], refused[1]) == ("too_many_from_client", 1013)
    assert closes == [("idle_timeout", 1013)] * 2 and camera_idle_s < 0.5 + 1.0
    assert busy_open
    assert (viewer_refused[0]["code"], viewer_refused[1]) == ("too_many_from_client", 1013)
    assert viewer_closes == [("no_stream", 1013)] * 2 and viewer_idle_s < 1.0 + 2.0
    assert waiting_open
    assert (ingest["idle_timeouts"], ingest["refused_per_client"]) == (2, 1)
    assert (gateway["viewers_idle_closed"], gateway["viewers_refused_per_client"]) == (2, 1)


def test_limit_fps(figures):
    async def body():
        async with limited() as pipe, Camera(pipe.camera_url + "?stream=fast") as camera:
            started = time.monotonic()
            sent = await camera.stream_frames([face_frames.astronaut_frame(quality=40)], fps=50, duration=2.0)
            await asyncio.sleep(0.2)
            return sent, pipe.ingest_stats()["streams"]["fast"], time.monotonic() - started

    sent, stats, duration = asyncio.run(body())
    figures["sent_fps"] = sent / duration
    figures["accepted_fps"] = stats["received"] / duration
    figures["reading_paused"] = stats["throttled"]
    # ingest reads no faster than max_fps; the rest waits in TCP (backpressure), not in ingest
    assert stats["received"] <= 10 * duration + 3 + 1  # rate x time + the quarter-second burst
    assert stats["throttled"] >= 1 and stats["received"] < sent
