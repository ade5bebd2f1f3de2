"""Real footage through the real pipeline, as a user's camera sends it.

``StreamingCamera`` streams a video's frames to ingest at the video's own
rate, after WARM_S of its first frame (MediaPipe's instances are built
meanwhile), as ``live2d-pose camera`` would: cropped if asked (a camera that
sees one person), the long side brought down to 640. The pipeline drops what
it cannot keep up with, as it does live, and answers each tracker in its own
message. ``frame_of(seq)`` says which video frame ingest numbered ``seq``.

``record_live`` keeps what a viewer gets for it (the raw results, with their
arrival times), for tests that need the live pipeline's timing: trackers
answering apart, frames dropped, MediaPipe at the camera's resolution::

    python -m live2d_pose.testing.live --video gesture_video.mp4 --out tests/fixtures/gesture_live.msgpack

The file is record.py's format plus ``arrivals`` (ms, this machine's wall
clock, one per result) and ``frames`` (the video frame of each seq, -1 for the
warm-up); each result is one tracker's, stamped by ingest's clock.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import threading
import time
from pathlib import Path

import cv2
import msgpack
import numpy as np

from live2d_pose import wire

log = logging.getLogger("live2d_pose.testing.live")

WARM_S = 1.5
LONG_SIDE = 640  # what `live2d-pose camera` sends by default
FULL_FRAME = (0.0, 0.0, 1.0, 1.0)


def video_frames(path: Path, crop: tuple[float, float, float, float] = FULL_FRAME,
                 long_side: int = LONG_SIDE) -> tuple[list[np.ndarray], float]:
    """A video's frames as a camera on it sends them (``crop``: x0, y0, x1, y1 as shares of the frame),
    and its frame rate."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    try:
        fps = capture.get(cv2.CAP_PROP_FPS)
        while True:
            ok, image = capture.read()
            if not ok:
                break
            h, w = image.shape[:2]
            x0, y0, x1, y1 = crop
            image = image[int(y0 * h):int(y1 * h), int(x0 * w):int(x1 * w)]
            scale = long_side / max(image.shape[:2])
            frames.append(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    finally:
        capture.release()
    return frames, fps


class StreamingCamera(threading.Thread):
    """A camera client on its own event loop (the module doc). Set ``go`` to start the clip; until
    then, and for at least WARM_S, it sends the clip's first frame."""

    def __init__(self, url: str, frames: list[np.ndarray], fps: float):
        super().__init__(daemon=True)
        from live2d_pose.testing.frames import encode

        self.url, self.fps = url, fps
        self.jpegs = [encode(f) for f in frames]
        self.size = frames[0].shape[1], frames[0].shape[0]
        self.sent: list[int] = []  # sent[seq - 1]: the video frame ingest numbered seq (-1: warm-up)
        self.go = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self.stream())
        except BaseException as exc:  # surfaced by check()
            self.error = exc
        finally:
            self.done.set()

    async def stream(self) -> None:
        from live2d_pose.testing.clients import Camera

        async with Camera(self.url, *self.size) as camera:
            start = time.monotonic()
            while not self.go.is_set() or time.monotonic() - start < WARM_S:
                await camera.send(self.jpegs[0])
                self.sent.append(-1)
                await asyncio.sleep(1 / self.fps)
            start = time.monotonic()
            for index, jpeg in enumerate(self.jpegs):
                await camera.send(jpeg)
                self.sent.append(index)
                await asyncio.sleep(max(0.0, start + (index + 1) / self.fps - time.monotonic()))
            await asyncio.sleep(1.0)  # the last results come back

    def frame_of(self, seq: int) -> int:
        return self.sent[seq - 1] if 0 < seq <= len(self.sent) else -1

    def check(self) -> None:
        if self.error is not None:
            raise self.error


def record_live(video: Path, tracks: tuple[str, ...], crop: tuple[float, float, float, float] = FULL_FRAME,
                workers: int = 2) -> dict:
    """What a viewer gets for ``video`` streamed through a real pipeline (the module doc)."""
    from websockets.asyncio.client import connect

    from live2d_pose.testing.pipeline import Pipeline

    frames, fps = video_frames(video, crop)
    results, arrivals = [], []
    with tempfile.TemporaryDirectory(prefix="record-live-") as tmp:
        pipe = Pipeline(Path(tmp), workers=workers).start()
        camera = StreamingCamera(f"{pipe.camera_url}?stream=live&track={','.join(tracks)}", frames, fps)

        async def watch() -> None:
            async with connect(pipe.viewer_url("stream=live&landmarks=1&motion=0"), max_size=None) as viewer:
                camera.start()
                camera.go.set()
                while not camera.done.is_set():
                    try:
                        message = await asyncio.wait_for(viewer.recv(), 0.2)
                    except asyncio.TimeoutError:
                        continue
                    if isinstance(message, bytes):
                        results.append(msgpack.unpackb(message, raw=False))
                        arrivals.append(wire.now_ms())
        try:
            asyncio.run(watch())
            camera.check()
        finally:
            pipe.stop_cleanly()
    height, width = frames[0].shape[:2]
    return {"source": f"{Path(video).name} through the live pipeline ({workers} workers), {width}x{height}, "
                      f"{fps:g} fps, crop {crop}", "fps": fps, "imageSize": {"width": width, "height": height},
            "tracks": list(tracks), "mirrored": False, "results": [r for r in results if r.get("type") == "landmarks"],
            "arrivals": [a for a, r in zip(arrivals, results) if r.get("type") == "landmarks"], "frames": camera.sent}


def main(argv: list[str] | None = None) -> int:
    from live2d_pose.testing import media

    parser = argparse.ArgumentParser(prog="python -m live2d_pose.testing.live", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", default="gesture_video.mp4", help="a file of live2d_pose/testing/media, or a path")
    parser.add_argument("--track", default="face,pose,hands")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    video = Path(args.video) if Path(args.video).exists() else media.media_path(args.video)
    recording = record_live(video, tuple(t.strip() for t in args.track.split(",") if t.strip()))
    args.out.write_bytes(wire.pack(recording))
    print(f"{args.out}: {len(recording['results'])} results of {len(recording['frames'])} frames sent")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
