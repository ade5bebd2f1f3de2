"""Faults with real processes and real MediaPipe: crashes, restarts, slow and
hostile peers, connection churn, graceful shutdown.

The tests share one pipeline (ingest, two landmarkers, the gateway) and run in
file order; a test that kills or restarts a service brings it back before it
returns, and the last one stops every service with SIGTERM. Each test records
what it measured with the ``figures`` fixture (docs/reliability.md quotes
them). Every wait is a multiple of clients.TIMEOUT.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from live2d_pose.testing import frames as face_frames
from live2d_pose.testing.clients import TIMEOUT, Camera, Viewer
from live2d_pose.testing.pipeline import Pipeline, free_port

FPS = 20
SHORT = TIMEOUT / 30  # 1 s with the default TIMEOUT: "the stream keeps flowing within SHORT"
STOP_WITHIN = TIMEOUT / 6  # a SIGTERM'd service exits within this


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    pipe = Pipeline(tmp_path_factory.mktemp("faults"), workers=2).start()
    yield pipe
    pipe.stop()


@pytest.fixture(scope="module")
def clips():
    return face_frames.astronaut_frames(16)


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        return json.loads(response.read())


def _stream_stats(pipe: Pipeline, stream: str) -> dict:
    return pipe.ingest_stats().get("streams", {}).get(stream, {})


def _max_gap_ms(results, after_ms: float = 0.0) -> float:
    times = [r.received_ms for r in results if r.received_ms >= after_ms]
    return max((b - a for a, b in zip(times, times[1:])), default=0.0)


def _wait(condition, timeout: float = TIMEOUT, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout} s")


def _proc(service) -> psutil.Process:
    return psutil.Process(service.process.pid)


# ---------------------------------------------------------------- a worker crashes


def test_kill_worker_mid_stream(pipe, clips, figures):
    """kill -9 the worker serving a stream: the stream moves within SHORT; its in-flight frame is counted lost."""

    async def body():
        async with Viewer(pipe.viewer_url("stream=kill")) as viewer, Camera(pipe.camera_url + "?stream=kill") as camera:
            streaming = asyncio.create_task(camera.stream_frames(clips, fps=FPS, duration=TIMEOUT))
            await viewer.wait_for_results(FPS, stream="kill")
            name = _stream_stats(pipe, "kill")["worker"]
            victim = next(s for s in pipe.landmarkers if s.alive() and f"w{s.name.split('-')[1]}" == name)
            killed_ms = time.time() * 1000
            victim.process.send_signal(signal.SIGKILL)
            victim.process.wait()
            count = len(viewer.results)
            await viewer.wait_for_results(count + 2 * FPS, stream="kill")
            streaming.cancel()
            stats = _stream_stats(pipe, "kill")
            return viewer.results, killed_ms, name, stats, victim

    results, killed_ms, name, stats, victim = asyncio.run(body())
    after = [r for r in results if r.received_ms >= killed_ms]
    gap = (after[0].received_ms - max(r.received_ms for r in results if r.received_ms < killed_ms)) if after else 1e9
    figures["gap_after_kill_ms"] = gap
    figures["max_gap_after_kill_ms"] = _max_gap_ms(results, killed_ms - 1000)
    figures["frames_lost"] = stats["lost"]
    figures["frames_dropped_stale"] = stats["dropped"]
    assert stats["worker"] not in (None, name), stats
    assert gap < SHORT * 1000, f"no result for {gap:.0f} ms after the kill"
    # nothing goes missing silently: every dispatched frame is done, lost or still in flight
    assert 0 <= stats["dispatched"] - stats["done"] - stats["lost"] <= 1, stats
    log = pipe.services["ingest"].log()
    assert f"worker {name} disconnected" in log or "declared dead" in log, log[-2000:]
    assert log.count("stream kill: frame") == stats["lost"]
    victim.start()  # back to two workers for the next tests
    pipe.wait_healthy()


# ---------------------------------------------------------------- the supervisor restarts workers


def test_up_restarts_killed_worker(tmp_path, figures):
    ports = {name: free_port() for name in ("port", "http-port", "workers-port", "results-port")}
    argv = [sys.executable, "-m", "live2d_pose", "up", "--workers", "2"]
    for name, port in ports.items():
        argv += [f"--{name}", str(port)]
    log_path = tmp_path / "up.log"
    with open(log_path, "wb") as log:
        up = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    stats_url = f"http://127.0.0.1:{ports['port']}/stats"

    def workers_joined() -> int:
        try:
            return len(_get_json(stats_url)["workers"])
        except OSError:
            return 0

    def is_live_landmarker(process: psutil.Process) -> bool:
        try:  # a killed child is a zombie until `up` reaps it: psutil then raises
            return "landmarker" in process.cmdline() and process.status() != psutil.STATUS_ZOMBIE
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            return False

    def landmarkers() -> list[psutil.Process]:
        return [p for p in psutil.Process(up.pid).children() if is_live_landmarker(p)]

    private = None
    try:
        _wait(lambda: workers_joined() == 2, 2 * TIMEOUT, "two workers joined")
        # localhost unless told otherwise, and it says so
        listening = {
            c.laddr
            for p in psutil.Process(up.pid).children()
            for c in p.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN
        }
        figures["listen_addresses"] = sorted(f"{ip}:{port}" for ip, port in listening)
        # TCP for cameras and viewers only, on localhost; ZeroMQ on ipc in a private folder
        assert listening == {("127.0.0.1", ports["port"]), ("127.0.0.1", ports["http-port"])}, listening
        assert "listening on this machine only" in log_path.read_text()
        private = re.search(r"ipc sockets in (\S+)", log_path.read_text()).group(1)
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o700
        unix = {c.laddr for p in psutil.Process(up.pid).children() for c in p.net_connections("unix")}
        assert {f"{private}/workers", f"{private}/results"} <= unix, unix
        victim = landmarkers()[0]
        old = {p.pid for p in landmarkers()}
        started = time.monotonic()
        victim.kill()
        _wait(lambda: workers_joined() < 2, TIMEOUT, "ingest noticed the dead worker")
        new = _wait(lambda: [p for p in landmarkers() if p.pid not in old], TIMEOUT, "a new landmarker")
        _wait(lambda: workers_joined() == 2, 2 * TIMEOUT, "two workers joined again")
        figures["worker_restart_to_rejoin_s"] = time.monotonic() - started
        assert len(new) == 1 and len(landmarkers()) == 2
        assert "landmarker-1 exited" in log_path.read_text() or "landmarker-2 exited" in log_path.read_text()
    finally:
        children = psutil.Process(up.pid).children(recursive=True)
        up.send_signal(signal.SIGTERM)
        started = time.monotonic()
        up.wait(STOP_WITHIN * 2)
        figures["up_stop_s"] = time.monotonic() - started
        gone, alive = psutil.wait_procs(children, timeout=STOP_WITHIN)
        assert not alive, alive
    assert "stopped; restarts:" in log_path.read_text()
    assert private and not os.path.exists(private)  # removed at exit


def test_up_stops_on_a_configuration_error(tmp_path):
    """A child exiting with code 2 (a bad setting) would fail the same way at every restart:
    `up` stops everything, says why and exits 2, instead of restarting it for ever."""
    argv = [
        sys.executable,
        "-m",
        "live2d_pose",
        "up",
        "--workers",
        "1",
        "--port",
        str(free_port()),
        "--http-port",
        str(free_port()),
    ]
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "LIVE2D_POSE_CURVE_SECRET_KEY_FILE": str(tmp_path / "missing.key_secret"),
    }
    started = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=2 * TIMEOUT)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-3000:]
    assert "exited with a configuration error" in output and "missing.key_secret" in output
    assert "restarting in" not in output  # never restarted
    assert time.monotonic() - started < TIMEOUT


# ---------------------------------------------------------------- restarts of gateway and ingest


def test_gateway_restart_viewers_reconnect(pipe, clips, figures):
    async def viewer_session(results: list, stop: asyncio.Event, reconnects: list):
        delay = 0.1
        while not stop.is_set():
            try:
                async with Viewer(pipe.viewer_url("stream=gw")) as viewer:
                    delay = 0.1
                    while not stop.is_set() and not viewer._reader.done():
                        results.extend(viewer.results)
                        viewer.results.clear()
                        await asyncio.sleep(0.02)
                    results.extend(viewer.results)
            except (OSError, ConnectionClosed, asyncio.TimeoutError):
                pass
            if not stop.is_set():
                reconnects.append(time.monotonic())
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def body():
        results, reconnects, stop = [], [], asyncio.Event()
        async with Camera(pipe.camera_url + "?stream=gw") as camera:
            streaming = asyncio.create_task(camera.stream_frames(clips, fps=FPS, duration=3 * TIMEOUT))
            session = asyncio.create_task(viewer_session(results, stop, reconnects))
            await _until(lambda: len(results) >= FPS)
            loop = asyncio.get_running_loop()
            gateway = pipe.services["gateway"]
            stopped = await loop.run_in_executor(None, gateway.stop)
            assert stopped == 0
            gateway.start()
            restarted = time.time() * 1000
            count = len(results)
            await _until(lambda: len(results) >= count + FPS)
            first = next(r.received_ms for r in results[count:])
            stop.set()
            streaming.cancel()
            await session
            return first, restarted, reconnects

    first, restarted, reconnects = asyncio.run(body())
    figures["gateway_restart_to_first_result_s"] = (first - restarted) / 1000
    figures["viewer_reconnect_attempts"] = len(reconnects)
    assert reconnects, "the viewer never lost its connection"
    pipe.wait_healthy()


async def _until(condition, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s")
        await asyncio.sleep(0.02)


def test_ingest_restart_camera_reconnects(pipe, tmp_path, figures):
    image = tmp_path / "face.jpg"
    image.write_bytes(face_frames.astronaut_frame())
    camera = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "live2d_pose",
            "camera",
            "--server",
            pipe.camera_url,
            "--stream",
            "cam-r",
            "--source",
            str(image),
            "--fps",
            str(FPS),
        ],
        stdout=open(tmp_path / "camera.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    try:

        async def body():
            async with Viewer(pipe.viewer_url("stream=cam-r")) as viewer:
                await viewer.wait_for_results(FPS, stream="cam-r")
                loop = asyncio.get_running_loop()
                ingest = pipe.services["ingest"]
                assert await loop.run_in_executor(None, ingest.stop) == 0
                down_ms = time.time() * 1000
                ingest.start()
                started = time.time() * 1000
                count = len(viewer.results)
                await viewer.wait_for_results(count + FPS, stream="cam-r", timeout=2 * TIMEOUT)
                resumed = next(r for r in viewer.results[count:] if r.received_ms > down_ms)
                return (resumed.received_ms - started) / 1000, resumed.seq

        recovery, seq = asyncio.run(body())
        figures["ingest_restart_to_first_result_s"] = recovery
        assert seq < 5 * FPS, "the resumed results should come from the new connection (seq restarts)"
        _wait(lambda: pipe.joined_workers() == 2, TIMEOUT, "workers re-registered")
        assert pipe.services["ingest"].log().count("joined") >= 2
    finally:
        camera.send_signal(signal.SIGTERM)
        camera.wait(STOP_WITHIN)
    log = (tmp_path / "camera.log").read_text()
    assert "reconnect" in log.lower() or "retry" in log.lower(), log[-2000:]


# ---------------------------------------------------------------- slow viewers, flooding cameras


def test_stalled_viewers_do_not_slow_others(pipe, clips, figures):
    gateway = _proc(pipe.services["gateway"])

    async def body():
        async with (
            Camera(pipe.camera_url + "?stream=slow") as camera,
            Viewer(pipe.viewer_url("stream=slow")) as healthy,
        ):
            streaming = asyncio.create_task(camera.stream_frames(clips, fps=FPS, duration=3 * TIMEOUT))
            await healthy.wait_for_results(5, stream="slow")
            rss_before = gateway.memory_info().rss
            stalled = [
                await connect(pipe.viewer_url("stream=slow"), max_queue=1, max_size=None) for _ in range(5)
            ]  # never read: their TCP windows fill up
            start_count, start = len(healthy.results), time.monotonic()
            results_before = _gateway_results(pipe, "slow")
            await asyncio.sleep(TIMEOUT / 4)
            duration = time.monotonic() - start
            got = len(healthy.results) - start_count
            forwarded = _gateway_results(pipe, "slow") - results_before
            rss_after = gateway.memory_info().rss
            for ws in stalled:
                ws.transport.abort()
            streaming.cancel()
            return got, forwarded, duration, rss_before, rss_after

    got, forwarded, duration, rss_before, rss_after = asyncio.run(body())
    figures["healthy_viewer_fps"] = got / duration
    figures["stream_fps_at_gateway"] = forwarded / duration
    figures["gateway_rss_growth_mb"] = (rss_after - rss_before) / 2**20
    assert got >= 0.9 * forwarded, (got, forwarded)
    assert rss_after - rss_before < 32 * 2**20


def _gateway_results(pipe: Pipeline, stream: str) -> int:
    return next((s["results"] for s in _get_json(f"{pipe.http_url}/streams") if s["stream"] == stream), 0)


def test_flooding_camera(pipe, clips, figures):
    """One camera sends as fast as it can: its pings stay answered, another camera keeps its rate."""

    async def flood(stop: asyncio.Event, counts: dict):
        async with Camera(pipe.camera_url + "?stream=flood", ping_interval=0.5, ping_timeout=TIMEOUT / 10) as camera:
            while not stop.is_set():
                await camera.send(clips[counts["sent"] % len(clips)])
                counts["sent"] += 1
                if counts["sent"] % 50 == 0:
                    started = time.monotonic()
                    await asyncio.wait_for(await camera.websocket.ping(), TIMEOUT / 10)
                    counts["ping_ms"] = max(counts["ping_ms"], (time.monotonic() - started) * 1000)
            counts["open_at_end"] = camera.websocket.close_code is None

    async def body():
        counts = {"sent": 0, "ping_ms": 0.0, "open_at_end": False}
        stop = asyncio.Event()
        async with Camera(pipe.camera_url + "?stream=calm") as calm, Viewer(pipe.viewer_url("stream=calm")) as viewer:
            streaming = asyncio.create_task(calm.stream_frames(clips, fps=FPS, duration=3 * TIMEOUT))
            await viewer.wait_for_results(5, stream="calm")
            flooding = asyncio.create_task(flood(stop, counts))
            await asyncio.sleep(1.0)  # let the flood build up
            start, start_count = time.monotonic(), len(viewer.results)
            await asyncio.sleep(TIMEOUT / 5)
            duration = time.monotonic() - start
            window = viewer.results[start_count:]
            counts["stats"] = await asyncio.get_running_loop().run_in_executor(None, _stream_stats, pipe, "flood")
            stop.set()
            await flooding
            streaming.cancel()
            return counts, window, duration

    counts, window, duration = asyncio.run(body())
    latencies = sorted(r.ts["gateway"] - r.ts["ingest"] for r in window)
    flood_stats = counts["stats"]
    figures["flood_frames_sent_per_s"] = counts["sent"] / (duration + 1.0)
    figures["flood_max_ping_ms"] = counts["ping_ms"]
    figures["calm_camera_fps"] = len(window) / duration
    figures["calm_latency_p50_ms"] = latencies[len(latencies) // 2] if latencies else None
    figures["calm_latency_max_ms"] = latencies[-1] if latencies else None
    figures["flood_frames_received_by_ingest"] = flood_stats["received"]
    figures["flood_reading_paused"] = flood_stats["throttled"]  # ingest read no faster than --max-fps
    figures["flood_frames_processed"] = flood_stats["done"]
    assert counts["open_at_end"], "the flooding camera's connection died (pings unanswered?)"
    assert len(window) / duration >= 0.7 * FPS, f"calm camera got {len(window) / duration:.1f} fps"
    assert latencies[-1] < SHORT * 1000, f"latency reached {latencies[-1]:.0f} ms"


# ---------------------------------------------------------------- churn


def _resources(pipe: Pipeline) -> dict:
    out = {}
    for name, service in pipe.services.items():
        if service.alive():
            proc = _proc(service)
            out[name] = (proc.num_fds(), proc.num_threads(), proc.memory_info().rss)
    return out


@pytest.mark.parametrize("cycles", [200, pytest.param(1000, marks=pytest.mark.soak)])
def test_connect_disconnect_churn_leaks_nothing(pipe, clips, figures, cycles):

    track_sets = ("face", "face,pose", "face,pose,hands", "pose,hands")  # one tracker's instances weigh 25-75 MB

    async def cameras(count: int, offset: int):
        for index in range(count):
            query = f"?stream=churn{(offset + index) % 50}&track={track_sets[index % len(track_sets)]}"
            async with Camera(pipe.camera_url + query) as camera:
                await camera.send(clips[index % len(clips)])
                await asyncio.sleep(0.03)  # let it reach a worker (a MediaPipe instance opens)

    async def viewers(count: int):
        for _ in range(count):
            async with connect(pipe.viewer_url("stream=none"), open_timeout=TIMEOUT) as ws:
                await asyncio.wait_for(ws.recv(), TIMEOUT)

    async def both(count: int, offset: int):
        await asyncio.gather(cameras(count, offset), viewers(count))

    asyncio.run(both(20, 0))  # warm-up: first connections allocate pools and caches
    time.sleep(1.0)
    before = _resources(pipe)
    started = time.monotonic()
    asyncio.run(both(cycles // 2, 20))
    time.sleep(1.5)  # END messages reach the workers, closed sockets are reaped
    middle = _resources(pipe)
    asyncio.run(both(cycles // 2, 20 + cycles // 2))
    figures["churn_seconds"] = time.monotonic() - started - 1.5
    time.sleep(1.5)
    after = _resources(pipe)
    for name in before:
        if name not in after:
            continue
        fds, threads, rss = (a - b for a, b in zip(after[name], before[name]))
        second_half_rss = after[name][2] - middle[name][2]
        figures[f"{name}_fds_delta"] = fds
        figures[f"{name}_threads_delta"] = threads
        figures[f"{name}_rss_delta_mb"] = rss / 2**20
        figures[f"{name}_rss_delta_second_100_mb"] = second_half_rss / 2**20
        assert fds <= 2, f"{name} leaked {fds} file descriptors"
        assert threads <= 2, f"{name} has {threads} more threads (MediaPipe instances not closed?)"
        # allocator warm-up shows in the first half; a leak grows in both
        assert second_half_rss < 32 * 2**20, f"{name} grew by {second_half_rss / 2**20:.0f} MB"
    assert _stream_stats(pipe, "churn1") == {}, "ended streams must be forgotten"
    left = [s["stream"] for s in _get_json(f"{pipe.http_url}/streams") if s["stream"].startswith("churn")]
    assert not left, f"ended streams still listed by the gateway: {left}"


# ---------------------------------------------------------------- graceful shutdown (last: stops everything)


def test_graceful_shutdown(pipe, clips, figures):
    """SIGTERM with a camera and a viewer still connected that never answer the closing
    handshake (their event loop is not running: a JetBot gone off Wi-Fi, a sleeping tab)."""

    async def connected():
        camera = await Camera(pipe.camera_url + "?stream=bye").__aenter__()
        viewer = await Viewer(pipe.viewer_url("stream=bye")).__aenter__()
        await camera.stream_frames(clips, fps=FPS, count=FPS)
        await viewer.wait_for_results(3, stream="bye")
        return camera, viewer

    loop = asyncio.new_event_loop()
    try:
        camera, viewer = loop.run_until_complete(connected())
        order = [s for s in pipe.landmarkers if s.alive()] + [pipe.services["ingest"], pipe.services["gateway"]]
        for service in order:
            started = time.monotonic()
            code = service.stop(timeout=STOP_WITHIN)
            figures[f"{service.name}_stop_s"] = time.monotonic() - started
            assert code == 0, f"{service.name} exited with {code}\n{service.log()[-2000:]}"
        loop.run_until_complete(asyncio.sleep(0.2))
        assert camera.websocket.close_code is not None and viewer.websocket.close_code is not None
    finally:
        loop.close()
    for service in order:
        log = service.log()
        role = service.name.split("-")[0]
        assert f"{role} " in log and " stopped: " in log.splitlines()[-1] + log, log[-1500:]
        if role == "landmarker":
            assert any(line.startswith(("20",)) and "stopped: frames=" in line for line in log.splitlines())
        assert "Traceback" not in log, log[-3000:]
    assert "ingest stopped: {" in pipe.services["ingest"].log()
    assert "gateway stopped: {" in pipe.services["gateway"].log()
