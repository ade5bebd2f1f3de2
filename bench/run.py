"""``live2d-pose bench``: the real pipeline against bare MediaPipe on this machine.

For each scenario it starts ingest, W landmarkers and the gateway as real
processes (live2d_pose/testing/pipeline.py), connects one viewer per stream, then
replays S camera streams at F fps each (``0``: as fast as the socket takes them)
through the origin camera protocol for T seconds after a short warm-up. Face
scenarios replay astronaut frames; holistic ones (face, pose and hands:
``track=face,pose,hands``) replay MediaPipe's gesture video at 640x360. Then, in
the same run, it measures the bare ceilings (bench/bare.py): W processes
looping decode + ``detect_for_video`` with no sockets, each tracker alone in one
process, and face+pose+hands one after another in one process (what a
"one stream, one worker" design does per frame). Results go to bench/results/
as JSON, a markdown table and PNG plots.

    live2d-pose bench                       # default set, a few minutes on 2 cores
    live2d-pose bench --quick               # about a minute
    live2d-pose bench --scenarios flood --workers 2 --affinity both
    live2d-pose bench --scenarios holistic,holistic2,holistic-replicas
    live2d-pose bench --scenarios vmc,vmc-holistic   # the VMC output's cost (bench/outputs.py)
    live2d-pose bench --fidelity            # tracking fidelity instead: lag, jitter, blinks (no services)
    live2d-pose bench --scenarios motion             # the gateway's rig: solve cost, CPU with 1 and
                                                     # 100 viewers, motion bytes/s (bench/motion.py)
    live2d-pose bench --scenarios overload -t 40     # more cameras than instances (bench/overload.py)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

REPO = Path(__file__).resolve().parents[1]

log = logging.getLogger("live2d_pose.bench")

FACE_SCENARIOS = ("1x30", "4x30", "flood", "scaling")  # and SxF: S streams at F fps
DEFAULT_SCENARIOS = FACE_SCENARIOS + ("holistic", "holistic2", "vmc", "vmc-holistic", "motion")
NUM_FRAMES = 60  # distinct frames replayed in a loop (about 2 s of motion at 30 fps)
HOLISTIC = ("face", "pose", "hands")
HOLISTIC_SIZE = (640, 360)  # gesture_video.mp4 is 1280x720; a camera sends less
HOLISTIC_WORKERS = (1, 2, 3)


@dataclass(frozen=True)
class Scenario:
    name: str
    streams: int
    fps: float  # per stream; 0: flood
    workers: int
    affinity: bool = True
    group: str = ""  # "scaling" for the 1..W sweep, "holistic" for face+pose+hands runs
    tracks: tuple[str, ...] = ("face",)
    env: tuple[tuple[str, str], ...] = ()  # extra LIVE2D_POSE_* settings of this scenario

    @property
    def saturated(self) -> bool:
        return self.fps == 0 or self.group == "scaling"

    @property
    def media(self) -> str:
        return "face" if self.tracks == ("face",) else "gesture"


# Holistic presets: (streams, workers to run, extra settings). "replicas" runs the pose lane
# on two workers at once, taking alternate frames.
HOLISTIC_PRESETS = {
    "holistic": (1, HOLISTIC_WORKERS, ()),
    "holistic2": (2, (2, 3), ()),
    "holistic-replicas": (1, (3,), (("LIVE2D_POSE_REPLICAS", "pose=2"),)),
}


def scenario_names() -> list[str]:
    """Every named scenario: the face ones, the holistic presets, the outputs' (bench/outputs.py), the
    gateway rig's (bench/motion.py) and the overload ones (bench/overload.py, with their group name)."""
    from live2d_pose.bench import motion, overload
    from live2d_pose.bench.outputs import SCENARIOS as OUTPUT_SCENARIOS

    return [
        *FACE_SCENARIOS,
        *HOLISTIC_PRESETS,
        *OUTPUT_SCENARIOS,
        *motion.SCENARIOS,
        *overload.GROUPS,
        *overload.SCENARIOS,
    ]


def default_workers() -> int:
    from live2d_pose.config import UpConfig

    return UpConfig().workers


def build_scenarios(
    names: list[str],
    workers: int,
    max_workers: int,
    affinity: str,
    fps_override: float | None,
    streams_override: int | None,
    scaling_fps: float = 0.0,
    holistic_workers: tuple[int, ...] | None = None,
) -> list[Scenario]:
    affinities = {"on": [True], "off": [False], "both": [True, False]}[affinity]
    out: list[Scenario] = []
    for name in names:
        for aff in affinities:
            suffix = "" if aff else "-noaff"
            if name in HOLISTIC_PRESETS:
                streams, worker_counts, env = HOLISTIC_PRESETS[name]
                for w in holistic_workers or worker_counts:
                    out.append(
                        Scenario(
                            f"{name}-w{w}{suffix}",
                            streams_override or streams,
                            30.0 if fps_override is None else fps_override,
                            w,
                            aff,
                            "holistic",
                            HOLISTIC,
                            env,
                        )
                    )
                continue
            if name == "scaling":
                for w in range(1, max_workers + 1):
                    out.append(Scenario(f"scaling-w{w}{suffix}", w, scaling_fps, w, aff, "scaling"))
                continue
            if name == "1x30":
                s, f = 1, 30.0
            elif name == "4x30":
                s, f = 4, 30.0
            elif name == "flood":
                s, f = 1, 0.0
            elif "x" in name:  # SxF, e.g. 2x60
                s_text, f_text = name.split("x", 1)
                s, f = int(s_text), float(f_text)
            else:
                raise SystemExit(f"unknown scenario {name!r}; known: {', '.join(scenario_names())}, SxF")
            s = streams_override or s
            f = f if fps_override is None else fps_override
            out.append(Scenario(name + suffix, s, f, workers, aff))
    return out


def scaling_fps(requested: float | None, extra_env: dict[str, str]) -> float:
    """Saturate without flooding: ingest accepts at most max_fps per camera and throws the
    rest away at the door, so offering exactly max_fps loads the workers as a flood does
    while the sockets do no useless work (a raw flood is the `flood` scenario)."""
    if requested is not None:
        return requested
    from live2d_pose.config import from_sources
    from live2d_pose.ingest.settings import IngestConfig

    return float(from_sources(IngestConfig, environ={**os.environ, **extra_env}).max_fps)


# ---------------------------------------------------------------- one pipeline run


async def _drive(pipe, scenario: Scenario, frames: list[bytes], warmup: float, duration: float, sample_rss) -> dict:
    from live2d_pose.testing.clients import Camera, Viewer

    ids = [f"bench{i}" for i in range(scenario.streams)]
    viewers = [Viewer(pipe.viewer_url(f"stream={sid}")) for sid in ids]
    width, height = HOLISTIC_SIZE if scenario.media == "gesture" else (640, 480)
    cameras = [
        Camera(f"{pipe.camera_url}?stream={sid}&track={','.join(scenario.tracks)}", width, height) for sid in ids
    ]
    for client in viewers + cameras:
        await client.__aenter__()
    sent = [0] * len(cameras)  # frames sent inside the measured window
    window: dict[str, float] = {}
    begin = time.monotonic()
    measure_at, stop_at = begin + warmup, begin + warmup + duration

    async def send(index: int, camera) -> None:
        count, offset = 0, index * 7  # streams start at different frames
        # independent cameras are not in step: spread the streams' phases over one frame interval
        phase = begin + (index / (scenario.streams * scenario.fps) if scenario.fps > 0 else 0.0)
        await asyncio.sleep(max(0.0, phase - time.monotonic()))
        while (now := time.monotonic()) < stop_at:
            await camera.send(frames[(offset + count) % len(frames)])
            count += 1
            if now >= measure_at:
                sent[index] += 1
            if scenario.fps > 0:
                await asyncio.sleep(max(0.0, phase + count / scenario.fps - time.monotonic()))
            else:
                await asyncio.sleep(0)

    async def clock() -> tuple[dict, dict]:
        await asyncio.sleep(max(0.0, measure_at - time.monotonic()))
        window["start_ms"] = time.time() * 1000
        first = await asyncio.to_thread(pipe.ingest_stats)
        cpu0 = sample_rss(start=True)
        while time.monotonic() < stop_at:
            await asyncio.sleep(min(1.0, max(0.0, stop_at - time.monotonic())))
            sample_rss()
        window["end_ms"] = time.time() * 1000
        last = await asyncio.to_thread(pipe.ingest_stats)
        return first, last, cpu0

    senders = [asyncio.create_task(send(i, c)) for i, c in enumerate(cameras)]
    first, last, _ = await clock()
    await asyncio.gather(*senders)
    await asyncio.sleep(0.3)  # results still in flight arrive (they are outside the window)
    for client in cameras + viewers:
        await client.__aexit__(None, None, None)
    results = [r for v in viewers for r in v.results]
    return {"window": window, "sent": sum(sent), "results": results, "stats": (first, last), "streams": ids}


def run_pipeline(
    scenario: Scenario, frames: list[bytes], warmup: float, duration: float, log_dir: Path, extra_env: dict[str, str]
) -> dict:
    import psutil

    from live2d_pose.bench import analyse
    from live2d_pose.testing.pipeline import Pipeline

    env = {
        "LIVE2D_POSE_LOG_LEVEL": "WARNING",
        "GLOG_minloglevel": "2",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "LIVE2D_POSE_STREAM_AFFINITY": "true" if scenario.affinity else "false",
        **dict(scenario.env),
        **extra_env,
    }
    pipe = Pipeline(log_dir / scenario.name, workers=scenario.workers, env=env)
    pipe.start()
    procs = {name: psutil.Process(s.process.pid) for name, s in pipe.services.items()}
    procs["bench-client"] = psutil.Process()
    rss: dict[str, int] = {}
    cpu_start: dict[str, float] = {}
    cpu_end: dict[str, float] = {}

    def sample(start: bool = False):
        total = psutil.cpu_times()
        (cpu_start if start else cpu_end)["_machine"] = total.user + total.system + total.nice
        for name, proc in procs.items():
            try:
                rss[name] = max(rss.get(name, 0), proc.memory_info().rss)
                # the bench's own process spawned the services: its children are counted under their names
                family = name != "bench-client"
                (cpu_start if start else cpu_end)[name] = _cpu_seconds(proc, family)
            except psutil.Error:
                pass

    try:
        raw = asyncio.run(_drive(pipe, scenario, frames, warmup, duration, sample))
    finally:
        codes = pipe.stop()
    if any(code not in (0, None) for code in codes.values()):
        log.warning("%s: services exited with %s", scenario.name, codes)
    seconds = (raw["window"]["end_ms"] - raw["window"]["start_ms"]) / 1000
    machine = round(100 * (cpu_end.pop("_machine") - cpu_start.pop("_machine")) / seconds, 1)
    cpu = {name: _cpu_percent(cpu_start[name], cpu_end[name], seconds) for name in cpu_end if name in cpu_start}
    # CPU used by processes that are not ours (other jobs on the machine skew the figures)
    cpu["other"] = max(0.0, round(machine - sum(cpu.values()), 1))
    return analyse.pipeline_summary(scenario, raw, rss, cpu)


def _cpu_seconds(proc: psutil.Process, family: bool = True) -> dict[int, float]:
    """CPU seconds by pid of a process and (family) its children: a landmarker's decode helpers are its cost."""
    import psutil

    seconds = {}
    for member in [proc, *(proc.children(recursive=True) if family else [])]:
        try:
            times = member.cpu_times()
            seconds[member.pid] = times.user + times.system
        except psutil.Error:
            pass
    return seconds


def _cpu_percent(start: dict[int, float], end: dict[int, float], seconds: float) -> float:
    """Percent of one core over the window, counting processes alive at both samples."""
    used = sum(end[pid] - start[pid] for pid in end if pid in start)
    return round(100 * used / seconds, 1)


# ---------------------------------------------------------------- bare ceilings


def _face_frames() -> list[bytes]:
    from live2d_pose.testing.frames import astronaut_frames

    return astronaut_frames(NUM_FRAMES)


def _gesture_frames() -> list[bytes]:
    from live2d_pose.testing import media

    return media.video_jpeg_frames(media.media_path("gesture_video.mp4"), size=HOLISTIC_SIZE)


def paced_fps(scenarios: list[Scenario]) -> float | None:
    """The rate of the bare paced run (the single-camera latency reference), if any is needed."""
    face = [s for s in scenarios if s.media == "face"]
    paced = sorted({s.fps for s in face if s.fps > 0 and s.streams == 1}) or ([30.0] if face else [])
    return paced[0] if paced else None


def is_paced_reference(scenario: Scenario, fps: float | None) -> bool:
    return scenario.media == "face" and scenario.streams == 1 and fps is not None and scenario.fps == fps


def run_bare_paced(frames: dict[str, list[bytes]], fps: float, duration: float) -> dict:
    """One process paced like a single camera: measured right after that camera's scenario, because
    on a shared machine MediaPipe's per-frame time drifts by more than the overhead being measured."""
    from live2d_pose.bench import bare

    log.info("bare: face, paced, 1 process(es), paced at %g fps, %.0f s", fps, duration)
    return {**bare.run_bare(frames["face"], 1, duration, fps=fps, tracks=("face",)).summary(), "media": "face"}


def run_bares(
    scenarios: list[Scenario], frames: dict[str, list[bytes]], duration: float, paced: dict | None = None
) -> list[dict]:
    """The bare runs the scenarios are compared with, measured now, on the same machine
    (``paced``: the paced run, already measured next to its scenario)."""
    from live2d_pose.bench import bare

    plan = []  # (label, frames key, processes, paced fps, tracks)
    face = [s for s in scenarios if s.media == "face"]
    for w in sorted({s.workers for s in face}):
        plan.append(("face, saturated", "face", w, 0.0, ("face",)))
    fps = paced_fps(scenarios)
    if fps is not None:
        plan.append(("face, paced", "face", 1, fps, ("face",)))
    if any(s.media == "gesture" for s in scenarios):
        for track in HOLISTIC:  # each tracker alone in one process
            plan.append((f"{track} alone", "gesture", 1, 0.0, (track,)))
        plan.append(("face+pose+hands one after another", "gesture", 1, 0.0, HOLISTIC))
    out = []
    for label, media, processes, fps, tracks in plan:
        if label == "face, paced" and paced is not None:
            out.append(paced)
            continue
        log.info(
            "bare: %s, %d process(es), %s, %.0f s",
            label,
            processes,
            f"paced at {fps:g} fps" if fps else "saturated",
            duration,
        )
        out.append(
            {**bare.run_bare(frames[media], processes, duration, fps=fps, tracks=tracks).summary(), "media": media}
        )
    return out


# ---------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="live2d-pose bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--fidelity",
        action="store_true",
        help="run the tracking-fidelity benchmark instead (lag, jitter, blinks; no services); "
        "`live2d-pose bench --fidelity --help` lists its options",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help=f"comma list of {', '.join(scenario_names())}, or SxF (S streams at F fps); "
        f"default: {','.join(DEFAULT_SCENARIOS)}",
    )
    parser.add_argument(
        "--workers",
        "-w",
        type=int,
        default=None,
        help="landmarkers for non-scaling scenarios (default: live2d-pose up's default)",
    )
    parser.add_argument(
        "--max-workers", type=int, default=None, help="scaling goes from 1 to this many workers (default: cores + 1)"
    )
    parser.add_argument("--duration", "-t", type=float, default=None, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=None, help="seconds sent before measuring")
    parser.add_argument("--fps", type=float, default=None, help="override every scenario's fps (0: flood)")
    parser.add_argument("--streams", type=int, default=None, help="override streams (not scaling)")
    parser.add_argument(
        "--scaling-fps",
        type=float,
        default=None,
        help="per-stream rate of the scaling runs (default: ingest's max_fps, the most "
        "a camera gets accepted; 0: flood the socket)",
    )
    parser.add_argument(
        "--holistic-workers",
        default=None,
        help="comma list of worker counts for the holistic scenarios (default: each "
        "preset's own, e.g. 1,2,3 for holistic)",
    )
    parser.add_argument(
        "--affinity",
        choices=("on", "off", "both"),
        default="on",
        help="ingest stream_affinity for the runs (both: each scenario twice)",
    )
    parser.add_argument("--bare-duration", type=float, default=None, help="seconds per bare run")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare ceiling")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke test of about a minute")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra LIVE2D_POSE_* setting for the services (repeatable)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="results folder")
    parser.add_argument("--tag", default="", help="suffix for the result file names")
    return parser.parse_args(argv)


def machine() -> dict:
    info = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        info["memory_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    try:
        import mediapipe

        info["mediapipe"] = mediapipe.__version__
    except ImportError:
        pass
    return info


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--fidelity" in argv:
        from live2d_pose.bench import fidelity

        return fidelity.main([a for a in argv if a != "--fidelity"]) or 0
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s", datefmt="%H:%M:%S")
    from live2d_pose.bench import analyse, report

    workers = args.workers or default_workers()
    max_workers = args.max_workers or ((os.cpu_count() or 1) + 1 if not args.quick else min(2, workers))
    duration = args.duration or (3.0 if args.quick else 10.0)
    warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    bare_duration = args.bare_duration or (2.0 if args.quick else 5.0)
    extra_env = dict(item.split("=", 1) for item in args.env)
    from live2d_pose.bench import motion as motion_bench  # the gateway's rig
    from live2d_pose.bench import outputs as output_bench  # the output scenarios live there
    from live2d_pose.bench import overload as overload_bench  # and the overload ones

    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    output_names = [n for n in names if n in output_bench.SCENARIOS]
    motion_names = [n for n in names if n in motion_bench.SCENARIOS]
    overload_names = [n for n in names if n in overload_bench.SCENARIOS or n in overload_bench.GROUPS]
    scenarios = build_scenarios(
        [n for n in names if n not in output_names + motion_names + overload_names],
        workers,
        max_workers,
        args.affinity,
        args.fps,
        args.streams,
        scaling_fps(args.scaling_fps, extra_env),
        tuple(int(w) for w in args.holistic_workers.split(",")) if args.holistic_workers else None,
    )

    frames = (
        {"face": _face_frames(), "gesture": _gesture_frames()}
        if any(s.media == "gesture" for s in scenarios)
        else {"face": _face_frames()}
    )
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-logs-", dir=out))
    started = time.time()
    runs = []
    reference_fps = paced_fps(scenarios) if not args.no_bare else None
    paced_bare: list[dict] = []
    for scenario in scenarios:
        log.info(
            "%s: %d stream(s) x %s fps, %d worker(s), affinity %s, track %s, %.0f s",
            scenario.name,
            scenario.streams,
            scenario.fps or "max",
            scenario.workers,
            "on" if scenario.affinity else "off",
            ",".join(scenario.tracks),
            duration,
        )
        for attempt in (1, 2):
            try:
                summary = run_pipeline(scenario, frames[scenario.media], warmup, duration, log_dir, extra_env)
                break
            except Exception as exc:  # a service died or was killed from outside: say so, retry once
                log.error(
                    "%s failed (attempt %d): %s: %s; logs in %s",
                    scenario.name,
                    attempt,
                    exc.__class__.__name__,
                    exc,
                    log_dir / scenario.name,
                )
        else:
            continue
        runs.append(summary)
        log.info(
            "%s: offered %.1f fps, delivered %.1f fps, p50 %s ms, p95 %s ms",
            scenario.name,
            summary["offered_fps"],
            summary["delivered_fps"],
            summary["latency_ms"]["p50"],
            summary["latency_ms"]["p95"],
        )
        if is_paced_reference(scenario, reference_fps) and not paced_bare:
            paced_bare.append(run_bare_paced(frames, reference_fps, bare_duration))

    outputs = output_bench.run(output_names, warmup, duration, log_dir, extra_env)
    motion = motion_bench.run(motion_names, warmup, duration, log_dir, extra_env)
    overloads = overload_bench.run(overload_names, warmup, duration, log_dir, extra_env)
    bares = []
    if not args.no_bare and scenarios:
        bares = run_bares(scenarios, frames, bare_duration, paced_bare[0] if paced_bare else None)
        analyse.attach_bare(runs, bares)

    document = {
        "version": 1,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "elapsed_s": round(time.time() - started, 1),
        "machine": machine(),
        "settings": {
            "workers": workers,
            "max_workers": max_workers,
            "duration_s": duration,
            "warmup_s": warmup,
            "bare_duration_s": bare_duration,
            "frames": NUM_FRAMES,
            "frame_bytes": {media: round(sum(map(len, f)) / len(f)) for media, f in frames.items()},
            "affinity": args.affinity,
            "env": extra_env,
            "quick": args.quick,
        },
        "scenarios": [{k: v for k, v in r.items() if not k.startswith("_")} for r in runs],
        "bare": bares,
        "outputs": outputs,
        "motion": motion,
        "overload": overloads,
    }
    document["targets"] = analyse.targets(document)
    paths = report.write(document, runs, out, args.tag, plots=not args.no_plots)
    if runs:
        print(report.markdown_table(document))
        print(report.markdown_targets(document))
    extra_tables = [
        table
        for table in (
            output_bench.markdown_table(outputs),
            motion_bench.markdown_table(motion),
            overload_bench.markdown_table(overloads),
        )
        if table
    ]
    for table in extra_tables:
        print(table)
    for path in paths:
        if path.suffix == ".md" and extra_tables:
            path.write_text(path.read_text() + "".join("\n" + table + "\n" for table in extra_tables))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
