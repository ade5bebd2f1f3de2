"""`live2d-pose up --vmc HOST:PORT --vts`: the outputs start with the pipeline and stop with it.

A real `up` (ingest, a landmarker, the gateway, vmc and vts as supervised
processes), a real camera client with real face frames, a real OSC server
for VMC, and the VTube Studio STAND-IN (tests/vts_standin.py: VTube Studio
itself cannot run here) for the plugin.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import run
from tests.osc_receiver import OscReceiver
from tests.vts_standin import VtsStandIn
from live2d_pose.testing.clients import Camera
from live2d_pose.testing.frames import astronaut_frames
from live2d_pose.testing.pipeline import free_port


def test_up_builds_one_child_per_output_asked_for():
    from live2d_pose import supervisor
    from live2d_pose.config import UpConfig

    assert supervisor.output_commands(UpConfig()) == []
    children = supervisor.output_commands(UpConfig(vmc="192.168.1.5:39539", vts=True, ip="0.0.0.0", http_port=9090))
    argv = {c.name: c.argv[3:] for c in children}
    assert argv["vmc"][:3] == ["vmc", "--to", "192.168.1.5:39539"]
    assert argv["vts"][0] == "vts" and "ws://127.0.0.1:9090/ws" in argv["vts"]
    with pytest.raises(SystemExit, match="--vmc must be HOST:PORT"):
        supervisor.output_commands(UpConfig(vmc="39539"))


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def test_up_starts_vmc_and_vts_and_stops_them_cleanly(tmp_path):
    ports = {name: free_port() for name in ("port", "http-port", "workers-port", "results-port")}
    token_file = tmp_path / "vts-token"
    log_path = tmp_path / "up.log"

    async def body(receiver: OscReceiver):
        async with VtsStandIn() as standin:
            env = {
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                "LIVE2D_POSE_VTS_URL": standin.url,
                "LIVE2D_POSE_TOKEN_FILE": str(token_file),
            }
            argv = [
                sys.executable,
                "-m",
                "live2d_pose",
                "up",
                "--workers",
                "1",
                "--vmc",
                f"127.0.0.1:{receiver.port}",
                "--vts",
            ]
            for name, port in ports.items():
                argv += [f"--{name}", str(port)]
            with open(log_path, "wb") as log:
                up = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + 60
                while not (
                    await asyncio.to_thread(_healthy, ports["http-port"])
                    and await asyncio.to_thread(_healthy, ports["port"])
                ):  # gateway and ingest
                    assert up.poll() is None and time.monotonic() < deadline, log_path.read_text()
                    await asyncio.sleep(0.2)
                async with Camera(f"ws://127.0.0.1:{ports['port']}/image?stream=up") as camera:
                    start = time.monotonic()
                    while (
                        not standin.injections or not receiver.received("/VMC/Ext/Bone/Pos")
                    ) and time.monotonic() - start < 60:
                        await camera.stream_frames(astronaut_frames(15), fps=15)
                up.send_signal(signal.SIGINT)  # Ctrl-C
                code = await asyncio.to_thread(up.wait, 20)
            finally:
                if up.poll() is None:
                    up.kill()
            return standin, code

    with OscReceiver() as receiver:
        standin, code = run(body(receiver))
        bones = {m.args[0] for m in receiver.received("/VMC/Ext/Bone/Pos")}
    log = log_path.read_text()
    assert code == 0, log
    assert standin.injections, log
    assert {"Neck", "Head"} <= bones, log
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    for line in (
        "vmc started: stream (latest)",
        "vts started: stream (latest)",
        "vmc stopped: motions=",
        "vts stopped: motions=",
        "injected=",
    ):
        assert line in log, (line, log)
    assert "exited with code" not in log, log  # no child died and was restarted
