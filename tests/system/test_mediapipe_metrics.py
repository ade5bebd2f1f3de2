"""MediaPipe's usage metrics never leave the machine unless the user allows them.

MediaPipe posts them to play.googleapis.com when a task closes, and the close
waits for the post (10 s where DNS hangs). Real landmarker processes, real
MediaPipe, and an HTTP proxy of the test's own in the user's environment
(https_proxy, no_proxy empty): a landmarker allowed to send the metrics
(LIVE2D_POSE_MEDIAPIPE_METRICS=1) goes through it to Google when its instances
close, which shows the post is tried and where to; one with the default sends
it nothing.
"""

from __future__ import annotations

import asyncio
import socket
import threading

from live2d_pose.testing.clients import Camera, Viewer
from live2d_pose.testing.frames import astronaut_frames
from live2d_pose.testing.pipeline import Pipeline


class RefusingProxy:
    """An HTTP proxy that writes down each request line and refuses it (403) at once."""

    def __init__(self):
        self.requests: list[str] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:  # closed
                return
            with client:
                self.requests.append(client.recv(4096).decode("latin-1").split("\r\n")[0])
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        self.server.close()


def track_and_stop(pipe: Pipeline, proxy: RefusingProxy, **env: str) -> str:
    """A worker with ``proxy`` in its environment tracks a few frames, then stops (closing its
    instances) and leaves the pipeline; its log."""
    worker = pipe.add_worker(https_proxy=proxy.url, HTTPS_PROXY=proxy.url, no_proxy="", **env)
    pipe.wait_healthy()

    async def frames() -> None:
        async with (
            Camera(pipe.camera_url + "?stream=metrics") as camera,
            Viewer(pipe.viewer_url("stream=metrics")) as viewer,
        ):
            sending = asyncio.create_task(camera.stream_frames(astronaut_frames(4), fps=10, duration=30))
            await viewer.wait_for_results(3)
            sending.cancel()

    asyncio.run(frames())
    assert worker.stop() == 0, worker.log()
    del pipe.services[worker.name]
    return worker.log()


def test_mediapipe_metrics_leave_only_when_allowed(tmp_path):
    pipe = Pipeline(tmp_path, workers=0).start()
    allowed, default = RefusingProxy(), RefusingProxy()
    try:
        allowed_log = track_and_stop(pipe, allowed, LIVE2D_POSE_MEDIAPIPE_METRICS="1")
        default_log = track_and_stop(pipe, default)
    finally:
        pipe.stop()
        allowed.close()
        default.close()
    assert any(r.startswith("CONNECT play.googleapis.com:443") for r in allowed.requests), allowed.requests
    assert default.requests == []
    assert "MediaPipe's usage metrics: allowed" in allowed_log
    assert "MediaPipe's usage metrics: off, nothing leaves this machine" in default_log
