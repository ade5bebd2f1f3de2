"""``live2d-pose health``: a container health check with no curl in the image.

    live2d-pose health --service ingest       (or gateway, landmarker)
    live2d-pose health --url http://localhost:8080/healthz
    live2d-pose health --file /tmp/live2d-pose-worker.health --max-age 3

``--service`` reads that service's own settings (its LIVE2D_POSE_*
variables), so the check follows a changed port or health file: ingest and the
gateway answer /healthz on their HTTP port. A landmarker has no port; it
touches its health file on every heartbeat exchanged with ingest, so a stale
file means a stuck or disconnected worker.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.request
from collections.abc import Mapping

from live2d_pose import config


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


def local_url(host: str, port: int) -> str:
    """The /healthz URL of a server listening on host:port, from its own machine."""
    host = {"": "127.0.0.1", "*": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}/healthz" if ":" in host else f"http://{host}:{port}/healthz"


def _health_file(path: str) -> str:
    if not path:
        raise SystemExit("unhealthy: LIVE2D_POSE_HEALTH_FILE is not set, so the worker touches no health file")
    return path


# service -> what to check, from its settings: ("url", URL) or ("file", path)
TARGETS = {
    "ingest": lambda c: ("url", local_url(c.host, c.port)),
    "gateway": lambda c: ("url", local_url(c.host, c.http_port)),
    "landmarker": lambda c: ("file", _health_file(c.health_file)),
}


def service_target(service: str, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """What --service checks, from the service's settings (cli.SERVICES) in the environment."""
    from live2d_pose.cli import SERVICES

    return TARGETS[service](config.from_sources(SERVICES[service].settings_class(), environ=environ))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="live2d-pose health", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--service",
        choices=sorted(TARGETS),
        help="check this service as its LIVE2D_POSE_* settings say (port, health file)",
    )
    target.add_argument("--url", help="HTTP URL that must answer 200")
    target.add_argument("--file", help="file that must have been touched recently")
    parser.add_argument("--max-age", type=float, default=3.0, help="seconds, with --file")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds, with --url")
    args = parser.parse_args(argv)
    if args.service:
        kind, where = service_target(args.service)
        args.url, args.file = (where, None) if kind == "url" else (None, where)
    problem = check_url(args.url, args.timeout) if args.url else check_file(args.file, args.max_age)
    if problem:
        sys.stderr.write(f"unhealthy: {problem}\n")
        return 1
    return 0
