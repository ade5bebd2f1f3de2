"""Replay a recording of real MediaPipe results into a running gateway.

The browser tests and the rig benchmark need the real gateway to carry face,
pose and hand results without a camera and a landmarker pool. A ``Replayer``
connects to the gateway's results endpoint over ZeroMQ PUSH, the way ingest
(stream events) and the landmarkers (results) do, announces a stream and
sends the recording's results, built with :mod:`live2d_pose.wire` so they
follow the protocol. Each result is stamped with the current time as its
ingest time, so latency figures on the page stay meaningful.

    with Replayer(endpoint, record.load(path), stream="replay") as replay:
        replay.hold(45)               # keep sending frame 45 (a raised arm)
        replay.play(range(90, 195))   # then the thumbs-up, at the recording's fps
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import zmq

from live2d_pose import wire

DEFAULT_RATE = 15.0  # results per second while holding a frame


class Replayer:
    def __init__(self, endpoint: str, recording: dict, stream: str = "replay", rate: float = DEFAULT_RATE):
        self.endpoint = endpoint
        self.recording = recording
        self.results = recording["results"]
        self.stream = stream
        self.rate = rate
        self.seq = 0
        self.sent = 0
        self._frames: list[int] = [0]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.PUSH)
        self._socket.setsockopt(zmq.LINGER, 500)
        self._socket.setsockopt(zmq.SNDHWM, 64)
        self._thread = threading.Thread(target=self._run, name="replayer", daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> "Replayer":
        self._socket.connect(self.endpoint)
        size = self.recording["imageSize"]
        self._socket.send_multipart([wire.EVENT, wire.encode_map({
            "type": "stream", "stream": self.stream, "imageSize": {"width": size["width"], "height": size["height"]},
            "session": 1})])
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.send_multipart([wire.EVENT, wire.encode_map({"type": "ended", "stream": self.stream})])
        self._socket.close()
        self._context.term()

    def message(self, index: int) -> list[bytes]:
        """The RESULT message for recorded frame ``index``, with the next seq and ts.ingest = now."""
        recorded = self.results[index]
        size = recorded["imageSize"]
        self.seq += 1
        now = wire.now_ms()
        result = wire.Result(self.stream, self.seq, size["width"], size["height"],
                             {"ingest": now, "infer_start": now, "infer_end": now},
                             faces=recorded.get("faces") or [], worker="replay",
                             tracks=tuple(recorded.get("tracks") or ["face"]),
                             poses=recorded.get("poses") or [], hands=recorded.get("hands") or [])
        return [wire.RESULT, result.encode()]

    def hold(self, index: int) -> None:
        """Keep sending one recorded frame (a pose held still)."""
        with self._lock:
            self._frames = [index]

    def play(self, indices: Iterable[int]) -> None:
        """Send these frames in a loop."""
        with self._lock:
            self._frames = list(indices)

    def _run(self) -> None:
        try:
            start = time.monotonic()
            position = 0
            while not self._stop.is_set():
                with self._lock:
                    frames = self._frames
                self._socket.send_multipart(self.message(frames[position % len(frames)]))
                position += 1
                self.sent += 1
                self._stop.wait(max(0.0, start + self.sent / self.rate - time.monotonic()))
        except BaseException as exc:  # surfaced by check(), not lost in the thread
            self.error = exc

    def check(self) -> None:
        if self.error is not None:
            raise AssertionError(f"replayer failed: {self.error!r}")
