"""What recording a live stream costs, and where it is cheapest: inside the gateway or as a client.

    python -m live2d_pose.bench.recording --live                 # 20 s windows
    python -m live2d_pose.bench.recording --live --seconds 60 --json live.json

A real gateway process, fed one holistic stream at 30 fps by a Replayer
(gesture_video.mp4's real face, pose and hands results, one message per
tracker as the pipeline sends them; no landmarkers, so the gateway has the
machine to itself) with one mirrored motion viewer, as a page would have.
Three windows of the same length, CPU as % of one core:

- **none**: the gateway with its viewer (the baseline);
- **gateway**: the same, while the gateway records the stream itself
  (POST /record: the recorder is a subscriber of the rig's motion);
- **client**: the same, while ``live2d-pose record`` records it from /ws
  (the gateway encodes and sends an unmirrored variant, the client decodes
  it): the gateway's CPU and the client process's.

And the files of each take: MB per minute of .vrma and .bvh, and the CPU the
separate process that writes them took per minute of take. Timings are for
a quiet machine; never assert on them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

log = logging.getLogger("live2d_pose.bench")

FPS = 30.0
STREAM = "bench-take"


async def _count(url: str, stop: asyncio.Event) -> None:
    """A viewer that only takes what it is sent (decoding would load this process, not the gateway)."""
    from websockets.asyncio.client import connect

    async with connect(url, max_size=None, compression=None) as websocket:
        while not stop.is_set():
            try:
                await asyncio.wait_for(websocket.recv(), 0.5)
            except asyncio.TimeoutError:
                continue


def _post(url: str) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=60) as response:
        return json.load(response)


def _cpu(process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def _window(seconds: float, processes: dict) -> dict:
    """CPU % of one core of each process over ``seconds``."""
    before = {name: _cpu(p) for name, p in processes.items()}
    start = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - start
    return {name: round(100 * (_cpu(p) - before[name]) / elapsed, 2) for name, p in processes.items()}


async def _measure(pipe, gateway, seconds: float, warmup: float, folder: Path) -> dict:
    import psutil

    stop = asyncio.Event()
    viewer = asyncio.ensure_future(_count(pipe.viewer_url(f"stream={STREAM}"), stop))
    await asyncio.sleep(warmup)
    result = {"none": await _window(seconds, {"gateway": gateway})}

    take = await asyncio.to_thread(_post, f"{pipe.http_url}/record?stream={STREAM}")
    await asyncio.sleep(warmup)
    result["gateway"] = await _window(seconds, {"gateway": gateway})
    children = gateway.cpu_times()
    done = await asyncio.to_thread(_post, f"{pipe.http_url}/record/stop?take={take['take']}")
    after = gateway.cpu_times()  # the file writer is a child the gateway waited for
    result["gateway_take"] = _files(
        done["files"],
        done["seconds"],
        (after.children_user + after.children_system) - (children.children_user + children.children_system),
    )

    client = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "live2d_pose",
            "record",
            "--gateway-url",
            pipe.viewer_url(),
            "--stream",
            STREAM,
            "--out",
            str(folder / "client.vrma"),
            "--out",
            str(folder / "client.bvh"),
            "--log-level",
            "WARNING",
        ]
    )
    await asyncio.sleep(warmup + 1.0)  # its start-up (imports) is not recording
    result["client"] = await _window(seconds, {"gateway": gateway, "record": psutil.Process(client.pid)})
    client.send_signal(signal.SIGINT)
    await asyncio.to_thread(client.wait, 120)
    stop.set()
    await asyncio.gather(viewer, return_exceptions=True)
    result["client_take"] = _files(
        [{"name": p.name, "bytes": p.stat().st_size} for p in (folder / "client.vrma", folder / "client.bvh")],
        seconds + warmup + 1.0,
        None,
    )
    return result


def _files(files: list[dict], seconds: float, writer_cpu_s: float | None) -> dict:
    minutes = max(seconds, 1e-9) / 60
    sizes = {f["name"].rsplit(".", 1)[1]: round(f["bytes"] / 1e6 / minutes, 2) for f in files}
    out = {"seconds": round(seconds, 1), **{f"{k}_mb_per_min": v for k, v in sizes.items()}}
    if writer_cpu_s is not None:
        out["writer_cpu_s_per_min"] = round(writer_cpu_s / minutes, 2)
    return out


def run(seconds: float, warmup: float, log_dir: Path) -> dict:
    import psutil

    from live2d_pose.testing import record
    from live2d_pose.testing.pipeline import Pipeline
    from live2d_pose.testing.replay import Replayer

    recording = record.load(Path(__file__).resolve().parents[1] / "web" / "test" / "fixtures" / "gesture.msgpack")
    pipe = Pipeline(log_dir / "gateway", workers=0, env={"LIVE2D_POSE_LOG_LEVEL": "WARNING"}).start()
    try:
        gateway = psutil.Process(pipe.services["gateway"].process.pid)
        with Replayer(
            f"tcp://127.0.0.1:{pipe.results_port}", recording, stream=STREAM, rate=FPS, per_tracker=True
        ) as replay:
            replay.play(range(len(recording["results"])))
            result = asyncio.run(_measure(pipe, gateway, seconds, warmup, log_dir))
            replay.check()
    finally:
        pipe.stop()
    result["seconds"] = seconds
    return result


def markdown_table(r: dict) -> str:
    base = r["none"]["gateway"]
    inside = r["gateway"]["gateway"] - base
    client = r["client"]["gateway"] - base + r["client"]["record"]
    lines = [
        "| recording one holistic stream at 30 fps | gateway CPU % | recorder process CPU % | recording costs "
        "(% of a core) |",
        "|---|---|---|---|",
        f"| not recorded (1 motion viewer) | {base} | — | — |",
        f"| in the gateway (POST /record, up --record) | {r['gateway']['gateway']} | — | {inside:.2f} |",
        f"| live2d-pose record (a /ws client) | {r['client']['gateway']} | {r['client']['record']} | {client:.2f} |",
        "",
    ]
    g, c = r["gateway_take"], r["client_take"]
    lines.append(
        f"Files: .vrma {g.get('vrma_mb_per_min')} MB/min, .bvh {g.get('bvh_mb_per_min')} MB/min (the "
        f"gateway's take; the client's: {c.get('vrma_mb_per_min')} / {c.get('bvh_mb_per_min')}); writing "
        f"them took the separate process {g.get('writer_cpu_s_per_min')} CPU s per minute of take "
        f"(its Python start included). Windows of {r['seconds']:g} s."
    )
    return "\n".join(lines)
