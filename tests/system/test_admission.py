"""Connections before `imageSize`, at test scale: idle floods, unfinished
fragmented messages and a herd racing the handshake, against a real ingest process whose
descriptors and memory are measured."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.request

import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import run
from live2d_pose.testing.clients import TIMEOUT, recv_json
from live2d_pose.testing.pipeline import Pipeline

MAX_HANDSHAKES = 48
MAX_STREAMS = 32
MAX_PARTIAL = 16 * 1024 * 1024
HANDSHAKE_TIMEOUT = 3.0
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def ingest(tmp_path_factory):
    pipe = Pipeline(
        tmp_path_factory.mktemp("admission"),
        workers=0,
        env={
            "LIVE2D_POSE_MAX_HANDSHAKES": str(MAX_HANDSHAKES),
            "LIVE2D_POSE_MAX_STREAMS": str(MAX_STREAMS),
            "LIVE2D_POSE_MAX_PARTIAL_BYTES": str(MAX_PARTIAL),
            "LIVE2D_POSE_HANDSHAKE_TIMEOUT": str(HANDSHAKE_TIMEOUT),
            "LIVE2D_POSE_MAX_STREAMS_PER_CLIENT": "0",
        },
    ).start()  # one test client plays every camera
    deadline = time.monotonic() + TIMEOUT  # no worker to wait for: wait for ingest's /stats
    while not pipe.ingest_stats() and time.monotonic() < deadline:
        time.sleep(0.05)
    yield pipe
    codes = pipe.stop()
    assert all(code == 0 for code in codes.values()), codes


def _process(pipe: Pipeline) -> psutil.Process:
    return psutil.Process(pipe.services["ingest"].process.pid)


def _healthz_seconds(pipe: Pipeline) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{pipe.camera_port}/healthz", timeout=TIMEOUT) as reply:
        assert reply.status == 200
    return time.monotonic() - started


def _settle(process: psutil.Process, until, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not until(process) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_idle_connection_flood_keeps_descriptors_bounded_and_healthz_answering(ingest, figures):
    process = _process(ingest)
    fds_before, rss_before = process.num_fds(), process.memory_info().rss
    idle = []
    for _ in range(1000):  # connect and say nothing, like the reported 20,000 (test-sized)
        idle.append(socket.create_connection(("127.0.0.1", ingest.camera_port)))
    _settle(process, lambda p: p.num_fds() <= fds_before + MAX_HANDSHAKES + 4, timeout=5)
    fds_during = process.num_fds()
    healthz = max(_healthz_seconds(ingest) for _ in range(5))
    rss_during = process.memory_info().rss
    still_open = sum(1 for sock in idle if _open(sock))
    for sock in idle:
        sock.close()
    _settle(process, lambda p: p.num_fds() <= fds_before + 2)
    figures["idle_connections"] = len(idle)
    figures["ingest_fds_added"] = fds_during - fds_before
    figures["ingest_rss_added_mb"] = (rss_during - rss_before) / MiB
    figures["healthz_max_s"] = healthz
    figures["idle_left_open"] = still_open
    assert fds_during - fds_before <= MAX_HANDSHAKES + 4, fds_during - fds_before
    assert still_open <= MAX_HANDSHAKES
    assert healthz < 1.0
    assert process.num_fds() <= fds_before + 2
    assert ingest.ingest_stats()["totals"]["handshakes_evicted"] >= len(idle) - MAX_HANDSHAKES


def _open(sock: socket.socket) -> bool:
    """False once the peer has closed it (EOF or reset)."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except ConnectionError:
        return False


def test_no_image_size_within_the_deadline_is_closed(ingest, figures):
    async def body():
        async with connect(ingest.camera_url, open_timeout=TIMEOUT) as websocket:
            started = time.monotonic()
            assert (await recv_json(websocket))["type"] == "initialized"
            error = await recv_json(websocket)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(websocket.recv(), TIMEOUT)
            return error, websocket.close_code, time.monotonic() - started

    error, close_code, waited = run(body())
    figures["closed_after_s"] = waited
    assert (error["code"], close_code) == ("handshake_timeout", 1008)
    assert HANDSHAKE_TIMEOUT - 0.5 < waited < HANDSHAKE_TIMEOUT + 1.0


async def _unfinished_message(websocket, size: int, chunk: int, hold: asyncio.Event) -> None:
    """A fragmented binary message of ``size`` bytes whose last fragment never comes."""

    async def fragments():
        for _ in range(size // chunk):
            yield b"\x00" * chunk
        await hold.wait()
        yield b""

    await websocket.send(fragments())


def test_unfinished_fragmented_messages_are_bounded_together(ingest, figures):
    process = _process(ingest)
    rss_before = process.memory_info().rss
    holders, size = 40, 6 * MiB  # 240 MiB in all against a 16 MiB budget

    async def body():
        hold = asyncio.Event()
        sockets = [await connect(ingest.camera_url, open_timeout=TIMEOUT, max_size=None) for _ in range(holders)]
        for websocket in sockets:
            assert (await recv_json(websocket))["type"] == "initialized"
        senders = [asyncio.create_task(_unfinished_message(ws, size, 256 * 1024, hold)) for ws in sockets]
        peak, deadline = 0, time.monotonic() + HANDSHAKE_TIMEOUT - 1.0
        while time.monotonic() < deadline:
            peak = max(peak, ingest.ingest_stats()["partial_bytes"])
            await asyncio.sleep(0.05)
        rss = process.memory_info().rss
        healthz = _healthz_seconds(ingest)
        refused = []
        for websocket in sockets:
            try:
                message = await asyncio.wait_for(websocket.recv(), 0.1)
                refused.append(json.loads(message)["code"])
                await asyncio.wait_for(websocket.wait_closed(), TIMEOUT)
                assert websocket.close_code == 1013
            except asyncio.TimeoutError:
                pass  # still holding its share of the budget
        hold.set()
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        for websocket in sockets:
            await websocket.close()
        return peak, rss, healthz, refused

    peak, rss, healthz, refused = run(body())
    figures["unfinished_offered_mb"] = holders * size / MiB
    figures["partial_bytes_peak_mb"] = peak / MiB
    figures["ingest_rss_added_mb"] = (rss - rss_before) / MiB
    figures["connections_closed_busy"] = len(refused)
    assert peak <= MAX_PARTIAL
    # The budget counts message bytes; the allocator keeps some of what closed connections
    # freed (more when the machine is busy and closing lags), so the process grows by a small
    # multiple of the budget (+21 to +56 MiB seen), never with what was offered (240 MiB).
    assert rss - rss_before < 4 * MAX_PARTIAL, (rss - rss_before) / MiB
    assert len(refused) >= holders - MAX_PARTIAL // size
    assert set(refused) == {"busy"}, refused
    assert healthz < 1.0
    assert ingest.ingest_stats()["partial_bytes"] == 0


def test_cameras_racing_the_handshake_never_exceed_max_streams(ingest):
    herd = MAX_STREAMS + 8

    async def camera(websocket) -> str:
        await websocket.send(json.dumps({"imageSize": {"width": 640, "height": 480}}))
        reply = await recv_json(websocket)
        if reply["type"] == "ok":
            reply = await recv_json(websocket)
        return reply["type"] if reply["type"] == "ready" else reply["code"]

    async def body():
        sockets = [await connect(ingest.camera_url, open_timeout=TIMEOUT) for _ in range(herd)]
        for websocket in sockets:  # all of them past the first check, none registered yet
            assert (await recv_json(websocket))["type"] == "initialized"
        outcomes = await asyncio.gather(*(camera(ws) for ws in sockets))
        streams = len(ingest.ingest_stats()["streams"])
        for websocket in sockets:
            await websocket.close()
        return outcomes, streams

    outcomes, streams = run(body())
    assert outcomes.count("ready") == MAX_STREAMS, outcomes
    assert outcomes.count("too_many_streams") == herd - MAX_STREAMS
    assert streams == MAX_STREAMS
