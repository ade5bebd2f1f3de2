"""Ingest's worker side: the landmarkers' ROUTER socket, the Dispatcher's actions carried out,
results checked and forwarded to the gateway, and the heartbeats.

The Dispatcher (dispatcher.py) decides and never touches a socket; the Broker only moves
bytes. It accepts a worker's result only for a frame it sent to that worker (same
stream, tracker, seq and session) and forwards it to the gateway, so the gateway hears
from ingest alone. What concerns a camera (a frame error to relay, a stream to close)
goes back to the camera side through the two methods of :class:`CameraDesk`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

import zmq

from live2d_pose import aio, curve, wire
from live2d_pose.ingest.dispatcher import Actions, Dispatcher
from live2d_pose.ingest.settings import IngestConfig
from live2d_pose.logs import ThrottledWarning
from live2d_pose.service import ZmqSockets

log = logging.getLogger("live2d_pose.ingest")

SENT, FULL, GONE = "sent", "full", "gone"


class CameraDesk(Protocol):
    """What the worker side asks of the camera side."""

    def relay_error(self, result: wire.Result) -> None:
        """A worker's error for a frame: tell its camera (rate-limited)."""

    def quarantine(self, stream: str) -> None:
        """The stream's frames keep costing workers: close its camera."""


class Broker:
    """The landmarker pool and the gateway link, on plain ZeroMQ sockets read from the event loop."""

    def __init__(self, config: IngestConfig, sockets: ZmqSockets, dispatcher: Dispatcher, totals: dict):
        self.config = config
        self.zmq = sockets
        self.dispatcher = dispatcher
        self.totals = totals
        self.cameras: CameraDesk | None = None  # set by the server once the camera side exists
        # A ROUTER send with NOBLOCK never waits; ROUTER_MANDATORY: a vanished worker raises,
        # never drops silently; MAXMSGSIZE: ZeroMQ drops a bigger message before we see it.
        self.router = sockets.socket(
            zmq.ROUTER, router_mandatory=1, sndhwm=16, rcvhwm=1000, maxmsgsize=wire.MAX_RESULT_MESSAGE_BYTES
        )
        self.reader = aio.SocketReader(self.router, self._on_router_message)
        self.events = sockets.socket(
            zmq.PUSH, sndhwm=100, linger=100, maxmsgsize=wire.MAX_RESULT_MESSAGE_BYTES
        )  # it receives nothing
        self.rogue = ThrottledWarning(log, totals, "rogue_messages")
        self.results_rejected = ThrottledWarning(log, totals, "results_rejected")
        self.workers_endpoint = config.workers_bind  # the real one once bound

    def open(self) -> None:
        self.workers_endpoint = self.zmq.bind(self.router, self.config.workers_bind, "--workers-bind")
        server_key = self.config.curve_server_key or (
            curve.load_secret(self.config.curve_secret_key_file)[0] if self.config.curve_secret_key_file else ""
        )
        # Ingest's identity toward the gateway (its allow-list) is its own server pair.
        self.zmq.connect(self.events, self.config.gateway, server_key, self.config.curve_secret_key_file)

    # ------------------------------------------------------------ the gateway

    def send_event(self, event: dict) -> None:
        with contextlib.suppress(zmq.Again):  # gateway away: it learns streams from results too
            self.events.send_multipart([wire.EVENT, wire.encode_map(event)], flags=zmq.NOBLOCK)

    def _forward_result(self, body: bytes) -> None:
        try:
            self.events.send_multipart([wire.RESULT, body], flags=zmq.NOBLOCK, copy=False)
            self.totals["results_forwarded"] += 1
        except zmq.Again:  # the gateway is away or not keeping up: counted, never queued without bound
            self.totals["results_dropped"] += 1

    # ------------------------------------------------------------ the workers

    def _on_router_message(self, parts: list[bytes]) -> None:
        try:
            actions = self._on_worker_message(parts)
        except wire.WireError as exc:
            self.rogue("ignored a malformed worker message: %s", exc)
            return
        self.execute(actions)

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
                log.info(
                    "worker %s joined, runs %s, capacity %s (%d workers)",
                    name,
                    ",".join(info["trackers"]),
                    _describe_capacity(info["capacity"]),
                    len(self.dispatcher.workers) + 1,
                )
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
            identity,
            result.stream,
            result.tracks[0],
            result.seq,
            result.session,
            done["replica"],
            str(error.get("code", "frame_error")) if error else None,
            now,
            latency if isinstance(latency, (int, float)) else 0.0,
            _busy_ms(result.ts),
        )
        if not accepted:
            self.results_rejected(
                "ignored a result for %s/%s frame %d that worker %s does not hold",
                result.stream,
                result.tracks[0],
                result.seq,
                self.worker_name(identity),
            )
            return actions
        if error is not None and error.get("code") == wire.WARMING_UP:
            return actions  # not served: the frame went back to its lane
        self._forward_result(body)
        if error is not None and self.cameras is not None:
            self.cameras.relay_error(result)
        return actions

    def worker_name(self, identity: bytes) -> str:
        worker = self.dispatcher.workers.get(identity)
        return worker.name if worker else identity.hex()[:16]

    async def heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_interval)
            gone = [
                identity
                for identity in list(self.dispatcher.workers)
                if self._send_worker(identity, [wire.HEARTBEAT]) == GONE
            ]
            self._drop_disconnected(gone)
            moves = self.dispatcher.moves
            actions = self.dispatcher.expire(time.monotonic())
            if self.dispatcher.moves != moves:
                self._log_move(actions)
            self.execute(actions)

    def _log_move(self, actions: Actions) -> None:
        old, (stream, track, replica) = actions.end[-1]  # the rebalance's END comes last
        new = self.dispatcher.streams[stream].lanes[track].workers[replica]
        costs = ", ".join(f"{t} {ms:.1f}" for t, ms in self.dispatcher.tracker_cost_ms.items())
        log.info(
            "lane %s/%s moved from worker %s to %s: measured costs (ms a frame) %s",
            stream,
            track,
            self.worker_name(old),
            self.worker_name(new) if new else "none",
            costs,
        )

    def _drop_disconnected(self, identities: list[bytes]) -> None:
        """Workers whose connection is gone (a killed process): move their lanes now, not after
        worker_timeout (a stuck worker with a live connection still waits for that)."""
        for identity in dict.fromkeys(identities):  # each once, however many sends failed
            if identity in self.dispatcher.workers:
                log.warning("worker %s disconnected: its lanes move", self.worker_name(identity))
                self.totals["workers_dead"] += 1
                self.execute(self.dispatcher.worker_gone(identity, time.monotonic()))

    def execute(self, actions: Actions) -> None:
        """Carry out what the Dispatcher decided: log deaths and losses, send ENDs and frames."""
        for _, name, why in actions.dead:
            self.totals["workers_dead"] += 1
            log.warning("worker %s declared dead (%s): its lanes move", name, why)
        for record in actions.lost:
            self.totals["frames_lost"] += 1
            log.warning("stream %s: frame %d (%s) lost with its worker", record.stream, record.seq, record.track)
        for identity in actions.rejoin:
            self._send_worker(identity, [wire.REJOIN])
        for stream in actions.quarantine:
            if self.cameras is not None:
                self.cameras.quarantine(stream)
        for identity, (stream, track, replica) in actions.end:
            self._send_worker(
                identity, [wire.END, wire.encode_map({"stream": stream, "track": track, "replica": replica})]
            )
        gone = []
        for identity, frame in actions.dispatch:
            frame.meta.ts_dispatch = wire.now_ms()
            outcome = self._send_worker(identity, wire.frame_message(frame.meta, frame.image))
            if outcome == GONE:
                gone.append(identity)
            elif outcome == FULL:  # it is not reading (frozen?): the heartbeat timeout will tell
                self.execute(self.dispatcher.frame_undelivered(identity, frame.meta))
        self._drop_disconnected(gone)

    def _send_worker(self, identity: bytes, parts: list) -> str:
        """SENT; FULL when the worker's queue is full (it is not reading); GONE when its
        connection is gone (ROUTER_MANDATORY says EHOSTUNREACH)."""
        try:
            self.router.send_multipart([identity, *parts], copy=False, flags=zmq.NOBLOCK)
            return SENT
        except zmq.Again:
            log.debug("worker %s is not reading: %s not sent", self.worker_name(identity), parts[0])
            return FULL
        except zmq.ZMQError as exc:
            log.debug("cannot reach worker %s: %s", self.worker_name(identity), exc)
            return GONE
        finally:
            self.reader.poke()  # the send may have consumed the FD's signal: look for messages


def _describe_capacity(capacity: wire.Capacity | None) -> str:
    if capacity is None:
        return "not given"
    sizes = ", ".join(f"{track} {mb:.0f}" for track, mb in capacity.instance_mb.items())
    return f"{capacity.memory_mb:.0f} MB, at most {capacity.instances} instances (MB each: {sizes})"


def _busy_ms(ts: dict) -> float | None:
    """How long the worker spent on a frame (decode + inference), from the result's stamps."""
    start, end = ts.get("decode_start"), ts.get("infer_end")
    if (
        isinstance(start, (int, float))
        and isinstance(end, (int, float))
        and not isinstance(start, bool)
        and not isinstance(end, bool)
    ):
        return float(end - start)
    return None
