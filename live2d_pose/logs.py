"""One logging setup for every process, so their lines interleave readably."""

from __future__ import annotations

import logging
import sys


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # websockets logs every HTTP request and close at INFO (health checks, viewers);
    # our services log the events that matter themselves.
    logging.getLogger("websockets").setLevel(logging.WARNING)


class ThrottledWarning:
    """Counts an event and logs it the first ``first`` times, then every ``every``-th time:
    a peer sending garbage in a loop must not fill the disk, and the count is never lost.

    The count lives in ``counters[key]`` (a service's totals dict, say), so /stats and
    /metrics read it where they read everything else."""

    def __init__(
        self, log: logging.Logger, counters: dict | None = None, key: str = "count", first: int = 10, every: int = 1000
    ):
        self.log = log
        self.counters = {key: 0} if counters is None else counters
        self.key = key
        self.first = first
        self.every = every

    @property
    def count(self) -> int:
        return self.counters[self.key]

    def __call__(self, message: str, *args: object) -> None:
        self.counters[self.key] += 1
        if self.count <= self.first or self.count % self.every == 0:
            self.log.warning("%s (%d so far)", message % args if args else message, self.count)
