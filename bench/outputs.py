"""Output scenarios of `live2d-pose bench`: what driving VSeeFace & co. costs.

    live2d-pose bench --scenarios vmc            # 1 camera x 30 fps, face only, `live2d-pose vmc` running
    live2d-pose bench --scenarios vmc-holistic   # the same with track=face,pose,hands

The pipeline runs as in the other scenarios (real processes, one camera at
30 fps, one viewer); beside it a real `live2d-pose vmc` process follows the
stream and sends to a UDP port this benchmark reads. ``vmc`` replays the
astronaut frames (face only: one result per frame, neck, head and blend
shapes); ``vmc-holistic`` replays MediaPipe's gesture video with face, pose
and hands tracked, as bench/run.py's holistic scenarios do: three results
per frame (one per tracker), each solving and sending the whole body, so it
costs the vmc process more per frame. Reported:

- the extra latency of the output: from the gateway's stamp on a result
  (ts.gateway, when the result reached the gateway) to the OSC packet leaving
  the vmc process (measured by vmc itself, wall clock on one host; it covers
  the gateway's fan-out, the WebSocket, decoding, the rig and the encoding);
- the vmc process's CPU, % of one core over the measured window, with the
  CPU of every process that is not this benchmark beside it;
- bundles sent and received.

Targets: p50 <= 1 ms, CPU <= 5 % of a core.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("live2d_pose.bench")

STREAM = "bench-vmc"
FPS = 30.0
FRAMES = 60  # distinct astronaut frames replayed in a loop, as bench/run.py's face scenarios
TARGET_P50_MS = 1.0
TARGET_CPU_PERCENT = 5.0


@dataclass(frozen=True)
class OutputScenario:
    name: str  # as reported
    tracks: tuple[str, ...]  # the camera's track=
    media: str  # "face": the astronaut frames; "gesture": gesture_video.mp4 (bench/run.py's holistic frames)


SCENARIOS = {
    "vmc": OutputScenario("vmc-1x30", ("face",), "face"),
    "vmc-holistic": OutputScenario("vmc-holistic-1x30", ("face", "pose", "hands"), "gesture"),
}


def scenario_frames(media: str) -> list[bytes]:
    if media == "gesture":
        from live2d_pose.bench.run import _gesture_frames

        return _gesture_frames()
    from live2d_pose.testing.frames import astronaut_frames

    return astronaut_frames(FRAMES)


class _UdpCounter:
    """Counts the datagrams that reach a loopback port (where VSeeFace would listen)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets = 0
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            self.packets += 1
            self.bytes += len(data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def run(
    names: list[str],
    warmup: float,
    duration: float,
    log_dir: Path,
    extra_env: dict[str, str],
    frames: dict[str, list[bytes]] | None = None,
) -> list[dict]:
    """Run the named output scenarios; ``frames`` (per media, see SCENARIOS) default to
    scenario_frames()."""
    frames = dict(frames or {})
    runs = []
    for name in names:
        if name not in SCENARIOS:
            raise SystemExit(f"unknown output scenario {name!r}; known: {', '.join(SCENARIOS)}")
        scenario = SCENARIOS[name]
        if scenario.media not in frames:
            frames[scenario.media] = scenario_frames(scenario.media)
        log.info(
            "%s: 1 stream x %.0f fps, track %s, with live2d-pose vmc running, %.0f s",
            name,
            FPS,
            ",".join(scenario.tracks),
            duration,
        )
        runs.append(run_vmc(scenario, frames[scenario.media], warmup, duration, log_dir / name, extra_env))
        log.info(
            "%s: gateway -> OSC packet p50 %s ms, vmc CPU %s %%",
            name,
            runs[-1]["latency_ms"].get("p50"),
            runs[-1]["vmc_cpu_percent"],
        )
    return runs


def run_vmc(
    scenario: OutputScenario,
    frames: list[bytes],
    warmup: float,
    duration: float,
    log_dir: Path,
    extra_env: dict[str, str],
) -> dict:
    import asyncio

    import psutil

    from live2d_pose.bench.run import HOLISTIC_SIZE, default_workers
    from live2d_pose.testing.clients import Camera, Viewer
    from live2d_pose.testing.pipeline import Pipeline

    env = {"LIVE2D_POSE_LOG_LEVEL": "WARNING", "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2", **extra_env}
    pipe = Pipeline(log_dir, workers=default_workers(), env=env)
    pipe.start()
    counter = _UdpCounter()
    stats_file = log_dir / "vmc-stats.json"
    with open(log_dir / "vmc.log", "wb") as vmc_log:
        vmc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "live2d_pose",
                "vmc",
                "--gateway-url",
                pipe.viewer_url(),
                "--stream",
                STREAM,
                "--to",
                f"127.0.0.1:{counter.port}",
                "--stats-file",
                str(stats_file),
                "--log-level",
                "WARNING",
            ],
            stdout=vmc_log,
            stderr=subprocess.STDOUT,
        )
    process = psutil.Process(vmc.pid)
    services = [psutil.Process(s.process.pid) for s in pipe.services.values()] + [process]

    def cpu_seconds() -> tuple[float, float, float]:
        machine = psutil.cpu_times()
        total = 0.0
        # the services with their children (the landmarkers' decode helpers are the pipeline's cost), and
        # this process without its own: it spawned the services
        members = [psutil.Process()]
        for proc in services:
            try:
                members += [proc, *proc.children(recursive=True)]
            except psutil.Error:
                pass
        for member in members:
            try:
                times = member.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        vmc_times = process.cpu_times()
        return machine.user + machine.system + machine.nice, total, vmc_times.user + vmc_times.system

    async def drive() -> dict:
        width, height = HOLISTIC_SIZE if scenario.media == "gesture" else (640, 480)
        async with (
            Viewer(pipe.viewer_url(f"stream={STREAM}")),
            Camera(f"{pipe.camera_url}?stream={STREAM}&track={','.join(scenario.tracks)}", width, height) as camera,
        ):
            await camera.stream_frames(frames, fps=FPS, duration=warmup)
            start_wall, start = time.monotonic(), cpu_seconds()
            packets0 = counter.packets
            await camera.stream_frames(frames, fps=FPS, duration=duration)
            seconds, end = time.monotonic() - start_wall, cpu_seconds()
            return {"seconds": seconds, "start": start, "end": end, "packets": counter.packets - packets0}

    try:
        window = asyncio.run(drive())
        time.sleep(0.3)
    finally:
        vmc.send_signal(signal.SIGINT)
        try:
            vmc.wait(10)
        except subprocess.TimeoutExpired:
            vmc.kill()
        pipe.stop()
        counter.close()
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    seconds = window["seconds"]
    (machine0, ours0, vmc0), (machine1, ours1, vmc1) = window["start"], window["end"]
    vmc_cpu = round(100 * (vmc1 - vmc0) / seconds, 2)
    other = round(max(0.0, 100 * ((machine1 - machine0) - (ours1 - ours0)) / seconds), 1)
    latency = stats.get("latency_ms", {})
    return {
        "name": scenario.name,
        "tracks": list(scenario.tracks),
        "fps": FPS,
        "seconds": round(seconds, 1),
        "latency_ms": latency,
        "latency_samples": stats.get("latency_samples", 0),
        "bundles": stats.get("bundles", 0),
        "received_in_window": window["packets"],
        "vmc_cpu_percent": vmc_cpu,
        "other_cpu_percent": other,
        "exit_code": vmc.returncode,
        "targets": {
            "p50_ms": TARGET_P50_MS,
            "cpu_percent": TARGET_CPU_PERCENT,
            "p50_met": latency.get("p50") is not None and latency["p50"] <= TARGET_P50_MS,
            "cpu_met": vmc_cpu <= TARGET_CPU_PERCENT,
        },
    }


def markdown_table(runs: list[dict]) -> str:
    if not runs:
        return ""
    lines = [
        "| output scenario | gateway → OSC p50 | p95 | p99 | vmc CPU % | other processes CPU % "
        "| bundles received / s | targets (p50 ≤ 1 ms, CPU ≤ 5 %) |",
        "|" + "---|" * 8,
    ]
    for r in runs:
        lat = r["latency_ms"]
        met = "met" if r["targets"]["p50_met"] and r["targets"]["cpu_met"] else "missed"
        lines.append(
            f"| {r['name']} | {lat.get('p50', '–')} | {lat.get('p95', '–')} | {lat.get('p99', '–')} "
            f"| {r['vmc_cpu_percent']} | {r['other_cpu_percent']} "
            f"| {r['received_in_window'] / r['seconds']:.1f} | {met} |"
        )
    lines.append("")
    lines.append(
        "Latency in ms from the gateway's stamp on a result to vmc's OSC packet leaving (same host); "
        "CPU % of one core over the measured window."
    )
    return "\n".join(lines)
