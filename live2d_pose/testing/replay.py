"""Replay a recording of real MediaPipe results into a running gateway.

The browser tests and the rig benchmark need the real gateway to carry face,
pose and hand results without a camera and a landmarker pool. A ``Replayer``
connects to the gateway's results endpoint over ZeroMQ PUSH, the way ingest
(stream events) and the landmarkers (results) do, announces a stream and
sends the recording's results, built with :mod:`live2d_pose.wire` so they
follow the protocol. Each result is stamped with the current time as its
ingest time, so latency figures on the page stay meaningful; ``clock_offset_ms``
stamps it by an ingest clock that far ahead (or, negative, behind). With
``per_tracker`` each frame goes out as the live pipeline sends it: one message
per tracker (record.per_tracker).

    with Replayer(endpoint, record.load(path), stream="replay") as replay:
        replay.hold(45)               # keep sending frame 45 (a raised arm)
        replay.play(range(90, 195))   # then the thumbs-up, at the recording's fps
        replay.pause()                # send nothing (the camera stalls)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import zmq

from live2d_pose import wire
from live2d_pose.testing import record
from live2d_pose.trackers import TRACKERS, UNTAGGED

DEFAULT_RATE = 15.0  # results per second while holding a frame


class Replayer:
    def __init__(
        self,
        endpoint: str,
        recording: dict,
        stream: str = "replay",
        rate: float = DEFAULT_RATE,
        clock_offset_ms: float = 0.0,
        per_tracker: bool = False,
    ):
        self.endpoint = endpoint
        self.recording = recording
        self.results = recording["results"]
        self.stream = stream
        self.rate = rate
        self.clock_offset_ms = clock_offset_ms
        self.per_tracker = per_tracker
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

    def __enter__(self) -> Replayer:
        self._socket.connect(self.endpoint)
        size = self.recording["imageSize"]
        self._socket.send_multipart(
            [
                wire.EVENT,
                wire.encode_map(
                    {
                        "type": "stream",
                        "stream": self.stream,
                        "imageSize": {"width": size["width"], "height": size["height"]},
                        "session": 1,
                    }
                ),
            ]
        )
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
        return self.messages(index)[0]

    def messages(self, index: int) -> list[list[bytes]]:
        """Recorded frame ``index`` as RESULT messages: one, or one per tracker (``per_tracker``)."""
        recorded = self.results[index]
        self.seq += 1
        now = wire.now_ms() + self.clock_offset_ms
        parts = record.per_tracker([recorded]) if self.per_tracker else [recorded]
        return [[wire.RESULT, self._result(part, now).encode()] for part in parts]

    def _result(self, recorded: dict, now: float) -> wire.Result:
        size = recorded["imageSize"]
        tracks = tuple(recorded.get("tracks") or UNTAGGED)
        keys = [TRACKERS[name].key for name in tracks]
        return wire.Result(
            self.stream,
            self.seq,
            size["width"],
            size["height"],
            {"ingest": now, "infer_start": now, "infer_end": now},
            found={key: recorded.get(key) or [] for key in keys},
            worker="replay",
            tracks=tracks,
        )

    def hold(self, index: int) -> None:
        """Keep sending one recorded frame (a pose held still)."""
        with self._lock:
            self._frames = [index]

    def play(self, indices: Iterable[int]) -> None:
        """Send these frames in a loop."""
        with self._lock:
            self._frames = list(indices)

    def pause(self) -> None:
        """Send nothing until the next hold() or play()."""
        self.play([])

    def _run(self) -> None:
        try:
            start = time.monotonic()
            position = ticks = 0
            while not self._stop.is_set():
                with self._lock:
                    frames = self._frames
                if frames:
                    for message in self.messages(frames[position % len(frames)]):
                        self._socket.send_multipart(message)
                    position += 1
                    self.sent += 1
                ticks += 1
                self._stop.wait(max(0.0, start + ticks / self.rate - time.monotonic()))
        except BaseException as exc:  # surfaced by check(), not lost in the thread
            self.error = exc

    def check(self) -> None:
        if self.error is not None:
            raise AssertionError(f"replayer failed: {self.error!r}")
