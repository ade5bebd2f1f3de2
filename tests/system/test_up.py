"""`live2d-pose up` as a new user meets it: a port another program holds, Ctrl-C while
it starts, and an output (--vmc) that must find the gateway at its first try.

Each test runs the real `up` (or a real service alone) as a process in a session of
its own, as a terminal runs it, and sends Ctrl-C to that whole session the way the
terminal does.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import contextlib
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from live2d_pose.testing.clients import TIMEOUT
from live2d_pose.testing.pipeline import free_port

QUIET_STOP = ("Traceback", "KeyboardInterrupt", "restarting in", "exited with code")


@contextmanager
def held_port():
    """A port some other program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


class Up:
    """`live2d-pose ARGS` in a session of its own (as in a terminal), its output in a file."""

    def __init__(self, tmp_path: Path, *args: str):
        self.log_path = tmp_path / "up.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "live2d_pose", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 2 * TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            assert self.process.poll() is None, f"exited {self.process.returncode} before {text!r}:\n{self.log()}"
            assert time.monotonic() < deadline, f"no {text!r} in {timeout} s:\n{self.log()}"
            time.sleep(0.1)

    def ctrl_c(self) -> int:
        """SIGINT to the whole session, as a terminal's Ctrl-C; the exit code. Fails unless
        every process `up` started is gone too."""
        family = psutil.Process(self.process.pid).children(recursive=True)
        os.killpg(self.process.pid, signal.SIGINT)
        code = self.wait()
        _, alive = psutil.wait_procs(family, timeout=TIMEOUT)
        assert not alive, alive
        return code

    def wait(self, timeout: float = 2 * TIMEOUT) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"still running after {timeout} s:\n{self.log()}") from None

    def kill(self) -> None:
        """After a failed test: `up` and every process it started (they have sessions of their own)."""
        try:
            main = psutil.Process(self.process.pid)
            family = [main, *main.children(recursive=True)]
        except psutil.NoSuchProcess:
            family = []
        for process in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        self.process.wait()


@pytest.fixture
def up_ports():
    return {name: free_port() for name in ("port", "http-port")}


def up_args(ports: dict[str, int], *extra: str) -> list[str]:
    args = ["up", "--workers", "1"]
    for name, port in ports.items():
        args += [f"--{name}", str(port)]
    return args + list(extra)


# ---------------------------------------------------------------- a port in use


@pytest.mark.parametrize("which, flag", [("http-port", "--http-port"), ("port", "--port")])
def test_up_refuses_a_port_in_use_in_one_line(tmp_path, up_ports, which, flag):
    with held_port() as port:
        up = Up(tmp_path, *up_args({**up_ports, which: port}))
        code = up.wait(TIMEOUT)
    lines = up.log().strip().splitlines()
    assert code != 0 and len(lines) == 1, up.log()
    assert f"127.0.0.1:{port}" in lines[0] and "in use" in lines[0] and flag in lines[0], lines


@pytest.mark.parametrize(
    "role, setting, flag",
    [
        ("gateway", "LIVE2D_POSE_HTTP_PORT", "--http-port"),
        ("ingest", "LIVE2D_POSE_WORKERS_BIND", "--workers-bind"),  # its ZeroMQ endpoint
    ],
)
def test_a_service_alone_refuses_a_port_in_use(tmp_path, role, setting, flag):
    with held_port() as port:
        value = str(port) if setting.endswith("PORT") else f"tcp://127.0.0.1:{port}"
        env = {
            **os.environ,
            setting: value,
            "LIVE2D_POSE_PORT": str(free_port()),
            "LIVE2D_POSE_RESULTS_BIND": f"tcp://127.0.0.1:{free_port()}",
        }
        proc = subprocess.run(
            [sys.executable, "-m", "live2d_pose", role], env=env, capture_output=True, text=True, timeout=TIMEOUT
        )
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 2, output  # a setting error: `up` does not restart it
    assert "Traceback" not in output and len(output.splitlines()) == 1, output
    assert f":{port}" in output and "in use" in output and flag in output, output


# ---------------------------------------------------------------- Ctrl-C while starting


@pytest.mark.parametrize("delay", [0.5, 2.0])  # children importing; landmarkers loading MediaPipe
def test_ctrl_c_during_start_up_stops_quietly(tmp_path, up_ports, delay):
    up = Up(tmp_path, *up_args(up_ports))
    time.sleep(delay)
    code = up.ctrl_c()
    log = up.log()
    # 130: stopped before `up` set its handlers; -SIGINT: before Python itself did (a loaded machine)
    assert code in (0, 130, -signal.SIGINT), log
    assert not any(word in log for word in QUIET_STOP), log


# ---------------------------------------------------------------- outputs wait for the gateway


def test_up_starts_vmc_once_the_gateway_answers(tmp_path, up_ports):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:  # a VMC receiver's port
        receiver.bind(("127.0.0.1", 0))
        up = Up(tmp_path, *up_args(up_ports, "--vmc", f"127.0.0.1:{receiver.getsockname()[1]}"))
        try:
            up.wait_for("connected to the gateway")
        finally:
            code = up.ctrl_c()
    log = up.log()
    assert "cannot reach the gateway" not in log, log  # no false alarm at start
    assert log.index("viewer URL") < log.index("vmc started"), log
    assert code == 0 and not any(word in log for word in QUIET_STOP), log


def test_up_with_a_model_that_is_not_there_stops_and_says_so(tmp_path, up_ports):
    up = Up(tmp_path, *up_args(up_ports, "--model", "./no-such-avatar.vrm"))
    code = up.wait(TIMEOUT)
    log = up.log()
    assert code == 2, log
    assert "--model ./no-such-avatar.vrm: no such file or folder" in log
    assert "viewer URL" not in log and "restarting in" not in log and "Traceback" not in log, log
