"""Ingest: cameras in over WebSocket, frames out to the landmarker pool, results on to the gateway.

One asyncio loop serves both sides: the camera sockets (cameras.py) and the workers'
ROUTER socket with the heartbeats (broker.py), which share the Dispatcher
(dispatcher.py: it decides, never touching a socket) and one set of counters. This
module puts them together and answers plain HTTP on the camera port: /healthz, /stats
and /metrics.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from live2d_pose import aio, httpserve, metrics, service
from live2d_pose.ingest import protocol
from live2d_pose.ingest.admission import Admission
from live2d_pose.ingest.broker import Broker
from live2d_pose.ingest.cameras import Cameras
from live2d_pose.ingest.dispatcher import Dispatcher, parse_replicas
from live2d_pose.ingest.metrics import ingest_registry
from live2d_pose.ingest.settings import IngestConfig
from live2d_pose.logs import ThrottledWarning
from live2d_pose.service import WebSocketService

log = logging.getLogger("live2d_pose.ingest")


class IngestServer(WebSocketService):
    name = "ingest"
    log = log
    websocket_routes = protocol.CAMERA_PATHS

    def __init__(self, config: IngestConfig):
        super().__init__(config)
        self.dispatcher = Dispatcher(
            config.worker_timeout,
            config.stream_affinity,
            config.worker_prefetch,
            config.frame_timeout,
            config.quarantine_after,
            replicas=parse_replicas(config.replicas),
        )
        self.totals = {
            "cameras": 0,
            "frames": 0,
            "rejected": 0,
            "rogue_messages": 0,
            "workers_dead": 0,
            "frames_lost": 0,
            "replaced": 0,
            "quarantined": 0,
            "results_forwarded": 0,
            "results_rejected": 0,
            "results_dropped": 0,
            "handshake_timeouts": 0,
            "refused_busy": 0,
            "origin_refused": 0,
            "refused_per_client": 0,
            "idle_timeouts": 0,
        }
        self.admission = Admission(
            config.max_handshakes, config.max_partial_bytes, protocol.CLOSE_TRY_LATER, aio.CLOSE_TIMEOUT
        )
        self.broker = Broker(config, self.zmq, self.dispatcher, self.totals)
        self.cameras = Cameras(config, self.dispatcher, self.broker, self.admission, self.totals)
        self.broker.cameras = self.cameras
        self.reader = self.broker.reader
        self.origins = httpserve.OriginPolicy(config.allowed_origins, same_origin=False)
        self.origin_refused = ThrottledWarning(log, self.totals, "origin_refused")
        self.metrics = ingest_registry(self)
        self.port = config.port  # the real one once listening (config may say 0)

    # ------------------------------------------------------------ lifecycle

    def listen_port(self) -> int:
        return self.config.port

    def serve_options(self) -> dict:
        return {
            "max_size": 2 * self.config.max_frame_bytes,  # our own check answers first
            "max_queue": 4,
            "open_timeout": self.config.handshake_timeout,  # the HTTP part of it
            "ping_interval": self.config.ping_interval,
            "ping_timeout": self.config.ping_timeout,
            "create_connection": self.admission.connection_class(),
        }

    def background(self):
        return self.broker.heartbeat_loop()

    def describe(self) -> str:
        return f"cameras ws://{self.config.host}:{self.port}/image, workers {self.broker.workers_endpoint}"

    def summary(self) -> dict:
        return self.totals | self.admission.counts

    def open_zmq(self) -> None:
        self.broker.open()

    async def handle(self, websocket: ServerConnection) -> None:
        await self.cameras.handle(websocket)

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
            self.origin_refused(
                "refused a camera connection from a web page at %r (not in --allowed-origins)",
                request.headers["Origin"][:200],
            )
        return refusal

    def stats(self) -> dict:
        """/stats: per stream its counters (sums over its lanes) and each lane's; workers; totals."""
        names = {w.identity: w.name for w in self.dispatcher.workers.values()}
        streams = {}
        for name, state in self.dispatcher.streams.items():
            camera = self.cameras.connected.get(name)
            lanes = {
                track: {
                    **lane.stats.as_dict(),
                    "workers": [names.get(w) for w in lane.workers],
                    "cost_ms": None if lane.cost_ms is None else round(lane.cost_ms, 2),
                }
                for track, lane in state.lanes.items()
            }
            first = next(iter(lanes.values()), {"workers": [None]})
            streams[name] = {
                **state.totals().as_dict(),
                "session": state.session,
                "tracks": list(state.lanes),
                "lanes": lanes,
                "worker": first["workers"][0],
                "throttled": camera.throttled if camera else 0,
                "rejected": camera.rejected if camera else 0,
            }
        workers = [
            {
                "name": w.name,
                "trackers": sorted(w.trackers),
                "in_flight": len(w.in_flight),
                "lanes": sorted(f"{s}/{t}" + (f"#{r}" if r else "") for s, t, r in w.seats),
                "frames_done": w.frames_done,
                **_capacity_stats(w),
            }
            for w in self.dispatcher.workers.values()
        ]
        totals = (
            self.totals
            | self.admission.counts
            | {"lanes_moved": self.dispatcher.moves, "seat_moves": self.dispatcher.seat_moves}
        )
        return {
            "streams": streams,
            "workers": workers,
            "totals": totals,
            "tracker_cost_ms": {t: round(ms, 2) for t, ms in self.dispatcher.tracker_cost_ms.items()},
            "lanes_unseated": self.dispatcher.unseated(),
            "handshaking": len(self.admission.handshaking),
            "partial_bytes": self.admission.partial_total,
        }


def main(config: IngestConfig) -> int:
    try:
        server = IngestServer(config)
    except ValueError as exc:  # a bad --track or --replicas
        log.error("%s", exc)
        return 2
    return service.main(lambda: server, log)


def _capacity_stats(worker) -> dict:
    """/stats: how full a worker is (its instances' memory, as it measured them)."""
    capacity = worker.capacity
    if capacity is None:
        return {}
    used = sum(capacity.instance_mb.get(track, 0.0) for _, track, _ in worker.seats)
    return {
        "memory_mb": round(used, 1),
        "memory_budget_mb": capacity.memory_mb,
        "instance_mb": capacity.instance_mb,
        "max_instances": capacity.instances,
    }
