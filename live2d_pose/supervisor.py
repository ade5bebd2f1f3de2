"""``live2d-pose up``: ingest, N landmarkers and the gateway as supervised local processes.

Each service runs as its own ``python -m live2d_pose <service>`` process, the
same command a container runs, configured through the same LIVE2D_POSE_*
environment variables. A process that exits unexpectedly is restarted (with
a growing delay if it keeps failing); Ctrl-C or SIGTERM stops them all. A
process that exits with a configuration error (code 2: a bad flag, an
unreadable key or model) would fail the same way every time, so `up` stops
everything, says why and exits with that code instead (uvicorn's rule).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from live2d_pose import config as cfg
from live2d_pose import wire
from live2d_pose.config import UpConfig
from live2d_pose.logs import setup_logging

log = logging.getLogger("live2d_pose.up")

MAX_IPC_PATH = 100  # a Unix socket path must fit sockaddr_un (108 bytes on Linux)
STOP_TIMEOUT = 5.0
MAX_RESTART_DELAY = 10.0
EXIT_CONFIG_ERROR = 2  # what the services (and argparse) exit with on a bad setting


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    restarts: int = 0
    started: float = 0.0
    failures_in_a_row: int = 0
    next_start: float = field(default=0.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cfg.add_arguments(parser, UpConfig)


@dataclass(frozen=True)
class ZmqEndpoints:
    """Where the internal ZeroMQ links bind and where their clients connect."""

    workers_bind: str  # ingest's ROUTER
    workers: str
    results_bind: str  # the gateway's PULL
    results: str


def zmq_endpoints(up: UpConfig, private_dir: str | None) -> ZmqEndpoints:
    """ipc:// sockets in ``private_dir`` (a folder only this user can open), or TCP on
    --zmq-host when given (remote workers)."""
    if not up.zmq_host:
        if not private_dir:
            raise ValueError("ipc endpoints need a private folder (private_zmq_dir)")
        workers, results = f"ipc://{private_dir}/workers", f"ipc://{private_dir}/results"
        return ZmqEndpoints(workers, workers, results, results)
    local = "127.0.0.1" if up.zmq_host in ("0.0.0.0", "*") else up.zmq_host
    bind = "*" if up.zmq_host in ("0.0.0.0", "*") else up.zmq_host
    return ZmqEndpoints(f"tcp://{bind}:{up.workers_port}", f"tcp://{local}:{up.workers_port}",
                        f"tcp://{bind}:{up.results_port}", f"tcp://{local}:{up.results_port}")


def private_zmq_dir() -> str:
    """A fresh folder (mode 0700) for the ipc sockets: under $XDG_RUNTIME_DIR when there is
    one (per-user, in memory), else the temp folder. Unix socket paths are short (108 bytes)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = tempfile.mkdtemp(prefix="live2d-pose-", dir=runtime if runtime and os.path.isdir(runtime) else None)
    if len(folder) + len("/workers") > MAX_IPC_PATH:
        shutil.rmtree(folder)
        folder = tempfile.mkdtemp(prefix="live2d-pose-", dir="/tmp")
    return folder


def service_commands(up: UpConfig, private_dir: str | None = None) -> list[Child]:
    """The command line of every process `up` runs (``private_dir``: see :func:`zmq_endpoints`)."""
    python = [sys.executable, "-m", "live2d_pose"]
    zmq = zmq_endpoints(up, private_dir)
    common = ["--log-level", up.log_level]
    ingest = python + ["ingest", "--host", up.ip, "--port", str(up.port),
                       "--workers-bind", zmq.workers_bind, "--gateway", zmq.results,
                       # Without --frontend, ingest names the host each camera reached.
                       "--viewer-url", up.frontend, "--viewer-port", str(up.http_port),
                       "--track", up.track] + common
    gateway = python + ["gateway", "--host", up.ip, "--http-port", str(up.http_port),
                        "--results-bind", zmq.results_bind, "--model", up.model] + common
    if up.frontend and not os.environ.get("LIVE2D_POSE_ALLOWED_ORIGINS"):
        gateway += ["--allowed-origins", page_origin(up.frontend)]  # the external viewer reads /ws
    children = [Child("ingest", ingest), Child("gateway", gateway)]
    for index in range(up.workers):
        # Workers talk to ingest only: it checks their results and forwards them to the gateway.
        worker = python + ["landmarker", "--ingest", zmq.workers,
                           "--max-faces", str(up.max_faces), "--max-poses", str(up.max_poses),
                           "--max-hands", str(up.max_hands),
                           "--worker-name", f"{socket.gethostname()}-w{index + 1}"] + common
        children.append(Child(f"landmarker-{index + 1}", worker))
    return children + output_commands(up)


def output_commands(up: UpConfig) -> list[Child]:
    """The outputs up was asked for (--vmc HOST:PORT, --vts), subscribed to this gateway like a viewer."""
    from live2d_pose.outputs import REGISTRY

    python = [sys.executable, "-m", "live2d_pose"]
    host = "127.0.0.1" if up.ip in ("0.0.0.0", "::", "") else up.ip
    # the viewer token, if any, reaches them as LIVE2D_POSE_VIEWER_TOKEN like the gateway
    gateway = ["--gateway-url", f"ws://{host}:{up.http_port}/ws", "--log-level", up.log_level]
    children = []
    for kind in REGISTRY.values():
        flags = kind.from_up(up)
        if flags is not None:
            children.append(Child(kind.name, python + [kind.name] + flags + gateway))
    return children


def page_origin(url: str) -> str:
    """The Origin a browser sends for pages under ``url``: scheme://host[:port]."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def public_host(ip: str) -> str:
    if ip in ("127.0.0.1", "localhost", "::1"):
        return "localhost"
    if ip in ("0.0.0.0", "::", ""):
        return socket.gethostname()  # its addresses are many; cameras get the one they used
    return ip


def viewer_url(up: UpConfig) -> str:
    return up.frontend or f"http://{public_host(up.ip)}:{up.http_port}/"


class Supervisor:
    def __init__(self, children: list[Child]):
        self.children = children
        self.stopping = False
        self.exit_code = 0

    def stop(self, *_: object) -> None:
        self.stopping = True

    def run(self) -> None:
        for child in self.children:
            self._start(child)
        while not self.stopping:
            time.sleep(0.1)
            for child in self.children:
                self._watch(child)
        self._stop_all()

    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(child.argv)
        child.started = time.monotonic()
        log.debug("started %s (pid %d)", child.name, child.process.pid)

    def _watch(self, child: Child) -> None:
        now = time.monotonic()
        if child.process is None:
            if now >= child.next_start:
                self._start(child)
            return
        code = child.process.poll()
        if code is None:
            if now - child.started > 30:
                child.failures_in_a_row = 0
            return
        if code == EXIT_CONFIG_ERROR:
            log.error("%s exited with a configuration error (code %d; its log says which setting): "
                      "not restarting it, stopping everything", child.name, code)
            child.process = None
            self.exit_code = code
            self.stopping = True
            return
        child.failures_in_a_row += 1
        child.restarts += 1
        delay = min(0.5 * 2 ** (child.failures_in_a_row - 1), MAX_RESTART_DELAY)
        log.warning("%s exited with code %s; restarting in %.1f s (restart %d)", child.name, code,
                    delay, child.restarts)
        child.process = None
        child.next_start = now + delay

    def _stop_all(self) -> None:
        running = [c for c in self.children if c.process and c.process.poll() is None]
        for child in running:
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in running:
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s; killing it", child.name, STOP_TIMEOUT)
                child.process.kill()
                child.process.wait()
        log.info("stopped; restarts: %s",
                 ", ".join(f"{c.name}={c.restarts}" for c in self.children) or "none")


def main(args: argparse.Namespace) -> int:
    up = cfg.from_sources(UpConfig, args)
    setup_logging(up.log_level)
    if up.workers < 1:
        raise SystemExit("--workers must be at least 1")
    try:
        wire.parse_tracks(up.track)
    except ValueError as exc:
        raise SystemExit(f"--track: {exc}") from None
    private_dir = None if up.zmq_host else private_zmq_dir()
    try:
        return _supervise(up, private_dir)
    finally:
        if private_dir:
            shutil.rmtree(private_dir, ignore_errors=True)


def _supervise(up: UpConfig, private_dir: str | None) -> int:
    supervisor = Supervisor(service_commands(up, private_dir))
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    host = public_host(up.ip)
    log.info("live2d-pose up: %d landmarker(s)", up.workers)
    if private_dir:
        log.info("ZeroMQ links: ipc sockets in %s (this user only); --zmq-host for TCP", private_dir)
    else:
        log.info("ZeroMQ links: TCP on %s ports %d and %d; use CurveZMQ beyond this host "
                 "(docs/deployment.md)", up.zmq_host, up.workers_port, up.results_port)
    log.info("camera URL:  ws://%s:%d/image   (live2d-pose camera --server ws://%s:%d/image --source webcam)",
             host, up.port, host, up.port)
    log.info("viewer URL:  %s", viewer_url(up))
    if up.ip in ("127.0.0.1", "localhost", "::1"):
        log.info("listening on this machine only; use --ip 0.0.0.0 to let a JetBot or other hosts in")
    supervisor.run()
    return supervisor.exit_code
