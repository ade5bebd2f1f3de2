"""The motion scenario of `live2d-pose bench`: what solving once in the gateway costs.

    live2d-pose bench --scenarios motion

Three figures, each from real MediaPipe results of gesture_video.mp4 (face,
pose and hands: web/test/fixtures/gesture.msgpack), sent the way the
pipeline sends them (one message per tracker per frame):

- **solve cost per holistic result set**: the gateway's own code for one
  result (motion.MotionHub.on_result: the rig's store, SOLVE, the smoothing,
  deriving and encoding the variant in use, handing it to a viewer's
  mailbox), timed per result and summed per frame (its face, pose and hands
  results), in this process, over the recording several times;
- **gateway CPU, 1 viewer against 100**: the real gateway process fed at
  30 fps by a Replayer (three results per frame, no camera and no
  landmarkers, so the gateway has the machine to itself), with 1 and then 100
  WebSocket viewers subscribed to motion; its CPU (% of one core) over the
  window (every viewer from this one address: the gateway's per-client cap
  is lifted, and the run says how many viewers got motion). Solving once, the
  second should be within 1.2x of the first: what grows is the sending;
- **latency to the first viewer**: from the result's arrival at the gateway
  (its ``ts.gateway``) to the first viewer's receipt of the motion message it
  brought, p50 and p95, alone and among the 100 (the others must not delay
  it);
- **bytes per second to one viewer**: motion against the raw landmarks the
  page used to receive, on the same stream in the same run.

Targets: solve p50 <= 1 ms per result set, CPU(100) <= 1.2 x CPU(1), motion
bytes/s <= 1/4 of landmarks'.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from collections.abc import Callable

log = logging.getLogger("live2d_pose.bench")

REPO = Path(__file__).resolve().parents[1]
RECORDING = REPO / "web" / "test" / "fixtures" / "gesture.msgpack"
FPS = 30.0
STREAM = "bench-motion"
MANY = 100
TARGET_SOLVE_P50_MS = 1.0
TARGET_CPU_RATIO = 1.2
TARGET_BYTES_RATIO = 0.25
SCENARIOS = ("motion",)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def solve_cost(recording: dict, rounds: int = 5, clock: Callable[[], float] = time.perf_counter) -> dict:
    """ms per result and per result set (one frame's face, pose and hands) of the gateway's rig,
    with one motion viewer; the first round warms up and is not counted. ``clock``: seconds (the
    wall clock; time.thread_time on a machine others use too)."""
    from live2d_pose import wire
    from live2d_pose.gateway.fanout import Fanout
    from live2d_pose.gateway.motion import MotionHub
    from live2d_pose.testing import record

    messages = record.per_tracker(recording["results"])
    arrivals = record.arrivals(messages)
    span = messages[-1]["ts"]["ingest"] - messages[0]["ts"]["ingest"] + 1000 / FPS
    per_result, per_set = [], []
    fanout = Fanout()
    viewer = fanout.add_viewer(STREAM)
    hub = MotionHub(fanout, {})
    fanout.stream_started(STREAM, 640, 360, now=0.0)
    for round_ in range(rounds):
        sets: dict[int, float] = {}
        for message, at in zip(messages, arrivals):
            shift = round_ * span
            seq = message["seq"] + round_ * len(recording["results"])
            result = wire.Result.decode(
                wire.pack({**message, "stream": STREAM, "seq": seq, "ts": {"ingest": message["ts"]["ingest"] + shift}})
            )
            start = clock()
            hub.on_result(result, at + shift)
            ms = (clock() - start) * 1000
            while viewer.mailbox._motion:  # the viewer takes what it was given
                viewer.mailbox._motion.popleft()
            if round_:
                per_result.append(ms)
                sets[seq] = sets.get(seq, 0.0) + ms
        per_set += list(sets.values())
    return {
        "results": len(per_result),
        "result_sets": len(per_set),
        "per_result_ms": {"p50": round(statistics.median(per_result), 3), "p95": round(_percentile(per_result, 95), 3)},
        "per_set_ms": {"p50": round(statistics.median(per_set), 3), "p95": round(_percentile(per_set, 95), 3)},
    }


FULL_KEY = b"\xa4full"  # msgpack's "full": only a full motion message has it


async def _count(url: str, start: float, end: float, timed: bool = False) -> dict:
    """A viewer that counts what it receives between the wall-clock instants ``start`` and ``end``
    (decoding would load this process, not the gateway), and how many were full motion messages (a
    viewer that fell behind gets those). A ``timed`` one also reads each motion message's
    ``ts.gateway``: its latencies (ms) go to ``latency``."""
    from websockets.asyncio.client import connect

    from live2d_pose import wire

    totals: dict = {"bytes": 0, "messages": 0, "full": 0, "latency": []}
    async with connect(url, max_size=None, compression=None) as websocket:
        while (now := time.time()) < end:
            try:
                message = await asyncio.wait_for(websocket.recv(), max(0.05, end - now))
            except asyncio.TimeoutError:
                continue
            arrived = time.time()
            if not isinstance(message, bytes) or not start <= arrived < end:
                continue
            totals["messages"] += 1
            totals["bytes"] += len(message)
            totals["full"] += FULL_KEY in message[:64]
            if timed:
                sent = wire.unpack_map(message, "motion").get("ts", {}).get("gateway")
                if sent is not None:
                    totals["latency"].append(arrived * 1000.0 - sent)
    return totals


def _timed_viewer(url: str, start: float, end: float) -> dict:
    """The first viewer, in a process of its own: the crowd's readers in this one would delay it."""
    return asyncio.run(_count(url, start, end, timed=True))


async def _window(pipe, queries: list[str], warmup: float, duration: float, gateway) -> list[dict]:
    """Viewers with these queries for warmup + duration; per viewer its bytes and messages in the
    window; first element: the gateway's CPU over it, how many viewers got something, and the first
    viewer's latency."""
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        await loop.run_in_executor(pool, int)  # started before the clock runs
        start = time.time() + warmup
        end = start + duration
        readers = [loop.run_in_executor(pool, _timed_viewer, pipe.viewer_url(queries[0]), start, end)] + [
            asyncio.ensure_future(_count(pipe.viewer_url(q), start, end)) for q in queries[1:]
        ]
        await asyncio.sleep(max(0.0, start - time.time()))
        cpu0, t0 = gateway.cpu_times(), time.time()
        await asyncio.sleep(max(0.0, end - time.time()))
        cpu1, seconds = gateway.cpu_times(), time.time() - t0
        totals = await asyncio.gather(*readers, return_exceptions=True)
    failed = [t for t in totals if isinstance(t, BaseException)]
    if failed:
        log.warning("motion: %d of %d viewers failed, e.g. %r", len(failed), len(queries), failed[0])
    totals = [
        {"bytes": 0, "messages": 0, "full": 0, "latency": []} if isinstance(t, BaseException) else t for t in totals
    ]
    cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    latency = totals[0]["latency"]
    return [
        {
            "cpu_percent": round(100 * cpu / seconds, 1),
            "seconds": round(seconds, 2),
            "system_percent": round(100 * (cpu1.system - cpu0.system) / seconds, 1),
            "served": sum(t["messages"] > 0 for t in totals),
            "latency_ms": {
                "p50": round(statistics.median(latency), 2) if latency else None,
                "p95": round(_percentile(latency, 95), 2) if latency else None,
            },
        }
    ] + [
        {
            "bytes_per_s": round(t["bytes"] / seconds),
            "messages_per_s": round(t["messages"] / seconds, 1),
            "full_share": round(t["full"] / max(1, t["messages"]), 3),
        }
        for t in totals
    ]


def run(
    names: list[str],
    warmup: float,
    duration: float,
    log_dir: Path,
    extra_env: dict[str, str],
    many: int = MANY,
    rounds: int = 5,
) -> list[dict]:
    if not names:
        return []
    import psutil

    from live2d_pose.testing import record
    from live2d_pose.testing.pipeline import Pipeline
    from live2d_pose.testing.replay import Replayer

    recording = record.load(RECORDING)
    log.info("motion: the gateway's solve cost per result, %d rounds of the gesture recording", rounds)
    cost = solve_cost(recording, rounds)
    # every viewer connects from this one address: no per-client cap
    env = {
        "LIVE2D_POSE_LOG_LEVEL": "WARNING",
        "LIVE2D_POSE_MAX_VIEWERS": str(many + 8),
        "LIVE2D_POSE_MAX_VIEWERS_PER_CLIENT": "0",
        **extra_env,
    }
    pipe = Pipeline(log_dir / "motion", workers=0, env=env).start()
    try:
        gateway = psutil.Process(pipe.services["gateway"].process.pid)
        with Replayer(
            f"tcp://127.0.0.1:{pipe.results_port}", recording, stream=STREAM, rate=FPS, per_tracker=True
        ) as replay:
            replay.play(range(len(recording["results"])))
            motion = f"stream={STREAM}"
            log.info("motion: gateway CPU with 1 motion viewer, %.0f s", duration)
            one = asyncio.run(_window(pipe, [motion], warmup, duration, gateway))
            log.info("motion: gateway CPU with %d motion viewers, %.0f s", many, duration)
            crowd = asyncio.run(_window(pipe, [motion] * many, warmup, duration, gateway))
            # whole loops of the recording: its arm-down, arm-up and thumbs-up parts cost differently
            loop = len(recording["results"]) / FPS
            loops = loop * max(1, round(duration / loop))
            log.info("motion: bytes per second, motion against landmarks, %.1f s", loops)
            bytes_ = asyncio.run(
                _window(pipe, [motion, f"stream={STREAM}&motion=0&landmarks=1"], warmup, loops, gateway)
            )
            replay.check()
    finally:
        pipe.stop()
    cpu_ratio = crowd[0]["cpu_percent"] / one[0]["cpu_percent"] if one[0]["cpu_percent"] else float("inf")
    # what grows with the viewers is the sending: the gateway's CPU per message per extra viewer
    extra_messages = (many - 1) * one[1]["messages_per_s"]
    send_us = 1e4 * (crowd[0]["cpu_percent"] - one[0]["cpu_percent"]) / extra_messages if extra_messages else None
    # and what a rig per viewer would have cost: the solve, once per result and viewer
    rig_percent = cost["per_result_ms"]["p50"] * 3 * FPS / 10
    bytes_ratio = bytes_[1]["bytes_per_s"] / bytes_[2]["bytes_per_s"] if bytes_[2]["bytes_per_s"] else float("inf")
    slowest = min(v["messages_per_s"] for v in crowd[1:])
    return [
        {
            "name": "motion-holistic-1x30",
            "fps": FPS,
            "solve": cost,
            "gateway_cpu_percent": {"1": one[0]["cpu_percent"], str(many): crowd[0]["cpu_percent"]},
            # of which in the kernel (mostly the sockets' writes)
            "gateway_system_percent": {"1": one[0]["system_percent"], str(many): crowd[0]["system_percent"]},
            "cpu_ratio": round(cpu_ratio, 2),
            "viewers": many,
            "viewers_served": crowd[0]["served"],
            "first_viewer_latency_ms": {"1": one[0]["latency_ms"], str(many): crowd[0]["latency_ms"]},
            "send_us_per_message_and_viewer": None if send_us is None else round(send_us, 1),
            "rig_cpu_percent_per_rig": round(rig_percent, 1),
            "messages_per_s": {"1": one[1]["messages_per_s"], f"{many}, slowest": slowest},
            "bytes_per_s": {"motion": bytes_[1]["bytes_per_s"], "landmarks": bytes_[2]["bytes_per_s"]},
            "bytes_ratio": round(bytes_ratio, 3),
            # full messages among the motion viewer's: a viewer that keeps up gets deltas only
            "full_share": bytes_[1]["full_share"],
            "targets": {
                "solve_p50_met": cost["per_set_ms"]["p50"] <= TARGET_SOLVE_P50_MS,
                "cpu_ratio_met": cpu_ratio <= TARGET_CPU_RATIO,
                "bytes_ratio_met": bytes_ratio <= TARGET_BYTES_RATIO,
            },
        }
    ]


def markdown_table(runs: list[dict]) -> str:
    if not runs:
        return ""
    lines = [
        "| motion scenario | solve per result set p50 / p95 ms (per result) | gateway CPU %, 1 viewer "
        "| N viewers | ratio | motion / landmarks bytes/s per viewer | ratio | targets (≤ 1 ms, ≤ 1.2×, "
        "≤ 1/4) |",
        "|" + "---|" * 8,
    ]
    for r in runs:
        s = r["solve"]
        cpu = list(r["gateway_cpu_percent"].values())
        b = r["bytes_per_s"]
        met = ", ".join("met" if ok else "**missed**" for ok in r["targets"].values())
        lines.append(
            f"| {r['name']} | {s['per_set_ms']['p50']} / {s['per_set_ms']['p95']} "
            f"({s['per_result_ms']['p50']} / {s['per_result_ms']['p95']}) | {cpu[0]} | {cpu[1]} ({r['viewers']}) "
            f"| {r['cpu_ratio']} | {b['motion']} / {b['landmarks']} | {r['bytes_ratio']} | {met} |"
        )
    for r in runs:
        lines.append("")
        lines.append(
            f"{r['name']}: one rig costs about {r['rig_cpu_percent_per_rig']} % of a core at 30 fps "
            f"(a rig per viewer would cost {r['viewers']} times that); each message to each further "
            f"viewer costs the gateway about {r['send_us_per_message_and_viewer']} µs; "
            f"{100 * r['full_share']:.0f} % of the motion viewer's messages were full ones (it fell "
            f"behind), the rest deltas; {r['viewers_served']} of the {r['viewers']} viewers got motion. "
            f"Latency to the first viewer (gateway arrival -> received), p50 / p95 ms: "
            + ", ".join(f"{lat['p50']} / {lat['p95']} with {n}" for n, lat in r["first_viewer_latency_ms"].items())
            + "."
        )
    lines += [
        "",
        "Solve: the gateway's code for one result (rig, encoding, mailbox), timed in the benchmark's "
        "process; a result set is one frame's face, pose and hands. CPU: the gateway process, % of one "
        "core, fed at 30 fps by a Replayer (no landmarkers).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The solve cost alone, without services: ``python -m bench.motion [--rounds N] [--clock thread]``.
    Under valgrind's callgrind, two runs with different ``--rounds`` give the instructions per result
    (docs/performance.md "The gateway's rig"), a figure other processes on the machine do not move."""
    import argparse
    import json

    from live2d_pose.testing import record

    parser = argparse.ArgumentParser(prog="python -m bench.motion", description=main.__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the recording; the first is not counted")
    parser.add_argument(
        "--clock",
        choices=("wall", "thread"),
        default="wall",
        help="wall: time.perf_counter; thread: this thread's CPU time",
    )
    args = parser.parse_args(argv)
    clock = time.thread_time if args.clock == "thread" else time.perf_counter
    print(json.dumps(solve_cost(record.load(RECORDING), args.rounds, clock)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
