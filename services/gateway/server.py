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
import hmac
import json
import logging
import time
from http import HTTPStatus
from urllib.parse import parse_qs

import zmq
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from live2d_pose import aio, curve, wire
from live2d_pose.config import GatewayConfig, redacted
from live2d_pose.gateway import pages
from live2d_pose.gateway.fanout import Fanout, Viewer

log = logging.getLogger("live2d_pose.gateway")




class GatewayServer:
    def __init__(self, config: GatewayConfig):
        self.config = config
        self.fanout = Fanout(config.stream_timeout)
        # A plain PULL socket read from the event loop (aio.SocketReader): far less work
        # per result than zmq.asyncio's future per receive.
        self.context = zmq.Context()
        self.pull = self.context.socket(zmq.PULL)
        self.reader = aio.SocketReader(self.pull, self._on_results_message)
        self.stopping = asyncio.Event()
        self.allowed_origins = {o.strip() for o in config.allowed_origins.split(",") if o.strip()}
        self.static = pages.StaticFiles(config.web_root)
        self.counters = {"results": 0, "results_stale": 0, "events": 0, "rogue_messages": 0,
                         "viewers_total": 0, "viewers_rejected": 0, "messages_sent": 0}
        self.port = config.http_port
        self.results_endpoint = config.results_bind

    async def run(self) -> None:
        self._open_zmq()
        aio.stop_on_signals(self.stopping)
        async with serve(self._handle_viewer, self.config.host, self.config.http_port,
                         process_request=self._process_request, max_size=4096, max_queue=4,
                         ping_interval=aio.PING_INTERVAL, ping_timeout=aio.PING_TIMEOUT,
                         close_timeout=aio.CLOSE_TIMEOUT, compression=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            log.info("gateway listening: viewer http://%s:%d/, results %s; settings %s",
                     self.config.host, self.port, self.results_endpoint, redacted(self.config))
            await aio.serve_until_stopped(server, self.stopping, self.reader, self._expire_loop(),
                                          on_stop=self._on_stop)
        self.pull.close(linger=100)
        self.context.term()
        log.info("gateway stopped: %s", self.counters)

    def _on_stop(self) -> None:
        log.info("gateway stopping")
        for viewer in list(self.fanout.viewers):  # ends each viewer's send loop
            self.fanout.remove_viewer(viewer)

    def _open_zmq(self) -> None:
        self.pull.setsockopt(zmq.RCVHWM, 256)
        self.pull.setsockopt(zmq.MAXMSGSIZE, wire.MAX_RESULT_MESSAGE_BYTES)  # bigger: dropped by ZeroMQ
        curve.make_server(self.pull, self.config.curve_secret_key_file)  # before bind
        self.pull.bind(self.config.results_bind)
        self.results_endpoint = self.pull.last_endpoint.decode()  # the real port when it says :0

    # ------------------------------------------------------------ HTTP

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        route = request.path.partition("?")[0]
        if route == "/ws":
            origin = request.headers.get("Origin")
            if self.allowed_origins and origin is not None and origin not in self.allowed_origins:
                self.counters["viewers_rejected"] += 1
                return connection.respond(HTTPStatus.FORBIDDEN, f"origin {origin!r} is not allowed\n")
            return None
        if route == "/healthz":
            return connection.respond(HTTPStatus.OK, "ok\n")
        if route == "/config.json":
            return pages.json_response(connection, {
                "model": self.config.model, "coreUrl": self.config.cubism_core_url,
                "allowCoreParam": self.config.allow_core_param, "wsPath": "/ws"})
        if route == "/streams":
            return pages.json_response(connection, [s.describe() | {"viewers": self._viewers_of(s.stream)}
                                                   for s in self.fanout.streams.values()])
        if route == "/metrics":
            return pages.text_response(connection, self._metrics(), "text/plain; version=0.0.4")
        return self.static.respond(connection, route)

    def _viewers_of(self, stream: str) -> int:
        return sum(1 for v in self.fanout.viewers if v.following == stream)

    def _metrics(self) -> str:
        lines = [
            "# TYPE live2d_pose_gateway_results_total counter",
            f"live2d_pose_gateway_results_total {self.counters['results']}",
            "# TYPE live2d_pose_gateway_results_stale_total counter",
            f"live2d_pose_gateway_results_stale_total {self.counters['results_stale']}",
            "# TYPE live2d_pose_gateway_rogue_messages_total counter",
            f"live2d_pose_gateway_rogue_messages_total {self.counters['rogue_messages']}",
            "# TYPE live2d_pose_gateway_viewers gauge",
            f"live2d_pose_gateway_viewers {len(self.fanout.viewers)}",
            "# TYPE live2d_pose_gateway_viewer_frames_skipped_total counter",
            "live2d_pose_gateway_viewer_frames_skipped_total "
            f"{sum(v.mailbox.overwritten for v in self.fanout.viewers)}",
            "# TYPE live2d_pose_stream_fps gauge",
            "# TYPE live2d_pose_stream_latency_ms gauge",
        ]
        for info in self.fanout.streams.values():
            label = json.dumps(info.stream)  # stream ids are restricted to [A-Za-z0-9._-]
            lines.append(f"live2d_pose_stream_fps{{stream={label}}} {info.fps:.3f}")
            lines.append(f"live2d_pose_stream_latency_ms{{stream={label}}} {info.latency_ms:.3f}")
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------ viewers

    async def _handle_viewer(self, websocket: ServerConnection) -> None:
        try:
            token, wanted = parse_viewer_query(websocket.request.path)
        except ViewerError as exc:
            token, wanted = None, None
            refusal = (aio.CLOSE_POLICY, exc.code, str(exc))
        else:
            refusal = self._refusal(token)
        if refusal:
            self.counters["viewers_rejected"] += 1
            await _send_error_and_close(websocket, *refusal)
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

    def _refusal(self, token: str) -> tuple[int, str, str] | None:
        if self.config.viewer_token and not hmac.compare_digest(token.encode(),
                                                                self.config.viewer_token.encode()):
            return aio.CLOSE_POLICY, "unauthorized", "missing or wrong viewer token"
        if len(self.fanout.viewers) >= self.config.max_viewers:
            return aio.CLOSE_TRY_LATER, "too_many_viewers", f"{self.config.max_viewers} viewers already"
        return None

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
            self.counters["rogue_messages"] += 1
            if self.counters["rogue_messages"] <= 10 or self.counters["rogue_messages"] % 1000 == 0:
                log.warning("ignored a malformed message (%d so far): %s",
                            self.counters["rogue_messages"], exc)

    def _on_message(self, parts: list[bytes]) -> None:
        if len(parts) != 2:
            raise wire.WireError(f"expected 2 parts, got {len(parts)}")
        command, body = parts
        now = time.monotonic()
        if command == wire.RESULT:
            result = wire.Result.decode(body)
            result.ts["gateway"] = wire.now_ms()
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


class ViewerError(ValueError):
    """A /ws request the gateway refuses before it becomes a viewer."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def parse_viewer_query(path: str) -> tuple[str, str | None]:
    """(token, stream or None) from ``/ws?stream=ID&token=SECRET``; ViewerError when unusable."""
    try:
        params = parse_qs(path.partition("?")[2], max_num_fields=16)
    except ValueError:  # more than 16 fields
        raise ViewerError("bad_query", "too many query parameters") from None
    wanted = params.get("stream", [None])[0]
    return params.get("token", [""])[0], wanted[:wire.MAX_STREAM_ID_LENGTH] if wanted else None


async def _send_error_and_close(websocket: ServerConnection, close_code: int, code: str,
                                message: str) -> None:
    log.warning("viewer %s refused: %s", aio.peer(websocket), message)
    with contextlib.suppress(ConnectionClosed):
        await websocket.send(json.dumps({"type": "error", "code": code, "message": message}))
        await websocket.close(close_code, code)




def main(config: GatewayConfig) -> int:
    try:
        aio.run(GatewayServer(config).run())
    except curve.CurveError as exc:
        log.error("%s", exc)
        return 2
    return 0
