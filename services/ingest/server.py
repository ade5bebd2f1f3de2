"""Ingest: cameras in over WebSocket, frames out to the landmarker pool over ZeroMQ.

One asyncio loop serves the camera sockets, the workers' ROUTER socket and the
heartbeats. It never decodes an image (it only reads headers, see
imageinfo.py) and never waits on a worker: the Dispatcher decides, this
module only moves bytes and keeps the camera informed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

import zmq
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from live2d_pose import aio, curve, httpserve, metrics, service, wire
from live2d_pose.config import IngestConfig
from live2d_pose.ingest import protocol
from live2d_pose.ingest.admission import Admission
from live2d_pose.ingest.dispatcher import Actions, Dispatcher, PendingFrame, StreamStats
from live2d_pose.logs import ThrottledWarning
from live2d_pose.service import ClientError, WebSocketService

log = logging.getLogger("live2d_pose.ingest")

ERRORS_PER_SECOND = 5  # worker-reported frame errors relayed to one camera


class RateLimiter:
    """Token bucket: ``rate`` events per second, short bursts of a quarter second allowed."""

    def __init__(self, rate: float):
        self.rate = rate
        self.capacity = max(1.0, rate * 0.25)
        self.tokens = self.capacity
        self.last = time.monotonic()

    def allow(self) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class Camera:
    """One connected camera and what ingest counts about it."""

    stream: str
    websocket: ServerConnection
    width: int = 0
    height: int = 0
    seq: int = 0
    session: int = field(default_factory=lambda: time.monotonic_ns() & 0x7FFFFFFFFFFF)
    rate_limited: int = 0
    rejected: int = 0
    opened: float = field(default_factory=time.monotonic)
    error_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(ERRORS_PER_SECOND))


class IngestServer(WebSocketService):
    name = "ingest"
    log = log
    websocket_routes = protocol.CAMERA_PATHS

    def __init__(self, config: IngestConfig):
        super().__init__(config)
        self.dispatcher = Dispatcher(config.worker_timeout, config.stream_affinity,
                                     config.worker_prefetch)
        self.cameras: dict[str, Camera] = {}
        # A ROUTER send with NOBLOCK never waits; ROUTER_MANDATORY: a vanished worker raises,
        # never drops silently.
        self.router = self.zmq.socket(zmq.ROUTER, router_mandatory=1, sndhwm=16, rcvhwm=1000)
        self.reader = aio.SocketReader(self.router, self._on_router_message)
        self.events = self.zmq.socket(zmq.PUSH, sndhwm=100, linger=100)
        self.admission = Admission(config.max_handshakes, config.max_partial_bytes, protocol.CLOSE_TRY_LATER,
                                   aio.CLOSE_TIMEOUT)
        self.totals = {"cameras": 0, "frames": 0, "rejected": 0, "rogue_messages": 0,
                       "workers_dead": 0, "frames_lost": 0, "handshake_timeouts": 0}
        self.rogue = ThrottledWarning(log, self.totals, "rogue_messages")
        self.metrics = metrics.ingest_registry(self)
        self.port = config.port  # the real one once listening (config may say 0)
        self.workers_endpoint = config.workers_bind

    # ------------------------------------------------------------ lifecycle

    def listen_port(self) -> int:
        return self.config.port

    def serve_options(self) -> dict:
        return {"max_size": 2 * self.config.max_frame_bytes,  # our own check answers first
                "max_queue": 4, "open_timeout": self.config.handshake_timeout,  # the HTTP part of it
                "create_connection": self.admission.connection_class()}

    def background(self):
        return self._heartbeat_loop()

    def describe(self) -> str:
        return f"cameras ws://{self.config.host}:{self.port}/image, workers {self.workers_endpoint}"

    def summary(self) -> dict:
        return self.totals | self.admission.counts

    def open_zmq(self) -> None:
        self.workers_endpoint = self.zmq.bind(self.router, self.config.workers_bind)
        server_key = self.config.curve_server_key or (
            curve.load_secret(self.config.curve_secret_key_file)[0] if self.config.curve_secret_key_file else "")
        # Ingest's identity toward the gateway (its allow-list) is its own server pair.
        self.zmq.connect(self.events, self.config.gateway, server_key, self.config.curve_secret_key_file)

    # ------------------------------------------------------------ HTTP side

    def route(self, connection: ServerConnection, request: Request, route: str) -> Response | None:
        if route == "/healthz":
            return httpserve.text("ok\n")
        if route == "/stats":
            return httpserve.json_body(self.stats())
        if route == "/metrics":
            return httpserve.text(metrics.render(self.metrics), metrics.CONTENT_TYPE)
        if route not in protocol.CAMERA_PATHS:
            return httpserve.error(HTTPStatus.NOT_FOUND, f"unknown path {route!r}; cameras connect to /image")
        return None

    def stats(self) -> dict:
        streams = {}
        for name, state in self.dispatcher.streams.items():
            camera = self.cameras.get(name)
            streams[name] = {**vars(state.stats), "mean_latency_ms": state.stats.mean_latency_ms,
                             "rate_limited": camera.rate_limited if camera else 0,
                             "rejected": camera.rejected if camera else 0,
                             "worker": self.dispatcher.workers[state.worker].name
                             if state.worker in self.dispatcher.workers else None}
        workers = [{"name": w.name, "in_flight": len(w.in_flight), "streams": sorted(w.streams),
                    "frames_done": w.frames_done} for w in self.dispatcher.workers.values()]
        return {"streams": streams, "workers": workers, "totals": self.totals | self.admission.counts,
                "handshaking": len(self.admission.handshaking),
                "partial_bytes": self.admission.partial_total}

    # ------------------------------------------------------------ cameras

    async def handle(self, websocket: ServerConnection) -> None:
        camera = None
        try:
            camera = await self._open_camera(websocket)
            await self._receive_frames(camera)
        except ClientError as exc:
            await self._reject(websocket, exc)
        except ConnectionClosed:
            pass
        finally:
            if camera is not None:
                self._close_camera(camera)

    async def _open_camera(self, websocket: ServerConnection) -> Camera:
        request = protocol.parse_request_path(websocket.request.path)
        service.check_token(request.token, self.config.camera_token, "camera")
        if len(self.cameras) >= self.config.max_streams:
            raise ClientError("too_many_streams", f"{self.config.max_streams} cameras are already "
                              "connected", protocol.CLOSE_TRY_LATER)
        stream = request.stream or protocol.new_stream_id()
        await websocket.send(json.dumps({"type": "initialized"}))
        camera = Camera(stream, websocket)
        await self._await_image_size(camera)
        # Checked again with no await before the insert: cameras racing the handshake
        # must not all pass the first check and register more than max_streams.
        previous = self.cameras.get(stream)
        if previous is None and len(self.cameras) >= self.config.max_streams:
            raise ClientError("too_many_streams", f"{self.config.max_streams} cameras are already "
                              "connected", protocol.CLOSE_TRY_LATER)
        self.cameras[stream] = camera
        self.admission.registered(websocket)
        if previous is not None:  # the same camera reconnecting before its old socket timed out
            log.info("stream %s: a new connection replaces the old one", stream)
            await previous.websocket.close(1000, "replaced by a new connection")
        self.totals["cameras"] += 1
        self._execute(self.dispatcher.add_stream(stream, time.monotonic()))
        self._announce(camera)
        await websocket.send(json.dumps({"type": "ready", "stream": stream,
                                         "viewer": self._viewer_url(websocket, stream)}))
        log.info("stream %s opened from %s (%dx%d)", stream, aio.peer(websocket), camera.width, camera.height)
        return camera

    async def _await_image_size(self, camera: Camera) -> None:
        """Within handshake_timeout of connecting (websockets' open_timeout bounds the HTTP part)."""
        left = self.config.handshake_timeout - (time.monotonic() - camera.websocket.accepted_at)
        try:
            await asyncio.wait_for(self._read_image_size(camera), max(0.0, left))
        except asyncio.TimeoutError:
            self.totals["handshake_timeouts"] += 1
            raise ClientError("handshake_timeout", f"no imageSize within {self.config.handshake_timeout} s "
                              "of connecting", protocol.CLOSE_POLICY) from None

    async def _read_image_size(self, camera: Camera) -> None:
        bad = protocol.BadFrameCounter()
        async for message in camera.websocket:
            try:
                if isinstance(message, bytes):
                    raise ClientError("no_image_size", 'send {"imageSize": {"width": W, "height": H}} '
                                      "before the first frame")
                camera.width, camera.height = protocol.parse_image_size(
                    message, self.config.max_text_bytes, self.config.max_pixels)
                await camera.websocket.send(json.dumps({"type": "ok"}))
                return
            except ClientError as exc:
                if exc.close_code:
                    raise
                await self._warn(camera.websocket, exc)
                bad.bad()
        raise ConnectionClosed(None, None)

    async def _receive_frames(self, camera: Camera) -> None:
        bad = protocol.BadFrameCounter()
        limiter = RateLimiter(self.config.max_fps)
        async for message in camera.websocket:
            try:
                if isinstance(message, str):
                    await self._change_image_size(camera, message)
                    continue
                protocol.check_frame(message, self.config.max_frame_bytes, self.config.max_pixels,
                                     self.config.max_scan_pixels)
                bad.good()
            except ClientError as exc:
                if exc.close_code:
                    raise
                camera.rejected += 1
                self.totals["rejected"] += 1
                await self._warn(camera.websocket, exc)
                bad.bad()
                continue
            if not limiter.allow():
                camera.rate_limited += 1
                continue
            self._submit(camera, message)

    async def _change_image_size(self, camera: Camera, text: str) -> None:
        camera.width, camera.height = protocol.parse_image_size(
            text, self.config.max_text_bytes, self.config.max_pixels)
        await camera.websocket.send(json.dumps({"type": "ok"}))
        self._announce(camera)

    def _submit(self, camera: Camera, image: bytes) -> None:
        camera.seq += 1
        self.totals["frames"] += 1
        meta = wire.FrameMeta(camera.stream, camera.seq, camera.width, camera.height, wire.now_ms())
        self._execute(self.dispatcher.submit(PendingFrame(meta, image), time.monotonic()))

    def _close_camera(self, camera: Camera) -> None:
        if self.cameras.get(camera.stream) is not camera:
            return  # replaced by a newer connection of the same stream
        del self.cameras[camera.stream]
        state = self.dispatcher.streams.get(camera.stream)
        stats = state.stats if state else StreamStats()
        self._execute(self.dispatcher.remove_stream(camera.stream))
        self._send_event({"type": "ended", "stream": camera.stream})
        log.info("stream %s closed after %.1f s: received=%d processed=%d dropped=%d lost=%d "
                 "errors=%d rejected=%d rate_limited=%d mean_latency=%.1f ms", camera.stream,
                 time.monotonic() - camera.opened, stats.received, stats.done, stats.dropped,
                 stats.lost, stats.errors, camera.rejected, camera.rate_limited, stats.mean_latency_ms)

    async def _reject(self, websocket: ServerConnection, exc: ClientError) -> None:
        log.warning("camera %s rejected: %s (%s)", aio.peer(websocket), exc.message, exc.code)
        with contextlib.suppress(ConnectionClosed):
            await websocket.send(exc.to_message())
            await websocket.close(exc.close_code or protocol.CLOSE_WRONG_DATA, exc.code)

    async def _warn(self, websocket: ServerConnection, exc: ClientError) -> None:
        log.debug("camera %s: %s", aio.peer(websocket), exc.message)
        await websocket.send(exc.to_message())

    def _viewer_url(self, websocket: ServerConnection, stream: str) -> str:
        base = self.config.viewer_url
        if not base:
            host = websocket.request.headers.get("Host", "localhost")
            # The address the camera used to reach us reaches the gateway too (same host).
            base = f"http://{urlsplit('//' + host).hostname or 'localhost'}:{self.config.viewer_port}/"
        separator = "&" if "?" in base else "?"
        return f"{base}{separator}stream={stream}"

    # ------------------------------------------------------------ gateway events

    def _announce(self, camera: Camera) -> None:
        self._send_event({"type": "stream", "stream": camera.stream, "session": camera.session,
                          "imageSize": {"width": camera.width, "height": camera.height}})

    def _send_event(self, event: dict) -> None:
        with contextlib.suppress(zmq.Again):  # gateway away: it learns streams from results too
            self.events.send_multipart([wire.EVENT, wire.encode_map(event)], flags=zmq.NOBLOCK)

    # ------------------------------------------------------------ workers

    def _on_router_message(self, parts: list[bytes]) -> None:
        try:
            actions = self._on_worker_message(parts)
        except wire.WireError as exc:
            self.rogue("ignored a malformed worker message: %s", exc)
            return
        self._execute(actions)

    def _on_worker_message(self, parts: list[bytes]) -> Actions:
        if len(parts) < 2:
            raise wire.WireError(f"expected identity and command, got {len(parts)} parts")
        identity, command, body = parts[0], parts[1], parts[2:]
        now = time.monotonic()
        if command == wire.HEARTBEAT:
            self.dispatcher.worker_seen(identity, now)
            return Actions()
        if command == wire.DONE and len(body) == 1:
            outcome = wire.decode_done(body[0])
            self._relay_error(outcome)
            latency = outcome.get("latency_ms")
            return self.dispatcher.worker_done(identity, outcome["stream"], outcome["seq"],
                                               outcome.get("error") is None, now,
                                               latency if isinstance(latency, (int, float)) else 0.0)
        if command == wire.READY and len(body) == 1:
            info = wire.unpack_map(body[0], "ready")
            name = str(info.get("name", ""))[:64]
            if identity not in self.dispatcher.workers:
                log.info("worker %s joined (%d workers)", name, len(self.dispatcher.workers) + 1)
            return self.dispatcher.worker_ready(identity, now, name)
        if command == wire.BYE:
            worker = self.dispatcher.workers.get(identity)
            log.info("worker %s left", worker.name if worker else identity.hex())
            return self.dispatcher.worker_gone(identity, now)
        raise wire.WireError(f"unknown command {command[:16]!r} with {len(body)} parts")

    def _relay_error(self, outcome: dict) -> None:
        error = outcome.get("error")
        camera = self.cameras.get(outcome["stream"])
        if error is None or camera is None or not camera.error_limiter.allow():
            return
        message = {"type": "error", "code": str(error.get("code", "frame_error")),
                   "message": str(error.get("message", "")), "seq": outcome["seq"]}
        asyncio.ensure_future(_send_quietly(camera.websocket, json.dumps(message)))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_interval)
            for identity in list(self.dispatcher.workers):
                if not self._send_worker(identity, [wire.HEARTBEAT]):
                    # its connection is gone (a killed process): move its streams now, not after
                    # worker_timeout; a stuck worker with a live connection still waits for that
                    worker = self.dispatcher.workers.get(identity)
                    log.warning("worker %s disconnected: its streams move",
                                worker.name if worker else identity.hex())
                    self.totals["workers_dead"] += 1
                    self._execute(self.dispatcher.worker_gone(identity, time.monotonic()))
            self._execute(self.dispatcher.expire(time.monotonic()))
            for camera in self.cameras.values():  # a restarted gateway learns sizes again
                if camera.seq % 50 == 0:
                    self._announce(camera)

    def _execute(self, actions: Actions) -> None:
        for identity in actions.dead:
            self.totals["workers_dead"] += 1
            log.warning("worker %s silent for %.1f s: declared dead, its streams move",
                        identity.hex(), self.config.worker_timeout)
        for stream, seq in actions.lost:
            self.totals["frames_lost"] += 1
            log.warning("stream %s: frame %d lost with its worker", stream, seq)
        for identity, stream in actions.end:
            self._send_worker(identity, [wire.END, wire.encode_map({"stream": stream})])
        for identity, frame in actions.dispatch:
            frame.meta.ts_dispatch = wire.now_ms()
            if not self._send_worker(identity, wire.frame_message(frame.meta, frame.image)):
                worker = self.dispatcher.workers.get(identity)
                log.warning("worker %s disconnected: its streams move", worker.name if worker else identity.hex())
                self.totals["workers_dead"] += 1
                self._execute(self.dispatcher.worker_gone(identity, time.monotonic()))

    def _send_worker(self, identity: bytes, parts: list) -> bool:
        try:
            self.router.send_multipart([identity, *parts], copy=False, flags=zmq.NOBLOCK)
            return True
        except (zmq.Again, zmq.ZMQError) as exc:  # EHOSTUNREACH: the worker's socket is gone
            log.debug("cannot reach worker %s: %s", identity.hex(), exc)
            return False
        finally:
            self.reader.poke()  # the send may have consumed the FD's signal: look for messages


async def _send_quietly(websocket: ServerConnection, text: str) -> None:
    with contextlib.suppress(ConnectionClosed):
        await websocket.send(text)




def main(config: IngestConfig) -> int:
    return service.main(lambda: IngestServer(config), log)
