"""A landmarker worker: asks ingest for frames, runs MediaPipe, pushes results.

The paranoid-pirate worker of the ZeroMQ guide: a DEALER socket connects out
to ingest and says READY; each FRAME is answered with DONE (which also means
"ready for the next"). Heartbeats flow both ways; when ingest falls silent the
worker throws its socket away and reconnects with capped backoff, so workers
can start before ingest, survive its restart, and run on any host that can
reach it. Results go straight to the gateway over PUSH.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import zmq

from live2d_pose import curve, wire
from live2d_pose.config import BUNDLED_FACE_MODEL, BUNDLED_FACE_MODEL_SHA256, LandmarkerConfig, redacted
from live2d_pose.imageinfo import ImageError
from live2d_pose.landmarker.detector import FaceDetector, ModelError, decode_image, load_model

log = logging.getLogger("live2d_pose.landmarker")

MAX_RECONNECT_DELAY = 4.0


@dataclass
class Counters:
    frames: int = 0
    faces: int = 0
    errors: int = 0
    results_dropped: int = 0  # gateway unreachable and its queue full
    reconnects: int = 0


class Worker:
    def __init__(self, config: LandmarkerConfig):
        self.config = config
        self.name = config.worker_name or f"{socket.gethostname()}-{os.getpid()}"
        self.context = zmq.Context()
        self.ingest: zmq.Socket | None = None
        self.results = self.context.socket(zmq.PUSH)
        self.running = True
        self.counters = Counters()
        self.detector = FaceDetector(load_model(config.face_model, _expected_sha256(config)),
                                     config.max_faces, config.max_tracked_streams,
                                     config.stream_idle_timeout)
        self.last_heard = time.monotonic()
        self.last_sent = 0.0
        self.reconnect_delay = config.heartbeat_interval
        self.server_key = curve.load_public(config.curve_server_key) if config.curve_server_key else b""
        if config.curve_client_key_file:
            curve.load_secret(config.curve_client_key_file)  # a bad file stops us now (exit 2)

    def stop(self, *_: object) -> None:
        self.running = False

    def run(self) -> None:
        self.results.setsockopt(zmq.SNDHWM, 64)
        self.results.setsockopt(zmq.LINGER, 200)
        curve.make_client(self.results, self.server_key, self.config.curve_client_key_file)
        self.results.connect(self.config.gateway)
        self._connect()
        log.info("landmarker %s: ingest %s, gateway %s; settings %s", self.name,
                 self.config.ingest, self.config.gateway, redacted(self.config))
        try:
            while self.running:
                self._poll_once()
        finally:
            self._shutdown()

    def _connect(self) -> None:
        if self.ingest is not None:
            self.ingest.close(linger=0)  # a stale socket may hold old frames: discard it
        self.ingest = self.context.socket(zmq.DEALER)
        self.ingest.setsockopt(zmq.LINGER, 0)
        self.ingest.setsockopt(zmq.RCVHWM, 16)
        curve.make_client(self.ingest, self.server_key, self.config.curve_client_key_file)
        self.ingest.connect(self.config.ingest)
        self._send([wire.READY, wire.encode_map({"name": self.name, "pid": os.getpid(),
                                                 "max_faces": self.config.max_faces})])
        self.last_heard = time.monotonic()

    def _poll_once(self) -> None:
        if self.ingest.poll(int(self.config.heartbeat_interval * 1000), zmq.POLLIN):
            parts = self.ingest.recv_multipart(copy=False)
            self.last_heard = time.monotonic()
            self.reconnect_delay = self.config.heartbeat_interval
            self._handle(parts)
        now = time.monotonic()
        if now - self.last_heard > self.config.ingest_timeout:
            log.warning("ingest silent for %.1f s: reconnecting in %.2f s",
                        now - self.last_heard, self.reconnect_delay)
            time.sleep(self.reconnect_delay)
            self.reconnect_delay = min(self.reconnect_delay * 2, MAX_RECONNECT_DELAY)
            self.counters.reconnects += 1
            self._connect()
        elif now - self.last_sent >= self.config.heartbeat_interval:
            self._send([wire.HEARTBEAT])
            self._touch_health_file()
        self.detector.close_idle()

    def _handle(self, parts: list) -> None:
        command = parts[0].bytes
        if command == wire.FRAME:
            self._process(parts)
        elif command == wire.END and len(parts) == 2:
            stream = wire.unpack_map(parts[1].buffer, "end").get("stream")
            if isinstance(stream, str):
                self.detector.close_stream(stream)
        elif command != wire.HEARTBEAT:
            log.warning("ignored an unknown command %r from ingest", command[:16])

    def _process(self, parts: list) -> None:
        try:
            meta, image = wire.split_frame_message(parts)
        except wire.WireError as exc:
            log.warning("ignored a malformed frame message: %s", exc)
            self._send([wire.READY, wire.encode_map({"name": self.name})])
            return
        result = self._analyse(meta, image)
        self.counters.frames += 1
        self.counters.faces += len(result.faces)
        self.counters.errors += result.error is not None
        try:
            self.results.send_multipart([wire.RESULT, result.encode()], flags=zmq.NOBLOCK)
        except zmq.Again:
            self.counters.results_dropped += 1
        self._send([wire.DONE, wire.encode_map({
            "stream": meta.stream, "seq": meta.seq, "error": result.error,
            "latency_ms": wire.now_ms() - meta.ts_ingest})])

    def _analyse(self, meta: wire.FrameMeta, image: memoryview) -> wire.Result:
        ts = {"ingest": meta.ts_ingest, "dispatch": meta.ts_dispatch, "decode_start": wire.now_ms()}
        result = wire.Result(meta.stream, meta.seq, meta.width, meta.height, ts, worker=self.name)
        try:
            rgb = decode_image(image, self.config.max_pixels)
            result.height, result.width = rgb.shape[:2]
            ts["infer_start"] = wire.now_ms()
            faces = self.detector.detect(meta.stream, rgb, int(meta.ts_ingest))
            ts["infer_end"] = wire.now_ms()
            result.faces = [face.to_wire() for face in faces]
        except ImageError as exc:
            result.error = {"code": exc.code, "message": str(exc)}
        except Exception as exc:  # MediaPipe raises RuntimeError and others; keep serving
            log.exception("stream %s frame %d: MediaPipe failed", meta.stream, meta.seq)
            self.detector.close_stream(meta.stream)  # its tracking state may be broken
            result.error = {"code": "inference_failed", "message": f"{exc.__class__.__name__}: {exc}"}
        return result

    def _send(self, parts: list) -> None:
        try:
            self.ingest.send_multipart(parts, flags=zmq.NOBLOCK)
            self.last_sent = time.monotonic()
        except zmq.Again:
            pass  # not connected yet; heartbeats and READY are resent anyway

    def _touch_health_file(self) -> None:
        if self.config.health_file and time.monotonic() - self.last_heard <= self.config.ingest_timeout:
            Path(self.config.health_file).touch()

    def _shutdown(self) -> None:
        self._send([wire.BYE])
        self.detector.close()
        self.ingest.close(linger=100)
        self.results.close(linger=200)
        self.context.term()
        log.info("landmarker %s stopped: frames=%d faces=%d errors=%d results_dropped=%d "
                 "reconnects=%d", self.name, self.counters.frames, self.counters.faces,
                 self.counters.errors, self.counters.results_dropped, self.counters.reconnects)


def _expected_sha256(config: LandmarkerConfig) -> str:
    if config.face_model_sha256:
        return config.face_model_sha256
    if Path(config.face_model).resolve() == BUNDLED_FACE_MODEL.resolve():
        return BUNDLED_FACE_MODEL_SHA256
    log.warning("face model %s: no --face-model-sha256 given, checksum not checked", config.face_model)
    return ""


def main(config: LandmarkerConfig) -> int:
    try:
        worker = Worker(config)
    except (ModelError, curve.CurveError) as exc:
        log.error("%s", exc)
        return 2
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    worker.run()
    return 0
