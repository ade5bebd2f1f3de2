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
