"""Ingest's Prometheus metrics: its bookkeeping (/stats) read at scrape time, as metric families.

Workers have no port: they report through ingest (its DONE bookkeeping), so ingest's
/metrics (on the camera port, like /stats) covers them. A stream that ended stops
appearing, so label sets stay bounded by --max-streams.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from live2d_pose import metrics

if TYPE_CHECKING:
    from live2d_pose.ingest.server import IngestServer


STREAM_COUNTS = (  # ingest /stats field -> metric (live2d_pose_stream_<name>_total{stream})
    ("received", "frames received from the camera (after the rate limit)"),
    ("dispatched", "frames sent to a worker"),
    ("dropped", "frames replaced by a newer one before a worker was free"),
    ("lost", "frames lost with a worker that died"),
    ("done", "frames a worker finished (results and errors)"),
    ("errors", "frames a worker answered with an error"),
    ("throttled", "times reading the camera paused to hold it to --max-fps"),
    ("rejected", "frames refused by ingest's checks"),
)
LANE_COUNTS = STREAM_COUNTS[:6]  # per (stream, tracker) lane: live2d_pose_lane_<name>_total{stream,track}


# ingest /stats totals -> live2d_pose_ingest_<name>_total
INGEST_TOTALS = (
    ("handshake_timeouts", "connections closed for no imageSize in time"),
    ("handshakes_evicted", "connections closed over --max-handshakes"),
    ("partial_evicted", "connections closed over --max-partial-bytes"),
    ("results_forwarded", "results sent on to the gateway"),
    ("results_dropped", "results dropped because the gateway was not taking them"),
    ("results_rejected", "results a worker sent for a frame it did not hold"),
    ("replaced", "camera connections taken over by a newer one with the same stream="),
    ("quarantined", "streams closed because their frames kept costing workers"),
    ("refused_busy", "cameras refused busy: their lanes did not fit in the workers' memory"),
    ("refused_per_client", "cameras refused over --max-streams-per-client"),
    ("idle_timeouts", "cameras closed for sending no frame for --camera-idle-timeout"),
    ("origin_refused", "camera connections refused for a web page's Origin"),
    ("seat_moves", "lanes moved to another worker (each builds a MediaPipe instance anew)"),
)


def ingest_registry(server: IngestServer) -> CollectorRegistry:
    registry = metrics.registry()
    registry.register(metrics.StateCollector(lambda: _ingest_families(server)))
    return registry


def _ingest_families(server: IngestServer) -> Iterator[Metric]:
    stats = server.stats()
    totals = stats["totals"]
    yield metrics.counter("live2d_pose_ingest_cameras", "camera connections registered", totals["cameras"])
    yield metrics.gauge("live2d_pose_ingest_cameras_connected", "cameras connected now", len(server.cameras.connected))
    yield metrics.counter("live2d_pose_ingest_frames", "frames accepted from cameras", totals["frames"])
    yield metrics.counter("live2d_pose_ingest_frames_rejected", "frames refused by ingest's checks", totals["rejected"])
    yield metrics.counter("live2d_pose_ingest_frames_lost", "frames lost with a worker", totals["frames_lost"])
    yield metrics.counter(
        "live2d_pose_ingest_rogue_messages", "malformed messages on the workers socket", totals["rogue_messages"]
    )
    yield metrics.gauge("live2d_pose_workers_alive", "workers registered with ingest", len(stats["workers"]))
    yield metrics.counter("live2d_pose_ingest_workers_dead", "workers declared dead or gone", totals["workers_dead"])
    yield metrics.gauge("live2d_pose_ingest_handshaking", "connections in the handshake", stats["handshaking"])
    yield metrics.gauge(
        "live2d_pose_ingest_partial_bytes", "bytes held by unfinished incoming messages", stats["partial_bytes"]
    )
    yield metrics.gauge(
        "live2d_pose_ingest_lanes_unseated", "lanes waiting for a worker with room", stats["lanes_unseated"]
    )
    for key, text in INGEST_TOTALS:
        yield metrics.counter(f"live2d_pose_ingest_{key}", text, totals[key])
    yield from _stream_families(stats["streams"])
    yield from _worker_families(stats["workers"])


def _stream_families(streams: dict[str, dict]) -> Iterator[Metric]:
    for key, text in STREAM_COUNTS:
        family = CounterMetricFamily(f"live2d_pose_stream_{key}", text, labels=["stream"])
        for stream, values in streams.items():
            family.add_metric([stream], values.get(key, 0))
        yield family
    latency = GaugeMetricFamily(
        "live2d_pose_stream_worker_latency_ms", "mean ingest-to-inference-end latency of done frames", labels=["stream"]
    )
    for stream, values in streams.items():
        latency.add_metric([stream], values.get("mean_latency_ms", 0.0))
    yield latency
    yield from _lane_families(streams)


def _lane_families(streams: dict[str, dict]) -> Iterator[Metric]:
    """The same counts per tracker of each stream (its lanes: face, pose, hands)."""
    for key, text in LANE_COUNTS:
        family = CounterMetricFamily(f"live2d_pose_lane_{key}", f"{text}, per tracker", labels=["stream", "track"])
        for stream, values in streams.items():
            for track, lane in values.get("lanes", {}).items():
                family.add_metric([stream, track], lane.get(key, 0))
        yield family
    latency = GaugeMetricFamily(
        "live2d_pose_lane_worker_latency_ms",
        "mean ingest-to-inference-end latency of done frames, per tracker",
        labels=["stream", "track"],
    )
    for stream, values in streams.items():
        for track, lane in values.get("lanes", {}).items():
            latency.add_metric([stream, track], lane.get("mean_latency_ms", 0.0))
    yield latency


def _worker_families(workers: list[dict]) -> Iterator[Metric]:
    done = CounterMetricFamily("live2d_pose_worker_frames_done", "frames a worker finished", labels=["worker"])
    busy = GaugeMetricFamily("live2d_pose_worker_in_flight", "frames a worker holds now", labels=["worker"])
    lanes = GaugeMetricFamily("live2d_pose_worker_lanes", "lanes seated on a worker", labels=["worker"])
    memory = GaugeMetricFamily(
        "live2d_pose_worker_instances_memory_mb",
        "what its MediaPipe instances weigh (as it measured them)",
        labels=["worker"],
    )
    budget = GaugeMetricFamily(
        "live2d_pose_worker_memory_budget_mb", "the memory a worker has for MediaPipe instances", labels=["worker"]
    )
    for worker in workers:
        done.add_metric([worker["name"]], worker["frames_done"])
        busy.add_metric([worker["name"]], worker["in_flight"])
        lanes.add_metric([worker["name"]], len(worker["lanes"]))
        if "memory_mb" in worker:
            memory.add_metric([worker["name"]], worker["memory_mb"])
            budget.add_metric([worker["name"]], worker["memory_budget_mb"])
    yield from (done, busy, lanes, memory, budget)
