"""Start the real services as processes on free ports, for tests and the benchmark."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        if not self.alive():
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"{self.name} ignored signal {sig} for {timeout} s") from None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Pipeline:
    """Ingest, N landmarkers and the gateway, each a real `live2d-pose` process."""

    log_dir: Path
    workers: int = 2
    env: dict[str, str] = field(default_factory=dict)  # extra LIVE2D_POSE_* settings
    camera_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    workers_port: int = field(default_factory=free_port)
    results_port: int = field(default_factory=free_port)
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def camera_url(self) -> str:
        return f"ws://127.0.0.1:{self.camera_port}/image"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def viewer_url(self, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.http_port}/ws" + (f"?{query}" if query else "")

    def _service(self, name: str, role: str, settings: dict[str, str]) -> Service:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **settings, **self.env}
        argv = [sys.executable, "-m", "live2d_pose", role]
        return Service(name, argv, env, self.log_dir / f"{name}.log")

    def start(self) -> Pipeline:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.services["gateway"] = self._service(
            "gateway",
            "gateway",
            {
                "LIVE2D_POSE_HOST": "127.0.0.1",
                "LIVE2D_POSE_HTTP_PORT": str(self.http_port),
                "LIVE2D_POSE_RESULTS_BIND": f"tcp://127.0.0.1:{self.results_port}",
            },
        )
        self.services["ingest"] = self._service(
            "ingest",
            "ingest",
            {
                "LIVE2D_POSE_HOST": "127.0.0.1",
                "LIVE2D_POSE_PORT": str(self.camera_port),
                "LIVE2D_POSE_WORKERS_BIND": f"tcp://127.0.0.1:{self.workers_port}",
                "LIVE2D_POSE_GATEWAY": f"tcp://127.0.0.1:{self.results_port}",
                "LIVE2D_POSE_VIEWER_URL": f"{self.http_url}/",
            },
        )
        for _index in range(self.workers):
            self.add_worker(start=False)
        for service in self.services.values():
            service.start()
        self.wait_healthy()
        return self

    def add_worker(self, start: bool = True, **env: str) -> Service:
        """Another landmarker (``w<N>``); ``env``: its own LIVE2D_POSE_* settings (they win)."""
        index = sum(1 for name in self.services if name.startswith("landmarker")) + 1
        service = self._service(
            f"landmarker-{index}",
            "landmarker",
            {"LIVE2D_POSE_INGEST": f"tcp://127.0.0.1:{self.workers_port}", "LIVE2D_POSE_WORKER_NAME": f"w{index}"},
        )
        service.env.update(env)
        self.services[service.name] = service
        if start:
            service.start()
        return service

    @property
    def landmarkers(self) -> list[Service]:
        return [s for name, s in self.services.items() if name.startswith("landmarker")]

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Until the gateway's and ingest's HTTP ports answer and every worker has joined ingest."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for service in self.services.values():
                if not service.alive():
                    raise AssertionError(f"{service.name} exited:\n{service.log()[-3000:]}")
            if (
                _get(f"{self.http_url}/healthz")
                and _get(f"http://127.0.0.1:{self.camera_port}/healthz")
                and self.joined_workers() >= sum(s.alive() for s in self.landmarkers)
            ):
                return
            time.sleep(0.1)
        raise AssertionError("pipeline did not become healthy:\n" + self.logs())

    def ingest_stats(self) -> dict:
        import json

        body = _get(f"http://127.0.0.1:{self.camera_port}/stats")
        return json.loads(body) if body else {}

    def joined_workers(self) -> int:
        return len(self.ingest_stats().get("workers", []))

    def workers_rss_mb(self) -> float:
        """The landmarkers' resident memory together (not their decode helpers')."""
        import psutil

        return sum(psutil.Process(s.process.pid).memory_info().rss for s in self.landmarkers if s.alive()) / 2**20

    def logs(self) -> str:
        return "\n".join(f"--- {s.name}\n{s.log()[-4000:]}" for s in self.services.values())

    def stop(self) -> dict[str, int | None]:
        """SIGTERM everything; returns each exit code."""
        return {name: service.stop() for name, service in self.services.items()}

    def stop_cleanly(self) -> None:
        """Stop, and fail (with the logs) unless every service exited 0: a fixture's teardown."""
        codes = self.stop()
        assert all(code == 0 for code in codes.values()), f"unclean exit {codes}\n{self.logs()}"


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None
