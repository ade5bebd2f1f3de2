"""Gateway: results in over ZeroMQ, out to browsers over WebSocket; serves the viewer.

One port (8080) carries the viewer page, its /config.json, the /ws result
socket and the /streams, /healthz and /metrics endpoints, so the page needs no
CORS and OBS needs one URL. Results come from ingest only (which checked them
against the frames it sent); they are validated again, stamped and encoded
once, then handed to each viewer's mailbox, which keeps the newest result per
tracker (fanout.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import zmq
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from live2d_pose import aio, httpserve, metrics, service, wire
from live2d_pose.config import GatewayConfig
from live2d_pose.gateway import pages
from live2d_pose.gateway.fanout import Fanout, Viewer
from live2d_pose.logs import ThrottledWarning
from live2d_pose.service import ClientError, WebSocketService

log = logging.getLogger("live2d_pose.gateway")




class GatewayServer(WebSocketService):
    name = "gateway"
    log = log
    websocket_routes = ("/ws",)

    def __init__(self, config: GatewayConfig):
        super().__init__(config)
        self.fanout = Fanout(config.stream_timeout)
        # MAXMSGSIZE: ZeroMQ drops a bigger message before we see it.
        self.pull = self.zmq.socket(zmq.PULL, rcvhwm=256, maxmsgsize=wire.MAX_RESULT_MESSAGE_BYTES)
        self.reader = aio.SocketReader(self.pull, self._on_results_message)
        self.origins = httpserve.OriginPolicy(config.allowed_origins, same_origin=True)
        self.static = pages.StaticFiles(config.web_root)
        self.counters = {"results": 0, "results_stale": 0, "events": 0, "rogue_messages": 0,
                         "viewers_total": 0, "viewers_rejected": 0, "messages_sent": 0}
        self.rogue = ThrottledWarning(log, self.counters, "rogue_messages")
        self.metrics = metrics.GatewayMetrics(self)
        self.port = config.http_port
        self.results_endpoint = config.results_bind

    def listen_port(self) -> int:
        return self.config.http_port

    def serve_options(self) -> dict:
        return {"max_size": 4096, "max_queue": 4}  # viewers send nothing we read

    def background(self):
        return self._expire_loop()

    def describe(self) -> str:
        return f"viewer http://{self.config.host}:{self.port}/, results {self.results_endpoint}"

    def summary(self) -> dict:
        return self.counters

    def on_stop(self) -> None:
        for viewer in list(self.fanout.viewers):  # ends each viewer's send loop
            self.fanout.remove_viewer(viewer)

    def open_zmq(self) -> None:
        self.results_endpoint = self.zmq.bind(self.pull, self.config.results_bind)

    # ------------------------------------------------------------ HTTP

    def route(self, connection: ServerConnection, request: Request, route: str) -> Response | None:
        if route == "/ws":
            refusal = self.origins.refusal(request)  # another site's page reading results
            self.counters["viewers_rejected"] += refusal is not None
            return refusal
        if route == "/healthz":
            return httpserve.text("ok\n")
        if route == "/config.json":
            return httpserve.json_body({
                "model": self.config.model, "coreUrl": self.config.cubism_core_url,
                "allowCoreParam": self.config.allow_core_param, "wsPath": "/ws"})
        if route == "/streams":
            return httpserve.json_body([s.describe() | {"viewers": self._viewers_of(s.stream)}
                                        for s in self.fanout.streams.values()])
        if route == "/metrics":
            return httpserve.text(metrics.render(self.metrics.registry), metrics.CONTENT_TYPE)
        return self.static.respond(route)

    def _viewers_of(self, stream: str) -> int:
        return sum(1 for v in self.fanout.viewers if v.following == stream)

    # ------------------------------------------------------------ viewers

    async def handle(self, websocket: ServerConnection) -> None:
        try:
            token, wanted = parse_viewer_query(websocket.request.path)
            service.check_token(token, self.config.viewer_token, "viewer")
            if len(self.fanout.viewers) >= self.config.max_viewers:
                raise ClientError("too_many_viewers", f"{self.config.max_viewers} viewers already",
                                  aio.CLOSE_TRY_LATER)
        except ClientError as exc:
            self.counters["viewers_rejected"] += 1
            await _send_error_and_close(websocket, exc)
            return
        viewer = self.fanout.add_viewer(wanted)
        self.counters["viewers_total"] += 1
        log.info("viewer %s connected (stream=%s, %d viewers)", aio.peer(websocket), wanted or "latest",
                 len(self.fanout.viewers))
        sender = asyncio.create_task(self._send_loop(websocket, viewer))
        try:
            async for _ in websocket:  # viewers send nothing we need; read to notice the close
                pass
        except ConnectionClosed:
            pass
        finally:
            self.fanout.remove_viewer(viewer)
            sender.cancel()
            log.info("viewer %s left after %d results, %d skipped", aio.peer(websocket), viewer.delivered,
                     viewer.mailbox.overwritten)

    async def _send_loop(self, websocket: ServerConnection, viewer: Viewer) -> None:
        with contextlib.suppress(ConnectionClosed):
            await websocket.send(json.dumps(self.fanout.hello()))
            while (message := await viewer.mailbox.get()) is not None:
                await websocket.send(message)  # waits while the browser is slow; mailbox skips
                if isinstance(message, bytes):
                    viewer.delivered += 1
                self.counters["messages_sent"] += 1

    # ------------------------------------------------------------ results

    def _on_results_message(self, parts: list[bytes]) -> None:
        try:
            self._on_message(parts)
        except wire.WireError as exc:
            self.rogue("ignored a malformed message: %s", exc)

    def _on_message(self, parts: list[bytes]) -> None:
        if len(parts) != 2:
            raise wire.WireError(f"expected 2 parts, got {len(parts)}")
        command, body = parts
        now = time.monotonic()
        if command == wire.RESULT:
            result = wire.Result.decode(body)
            result.ts["gateway"] = wire.now_ms()
            self.metrics.observe(result.ts)
            latency = result.ts["gateway"] - result.ts.get("ingest", result.ts["gateway"])
            if self.fanout.offer(result.stream, result.seq, result.width, result.height, latency,
                                 result.encode(), now, result.tracks, result.session):
                self.counters["results"] += 1
            else:
                self.counters["results_stale"] += 1
        elif command == wire.EVENT:
            event = wire.decode_event(body)
            self.counters["events"] += 1
            if event["type"] == "stream":
                size = event["imageSize"]
                session = event.get("session") if isinstance(event.get("session"), int) else 0
                self.fanout.stream_started(event["stream"], size["width"], size["height"], now, session,
                                           event["tracks"])
            else:
                self.fanout.stream_ended(event["stream"], ended_at=now)
        else:
            raise wire.WireError(f"unknown command {command[:16]!r}")

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for stream in self.fanout.expire(time.monotonic()):
                log.info("stream %s: no results for %.0f s, marked ended", stream,
                         self.config.stream_timeout)


def parse_viewer_query(path: str) -> tuple[str, str | None]:
    """(token, stream or None) from ``/ws?stream=ID&token=SECRET``; ClientError when unusable."""
    params = service.parse_query(path)
    wanted = params.get("stream")
    return params.get("token", ""), wanted[:wire.MAX_STREAM_ID_LENGTH] if wanted else None


async def _send_error_and_close(websocket: ServerConnection, exc: ClientError) -> None:
    log.warning("viewer %s refused: %s", aio.peer(websocket), exc.message)
    with contextlib.suppress(ConnectionClosed):
        await websocket.send(exc.to_message())
        await websocket.close(exc.close_code or aio.CLOSE_POLICY, exc.code)


def main(config: GatewayConfig) -> int:
    return service.main(lambda: GatewayServer(config), log)
