"""What ingest's and the gateway's Prometheus metrics (prometheus_client, served on /metrics) share;
each service's own families are in services/<name>/metrics.py.

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

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

# The classic text format, which every Prometheus reads (generate_latest writes it).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class StateCollector:
    """A prometheus_client collector that builds its metric families from a callable at scrape."""

    def __init__(self, families: Callable[[], Iterable[Metric]]):
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families()


def render(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help_text, value=value)


def gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


def registry() -> CollectorRegistry:
    """A server's own registry (not prometheus_client's global one, so two servers can share a process)."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)  # process_start_time_seconds: when the counters began
    return registry
