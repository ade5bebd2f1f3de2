"""``live2d-pose health``: a container health check with no curl in the image.

    live2d-pose health --url http://localhost:8080/healthz
    live2d-pose health --file /tmp/live2d-pose-worker.health --max-age 3

A landmarker has no port; it touches its health file on every heartbeat
exchanged with ingest, so a stale file means a stuck or disconnected worker.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.request


def check_url(url: str, timeout: float) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            if response.status == 200:
                return None
            return f"{url} answered {response.status}"
    except OSError as exc:
        return f"{url}: {exc}"


def check_file(path: str, max_age: float) -> str | None:
    try:
        age = time.time() - os.stat(path).st_mtime
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    return None if age <= max_age else f"{path} is {age:.1f} s old (limit {max_age} s)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="live2d-pose health", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="HTTP URL that must answer 200")
    target.add_argument("--file", help="file that must have been touched recently")
    parser.add_argument("--max-age", type=float, default=3.0, help="seconds, with --file")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds, with --url")
    args = parser.parse_args(argv)
    problem = check_url(args.url, args.timeout) if args.url else check_file(args.file, args.max_age)
    if problem:
        sys.stderr.write(f"unhealthy: {problem}\n")
        return 1
    return 0
