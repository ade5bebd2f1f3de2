"""Prometheus metrics of ingest and the gateway (prometheus_client), served on /metrics.

Two kinds, so that nothing goes stale and nothing is counted twice:

- **State read at scrape time** (per-stream counts, workers alive, viewers):
  a collector turns the server's own bookkeeping (the Dispatcher's stream
  stats, the Fanout's streams) into metric families when Prometheus asks.
  A stream that ended simply stops appearing, so label sets stay bounded by
  ``--max-streams`` and never need cleaning up.
- **Events** (the per-stage latency of each result): a histogram the gateway
  feeds from the timestamps every result carries (``ts``: ingest, dispatch,
  decode_start, infer_start, infer_end, gateway; see docs/protocol.md).

Workers have no port: they report through ingest (its DONE bookkeeping),
so ingest's /metrics (on the camera port, like /stats) covers them.

Counters start from 0 when a process starts: each registry carries
prometheus_client's process collector, so ``process_start_time_seconds``
says when (Prometheus's ``rate()`` and ``increase()`` handle the reset).
deploy/grafana/live2d-pose.json is a dashboard of these metrics.

Each server has its own registry (not prometheus_client's global one), so
both can run in one process, as the in-process tests do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from live2d_pose.gateway.server import GatewayServer
    from live2d_pose.ingest.server import IngestServer

# The classic text format, which every Prometheus reads (generate_latest writes it).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# (stage, from timestamp, to timestamp): where a result's time went, in pipeline order
STAGES = (
    ("queued", "ingest", "dispatch"),  # waiting in ingest for a free worker
    ("transfer", "dispatch", "decode_start"),  # ingest -> worker socket
    ("decode", "decode_start", "infer_start"),
    ("inference", "infer_start", "infer_end"),
    ("delivery", "infer_end", "gateway"),  # worker -> gateway
    ("total", "ingest", "gateway"),
)
MOTION_BUCKETS = (0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.0025, 0.005, 0.01, 0.025)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)


class StateCollector:
    """A prometheus_client collector that builds its metric families from a callable at scrape."""

    def __init__(self, families: Callable[[], Iterable[Metric]]):
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families()


def render(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def _counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help_text, value=value)


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


# ---------------------------------------------------------------- ingest

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


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)  # process_start_time_seconds: when the counters began
    return registry


def ingest_registry(server: "IngestServer") -> CollectorRegistry:
    registry = _registry()
    registry.register(StateCollector(lambda: _ingest_families(server)))
    return registry


def _ingest_families(server: "IngestServer") -> Iterator[Metric]:
    stats = server.stats()
    totals = stats["totals"]
    yield _counter("live2d_pose_ingest_cameras", "camera connections registered", totals["cameras"])
    yield _gauge("live2d_pose_ingest_cameras_connected", "cameras connected now", len(server.cameras))
    yield _counter("live2d_pose_ingest_frames", "frames accepted from cameras", totals["frames"])
    yield _counter("live2d_pose_ingest_frames_rejected", "frames refused by ingest's checks", totals["rejected"])
    yield _counter("live2d_pose_ingest_frames_lost", "frames lost with a worker", totals["frames_lost"])
    yield _counter("live2d_pose_ingest_rogue_messages", "malformed messages on the workers socket",
                   totals["rogue_messages"])
    yield _gauge("live2d_pose_workers_alive", "workers registered with ingest", len(stats["workers"]))
    yield _counter("live2d_pose_ingest_workers_dead", "workers declared dead or gone", totals["workers_dead"])
    yield _gauge("live2d_pose_ingest_handshaking", "connections in the handshake", stats["handshaking"])
    yield _gauge("live2d_pose_ingest_partial_bytes", "bytes held by unfinished incoming messages",
                 stats["partial_bytes"])
    yield _gauge("live2d_pose_ingest_lanes_unseated", "lanes waiting for a worker with room",
                 stats["lanes_unseated"])
    for key, text in INGEST_TOTALS:
        yield _counter(f"live2d_pose_ingest_{key}", text, totals[key])
    yield from _stream_families(stats["streams"])
    yield from _worker_families(stats["workers"])


def _stream_families(streams: dict[str, dict]) -> Iterator[Metric]:
    for key, text in STREAM_COUNTS:
        family = CounterMetricFamily(f"live2d_pose_stream_{key}", text, labels=["stream"])
        for stream, values in streams.items():
            family.add_metric([stream], values.get(key, 0))
        yield family
    latency = GaugeMetricFamily("live2d_pose_stream_worker_latency_ms",
                                "mean ingest-to-inference-end latency of done frames", labels=["stream"])
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
    latency = GaugeMetricFamily("live2d_pose_lane_worker_latency_ms",
                                "mean ingest-to-inference-end latency of done frames, per tracker",
                                labels=["stream", "track"])
    for stream, values in streams.items():
        for track, lane in values.get("lanes", {}).items():
            latency.add_metric([stream, track], lane.get("mean_latency_ms", 0.0))
    yield latency


def _worker_families(workers: list[dict]) -> Iterator[Metric]:
    done = CounterMetricFamily("live2d_pose_worker_frames_done", "frames a worker finished", labels=["worker"])
    busy = GaugeMetricFamily("live2d_pose_worker_in_flight", "frames a worker holds now", labels=["worker"])
    lanes = GaugeMetricFamily("live2d_pose_worker_lanes", "lanes seated on a worker", labels=["worker"])
    memory = GaugeMetricFamily("live2d_pose_worker_instances_memory_mb",
                               "what its MediaPipe instances weigh (as it measured them)", labels=["worker"])
    budget = GaugeMetricFamily("live2d_pose_worker_memory_budget_mb",
                               "the memory a worker has for MediaPipe instances", labels=["worker"])
    for worker in workers:
        done.add_metric([worker["name"]], worker["frames_done"])
        busy.add_metric([worker["name"]], worker["in_flight"])
        lanes.add_metric([worker["name"]], len(worker["lanes"]))
        if "memory_mb" in worker:
            memory.add_metric([worker["name"]], worker["memory_mb"])
            budget.add_metric([worker["name"]], worker["memory_budget_mb"])
    yield from (done, busy, lanes, memory, budget)


# ---------------------------------------------------------------- gateway

class GatewayMetrics:
    """The gateway's registry: its counters and streams at scrape, stage latencies as they come."""

    def __init__(self, server: "GatewayServer"):
        self.registry = _registry()
        self.registry.register(StateCollector(lambda: _gateway_families(server)))
        self.stage_latency = Histogram(
            "live2d_pose_stage_latency_seconds", "where a result's time went, by pipeline stage "
            "(from its ts stamps; wall clocks of the hosts involved)", ["stage"],
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self._stages = {stage: self.stage_latency.labels(stage) for stage, _, _ in STAGES}
        self.motion_cost = Histogram(
            "live2d_pose_gateway_motion_seconds", "what one result cost the rig of its stream: solving, "
            "smoothing, and deriving and encoding each variant in use", buckets=MOTION_BUCKETS,
            registry=self.registry)

    def observe_motion(self, seconds: float) -> None:
        self.motion_cost.observe(seconds)

    def observe(self, ts: dict) -> None:
        """One result's timestamps (milliseconds); stages whose stamps are missing are skipped."""
        for stage, start, end in STAGES:
            if start in ts and end in ts:
                self._stages[stage].observe(max(0.0, ts[end] - ts[start]) / 1000.0)


def _gateway_families(server: "GatewayServer") -> Iterator[Metric]:
    counters = server.counters
    # The names the gateway had before prometheus_client, unchanged.
    yield _counter("live2d_pose_gateway_results", "results forwarded to viewers", counters["results"])
    yield _counter("live2d_pose_gateway_results_stale", "results older than one already forwarded",
                   counters["results_stale"])
    yield _counter("live2d_pose_gateway_rogue_messages", "malformed messages on the results socket",
                   counters["rogue_messages"])
    yield _gauge("live2d_pose_gateway_viewers", "viewers connected now", len(server.fanout.viewers))
    yield _counter("live2d_pose_gateway_viewer_frames_skipped", "results a slow viewer never got",
                   sum(v.mailbox.overwritten for v in server.fanout.viewers))
    yield _counter("live2d_pose_gateway_viewers_rejected", "viewers refused", counters["viewers_rejected"])
    yield _gauge("live2d_pose_gateway_rigs", "streams whose motion is solved now (someone watches them)",
                 len(server.motion.rigs))
    yield _counter("live2d_pose_gateway_rigs_created", "rigs started (a watched stream's first result)",
                   counters["rigs_created"])
    yield _counter("live2d_pose_gateway_motion_updates", "rig updates published (each variant encoded once)",
                   counters["motion_updates"])
    yield _counter("live2d_pose_gateway_motion_unsolvable", "results the rig could not use (non-finite numbers)",
                   counters["motion_unsolvable"])
    yield _counter("live2d_pose_gateway_motion_skipped", "motion updates a slow viewer got as a later full message",
                   sum(v.mailbox.motion_skipped for v in server.fanout.viewers))
    yield _counter("live2d_pose_gateway_viewers_refused_per_client", "viewers refused over --max-viewers-per-client",
                   counters["viewers_refused_per_client"])
    yield _counter("live2d_pose_gateway_viewers_idle_closed", "viewers closed because the stream they asked "
                   "for was not live for --viewer-idle-timeout", counters["viewers_idle_closed"])
    yield from _take_families(server)
    fps = GaugeMetricFamily("live2d_pose_stream_fps", "results per second (smoothed)", labels=["stream"])
    latency = GaugeMetricFamily("live2d_pose_stream_latency_ms", "ingest-to-gateway latency (smoothed)",
                                labels=["stream"])
    results = CounterMetricFamily("live2d_pose_stream_results", "results forwarded", labels=["stream"])
    for info in server.fanout.streams.values():
        fps.add_metric([info.stream], info.fps)
        latency.add_metric([info.stream], info.latency_ms)
        results.add_metric([info.stream], info.results)
    yield from (fps, latency, results)


def _take_families(server: "GatewayServer") -> Iterator[Metric]:
    """Takes recorded in the gateway (takes.py) and streams played into it (played.py)."""
    counters = server.counters
    yield _gauge("live2d_pose_gateway_takes_recording", "takes being recorded now",
                 sum(len(takes) for takes in server.takes.recording.values()))
    for key, text in (("takes_started", "takes started (--record-dir, the page's POST /record)"),
                      ("takes_finished", "takes finished (their files written, or failed)"),
                      ("takes_errors", "takes stopped by a failure (a full disk) or whose files could not be written"),
                      ("takes_refused", "POST /record and take downloads refused (origin, token, --max-takes)"),
                      ("played_streams", "streams published by players (/publish)"),
                      ("played_frames", "frames players published"),
                      ("played_refused", "players refused (token, origin, a live name, --max-played)"),
                      ("played_bad_messages", "player messages that were no usable motion")):
        yield _counter(f"live2d_pose_gateway_{key}", text, counters[key])
    yield _gauge("live2d_pose_gateway_played_now", "streams being played now", len(server.players.playing))
