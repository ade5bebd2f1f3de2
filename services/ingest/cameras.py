"""Ingest's camera side: the camera WebSockets, their handshake, limits and frames.

The origin project's protocol (initialized -> imageSize -> ok -> ready -> binary JPEG
frames) with its checks in protocol.py; each frame goes to the Dispatcher, whose
actions the broker (broker.py) carries out. Ingest never decodes an image (it only
reads headers, see imageinfo.py) and never waits on a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request

from live2d_pose import aio, service, trackers, wire
from live2d_pose.ingest import protocol
from live2d_pose.ingest.admission import Admission
from live2d_pose.ingest.broker import Broker
from live2d_pose.ingest.dispatcher import Dispatcher, PendingFrame
from live2d_pose.ingest.settings import IngestConfig
from live2d_pose.service import ClientError

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
    tracks: tuple[str, ...] = trackers.UNTAGGED
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


class Cameras:
    """The connected cameras (``connected``: stream -> Camera) and the handling of each socket."""

    def __init__(
        self, config: IngestConfig, dispatcher: Dispatcher, broker: Broker, admission: Admission, totals: dict
    ):
        self.config = config
        self.dispatcher = dispatcher
        self.broker = broker
        self.admission = admission
        self.totals = totals
        self.default_tracks = trackers.parse_tracks(config.track)
        self.connected: dict[str, Camera] = {}
        self.background = aio.Background()  # sends that nobody waits for, held until done

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
        request = protocol.parse_request_path(_request(websocket).path)
        service.check_token(request.token, self.config.camera_token, "camera")
        stream = request.stream or protocol.new_stream_id()
        camera = Camera(stream, websocket, request.track or self.default_tracks)
        self._check_room(camera)
        await websocket.send(json.dumps({"type": "initialized"}))
        await self._await_image_size(camera)
        # Checked again with no await before the insert: cameras racing the handshake
        # must not all pass the first check and register more than there is room for.
        previous = self.connected.get(stream)
        self._check_room(camera)
        self.connected[stream] = camera
        self.admission.registered(websocket)
        if previous is not None:  # the same camera reconnecting before its old socket timed out
            self._hand_over(previous, camera)
        self.totals["cameras"] += 1
        self.broker.execute(self.dispatcher.add_stream(stream, camera.tracks, time.monotonic(), camera.session))
        self._announce(camera)
        await websocket.send(
            json.dumps(
                {
                    "type": "ready",
                    "stream": stream,
                    "track": list(camera.tracks),
                    "viewer": self._viewer_url(websocket, stream),
                }
            )
        )
        log.info(
            "stream %s opened from %s (%dx%d, track %s)",
            stream,
            aio.peer(websocket),
            camera.width,
            camera.height,
            ",".join(camera.tracks),
        )
        return camera

    def _check_room(self, camera: Camera) -> None:
        """Refuse a camera (1013, try later) when max_streams cameras are connected, or
        max_streams_per_client from its address, or when its lanes would not fit on the workers
        (their memory for MediaPipe instances is full). The same camera reconnecting (its stream
        is connected) keeps its place."""
        if camera.stream not in self.connected:
            if len(self.connected) >= self.config.max_streams:
                raise ClientError(
                    "too_many_streams",
                    f"{self.config.max_streams} cameras are already connected",
                    protocol.CLOSE_TRY_LATER,
                )
            limit = self.config.max_streams_per_client
            if limit and sum(c.client == camera.client for c in self.connected.values()) >= limit:
                self.totals["refused_per_client"] += 1
                raise ClientError(
                    "too_many_from_client",
                    f"{limit} cameras from {camera.client} are already connected",
                    protocol.CLOSE_TRY_LATER,
                )
        if not self.dispatcher.has_room(camera.stream, camera.tracks):
            self.totals["refused_busy"] += 1
            raise ClientError(
                "busy",
                f"the workers hold as many MediaPipe instances as their memory "
                f"allows ({len(self.connected)} cameras); try again later",
                protocol.CLOSE_TRY_LATER,
            )

    def _hand_over(self, previous: Camera, camera: Camera) -> None:
        """The same camera reconnecting before its old socket timed out (a JetBot on flaky Wi-Fi):
        the stream goes on. Its lanes keep their workers and MediaPipe instances, seq numbers
        continue, and only the session changes, so results say which connection they belong to.
        The old connection is told why it is closed (and the camera client backs off on it)."""
        camera.seq = previous.seq
        self.totals["replaced"] += 1
        log.info(
            "stream %s: a new connection from %s replaces the one from %s",
            camera.stream,
            aio.peer(camera.websocket),
            aio.peer(previous.websocket),
        )
        error = ClientError(
            "replaced", f"another connection took over stream {camera.stream!r}", protocol.CLOSE_REPLACED
        )
        self.background.spawn(self._reject(previous.websocket, error, level=logging.INFO))

    async def _await_image_size(self, camera: Camera) -> None:
        """Within handshake_timeout of connecting (websockets' open_timeout bounds the HTTP part)."""
        accepted_at = getattr(camera.websocket, "accepted_at", time.monotonic())  # set by Admission's connections
        left = self.config.handshake_timeout - (time.monotonic() - accepted_at)
        try:
            await asyncio.wait_for(self._read_image_size(camera), max(0.0, left))
        except asyncio.TimeoutError:
            self.totals["handshake_timeouts"] += 1
            raise ClientError(
                "handshake_timeout",
                f"no imageSize within {self.config.handshake_timeout} s of connecting",
                protocol.CLOSE_POLICY,
            ) from None

    async def _read_image_size(self, camera: Camera) -> None:
        bad = protocol.BadFrameCounter()
        async for message in camera.websocket:
            try:
                if isinstance(message, bytes):
                    raise ClientError(
                        "no_image_size", 'send {"imageSize": {"width": W, "height": H}} before the first frame'
                    )
                camera.width, camera.height = protocol.parse_image_size(
                    message, self.config.max_text_bytes, self.config.max_pixels
                )
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
            return await asyncio.wait_for(
                camera.websocket.recv(), max(0.0, camera.last_frame + timeout - time.monotonic())
            )
        except asyncio.TimeoutError:
            self.totals["idle_timeouts"] += 1
            raise ClientError(
                "idle_timeout", f"no frame for {timeout:g} s; closed to free the slot", protocol.CLOSE_TRY_LATER
            ) from None

    async def _take_message(self, camera: Camera, message: str | bytes, bad: protocol.BadFrameCounter) -> None:
        try:
            if isinstance(message, str):
                await self._change_image_size(camera, message)
                return
            protocol.check_frame(
                message, self.config.max_frame_bytes, self.config.max_pixels, self.config.max_scan_pixels
            )
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
            text, self.config.max_text_bytes, self.config.max_pixels
        )
        await camera.websocket.send(json.dumps({"type": "ok"}))
        self._announce(camera)

    def _submit(self, camera: Camera, image: bytes) -> None:
        if self.connected.get(camera.stream) is not camera:
            return  # a replaced connection's last frames: the new connection owns the stream
        camera.seq += 1
        camera.last_frame = time.monotonic()
        self.totals["frames"] += 1
        meta = wire.FrameMeta(
            camera.stream, camera.seq, camera.width, camera.height, wire.now_ms(), session=camera.session
        )
        self.broker.execute(self.dispatcher.submit(PendingFrame(meta, image), time.monotonic()))
        if camera.seq % 50 == 0:  # every 50 frames: a restarted gateway learns sizes again
            self._announce(camera)

    def _close_camera(self, camera: Camera) -> None:
        if self.connected.get(camera.stream) is not camera:
            return  # replaced by a newer connection of the same stream: the stream goes on
        del self.connected[camera.stream]
        state = self.dispatcher.streams.get(camera.stream)
        stats = state.totals() if state else None
        self.broker.execute(self.dispatcher.remove_stream(camera.stream, time.monotonic()))
        self.broker.send_event({"type": "ended", "stream": camera.stream})
        if state is not None and stats is not None:
            log.info(
                "stream %s closed after %.1f s: received=%d processed=%d dropped=%d lost=%d "
                "errors=%d rejected=%d throttled=%d mean_latency=%.1f ms (sums over %d lanes)",
                camera.stream,
                time.monotonic() - camera.opened,
                stats.received,
                stats.done,
                stats.dropped,
                stats.lost,
                stats.errors,
                camera.rejected,
                camera.throttled,
                stats.mean_latency_ms,
                len(state.lanes),
            )

    async def _reject(self, websocket: ServerConnection, exc: ClientError, level: int = logging.WARNING) -> None:
        log.log(level, "camera %s rejected: %s (%s)", aio.peer(websocket), exc.message, exc.code)
        with contextlib.suppress(ConnectionClosed):
            await websocket.send(exc.to_message())
            await websocket.close(exc.close_code or protocol.CLOSE_WRONG_DATA, exc.code)

    async def _warn(self, websocket: ServerConnection, exc: ClientError) -> None:
        log.debug("camera %s: %s", aio.peer(websocket), exc.message)
        await websocket.send(exc.to_message())

    def _viewer_url(self, websocket: ServerConnection, stream: str) -> str:
        base = self.config.viewer_url
        if not base:
            host = _request(websocket).headers.get("Host", "localhost")
            # The address the camera used to reach us reaches the gateway too (same host).
            base = f"http://{urlsplit('//' + host).hostname or 'localhost'}:{self.config.viewer_port}/"
        separator = "&" if "?" in base else "?"
        return f"{base}{separator}stream={stream}"

    def _announce(self, camera: Camera) -> None:
        self.broker.send_event(
            {
                "type": "stream",
                "stream": camera.stream,
                "session": camera.session,
                "tracks": list(camera.tracks),
                "imageSize": {"width": camera.width, "height": camera.height},
            }
        )

    def relay_error(self, result: wire.Result) -> None:
        camera, error = self.connected.get(result.stream), result.error
        if camera is None or error is None or camera.session != result.session or not camera.error_limiter.allow():
            return
        message = {
            "type": "error",
            "code": str(error.get("code", "frame_error")),
            "message": str(error.get("message", "")),
            "seq": result.seq,
            "track": result.tracks[0],
        }
        self.background.spawn(_send_quietly(camera.websocket, json.dumps(message)))

    def quarantine(self, stream: str) -> None:
        camera = self.connected.get(stream)
        if camera is None:
            return
        self.totals["quarantined"] += 1
        error = ClientError(
            "stream_quarantined",
            f"{self.config.quarantine_after} frames of stream "
            f"{stream!r} in a row cost a worker (lost, over the deadline, or too slow "
            "to decode); the stream is closed",
            protocol.CLOSE_POLICY,
        )
        self.background.spawn(self._reject(camera.websocket, error))


async def _send_quietly(websocket: ServerConnection, text: str) -> None:
    with contextlib.suppress(ConnectionClosed):
        await websocket.send(text)


def _request(websocket: ServerConnection) -> Request:
    """The opening handshake's request (a handler runs only once there is one)."""
    assert websocket.request is not None
    return websocket.request
