"""Ingest's own bookkeeping around the dispatcher (its camera side and its broker), in-process,
with no camera or worker processes.

Each test builds an IngestServer with real (local, unconnected) ZeroMQ sockets and
drives its methods directly: what it logs and counts when a worker vanishes, when
a worker's queue is full, and how often it announces a stream to the gateway.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
import zmq

from live2d_pose import wire
from live2d_pose.ingest.settings import IngestConfig
from live2d_pose.ingest.cameras import Camera
from live2d_pose.ingest.server import IngestServer
from live2d_pose.testing.pipeline import free_port


@pytest.fixture
def server():
    server = IngestServer(
        IngestConfig(
            workers_bind="tcp://127.0.0.1:0",
            worker_prefetch=2,
            gateway=f"tcp://127.0.0.1:{free_port()}",
            heartbeat_interval=0.05,
        )
    )
    server.open_zmq()
    yield server
    server.zmq.close()


def _camera(server: IngestServer, stream: str = "s") -> Camera:
    camera = Camera(stream, websocket=None, width=640, height=480)
    server.cameras.connected[stream] = camera
    server.broker.execute(server.dispatcher.add_stream(stream, camera.tracks, 0.0, camera.session))
    return camera


def test_a_vanished_worker_with_two_frames_is_logged_and_counted_once(server, caplog):
    """With prefetch 2 both frames fail to go out; the worker is one death, its frames two losses."""
    caplog.set_level(logging.INFO, logger="live2d_pose.ingest")
    for stream in ("a", "b"):  # a frame waiting in each, before any worker
        server.cameras._submit(_camera(server, stream), b"jpeg")
    # It joins and gets both at once, but it is no peer of the ROUTER: both sends fail.
    server.broker.execute(server.dispatcher.worker_ready(b"ghost", 0.0, "ghost"))
    assert server.totals["workers_dead"] == 1
    assert caplog.text.count("worker ghost disconnected") == 1
    assert server.totals["frames_lost"] == 2 and "ghost" not in str(server.stats()["workers"])


def test_a_full_worker_queue_is_not_a_disconnect(server, caplog, monkeypatch):
    """zmq.Again (the worker is not reading) loses that frame, counted; the worker stays."""
    caplog.set_level(logging.INFO, logger="live2d_pose.ingest")
    server.dispatcher.worker_ready(b"slow", 0.0, "slow")
    camera = _camera(server)

    def full(*args, **kwargs):
        raise zmq.Again()

    monkeypatch.setattr(server.broker.router, "send_multipart", full)
    server.cameras._submit(camera, b"jpeg")
    assert "disconnected" not in caplog.text
    assert server.totals["workers_dead"] == 0 and b"slow" in server.dispatcher.workers
    assert server.totals["frames_lost"] == 1
    assert server.dispatcher.workers[b"slow"].in_flight == []  # the slot is free again


def test_streams_are_announced_every_50_frames_not_every_heartbeat(server, monkeypatch):
    """It used to re-announce at every heartbeat while seq % 50 == 0 (4 times a second idle)."""
    events = []
    monkeypatch.setattr(server.broker, "send_event", events.append)
    camera = _camera(server)
    for _index in range(100):
        server.cameras._submit(camera, b"jpeg")
    assert [e["type"] for e in events] == ["stream", "stream"]

    async def idle_heartbeats():
        task = asyncio.create_task(server.broker.heartbeat_loop())
        await asyncio.sleep(0.5)  # ten heartbeats with seq at 100
        task.cancel()

    asyncio.run(idle_heartbeats())
    assert len(events) == 2


def test_announcements_and_ready_name_the_tracks(server, monkeypatch):
    events = []
    monkeypatch.setattr(server.broker, "send_event", events.append)
    camera = Camera("h", websocket=None, tracks=("face", "hands"), width=640, height=480)
    server.cameras._announce(camera)
    assert events[0]["tracks"] == ["face", "hands"] and events[0]["session"] == camera.session
    decoded = wire.decode_event(wire.encode_map(events[0]))
    assert decoded["tracks"] == ("face", "hands")
