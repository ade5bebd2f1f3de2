"""Takes from a live gateway: `live2d-pose record`, the gateway's own recorders, the page's HTTP takes.

The gateway runs as a real process; a Replayer pushes real MediaPipe results
of gesture_video.mp4 into it the way ingest does (web/test/fixtures/
gesture.msgpack, one message per tracker), so no landmarker is needed. The
files are read back with the project's reader here (the real readers check
the writers in tests/browser/test_recording_readers.py, and a take of the live
pipeline in tests/browser/test_recording_pipeline.py). A full disk is a real one: a
tmpfs of a few KB (skipped where this user cannot mount one).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pygltflib as gl
import pytest

from live2d_pose.recording import read_motion
from live2d_pose.recording.motion import angle_degrees
from live2d_pose.testing import record
from live2d_pose.testing.clients import TIMEOUT, Viewer
from live2d_pose.testing.pipeline import Pipeline
from live2d_pose.testing.replay import Replayer
from tests.conftest import run

GESTURE = "web/test/fixtures/gesture.msgpack"
VIEWER_TOKEN = "viewer-secret"
FLOAT32_DEGREES = 0.01


@pytest.fixture(scope="module")
def recording():
    return record.load(GESTURE)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, recording):
    """A gateway recording every stream to ``gateway.takes`` (and a viewer token), fed a stream ``live``."""
    folder = tmp_path_factory.mktemp("takes")
    pipe = Pipeline(
        tmp_path_factory.mktemp("gateway"),
        workers=0,
        env={
            "LIVE2D_POSE_RECORD_DIR": str(folder),
            "LIVE2D_POSE_VIEWER_TOKEN": VIEWER_TOKEN,
            "LIVE2D_POSE_MAX_TAKES": "1",
        },
    ).start()
    pipe.takes = folder
    with Replayer(
        f"tcp://127.0.0.1:{pipe.results_port}", recording, stream="live", rate=25, per_tracker=True
    ) as replay:
        replay.play(range(len(recording["results"])))
        pipe.replay = replay
        yield pipe
    pipe.stop_cleanly()


def live2d_pose(*args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "live2d_pose", *args], capture_output=True, text=True, timeout=timeout)


def post(url: str, origin: str | None = None, method: str = "POST") -> tuple[int, str]:
    request = urllib.request.Request(url, method=method, headers={"Origin": origin} if origin else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metric(pipe: Pipeline, name: str) -> float:
    with urllib.request.urlopen(f"{pipe.http_url}/metrics", timeout=TIMEOUT) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


@contextlib.contextmanager
def small_disk(path: Path, kilobytes: int):
    """A real file system of ``kilobytes`` (tmpfs): writing past it fails with ENOSPC."""
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (root is needed): no full disk to record on")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def grow(path: Path, kilobytes: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={kilobytes}k", str(path)], check=True)


# ---------------------------------------------------------------- live2d-pose record


def test_record_writes_both_files_of_the_unmirrored_motion(gateway, tmp_path):
    async def watch():
        async with Viewer(
            gateway.viewer_url(f"stream=live&mirror=0&motion=1&landmarks=0&token={VIEWER_TOKEN}")
        ) as viewer:
            done = await asyncio.to_thread(
                live2d_pose,
                "record",
                "--gateway-url",
                gateway.viewer_url(),
                "--stream",
                "live",
                "--viewer-token",
                VIEWER_TOKEN,
                "--out",
                str(tmp_path / "take.vrma"),
                "--out",
                str(tmp_path / "take.bvh"),
                "--duration",
                "3",
            )
            return done, list(viewer.motions)

    done, seen = run(watch())
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stderr and "take.vrma" in done.stderr and "frames at 30 fps" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.bvh", "take.vrma"]  # no journal left
    take = read_motion(tmp_path / "take.vrma")
    assert 2.9 < take.duration_ms / 1000 < 3.6
    assert "rightUpperArm" in take.bones and "head" in take.bones
    # the file's frames are the motion a viewer of the subject's own sides saw (resampled, float32)
    start = gl.GLTF2.load_binary(str(tmp_path / "take.vrma")).asset.extras["startTimeMs"]  # its first state's t
    by_time = {m.t: m for m in seen}
    assert start in by_time, "the take starts at a state the viewer got"
    first = by_time[start]
    for bone, q in first.bones.items():
        assert angle_degrees(np.array([q]), take.bones[bone][:1])[0] < FLOAT32_DEGREES, bone
    assert all(not m.mirror for m in seen)
    assert (tmp_path / "take.bvh").read_text().startswith("HIERARCHY")


def test_record_says_which_streams_are_live_when_the_one_named_is_not(gateway, tmp_path):
    done = live2d_pose(
        "record",
        "--gateway-url",
        gateway.viewer_url(),
        "--viewer-token",
        VIEWER_TOKEN,
        "--stream",
        "nope",
        "--out",
        str(tmp_path / "take.vrma"),
    )
    assert done.returncode == 2
    assert "the gateway has no stream 'nope'; live now: live" in done.stderr
    assert not list(tmp_path.iterdir()), "nothing recorded, nothing left behind"


def test_record_refuses_a_folder_it_cannot_write_and_a_wrong_token(gateway, tmp_path):
    for out, why in (
        (tmp_path / "no-such-folder" / "take.vrma", "does not exist"),
        (Path("/proc/take.vrma"), "cannot write in /proc"),
        (tmp_path / "take.mp4", "unknown format '.mp4'"),
    ):
        done = live2d_pose("record", "--gateway-url", gateway.viewer_url(), "--out", str(out))
        assert done.returncode == 2 and why in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    done = live2d_pose(
        "record",
        "--gateway-url",
        gateway.viewer_url(),
        "--viewer-token",
        "wrong",
        "--stream",
        "live",
        "--out",
        str(tmp_path / "take.vrma"),
    )
    assert done.returncode == 2 and "refused us: missing or wrong viewer token" in done.stderr, done.stderr


def test_record_on_a_full_disk_stops_and_keeps_the_take_up_to_its_last_second(gateway, tmp_path):
    with small_disk(tmp_path / "disk", 128) as disk:  # its first second fits, not its second or third
        done = live2d_pose(
            "record",
            "--gateway-url",
            gateway.viewer_url(),
            "--viewer-token",
            VIEWER_TOKEN,
            "--stream",
            "live",
            "--out",
            str(disk / "take.vrma"),
            "--duration",
            "20",
        )
        assert done.returncode == 1, done.stderr
        assert "No space left on device" in done.stderr and "live2d-pose record --recover" in done.stderr
        assert (disk / "take.journal").exists() and not (disk / "take.vrma").exists()
        grow(disk, 4096)  # room again
        recovered = live2d_pose("record", "--recover", str(disk))
        assert recovered.returncode == 0, recovered.stderr
        take = read_motion(disk / "take.vrma")
        assert take.duration_ms >= 900  # the seconds the journal had saved
        assert not (disk / "take.journal").exists()


# ---------------------------------------------------------------- the gateway's own takes


def test_the_gateway_records_every_stream_to_its_folder_one_take_per_session(gateway, recording):
    with Replayer(
        f"tcp://127.0.0.1:{gateway.results_port}", recording, stream="second", rate=25, per_tracker=True
    ) as replay:
        replay.play(range(60))
        time.sleep(2.5)
    # the stream ended: its avatar eases to rest, then the take's files are written
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and not list(gateway.takes.glob("second-*.bvh")):
        time.sleep(0.2)
    vrma, bvh = sorted(gateway.takes.glob("second-*.vrma")), sorted(gateway.takes.glob("second-*.bvh"))
    assert len(vrma) == len(bvh) == 1, sorted(p.name for p in gateway.takes.iterdir())
    take = read_motion(vrma[0])
    assert 2.0 < take.duration_ms / 1000 < 6.0  # the stream, then its easing to rest
    assert not list(gateway.takes.glob("second-*.journal"))
    assert metric(gateway, "live2d_pose_gateway_takes_finished_total") >= 1
    assert list(gateway.takes.glob("live-*.journal")), "the other stream is still being recorded"


def test_a_take_the_gateway_was_killed_during_is_recovered_when_it_starts_again(tmp_path, recording):
    folder = tmp_path / "takes"
    folder.mkdir()
    pipe = Pipeline(tmp_path / "logs", workers=0, env={"LIVE2D_POSE_RECORD_DIR": str(folder)}).start()
    try:
        with Replayer(
            f"tcp://127.0.0.1:{pipe.results_port}", recording, stream="cam", rate=25, per_tracker=True
        ) as replay:
            replay.play(range(len(recording["results"])))
            time.sleep(3.5)
            pipe.services["gateway"].process.send_signal(signal.SIGKILL)
            pipe.services["gateway"].process.wait()
        journals = list(folder.glob("cam-*.journal"))
        assert len(journals) == 1 and not list(folder.glob("*.vrma"))
        pipe.services["gateway"].start()
        pipe.wait_healthy()
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and (journals[0].exists() or not list(folder.glob("cam-*.bvh"))):
            time.sleep(0.2)
        take = read_motion(next(folder.glob("cam-*.vrma")))
        assert take.duration_ms >= 1900, "every whole second before the kill"
        assert "recovering 1 take(s) a crash cut short" in pipe.services["gateway"].log()
    finally:
        pipe.stop()


def test_a_full_disk_stops_the_gateways_take_and_nothing_else(tmp_path, recording):
    with small_disk(tmp_path / "disk", 40) as disk:
        pipe = Pipeline(tmp_path / "logs", workers=0, env={"LIVE2D_POSE_RECORD_DIR": str(disk)}).start()
        try:

            async def watch():
                async with Viewer(pipe.viewer_url("stream=cam&motion=1&landmarks=0")) as viewer:
                    with Replayer(
                        f"tcp://127.0.0.1:{pipe.results_port}", recording, stream="cam", rate=25, per_tracker=True
                    ) as replay:
                        replay.play(range(len(recording["results"])))
                        deadline = time.monotonic() + TIMEOUT
                        while (
                            time.monotonic() < deadline
                            and "recording stream cam stopped" not in pipe.services["gateway"].log()
                        ):
                            await asyncio.sleep(0.2)
                        before = len(viewer.motions)
                        await asyncio.sleep(1.0)
                        return len(viewer.motions) - before

            still_flowing = run(watch())
            log = pipe.services["gateway"].log()
            assert "recording stream cam stopped" in log and "No space left on device" in log, log[-3000:]
            assert still_flowing > 20, "the viewer's motion went on"
            assert metric(pipe, "live2d_pose_gateway_takes_errors_total") >= 1
            assert pipe.services["gateway"].alive()
            assert log.count("recording stream cam stopped") == 1, "no retry loop on a full disk"
        finally:
            pipe.stop_cleanly()


# ---------------------------------------------------------------- the page's takes over HTTP


def test_a_take_over_http_is_recorded_stopped_and_downloaded(gateway):
    url = f"{gateway.http_url}/record?stream=live&token={VIEWER_TOKEN}"
    status, body = post(url, origin=gateway.http_url)  # the gateway's own page
    assert status == 201, body
    take = json.loads(body)
    assert take["stream"] == "live" and len(take["take"]) == 32 and take["formats"] == ["vrma", "bvh"]
    assert post(url)[0] == 429, "--max-takes 1"
    time.sleep(2.0)
    status, body = post(f"{gateway.http_url}/record/stop?take={take['take']}&token={VIEWER_TOKEN}")
    assert status == 200, body
    done = json.loads(body)
    assert [f["name"].rsplit(".", 1)[1] for f in done["files"]] == ["vrma", "bvh"] and done["error"] is None
    assert 1.5 < done["seconds"] < 4
    vrma = done["files"][0]
    with urllib.request.urlopen(f"{gateway.http_url}/{vrma['url']}?token={VIEWER_TOKEN}", timeout=TIMEOUT) as got:
        assert got.headers["Content-Disposition"] == f'attachment; filename="{vrma["name"]}"'
        data = got.read()
    assert len(data) == vrma["bytes"] and data[:4] == b"glTF"
    assert post(f"{gateway.http_url}/{vrma['url']}?token=wrong", method="GET")[0] == 401
    assert post(f"{gateway.http_url}/takes/{'0' * 32}/x.vrma?token={VIEWER_TOKEN}", method="GET")[0] == 404


def test_http_takes_are_closed_to_other_sites_pages_and_wrong_tokens(gateway):
    base = f"{gateway.http_url}/record?stream=live"
    assert post(f"{base}&token={VIEWER_TOKEN}", origin="http://evil.example")[0] == 403
    assert post(f"{base}&token={VIEWER_TOKEN}", origin=f"http://localhost:{gateway.http_port}.evil.example")[0] == 403
    assert post(f"{base}&token=wrong")[0] == 401
    assert post(base)[0] == 401
    status, body = post(f"{gateway.http_url}/record?stream=nope&token={VIEWER_TOKEN}")
    assert status == 404 and "live now: live" in body
    assert post(f"{gateway.http_url}/record/stop?take=nope&token={VIEWER_TOKEN}")[0] == 404
    assert post(f"{base}&token={VIEWER_TOKEN}", method="GET")[0] == 405  # a link cannot start a take
    assert metric(gateway, "live2d_pose_gateway_takes_refused_total") >= 3


# ---------------------------------------------------------------- live2d-pose up --record


def test_up_records_every_stream_and_recovers_what_a_crash_left(tmp_path):
    from live2d_pose import supervisor
    from live2d_pose.config import UpConfig
    from live2d_pose.recording import Recorder
    from live2d_pose.testing.clients import Camera
    from live2d_pose.testing.frames import astronaut_frames
    from live2d_pose.testing.pipeline import free_port
    from live2d_pose.testing.takes import full_body_take

    folder = tmp_path / "takes"
    folder.mkdir()
    gateway = next(
        c for c in supervisor.service_commands(UpConfig(record=str(folder)), "/tmp/x") if c.name == "gateway"
    )
    assert gateway.argv[-2:] == ["--record-dir", str(folder)]
    crashed = Recorder(folder / "crashed.vrma", folder / "crashed.bvh")  # a take a crash cut short
    for t, state in full_body_take(seconds=2.5):
        crashed.add(t, state)
    crashed.stop()  # its journal, and no files
    ports = {name: free_port() for name in ("port", "http-port", "workers-port", "results-port")}
    argv = [sys.executable, "-m", "live2d_pose", "up", "--workers", "1", "--record", str(folder)]
    for name, port in ports.items():
        argv += [f"--{name}", str(port)]
    log_path = tmp_path / "up.log"
    with open(log_path, "wb") as log:
        up = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not list(folder.glob("crashed.bvh")) or metric_at(ports["http-port"]) is None:
            assert up.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)

        async def stream():
            async with Camera(f"ws://127.0.0.1:{ports['port']}/image?stream=desk") as camera:
                await camera.stream_frames(
                    astronaut_frames(45), fps=15
                )  # 3 s: a loaded worker takes ~1 s to start its tracker

        run(stream())
        up.send_signal(signal.SIGINT)
        assert up.wait(30) == 0, log_path.read_text()
    finally:
        if up.poll() is None:
            up.kill()
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and not list(folder.glob("desk-*.bvh")):
        time.sleep(0.2)
    names = sorted(p.name for p in folder.iterdir())
    assert not [n for n in names if n.endswith(".journal")], names
    assert {"crashed.vrma", "crashed.bvh"} <= set(names)
    assert read_motion(folder / "crashed.vrma").duration_ms >= 1900
    desk = read_motion(next(folder.glob("desk-*.vrma")))
    assert desk.duration_ms > 1000 and "head" in desk.bones and desk.blendshapes


def metric_at(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.read().decode()
    except OSError:
        return None


def test_the_progress_line_says_elapsed_time_frames_updates_and_size(tmp_path):
    import io

    from live2d_pose.recording import Recorder
    from live2d_pose.recording.record import Progress, frames
    from live2d_pose.testing.takes import full_body_take

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    recorder = Recorder(tmp_path / "take.vrma")
    for t, state in full_body_take(seconds=2.5):
        recorder.add(t, state)
    recorder.sync()
    terminal = Terminal()
    progress = Progress(recorder, terminal)
    progress.show(72.4, connected=True)
    progress.show(72.9, connected=False)
    progress.end()
    recorder.stop()
    lines = terminal.getvalue().split("\r")
    assert frames(recorder) == 1 + int(recorder.duration_ms * 30 / 1000) > 70
    assert lines[1].startswith(f"recording 1:12.4  {frames(recorder)} frames  {recorder.samples} updates  journal 0.")
    assert lines[2].startswith("recording 1:12.9") and "(gateway unreachable: reconnecting)" in lines[2]
    assert terminal.getvalue().endswith("\n")


def test_a_played_stream_is_not_recorded_again_by_the_folder(gateway, tmp_path):
    from live2d_pose.recording import Motion, write_vrma
    from live2d_pose.testing.takes import recorded_take

    write_vrma(tmp_path / "short.vrma", Motion.from_samples(recorded_take()[:30]))

    async def watch():
        async with Viewer(gateway.viewer_url(f"stream=replayed&motion=1&landmarks=0&token={VIEWER_TOKEN}")) as viewer:
            done = await asyncio.to_thread(
                live2d_pose,
                "play",
                str(tmp_path / "short.vrma"),
                "--stream",
                "replayed",
                "--gateway-url",
                f"ws://127.0.0.1:{gateway.http_port}/publish",
            )
            await asyncio.sleep(1.5)
            return done, len(viewer.motions)

    done, seen = run(watch())
    assert done.returncode == 0, done.stderr
    assert seen > 20, "it was played"
    assert not list(gateway.takes.glob("replayed-*")), "a take already: not recorded again"
