"""Record what the pipeline would send for a video: real MediaPipe, VIDEO mode, no services.

The viewer's node tests, the server-side rig of the outputs and the fidelity
benchmark need real face, body and hand results without starting a pipeline.
This runs MediaPipe's Face, Pose and Hand Landmarkers directly on each frame
(the models the landmarker ships, VIDEO mode, timestamps at the video's own
frame times) and writes one msgpack file: the gateway -> browser messages of
docs/protocol.md, one per frame, each carrying every tracker.

    python -m live2d_pose.testing.record                      # gesture_video.mp4 -> web/test/fixtures/gesture.msgpack
    python -m live2d_pose.testing.record --video clip.mp4 --out clip.msgpack --track face --mirror
    python -m live2d_pose.testing.record --video clip.mp4 --track face --start 1 --step 2   # the same at half the fps
    python -m live2d_pose.testing.record --video clip.mp4 --track pose --max-poses 2        # two people

``record_frames`` records any list of JPEG frames (the fidelity benchmark's
noisy still face). ``--motion-of`` turns a recording into the motion messages
the gateway's rig sends for it (the viewer's node tests read them)::

    python -m live2d_pose.testing.record --motion-of web/test/fixtures/gesture.msgpack \
        --out web/test/fixtures/gesture-motion.msgpack

The file is a map::

    {"source": str, "fps": float, "imageSize": {"width", "height"}, "tracks": [names],
     "mirrored": bool, "results": [RESULT, ...]}

where each RESULT is the viewer message ``{"type": "landmarks", "stream": "recorded",
"seq": N, "imageSize", "ts": {"ingest": ms from the video's start}, "tracks", "faces",
"poses", "hands"}`` (see docs/protocol.md for the binary layouts).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import msgpack

from live2d_pose.trackers import TRACKERS, UNTAGGED
from live2d_pose import wire

log = logging.getLogger("live2d_pose.record")

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "web" / "test" / "fixtures" / "gesture.msgpack"
TRACKS = tuple(TRACKERS)  # the tracker table's names


def record(
    video: Path,
    tracks: tuple[str, ...] = TRACKS,
    mirror: bool = False,
    max_frames: int | None = None,
    max_hands: int = 2,
    quality: int = 85,
    start: int = 0,
    step: int = 1,
    max_poses: int = 1,
) -> dict:
    """Record a video; `start`/`step` keep every step-th frame from `start`
    (at its own time), i.e. the same scene seen by a camera at fps/step."""
    import cv2

    from live2d_pose.testing import media

    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    capture.release()
    frames = media.video_jpeg_frames(video, max_frames=max_frames, size=None, quality=quality)
    if mirror:
        frames = [_mirrored(jpeg, quality) for jpeg in frames]
    kept = range(start, len(frames), step)
    source = f"{video.name}{' (mirrored)' if mirror else ''}"
    if (start, step) != (0, 1):
        source += f" frames {start}::{step} ({fps / step:.4g} fps)"
    return record_frames(
        [frames[i] for i in kept],
        [round(i * 1000.0 / fps) for i in kept],
        source,
        fps / step,
        tracks,
        max_hands,
        mirror,
        max_poses,
    )


def record_frames(
    frames: list[bytes],
    timestamps: list[int],
    source: str,
    fps: float,
    tracks: tuple[str, ...] = TRACKS,
    max_hands: int = 2,
    mirrored: bool = False,
    max_poses: int = 1,
) -> dict:
    """Record a list of JPEG frames taken at `timestamps` (ms, increasing)."""
    import cv2
    import numpy as np

    from live2d_pose.testing import reference

    if not frames or len(frames) != len(timestamps):
        raise ValueError(f"need one timestamp per frame (got {len(frames)} frames, {len(timestamps)} timestamps)")
    height, width = cv2.imdecode(np.frombuffer(frames[0], np.uint8), cv2.IMREAD_COLOR).shape[:2]
    per_track = {}
    if "face" in tracks:
        per_track["faces"] = _faces(frames, timestamps)
    if "pose" in tracks:
        per_track["poses"] = [
            [p.to_wire() for p in poses] for poses in reference.video_poses(frames, timestamps, max_poses)
        ]
    if "hands" in tracks:
        per_track["hands"] = [
            [h.to_wire() for h in hands] for hands in reference.video_hands(frames, timestamps, max_hands)
        ]
    results = []
    for index, ts in enumerate(timestamps):
        message = {
            "type": "landmarks",
            "stream": "recorded",
            "seq": index + 1,
            "imageSize": {"width": width, "height": height},
            "ts": {"ingest": float(ts)},
            "tracks": [t for t in TRACKS if t in tracks],
        }
        for key, values in per_track.items():
            message[key] = values[index]
        results.append(message)
    return {
        "source": f"{source}, MediaPipe VIDEO mode",
        "fps": fps,
        "imageSize": {"width": width, "height": height},
        "tracks": [t for t in TRACKS if t in tracks],
        "mirrored": mirrored,
        "results": results,
    }


def _faces(frames: list[bytes], timestamps: list[int]) -> list[list[dict]]:
    """Faces with blendshapes and matrix, exactly as the landmarker sends them."""
    import numpy as np
    from mediapipe.tasks.python import vision

    from live2d_pose.testing import reference

    landmarker = reference._landmarker(vision.RunningMode.VIDEO, 1)
    try:
        out = []
        for jpeg, ts in zip(frames, timestamps):
            result = landmarker.detect_for_video(reference._rgb(jpeg), ts)
            out.append(
                [
                    wire.Face(
                        np.array([(p.x, p.y, p.z) for p in result.face_landmarks[i]], np.float32),
                        np.array([c.score for c in result.face_blendshapes[i]], np.float32),
                        np.asarray(result.facial_transformation_matrixes[i], np.float32).reshape(16),
                    ).to_wire()
                    for i in range(len(result.face_landmarks))
                ]
            )
        return out
    finally:
        landmarker.close()


def _mirrored(jpeg: bytes, quality: int) -> bytes:
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)[:, ::-1]
    return cv2.imencode(".jpg", np.ascontiguousarray(image), [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def load(path: str | Path) -> dict:
    """A recording written by :func:`record` (bin fields stay bytes)."""
    return msgpack.unpackb(Path(path).read_bytes(), raw=False)


TRACKER_KEYS = {t.name: t.key for t in TRACKERS.values()}


def per_tracker(results: list[dict], order: tuple[str, ...] = TRACKS, late: str | None = None) -> list[dict]:
    """A recording's results as the live pipeline sends them: one message per tracker per frame.

    Recordings carry every tracker of a frame in one message; the pipeline
    answers each tracker (lane) in its own message, stamped with the frame's
    seq and ``ts.ingest`` (docs/protocol.md). Each frame's messages come in
    ``order``; with ``late`` that tracker is a frame behind: its message for
    frame N comes after the other trackers' messages for frame N+1 (a slow
    lane), and its last one at the end.
    """
    messages: list[dict] = []
    held: dict | None = None  # the late tracker's message, waiting for the next frame's
    for result in results:
        late_message = None
        for tracker in (t for t in order if t in result.get("tracks", UNTAGGED)):
            message = {k: v for k, v in result.items() if k not in TRACKER_KEYS.values()}
            message["tracks"] = [tracker]
            message[TRACKER_KEYS[tracker]] = result.get(TRACKER_KEYS[tracker]) or []
            if tracker == late:
                late_message = message
            else:
                messages.append(message)
        if held is not None:
            messages.append(held)
        held = late_message
    if held is not None:
        messages.append(held)
    return messages


def arrivals(messages: list[dict]) -> list[float]:
    """When each message of a recording reaches a viewer, on the recording's own clock: at once for
    the newest frame so far, so a late tracker's message for frame N arrives with frame N+1's."""
    newest, out = float("-inf"), []
    for message in messages:
        newest = max(newest, message["ts"]["ingest"])
        out.append(newest)
    return out


def motion_of(recording: dict) -> dict:
    """The motion messages the gateway's rig sends for a recording's results, at their own times:
    ``{"source", "mirrored": [bytes], "plain": [bytes], "last": {"mirrored": bytes, "plain": bytes}}``:
    each list one message per result that moved the rig (the first full, then what changed), and
    the full message of the last update (what the deltas must add up to)."""
    from live2d_pose.rig import Rig
    from live2d_pose.rig.motion import Motion, MotionEncoder
    from live2d_pose.rig.results import parse_result

    out: dict = {"source": f"the rig's motion for {recording['source']}", "last": {}}
    for key, mirror in (("mirrored", True), ("plain", False)):
        rig, encoder, messages = Rig(), MotionEncoder(), []
        for result in recording["results"]:
            if rig.offer(parse_result(wire.pack(result), received_ms=result["ts"]["ingest"])):
                update = encoder.update(Motion.of(rig, mirror))
                messages.append(update.delta)
        out[key] = messages
        out["last"][key] = update.full()
    return out


def main(argv: list[str] | None = None) -> int:
    from live2d_pose.testing import media

    parser = argparse.ArgumentParser(
        prog="python -m live2d_pose.testing.record",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--video", type=Path, default=media.media_path("gesture_video.mp4"))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--track", default=",".join(TRACKS), help=f"comma list of {', '.join(TRACKS)}")
    parser.add_argument("--mirror", action="store_true", help="flip every frame left-right first")
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--start", type=int, default=0, help="first frame kept (with --step)")
    parser.add_argument("--step", type=int, default=1, help="keep every STEP-th frame: a camera at fps/STEP")
    parser.add_argument("--max-poses", type=int, default=1, help="bodies the Pose Landmarker looks for")
    parser.add_argument(
        "--motion-of",
        type=Path,
        default=None,
        metavar="RECORDING",
        help="write the rig's motion messages for this recording instead (no MediaPipe)",
    )
    args = parser.parse_args(argv)
    if args.motion_of:
        motion = motion_of(load(args.motion_of))
        args.out.write_bytes(wire.pack(motion))
        print(f"{args.out}: {len(motion['mirrored'])} motion messages per variant")
        return 0
    tracks = tuple(t.strip() for t in args.track.split(",") if t.strip())
    unknown = set(tracks) - set(TRACKS)
    if unknown:
        parser.error(f"unknown tracker(s) {sorted(unknown)}; known: {', '.join(TRACKS)}")
    if args.step < 1 or args.start < 0:
        parser.error("--step must be >= 1 and --start >= 0")
    recording = record(
        args.video, tracks, args.mirror, args.max_frames, start=args.start, step=args.step, max_poses=args.max_poses
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(wire.pack(recording))
    found = {key: sum(1 for r in recording["results"] if r.get(key)) for key in ("faces", "poses", "hands")}
    print(f"{args.out}: {len(recording['results'])} frames, found {found}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
