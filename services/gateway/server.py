"""Gateway: results in over ZeroMQ, out to browsers over WebSocket; serves the viewer.

One port (8080) carries the viewer page, its /config.json, the /ws result
socket and the /streams, /healthz and /metrics endpoints, so the page needs no
CORS and OBS needs one URL. Results come from ingest only (which checked them
against the frames it sent); they are validated again and stamped. For each
stream someone watches, one rig solves them into motion (motion.py), encoded
once per update and variant; viewers that asked for raw landmarks get each
result encoded once. Each viewer's mailbox keeps the newest of each
(fanout.py). Takes are recorded here too (takes.py: every stream with
--record-dir; page_takes.py: the page's POST /record), and programs may
publish a take as a stream on /publish (played.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter

import zmq
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from live2d_pose import aio, httpserve, metrics, service, wire
from live2d_pose.gateway.metrics import GatewayMetrics
from live2d_pose.gateway.settings import GatewayConfig
from live2d_pose.gateway import pages
from live2d_pose.gateway.fanout import ANNOUNCE_INTERVAL, Fanout, Subscription, Viewer
from live2d_pose.gateway.motion import REST_STEP_MS, MotionHub
from live2d_pose.gateway.played import ROUTE as PUBLISH, Players
from live2d_pose.gateway.page_takes import ROUTES as TAKE_ROUTES, PageTakes
from live2d_pose.gateway.takes import Takes
from live2d_pose.logs import ThrottledWarning
from live2d_pose.service import ClientError, WebSocketService

log = logging.getLogger("live2d_pose.gateway")


class GatewayServer(WebSocketService):
    name = "gateway"
    log = log
    websocket_routes = ("/ws", PUBLISH)
    post_routes = TAKE_ROUTES
    port_flag = "--http-port"

    def __init__(self, config: GatewayConfig):
        self.model = pages.Model.from_setting(config.model)  # a URL, or a local file it serves
        super().__init__(config)
        self.fanout = Fanout(config.stream_timeout)
        # MAXMSGSIZE: ZeroMQ drops a bigger message before we see it.
        self.pull = self.zmq.socket(zmq.PULL, rcvhwm=256, maxmsgsize=wire.MAX_RESULT_MESSAGE_BYTES)
        self.reader = aio.SocketReader(self.pull, self._on_results_message)
        self.origins = httpserve.OriginPolicy(config.allowed_origins, same_origin=True)
        self.static = pages.StaticFiles(config.web_root)
        self.counters = {
            "results": 0,
            "results_stale": 0,
            "events": 0,
            "rogue_messages": 0,
            "viewers_total": 0,
            "viewers_rejected": 0,
            "messages_sent": 0,
            "viewers_refused_per_client": 0,
            "viewers_idle_closed": 0,
        }
        self.sockets: dict[Viewer, ServerConnection] = {}
        self.frames = aio.BinaryFrames()  # a message to many viewers framed once
        self.clients: Counter[str] = Counter()  # viewers per address
        self.idle_since: dict[Viewer, float] = {}  # viewers of a stream that is not live, since when
        self.closing: set[asyncio.Task] = set()  # referenced until done (asyncio keeps weak ones)
        self.rogue = ThrottledWarning(log, self.counters, "rogue_messages")
        self.metrics = GatewayMetrics(self)
        self.takes = Takes(
            config,
            self.fanout,
            self.counters,
            played=lambda stream: stream in self.players.playing or self.motion.played(stream),
        )
        self.page_takes = PageTakes(self.takes, config, self.fanout, self.counters)
        self.motion = MotionHub(self.fanout, self.counters, self.metrics.observe_motion, recorders=self.takes)
        self.players = Players(config, self.fanout, self.motion, self.counters)
        self.port = config.http_port
        self.results_endpoint = config.results_bind

    def listen_port(self) -> int:
        return self.config.http_port

    def serve_options(self) -> dict:
        return {"max_size": 4096, "max_queue": 4}  # viewers send nothing we read

    async def background(self):
        await asyncio.gather(
            self._expire_loop(),
            self._motion_loop(),
            self._announce_loop(),
            self.takes.run(),
            self.page_takes.run(),
            self.takes.recover_at_start(),
        )

    def describe(self) -> str:
        return f"viewer http://{self.config.host}:{self.port}/, results {self.results_endpoint}"

    def summary(self) -> dict:
        return self.counters

    def on_stop(self) -> None:
        for viewer in list(self.fanout.viewers):  # ends each viewer's send loop
            self.fanout.remove_viewer(viewer)
        self.takes.close()
        self.page_takes.close()

    def open_zmq(self) -> None:
        self.results_endpoint = self.zmq.bind(self.pull, self.config.results_bind, "--results-bind")

    # ------------------------------------------------------------ HTTP

    def route(self, connection: ServerConnection, request: Request, route: str) -> Response | None:
        if route == "/ws":
            refusal = self.origins.refusal(request)  # another site's page reading results
            self.counters["viewers_rejected"] += refusal is not None
            return refusal
        if route == PUBLISH:
            return self.players.refusal(request)  # programs publish, never web pages
        takes = self.page_takes.route(request, route)
        if takes is not None:
            return takes
        if route == "/healthz":
            return httpserve.text("ok\n")
        if route == "/config.json":
            return httpserve.json_body(
                {
                    "model": self.model.url,
                    "coreUrl": self.config.cubism_core_url,
                    "allowCoreParam": self.config.allow_core_param,
                    "wsPath": "/ws",
                }
            )
        if route == "/streams":
            return httpserve.json_body(
                [s.describe() | {"viewers": self._viewers_of(s.stream)} for s in self.fanout.streams.values()]
            )
        if route == "/metrics":
            return httpserve.text(metrics.render(self.metrics.registry), metrics.CONTENT_TYPE)
        return self.model.respond(route) or self.static.respond(route)

    def _viewers_of(self, stream: str) -> int:
        return sum(1 for v in self.fanout.viewers if v.following == stream)

    # ------------------------------------------------------------ viewers

    async def handle(self, websocket: ServerConnection) -> None:
        if websocket.request.path.partition("?")[0] == PUBLISH:
            await self.players.handle(websocket)
            return
        try:
            token, wanted = parse_viewer_query(websocket.request.path)
            subscription = parse_subscription(websocket.request.path)
            service.check_token(token, self.config.viewer_token, "viewer")
            self._check_room(aio.peer_host(websocket))
        except ClientError as exc:
            self.counters["viewers_rejected"] += 1
            await _send_error_and_close(websocket, exc)
            return
        viewer = self.fanout.add_viewer(wanted, subscription)
        client = aio.peer_host(websocket)
        self.sockets[viewer] = websocket
        self.clients[client] += 1
        self.counters["viewers_total"] += 1
        log.info(
            "viewer %s connected (stream=%s, %s, %d viewers)",
            aio.peer(websocket),
            wanted or "latest",
            describe(subscription),
            len(self.fanout.viewers),
        )
        sender = asyncio.create_task(self._send_loop(websocket, viewer))
        try:
            async for _ in websocket:  # viewers send nothing we need; read to notice the close
                pass
        except ConnectionClosed:
            pass
        finally:
            self.fanout.remove_viewer(viewer)
            del self.sockets[viewer]
            self.idle_since.pop(viewer, None)
            self.clients[client] -= 1
            if not self.clients[client]:
                del self.clients[client]
            sender.cancel()
            log.info(
                "viewer %s left after %d results, %d skipped",
                aio.peer(websocket),
                viewer.delivered,
                viewer.mailbox.overwritten,
            )

    def _check_room(self, client: str) -> None:
        if len(self.fanout.viewers) >= self.config.max_viewers:
            raise ClientError("too_many_viewers", f"{self.config.max_viewers} viewers already", aio.CLOSE_TRY_LATER)
        limit = self.config.max_viewers_per_client
        if limit and self.clients[client] >= limit:
            self.counters["viewers_refused_per_client"] += 1
            raise ClientError("too_many_from_client", f"{limit} viewers from {client} already", aio.CLOSE_TRY_LATER)

    def _close_idle_viewers(self, now: float) -> None:
        """Viewers of a named stream that is not live for viewer_idle_timeout are closed: they
        hold a slot for nothing (the page connects again). Viewers of the latest stream wait for
        one (an OBS source before the show, an output): they follow the first that starts."""
        timeout = self.config.viewer_idle_timeout
        for viewer in self.fanout.viewers:
            if viewer.following is not None or viewer.wanted is None:
                self.idle_since.pop(viewer, None)
            elif timeout > 0 and now - self.idle_since.setdefault(viewer, now) > timeout:
                del self.idle_since[viewer]  # once: it is closing
                self.counters["viewers_idle_closed"] += 1
                error = ClientError(
                    "no_stream",
                    f"stream {viewer.wanted!r} not live for {timeout:g} s; connect again when it is",
                    aio.CLOSE_TRY_LATER,
                )
                task = asyncio.ensure_future(_send_error_and_close(self.sockets[viewer], error, logging.INFO))
                self.closing.add(task)
                task.add_done_callback(self.closing.discard)

    async def _send_loop(self, websocket: ServerConnection, viewer: Viewer) -> None:
        """The viewer's sender: what its mailbox queues, in order, waiting while the browser is slow
        (the mailbox skips meanwhile); while it waits with nothing queued, the mailbox writes binary
        messages straight to the connection instead (``write``: no task wakes per message)."""

        def write(data: bytes) -> bool:
            if not aio.write_frame_now(websocket, self.frames.of(data)):
                return False
            viewer.delivered += 1
            self.counters["messages_sent"] += 1
            return True

        mailbox = viewer.mailbox
        with contextlib.suppress(ConnectionClosed):
            await websocket.send(json.dumps(self.fanout.hello()))
            while True:
                mailbox.writer = write
                try:
                    message = await mailbox.get()
                finally:
                    mailbox.writer = None
                if message is None:
                    break
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
            if self.fanout.offer(
                result.stream,
                result.seq,
                result.width,
                result.height,
                latency,
                result.encode,
                now,
                result.tracks,
                result.session,
            ):
                self.counters["results"] += 1
                self.motion.on_result(result, result.ts["gateway"])
            else:
                self.counters["results_stale"] += 1
        elif command == wire.EVENT:
            event = wire.decode_event(body)
            self.counters["events"] += 1
            if event["type"] == "stream":
                self.players.camera_started(event["stream"])  # a camera wins its name back from a player
                size = event["imageSize"]
                session = event.get("session") if isinstance(event.get("session"), int) else 0
                self.fanout.stream_started(
                    event["stream"], size["width"], size["height"], now, session, event["tracks"]
                )
            else:
                self.fanout.stream_ended(event["stream"], ended_at=now)
        else:
            raise wire.WireError(f"unknown command {command[:16]!r}")

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for stream in self.fanout.expire(time.monotonic()):
                log.info("stream %s: no results for %.0f s, marked ended", stream, self.config.stream_timeout)
            self._close_idle_viewers(time.monotonic())

    async def _announce_loop(self) -> None:
        """A stream change held back (fanout's ANNOUNCE_INTERVAL) goes out once its time has come."""
        while True:
            await asyncio.sleep(ANNOUNCE_INTERVAL / 5)
            self.fanout.announce_changes(time.monotonic())

    async def _motion_loop(self) -> None:
        """Rigs whose results stopped step toward rest on the gateway's clock (motion.py)."""
        while True:
            await asyncio.sleep(REST_STEP_MS / 1000)
            self.motion.tick(wire.now_ms())


def parse_viewer_query(path: str) -> tuple[str, str | None]:
    """(token, stream or None) from ``/ws?stream=ID&token=SECRET``; ClientError when unusable
    (a stream id held to the cameras' rule: it goes into the log line)."""
    params = service.parse_query(path)
    wanted = params.get("stream")
    return params.get("token", ""), service.check_stream_id(wanted) if wanted else None


_FLAGS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def parse_subscription(path: str) -> Subscription:
    """What a viewer wants from ``/ws?motion=1&landmarks=0&mirror=1`` (those are the defaults);
    ClientError ``bad_query`` for a value that is not a flag."""
    params = service.parse_query(path)
    flags = {}
    for name, default in (("motion", True), ("landmarks", False), ("mirror", True)):
        value = params.get(name)
        if value is not None and value.lower() not in _FLAGS:
            raise ClientError("bad_query", f"{name}={value[:32]!r} is not 0 or 1", aio.CLOSE_POLICY)
        flags[name] = default if value is None else _FLAGS[value.lower()]
    return Subscription(**flags)


def describe(subscription: Subscription) -> str:
    wants = [w for w, on in (("motion", subscription.motion), ("landmarks", subscription.landmarks)) if on]
    mirror = ", mirrored" if subscription.motion and subscription.mirror else ""
    return (" + ".join(wants) or "nothing but control messages") + mirror


async def _send_error_and_close(websocket: ServerConnection, exc: ClientError, level: int = logging.WARNING) -> None:
    log.log(level, "viewer %s closed: %s (%s)", aio.peer(websocket), exc.message, exc.code)
    with contextlib.suppress(ConnectionClosed):
        await websocket.send(exc.to_message())
        await websocket.close(exc.close_code or aio.CLOSE_POLICY, exc.code)


def main(config: GatewayConfig) -> int:
    return service.main(lambda: GatewayServer(config), log)
