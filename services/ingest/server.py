"""Ingest: cameras in over WebSocket, frames out to the landmarker pool, results on to the gateway.

One asyncio loop serves the camera sockets, the workers' ROUTER socket and the
heartbeats. It never decodes an image (it only reads headers, see
imageinfo.py) and never waits on a worker: the Dispatcher decides, this
module only moves bytes and keeps the camera informed. Workers answer each
frame with its result; ingest accepts a result only for a frame it sent to that
worker (same stream, tracker, seq and session) and forwards it to the gateway,
so the gateway hears from ingest alone.
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

from live2d_pose import aio, curve, httpserve, metrics, service, trackers, wire
from live2d_pose.ingest.metrics import ingest_registry
from live2d_pose.ingest.settings import IngestConfig
from live2d_pose.ingest import protocol
from live2d_pose.ingest.admission import Admission
from live2d_pose.ingest.dispatcher import Actions, Dispatcher, PendingFrame, parse_replicas
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
        """Take a token if there is one."""
        if self.rate <= 0:
            return True
        self._refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def take(self) -> float:
        """Take a token even if there is none; returns the seconds until the bucket is even again."""
        if self.rate <= 0:
            return 0.0
        self._refill()
        self.tokens -= 1.0
        return -self.tokens / self.rate if self.tokens < 0 else 0.0

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now


@dataclass
class Camera:
    """One connected camera and what ingest counts about it."""

    stream: str
    websocket: ServerConnection
    tracks: tuple[str, ...] = ("face",)
    width: int = 0
    height: int = 0
    seq: int = 0  # continues across a seamless reconnect (the new connection takes it over)
    session: int = field(default_factory=wire.new_session)  # newer connections have larger ones
    throttled: int = 0  # times reading paused to hold the camera to --max-fps
    rejected: int = 0
    opened: float = field(default_factory=time.monotonic)
    last_frame: float = field(default_factory=time.monotonic)  # the idle timeout counts from here
    error_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(ERRORS_PER_SECOND))
    client: str = ""  # its address (per-client limit)

    def __post_init__(self) -> None:
        self.client = self.client or aio.peer_host(self.websocket)


class IngestServer(WebSocketService):
    name = "ingest"
    log = log
    websocket_routes = protocol.CAMERA_PATHS

    def __init__(self, config: IngestConfig):
        super().__init__(config)
        self.default_tracks = trackers.parse_tracks(config.track)
        self.dispatcher = Dispatcher(config.worker_timeout, config.stream_affinity, config.worker_prefetch,
                                     config.frame_timeout, config.quarantine_after,
                                     replicas=parse_replicas(config.replicas))
        self.cameras: dict[str, Camera] = {}
        self.tasks: set[asyncio.Task] = set()  # fire-and-forget sends, referenced until done
        # A ROUTER send with NOBLOCK never waits; ROUTER_MANDATORY: a vanished worker raises,
        # never drops silently; MAXMSGSIZE: ZeroMQ drops a bigger message before we see it.
        self.router = self.zmq.socket(zmq.ROUTER, router_mandatory=1, sndhwm=16, rcvhwm=1000,
                                      maxmsgsize=wire.MAX_RESULT_MESSAGE_BYTES)
        self.reader = aio.SocketReader(self.router, self._on_router_message)
        self.events = self.zmq.socket(zmq.PUSH, sndhwm=100, linger=100,
                                      maxmsgsize=wire.MAX_RESULT_MESSAGE_BYTES)  # it receives nothing
        self.admission = Admission(config.max_handshakes, config.max_partial_bytes, protocol.CLOSE_TRY_LATER,
                                   aio.CLOSE_TIMEOUT)
        self.totals = {"cameras": 0, "frames": 0, "rejected": 0, "rogue_messages": 0,
                       "workers_dead": 0, "frames_lost": 0, "replaced": 0, "quarantined": 0,
                       "results_forwarded": 0, "results_rejected": 0, "results_dropped": 0,
                       "handshake_timeouts": 0, "refused_busy": 0, "origin_refused": 0,
                       "refused_per_client": 0, "idle_timeouts": 0}
        self.rogue = ThrottledWarning(log, self.totals, "rogue_messages")
        self.origins = httpserve.OriginPolicy(config.allowed_origins, same_origin=False)
        self.origin_refused = ThrottledWarning(log, self.totals, "origin_refused")
        self.results_rejected = ThrottledWarning(log, self.totals, "results_rejected")
        self.metrics = ingest_registry(self)
        self.port = config.port  # the real one once listening (config may say 0)
        self.workers_endpoint = config.workers_bind

    # ------------------------------------------------------------ lifecycle

    def listen_port(self) -> int:
        return self.config.port

    def serve_options(self) -> dict:
        return {"max_size": 2 * self.config.max_frame_bytes,  # our own check answers first
                "max_queue": 4, "open_timeout": self.config.handshake_timeout,  # the HTTP part of it
                "ping_interval": self.config.ping_interval, "ping_timeout": self.config.ping_timeout,
                "create_connection": self.admission.connection_class()}

    def background(self):
        return self._heartbeat_loop()

    def describe(self) -> str:
        return f"cameras ws://{self.config.host}:{self.port}/image, workers {self.workers_endpoint}"

    def summary(self) -> dict:
        return self.totals | self.admission.counts

    def open_zmq(self) -> None:
        self.workers_endpoint = self.zmq.bind(self.router, self.config.workers_bind, "--workers-bind")
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
        refusal = self.origins.refusal(request)
        if refusal is not None:  # a web page, not a camera: cross-site hijacking unless allowed
            self.origin_refused("refused a camera connection from a web page at %r (not in "
                                "--allowed-origins)", request.headers["Origin"][:200])
        return refusal

    def stats(self) -> dict:
        """/stats: per stream its counters (sums over its lanes) and each lane's; workers; totals."""
        names = {w.identity: w.name for w in self.dispatcher.workers.values()}
        streams = {}
        for name, state in self.dispatcher.streams.items():
            camera = self.cameras.get(name)
            lanes = {track: {**lane.stats.as_dict(), "workers": [names.get(w) for w in lane.workers],
                             "cost_ms": None if lane.cost_ms is None else round(lane.cost_ms, 2)}
                     for track, lane in state.lanes.items()}
            first = next(iter(lanes.values()), {"workers": [None]})
            streams[name] = {**state.totals().as_dict(), "session": state.session,
                             "tracks": list(state.lanes), "lanes": lanes,
                             "worker": first["workers"][0],
                             "throttled": camera.throttled if camera else 0,
                             "rejected": camera.rejected if camera else 0}
        workers = [{"name": w.name, "trackers": sorted(w.trackers), "in_flight": len(w.in_flight),
                    "lanes": sorted(f"{s}/{t}" + (f"#{r}" if r else "") for s, t, r in w.seats),
                    "frames_done": w.frames_done, **_capacity_stats(w)} for w in self.dispatcher.workers.values()]
        totals = self.totals | self.admission.counts | {"lanes_moved": self.dispatcher.moves,
                                                        "seat_moves": self.dispatcher.seat_moves}
        return {"streams": streams, "workers": workers, "totals": totals,
                "tracker_cost_ms": {t: round(ms, 2) for t, ms in self.dispatcher.tracker_cost_ms.items()},
                "lanes_unseated": self.dispatcher.unseated(),
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
        stream = request.stream or protocol.new_stream_id()
        camera = Camera(stream, websocket, request.track or self.default_tracks)
        self._check_room(camera)
        await websocket.send(json.dumps({"type": "initialized"}))
        await self._await_image_size(camera)
        # Checked again with no await before the insert: cameras racing the handshake
        # must not all pass the first check and register more than there is room for.
        previous = self.cameras.get(stream)
        self._check_room(camera)
        self.cameras[stream] = camera
        self.admission.registered(websocket)
        if previous is not None:  # the same camera reconnecting before its old socket timed out
            self._hand_over(previous, camera)
        self.totals["cameras"] += 1
        self._execute(self.dispatcher.add_stream(stream, camera.tracks, time.monotonic(), camera.session))
        self._announce(camera)
        await websocket.send(json.dumps({"type": "ready", "stream": stream, "track": list(camera.tracks),
                                         "viewer": self._viewer_url(websocket, stream)}))
        log.info("stream %s opened from %s (%dx%d, track %s)", stream, aio.peer(websocket), camera.width,
                 camera.height, ",".join(camera.tracks))
        return camera

    def _check_room(self, camera: Camera) -> None:
        """Refuse a camera (1013, try later) when max_streams cameras are connected, or
        max_streams_per_client from its address, or when its lanes would not fit on the workers
        (their memory for MediaPipe instances is full). The same camera reconnecting (its stream
        is connected) keeps its place."""
        if camera.stream not in self.cameras:
            if len(self.cameras) >= self.config.max_streams:
                raise ClientError("too_many_streams", f"{self.config.max_streams} cameras are already "
                                  "connected", protocol.CLOSE_TRY_LATER)
            limit = self.config.max_streams_per_client
            if limit and sum(c.client == camera.client for c in self.cameras.values()) >= limit:
                self.totals["refused_per_client"] += 1
                raise ClientError("too_many_from_client", f"{limit} cameras from {camera.client} are "
                                  "already connected", protocol.CLOSE_TRY_LATER)
        if not self.dispatcher.has_room(camera.stream, camera.tracks):
            self.totals["refused_busy"] += 1
            raise ClientError("busy", f"the workers hold as many MediaPipe instances as their memory "
                              f"allows ({len(self.cameras)} cameras); try again later", protocol.CLOSE_TRY_LATER)

    def _hand_over(self, previous: Camera, camera: Camera) -> None:
        """The same camera reconnecting before its old socket timed out (a JetBot on flaky Wi-Fi):
        the stream goes on. Its lanes keep their workers and MediaPipe instances, seq numbers
        continue, and only the session changes, so results say which connection they belong to.
        The old connection is told why it is closed (and the camera client backs off on it)."""
        camera.seq = previous.seq
        self.totals["replaced"] += 1
        log.info("stream %s: a new connection from %s replaces the one from %s", camera.stream,
                 aio.peer(camera.websocket), aio.peer(previous.websocket))
        error = ClientError("replaced", f"another connection took over stream {camera.stream!r}",
                            protocol.CLOSE_REPLACED)
        self._spawn(self._reject(previous.websocket, error, level=logging.INFO))

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
        pace = RateLimiter(self.config.max_fps)
        while True:
            message = await self._next_message(camera)
            await self._take_message(camera, message, bad)
            # Read no faster than --max-fps (every message, good or bad, counts): while this
            # waits, websockets stops reading the socket once its small queue is full and TCP
            # slows the camera down, so a flood costs ingest max-fps messages a second, not
            # every frame the camera can send.
            delay = pace.take()
            if delay:
                camera.throttled += 1
                await asyncio.sleep(delay)

    async def _next_message(self, camera: Camera) -> str | bytes:
        """The camera's next message; idle_timeout when it has sent no frame for camera_idle_timeout
        (text keeps no camera open: a connection that only holds a slot is closed)."""
        timeout = self.config.camera_idle_timeout
        if timeout <= 0:
            return await camera.websocket.recv()
        try:  # websockets: cancelling recv() loses nothing
            return await asyncio.wait_for(camera.websocket.recv(),
                                          max(0.0, camera.last_frame + timeout - time.monotonic()))
        except asyncio.TimeoutError:
            self.totals["idle_timeouts"] += 1
            raise ClientError("idle_timeout", f"no frame for {timeout:g} s; closed to free the slot",
                              protocol.CLOSE_TRY_LATER) from None

    async def _take_message(self, camera: Camera, message: str | bytes, bad: protocol.BadFrameCounter) -> None:
        try:
            if isinstance(message, str):
                await self._change_image_size(camera, message)
                return
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
            return
        self._submit(camera, message)

    async def _change_image_size(self, camera: Camera, text: str) -> None:
        camera.width, camera.height = protocol.parse_image_size(
            text, self.config.max_text_bytes, self.config.max_pixels)
        await camera.websocket.send(json.dumps({"type": "ok"}))
        self._announce(camera)

    def _submit(self, camera: Camera, image: bytes) -> None:
        if self.cameras.get(camera.stream) is not camera:
            return  # a replaced connection's last frames: the new connection owns the stream
        camera.seq += 1
        camera.last_frame = time.monotonic()
        self.totals["frames"] += 1
        meta = wire.FrameMeta(camera.stream, camera.seq, camera.width, camera.height, wire.now_ms(),
                              session=camera.session)
        self._execute(self.dispatcher.submit(PendingFrame(meta, image), time.monotonic()))
        if camera.seq % 50 == 0:  # every 50 frames: a restarted gateway learns sizes again
            self._announce(camera)

    def _close_camera(self, camera: Camera) -> None:
        if self.cameras.get(camera.stream) is not camera:
            return  # replaced by a newer connection of the same stream: the stream goes on
        del self.cameras[camera.stream]
        state = self.dispatcher.streams.get(camera.stream)
        stats = state.totals() if state else None
        self._execute(self.dispatcher.remove_stream(camera.stream, time.monotonic()))
        self._send_event({"type": "ended", "stream": camera.stream})
        if stats is not None:
            log.info("stream %s closed after %.1f s: received=%d processed=%d dropped=%d lost=%d "
                     "errors=%d rejected=%d throttled=%d mean_latency=%.1f ms (sums over %d lanes)",
                     camera.stream, time.monotonic() - camera.opened, stats.received, stats.done,
                     stats.dropped, stats.lost, stats.errors, camera.rejected, camera.throttled,
                     stats.mean_latency_ms, len(state.lanes))

    async def _reject(self, websocket: ServerConnection, exc: ClientError, level: int = logging.WARNING) -> None:
        log.log(level, "camera %s rejected: %s (%s)", aio.peer(websocket), exc.message, exc.code)
        with contextlib.suppress(ConnectionClosed):
            await websocket.send(exc.to_message())
            await websocket.close(exc.close_code or protocol.CLOSE_WRONG_DATA, exc.code)

    def _spawn(self, coroutine) -> None:
        """Run a coroutine in the background, holding a reference until it ends (asyncio keeps
        only weak ones: an unreferenced task can vanish mid-way)."""
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

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
                          "tracks": list(camera.tracks),
                          "imageSize": {"width": camera.width, "height": camera.height}})

    def _send_event(self, event: dict) -> None:
        with contextlib.suppress(zmq.Again):  # gateway away: it learns streams from results too
            self.events.send_multipart([wire.EVENT, wire.encode_map(event)], flags=zmq.NOBLOCK)

    def _forward_result(self, body: bytes) -> None:
        try:
            self.events.send_multipart([wire.RESULT, body], flags=zmq.NOBLOCK, copy=False)
            self.totals["results_forwarded"] += 1
        except zmq.Again:  # the gateway is away or not keeping up: counted, never queued without bound
            self.totals["results_dropped"] += 1

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
            if self.dispatcher.worker_seen(identity, now) or self.dispatcher.is_banned(identity, now):
                return Actions()
            return Actions(rejoin=[identity])  # declared dead while it was away: it must say READY
        if command == wire.DONE and len(body) == 2:
            return self._on_done(identity, body[0], body[1], now)
        if command == wire.READY and len(body) == 1:
            info = wire.decode_ready(body[0])
            name = info["name"] or identity.hex()[:16]
            if identity not in self.dispatcher.workers and not self.dispatcher.is_banned(identity, now):
                log.info("worker %s joined, runs %s, capacity %s (%d workers)", name, ",".join(info["trackers"]),
                         _describe_capacity(info["capacity"]), len(self.dispatcher.workers) + 1)
            return self.dispatcher.worker_ready(identity, now, name, info["trackers"], info["capacity"])
        if command == wire.BUILT and len(body) == 1:
            return self.dispatcher.worker_built(identity, wire.decode_seat(body[0], "built"), now)
        if command == wire.BYE:
            worker = self.dispatcher.workers.get(identity)
            if worker is not None:
                log.info("worker %s left", worker.name)
            return self.dispatcher.worker_gone(identity, now, costly=False)
        raise wire.WireError(f"unknown command {command[:16]!r} with {len(body)} parts")

    def _on_done(self, identity: bytes, done_bytes: bytes, body: bytes, now: float) -> Actions:
        """A worker's answer: accepted only for a frame this worker holds, then forwarded."""
        done, result = wire.decode_done_message(done_bytes, body)
        latency = done.get("latency_ms")
        error = result.error
        accepted, actions = self.dispatcher.worker_done(
            identity, result.stream, result.tracks[0], result.seq, result.session, done["replica"],
            str(error.get("code", "frame_error")) if error else None, now,
            latency if isinstance(latency, (int, float)) else 0.0, _busy_ms(result.ts))
        if not accepted:
            self.results_rejected("ignored a result for %s/%s frame %d that worker %s does not hold",
                                  result.stream, result.tracks[0], result.seq, self._worker_name(identity))
            return actions
        if error is not None and error.get("code") == wire.WARMING_UP:
            return actions  # not served: the frame went back to its lane
        self._forward_result(body)
        if error is not None:
            self._relay_error(result)
        return actions

    def _relay_error(self, result: wire.Result) -> None:
        camera = self.cameras.get(result.stream)
        if camera is None or camera.session != result.session or not camera.error_limiter.allow():
            return
        message = {"type": "error", "code": str(result.error.get("code", "frame_error")),
                   "message": str(result.error.get("message", "")), "seq": result.seq,
                   "track": result.tracks[0]}
        self._spawn(_send_quietly(camera.websocket, json.dumps(message)))

    def _worker_name(self, identity: bytes) -> str:
        worker = self.dispatcher.workers.get(identity)
        return worker.name if worker else identity.hex()[:16]

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_interval)
            gone = [identity for identity in list(self.dispatcher.workers)
                    if self._send_worker(identity, [wire.HEARTBEAT]) == GONE]
            self._drop_disconnected(gone)
            moves = self.dispatcher.moves
            actions = self.dispatcher.expire(time.monotonic())
            if self.dispatcher.moves != moves:
                self._log_move(actions)
            self._execute(actions)

    def _log_move(self, actions: Actions) -> None:
        old, (stream, track, replica) = actions.end[-1]  # the rebalance's END comes last
        lane = self.dispatcher.streams[stream].lanes[track]
        costs = ", ".join(f"{t} {ms:.1f}" for t, ms in self.dispatcher.tracker_cost_ms.items())
        log.info("lane %s/%s moved from worker %s to %s: measured costs (ms a frame) %s", stream, track,
                 self._worker_name(old), self._worker_name(lane.workers[replica]), costs)

    def _drop_disconnected(self, identities: list[bytes]) -> None:
        """Workers whose connection is gone (a killed process): move their lanes now, not after
        worker_timeout (a stuck worker with a live connection still waits for that)."""
        for identity in dict.fromkeys(identities):  # each once, however many sends failed
            if identity in self.dispatcher.workers:
                log.warning("worker %s disconnected: its lanes move", self._worker_name(identity))
                self.totals["workers_dead"] += 1
                self._execute(self.dispatcher.worker_gone(identity, time.monotonic()))

    def _execute(self, actions: Actions) -> None:
        for _, name, why in actions.dead:
            self.totals["workers_dead"] += 1
            log.warning("worker %s declared dead (%s): its lanes move", name, why)
        for record in actions.lost:
            self.totals["frames_lost"] += 1
            log.warning("stream %s: frame %d (%s) lost with its worker", record.stream, record.seq, record.track)
        for identity in actions.rejoin:
            self._send_worker(identity, [wire.REJOIN])
        for stream in actions.quarantine:
            self._quarantine(stream)
        for identity, (stream, track, replica) in actions.end:
            self._send_worker(identity, [wire.END, wire.encode_map(
                {"stream": stream, "track": track, "replica": replica})])
        gone = []
        for identity, frame in actions.dispatch:
            frame.meta.ts_dispatch = wire.now_ms()
            outcome = self._send_worker(identity, wire.frame_message(frame.meta, frame.image))
            if outcome == GONE:
                gone.append(identity)
            elif outcome == FULL:  # it is not reading (frozen?): the heartbeat timeout will tell
                self._execute(self.dispatcher.frame_undelivered(identity, frame.meta))
        self._drop_disconnected(gone)

    def _quarantine(self, stream: str) -> None:
        camera = self.cameras.get(stream)
        if camera is None:
            return
        self.totals["quarantined"] += 1
        error = ClientError("stream_quarantined", f"{self.config.quarantine_after} frames of stream "
                            f"{stream!r} in a row cost a worker (lost, over the deadline, or too slow "
                            "to decode); the stream is closed", protocol.CLOSE_POLICY)
        self._spawn(self._reject(camera.websocket, error))

    def _send_worker(self, identity: bytes, parts: list) -> str:
        """SENT; FULL when the worker's queue is full (it is not reading); GONE when its
        connection is gone (ROUTER_MANDATORY says EHOSTUNREACH)."""
        try:
            self.router.send_multipart([identity, *parts], copy=False, flags=zmq.NOBLOCK)
            return SENT
        except zmq.Again:
            log.debug("worker %s is not reading: %s not sent", self._worker_name(identity), parts[0])
            return FULL
        except zmq.ZMQError as exc:
            log.debug("cannot reach worker %s: %s", self._worker_name(identity), exc)
            return GONE
        finally:
            self.reader.poke()  # the send may have consumed the FD's signal: look for messages


SENT, FULL, GONE = "sent", "full", "gone"


async def _send_quietly(websocket: ServerConnection, text: str) -> None:
    with contextlib.suppress(ConnectionClosed):
        await websocket.send(text)




def main(config: IngestConfig) -> int:
    try:
        server = IngestServer(config)
    except ValueError as exc:  # a bad --track or --replicas
        log.error("%s", exc)
        return 2
    return service.main(lambda: server, log)


def _describe_capacity(capacity: wire.Capacity | None) -> str:
    if capacity is None:
        return "not given"
    sizes = ", ".join(f"{track} {mb:.0f}" for track, mb in capacity.instance_mb.items())
    return f"{capacity.memory_mb:.0f} MB, at most {capacity.instances} instances (MB each: {sizes})"


def _capacity_stats(worker) -> dict:
    """/stats: how full a worker is (its instances' memory, as it measured them)."""
    capacity = worker.capacity
    if capacity is None:
        return {}
    used = sum(capacity.instance_mb.get(track, 0.0) for _, track, _ in worker.seats)
    return {"memory_mb": round(used, 1), "memory_budget_mb": capacity.memory_mb,
            "instance_mb": capacity.instance_mb, "max_instances": capacity.instances}


def _busy_ms(ts: dict) -> float | None:
    """How long the worker spent on a frame (decode + inference), from the result's stamps."""
    start, end = ts.get("decode_start"), ts.get("infer_end")
    if isinstance(start, (int, float)) and isinstance(end, (int, float)) \
            and not isinstance(start, bool) and not isinstance(end, bool):
        return float(end - start)
    return None
