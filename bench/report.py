"""Write the benchmark's JSON, markdown table and plots."""

from __future__ import annotations

import json
import time
from pathlib import Path


def _ms(value) -> str:
    return "–" if value is None else f"{value:.1f}"


def markdown_table(document: dict) -> str:
    lines = [
        "| scenario | W | S×fps | aff | offered fps | delivered fps | bare fps | ratio | dropped "
        "| p50 | p95 | p99 | max | last-1s p95 | ingest+queue | transit | decode | inference "
        "| gateway+delivery |",
        "|" + "---|" * 19,
    ]
    for r in document["scenarios"]:
        st = r["stages_ms"]
        lines.append(
            f"| {r['name']} | {r['workers']} | {r['streams']}×{_fps(r['fps_per_stream'])} "
            f"| {'on' if r['affinity'] else 'off'} | {r['offered_fps']:.1f} | {r['delivered_fps']:.1f} "
            f"| {_ms(r.get('bare_fps'))} | {r.get('throughput_ratio', '–')} | {r['dropped']} "
            f"| {_ms(r['latency_ms']['p50'])} | {_ms(r['latency_ms']['p95'])} "
            f"| {_ms(r['latency_ms']['p99'])} | {_ms(r['latency_ms']['max'])} "
            f"| {_ms(r['last_second_latency_ms']['p95'])} "
            f"| {_ms(st['ingest_queue']['p50'])} | {_ms(st['transit']['p50'])} "
            f"| {_ms(st['decode']['p50'])} | {_ms(st['inference']['p50'])} "
            f"| {_ms(st['gateway_delivery']['p50'])} |"
        )
    lines.append("")
    lines.append(
        "Latencies in ms, ingest receive → viewer receive; stage columns are p50. "
        "dropped = replaced by a newer frame before a worker was free + over ingest's max_fps."
    )
    lanes = [r for r in document["scenarios"] if len(r.get("lanes", {})) > 1 or r.get("fairness") is not None]
    if lanes:
        lines += [
            "",
            "| scenario | lane | delivered fps (per stream) | p50 | p95 | bare p50 (alone) | p50 / bare "
            "| fairness (min/max per stream) | holistic fps / bare sequential |",
            "|" + "---|" * 9,
        ]
        for r in lanes:
            for track, lane in r["lanes"].items():
                lat = lane["latency_ms"]
                lines.append(
                    f"| {r['name']} | {track} | {lane['delivered_fps']:.1f} ({lane['per_stream_fps']:.1f}) "
                    f"| {_ms(lat['p50'])} | {_ms(lat['p95'])} | {_ms(lane.get('bare_p50_ms'))} "
                    f"| {lane.get('p50_ratio_to_bare', '–')} | {lane['fairness'] or '–'} "
                    f"| {_holistic(r)} |"
                )
        lines.append("")
        lines.append(
            "A lane is one tracker of one camera; each runs at its own rate. Holistic fps: complete "
            "face+pose+hands updates per camera and second (its slowest lane)."
        )
    if document.get("bare"):
        lines += [
            "",
            "| bare | trackers | frames | processes | paced fps | frames/s | decode p50 | inference p50 "
            "| decode+inference p50 | p95 |",
            "|" + "---|" * 10,
        ]
        for b in document["bare"]:
            lines.append(
                f"| {'paced' if b['fps'] else 'saturated'} | {'+'.join(b.get('tracks', ['face']))} "
                f"| {b.get('media', 'face')} | {b['workers']} | {_fps(b['fps'])} "
                f"| {b['throughput_fps']:.1f} | {_ms(b['decode_ms']['p50'])} "
                f"| {_ms(b['inference_ms']['p50'])} | {_ms(b['decode_infer_ms']['p50'])} "
                f"| {_ms(b['decode_infer_ms']['p95'])} |"
            )
    rss = [r for r in document["scenarios"] if r.get("rss_mb")]
    if rss:
        names = sorted({n for r in rss for n in r["rss_mb"]}, key=_process_order)
        lines += [
            "",
            "| scenario | " + " | ".join(f"{n} RSS MiB / CPU %" for n in names) + " | other processes CPU % |",
            "|" + "---|" * (len(names) + 2),
        ]
        for r in rss:
            cells = [f"{r['rss_mb'].get(n, '–')} / {r['cpu_percent'].get(n, '–')}" for n in names]
            lines.append(f"| {r['name']} | " + " | ".join(cells) + f" | {r['cpu_percent'].get('other', '–')} |")
        lines.append("")
        lines.append(
            "CPU % is of one core over the measured window (200 % = both cores of a 2-core "
            "machine); a landmarker's figure includes its decode helper processes; 'other' is "
            "everything on the machine that is not this benchmark."
        )
    return "\n".join(lines)


def _holistic(run: dict) -> str:
    if run.get("holistic_fps") is None:
        return "–"
    ratio = run.get("holistic_ratio_to_sequential")
    return f"{run['holistic_fps']:.1f}" + (f" / {run['bare_sequential_fps']:.1f} = {ratio}" if ratio else "")


def _process_order(name: str) -> tuple:
    order = {"ingest": 0, "gateway": 1, "bench-client": 9}
    return (order.get(name, 5), name)


def _fps(value) -> str:
    return "max" if not value else f"{value:g}"


def markdown_targets(document: dict) -> str:
    lines = ["| target | met | value | detail |", "|---|---|---|---|"]
    for t in document.get("targets", []):
        lines.append(f"| {t['target']} | {'yes' if t['met'] else '**no**'} | {t['value']} | {t['detail']} |")
    return "\n".join(lines)


def write(document: dict, runs: list[dict], out: Path, tag: str = "", plots: bool = True) -> list[Path]:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    suffix = f"-{tag}" if tag else ""
    json_path = out / f"bench-{stamp}{suffix}.json"
    md_path = out / f"bench-{stamp}{suffix}.md"
    json_path.write_text(json.dumps(document, indent=1) + "\n")
    machine = document["machine"]
    md = [
        f"# live2d-pose benchmark {document['started']}",
        "",
        f"Machine: {machine.get('cpu')}, {machine.get('cores')} cores, "
        f"{machine.get('memory_gib', '?')} GiB; Python {machine.get('python')}, "
        f"MediaPipe {machine.get('mediapipe', '?')}. Settings: {json.dumps(document['settings'])}",
        "",
        markdown_table(document),
        "",
        "## Targets",
        "",
        markdown_targets(document),
        "",
    ]
    paths = [json_path, md_path]
    if plots:
        from live2d_pose.bench import plots as plotting

        made = plotting.make_all(document, runs, out, stamp + suffix)
        md += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in made]
        paths += made
    md_path.write_text("\n".join(md) + "\n")
    for name, path in (("latest.json", json_path), ("latest.md", md_path)):
        link = out / name
        link.write_text(path.read_text())
    return paths
