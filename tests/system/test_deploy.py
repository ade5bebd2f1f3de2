"""The deployment files: offline lint (scripts/check_deploy.sh) and, without
Docker, docker-compose.yml itself run as local processes.

test_compose_services_stream_landmarks reads docker-compose.yml and starts
ingest, the gateway and two landmarker replicas with each service's exact
entrypoint + command and environment. Only what a container gives for free is
translated: the compose host names (ingest, gateway) become 127.0.0.1, the
fixed ZeroMQ ports and the published ports become free ports, "all
interfaces" (0.0.0.0) becomes the loopback, paths inside the images (/app)
become this checkout, and each replica gets its own /tmp/worker.health. It
waits for the compose health checks (the same commands, which read the
translated settings), streams real face frames and expects a viewer on the
gateway to receive 478 landmarks, then stops everything with SIGTERM.
tests/system/test_docker.py runs the same file with Docker.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from live2d_pose.testing import clients, frames
from live2d_pose.testing.pipeline import free_port

yaml = pytest.importorskip("yaml", reason="PyYAML is in the test extra: pip install -e '.[test]'")

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
BIN = Path(sys.executable).parent
# Every wait below is a multiple of this; raise it on slow CI machines.
TIMEOUT_SCALE = float(os.environ.get("TEST_TIMEOUT_SCALE", "1"))
STARTUP_TIMEOUT = 60 * TIMEOUT_SCALE
RESULT_TIMEOUT = 60 * TIMEOUT_SCALE
STOP_TIMEOUT = 5 * TIMEOUT_SCALE

# Fixed in-container ZeroMQ ports of docker-compose.yml; the test maps each to a free port.
ZMQ_PORTS = (5555, 5556)
# Paths inside the images and what they are in this checkout.
IMAGE_PATHS = {"/app/": f"{REPO}/"}
COMPOSE_HOSTS = ("ingest", "gateway")
LANDMARKER_REPLICAS = 2
LANDMARKS_BYTES = 478 * 3 * 4


# --- offline lint -----------------------------------------------------------


@pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="docker-compose binary missing (Debian: apt-get install docker-compose)",
)
def test_check_deploy_script():
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "check_deploy.sh")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120 * TIMEOUT_SCALE,
    )
    assert proc.returncode == 0, f"check_deploy.sh failed:\n{proc.stdout}\n{proc.stderr}"
    assert "deployment checks passed" in proc.stdout


def test_health_service_reads_the_services_settings(tmp_path):
    """`live2d-pose health --service` checks where the service's own settings say it is."""
    from live2d_pose import health

    assert health.service_target("ingest", {"LIVE2D_POSE_HOST": "0.0.0.0"}) == ("url", "http://127.0.0.1:8765/healthz")
    assert health.service_target("ingest", {"LIVE2D_POSE_HOST": "10.0.0.5", "LIVE2D_POSE_PORT": "9000"}) == (
        "url",
        "http://10.0.0.5:9000/healthz",
    )
    assert health.service_target("gateway", {"LIVE2D_POSE_HOST": "::", "LIVE2D_POSE_HTTP_PORT": "9001"}) == (
        "url",
        "http://[::1]:9001/healthz",
    )
    beat = tmp_path / "worker.health"
    env = {"LIVE2D_POSE_HEALTH_FILE": str(beat)}
    assert health.service_target("landmarker", env) == ("file", str(beat))
    with pytest.raises(SystemExit, match="LIVE2D_POSE_HEALTH_FILE"):
        health.service_target("landmarker", {})

    command = [str(BIN / "live2d-pose"), "health", "--service", "landmarker"]
    assert subprocess.run(command, env={**os.environ, **env}, capture_output=True).returncode == 1
    beat.touch()
    assert subprocess.run(command, env={**os.environ, **env}, capture_output=True).returncode == 0


# --- docker-compose.yml as local processes ----------------------------------


_INTERPOLATION = re.compile(r"\$\$|\$\{(?P<braced>\w+)(?:(?P<op>:?-)(?P<default>[^}]*))?\}|\$(?P<bare>\w+)")


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, $VAR and $$."""

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        value = variables.get(name)
        if match.group("op") == ":-" and not value:
            return match.group("default")
        if match.group("op") == "-" and value is None:
            return match.group("default")
        return value or ""

    return _INTERPOLATION.sub(substitute, text)


@dataclass
class Stack:
    """docker-compose.yml translated for this host."""

    compose: dict
    variables: dict[str, str]  # what the test "exports" before `docker compose up`
    zmq_ports: dict[int, int]
    tmp: Path
    services: list[Service] = field(default_factory=list)

    @classmethod
    def load(cls, tmp: Path) -> Stack:
        compose = yaml.safe_load(COMPOSE_FILE.read_text())
        variables = {"LIVE2D_POSE_PORT": str(free_port()), "LIVE2D_POSE_HTTP_PORT": str(free_port())}
        return cls(compose, variables, {port: free_port() for port in ZMQ_PORTS}, tmp)

    @property
    def camera_port(self) -> int:
        return int(self.variables["LIVE2D_POSE_PORT"])

    @property
    def http_port(self) -> int:
        return int(self.variables["LIVE2D_POSE_HTTP_PORT"])

    def translate(self, text: str, replica: str) -> str:
        text = interpolate(str(text), self.variables)

        def zmq(match: re.Match) -> str:
            host, port = match.group(1), int(match.group(2))
            assert host in (*COMPOSE_HOSTS, "*"), f"unexpected ZeroMQ host in compose: {match.group(0)}"
            assert port in self.zmq_ports, f"unexpected fixed ZeroMQ port in compose: {match.group(0)}"
            return f"tcp://127.0.0.1:{self.zmq_ports[port]}"

        if text == "0.0.0.0":  # all interfaces in a container; here the loopback is enough
            return "127.0.0.1"
        text = re.sub(r"tcp://([\w*.-]+):(\d+)", zmq, text)
        text = re.sub(r"\b(ws|http)://({})([:/])".format("|".join(COMPOSE_HOSTS)), r"\1://127.0.0.1\3", text)
        # /tmp is private to each container
        text = re.sub(r"(?<![\w/])/tmp/", f"{self.tmp / replica}/", text)
        for inside, here in IMAGE_PATHS.items():
            text = re.sub(r"(?<![\w/])" + re.escape(inside), here, text)
        return text

    def command(self, argv: list[str]) -> list[str]:
        exe = {"live2d-pose": str(BIN / "live2d-pose"), "python": sys.executable}
        return [exe.get(argv[0], argv[0]), *argv[1:]]

    def service(self, name: str, replica: str | None = None) -> Service:
        spec = self.compose["services"][name]
        replica = replica or name
        (self.tmp / replica).mkdir(exist_ok=True)
        entrypoint, command = spec.get("entrypoint", []), spec.get("command", [])
        assert isinstance(entrypoint, list) and isinstance(command, list), (
            f"{name}: use exec-form entrypoint/command lists so the process gets SIGTERM"
        )
        argv = self.command([self.translate(arg, replica) for arg in entrypoint + command])
        env = {key: value for key, value in os.environ.items() if not key.startswith("LIVE2D_POSE_")}
        # as the images' ENV: PATH starts with their venv, unbuffered logs
        env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", PYTHONUNBUFFERED="1")
        env.update({key: self.translate(value, replica) for key, value in (spec.get("environment") or {}).items()})
        health = None
        if "healthcheck" in spec and not spec["healthcheck"].get("disable"):
            test = spec["healthcheck"]["test"]
            assert test[0] == "CMD", f"{name}: healthcheck should be exec form ['CMD', ...]"
            health = self.command([self.translate(arg, replica) for arg in test[1:]])
        return Service(replica, argv, env, health, self.tmp / f"{replica}.log")


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    health: list[str] | None
    log_path: Path
    proc: subprocess.Popen | None = None
    _log: object = None

    def start(self) -> None:
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=self.log_path.parent, stdout=self._log, stderr=subprocess.STDOUT
        )

    def log(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return f"--- {self.name} ({' '.join(self.argv)}) ---\n" + "\n".join(text[-lines:])

    def healthy(self) -> bool:
        assert self.proc.poll() is None, f"{self.name} exited with {self.proc.returncode}\n{self.log()}"
        if self.health is None:
            return True
        return subprocess.run(self.health, env=self.env, capture_output=True, timeout=10).returncode == 0

    def wait_healthy(self, deadline: float) -> None:
        while not self.healthy():
            assert time.monotonic() < deadline, f"{self.name} not healthy: {' '.join(self.health)}\n{self.log()}"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._log:
            self._log.close()


@pytest.fixture
def stack(tmp_path):
    """ingest, gateway and two landmarker replicas, started as compose would and healthy."""
    stack = Stack.load(tmp_path)
    services = stack.services
    services += [stack.service("ingest"), stack.service("gateway")]
    services += [stack.service("landmarker", f"landmarker-{i}") for i in range(1, LANDMARKER_REPLICAS + 1)]
    try:
        # compose order: landmarker depends_on ingest and gateway being healthy
        deadline = time.monotonic() + STARTUP_TIMEOUT
        for service in services[:2]:
            service.start()
        for service in services[:2]:
            service.wait_healthy(deadline)
        for service in services[2:]:
            service.start()
        for service in services[2:]:
            service.wait_healthy(deadline)
        yield stack
    finally:
        for service in services:
            service.stop()
        for service in services:
            service.kill()


def test_compose_environment_is_the_cli_settings():
    """Every LIVE2D_POSE_* variable compose sets is a setting the service reads."""
    from live2d_pose import cli, config

    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    for name, command in cli.SERVICES.items():
        known = set(config.to_environment(command.settings_class()()))
        env = compose["services"][name]["environment"]
        unknown = {key for key in env if key.startswith("LIVE2D_POSE_")} - known
        assert not unknown, f"{name}: compose sets variables the CLI does not read: {sorted(unknown)}"
    landmarker = compose["services"]["landmarker"]
    assert "ports" not in landmarker and "container_name" not in landmarker  # --scale must work
    assert landmarker["deploy"]["replicas"] == LANDMARKER_REPLICAS
    published = [port for spec in compose["services"].values() for port in spec.get("ports", [])]
    assert sorted(published) == sorted(
        [
            "${LIVE2D_POSE_PORT:-8765}:${LIVE2D_POSE_PORT:-8765}",
            "${LIVE2D_POSE_HTTP_PORT:-8080}:${LIVE2D_POSE_HTTP_PORT:-8080}",
        ]
    )


async def _first_face(stack: Stack, frames: list[bytes]):
    async with clients.Viewer(f"ws://127.0.0.1:{stack.http_port}/ws") as viewer:
        async with clients.Camera(f"ws://127.0.0.1:{stack.camera_port}/image") as camera:
            sending = asyncio.create_task(camera.stream_frames(frames, fps=30, duration=RESULT_TIMEOUT))
            try:
                deadline = time.monotonic() + RESULT_TIMEOUT
                while time.monotonic() < deadline:
                    assert not sending.done() or sending.exception() is None, sending.exception()
                    faces = [r for r in viewer.results if r.stream == camera.stream and r.faces]
                    if faces:
                        return camera, faces[0]
                    await asyncio.sleep(0.05)
                raise AssertionError(
                    f"no face landmarks within {RESULT_TIMEOUT:.0f} s: "
                    f"{len(viewer.results)} results, controls {viewer.controls}, "
                    f"camera messages {camera.messages}"
                )
            finally:
                sending.cancel()


@pytest.mark.timeout(300)
def test_compose_services_stream_landmarks(stack):
    error = None
    try:
        camera, result = asyncio.run(_first_face(stack, frames.astronaut_frames(30)))
    except Exception as exc:
        error = exc
    if error is not None:  # with what the services logged
        logs = "\n".join(service.log() for service in stack.services)
        pytest.fail(f"no landmarks reached the viewer: {error!r}\n{logs}")

    # Compose leaves LIVE2D_POSE_VIEWER_URL empty: the camera hears the host it reached
    # and the gateway's port.
    assert camera.viewer.startswith(f"http://127.0.0.1:{stack.variables['LIVE2D_POSE_HTTP_PORT']}/")
    assert (result.width, result.height) == (640, 480)
    landmarks = result.landmarks
    assert landmarks.shape == (478, 3) and landmarks.dtype == np.float32
    assert np.isfinite(landmarks).all()
    assert ((landmarks[:, :2] > -0.5) & (landmarks[:, :2] < 1.5)).all()  # normalized image coordinates
    assert 0 < landmarks[:, 0].mean() < 1 and 0 < landmarks[:, 1].mean() < 1

    # SIGTERM reaches each process (exec form) and it shuts down promptly.
    for service in stack.services:
        assert service.proc.poll() is None, f"{service.name} died\n{service.log()}"
        service.stop()
    deadline = time.monotonic() + STOP_TIMEOUT
    for service in stack.services:
        try:
            code = service.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pytest.fail(f"{service.name} still running {STOP_TIMEOUT:.0f} s after SIGTERM\n{service.log()}")
        assert code == 0, f"{service.name} exited {code} after SIGTERM\n{service.log()}"


@pytest.mark.timeout(300)
def test_compose_smoke_test_service(stack):
    """The `test` profile's smoke-test service, run against the same local stack."""
    smoke = stack.service("smoke-test")
    assert smoke.health is None and "test" in stack.compose["services"]["smoke-test"]["profiles"]
    proc = subprocess.run(smoke.argv, env=smoke.env, capture_output=True, text=True, timeout=120 * TIMEOUT_SCALE)
    assert proc.returncode == 0, f"smoke-test failed:\n{proc.stdout}\n{proc.stderr}"
    assert "smoke test passed" in proc.stdout
