"""Overload scenarios of `live2d-pose bench`: more cameras than the workers hold, memory when
they leave, a costly flood beside a cheap camera. The figures in docs/reliability.md
("More cameras than instances") come from these runs, on a quiet machine:

    live2d-pose bench --scenarios overload --duration 40     # all four, about 4 minutes
    live2d-pose bench --scenarios faces28,faces40 -t 40
    live2d-pose bench --scenarios leave30 -t 20
    live2d-pose bench --scenarios flood4k -t 20

Each runs ingest, two landmarkers and the gateway as real processes with their default
settings, except that one address may connect every camera and viewer (the bench is one
client) and,
for faces40, ``--max-streams`` is 40 (so the workers' capacity decides, not the stream cap):

- ``faces28``, ``faces40``: 28 / 40 face cameras at 1 fps (the astronaut frames, phases
  spread over a second). Results per second, the worst gap between two results of one
  camera, cameras refused (and why), MediaPipe instances built (lanes' ``warming``), workers
  declared dead.
- ``leave30``: a 15 fps face camera, then 30 holistic cameras (face, pose, hands; the gesture
  video at 640x360, 1 fps each) join 0.2 s apart, stream, and leave. The steady camera's rate
  and worst gap while they are there; the landmarkers' resident memory before, at its peak,
  and once back within 50 MB of before (or after 60 s), and how long that took.
- ``flood4k``: a 15 fps face camera, and a camera sending 3840x2160 frames made slow to decode
  (3.4 MB, noisy: live2d_pose.testing.frames.costly_frames) with face, pose and hands as fast
  as the socket takes them. The cheap camera's rate and worst gap; the flood's results a
  second (each tracker's result counts, since it joined).

No figure here is a speed of MediaPipe; they are what a viewer sees under overload, and the
memory the workers hold.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("live2d_pose.bench")

HOLISTIC = ("face", "pose", "hands")
# the bench plays every camera and viewer from one address
ONE_CLIENT = {"LIVE2D_POSE_MAX_STREAMS_PER_CLIENT": "0", "LIVE2D_POSE_MAX_VIEWERS_PER_CLIENT": "0"}
SETTLE_LIMIT_S = 60.0  # how long to wait for the workers' memory to come back after the cameras left
SETTLED_WITHIN_MB = 50.0  # back: within this of where it was before the cameras came


@dataclass(frozen=True)
class OverloadScenario:
    name: str
    kind: str  # "faces", "leave", "flood"
    cameras: int = 0
    env: tuple[tuple[str, str], ...] = ()


SCENARIOS = {
    "faces28": OverloadScenario("faces28", "faces", 28),
    "faces40": OverloadScenario("faces40", "faces", 40, (("LIVE2D_POSE_MAX_STREAMS", "40"),)),
    "leave30": OverloadScenario("leave30", "leave", 30),
    "flood4k": OverloadScenario("flood4k", "flood"),
}
GROUPS = {"overload": tuple(SCENARIOS)}


def expand(names: list[str]) -> list[str]:
    """Scenario names with ``overload`` standing for all of them."""
    return [n for name in names for n in GROUPS.get(name, (name,))]


def run(names: list[str], warmup: float, duration: float, log_dir: Path, extra_env: dict[str, str]) -> list[dict]:
    runs = []
    for name in expand(names):
        scenario = SCENARIOS[name]
        log.info("%s: %s, %.0f s", name, scenario.kind, duration)
        runs.append(run_one(scenario, warmup, duration, log_dir / name, extra_env))
        log.info("%s: %s", name, _summary_line(runs[-1]))
    return runs


def run_one(
    scenario: OverloadScenario, warmup: float, duration: float, log_dir: Path, extra_env: dict[str, str]
) -> dict:
    from live2d_pose.testing.pipeline import Pipeline

    env = {
        "LIVE2D_POSE_LOG_LEVEL": "WARNING",
        "GLOG_minloglevel": "2",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **ONE_CLIENT,
        **dict(scenario.env),
        **extra_env,
    }
    pipe = Pipeline(log_dir, workers=2, env=env).start()
    try:
        drive = {"faces": _faces, "leave": _leave, "flood": _flood}[scenario.kind]
        return {"name": scenario.name, "seconds": duration, **drive(pipe, scenario, warmup, duration)}
    finally:
        pipe.stop()


def _faces(pipe, scenario: OverloadScenario, warmup: float, duration: float) -> dict:
    from live2d_pose.testing.crowd import CameraPlan
    from live2d_pose.testing.frames import astronaut_frames

    frames = astronaut_frames(8)
    plans = [
        CameraPlan(f"face{i:02d}", frames[i % 8 :] + frames[: i % 8], 1.0, start=i / scenario.cameras)
        for i in range(scenario.cameras)
    ]
    outcome = _crowd(pipe, plans, max(warmup, 3.0), duration)
    lanes = [lane for s in outcome.stats["streams"].values() for lane in s["lanes"].values()]
    return {
        "cameras": scenario.cameras,
        "fps_each": 1.0,
        "served": len(outcome.served()),
        "refused": dict(Counter(outcome.refused().values())),
        "results_per_s": round(outcome.results_per_s(), 2),
        "worst_gap_s": round(outcome.worst_gap_s(), 2),
        "instances_built": sum(lane["warming"] for lane in lanes),
        "workers_dead": outcome.stats["totals"]["workers_dead"],
    }


def _leave(pipe, scenario: OverloadScenario, warmup: float, duration: float) -> dict:
    from live2d_pose.testing.crowd import CameraPlan
    from live2d_pose.testing.frames import astronaut_frames

    gesture = _gesture()
    plans = [CameraPlan("steady", astronaut_frames(16), 15.0)]
    plans += [
        CameraPlan(
            f"body{i:02d}",
            gesture[i * 3 :] + gesture[: i * 3],
            1.0,
            (640, 360),
            HOLISTIC,
            start=warmup + 0.2 * i,
            watch=False,
        )
        for i in range(scenario.cameras)
    ]
    from live2d_pose.testing.crowd import track_peak

    before = pipe.workers_rss_mb()
    peak = [before]

    async def drive():
        sampling = asyncio.create_task(track_peak(pipe.workers_rss_mb, peak, every=0.5))
        try:
            return await _crowd_async(pipe, plans, warmup, duration)
        finally:
            sampling.cancel()

    outcome = asyncio.run(drive())
    left = time.monotonic()
    while (after := pipe.workers_rss_mb()) > before + SETTLED_WITHIN_MB and time.monotonic() - left < SETTLE_LIMIT_S:
        time.sleep(0.5)
    return {
        "cameras": scenario.cameras,
        "tracks": list(HOLISTIC),
        "fps_each": 1.0,
        "served": len(outcome.served()) - 1,
        "refused": dict(Counter(outcome.refused().values())),
        "steady_fps": round(outcome.results_per_s(["steady"]), 2),
        "steady_worst_gap_s": round(outcome.gap_s("steady"), 2),
        "workers_rss_mb": {"before": round(before), "peak": round(peak[0]), "after": round(after)},
        "memory_back_after_s": round(time.monotonic() - left, 1),
        "workers_dead": outcome.stats["totals"]["workers_dead"],
    }


def _flood(pipe, scenario: OverloadScenario, warmup: float, duration: float) -> dict:
    from live2d_pose.testing.crowd import CameraPlan
    from live2d_pose.testing.frames import astronaut_frames, costly_frames

    plans = [
        CameraPlan("cheap", astronaut_frames(16), 15.0),
        CameraPlan("flood", costly_frames(_gesture()[::10]), 0.0, (3840, 2160), HOLISTIC, start=1.0, watch=False),
    ]
    outcome = _crowd(pipe, plans, max(warmup, 3.0), duration)
    flood = outcome.stats["streams"].get("flood", {})
    flooding_s = max(warmup, 3.0) + outcome.seconds - 1.0  # it joined 1 s in
    return {
        "cheap_fps": round(outcome.results_per_s(["cheap"]), 2),
        "cheap_worst_gap_s": round(outcome.gap_s("cheap"), 2),
        "flood_sent_per_s": round(outcome.streams["flood"].sent / flooding_s, 1),
        "results_per_s": round(flood.get("done", 0) / flooding_s, 2),  # the flood's lanes' results
        "flood_errors": flood.get("errors", 0),
        "quarantined": outcome.stats["totals"]["quarantined"],
        "tracker_cost_ms": outcome.stats["tracker_cost_ms"],
    }


# ---------------------------------------------------------------- helpers


def _crowd(pipe, plans, warmup: float, duration: float):
    return asyncio.run(_crowd_async(pipe, plans, warmup, duration))


async def _crowd_async(pipe, plans, warmup: float, duration: float):
    from live2d_pose.testing.crowd import crowd

    return await crowd(pipe.camera_url, pipe.viewer_url, plans, warmup, duration, pipe.ingest_stats)


def _gesture() -> list[bytes]:
    from live2d_pose.bench.run import _gesture_frames

    return _gesture_frames()


def _summary_line(result: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in result.items() if k not in ("name", "tracker_cost_ms"))


def markdown_table(runs: list[dict]) -> str:
    """One row per scenario: what a viewer saw, and the workers' memory where it was measured."""
    if not runs:
        return ""
    lines = [
        "| overload scenario | results / s | worst gap s | refused | instances built | workers dead "
        "| steady / cheap camera: fps, worst gap s | workers' memory MB: before, peak, after |",
        "|" + "---|" * 8,
    ]
    for r in runs:
        prefix = "steady" if "steady_fps" in r else "cheap"
        rss = r.get("workers_rss_mb")
        memory = f"{rss['before']}, {rss['peak']}, {rss['after']} ({r['memory_back_after_s']} s)" if rss else "–"
        cells = [
            r["name"],
            _dash(r.get("results_per_s")),
            _dash(r.get("worst_gap_s")),
            r.get("refused") or 0,
            _dash(r.get("instances_built")),
            _dash(r.get("workers_dead")),
            f"{_dash(r.get(prefix + '_fps'))}, {_dash(r.get(prefix + '_worst_gap_s'))}",
            memory,
        ]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    lines.append("")
    lines.append(
        "faces: every camera's results; flood4k: the flood's results (one per tracker); memory: "
        "both landmarkers, and how long after the cameras left it took to come back."
    )
    return "\n".join(lines)


def _dash(value) -> str:
    return "–" if value is None else str(value)
