"""A worker's memory: what its MediaPipe instances weigh, how many fit, and giving it back.

Capacity is memory. One VIDEO-mode instance holds its own graph, tensors and
threads: measured here (docs/reliability.md) about 25 MB for the face
landmarker, 75 MB for pose (full) and 40 MB for hands. A worker measures its
own trackers at start (:func:`measure_instances`: a custom model weighs what
it weighs), takes a memory budget (``--memory-budget-mb``, or a share of what
is free, see :func:`default_budget_mb`) and tells ingest both in READY, so
ingest never seats more lanes on it than fit.

Giving memory back. glibc's malloc keeps freed memory for reuse: with its
default dynamic mmap threshold, a process that built and closed 24 instances
held 1.37 GB afterwards (baseline 150 MB), and ``malloc_trim`` alone brought it
to 290 MB. A fixed threshold (:func:`keep_large_blocks_separate`, at start)
plus ``malloc_trim`` after closing instances (:func:`release_free_memory`)
brought it back to 183 MB every cycle, at no measurable cost per inference.
Both are glibc calls; elsewhere they do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from live2d_pose.landmarker.trackers import Tracker

log = logging.getLogger("live2d_pose.landmarker")

M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
MMAP_THRESHOLD_BYTES = 1 << 20  # blocks this large get their own mapping, returned to the OS when freed
BUDGET_SHARE = 0.8  # of the memory free at start: the rest is for frames, decoding and the system
MB = 1 << 20
FRAME_MARGIN = 1.1  # real frames grow an instance's buffers by 2-6 MB over the blank one measured


def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None  # glibc only


_LIBC = _libc()


def keep_large_blocks_separate() -> None:
    """Fix glibc's mmap threshold: large blocks (model tensors) are mapped on their own and
    unmapped when freed, instead of fragmenting the heap after the threshold has grown."""
    if _LIBC is not None:
        _LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def release_free_memory() -> None:
    """Hand the heap's free pages back to the OS (glibc's malloc_trim)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def rss_mb() -> float:
    """This process's resident memory."""
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE") / MB
    except (OSError, ValueError, IndexError):  # not Linux: the peak is the best we have
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def free_mb() -> tuple[float, bool]:
    """(MB this process could still use, whether a cgroup limit says so)."""
    limit = _cgroup_room_mb()
    if limit is not None:
        return limit, True
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024, False
    except (OSError, ValueError):
        pass
    return 4096.0, False  # no way to tell: assume a small machine


def _cgroup_room_mb() -> float | None:
    """Limit minus usage of this container's memory cgroup (v2, then v1); None without a limit."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            limit_text = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit_text == "max" or int(limit_text) >= 1 << 60:  # v1 says "no limit" with a huge number
            return None
        return max(0.0, (int(limit_text) - usage) / MB)
    return None


def default_budget_mb() -> float:
    """A share of the memory free now: all of a container's room (one worker per container),
    or the host's free memory split over its cores (`up` runs at most one worker per core)."""
    free, in_container = free_mb()
    sharers = 1 if in_container else (os.cpu_count() or 1)
    return BUDGET_SHARE * free / sharers


def measure_instances(trackers: dict[str, Tracker]) -> dict[str, float]:
    """MB one more instance of each tracker adds, inference buffers included: the second
    instance built is measured (the first also pays one-time set-up), then both are closed.
    Measured so, in MB: face 22.5, pose 71.8, hands 38.6; the same instances after real
    frames of the gesture video: 24.5, 75, 40 (hence FRAME_MARGIN)."""
    sizes = {}
    blank = np.full((64, 64, 3), 128, np.uint8)
    for name, tracker in trackers.items():
        started = time.monotonic()
        first = tracker.open()
        tracker.detect(first, _image(blank), 1)
        before = rss_mb()
        second = tracker.open()
        tracker.detect(second, _image(blank), 1)
        sizes[name] = max(1.0, rss_mb() - before) * FRAME_MARGIN
        for instance in (first, second):
            tracker.close(instance)
        release_free_memory()  # or the next tracker's instances reuse these pages, and look lighter
        log.debug("%s instance: %.1f MB (measured in %.2f s)", name, sizes[name], time.monotonic() - started)
    release_free_memory()
    return sizes


def _image(rgb: np.ndarray):
    import mediapipe as mp

    return mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
