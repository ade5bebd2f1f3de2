"""A deployment's smoke test: a real camera into ingest, a viewer on the gateway.

    python -m live2d_pose.testing.smoke --camera ws://ingest:8765/image --viewer ws://gateway:8080/ws

It opens a viewer on the gateway, runs ``live2d-pose camera`` on real footage
(by default the shipped gesture video: a woman raising her right hand to a
thumbs-up) asking for ``--track`` (default face, pose and hands), and exits 0
once every tracker has delivered a detection of the right shape to the viewer:
478 face landmarks, 33 body landmarks, 21 per hand. It prints one line per
tracker (first frame, results, median latency from ingest to the viewer) and
exits 1 naming the trackers that never delivered within ``--timeout``. The
camera reads LIVE2D_POSE_CAMERA_TOKEN itself; the viewer sends
LIVE2D_POSE_VIEWER_TOKEN when it is set. docker-compose.yml's ``smoke-test``
service runs it inside the compose network, ``make test-docker`` from the host.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

from live2d_pose.testing.clients import Viewer, ViewerResult

GESTURE_VIDEO = Path(__file__).resolve().parent / "media" / "gesture_video.mp4"

# tracker -> whether a result of it holds a detection of the expected shape
DETECTED = {
    "face": lambda r: bool(r.faces) and r.faces[0].landmarks.shape == (478, 3),
    "pose": lambda r: bool(r.poses) and r.poses[0].landmarks.shape == (33, 5),
    "hands": lambda r: bool(r.hands) and all(h.landmarks.shape == (21, 3) for h in r.hands),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m live2d_pose.testing.smoke",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--camera", required=True, help="ingest's camera URL, ws://HOST:PORT/image")
    parser.add_argument("--viewer", required=True, help="the gateway's result URL, ws://HOST:PORT/ws")
    parser.add_argument("--source", default=str(GESTURE_VIDEO), help="video or image to stream")
    parser.add_argument("--track", default="face,pose,hands", help="trackers that must all deliver")
    parser.add_argument("--stream", default="smoke-test", help="stream name")
    parser.add_argument("--fps", type=float, default=15.0, help="frames per second the camera sends")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds until it gives up")
    args = parser.parse_args(argv)
    args.track = [name.strip() for name in args.track.split(",") if name.strip()]
    unknown = set(args.track) - set(DETECTED)
    if unknown or not args.track:
        parser.error(f"--track: a comma list of {', '.join(DETECTED)}")
    return args


def _viewer_url(args: argparse.Namespace) -> str:
    query = {"stream": args.stream}
    if os.environ.get("LIVE2D_POSE_VIEWER_TOKEN"):
        query["token"] = os.environ["LIVE2D_POSE_VIEWER_TOKEN"]
    return f"{args.viewer}?{urlencode(query)}"


def _camera(args: argparse.Namespace) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "live2d_pose",
            "camera",
            "--server",
            args.camera,
            "--source",
            args.source,
            "--stream",
            args.stream,
            "--track",
            ",".join(args.track),
            "--width",
            "640",
            "--height",
            "360",
            "--fps",
            str(args.fps),
            "--duration",
            str(args.timeout),
        ]
    )


def detections(results: list[ViewerResult], track: str) -> list[ViewerResult]:
    return [r for r in results if track in r.tracks and DETECTED[track](r)]


def report(results: list[ViewerResult], track: str) -> str:
    found = detections(results, track)
    latency = statistics.median(r.received_ms - r.ts["ingest"] for r in found)
    return (
        f"{track}: first in frame {found[0].seq}, {len(found)} results with detections, "
        f"median {latency:.0f} ms from ingest to the viewer"
    )


async def run(args: argparse.Namespace) -> list[str]:
    """The trackers that never delivered (empty: all did)."""
    async with Viewer(_viewer_url(args)) as viewer:
        camera = _camera(args)
        try:
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline:
                missing = [t for t in args.track if not detections(viewer.results, t)]
                if not missing:
                    break
                if camera.poll() is not None:
                    print(f"smoke test: the camera exited with {camera.returncode}", file=sys.stderr)
                    break
                await asyncio.sleep(0.1)
        finally:
            camera.terminate()
            camera.wait(10)
        missing = [t for t in args.track if not detections(viewer.results, t)]
        for track in args.track:
            if track not in missing:
                print(f"smoke test: {report(viewer.results, track)}", flush=True)
        return missing


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        missing = asyncio.run(run(args))
    except OSError as exc:  # refused, unresolvable, or the handshake failed
        print(f"smoke test FAILED: cannot open the viewer at {args.viewer}: {exc}", file=sys.stderr)
        return 1
    if missing:
        print(
            f"smoke test FAILED: no {', '.join(missing)} detections reached the viewer within "
            f"{args.timeout:.0f} s (stream {args.stream!r})",
            file=sys.stderr,
        )
        return 1
    print(f"smoke test passed: {', '.join(args.track)} reached the viewer", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
