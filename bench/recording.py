"""What recording costs: file size per minute, CPU per stream, and what 30 fps keeps of the motion.

    python -m live2d_pose.bench.recording                 # one minute of each take, 30 states/s, a table
    python -m live2d_pose.bench.recording --minutes 5 --rate 90 --json out.json
    python -m live2d_pose.bench.recording --live          # a live stream's cost: in the gateway, or a client
                                                          # (bench/recording_live.py)

Takes (live2d_pose/testing/takes.py), each looped to ``--minutes`` and fed
at ``--rate`` body states a second (the gateway publishes one per update:
up to one per tracker per camera frame, so 30 to 90 at 30 fps):

- ``holistic``: gesture_video.mp4's real face, pose and hands through the
  smoothed rig (every channel: 41 bones, 11 expressions, 51 blendshapes);
- ``face``: the same with the face tracker only (the bones stand still at
  rest, save the neck and head): what most VTubers record;
- ``full-body``: the synthetic dance with legs and the hips moving in the room.

Reported per take: bytes per minute of the journal (while recording), the
.vrma and the .bvh (sizes do not depend on the machine); CPU of one core
while recording at ``--rate`` (the recorder's ``add`` and its writer thread,
process CPU time over the take fed as fast as it goes, scaled to the rate)
and the seconds of CPU that ``close`` takes per minute of take (resampling
and writing both files); the angle between each bone of the take at its own
sample times (as recorded, not looped: 25 fps for the gesture video, uneven
for the dance) and its .vrma read back there (what resampling to 30 fps costs).
Timings are for a quiet machine: never assert on them.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from live2d_pose.recording import Motion, Recorder, read_motion, write_vrma
from live2d_pose.recording.motion import angle_degrees, interpolate
from live2d_pose.testing import record
from live2d_pose.testing.takes import GESTURE, full_body_take, recorded_take

log = logging.getLogger("live2d_pose.bench")


def face_only_take():
    """The gesture recording as a face-only stream would send it, through the smoothed rig."""
    from live2d_pose import wire
    from live2d_pose.rig.results import parse_result
    from live2d_pose.rig import Rig

    rig, take = Rig(), []
    for result in record.load(GESTURE)["results"]:
        message = {k: v for k, v in result.items() if k not in ("poses", "hands")}
        message["tracks"] = ["face"]
        t = float(message["ts"]["ingest"])
        rig.offer(parse_result(wire.pack(message), received_ms=t))
        take.append((t, rig.smoothed))
    return take


TAKES = {"holistic": recorded_take, "face": face_only_take, "full-body": lambda: full_body_take(seconds=8.0)}


def looped(take: list, minutes: float, rate: float) -> list:
    """``take``'s states in a loop, one every 1000 / rate ms, for ``minutes``."""
    count = int(minutes * 60 * rate) + 1
    return [(k * 1000.0 / rate, take[k % len(take)][1]) for k in range(count)]


def measure(name: str, take: list, folder: Path, fps: float, rate: float) -> dict:
    minutes = (take[-1][0] - take[0][0]) / 60000.0
    vrma, bvh = folder / f"{name}.vrma", folder / f"{name}.bvh"
    recorder = Recorder(vrma, bvh, fps=fps)
    cpu = time.process_time()
    for t, state in take:
        recorder.add(t, state)
    recorder.stop()
    record_cpu = time.process_time() - cpu
    journal_bytes = recorder.journal.stat().st_size
    cpu = time.process_time()
    recorder.close()
    close_cpu = time.process_time() - cpu
    return {
        "take": name,
        "states": len(take),
        "minutes": minutes,
        "rate": rate,
        "fps": fps,
        "journal_mb_per_min": journal_bytes / 1e6 / minutes,
        "vrma_mb_per_min": vrma.stat().st_size / 1e6 / minutes,
        "bvh_mb_per_min": bvh.stat().st_size / 1e6 / minutes,
        "record_cpu_percent": 100.0 * record_cpu / len(take) * rate,
        "close_cpu_s_per_min": close_cpu / minutes,
    }


def resampling_error(take: list, folder: Path, fps: float) -> dict:
    """Degrees between each bone of ``take`` at its own sample times and its .vrma read back there."""
    source = Motion.from_samples(take)
    write_vrma(folder / "resampled.vrma", source, fps=fps)
    back = read_motion(folder / "resampled.vrma")
    at = source.t_ms - source.t_ms[0]
    errors = np.concatenate(
        [
            angle_degrees(interpolate(back.t_ms, back.bones[b], at, rotation=True), source.rotations(b))
            for b in source.bones
        ]
    )
    return {
        "p50": float(np.percentile(errors, 50)),
        "p95": float(np.percentile(errors, 95)),
        "max": float(errors.max()),
    }


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| take | states/s | journal MB/min | .vrma MB/min | .bvh MB/min | recording CPU % | close s/min "
        "| resampling p50 / p95 / max ° |",
        "|" + "---|" * 8,
    ]
    for r in rows:
        e = r["resampling_deg"]
        lines.append(
            f"| {r['take']} | {r['rate']:g} | {r['journal_mb_per_min']:.2f} | {r['vrma_mb_per_min']:.2f} "
            f"| {r['bvh_mb_per_min']:.2f} | {r['record_cpu_percent']:.2f} | {r['close_cpu_s_per_min']:.2f} "
            f"| {e['p50']:.2f} / {e['p95']:.2f} / {e['max']:.2f} |"
        )
    lines += [
        "",
        f"Files at {rows[0]['fps']:g} fps. Recording CPU: % of one core at that many states a second "
        "(add() and the journal's writer thread); close: CPU seconds to write both files per minute of "
        "take. Resampling: the angle between each bone of the take (as recorded: gesture_video at 25 fps, "
        "the dance at uneven times) at its own times and its .vrma read back there.",
    ]
    return "\n".join(lines)


def run(takes: list[str], minutes: float, rate: float, fps: float) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="live2d-pose-recording-") as tmp:
        for name in takes:
            take = TAKES[name]()
            rows.append(measure(name, looped(take, minutes, rate), Path(tmp), fps, rate))
            rows[-1]["resampling_deg"] = resampling_error(take, Path(tmp), fps)
            log.info("%s: %s", name, rows[-1])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m live2d_pose.bench.recording",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--takes", default=",".join(TAKES), help=f"comma list of {', '.join(TAKES)}")
    parser.add_argument("--minutes", type=float, default=1.0, help="length of each take")
    parser.add_argument("--rate", type=float, default=30.0, help="body states a second fed to the recorder")
    parser.add_argument("--fps", type=float, default=30.0, help="the files' frame rate")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--live",
        action="store_true",
        help="instead: a live stream's recording cost in a real "
        "gateway, in it or as a client (bench/recording_live.py)",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="--live: each window's length")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.live:
        return live(args.seconds, args.json)
    names = [n.strip() for n in args.takes.split(",") if n.strip()]
    unknown = [n for n in names if n not in TAKES]
    if unknown:
        parser.error(f"unknown take(s) {unknown}; known: {', '.join(TAKES)}")
    if not (args.minutes > 0 and args.rate > 0 and args.fps > 0):
        parser.error("--minutes, --rate and --fps must be positive")
    rows = run(names, args.minutes, args.rate, args.fps)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    print(markdown_table(rows))
    return 0


def live(seconds: float, out: Path | None) -> int:
    from live2d_pose.bench import recording_live

    if not seconds > 0:
        raise SystemExit("--seconds must be positive")
    with tempfile.TemporaryDirectory(prefix="live2d-pose-recording-") as tmp:
        result = recording_live.run(seconds, warmup=2.0, log_dir=Path(tmp))
    if out:
        out.write_text(json.dumps(result, indent=2))
    print(recording_live.markdown_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
