"""Prometheus /metrics on ingest and the gateway, and the Grafana dashboard that reads them.
In-process servers with a fake worker: these are about the numbers, not MediaPipe."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import run
from tests.system.test_http import raw_http, get
from live2d_pose.ingest.metrics import INGEST_TOTALS
from live2d_pose.testing.clients import Camera, Viewer
from live2d_pose.testing.frames import astronaut_frame
from live2d_pose.testing.inprocess import InProcess

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "live2d-pose.json"
# The gateway's names from before prometheus_client: dashboards and alerts may use them.
KEPT_NAMES = [
    "live2d_pose_gateway_results_total",
    "live2d_pose_gateway_results_stale_total",
    "live2d_pose_gateway_rogue_messages_total",
    "live2d_pose_gateway_viewers",
    "live2d_pose_gateway_viewer_frames_skipped_total",
    "live2d_pose_stream_fps",
    "live2d_pose_stream_latency_ms",
]


async def scrape(port: int) -> dict[str, list]:
    """name -> [(labels, value)] for every sample, by parsing the exposition format."""
    status, headers, body = await raw_http(port, get(b"/metrics"))
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(body.decode()):
        samples.setdefault(family.name, [])  # a family with no samples yet still names itself
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    matching = [v for found, v in samples[name] if all(found.get(k) == w for k, w in labels.items())]
    assert len(matching) == 1, (name, labels, samples.get(name))
    return matching[0]


def test_metrics_count_what_happened():
    async def body():
        async with InProcess(workers=2) as pipe:
            async with Camera(pipe.camera_url + "?stream=m1") as camera, Viewer(pipe.viewer_url("stream=m1")) as viewer:
                await camera.stream_frames([astronaut_frame()], fps=30, count=20)
                await viewer.wait_for_results(10)
                await camera.send(b"not an image")
                await camera.wait_for_error("not_an_image")
                await asyncio.sleep(0.2)
                return (
                    await scrape(pipe.camera_port),
                    await scrape(pipe.gateway_server.port),
                    pipe.ingest_stats(),
                    len(viewer.results),
                )

    ingest, gateway, stats, delivered = run(body())
    assert value(ingest, "live2d_pose_workers_alive") == 2
    assert value(ingest, "live2d_pose_ingest_frames_rejected_total") == 1
    stream = stats["streams"]["m1"]
    for key in ("received", "dispatched", "dropped", "done", "errors", "lost"):
        assert value(ingest, f"live2d_pose_stream_{key}_total", stream="m1") == stream[key], key
    assert value(ingest, "live2d_pose_stream_received_total", stream="m1") == 20
    assert sum(v for _, v in ingest["live2d_pose_worker_frames_done_total"]) == stream["done"]
    for name in KEPT_NAMES:
        assert name in gateway, name
    assert value(gateway, "live2d_pose_gateway_results_total") >= delivered
    assert value(gateway, "live2d_pose_stream_fps", stream="m1") > 0
    # every result's time, stage by stage; the stages of one result add up to its total
    results = value(gateway, "live2d_pose_stage_latency_seconds_count", stage="total")
    assert results == value(gateway, "live2d_pose_gateway_results_total") + value(
        gateway, "live2d_pose_gateway_results_stale_total"
    )
    parts = sum(
        value(gateway, "live2d_pose_stage_latency_seconds_sum", stage=stage)
        for stage in ("queued", "transfer", "decode", "inference", "delivery")
    )
    total = value(gateway, "live2d_pose_stage_latency_seconds_sum", stage="total")
    assert abs(parts - total) < 0.001 * results + 1e-6


def test_grafana_dashboard_is_valid_and_names_real_metrics():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] and dashboard["panels"]
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert exprs and all(panel["datasource"]["uid"] == "${datasource}" for panel in dashboard["panels"])
    named = {name for expr in exprs for name in re.findall(r"\blive2d_pose_\w+", expr)}

    async def body():
        async with InProcess(workers=1) as pipe:
            async with Camera(pipe.camera_url + "?stream=d") as camera, Viewer(pipe.viewer_url()) as viewer:
                await camera.stream_frames([astronaut_frame()], fps=30, count=5)
                await viewer.wait_for_results(1)
                return {**await scrape(pipe.camera_port), **await scrape(pipe.gateway_server.port)}

    exposed = run(body())
    missing = sorted(named - set(exposed))
    assert not missing, f"the dashboard names metrics nobody exports: {missing}"
    assert len(named) >= 15


def test_ingest_totals_and_when_the_counters_began_are_in_metrics():
    """Results forwarded, dropped and rejected, replacements, quarantines and refusals were in
    /stats only; and nothing said that a restarted ingest's counters began again from 0."""

    async def body():
        async with InProcess(workers=1) as pipe:
            async with Camera(pipe.camera_url + "?stream=m2") as first:
                await first.stream_frames([astronaut_frame()], fps=30, count=5)
                async with Camera(pipe.camera_url + "?stream=m2") as second:  # takes the stream over
                    await second.stream_frames([astronaut_frame()], fps=30, count=5)
                    await asyncio.sleep(0.3)
                    return (await scrape(pipe.camera_port), await scrape(pipe.gateway_server.port), pipe.ingest_stats())

    ingest, gateway, stats = run(body())
    for key, _ in INGEST_TOTALS:
        assert value(ingest, f"live2d_pose_ingest_{key}_total") == stats["totals"][key], key
    assert value(ingest, "live2d_pose_ingest_replaced_total") == 1
    assert value(ingest, "live2d_pose_ingest_results_forwarded_total") >= 5
    for samples in (ingest, gateway):  # counters begin with the process
        assert 0 < value(samples, "process_start_time_seconds") <= time.time()
    assert value(ingest, "live2d_pose_worker_lanes", worker="fake1") == 1
