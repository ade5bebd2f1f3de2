"""What ingest and the gateway share as services, beyond the event loop (aio.py).

Kept here so each concern has one home: the error a client is refused with,
and warnings about hostile or broken peers that must not flood the log.
"""

from __future__ import annotations

import logging


class ThrottledWarning:
    """Counts an event and logs it the first ``first`` times, then every ``every``-th time:
    a peer sending garbage in a loop must not fill the disk, and the count is never lost."""

    def __init__(self, log: logging.Logger, first: int = 10, every: int = 1000):
        self.log = log
        self.first = first
        self.every = every
        self.count = 0

    def __call__(self, message: str, *args: object) -> None:
        self.count += 1
        if self.count <= self.first or self.count % self.every == 0:
            self.log.warning(message + " (%d so far)", *args, self.count)
