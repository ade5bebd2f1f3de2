"""Turn raw benchmark samples into the figures the report shows; no I/O here."""

from __future__ import annotations

from live2d_pose.bench.stats import percentiles

# stage name -> (end timestamp, start timestamp); "received" is the viewer's receive time
STAGES = {
    "ingest_queue": ("dispatch", "ingest"),
    "transit": ("decode_start", "dispatch"),
    "decode": ("infer_start", "decode_start"),
    "inference": ("infer_end", "infer_start"),
    "gateway_delivery": ("received", "infer_end"),
}

TARGET_THROUGHPUT_RATIO = 0.95
TARGET_OVERHEAD_MS = 1.5
TARGET_4X30_P95_MS = 30.0
TARGET_FLOOD_P95_MS = 50.0
# the holistic targets (2+ workers) and the fairness and flood-against-bare ones
TARGET_HOLISTIC_P50_RATIO = 1.25  # lane p50 <= this x the slowest tracker's bare p50
TARGET_HOLISTIC_FPS_RATIO = 1.8  # holistic fps >= this x bare face+pose+hands one after another
TARGET_FAIRNESS = 0.9  # min / max frames delivered per stream at equal rates
TARGET_FLOOD_P95_RATIO = 2.5  # flood p95 <= this x bare (one process, saturated) p95


def pipeline_summary(scenario, raw: dict, rss: dict[str, int], cpu: dict[str, float]) -> dict:
    start, end = raw["window"]["start_ms"], raw["window"]["end_ms"]
    seconds = (end - start) / 1000
    inside = [r for r in raw["results"] if start <= r.received_ms <= end and r.error is None and "infer_end" in r.ts]
    errors = sum(1 for r in raw["results"] if start <= r.received_ms <= end and r.error is not None)
    latency = [r.received_ms - r.ts["ingest"] for r in inside]
    stages = {}
    for name, (stop, begin) in STAGES.items():
        values = [
            (r.received_ms if stop == "received" else r.ts[stop]) - r.ts[begin]
            for r in inside
            if (stop == "received" or stop in r.ts) and begin in r.ts
        ]
        stages[name] = percentiles(values)
    # the same frames without decode and inference: what the pipeline adds
    overhead = [r.received_ms - r.ts["ingest"] - (r.ts["infer_end"] - r.ts["decode_start"]) for r in inside]
    last = [r.received_ms - r.ts["ingest"] for r in inside if r.received_ms >= end - 1000]
    per_second = []
    for second in range(int(seconds + 0.999)):
        lo, hi = start + 1000 * second, start + 1000 * (second + 1)
        values = [r.received_ms - r.ts["ingest"] for r in inside if lo <= r.received_ms < hi]
        p = percentiles(values)
        per_second.append({"second": second, "n": p["n"], "p50": p["p50"], "p95": p["p95"]})
    first, final = raw["stats"]
    # "throttled" counts pauses in reading a camera held to --max-fps (frames it could not send
    # yet stay in its socket, not dropped by ingest)
    counts = {"received": 0, "dropped": 0, "lost": 0, "errors": 0, "throttled": 0, "done": 0}
    for stream in raw["streams"]:
        a = first.get("streams", {}).get(stream, {})
        b = final.get("streams", {}).get(stream, {})
        for key in counts:
            counts[key] += int(b.get(key, 0)) - int(a.get(key, 0))
    done_before = {w["name"]: w["frames_done"] for w in first.get("workers", [])}
    per_worker = {w["name"]: w["frames_done"] - done_before.get(w["name"], 0) for w in final.get("workers", [])}
    faces = sum(1 for r in inside if r.faces)
    lanes = _lanes(inside, raw["streams"], seconds)
    return {
        "name": scenario.name,
        "group": scenario.group,
        "streams": scenario.streams,
        "fps_per_stream": scenario.fps,
        "workers": scenario.workers,
        "affinity": scenario.affinity,
        "saturated": scenario.saturated,
        "seconds": round(seconds, 2),
        "sent": raw["sent"],
        "offered_fps": round(raw["sent"] / seconds, 1),
        "delivered": len(inside),
        "delivered_fps": round(len(inside) / seconds, 1),
        "face_rate": round(faces / max(1, sum("face" in r.tracks for r in inside)), 3),
        "tracks": list(scenario.tracks),
        "lanes": lanes,
        "fairness": min((lane["fairness"] for lane in lanes.values() if lane["fairness"] is not None), default=None),
        "holistic_fps": _holistic_fps(lanes) if len(lanes) > 1 else None,
        "ingest": counts,
        "dropped": counts["dropped"],
        "viewer_errors": errors,
        "latency_ms": percentiles(latency),
        "last_second_latency_ms": percentiles(last),
        "pipeline_overhead_ms": percentiles(overhead),
        "stages_ms": stages,
        "latency_per_second": per_second,
        "frames_per_worker": per_worker,
        "rss_mb": {name: round(value / 2**20, 1) for name, value in rss.items()},
        "cpu_percent": cpu,
        "_samples": [(r.received_ms - start, r.received_ms - r.ts["ingest"]) for r in inside],
    }


def _lanes(inside: list, streams: list[str], seconds: float) -> dict:
    """Per tracker: delivered fps (all streams), latency, and per-stream counts with their fairness."""
    out = {}
    for track in sorted({t for r in inside for t in r.tracks}):
        mine = [r for r in inside if track in r.tracks]
        per_stream = {stream: sum(1 for r in mine if r.stream == stream) for stream in streams}
        counts = list(per_stream.values())
        out[track] = {
            "delivered": len(mine),
            "delivered_fps": round(len(mine) / seconds, 1),
            "per_stream_fps": round(len(mine) / seconds / max(1, len(streams)), 1),
            "latency_ms": percentiles([r.received_ms - r.ts["ingest"] for r in mine]),
            "per_stream": per_stream,
            "fairness": round(min(counts) / max(counts), 3) if len(counts) > 1 and max(counts) else None,
        }
    return out


def _holistic_fps(lanes: dict) -> float:
    """Complete face+pose+hands updates a second per camera: its slowest lane's rate."""
    return min(lane["per_stream_fps"] for lane in lanes.values())


def _bare_saturated(bares: list[dict], workers: int) -> dict | None:
    return next((b for b in _face_bares(bares) if b["workers"] == workers and not b["fps"]), None)


def _bare_paced(bares: list[dict]) -> dict | None:
    return next((b for b in _face_bares(bares) if b["fps"]), None)


def _face_bares(bares: list[dict]) -> list[dict]:
    """The face ceiling runs (astronaut frames); holistic ones are compared separately."""
    return [b for b in bares if b.get("tracks", ["face"]) == ["face"] and b.get("media", "face") == "face"]


def _bare_alone(bares: list[dict], track: str) -> dict | None:
    return next((b for b in bares if b.get("media") == "gesture" and b.get("tracks") == [track]), None)


def _bare_sequential(bares: list[dict]) -> dict | None:
    return next((b for b in bares if b.get("media") == "gesture" and len(b.get("tracks", [])) > 1), None)


def attach_bare(runs: list[dict], bares: list[dict]) -> None:
    paced = _bare_paced(bares)
    sequential = _bare_sequential(bares)
    for run in runs:
        if run.get("holistic_fps") is not None:
            _attach_holistic(run, bares, sequential)
            continue
        saturated = _bare_saturated(bares, run["workers"])
        if saturated:
            run["bare_fps"] = saturated["throughput_fps"]
            run["throughput_ratio"] = round(run["delivered_fps"] / saturated["throughput_fps"], 3)
        if paced and run["latency_ms"]["p50"] is not None:
            run["bare_decode_infer_p50_ms"] = paced["decode_infer_ms"]["p50"]
            run["latency_overhead_p50_ms"] = round(run["latency_ms"]["p50"] - paced["decode_infer_ms"]["p50"], 2)
        single = _bare_saturated(bares, 1)
        if single and run["latency_ms"]["p95"] is not None and single["decode_infer_ms"]["p95"]:
            run["bare_p95_ms"] = single["decode_infer_ms"]["p95"]
            run["p95_ratio_to_bare"] = round(run["latency_ms"]["p95"] / single["decode_infer_ms"]["p95"], 2)


def _attach_holistic(run: dict, bares: list[dict], sequential: dict | None) -> None:
    """Each lane against its tracker alone; the camera's holistic rate against one process
    running face, pose and hands one after another."""
    slowest = None
    for track, lane in run["lanes"].items():
        alone = _bare_alone(bares, track)
        if alone and lane["latency_ms"]["p50"] is not None:
            lane["bare_p50_ms"] = alone["decode_infer_ms"]["p50"]
            lane["p50_ratio_to_bare"] = round(lane["latency_ms"]["p50"] / alone["decode_infer_ms"]["p50"], 2)
            slowest = max(slowest or 0.0, alone["decode_infer_ms"]["p50"])
    if slowest:
        worst = max(
            lane["latency_ms"]["p50"] for lane in run["lanes"].values() if lane["latency_ms"]["p50"] is not None
        )
        run["slowest_bare_p50_ms"] = slowest
        run["p50_ratio_to_slowest_bare"] = round(worst / slowest, 2)
    if sequential:
        run["bare_sequential_fps"] = sequential["throughput_fps"]
        run["holistic_ratio_to_sequential"] = round(run["holistic_fps"] / sequential["throughput_fps"], 2)


def targets(document: dict) -> list[dict]:
    """Each performance target: met or not, with the numbers behind it."""
    runs = {r["name"]: r for r in document["scenarios"]}
    out = []

    saturated = [
        r for r in document["scenarios"] if r["group"] == "scaling" and r["affinity"] and "throughput_ratio" in r
    ]
    if saturated:
        best = max(saturated, key=lambda r: r["delivered_fps"])
        ratios = ", ".join(
            f"W={r['workers']}: {r['delivered_fps']}/{r['bare_fps']} = {r['throughput_ratio']}" for r in saturated
        )
        out.append(
            {
                "target": f"saturated throughput >= {TARGET_THROUGHPUT_RATIO} x bare (same processes)",
                "met": all(r["throughput_ratio"] >= TARGET_THROUGHPUT_RATIO for r in saturated),
                "value": best["throughput_ratio"],
                "detail": ratios,
            }
        )
    one = runs.get("1x30")
    if one and "latency_overhead_p50_ms" in one:
        out.append(
            {
                "target": f"1x30 p50 latency overhead over bare decode+inference <= {TARGET_OVERHEAD_MS} ms",
                "met": one["latency_overhead_p50_ms"] <= TARGET_OVERHEAD_MS,
                "value": one["latency_overhead_p50_ms"],
                "detail": f"pipeline p50 {one['latency_ms']['p50']} ms - bare p50 "
                f"{one['bare_decode_infer_p50_ms']} ms; inside the pipeline the non-decode/"
                f"inference part is p50 {one['pipeline_overhead_ms']['p50']} ms",
            }
        )
    four = runs.get("4x30")
    if four and four["latency_ms"]["p95"] is not None:
        out.append(
            {
                "target": f"4x30 p95 <= {TARGET_4X30_P95_MS} ms",
                "met": four["latency_ms"]["p95"] <= TARGET_4X30_P95_MS,
                "value": four["latency_ms"]["p95"],
                "detail": f"delivered {four['delivered_fps']} of {four['offered_fps']} fps offered, "
                f"dropped {four['dropped']}",
            }
        )
    out += _fairness_targets(document["scenarios"])
    out += _holistic_targets(document["scenarios"])
    flood = runs.get("flood")
    if flood and "p95_ratio_to_bare" in flood:
        out.append(
            {
                "target": f"flood p95 <= {TARGET_FLOOD_P95_RATIO} x bare p95 (one process, saturated)",
                "met": flood["p95_ratio_to_bare"] <= TARGET_FLOOD_P95_RATIO,
                "value": flood["p95_ratio_to_bare"],
                "detail": f"flood p95 {flood['latency_ms']['p95']} ms, bare p95 {flood['bare_p95_ms']} ms",
            }
        )
    if flood and flood["latency_ms"]["p95"] is not None:
        p95, last = flood["latency_ms"]["p95"], flood["last_second_latency_ms"]["p95"]
        flat = last is not None and last <= max(1.25 * p95, p95 + 5)
        out.append(
            {
                "target": f"flood p95 <= {TARGET_FLOOD_P95_MS} ms and flat over time",
                "met": p95 <= TARGET_FLOOD_P95_MS and flat,
                "value": p95,
                "detail": f"p95 {p95} ms overall, {last} ms in the last second; "
                f"dropped {flood['dropped']} of {flood['sent']} sent",
            }
        )
    return out


def _fairness_targets(scenarios: list[dict]) -> list[dict]:
    out = []
    for run in scenarios:
        if run.get("fairness") is None or run["group"] == "scaling":
            continue
        detail = "; ".join(
            f"{track}: " + ", ".join(str(n) for n in lane["per_stream"].values())
            for track, lane in run["lanes"].items()
        )
        out.append(
            {
                "target": f"{run['name']}: per-stream fairness (min/max delivered) >= {TARGET_FAIRNESS}",
                "met": run["fairness"] >= TARGET_FAIRNESS,
                "value": run["fairness"],
                "detail": f"frames delivered per stream, {detail}",
            }
        )
    return out


def _holistic_targets(scenarios: list[dict]) -> list[dict]:
    out = []
    for run in scenarios:
        if run.get("holistic_fps") is None or run["workers"] < 2:
            continue
        if "p50_ratio_to_slowest_bare" in run:
            ratio = run["p50_ratio_to_slowest_bare"]
            lanes = ", ".join(f"{t} {lane['latency_ms']['p50']}" for t, lane in run["lanes"].items())
            out.append(
                {
                    "target": f"{run['name']}: lane p50 <= {TARGET_HOLISTIC_P50_RATIO} x the slowest "
                    "tracker's bare p50",
                    "met": ratio <= TARGET_HOLISTIC_P50_RATIO,
                    "value": ratio,
                    "detail": f"p50 ms per lane: {lanes}; slowest tracker alone {run['slowest_bare_p50_ms']} ms",
                }
            )
        if "holistic_ratio_to_sequential" in run:
            ratio = run["holistic_ratio_to_sequential"]
            out.append(
                {
                    "target": f"{run['name']}: holistic fps >= {TARGET_HOLISTIC_FPS_RATIO} x bare "
                    "face+pose+hands in one process",
                    "met": ratio >= TARGET_HOLISTIC_FPS_RATIO,
                    "value": ratio,
                    "detail": f"{run['holistic_fps']} complete updates/s per camera (its slowest lane) "
                    f"vs {run['bare_sequential_fps']} bare sequential",
                }
            )
    return out
