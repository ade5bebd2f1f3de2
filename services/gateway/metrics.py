"""The gateway's Prometheus metrics: its counters, streams and takes read at scrape time, and the
per-stage latency of each result as it comes (from the ``ts`` stamps every result carries:
ingest, dispatch, decode_start, infer_start, infer_end, gateway; docs/protocol.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from live2d_pose import metrics

if TYPE_CHECKING:
    from live2d_pose.gateway.server import GatewayServer

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


class GatewayMetrics:
    """The gateway's registry: its counters and streams at scrape, stage latencies as they come."""

    def __init__(self, server: GatewayServer):
        self.registry = metrics.registry()
        self.registry.register(metrics.StateCollector(lambda: _gateway_families(server)))
        self.stage_latency = Histogram(
            "live2d_pose_stage_latency_seconds",
            "where a result's time went, by pipeline stage (from its ts stamps; wall clocks of the hosts involved)",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._stages = {stage: self.stage_latency.labels(stage) for stage, _, _ in STAGES}
        self.motion_cost = Histogram(
            "live2d_pose_gateway_motion_seconds",
            "what one result cost the rig of its stream: solving, "
            "smoothing, and deriving and encoding each variant in use",
            buckets=MOTION_BUCKETS,
            registry=self.registry,
        )

    def observe_motion(self, seconds: float) -> None:
        self.motion_cost.observe(seconds)

    def observe(self, ts: dict) -> None:
        """One result's timestamps (milliseconds); stages whose stamps are missing are skipped."""
        for stage, start, end in STAGES:
            if start in ts and end in ts:
                self._stages[stage].observe(max(0.0, ts[end] - ts[start]) / 1000.0)


def _gateway_families(server: GatewayServer) -> Iterator[Metric]:
    counters = server.counters
    # The names the gateway had before prometheus_client, unchanged.
    yield metrics.counter("live2d_pose_gateway_results", "results forwarded to viewers", counters["results"])
    yield metrics.counter(
        "live2d_pose_gateway_results_stale", "results older than one already forwarded", counters["results_stale"]
    )
    yield metrics.counter(
        "live2d_pose_gateway_rogue_messages", "malformed messages on the results socket", counters["rogue_messages"]
    )
    yield metrics.gauge("live2d_pose_gateway_viewers", "viewers connected now", len(server.fanout.viewers))
    yield metrics.counter(
        "live2d_pose_gateway_viewer_frames_skipped",
        "results a slow viewer never got",
        sum(v.mailbox.overwritten for v in server.fanout.viewers),
    )
    yield metrics.counter("live2d_pose_gateway_viewers_rejected", "viewers refused", counters["viewers_rejected"])
    yield metrics.gauge(
        "live2d_pose_gateway_rigs", "streams whose motion is solved now (someone watches them)", len(server.motion.rigs)
    )
    yield metrics.counter(
        "live2d_pose_gateway_rigs_created", "rigs started (a watched stream's first result)", counters["rigs_created"]
    )
    yield metrics.counter(
        "live2d_pose_gateway_motion_updates",
        "rig updates published (each variant encoded once)",
        counters["motion_updates"],
    )
    yield metrics.counter(
        "live2d_pose_gateway_motion_unsolvable",
        "results the rig could not use (non-finite numbers)",
        counters["motion_unsolvable"],
    )
    yield metrics.counter(
        "live2d_pose_gateway_motion_skipped",
        "motion updates a slow viewer got as a later full message",
        sum(v.mailbox.motion_skipped for v in server.fanout.viewers),
    )
    yield metrics.counter(
        "live2d_pose_gateway_viewers_refused_per_client",
        "viewers refused over --max-viewers-per-client",
        counters["viewers_refused_per_client"],
    )
    yield metrics.counter(
        "live2d_pose_gateway_viewers_idle_closed",
        "viewers closed because the stream they asked for was not live for --viewer-idle-timeout",
        counters["viewers_idle_closed"],
    )
    yield from _take_families(server)
    fps = GaugeMetricFamily("live2d_pose_stream_fps", "results per second (smoothed)", labels=["stream"])
    latency = GaugeMetricFamily(
        "live2d_pose_stream_latency_ms", "ingest-to-gateway latency (smoothed)", labels=["stream"]
    )
    results = CounterMetricFamily("live2d_pose_stream_results", "results forwarded", labels=["stream"])
    for info in server.fanout.streams.values():
        fps.add_metric([info.stream], info.fps)
        latency.add_metric([info.stream], info.latency_ms)
        results.add_metric([info.stream], info.results)
    yield from (fps, latency, results)


def _take_families(server: GatewayServer) -> Iterator[Metric]:
    """Takes recorded in the gateway (takes.py) and streams played into it (played.py)."""
    counters = server.counters
    yield metrics.gauge(
        "live2d_pose_gateway_takes_recording",
        "takes being recorded now",
        sum(len(takes) for takes in server.takes.recording.values()),
    )
    for key, text in (
        ("takes_started", "takes started (--record-dir, the page's POST /record)"),
        ("takes_finished", "takes finished (their files written, or failed)"),
        ("takes_errors", "takes stopped by a failure (a full disk) or whose files could not be written"),
        ("takes_refused", "POST /record and take downloads refused (origin, token, --max-takes)"),
        ("played_streams", "streams published by players (/publish)"),
        ("played_frames", "frames players published"),
        ("played_refused", "players refused (token, origin, a live name, --max-played)"),
        ("played_bad_messages", "player messages that were no usable motion"),
    ):
        yield metrics.counter(f"live2d_pose_gateway_{key}", text, counters[key])
    yield metrics.gauge("live2d_pose_gateway_played_now", "streams being played now", len(server.players.playing))
