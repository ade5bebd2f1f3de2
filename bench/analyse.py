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


def pipeline_summary(scenario, raw: dict, rss: dict[str, int], cpu: dict[str, float]) -> dict:
    start, end = raw["window"]["start_ms"], raw["window"]["end_ms"]
    seconds = (end - start) / 1000
    inside = [r for r in raw["results"] if start <= r.received_ms <= end and r.error is None
              and "infer_end" in r.ts]
    errors = sum(1 for r in raw["results"] if start <= r.received_ms <= end and r.error is not None)
    latency = [r.received_ms - r.ts["ingest"] for r in inside]
    stages = {}
    for name, (stop, begin) in STAGES.items():
        values = [(r.received_ms if stop == "received" else r.ts[stop]) - r.ts[begin] for r in inside
                  if (stop == "received" or stop in r.ts) and begin in r.ts]
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
    counts = {"received": 0, "dropped": 0, "lost": 0, "errors": 0, "rate_limited": 0, "done": 0}
    for stream in raw["streams"]:
        a = first.get("streams", {}).get(stream, {})
        b = final.get("streams", {}).get(stream, {})
        for key in counts:
            counts[key] += int(b.get(key, 0)) - int(a.get(key, 0))
    done_before = {w["name"]: w["frames_done"] for w in first.get("workers", [])}
    per_worker = {w["name"]: w["frames_done"] - done_before.get(w["name"], 0)
                  for w in final.get("workers", [])}
    faces = sum(1 for r in inside if r.faces)
    return {
        "name": scenario.name, "group": scenario.group, "streams": scenario.streams,
        "fps_per_stream": scenario.fps, "workers": scenario.workers, "affinity": scenario.affinity,
        "saturated": scenario.saturated, "seconds": round(seconds, 2),
        "sent": raw["sent"], "offered_fps": round(raw["sent"] / seconds, 1),
        "delivered": len(inside), "delivered_fps": round(len(inside) / seconds, 1),
        "face_rate": round(faces / len(inside), 3) if inside else 0.0,
        "ingest": counts, "dropped": counts["dropped"] + counts["rate_limited"],
        "viewer_errors": errors,
        "latency_ms": percentiles(latency), "last_second_latency_ms": percentiles(last),
        "pipeline_overhead_ms": percentiles(overhead), "stages_ms": stages,
        "latency_per_second": per_second, "frames_per_worker": per_worker,
        "rss_mb": {name: round(value / 2 ** 20, 1) for name, value in rss.items()},
        "cpu_percent": cpu,
        "_samples": [(r.received_ms - start, r.received_ms - r.ts["ingest"]) for r in inside],
    }


def _bare_saturated(bares: list[dict], workers: int) -> dict | None:
    return next((b for b in bares if b["workers"] == workers and not b["fps"]), None)


def _bare_paced(bares: list[dict]) -> dict | None:
    return next((b for b in bares if b["fps"]), None)


def attach_bare(runs: list[dict], bares: list[dict]) -> None:
    paced = _bare_paced(bares)
    for run in runs:
        saturated = _bare_saturated(bares, run["workers"])
        if saturated:
            run["bare_fps"] = saturated["throughput_fps"]
            run["throughput_ratio"] = round(run["delivered_fps"] / saturated["throughput_fps"], 3)
        if paced and run["latency_ms"]["p50"] is not None:
            run["bare_decode_infer_p50_ms"] = paced["decode_infer_ms"]["p50"]
            run["latency_overhead_p50_ms"] = round(run["latency_ms"]["p50"] - paced["decode_infer_ms"]["p50"], 2)


def targets(document: dict) -> list[dict]:
    """Each target of the performance issue: met or not, with the numbers behind it."""
    runs = {r["name"]: r for r in document["scenarios"]}
    out = []

    saturated = [r for r in document["scenarios"] if r["group"] == "scaling" and r["affinity"]
                 and "throughput_ratio" in r]
    if saturated:
        best = max(saturated, key=lambda r: r["delivered_fps"])
        ratios = ", ".join(f"W={r['workers']}: {r['delivered_fps']}/{r['bare_fps']} = {r['throughput_ratio']}"
                           for r in saturated)
        out.append({"target": f"saturated throughput >= {TARGET_THROUGHPUT_RATIO} x bare (same processes)",
                    "met": all(r["throughput_ratio"] >= TARGET_THROUGHPUT_RATIO for r in saturated),
                    "value": best["throughput_ratio"], "detail": ratios})
    one = runs.get("1x30")
    if one and "latency_overhead_p50_ms" in one:
        out.append({"target": f"1x30 p50 latency overhead over bare decode+inference <= {TARGET_OVERHEAD_MS} ms",
                    "met": one["latency_overhead_p50_ms"] <= TARGET_OVERHEAD_MS,
                    "value": one["latency_overhead_p50_ms"],
                    "detail": f"pipeline p50 {one['latency_ms']['p50']} ms - bare p50 "
                              f"{one['bare_decode_infer_p50_ms']} ms; inside the pipeline the non-decode/"
                              f"inference part is p50 {one['pipeline_overhead_ms']['p50']} ms"})
    four = runs.get("4x30")
    if four and four["latency_ms"]["p95"] is not None:
        out.append({"target": f"4x30 p95 <= {TARGET_4X30_P95_MS} ms", "met": four["latency_ms"]["p95"] <= TARGET_4X30_P95_MS,
                    "value": four["latency_ms"]["p95"],
                    "detail": f"delivered {four['delivered_fps']} of {four['offered_fps']} fps offered, "
                              f"dropped {four['dropped']}"})
    flood = runs.get("flood")
    if flood and flood["latency_ms"]["p95"] is not None:
        p95, last = flood["latency_ms"]["p95"], flood["last_second_latency_ms"]["p95"]
        flat = last is not None and last <= max(1.25 * p95, p95 + 5)
        out.append({"target": f"flood p95 <= {TARGET_FLOOD_P95_MS} ms and flat over time",
                    "met": p95 <= TARGET_FLOOD_P95_MS and flat, "value": p95,
                    "detail": f"p95 {p95} ms overall, {last} ms in the last second; "
                              f"dropped {flood['dropped']} of {flood['sent']} sent"})
    return out
