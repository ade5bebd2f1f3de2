"""A landmarker worker: asks ingest for frames, runs MediaPipe, answers with results.

The paranoid-pirate worker of the ZeroMQ guide: a DEALER socket connects out to
ingest and says READY (naming the trackers it runs); each FRAME (one tracker of
one frame: a lane's frame) is answered with DONE carrying the result, which also
means "ready for the next". Ingest checks each result against what it sent and
forwards it to the gateway, so a worker connects to ingest only. Heartbeats flow
both ways; when ingest falls silent the worker throws its socket away and
reconnects with capped backoff, so workers can start before ingest, survive its
restart, and run on any host that can reach it.

Three threads: this one owns the socket (heartbeats never wait for a frame),
the inference thread (inference.py) decodes and runs MediaPipe, the keeper
(detector.py) builds MediaPipe instances (and closes run on short-lived
threads of their own). What the inference
thread has for ingest (DONE, and BUILT when the keeper is done with a build)
comes over an inproc PAIR socket, so one poll covers both sockets.

Capacity: at start the worker measures what one instance of each of its
trackers weighs and takes a memory budget (memory.py); READY tells ingest
both, and ingest seats no more lanes on it than fit.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from pathlib import Path

import zmq

from live2d_pose import curve, trackers, wire
from live2d_pose.config import redacted
from live2d_pose.landmarker.settings import LandmarkerConfig
from live2d_pose.landmarker import memory
from live2d_pose.landmarker import trackers as tracker_registry
from live2d_pose.landmarker.decoder import Decoder
from live2d_pose.landmarker.detector import LaneInstances
from live2d_pose.landmarker.inference import Inference, Job
from live2d_pose.landmarker.trackers import ModelError

log = logging.getLogger("live2d_pose.landmarker")

MAX_RECONNECT_DELAY = 4.0
MAX_QUEUED_JOBS = 8  # ingest sends at most --worker-prefetch frames; more is a misbehaving peer


class Worker:
    def __init__(self, config: LandmarkerConfig):
        self.config = config
        self.name = config.worker_name or f"{socket.gethostname()}-{os.getpid()}"
        self.tracks = trackers.parse_tracks(config.trackers)
        self.trackers = tracker_registry.build(self.tracks, config)  # models read and checked now
        self.capacity = {
            "memory_mb": round(config.memory_budget_mb or memory.default_budget_mb(), 1),
            "instance_mb": {name: round(mb, 1) for name, mb in memory.measure_instances(self.trackers).items()},
            "instances": config.max_instances,
        }
        self.context = zmq.Context()
        self.ingest: zmq.Socket | None = None
        self.running = True
        self.reconnects = 0
        self.rejected_frames = 0
        self.last_heard = time.monotonic()
        self.last_sent = 0.0
        self.reconnect_delay = config.heartbeat_interval
        self.server_key = curve.load_public(config.curve_server_key) if config.curve_server_key else b""
        # messages for ingest from the inference thread: it sends on one end, this thread polls the other
        self.results_in = self.context.socket(zmq.PAIR)
        self.results_in.bind(f"inproc://results-{id(self)}")
        results_out = self.context.socket(zmq.PAIR)
        results_out.connect(f"inproc://results-{id(self)}")
        self.inference = Inference(
            LaneInstances(self.trackers, config.max_instances, config.stream_idle_timeout),
            Decoder(config.max_pixels, config.decode_timeout, config.max_scan_pixels, config.decode_max_pixels),
            self.name,
            lambda meta, result: results_out.send_multipart([wire.DONE, wire.encode_done(meta), result.encode()]),
            lambda seat: results_out.send_multipart([wire.BUILT, _seat_map(seat)]),
        )
        self._results_out = results_out
        if config.curve_client_key_file:
            curve.load_secret(config.curve_client_key_file)  # a bad file stops us now (exit 2)

    def stop(self, *_: object) -> None:
        self.running = False

    def run(self) -> None:
        self.inference.decoder.wait_ready()  # no frames before it can decode them
        self._connect()
        self.inference.start()
        sizes = ", ".join(f"{name} {mb:.0f}" for name, mb in self.capacity["instance_mb"].items())
        log.info(
            "landmarker %s: ingest %s, trackers %s; capacity %.0f MB, at most %d instances (MB each: %s); settings %s",
            self.name,
            self.config.ingest,
            ",".join(self.tracks),
            self.capacity["memory_mb"],
            self.capacity["instances"],
            sizes,
            redacted(self.config),
        )
        poller = zmq.Poller()
        poller.register(self.results_in, zmq.POLLIN)
        try:
            while self.running:
                poller.register(self.ingest, zmq.POLLIN)  # the socket changes on reconnect
                events = dict(poller.poll(int(self.config.heartbeat_interval * 1000)))
                if self.results_in in events:
                    self._forward_results()
                if self.ingest in events:
                    self._receive()
                poller.unregister(self.ingest)
                self._keep_alive()
        finally:
            self._shutdown()

    # ------------------------------------------------------------ ingest link

    def _connect(self) -> None:
        if self.ingest is not None:
            self.ingest.close(linger=0)  # a stale socket may hold old frames: discard it
            self.inference.drop_pending()  # ingest counted them lost
        self.ingest = self.context.socket(zmq.DEALER)
        self.ingest.setsockopt(zmq.LINGER, 0)
        self.ingest.setsockopt(zmq.RCVHWM, 16)
        self.ingest.setsockopt(zmq.MAXMSGSIZE, wire.MAX_FRAME_MESSAGE_BYTES)
        curve.make_client(self.ingest, self.server_key, self.config.curve_client_key_file)
        self.ingest.connect(self.config.ingest)
        self._ready()
        self.last_heard = time.monotonic()

    def _ready(self) -> None:
        self._send(
            [
                wire.READY,
                wire.encode_map(
                    {"name": self.name, "pid": os.getpid(), "trackers": list(self.tracks), "capacity": self.capacity}
                ),
            ]
        )

    def _keep_alive(self) -> None:
        now = time.monotonic()
        if now - self.last_heard > self.config.ingest_timeout:
            log.warning("ingest silent for %.1f s: reconnecting in %.2f s", now - self.last_heard, self.reconnect_delay)
            time.sleep(self.reconnect_delay)  # backoff between attempts, not a wait for a connection
            self.reconnect_delay = min(self.reconnect_delay * 2, MAX_RECONNECT_DELAY)
            self.reconnects += 1
            self._connect()
        elif now - self.last_sent >= self.config.heartbeat_interval:
            self._send([wire.HEARTBEAT])
            self._touch_health_file()

    def _receive(self) -> None:
        while True:
            try:
                parts = self.ingest.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self.last_heard = time.monotonic()
            self.reconnect_delay = self.config.heartbeat_interval
            self._handle(parts)

    def _handle(self, parts: list) -> None:
        command = parts[0].bytes
        if command == wire.FRAME:
            self._accept_frame(parts)
        elif command == wire.END and len(parts) == 2:
            self._end(parts[1])
        elif command == wire.REJOIN:
            log.info("ingest does not know this worker (declared dead while it was away): joining again")
            self.inference.drop_pending()
            self._ready()
        elif command != wire.HEARTBEAT:
            log.warning("ignored an unknown command %r from ingest", command[:16])

    def _accept_frame(self, parts: list) -> None:
        try:
            meta, image = wire.split_frame_message(parts)
        except wire.WireError as exc:
            log.warning("ignored a malformed frame message: %s", exc)
            return
        if meta.track not in self.trackers or self.inference.pending() >= MAX_QUEUED_JOBS:
            self.rejected_frames += 1
            why = "worker_busy" if meta.track in self.trackers else "tracker_not_here"
            result = wire.Result(
                meta.stream,
                meta.seq,
                meta.width,
                meta.height,
                {"ingest": meta.ts_ingest, "dispatch": meta.ts_dispatch},
                worker=self.name,
                tracks=(meta.track,),
                session=meta.session,
                error={"code": why, "message": f"worker {self.name} cannot take this frame"},
            )
            self._send([wire.DONE, wire.encode_done(meta), result.encode()])
            return
        self.inference.submit(Job(meta, parts[2], image))

    def _end(self, body: zmq.Frame) -> None:
        try:
            self.inference.end(wire.decode_seat(body.buffer, "end"))
        except wire.WireError as exc:
            log.warning("ignored a malformed END: %s", exc)

    def _forward_results(self) -> None:
        while True:
            try:
                self._send(self.results_in.recv_multipart(zmq.NOBLOCK))  # DONE or BUILT, as made
            except zmq.Again:
                return

    def _send(self, parts: list) -> None:
        try:
            self.ingest.send_multipart(parts, flags=zmq.NOBLOCK)
            self.last_sent = time.monotonic()
        except zmq.Again:
            log.debug("ingest not reachable: %s not sent", parts[0])  # ingest counts the frame lost

    def _touch_health_file(self) -> None:
        if self.config.health_file and time.monotonic() - self.last_heard <= self.config.ingest_timeout:
            Path(self.config.health_file).touch()

    def _shutdown(self) -> None:
        self._send([wire.BYE])
        self.inference.stop()
        if self.inference.ident is not None:
            self.inference.join(timeout=10)  # it closes its MediaPipe instances and decode helpers
        else:
            self.inference.decoder.close()
        self.ingest.close(linger=100)
        self.results_in.close(linger=0)
        self._results_out.close(linger=0)
        self.context.term()
        counters, instances = self.inference.counters, self.inference.instances
        found = " ".join(f"{self.trackers[name].key}={count}" for name, count in sorted(counters.found.items()))
        log.info(
            "landmarker %s stopped: frames=%d %s errors=%d decode_timeouts=%d rejected=%d "
            "reconnects=%d instances_built=%d evicted=%d warming=%d",
            self.name,
            counters.frames,
            found or "found=0",
            counters.errors,
            counters.decode_timeouts,
            self.rejected_frames,
            self.reconnects,
            instances.built,
            instances.evicted,
            counters.warming,
        )


def _seat_map(seat: tuple[str, str, int]) -> bytes:
    """Which lane's instance a BUILT is about."""
    stream, track, replica = seat
    return wire.encode_map({"stream": stream, "track": track, "replica": replica})


def main(config: LandmarkerConfig) -> int:
    memory.keep_large_blocks_separate()  # before MediaPipe allocates anything
    try:
        worker = Worker(config)
    except (ModelError, curve.CurveError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    worker.run()
    return 0
