"""Hostile peers on the internal ZeroMQ links (the pool's part).

A rogue that registers as a worker and never answers must not starve a stream
(per-frame deadline); results are accepted only for frames that were dispatched,
and only from the worker they went to; an oversized message is refused by
ZeroMQ (ZMQ_MAXMSGSIZE) before any process buffers it. The rogues here are plain
ZeroMQ sockets speaking the wire format, as any local process could.
"""

from __future__ import annotations

import asyncio
import threading
import time

import urllib.request

import pytest
import zmq

from tests.conftest import run
from live2d_pose import wire
from live2d_pose.testing.clients import TIMEOUT, Camera, Viewer
from live2d_pose.testing.frames import astronaut_frames
from live2d_pose.testing.pipeline import Pipeline

FRAME_TIMEOUT = 1.0
FPS = 10


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    pipe = Pipeline(
        tmp_path_factory.mktemp("rogue"), workers=1, env={"LIVE2D_POSE_FRAME_TIMEOUT": str(FRAME_TIMEOUT)}
    ).start()
    yield pipe
    pipe.stop()


class RogueWorker:
    """Says READY, heartbeats, takes frames and (unless told) never answers them."""

    def __init__(self, endpoint: str, name: str = "rogue", rejoin: bool = True):
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(endpoint)
        self.name = name
        self.rejoin = rejoin
        self.rejoin_asked = 0
        self.frames: list[wire.FrameMeta] = []
        self.sent: list[list[bytes]] = []  # messages to send from the rogue's thread
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RogueWorker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.socket.close()
        self.context.term()

    def _run(self) -> None:
        self.socket.send_multipart([wire.READY, wire.encode_map({"name": self.name, "trackers": ["face"]})])
        while not self.stop.is_set():
            while self.sent:
                self.socket.send_multipart(self.sent.pop(0))
            if self.socket.poll(100):
                parts = self.socket.recv_multipart()
                if parts[0] == wire.FRAME:
                    self.frames.append(wire.split_frame_message(parts)[0])
                elif parts[0] == wire.REJOIN:
                    self.rejoin_asked += 1
                    if self.rejoin:  # it tries to come straight back
                        self.socket.send_multipart([wire.READY, wire.encode_map({"name": self.name})])
            self.socket.send_multipart([wire.HEARTBEAT])


def forged_done(stream: str, seq: int, session: int, track: str = "face") -> list[bytes]:
    result = wire.Result(
        stream, seq, 640, 480, {"ingest": wire.now_ms()}, worker="rogue", tracks=(track,), session=session
    )
    done = wire.encode_map({"stream": stream, "seq": seq, "track": track, "session": session, "replica": 0})
    return [wire.DONE, done, result.encode()]


def test_a_worker_that_never_answers_does_not_starve_a_stream(pipe, figures):
    endpoint = f"tcp://127.0.0.1:{pipe.workers_port}"

    async def body():
        # Named to sort first: with equal loads a new lane goes to it rather than to w1.
        with RogueWorker(endpoint, "a-rogue") as rogue:
            deadline = time.monotonic() + TIMEOUT
            while pipe.joined_workers() < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            async with (
                Viewer(pipe.viewer_url("stream=victim")) as viewer,
                Camera(pipe.camera_url + "?stream=victim") as camera,
            ):
                streaming = asyncio.create_task(camera.stream_frames(astronaut_frames(8), fps=FPS, duration=TIMEOUT))
                while not rogue.frames and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                assert rogue.frames, "the rogue got the stream's lane"
                taken_ms = time.time() * 1000
                results = await viewer.wait_for_results(FPS, stream="victim")
                first_ms = min(r.received_ms for r in results)
                await asyncio.sleep(1.0)  # the rogue asks to come back meanwhile
                stats = pipe.ingest_stats()
                streaming.cancel()
                return results, taken_ms, first_ms, stats, len(rogue.frames)

    results, taken_ms, first_ms, stats, rogue_frames = run(body())
    figures["starved_for_ms"] = first_ms - taken_ms
    # the deadline, then w1 builds the lane's MediaPipe instance and answers
    assert first_ms - taken_ms < (FRAME_TIMEOUT + 2.0) * 1000
    assert {r.worker for r in results} == {"w1"}
    assert [w["name"] for w in stats["workers"]] == ["w1"], "the rogue is kept out after its deadline"
    assert stats["totals"]["workers_dead"] >= 1 and stats["totals"]["frames_lost"] >= 1
    assert rogue_frames <= 2  # it held the lane for one deadline, not for ever
    assert "not answered in" in pipe.services["ingest"].log()


def test_results_only_for_dispatched_frames_from_their_worker(pipe):
    """A registered rogue forges results: for another stream, with a far-future seq (which
    used to black a stream out for 5 s), for a frame never sent. None reaches a viewer."""
    endpoint = f"tcp://127.0.0.1:{pipe.workers_port}"

    async def body():
        async with (
            Viewer(pipe.viewer_url("stream=target")) as viewer,
            Camera(pipe.camera_url + "?stream=target") as camera,
        ):
            streaming = asyncio.create_task(camera.stream_frames(astronaut_frames(8), fps=FPS, duration=TIMEOUT))
            await viewer.wait_for_results(5, stream="target")
            session = viewer.results[-1].session
            rejected_before = pipe.ingest_stats()["totals"]["results_rejected"]
            with RogueWorker(endpoint, "forger") as rogue:
                rogue.sent += [
                    forged_done("target", 10**9, session),
                    forged_done("target", 3, session),
                    forged_done("ghost", 1, 1),
                    forged_done("target", 10**9, session + 1),
                ]
                await asyncio.sleep(1.0)
                count = len(viewer.results)
                await viewer.wait_for_results(count + 2 * FPS, stream="target")
                stats = pipe.ingest_stats()
            streaming.cancel()
            return viewer.results, stats, rejected_before

    results, stats, rejected_before = run(body())
    assert all(r.worker == "w1" for r in results)
    assert max(r.seq for r in results) < 10**6
    assert "ghost" not in stats["streams"]
    assert stats["totals"]["results_rejected"] - rejected_before == 4


def test_oversized_messages_are_refused_by_zeromq(pipe):
    """ZMQ_MAXMSGSIZE: a 64 MiB message to ingest's worker port or the gateway's results port
    disconnects its sender before either process buffers it (one took ingest to 1 GB)."""
    endpoint = f"tcp://127.0.0.1:{pipe.workers_port}"
    context = zmq.Context()
    push = context.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    try:
        with RogueWorker(endpoint, "huge", rejoin=False) as rogue:
            deadline = time.monotonic() + TIMEOUT
            while "huge" not in _workers(pipe) and time.monotonic() < deadline:
                time.sleep(0.05)
            rogue.sent.append([wire.DONE, bytes(64 << 20), b""])
            # ZeroMQ drops the connection: ingest forgets the identity, and the rogue's next
            # heartbeats (over a new connection, so a new identity) are answered REJOIN
            while (rogue.rejoin_asked == 0 or "huge" in _workers(pipe)) and time.monotonic() < deadline:
                time.sleep(0.05)
            workers, asked = _workers(pipe), rogue.rejoin_asked
        push.connect(f"tcp://127.0.0.1:{pipe.results_port}")
        push.send_multipart([wire.RESULT, bytes(64 << 20)])
        time.sleep(0.5)
    finally:
        push.close()
        context.term()
    assert "huge" not in workers and asked >= 1
    assert all(s.alive() for s in pipe.services.values())
    with urllib.request.urlopen(pipe.http_url + "/healthz", timeout=TIMEOUT) as response:
        assert response.status == 200


def _workers(pipe: Pipeline) -> list[str]:
    return [w["name"] for w in pipe.ingest_stats().get("workers", [])]
