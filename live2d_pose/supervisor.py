"""``live2d-pose up``: ingest, N landmarkers and the gateway as supervised local processes.

Each service runs as its own ``python -m live2d_pose <service>`` process, the
same command a container runs, configured through the same LIVE2D_POSE_*
environment variables. A process that exits unexpectedly is restarted (with
a growing delay if it keeps failing); Ctrl-C, SIGTERM or SIGHUP stops them
all. A process that exits with a configuration error (code 2: a bad flag, an
unreadable key or model, a port it cannot listen on) would fail the same way
every time, so `up` stops everything, says why and exits with that code
instead (uvicorn's rule).

Start-up is in order: a port another program holds is refused in one line
before anything starts; the camera and viewer URLs are printed once ingest
and the gateway answer, and only then do the outputs (--vmc, --vts) start,
so they find the gateway at their first try.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from collections.abc import Callable
from urllib.parse import urlsplit

from live2d_pose import config as cfg
from live2d_pose import service, trackers
from live2d_pose.config import UpConfig
from live2d_pose.logs import setup_logging

log = logging.getLogger("live2d_pose.up")

MAX_IPC_PATH = 100  # a Unix socket path must fit sockaddr_un (108 bytes on Linux)
STOP_TIMEOUT = 5.0
MAX_RESTART_DELAY = 10.0
WILDCARDS = ("0.0.0.0", "::", "*", "")


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
    local = "127.0.0.1" if up.zmq_host in WILDCARDS else up.zmq_host
    bind = "*" if up.zmq_host in WILDCARDS else up.zmq_host
    return ZmqEndpoints(
        f"tcp://{bind}:{up.workers_port}",
        f"tcp://{local}:{up.workers_port}",
        f"tcp://{bind}:{up.results_port}",
        f"tcp://{local}:{up.results_port}",
    )


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
    """The command lines of the services `up` runs (``private_dir``: see :func:`zmq_endpoints`);
    the outputs are :func:`output_commands`."""
    python = [sys.executable, "-m", "live2d_pose"]
    zmq = zmq_endpoints(up, private_dir)
    common = ["--log-level", up.log_level]
    ingest = (
        python
        + [
            "ingest",
            "--host",
            up.ip,
            "--port",
            str(up.port),
            "--workers-bind",
            zmq.workers_bind,
            "--gateway",
            zmq.results,
            # Without --frontend, ingest names the host each camera reached.
            "--viewer-url",
            up.frontend,
            "--viewer-port",
            str(up.http_port),
            "--track",
            up.track,
        ]
        + common
    )
    gateway = (
        python
        + [
            "gateway",
            "--host",
            up.ip,
            "--http-port",
            str(up.http_port),
            "--results-bind",
            zmq.results_bind,
            "--model",
            up.model,
        ]
        + common
    )
    if up.frontend and not os.environ.get("LIVE2D_POSE_ALLOWED_ORIGINS"):
        gateway += ["--allowed-origins", page_origin(up.frontend)]  # the external viewer reads /ws
    if up.record:  # the gateway records every stream (docs/recording.md)
        gateway += ["--record-dir", os.path.abspath(up.record)]
    children = [Child("ingest", ingest), Child("gateway", gateway)]
    for index in range(up.workers):
        # Workers talk to ingest only: it checks their results and forwards them to the gateway.
        worker = (
            python
            + [
                "landmarker",
                "--ingest",
                zmq.workers,
                *_limit_flags(up),
                "--worker-name",
                f"{socket.gethostname()}-w{index + 1}",
            ]
            + common
        )
        children.append(Child(f"landmarker-{index + 1}", worker))
    return children


def _limit_flags(up: UpConfig) -> list[str]:
    """--max-faces N ... for a landmarker: each tracker's limit (the tracker table's settings)."""
    return [
        arg
        for t in trackers.TRACKERS.values()
        for arg in ("--" + t.limit_setting.replace("_", "-"), str(getattr(up, t.limit_setting)))
    ]


def output_commands(up: UpConfig) -> list[Child]:
    """The outputs up was asked for (--vmc HOST:PORT, --vts), subscribed to this gateway like a viewer."""
    from live2d_pose.outputs import REGISTRY

    python = [sys.executable, "-m", "live2d_pose"]
    # the viewer token, if any, reaches them as LIVE2D_POSE_VIEWER_TOKEN like the gateway
    gateway = ["--gateway-url", f"ws://{local_host(up)}:{up.http_port}/ws", "--log-level", up.log_level]
    children = []
    for kind in REGISTRY.values():
        flags = kind.from_up(up)
        if flags is not None:
            children.append(Child(kind.name, python + [kind.name] + flags + gateway))
    return children


def local_host(up: UpConfig) -> str:
    """The address this host reaches `up`'s ports on (a wildcard listens on loopback too)."""
    host = "127.0.0.1" if up.ip in WILDCARDS else up.ip
    return f"[{host}]" if ":" in host else host


def check_ports_free(up: UpConfig) -> None:
    """Refuse, in one line, a port that another program (another `up`, say) holds, before
    anything starts: the URLs `up` prints must never lead to someone else's server.
    Each port is bound and held until all are checked, so one given twice is caught too."""
    wanted = [(up.ip, up.port, "--port", "--ip"), (up.ip, up.http_port, "--http-port", "--ip")]
    if up.zmq_host:
        host = "" if up.zmq_host in WILDCARDS else up.zmq_host
        wanted += [
            (host, up.workers_port, "--workers-port", "--zmq-host"),
            (host, up.results_port, "--results-port", "--zmq-host"),
        ]
    with contextlib.ExitStack() as held:
        for host, port, port_flag, host_flag in wanted:
            try:
                for sock in _listening_sockets(host, port):
                    held.enter_context(sock)
            except OSError as exc:
                raise SystemExit(service.listen_error(exc, f"{host or '*'}:{port}", port_flag, host_flag)) from None


def _listening_sockets(host: str, port: int) -> list[socket.socket]:
    """Listen on host:port as the services will (every address it resolves to, SO_REUSEADDR)."""
    sockets = []
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen()
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def answers(url: str) -> bool:
    """True when ``url`` answers 200 (proxies bypassed: it is on this host)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def page_origin(url: str) -> str:
    """The Origin a browser sends for pages under ``url``: scheme://host[:port]."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def public_host(ip: str) -> str:
    if ip in ("127.0.0.1", "localhost", "::1"):
        return "localhost"
    if ip in WILDCARDS:
        return socket.gethostname()  # its addresses are many; cameras get the one they used
    return ip


def viewer_url(up: UpConfig) -> str:
    return up.frontend or f"http://{public_host(up.ip)}:{up.http_port}/"


class Supervisor:
    """Runs ``children`` and restarts those that die; once ``ready()`` is true (the services
    answer), calls ``on_ready`` and starts ``later`` (clients of those services)."""

    def __init__(
        self,
        children: list[Child],
        later: list[Child] | None = None,
        ready: Callable[[], bool] = lambda: True,
        on_ready: Callable[[], None] = lambda: None,
    ):
        self.children = children
        self.later = later or []
        self.ready = ready
        self.on_ready = on_ready
        self.stopping = False
        self.exit_code = 0

    def stop(self, *_: object) -> None:
        self.stopping = True

    def run(self) -> None:
        try:
            for child in self.children:
                self._start(child)
            waiting = True
            while not self.stopping:
                time.sleep(0.1)
                if self.stopping:  # a signal during the sleep: restart nothing, say nothing
                    break
                for child in self.children:
                    self._watch(child)
                if waiting and not self.stopping and self.ready():
                    waiting = False
                    self.on_ready()
                    for child in self.later:
                        self.children.append(child)
                        self._start(child)
        finally:  # the children have sessions of their own: nothing else would stop them
            self._stop_all()

    def _start(self, child: Child) -> None:
        # A session of its own: Ctrl-C in the terminal reaches `up` alone, which stops each
        # child with SIGTERM (a child still importing would print a KeyboardInterrupt traceback).
        child.process = subprocess.Popen(child.argv, start_new_session=True)
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
        if code == service.EXIT_SETTING_ERROR:  # argparse's too: the same at every restart
            log.error(
                "%s exited with a configuration error (code %d; its log says which setting): "
                "not restarting it, stopping everything",
                child.name,
                code,
            )
            child.process = None
            self.exit_code = code
            self.stopping = True
            return
        child.failures_in_a_row += 1
        child.restarts += 1
        delay = min(0.5 * 2 ** (child.failures_in_a_row - 1), MAX_RESTART_DELAY)
        log.warning(
            "%s exited with code %s; restarting in %.1f s (restart %d)", child.name, code, delay, child.restarts
        )
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
        log.info("stopped; restarts: %s", ", ".join(f"{c.name}={c.restarts}" for c in self.children) or "none")


def main(args: argparse.Namespace) -> int:
    up = cfg.from_sources(UpConfig, args)
    setup_logging(up.log_level)
    if up.workers < 1:
        raise SystemExit("--workers must be at least 1")
    try:
        trackers.parse_tracks(up.track)
    except ValueError as exc:
        raise SystemExit(f"--track: {exc}") from None
    private_dir = None if up.zmq_host else private_zmq_dir()
    try:
        return _supervise(up, private_dir)
    finally:
        if private_dir:
            shutil.rmtree(private_dir, ignore_errors=True)


def _supervise(up: UpConfig, private_dir: str | None) -> int:
    check_ports_free(up)
    local = f"http://{local_host(up)}"
    supervisor = Supervisor(
        service_commands(up, private_dir),
        output_commands(up),
        ready=lambda: answers(f"{local}:{up.port}/healthz") and answers(f"{local}:{up.http_port}/healthz"),
        on_ready=lambda: _announce(up),
    )
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, supervisor.stop)
    log.info("live2d-pose up: starting ingest, the gateway and %d landmarker(s)", up.workers)
    if private_dir:
        log.info("ZeroMQ links: ipc sockets in %s (this user only); --zmq-host for TCP", private_dir)
    else:
        log.info(
            "ZeroMQ links: TCP on %s ports %d and %d; use CurveZMQ beyond this host (docs/deployment.md)",
            up.zmq_host,
            up.workers_port,
            up.results_port,
        )
    supervisor.run()
    return supervisor.exit_code


def _announce(up: UpConfig) -> None:
    """The URLs, once ingest and the gateway answer on them."""
    host = public_host(up.ip)
    log.info(
        "camera URL:  ws://%s:%d/image   (live2d-pose camera --server ws://%s:%d/image --source webcam)",
        host,
        up.port,
        host,
        up.port,
    )
    log.info("viewer URL:  %s", viewer_url(up))
    if up.ip in ("127.0.0.1", "localhost", "::1"):
        log.info("listening on this machine only; use --ip 0.0.0.0 to let a JetBot or other hosts in")
