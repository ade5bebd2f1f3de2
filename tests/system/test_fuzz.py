"""Hostile input: property-based fuzzing of every parser, then a live fuzz.

Each parser must end any input in its own exception type with a message
(ClientError, ImageError, WireError) and never another one. The
pure targets run with hypothesis; the counts below add up to more than 10,000
cases in the default run (profile "ci"). The soak run (``-m soak``, or
``LIVE2D_POSE_FUZZ=soak``) multiplies every count by SOAK_FACTOR.

The live fuzz throws random WebSocket messages at a real ingest and gateway,
rogue ZeroMQ messages at their internal endpoints, and checks that a healthy
camera keeps streaming through a real landmarker all along.

atheris is not used: the parsers are small, pure Python, and hypothesis with
structure-aware strategies (real JPEG/PNG/WebP headers, mutated valid msgpack
messages) reaches their branches faster than coverage-guided byte mutation,
without a native build step on CI.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import struct
import time
import zlib

import msgpack
import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from live2d_pose import wire
from live2d_pose.gateway.settings import GatewayConfig
from live2d_pose.ingest.settings import IngestConfig
from live2d_pose.gateway.server import GatewayServer, parse_viewer_query
from live2d_pose.imageinfo import ImageError, check_limits, inspect
from live2d_pose.ingest import protocol
from live2d_pose.service import ClientError
from live2d_pose.ingest.server import IngestServer
from live2d_pose.testing import frames as face_frames
from live2d_pose.testing.clients import TIMEOUT, Camera, Viewer
from live2d_pose.testing.pipeline import Pipeline

SOAK = os.environ.get("LIVE2D_POSE_FUZZ") == "soak"
SOAK_FACTOR = 20
settings.register_profile(
    "ci",
    deadline=None,
    derandomize=False,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.register_profile("soak", parent=settings.get_profile("ci"))

MAX_TEXT = 4096
MAX_PIXELS = 1920 * 1080
MAX_FRAME = 512 * 1024

# max_examples of each target in the "ci" profile; test_fuzz_budget checks the sum
BUDGET = {
    "image_size_text": 1500,
    "image_size_json": 1000,
    "request_path": 1000,
    "viewer_query": 500,
    "inspect_bytes": 1000,
    "inspect_mutated": 1500,
    "inspect_declared_size": 800,
    "decode_image": 200,
    "wire_bytes": 800,
    "wire_msgpack": 800,
    "wire_mutated": 1000,
    "ingest_handler": 600,
    "gateway_handler": 600,
}


def examples(target: str, soak: bool = SOAK) -> settings:
    count = BUDGET[target] * (SOAK_FACTOR if soak else 1)
    return settings(settings.get_profile("soak" if soak else "ci"), max_examples=count)


# ---------------------------------------------------------------- sample inputs


def _png(width: int, height: int, body: bytes = b"") -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(body)) + chunk(b"IEND", b"")


def _jpeg_header(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x00" * 16 + b"\xff\xd9"


def _webp_vp8x(width: int, height: int) -> bytes:
    payload = (
        b"VP8X"
        + struct.pack("<I", 10)
        + b"\x00\x00\x00\x00"
        + (width - 1).to_bytes(3, "little")
        + (height - 1).to_bytes(3, "little")
    )
    return b"RIFF" + struct.pack("<I", 4 + len(payload)) + b"WEBP" + payload


_SMALL_JPEG = face_frames.encode(np.full((48, 64, 3), 100, np.uint8))
_SMALL_PNG = bytes(__import__("cv2").imencode(".png", np.zeros((24, 32, 3), np.uint8))[1])
_SMALL_WEBP = bytes(__import__("cv2").imencode(".webp", np.zeros((24, 32, 3), np.uint8))[1])
SEEDS = [_SMALL_JPEG, _SMALL_PNG, _SMALL_WEBP, _jpeg_header(640, 480), _png(2, 2, b"\x00" * 14), _webp_vp8x(640, 480)]


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A valid sample, truncated, with bytes flipped, inserted or deleted."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "tail"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(max_size=16))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[pos:]
        else:
            data += draw(st.binary(max_size=64))
    return bytes(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
sizes = (
    st.integers(-(2**40), 2**40)
    | st.floats()
    | st.booleans()
    | st.none()
    | st.text(max_size=5)
    | st.sampled_from([0, 1, 640, 480, 65535, 2**31, 2**63])
)
image_size_messages = st.one_of(
    json_values,
    st.fixed_dictionaries({"imageSize": st.fixed_dictionaries({"width": sizes, "height": sizes})}),
    st.fixed_dictionaries({"imageSize": json_values}),
)
msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=16,
)


def _valid_result() -> dict:
    face = wire.Face(np.zeros((478, 3), np.float32), np.zeros(52, np.float32), np.eye(4, dtype=np.float32))
    return wire.Result("cam-1", 7, 640, 480, {"ingest": 1.0, "infer_end": 2.0}, {"faces": [face.to_wire()]}).to_wire()


VALID_MAPS = {
    "frame": dict(vars(wire.FrameMeta("cam-1", 3, 640, 480, 1.0, 2.0))),
    "result": _valid_result(),
    "event_stream": {"type": "stream", "stream": "cam-1", "session": 5, "imageSize": {"width": 640, "height": 480}},
    "event_ended": {"type": "ended", "stream": "cam-1"},
    "done": {"stream": "cam-1", "seq": 3, "error": None, "latency_ms": 12.5},
}


@st.composite
def mutated_map(draw) -> dict:
    """A valid message map with fields removed, replaced or added, nested ones too."""
    obj = _deep_copy(VALID_MAPS[draw(st.sampled_from(sorted(VALID_MAPS)))])
    for _ in range(draw(st.integers(1, 3))):
        target = obj
        nested = [k for k, v in obj.items() if isinstance(v, dict)]
        if nested and draw(st.booleans()):
            target = obj[draw(st.sampled_from(sorted(nested)))]
        keys = sorted(target) or ["x"]
        key = draw(st.sampled_from(keys) | st.text(max_size=8))
        if draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = draw(msgpack_values)
    return obj


def _deep_copy(obj):
    if isinstance(obj, dict):
        return {k: _deep_copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_deep_copy(v) for v in obj]
    return obj


WIRE_DECODERS = (wire.decode_done, wire.decode_event, wire.Result.decode, wire.FrameMeta.decode)


def _all_decoders_fail_cleanly(data: bytes) -> None:
    for decode in WIRE_DECODERS:
        try:
            decode(data)
        except wire.WireError as exc:
            assert str(exc)


# ---------------------------------------------------------------- camera text messages


@given(
    st.text(max_size=300)
    | st.binary(max_size=300).map(lambda b: b.decode("latin-1"))
    | st.integers(0, 3 * MAX_TEXT).map(lambda n: "x" * n)
)
@examples("image_size_text")
def test_fuzz_image_size_text(text):
    try:
        width, height = protocol.parse_image_size(text, MAX_TEXT, MAX_PIXELS)
    except ClientError as exc:
        assert exc.code and exc.message
        if len(text) > MAX_TEXT:
            assert exc.code == "text_too_large" and exc.close_code == protocol.CLOSE_TOO_BIG
        return
    assert 0 < width * height <= MAX_PIXELS


@given(image_size_messages)
@examples("image_size_json")
def test_fuzz_image_size_json(message):
    try:
        text = json.dumps(message)
    except ValueError:
        return
    try:
        width, height = protocol.parse_image_size(text, 1 << 20, MAX_PIXELS)
    except ClientError as exc:
        assert exc.code in ("bad_json", "bad_message", "image_too_large"), exc.code
        return
    assert message["imageSize"] == {"width": width, "height": height}
    assert type(width) is int and type(height) is int and 0 < width * height <= MAX_PIXELS


query_parts = st.lists(
    st.tuples(st.sampled_from(["stream", "token", "x", "", "stream[]"]) | st.text(max_size=6), st.text(max_size=70)),
    max_size=24,
)


@given(
    st.sampled_from(["/image", "/", "/image/", "/x", "", "/IMAGE"]) | st.text(max_size=20), query_parts, st.booleans()
)
@examples("request_path")
def test_fuzz_request_path(route, params, encode):
    from urllib.parse import urlencode

    query = urlencode(params) if encode else "&".join(f"{k}={v}" for k, v in params)
    try:
        request = protocol.parse_request_path(f"{route}?{query}")
    except ClientError as exc:
        assert exc.code in ("unknown_path", "bad_stream_id", "bad_query"), exc.code
        return
    assert route in protocol.CAMERA_PATHS
    if request.stream is not None:  # the id is safe to log, to put in a URL and a metric label
        assert wire.STREAM_ID.fullmatch(request.stream) and len(request.stream) <= 64


@given(st.text(max_size=200) | query_parts.map(lambda ps: "/ws?" + "&".join(f"{k}={v}" for k, v in ps)))
@examples("viewer_query")
def test_fuzz_viewer_query(path):
    try:
        token, stream = parse_viewer_query(path)
    except ClientError as exc:
        assert exc.code in ("bad_query", "bad_stream_id") and str(exc)
        return
    assert isinstance(token, str)
    assert stream is None or wire.STREAM_ID.fullmatch(stream) and len(stream) <= 64


# ---------------------------------------------------------------- binary frames


def _check_frame_or_error(data: bytes) -> None:
    try:
        info = protocol.check_frame(data, MAX_FRAME, MAX_PIXELS)
    except ClientError as exc:
        assert exc.code in ("frame_too_large", "not_an_image", "truncated_image", "corrupt_image", "image_too_large"), (
            exc.code
        )
        assert exc.close_code in (None, protocol.CLOSE_TOO_BIG)
        return
    assert 0 < info.width * info.height <= MAX_PIXELS


@given(
    st.binary(max_size=2048)
    | st.sampled_from([b"\xff\xd8", b"\x89PNG\r\n\x1a\n", b"RIFF\0\0\0\0WEBP"]).flatmap(
        lambda head: st.binary(max_size=64).map(lambda tail: head + tail)
    )
)
@examples("inspect_bytes")
def test_fuzz_frame_random_bytes(data):
    try:
        inspect(data)
    except ImageError as exc:
        assert exc.code and str(exc)
    _check_frame_or_error(data)


@given(mutated(SEEDS))
@examples("inspect_mutated")
def test_fuzz_frame_mutated_images(data):
    try:
        inspect(memoryview(data))  # ingest sees bytes, the worker a memoryview of a zmq frame
    except ImageError as exc:
        assert exc.code and str(exc)
    _check_frame_or_error(data)


@given(st.sampled_from(["jpeg", "png", "webp"]), st.integers(1, 2**32 - 1), st.integers(1, 2**32 - 1))
@examples("inspect_declared_size")
def test_fuzz_decompression_bombs(kind, width, height):
    """A tiny file declaring any size: the declared size is read exactly and the limit applied."""
    limit = {"jpeg": 65535, "png": 2**31 - 1, "webp": 2**24}[kind]
    width, height = min(width, limit), min(height, limit)
    data = {"jpeg": _jpeg_header, "png": _png, "webp": _webp_vp8x}[kind](width, height)
    info = inspect(data)
    assert (info.format, info.width, info.height) == (kind, width, height)
    try:
        check_limits(inspect(data), MAX_PIXELS)
    except ImageError as exc:
        assert exc.code == "image_too_large" and width * height > MAX_PIXELS
    else:
        assert width * height <= MAX_PIXELS
    try:
        protocol.check_frame(data, MAX_FRAME, MAX_PIXELS)
    except ClientError as exc:
        assert exc.code == "image_too_large" and exc.close_code == protocol.CLOSE_TOO_BIG


@given(mutated(SEEDS[:3]) | st.binary(max_size=512))
@examples("decode_image")
def test_fuzz_worker_decode(data):
    """The worker's decoder (OpenCV behind the header check) fails only with ImageError."""
    detector = pytest.importorskip("live2d_pose.landmarker.decoder")
    try:
        rgb = detector.decode_image(data, MAX_PIXELS)
    except ImageError as exc:
        assert exc.code and str(exc)
        return
    assert rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.shape[0] * rgb.shape[1] <= MAX_PIXELS


# ---------------------------------------------------------------- ZeroMQ messages


@given(st.binary(max_size=512))
@examples("wire_bytes")
def test_fuzz_wire_random_bytes(data):
    _all_decoders_fail_cleanly(data)


@given(msgpack_values)
@examples("wire_msgpack")
def test_fuzz_wire_random_msgpack(obj):
    _all_decoders_fail_cleanly(msgpack.packb(obj, use_bin_type=True))


@given(mutated_map())
@examples("wire_mutated")
def test_fuzz_wire_mutated_messages(obj):
    data = msgpack.packb(obj, use_bin_type=True)
    _all_decoders_fail_cleanly(data)
    try:
        result = wire.Result.decode(data)
    except wire.WireError:
        return
    assert wire.STREAM_ID.fullmatch(result.stream)
    for face in result.faces:
        wire.Face.from_wire(face)
    wire.Result.decode(result.encode())  # what the gateway forwards decodes again


@pytest.fixture(scope="module")
def ingest_server():
    server = IngestServer(IngestConfig(workers_bind="tcp://127.0.0.1:0", gateway="tcp://127.0.0.1:9"))
    yield server
    server.zmq.close(linger_ms=0)


@pytest.fixture(scope="module")
def gateway_server():
    server = GatewayServer(GatewayConfig())
    yield server
    server.zmq.close(linger_ms=0)


commands = st.sampled_from(
    [wire.READY, wire.DONE, wire.HEARTBEAT, wire.BYE, wire.FRAME, wire.RESULT, wire.EVENT, b""]
) | st.binary(max_size=8)
bodies = st.binary(max_size=64) | msgpack_values.map(wire.pack) | mutated_map().map(wire.pack)


@given(
    st.lists(st.binary(min_size=1, max_size=5), min_size=0, max_size=1).flatmap(
        lambda ident: st.lists(bodies, max_size=3).flatmap(lambda body: commands.map(lambda c: ident + [c] + body))
    )
)
@examples("ingest_handler")
def test_fuzz_ingest_worker_messages(ingest_server, parts):
    """Ingest's ROUTER handler: a rogue worker's message is a WireError or a valid action."""
    try:
        ingest_server.broker._on_worker_message(parts)
    except wire.WireError as exc:
        assert str(exc)
    for identity in list(ingest_server.dispatcher.workers):  # keep the bookkeeping small
        ingest_server.dispatcher.worker_gone(identity, time.monotonic())


@given(st.lists(bodies, max_size=2).flatmap(lambda body: commands.map(lambda c: [c] + body)))
@examples("gateway_handler")
def test_fuzz_gateway_messages(gateway_server, parts):
    try:
        gateway_server._on_message(parts)
    except wire.WireError as exc:
        assert str(exc)
    for stream in gateway_server.fanout.streams.values():
        assert wire.STREAM_ID.fullmatch(stream.stream)


def test_fuzz_budget(figures):
    total = sum(BUDGET.values())
    figures["fuzz_cases_default_run"] = total
    figures["fuzz_cases_soak_run"] = total * SOAK_FACTOR
    assert total >= 10_000


@pytest.mark.soak
def test_fuzz_soak():
    """This file again in a subprocess with SOAK_FACTOR times the examples (LIVE2D_POSE_FUZZ=soak)."""
    import subprocess
    import sys

    env = {**os.environ, "LIVE2D_POSE_FUZZ": "soak"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not soak", "-o", "addopts=", __file__],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]


# ---------------------------------------------------------------- live fuzz


async def _hostile_camera(url: str, rng: random.Random, messages: int) -> dict:
    """Connect and send random text and binary; count how the server ended it."""
    outcome = {"sent": 0, "errors": 0, "closed": None}
    try:
        async with connect(url, max_size=None, open_timeout=TIMEOUT, close_timeout=1) as ws:
            if rng.random() < 0.7:  # mostly get past the handshake
                await ws.recv()
                await ws.send(json.dumps({"imageSize": {"width": 640, "height": 480}}))
            for _ in range(messages):
                kind = rng.random()
                if kind < 0.4:
                    data = rng.randbytes(rng.randint(0, 4096))
                elif kind < 0.7:
                    seed = bytearray(rng.choice(SEEDS))
                    for _ in range(rng.randint(1, 4)):
                        seed[rng.randrange(len(seed))] = rng.randrange(256)
                    data = bytes(seed[: rng.randint(1, len(seed))])
                elif kind < 0.9:
                    data = rng.randbytes(rng.randint(0, 300)).decode("latin-1")
                else:
                    data = json.dumps(
                        {"imageSize": {"width": rng.randint(-5, 10**6), "height": rng.choice([480, "x", None, 10**9])}}
                    )
                await ws.send(data)
                outcome["sent"] += 1
            with pytest.raises(asyncio.TimeoutError):
                while True:
                    message = await asyncio.wait_for(ws.recv(), 0.2)
                    outcome["errors"] += isinstance(message, str) and '"error"' in message
    except ConnectionClosed as exc:
        outcome["closed"] = exc.rcvd.code if exc.rcvd else None
    except InvalidStatus as exc:
        outcome["closed"] = exc.response.status_code
    return outcome


def _rogue_zmq(pipe: Pipeline, rng: random.Random, count: int) -> None:
    """Garbage into ingest's workers endpoint (as a DEALER) and the gateway's results endpoint (PUSH)."""
    context = zmq.Context()
    dealer, push = context.socket(zmq.DEALER), context.socket(zmq.PUSH)
    try:
        dealer.connect(f"tcp://127.0.0.1:{pipe.workers_port}")
        push.connect(f"tcp://127.0.0.1:{pipe.results_port}")
        for index in range(count):
            command = rng.choice([wire.DONE, wire.HEARTBEAT, wire.BYE, wire.RESULT, wire.EVENT, b"X"])
            body = [rng.randbytes(rng.randint(0, 200)) for _ in range(rng.randint(0, 3))]
            if index % 3 == 0:
                obj = _deep_copy(VALID_MAPS[rng.choice(sorted(VALID_MAPS))])
                obj[rng.choice(sorted(obj))] = rng.choice([None, -1, "", b"\0" * 9, [1], {"a": 1}, 2**63])
                body = [wire.pack(obj)]
            dealer.send_multipart([command, *body])
            push.send_multipart([command, *body])
    finally:
        dealer.close(linger=2000)
        push.close(linger=2000)
        context.term()


@pytest.fixture(scope="module")
def live_pipeline(tmp_path_factory):
    pipe = Pipeline(
        tmp_path_factory.mktemp("fuzz-live"),
        workers=1,
        env={"LIVE2D_POSE_MAX_FRAME_BYTES": str(MAX_FRAME), "LIVE2D_POSE_MAX_PIXELS": str(MAX_PIXELS)},
    ).start()
    yield pipe
    pipe.stop_cleanly()


def test_live_fuzz_keeps_healthy_stream_flowing(live_pipeline, figures):
    pipe = live_pipeline
    rng = random.Random(int(os.environ.get("LIVE2D_POSE_FUZZ_SEED", "1234")))
    clips = face_frames.astronaut_frames(8)
    hostile_connections, per_connection = (60, 40) if SOAK else (12, 40)

    async def body():
        async with (
            Viewer(pipe.viewer_url("stream=healthy")) as viewer,
            Camera(pipe.camera_url + "?stream=healthy") as camera,
        ):
            streaming = asyncio.create_task(camera.stream_frames(clips, fps=15, duration=TIMEOUT))
            await viewer.wait_for_results(3, stream="healthy")
            before = len(viewer.results)
            started = time.monotonic()
            outcomes = []
            for index in range(hostile_connections):
                outcomes.append(await _hostile_camera(pipe.camera_url + f"?stream=evil{index}", rng, per_connection))
                if index % 4 == 0:
                    await asyncio.get_running_loop().run_in_executor(None, _rogue_zmq, pipe, rng, 50)
            async with connect(pipe.viewer_url("&".join(f"a{i}=1" for i in range(40))), open_timeout=TIMEOUT) as ws:
                assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["code"] == "bad_query"
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), TIMEOUT)
                assert ws.close_code == 1008
            for query in ("token=" + "x" * 3000, "stream&&=&"):
                async with connect(pipe.viewer_url(query), open_timeout=TIMEOUT) as ws:
                    assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "hello"
            for query in ("stream=%00%ff%0a", "stream=" + "é" * 100):  # ids go into log lines
                async with connect(pipe.viewer_url(query), open_timeout=TIMEOUT) as ws:
                    assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["code"] == "bad_stream_id"
            fuzz_seconds = time.monotonic() - started
            during = len(viewer.results) - before
            await viewer.wait_for_results(len(viewer.results) + 3, stream="healthy")
            streaming.cancel()
            return outcomes, during, fuzz_seconds

    outcomes, during, fuzz_seconds = asyncio.run(body())
    stats = pipe.ingest_stats()
    metrics = _get_text(f"{pipe.http_url}/metrics")
    for service in pipe.services.values():
        assert service.alive(), f"{service.name} died:\n{service.log()[-3000:]}"
    assert "Traceback" not in pipe.logs(), pipe.logs()
    sent = sum(o["sent"] for o in outcomes)
    figures["hostile_messages_sent"] = sent
    figures["hostile_connections"] = len(outcomes)
    figures["rogue_zmq_messages"] = 2 * 50 * len(range(0, hostile_connections, 4))
    figures["ingest_rogue_messages_counted"] = stats["totals"]["rogue_messages"]
    figures["healthy_results_during_fuzz"] = during
    figures["healthy_fps_during_fuzz"] = during / fuzz_seconds
    figures["ingest_frames_rejected"] = stats["totals"]["rejected"]
    assert during > 0, "the healthy stream stopped while the fuzz ran"
    assert stats["totals"]["rogue_messages"] > 0
    rogue = re.search(r"^live2d_pose_gateway_rogue_messages_total (\S+)$", metrics, re.M)
    assert rogue and float(rogue.group(1)) > 0, metrics


def _get_text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        return response.read().decode()
