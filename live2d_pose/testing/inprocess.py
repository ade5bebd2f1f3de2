"""Ingest and the gateway in the test's own event loop, on port 0, with fake workers.

For protocol, limit and security tests: the servers are the real ones (same
classes, real sockets, real WebSocket and ZeroMQ traffic) but start in
milliseconds, and the workers are :class:`FakeWorker`, which speaks the
worker protocol without MediaPipe. End-to-end and fault tests, which are
about MediaPipe and processes, use :mod:`live2d_pose.testing.pipeline`.

    async with InProcess(ingest={"max_streams": 2}) as pipe:
        async with Camera(pipe.camera_url) as camera: ...

The fake worker is the one place that plays a worker in tests: when the
worker protocol changes (docs/protocol.md), change it here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from typing import Any

import numpy as np
import zmq
import zmq.asyncio

from live2d_pose.trackers import TRACKERS
from live2d_pose import curve, wire
from live2d_pose.gateway.settings import GatewayConfig
from live2d_pose.ingest.settings import IngestConfig
from live2d_pose.gateway.server import GatewayServer
from live2d_pose.imageinfo import ImageError, inspect
from live2d_pose.ingest.server import IngestServer

HEARTBEAT = 0.25  # seconds, as real workers


def fake_face() -> wire.Face:
    """A fixed, plausible face: 478 landmarks on a small grid in the image's middle."""
    grid = np.stack(np.meshgrid(np.linspace(0.4, 0.6, 22), np.linspace(0.35, 0.65, 22)), -1)
    landmarks = np.zeros((478, 3), np.float32)
    landmarks[:, :2] = grid.reshape(-1, 2)[:478]
    return wire.Face(landmarks, np.zeros(52, np.float32), np.eye(4, dtype=np.float32).ravel())


class FakeWorker:
    """Speaks the worker protocol (READY, HB, FRAME -> DONE with its result, BYE) without
    MediaPipe: each frame that decodes gets :func:`fake_face` (face lanes) or nothing found
    (pose, hands), others the worker's error codes. Like a real worker it talks to ingest
    only, which checks each result and forwards it to the gateway."""

    def __init__(
        self,
        context: zmq.asyncio.Context,
        ingest: str,
        name: str,
        curve_server_key: str = "",
        curve_client_key_file: str = "",
        trackers: tuple[str, ...] = tuple(TRACKERS),
    ):
        self.name = name
        self.trackers = trackers
        self.ingest = context.socket(zmq.DEALER)
        curve.make_client(self.ingest, curve_server_key, curve_client_key_file)  # as worker.py
        self.endpoint = ingest
        self.frames = 0
        self.joined = asyncio.Event()  # ingest has heard us (its first heartbeat came back)
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self.ingest.setsockopt(zmq.LINGER, 0)
        self.ingest.connect(self.endpoint)
        self._tasks = [asyncio.create_task(self._serve()), asyncio.create_task(self._heartbeat())]

    async def stop(self) -> None:
        if self.joined.is_set():  # one that never got through (a refused CURVE key) has no one to tell
            with contextlib.suppress(zmq.ZMQError):
                await self.ingest.send_multipart([wire.BYE], flags=zmq.NOBLOCK)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.ingest.close()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            await self.ingest.send_multipart([wire.HEARTBEAT])

    async def _ready(self) -> None:
        await self.ingest.send_multipart(
            [wire.READY, wire.encode_map({"name": self.name, "pid": os.getpid(), "trackers": list(self.trackers)})]
        )

    async def _serve(self) -> None:
        # waits until the connection is up (never, for a worker the CURVE handshake refuses)
        await self._ready()
        while True:
            parts = await self.ingest.recv_multipart()
            self.joined.set()
            if parts[0] == wire.FRAME:
                await self._answer(*wire.split_frame_message(parts))
            elif parts[0] == wire.REJOIN:
                await self._ready()

    async def _answer(self, meta: wire.FrameMeta, image: memoryview) -> None:
        result = wire.Result.for_frame(meta, self.name)
        try:
            _decode(image)
            result.ts["infer_start"] = result.ts["infer_end"] = wire.now_ms()
            if meta.track == "face":
                result.found["faces"] = [fake_face().to_wire()]
        except ImageError as exc:
            result.error = {"code": exc.code, "message": f"fake worker: {exc}"}
        self.frames += 1
        await self.ingest.send_multipart([wire.DONE, wire.encode_done(meta), result.encode()])


def _decode(image: memoryview) -> None:
    """What a real worker checks before inference: the header, then OpenCV's decode."""
    inspect(image)
    import cv2  # the test extra has OpenCV (with mediapipe); imported only when a frame comes

    if cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR) is None:
        raise ImageError("decode_failed", "OpenCV could not decode the image")


@dataclasses.dataclass
class InProcess:
    """The real ingest and gateway servers on free ports in this event loop, plus fake workers."""

    workers: int = 1
    ingest: dict[str, Any] = dataclasses.field(default_factory=dict)  # IngestConfig overrides
    gateway: dict[str, Any] = dataclasses.field(default_factory=dict)  # GatewayConfig overrides
    worker_curve: dict[str, str] = dataclasses.field(default_factory=dict)  # FakeWorker curve_* keys

    async def __aenter__(self) -> InProcess:
        self._tasks: list[asyncio.Task] = []
        self.gateway_server = GatewayServer(
            GatewayConfig(**{"host": "127.0.0.1", "http_port": 0, "results_bind": "tcp://127.0.0.1:0", **self.gateway})
        )
        await self._start(self.gateway_server)
        self.ingest_server = IngestServer(
            IngestConfig(
                **{
                    "host": "127.0.0.1",
                    "port": 0,
                    "workers_bind": "tcp://127.0.0.1:0",
                    "gateway": self.gateway_server.results_endpoint,
                    "viewer_url": f"{self.http_url}/",
                    "heartbeat_interval": 0.05,  # workers hear from ingest, so count as joined, sooner
                    **self.ingest,
                }
            )
        )
        await self._start(self.ingest_server)
        self.context = zmq.asyncio.Context()
        self.fake_workers = [self.fake_worker(f"fake{i + 1}", **self.worker_curve) for i in range(self.workers)]
        for worker in self.fake_workers:
            await worker.start()
        await asyncio.wait_for(asyncio.gather(*(w.joined.wait() for w in self.fake_workers)), 10 * HEARTBEAT)
        return self

    def fake_worker(self, name: str, **curve_keys: str) -> FakeWorker:
        """Another fake worker on this pipeline's endpoints (not started; the caller stops it)."""
        return FakeWorker(self.context, self.ingest_server.broker.workers_endpoint, name, **curve_keys)

    async def __aexit__(self, *exc: object) -> None:
        for worker in self.fake_workers:
            await worker.stop()
        self.context.term()
        for server in (self.ingest_server, self.gateway_server):
            server.stopping.set()
        await asyncio.gather(*self._tasks)

    async def _start(self, server) -> None:
        task = asyncio.create_task(server.run())
        self._tasks.append(task)
        listening = asyncio.create_task(server.listening.wait())
        await asyncio.wait([task, listening], return_when=asyncio.FIRST_COMPLETED)
        if task.done():  # it failed to start: raise its error
            listening.cancel()
            task.result()

    @property
    def camera_port(self) -> int:
        return self.ingest_server.port

    @property
    def camera_url(self) -> str:
        return f"ws://127.0.0.1:{self.camera_port}/image"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_server.port}"

    def viewer_url(self, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.gateway_server.port}/ws" + (f"?{query}" if query else "")

    def ingest_stats(self) -> dict:
        return self.ingest_server.stats()
